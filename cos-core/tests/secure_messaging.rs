//! Line protection (FMCOS secure messaging, CLA 04 / 84): MAC'd and encrypted writes, what a bad,
//! missing, stale or replayed MAC answers, and WRITE KEY with encrypted key data.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used
)]

mod common;
use common::*;

fn line() -> cos_core::crypto::Key {
    tdes(&ADF_LINE_KEY)
}

#[test]
fn mac_protected_update_is_accepted_and_plain_is_refused() {
    let mut c = in_adf();
    c.refuse("00D6 9600 02 1122", 0x6982);
    assert_eq!(
        c.secured([0x04, 0xD6, 0x96, 0x00], &h("1122"), &line(), None),
        0x9000
    );
    assert_eq!(
        c.secured([0x04, 0xD6, 0x96, 0x0E], &h("3344"), &line(), None),
        0x9000
    );
    assert_eq!(c.verify_pin("123456"), 0x9000);
    assert_eq!(
        c.ok("00B0 9600 00"),
        h("1122 000000000000000000000000 3344")
    );
    // Via the current EF as well.
    c.ok("00A4 020C 02 0016");
    c.refuse("00D6 0000 01 55", 0x6982);
    c.refuse("00D0 0000 01 55", 0x6982);
    assert_eq!(
        c.secured([0x04, 0xD0, 0x00, 0x00], &h("55"), &line(), None),
        0x9000
    );
    assert_eq!(
        c.ok("00B0 0000 02"),
        h("5522"),
        "WRITE BINARY ORs 55 into 11"
    );
}

#[test]
fn mac_protected_records() {
    let mut c = in_adf();
    // Linear fixed 2 x 4 with line MAC (type 2A + 80), SFI 2.
    c.ok("80E0 0002 07 AA 02 04 F0 F0 FFFF");
    c.refuse("00E2 0010 04 01020304", 0x6982);
    c.refuse("00DC 0114 04 01020304", 0x6982);
    assert_eq!(
        c.secured([0x04, 0xE2, 0x00, 0x10], &h("01020304"), &line(), None),
        0x9000
    );
    assert_eq!(
        c.secured([0x04, 0xDC, 0x02, 0x14], &h("05060708"), &line(), None),
        0x9000
    );
    // Reading is not protected.
    assert_eq!(c.ok("00B2 0114 00"), h("01020304"));
    assert_eq!(c.ok("00B2 0214 00"), h("05060708"));
    // Cyclic with MAC (2E + 80).
    c.ok("80E0 0003 07 AE 02 04 F0 F0 FFFF");
    c.refuse("00E2 0018 04 01020304", 0x6982);
    assert_eq!(
        c.secured([0x04, 0xE2, 0x00, 0x18], &h("0A0B0C0D"), &line(), None),
        0x9000
    );
    assert_eq!(c.ok("00B2 011C 00"), h("0A0B0C0D"));
}

#[test]
fn a_mac_on_an_unprotected_file_is_checked_too() {
    let mut c = in_adf();
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
    assert_eq!(
        c.secured([0x04, 0xD6, 0x95, 0x00], &h("ABCD"), &line(), None),
        0x9000
    );
    assert_eq!(c.ok("00B0 9500 02"), h("ABCD"));
    let mut apdu = c.build_secured([0x04, 0xD6, 0x95, 0x00], &h("EF01"), &line(), None);
    *apdu.last_mut().unwrap() ^= 1;
    assert_eq!(c.raw(&apdu).1, 0x6988);
    assert_eq!(c.ok("00B0 9500 02"), h("ABCD"));
}

#[test]
fn bad_mac_is_6988_and_consumes_the_challenge() {
    let mut c = in_adf();
    let good = c.build_secured([0x04, 0xD6, 0x96, 0x00], &h("1122"), &line(), None);
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 0x80;
    assert_eq!(c.raw(&bad).1, 0x6988);
    // The challenge is gone: the good MAC for it is now refused for want of a challenge.
    c.refuse_raw(&good, 0x6984);
    assert_eq!(c.verify_pin("123456"), 0x9000);
    assert_eq!(c.ok("00B0 9600 02"), h("0000"), "nothing written");
}

