//! Transport behaviour seen through the kernel: 61xx and GET RESPONSE, command chaining, logical
//! channels, class and instruction refusals, malformed APDUs and the ATR.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used
)]

mod common;
use common::*;

fn mf_fci() -> Vec<u8> {
    h(&format!("6F 12 84 0E {MF_NAME} A5 00"))
}

#[test]
fn case_3_answer_comes_through_get_response() {
    let mut c = personalised();
    let fci = mf_fci();
    assert_eq!(c.once(&h("00A4 0000 02 3F00")), (vec![], 0x6114));
    // Smaller pieces first, then the rest with the command's own status.
    assert_eq!(c.once(&h("00C0 0000 10")), (fci[..16].to_vec(), 0x6104));
    assert_eq!(c.once(&h("00C0 0000 FF")), (fci[16..].to_vec(), 0x9000));
    // Nothing left.
    assert_eq!(c.once(&h("00C0 0000 00")), (vec![], 0x6985));
}

#[test]
fn t1_readers_get_the_case_3_answer_at_once() {
    let mut c = personalised();
    c.kernel().set_protocol(cos_core::apdu::Protocol::T1);
    assert_eq!(c.once(&h("00A4 0000 02 3F00")), (mf_fci(), 0x9000));
    c.kernel().set_protocol(cos_core::apdu::Protocol::T0);
    assert_eq!(c.once(&h("00A4 0000 02 3F00")), (vec![], 0x6114));
}

#[test]
fn case_4_answers_at_once_up_to_le() {
    let mut c = personalised();
    let fci = mf_fci();
    assert_eq!(c.once(&h("00A4 0000 02 3F00 00")), (fci.clone(), 0x9000));
    assert_eq!(
        c.once(&h("00A4 0000 02 3F00 05")),
        (fci[..5].to_vec(), 0x610F)
    );
    assert_eq!(c.once(&h("00C0 0000 0F")), (fci[5..].to_vec(), 0x9000));
}

#[test]
fn get_response_refusals_keep_or_drop_the_pending_answer() {
    let mut c = personalised();
    assert_eq!(c.once(&h("00C0 0000 10")).1, 0x6985, "nothing pending");
    assert_eq!(c.once(&h("00A4 0000 02 3F00")).1, 0x6114);
    // Wrong P1-P2, data or no Le: refused, the answer stays pending.
    assert_eq!(c.once(&h("00C0 0100 10")).1, 0x6A86);
    assert_eq!(c.once(&h("00C0 0000 01 00 10")).1, 0x6700);
    assert_eq!(c.once(&h("00C0 0000")).1, 0x6700);
    assert_eq!(c.once(&h("00C0 0000 14")), (mf_fci(), 0x9000));
    // Any other command drops it.
    assert_eq!(c.once(&h("00A4 0000 02 3F00")).1, 0x6114);
    c.select_adf();
    assert_eq!(c.once(&h("00C0 0000 14")).1, 0x6985);
    // So does a warm reset.
    assert_eq!(c.once(&h("00A4 0000 02 3F00")).1, 0x6114);
    let mut none: Vec<&mut dyn cos_core::Applet> = Vec::new();
    c.kernel().reset(&mut none);
    assert_eq!(c.once(&h("00C0 0000 14")).1, 0x6985);
}

#[test]
fn a_warning_survives_get_response() {
    let mut c = in_adf();
    assert_eq!(app_block(&mut c, 0x00), 0x9000);
    c.ok("00A4 0000 02 3F00");
    let (_, sw) = c.once(&h("00A4 0000 02 3F01"));
    assert_eq!(sw >> 8, 0x61);
    let (d, sw) = c.once(&[0x00, 0xC0, 0x00, 0x00, sw as u8]);
    assert_eq!(d[0], 0x6F);
    assert_eq!(sw, 0x6283);
}

#[test]
fn get_response_does_not_spend_the_challenge() {
    // GET RESPONSE is the transport's: the challenge still serves the next kernel command.
    let mut c = in_adf();
    let ch = c.challenge(4);
    c.once(&h("00C0 0000 10"));
    let mut block = vec![0u8; 8];
    block[..4].copy_from_slice(&ch);
    tdes(&ADF_AUTH_KEY).encrypt_block(&mut block).unwrap();
    let mut apdu = h("0082 0001 08");
    apdu.extend_from_slice(&block);
    assert_eq!(c.raw(&apdu).1, 0x9000);
}

#[test]
fn logical_channels_are_not_supported() {
    let mut c = in_adf();
    for apdu in [
        "01A4 0000 02 3F00",
        "02B0 9500 01",
        "03B0 9500 01",
        "41B0 9500 01",
        "4FB0 9500 01",
        "81E0 0021 07 28 0004 F0 F0 FFFF",
        "0184 0000 04",
        "05D6 9600 05 1122334455",
    ] {
        c.refuse(apdu, 0x6881);
    }
}

#[test]
fn unknown_class_is_6e00() {
    let mut c = in_adf();
    for cla in [0x20u8, 0x2F, 0x30, 0x3F, 0xFF] {
        c.refuse_raw(&[cla, 0xB0, 0x95, 0x00, 0x01], 0x6E00);
        c.refuse_raw(&[cla, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00], 0x6E00);
    }
}

#[test]
fn unknown_or_invalid_instruction_is_6d00() {
    let mut c = in_adf();
    for apdu in [
        "0060 0000",
        "006C 0000 01",
        "0090 0000",
        "809F 0000",
        "00CA 0000 00",
        "0010 0000",
        "0024 0000 02 1234",
        "0070 0000 01",
        "80B2 01BC 00",
        "8082 0001 08 0000000000000000",
        "0016 0000",
        "001E 0000",
    ] {
        c.refuse(apdu, 0x6D00);
    }
}

#[test]
fn malformed_apdus_are_6700() {
    let mut c = in_adf();
    for apdu in [
        "",
        "00",
        "00B0",
        "00B095",
        "00B0 9500 05 01",
        "00D6 9500 02 01",
        "00D6 9500 01 0102 00 00",
        "00D6 9500 00 0000 01",
        "00B0 9500 0000",
    ] {
        c.refuse_raw(&h(apdu), 0x6700);
    }
}

#[test]
fn command_chaining() {
    let mut c = in_adf();
    let (a, b) = ("0102030405060708", "1112131415161718");
    // Fragments are answered 9000 and nothing happens until the last one.
    let before = c.image();
    c.expect(&format!("10DC 01BC 08 {a}"), 0x9000);
    assert_same_image(&before, &c.image(), "chain fragment");
    c.ok(&format!("00DC 01BC 08 {b}"));
    assert_eq!(c.ok("00B2 01BC 00"), h(&format!("{a}{b}")));
    // A fragment of another command breaks the chain.
    c.ok(&format!("10DC 02BC 08 {a}"));
    c.refuse("00B0 9500 01", 0x6883);
    // And a broken chain is forgotten: the next command runs normally.
    c.ok("00B0 9500 01");
    assert_eq!(c.ok("00B2 02BC 00"), vec![0; 16]);
}

#[test]
fn extended_length() {
    let mut c = personalised();
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.ok("80E0 0003 07 28 0180 F0 F0 FFFF");
    let data: Vec<u8> = (0..0x180u32).map(|i| i as u8).collect();
    c.ok(&format!("00D6 8300 000180 {}", hex::encode(&data)));
    // One extended Le takes it all at once (the harness's buffer holds 600 bytes).
    let (d, sw) = c.once(&h("00B0 8300 000000"));
    assert_eq!((d, sw), (data.clone(), 0x9000));
    // A short Le 00 takes 256.
    assert_eq!(c.once(&h("00B0 8300 00")), (data[..256].to_vec(), 0x9000));
}

#[test]
fn atr() {
    let mut c = personalised();
    let atr = c.kernel().atr();
    assert_eq!(atr, &cos_core::ATR);
    assert_eq!(atr[0], 0x3B);
    assert_eq!(atr[1..].iter().fold(0u8, |x, b| x ^ b), 0, "TCK");
}

/// Answers are at most 512 bytes (the transport's response buffer): an extended Le asking for
/// more gets 512 bytes and 9000 when the file goes on (6282 only at the end of the file).
#[test]
fn extended_read_longer_than_the_response_buffer() {
    let mut c = personalised();
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.ok("80E0 0003 07 28 0400 F0 F0 FFFF");
    let data: Vec<u8> = (0..0x400u32).map(|i| (i * 7) as u8).collect();
    for (i, chunk) in data.chunks(0x100).enumerate() {
        c.ok("00A4 020C 02 0003");
        c.ok(&format!(
            "00D6 {:04X} 000100 {}",
            i * 0x100,
            hex::encode(chunk)
        ));
    }
    c.ok("00A4 020C 02 0003");
    assert_eq!(
        c.once(&h("00B0 0000 000400")),
        (data[..512].to_vec(), 0x9000)
    );
    assert_eq!(
        c.once(&h("00B0 0000 000000")),
        (data[..512].to_vec(), 0x9000)
    );
    assert_eq!(
        c.once(&h("00B0 0200 000400")),
        (data[512..].to_vec(), 0x6282)
    );
    assert_eq!(
        c.once(&h("00B0 0200 000200")),
        (data[512..].to_vec(), 0x9000)
    );
    assert_eq!(
        c.once(&h("00B0 0300 000000")),
        (data[768..].to_vec(), 0x9000)
    );
}