#[test]
fn the_mac_covers_the_header_and_the_data() {
    let mut c = in_adf();
    let cases: [fn(&mut Vec<u8>); 3] = [
        |a| a[1] = 0xD0,  // INS: WRITE BINARY instead of UPDATE BINARY
        |a| a[3] = 0x01,  // P2 (offset)
        |a| a[5] ^= 0xFF, // data
    ];
    for tamper in cases {
        let mut apdu = c.build_secured([0x04, 0xD6, 0x96, 0x00], &h("1122"), &line(), None);
        tamper(&mut apdu);
        assert_eq!(c.raw(&apdu).1, 0x6988);
        // Keep the line key's try counter full.
        assert_eq!(
            c.secured([0x04, 0xD6, 0x96, 0x00], &h("0000"), &line(), None),
            0x9000
        );
    }
    // A MAC under another key.
    let sw = c.secured(
        [0x04, 0xD6, 0x96, 0x00],
        &h("1122"),
        &tdes(&MF_LINE_KEY),
        None,
    );
    assert_eq!(sw, 0x6988);
}

#[test]
fn bad_line_macs_spend_no_tries_so_strangers_cannot_lock_the_issuer_out() {
    let mut c = in_adf();
    let wrong = tdes(b"NOT-THE-LINE-KEY");
    // A read with SM needs no right at all: garbage MACs must not block the line key.
    for _ in 0..5 {
        let mut read = c.build_secured([0x04, 0xB0, 0x95, 0x00], &[], &wrong, None);
        read.push(0x00);
        assert_eq!(c.raw(&read).1, 0x6988);
        assert_eq!(
            c.secured([0x04, 0xD6, 0x96, 0x00], &h("22"), &wrong, None),
            0x6988
        );
    }
    let before = c.data_area();
    assert_eq!(
        c.secured([0x04, 0xD6, 0x96, 0x00], &h("33"), &line(), None),
        0x9000
    );
    assert_ne!(c.data_area(), before, "the good MAC still works");
}

#[test]
fn no_challenge_or_a_stale_one_is_6984() {
    let mut c = in_adf();
    let apdu = c.build_secured([0x04, 0xD6, 0x96, 0x00], &h("1122"), &line(), None);
    c.ok("00B0 9500 01");
    c.refuse_raw(&apdu, 0x6984);
    c.refuse("04D6 9600 06 1122 01020304", 0x6984);
}

#[test]
fn replayed_mac_is_refused() {
    let mut c = in_adf();
    let apdu = c.build_secured([0x04, 0xD6, 0x96, 0x00], &h("1122"), &line(), None);
    assert_eq!(c.raw(&apdu).1, 0x9000);
    // Same bytes again: no challenge any more.
    c.refuse_raw(&apdu, 0x6984);
    // With a fresh challenge: the MAC does not match it.
    c.challenge(4);
    assert_eq!(c.raw(&apdu).1, 0x6988);
}

#[test]
fn missing_mac_is_6987() {
    let mut c = in_adf();
    c.challenge(4);
    c.refuse("04D6 9600 03 112233", 0x6987);
    c.challenge(4);
    c.refuse("04D6 9600", 0x6987);
    // No try of the line key was spent: three missing MACs do not block it.
    for _ in 0..3 {
        c.challenge(4);
        c.refuse("04D6 9600 01 11", 0x6987);
    }
    assert_eq!(
        c.secured([0x04, 0xD6, 0x96, 0x00], &h("11"), &line(), None),
        0x9000
    );
}

#[test]
fn extended_length_sm_is_6988() {
    let mut c = in_adf();
    let short = c.build_secured([0x04, 0xD6, 0x96, 0x00], &h("1122"), &line(), None);
    let body = &short[5..];
    let mut ext = short[..4].to_vec();
    ext.extend_from_slice(&[0x00, 0x00, body.len() as u8]);
    ext.extend_from_slice(body);
    assert_eq!(c.raw(&ext).1, 0x6988);
}

#[test]
fn sm_read_binary_needs_le_and_the_read_right() {
    let mut c = in_adf();
    let mut apdu = c.build_secured([0x04, 0xB0, 0x95, 0x00], &[], &line(), None);
    apdu.push(0x04);
    assert_eq!(c.raw(&apdu), (vec![0; 4], 0x9000));
    // Without Le.
    let apdu = c.build_secured([0x04, 0xB0, 0x95, 0x00], &[], &line(), None);
    c.refuse_raw(&apdu, 0x6700);
    // 0016 needs the PIN whatever the MAC.
    let mut apdu = c.build_secured([0x04, 0xB0, 0x96, 0x00], &[], &line(), None);
    apdu.push(0x00);
    c.refuse_raw(&apdu, 0x6982);
    // SM READ RECORD.
    let mut apdu = c.build_secured([0x04, 0xB2, 0x01, 0xBC], &[], &line(), None);
    apdu.push(0x00);
    assert_eq!(c.raw(&apdu), (vec![0; 16], 0x9000));
}

#[test]
fn encrypted_file_update() {
    let mut c = in_adf();
    let data = h("00112233445566778899AABBCCDDEEFF");
    c.refuse("00D6 9A00 10 00112233445566778899AABBCCDDEEFF", 0x6982);
    // MAC without encryption: the body does not decrypt.
    assert_eq!(
        c.secured([0x04, 0xD6, 0x9A, 0x00], &data, &line(), None),
        0x6988
    );
    // No encryption key in the DF: the line key encrypts.
    assert_eq!(
        c.secured([0x04, 0xD6, 0x9A, 0x00], &data, &line(), Some(&line())),
        0x9000
    );
    assert_eq!(c.ok("00B0 9A00 00"), data);
    assert_eq!(
        c.secured([0x04, 0xD6, 0x9A, 0x0A], &h("0102"), &line(), Some(&line())),
        0x9000
    );
    assert_eq!(c.ok("00B0 9A08 04"), h("8899 0102"));
    // With a type-35 key, that key encrypts.
    let enc = tdes(b"ADF-ENC-KEY-0123");
    c.ok(&format!(
        "80D4 0100 15 35 F0 F0 FF 33 {}",
        hex::encode(b"ADF-ENC-KEY-0123")
    ));
    assert_eq!(
        c.secured([0x04, 0xD6, 0x9A, 0x00], &h("AA"), &line(), Some(&line())),
        0x6988
    );
    assert_eq!(
        c.secured([0x04, 0xD6, 0x9A, 0x00], &h("AA"), &line(), Some(&enc)),
        0x9000
    );
    assert_eq!(c.ok("00B0 9A00 01"), h("AA"));
}

#[test]
fn bad_encryption_padding_is_6988() {
    let mut c = in_adf();
    let key = line();
    for plain in [
        h("02 AABB 00 0000000000"),                 // no 80
        h("09 AABB 80 0000000000"),                 // Ld longer than the data
        h("02 AABB 80 0000000001"),                 // non-zero after 80
        h("02 AABB 80 00000000000000000000000000"), // more than one block of padding
    ] {
        let mut body = plain.clone();
        while body.len() % 8 != 0 {
            body.push(0);
        }
        key.encrypt_ecb(&mut body).unwrap();
        let sw = c.secured([0x04, 0xD6, 0x9A, 0x00], &body, &key, None);
        assert_eq!(sw, 0x6988, "{}", hex::encode(&plain));
        // Keep the line key's counter full.
        assert_eq!(
            c.secured([0x04, 0xD6, 0x9A, 0x00], &h("00"), &key, Some(&key)),
            0x9000
        );
    }
}

#[test]
fn write_key_with_84_is_encrypted_and_maced() {
    let mut c = in_adf();
    let new_key = *b"NEW-EXT-AUTH-K02";
    let mut rec = h("39 F0 F0 02 33");
    rec.extend_from_slice(&new_key);
    // MAC only: the key data must be encrypted with CLA 84.
    assert_eq!(
        c.secured([0x84, 0xD4, 0x01, 0x02], &rec, &line(), None),
        0x6988
    );
    assert_eq!(
        c.secured([0x84, 0xD4, 0x01, 0x02], &rec, &line(), Some(&line())),
        0x9000
    );
    assert_eq!(c.ext_auth(0x02, &tdes(&new_key)), 0x9000);
    c.ok("00D6 9500 01 01");
    // Update it the same way (P1 = the key type).
    let newer = *b"NEWER-EXT-AUTH-2";
    let mut rec = h("39 F0 F0 02 33");
    rec.extend_from_slice(&newer);
    assert_eq!(
        c.secured([0x84, 0xD4, 0x39, 0x02], &rec, &line(), Some(&line())),
        0x9000
    );
    assert_eq!(c.ext_auth(0x02, &tdes(&new_key)), 0x63C2);
    assert_eq!(c.ext_auth(0x02, &tdes(&newer)), 0x9000);
}

#[test]
fn no_key_file_or_no_line_key_is_6882() {
    let mut c = in_adf();
    c.ok("80E0 4F06 0E 38 0080 F0 F0 95 FFFF D15600000506");
    c.ok("00A4 0000 02 4F06");
    c.challenge(4);
    c.refuse("841E 0000 04 01020304", 0x6882);
    // A key file without a line-protection key.
    c.ok("80E0 0000 07 3F 0030 01 F0 FFFF");
    c.challenge(4);
    c.refuse("841E 0000 04 01020304", 0x6882);
    c.ok(&format!(
        "80D4 0100 15 36 F0 F0 FF 33 {}",
        hex::encode(b"SUB-LINE-KEY-012")
    ));
    assert_eq!(
        c.secured(
            [0x84, 0x1E, 0x00, 0x00],
            &[],
            &tdes(b"SUB-LINE-KEY-012"),
            None
        ),
        0x9000
    );
}
