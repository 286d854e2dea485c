//! GET CHALLENGE, EXTERNAL / INTERNAL AUTHENTICATE, VERIFY, CHANGE PIN and RELOAD PIN: success
//! paths, try counters (kept in NVM, consumed before the comparison), every refusal with its status
//! word, and how the security level follows VERIFY, authentication, DF changes and power cycles.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used
)]

mod common;
use common::*;
use cos_core::crypto::{Algorithm, Key};
use cos_core::nvm::TearMode;

const RELOAD_KEY: [u8; 16] = *b"PIN-RELOAD-KEY-0";

fn auth_apdu(c: &mut Card, id: u8, key: &Key) -> Vec<u8> {
    let ch = c.challenge(4);
    let mut block = vec![0u8; 8];
    block[..4].copy_from_slice(&ch);
    key.encrypt_block(&mut block).unwrap();
    let mut apdu = vec![0x00, 0x82, 0x00, id, 0x08];
    apdu.extend_from_slice(&block);
    apdu
}

// ---------------------------------------------------------------- GET CHALLENGE

#[test]
fn get_challenge_lengths() {
    let mut c = in_adf();
    let before = c.image();
    for n in [4u8, 8, 16] {
        let a = c.challenge(n);
        let b = c.challenge(n);
        assert_eq!(a.len(), usize::from(n));
        assert_ne!(a, b, "fresh randoms each time");
    }
    assert_eq!(c.ok("0084 0000 000008").len(), 8, "extended Le");
    assert_same_image(&before, &c.image(), "GET CHALLENGE");
    for apdu in [
        "0084 0000 01",
        "0084 0000 05",
        "0084 0000 00",
        "0084 0000 20",
        "0084 0000",
        "0084 0000 000000",
    ] {
        c.refuse(apdu, 0x6700);
    }
    c.refuse("0084 0000 01 00 04", 0x6700);
    c.refuse("0084 0100 04", 0x6A86);
    c.refuse("0084 0001 04", 0x6A86);
}

// ---------------------------------------------------------------- EXTERNAL AUTHENTICATE

#[test]
fn external_authenticate_sets_the_level() {
    let mut c = in_adf();
    c.refuse("00D6 9500 01 01", 0x6982);
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
    c.ok("00D6 9500 01 01");
    // Level 2 also meets 0016's read right F1 (1 <= 2 <= F).
    c.ok("00B0 9600 01");
}

#[test]
fn verify_sets_the_register_to_the_pin_next_state_not_the_maximum() {
    let mut c = in_adf();
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
    c.ok("00D6 9500 01 01");
    // VERIFY sets the register to 1: 0015's write right F2 is no longer met.
    assert_eq!(c.verify_pin("123456"), 0x9000);
    c.refuse("00D6 9500 01 01", 0x6982);
}

#[test]
fn external_authenticate_try_counter() {
    let mut c = in_adf();
    let wrong = tdes(b"WRONG-KEY-WRONG!");
    let right = tdes(&ADF_AUTH_KEY);
    assert_eq!(c.ext_auth(0x01, &wrong), 0x63C2);
    // A success restores the counter.
    assert_eq!(c.ext_auth(0x01, &right), 0x9000);
    assert_eq!(c.ext_auth(0x01, &wrong), 0x63C2);
    assert_eq!(c.ext_auth(0x01, &wrong), 0x63C1);
    // The counter lives in NVM.
    c.power_cycle();
    c.select_adf();
    assert_eq!(c.ext_auth(0x01, &wrong), 0x63C0);
    // Blocked: even the right cryptogram is refused, and nothing changes any more.
    let apdu = auth_apdu(&mut c, 0x01, &right);
    c.refuse_raw(&apdu, 0x6983);
    let apdu = auth_apdu(&mut c, 0x01, &wrong);
    c.refuse_raw(&apdu, 0x6983);
    c.refuse("00D6 9500 01 01", 0x6982);
    c.power_cycle();
    c.select_adf();
    assert_eq!(c.ext_auth(0x01, &right), 0x6983);
}

#[test]
fn external_authenticate_needs_the_challenge_of_the_previous_command() {
    let mut c = in_adf();
    let key = tdes(&ADF_AUTH_KEY);
    // No challenge at all.
    c.refuse("0082 0001 08 0000000000000000", 0x6984);
    // A command in between spends the challenge, even a failing one.
    for between in ["00B0 9500 01", "00A4 0000 02 1234", "00B0 9500"] {
        let apdu = auth_apdu(&mut c, 0x01, &key);
        c.tx(between);
        c.refuse_raw(&apdu, 0x6984);
    }
    // A challenge serves one command only: replaying the same cryptogram fails.
    let apdu = auth_apdu(&mut c, 0x01, &key);
    assert_eq!(c.raw(&apdu).1, 0x9000);
    c.refuse_raw(&apdu, 0x6984);
    // A second GET CHALLENGE replaces the first.
    let apdu = auth_apdu(&mut c, 0x01, &key);
    c.challenge(4);
    assert_eq!(c.raw(&apdu).1, 0x63C2);
}

#[test]
fn external_authenticate_refusals() {
    let mut c = in_adf();
    c.challenge(4);
    c.refuse("0082 0101 08 0000000000000000", 0x6A86);
    c.challenge(4);
    c.refuse("0082 0009 08 0000000000000000", 0x6A88);
    // Key 00 of the application is the line key and the PIN, not an external-auth key.
    c.challenge(4);
    c.refuse("0082 0000 08 0000000000000000", 0x6A88);
    c.challenge(4);
    c.refuse("0082 0001 04 00000000", 0x6700);
    c.challenge(4);
    c.refuse("0082 0001 10 00000000000000000000000000000000", 0x6700);
    c.challenge(4);
    c.refuse("0082 0001", 0x6700);
    // A DF without a key file references no key.
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
    c.ok("80E0 4F05 0E 38 0040 F0 F0 95 FFFF D15600000505");
    c.ok("00A4 0000 02 4F05");
    c.challenge(4);
    c.refuse("0082 0001 08 0000000000000000", 0x6A88);
}

#[test]
fn external_authenticate_use_right() {
    let mut c = in_adf();
    // Key 02 usable only at level 1 or more (after the PIN), next state 3.
    let key = *b"USE-AFTER-PIN-02";
    c.ok(&format!("80D4 0102 15 39 F1 F0 03 33 {}", hex::encode(key)));
    let apdu = auth_apdu(&mut c, 0x02, &tdes(&key));
    c.refuse_raw(&apdu, 0x6982);
    assert_eq!(c.verify_pin("123456"), 0x9000);
    assert_eq!(c.ext_auth(0x02, &tdes(&key)), 0x9000);
}

#[test]
fn external_authenticate_with_an_sm4_key() {
    let mut c = in_adf();
    let key = *b"SM4-EXT-AUTH-KEY";
    // 39 use change next-state tries key16 alg(04 = SM4)
    c.ok(&format!(
        "80D4 0103 16 39 F0 F0 02 33 {} 04",
        hex::encode(key)
    ));
    let sm4 = Key::new(Algorithm::Sm4, &key).unwrap();
    assert_eq!(c.ext_auth(0x03, &sm4), 0x9000);
    c.ok("00D6 9500 01 01");
    // The SM4 cryptogram is one 16-byte block.
    c.challenge(16);
    c.refuse("0082 0003 08 0000000000000000", 0x6700);
    assert_eq!(
        c.ext_auth(0x03, &Key::new(Algorithm::Sm4, &[0u8; 16]).unwrap()),
        0x63C2
    );
}

// ---------------------------------------------------------------- VERIFY

#[test]
fn verify_pin_counts_and_blocks() {
    let mut c = in_adf();
    c.refuse("0020 0000", 0x63C3);
    assert_eq!(c.verify_pin("654321"), 0x63C2);
    c.refuse("0020 0000", 0x63C2);
    assert_eq!(c.verify_pin("123456"), 0x9000);
    c.refuse("0020 0000", 0x63C3);
    assert_eq!(c.verify_pin("111111"), 0x63C2);
    assert_eq!(c.verify_pin("1234"), 0x63C1, "a shorter PIN is just wrong");
    assert_eq!(c.verify_pin("12345678"), 0x63C0);
    c.refuse("0020 0000", 0x6983);
    let apdu = "0020 0000 03 123456";
    c.refuse(apdu, 0x6983);
    c.power_cycle();
    c.select_adf();
    c.refuse(apdu, 0x6983);
    c.refuse("0020 0000", 0x6983);
}

#[test]
fn a_wrong_pin_costs_a_try_in_nvm() {
    let mut c = in_adf();
    assert_eq!(c.verify_pin("999999"), 0x63C2);
    // A power cycle right after the failure: the counter is in NVM.
    c.power_cycle();
    c.select_adf();
    c.refuse("0020 0000", 0x63C2);
}

/// The tearing rule: the try is committed before the comparison. Cut the power at every NVM
/// program of a *correct* VERIFY: after recovery the counter is 3 (cut before the decrement
/// committed) or 2 (cut after it, before the restore); never more, and the "2" case exists,
/// which proves the decrement is durable before the comparison's result is acted on.
#[test]
fn tearing_a_correct_verify_never_refunds_a_try() {
    let base = in_adf().image();
    let mut seen_consumed = false;
    for mode in [
        TearMode::Skip,
        TearMode::Complete,
        TearMode::Partial { seed: 7 },
    ] {
        for k in 0.. {
            let mut c = Card::from_image(&base);
            c.select_adf();
            c.kernel().store_mut().nvm_mut().arm_tear(k, mode);
            let sw = c.verify_pin("123456");
            let torn = c.kernel().store().nvm().is_power_lost();
            c.power_cycle();
            c.select_adf();
            let (_, status) = c.tx("0020 0000");
            if !torn {
                assert_eq!(sw, 0x9000);
                assert_eq!(status, 0x63C3);
                assert!(k >= 2, "a commit takes programs");
                break;
            }
            assert_eq!(sw, 0x6581, "a cut during VERIFY is a memory failure");
            assert!(status == 0x63C3 || status == 0x63C2, "k={k}: {status:04X}");
            seen_consumed |= status == 0x63C2;
            assert!(k < 50);
        }
    }
    assert!(seen_consumed, "some cut point must leave the try consumed");
}

/// Same with a wrong PIN: whatever the cut, the counter never ends up higher than 3 and a
/// completed wrong VERIFY always leaves 2.
#[test]
fn tearing_a_wrong_verify() {
    let base = in_adf().image();
    for k in 0.. {
        let mut c = Card::from_image(&base);
        c.select_adf();
        c.kernel()
            .store_mut()
            .nvm_mut()
            .arm_tear(k, TearMode::Partial { seed: k });
        let sw = c.verify_pin("000000");
        let torn = c.kernel().store().nvm().is_power_lost();
        c.power_cycle();
        c.select_adf();
        let (_, status) = c.tx("0020 0000");
        if !torn {
            assert_eq!((sw, status), (0x63C2, 0x63C2));
            break;
        }
        assert!(status == 0x63C3 || status == 0x63C2, "k={k}: {status:04X}");
        assert!(k < 50);
    }
}

#[test]
fn verify_refusals() {
    let mut c = in_adf();
    c.refuse("0020 0100 03 123456", 0x6A86);
    c.refuse("0020 0001 03 123456", 0x6A88);
    c.refuse("0020 0000 01 12", 0x6700);
    c.refuse("0020 0000 09 123456789012345678", 0x6700);
    // The MF has no PIN.
    c.ok("00A4 0000 02 3F00");
    c.refuse("0020 0000 03 123456", 0x6A88);
}

#[test]
fn verify_respects_the_pin_use_right() {
    let mut c = in_adf();
    // PIN 01, usable only after external authentication (level 2..F).
    c.ok("80D4 0101 08 3A F2 EF 01 33 112233");
    c.refuse("0020 0001 03 112233", 0x6982);
    c.refuse("0020 0001", 0x6982);
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
    c.ok("0020 0001 03 112233");
}

#[test]
fn security_level_is_lost_on_power_cycle_and_reset() {
    let mut c = in_adf();
    assert_eq!(c.verify_pin("123456"), 0x9000);
    c.ok("00B0 9600 01");
    c.power_cycle();
    c.select_adf();
    c.refuse("00B0 9600 01", 0x6982);
    // Warm reset too.
    assert_eq!(c.verify_pin("123456"), 0x9000);
    let mut refs: Vec<&mut dyn cos_core::Applet> = Vec::new();
    c.kernel().reset(&mut refs);
    c.select_adf();
    c.refuse("00B0 9600 01", 0x6982);
    // And the challenge with it (the MF's master key is external-auth key 00).
    c.ok("00A4 0000 02 3F00");
    c.challenge(4);
    c.kernel().reset(&mut refs);
    c.refuse("0082 0000 08 0000000000000000", 0x6984);
}

// ---------------------------------------------------------------- CHANGE PIN / RELOAD PIN

#[test]
fn change_pin() {
    let mut c = in_adf();
    assert_eq!(c.verify_pin("000000"), 0x63C2);
    c.ok("805E 0100 06 123456 FF 6543");
    // The counter is back at its maximum, the old PIN is gone.
    c.refuse("0020 0000", 0x63C3);
    assert_eq!(c.verify_pin("123456"), 0x63C2);
    assert_eq!(c.verify_pin("6543"), 0x9000);
    c.power_cycle();
    c.select_adf();
    assert_eq!(c.verify_pin("6543"), 0x9000);
    // F-padded PINs are valid BCD.
    c.ok("805E 0100 06 6543 FF 12345F");
    assert_eq!(c.verify_pin("12345F"), 0x9000);
}

#[test]
fn change_pin_with_a_wrong_old_pin() {
    let mut c = in_adf();
    assert_eq!(c.sw("805E 0100 06 999999 FF 1111"), 0x63C2);
    assert_eq!(c.sw("805E 0100 06 999999 FF 1111"), 0x63C1);
    assert_eq!(c.verify_pin("123456"), 0x9000, "PIN unchanged");
    for _ in 0..3 {
        c.sw("805E 0100 06 999999 FF 1111");
    }
    c.refuse("805E 0100 06 123456 FF 1111", 0x6983);
}

#[test]
fn change_pin_refusals() {
    let mut c = in_adf();
    c.refuse("805E 0100 05 123456 1111", 0x6A80);
    c.refuse("805E 0100 04 12 FF 1111", 0x6700);
    c.refuse("805E 0100 04 123456 FF", 0x6700);
    c.refuse("805E 0100 06 123456 FF 12AB", 0x6700);
    c.refuse("805E 0100 0D 123456 FF 112233445566778899", 0x6700);
    c.refuse("805E 0200 06 123456 FF 1111", 0x6A86);
    c.refuse("805E 0109 06 123456 FF 1111", 0x6A88);
    // The PIN's use right applies to CHANGE PIN as well.
    c.ok("80D4 0101 08 3A F2 EF 01 33 112233");
    c.refuse("805E 0101 06 112233 FF 4455", 0x6982);
}

fn reload_apdu(new_pin: &str, key: &[u8; 16]) -> String {
    let pin = h(new_pin);
    let mac = tdes(key).mac(&[0u8; 8], &[&pin]).unwrap().first4();
    format!(
        "805E 0000 {:02X} {new_pin} {}",
        pin.len() + 4,
        hex::encode(mac)
    )
}

#[test]
fn reload_pin_with_a_reload_key() {
    let mut c = in_adf();
    c.refuse(&reload_apdu("8888", &RELOAD_KEY), 0x6A88);
    c.ok(&format!(
        "80D4 0100 15 38 F0 F0 FF 33 {}",
        hex::encode(RELOAD_KEY)
    ));
    // Block the PIN, then reload it.
    for _ in 0..3 {
        c.verify_pin("000000");
    }
    c.refuse("0020 0000", 0x6983);
    c.ok(&reload_apdu("8888", &RELOAD_KEY));
    c.refuse("0020 0000", 0x63C3);
    assert_eq!(c.verify_pin("8888"), 0x9000);
    assert_eq!(c.verify_pin("123456"), 0x63C2);
}

#[test]
fn reload_pin_refusals() {
    let mut c = in_adf();
    c.ok(&format!(
        "80D4 0100 15 38 F0 F0 FF 33 {}",
        hex::encode(RELOAD_KEY)
    ));
    // A MAC under another key: 6988 (and the reload key's counter is consumed).
    assert_eq!(c.sw(&reload_apdu("8888", b"NOT-THE-RELOADER")), 0x6988);
    assert_eq!(c.verify_pin("123456"), 0x9000, "PIN unchanged");
    c.refuse("805E 0000 03 123456", 0x6700);
    c.refuse("805E 0000 05 12 01020304", 0x6700);
    c.refuse("805E 0000 06 12AB 01020304", 0x6700);
    c.refuse("805E 0300 06 1234 01020304", 0x6A86);
    // Three wrong MACs block the reload key.
    assert_eq!(c.sw(&reload_apdu("8888", b"NOT-THE-RELOADER")), 0x6988);
    assert_eq!(c.sw(&reload_apdu("8888", b"NOT-THE-RELOADER")), 0x6988);
    c.refuse(&reload_apdu("8888", &RELOAD_KEY), 0x6983);
}

#[test]
fn reload_pin_use_right() {
    let mut c = in_adf();
    c.ok(&format!(
        "80D4 0100 15 38 F2 F0 FF 33 {}",
        hex::encode(RELOAD_KEY)
    ));
    c.refuse(&reload_apdu("8888", &RELOAD_KEY), 0x6982);
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
    c.ok(&reload_apdu("8888", &RELOAD_KEY));
}

// ---------------------------------------------------------------- INTERNAL AUTHENTICATE

#[test]
fn internal_authenticate_encrypt_decrypt_mac() {
    let mut c = in_adf();
    let key = tdes(&ADF_INT_KEY);
    let data = h("0102030405060708 1112131415161718");
    let mut enc = data.clone();
    key.encrypt_ecb(&mut enc).unwrap();
    assert_eq!(c.ok(&format!("0088 0001 10 {}", hex::encode(&data))), enc);
    assert_eq!(
        c.ok(&format!("0088 0001 08 {}", hex::encode(&data[..8]))),
        enc[..8]
    );
    // P1 01 decrypts.
    assert_eq!(c.ok(&format!("0088 0101 10 {}", hex::encode(&enc))), data);
    // P1 02: a 4-byte MAC with a zero IV, any data length.
    let mac = key.mac(&[0u8; 8], &[&data[..5]]).unwrap().first4();
    assert_eq!(
        c.ok(&format!("0088 0201 05 {}", hex::encode(&data[..5]))),
        mac
    );
    // With Le, the answer comes at once.
    let (d, sw) = c.once(&h(&format!("0088 0001 08 {} 00", hex::encode(&data[..8]))));
    assert_eq!((d, sw), (enc[..8].to_vec(), 0x9000));
    // A TAC key (34) never serves INTERNAL AUTHENTICATE: with an SM4 DTK the TAC key is the DTK
    // itself, and a MAC under it over chosen data would be a forged TAC (docs/reliability.md).
    let tac = *b"TAC-KEY-SM4-0123";
    c.ok(&format!("80D4 0103 15 34 F0 F0 01 04 {}", hex::encode(tac)));
    c.refuse(&format!("0088 0003 10 {}", hex::encode(&data)), 0x6A88);
    c.refuse(&format!("0088 0203 03 {}", hex::encode(&data[..3])), 0x6A88);
    // Nothing in NVM changes.
    let before = c.image();
    c.ok("0088 0001 08 0000000000000000");
    assert_same_image(&before, &c.image(), "INTERNAL AUTHENTICATE");
}

#[test]
fn internal_authenticate_refusals() {
    let mut c = in_adf();
    c.refuse("0088 0001", 0x6700);
    c.refuse("0088 0001 07 01020304050607", 0x6700);
    c.refuse("0088 0101 09 010203040506070809", 0x6700);
    c.refuse("0088 0201", 0x6700);
    c.refuse("0088 0301 08 0102030405060708", 0x6A86);
    c.refuse("0088 0009 08 0102030405060708", 0x6A88);
    // Key 00 of the application is the line key and the PIN: no internal-auth key.
    c.refuse("0088 0000 08 0102030405060708", 0x6A88);
    // Use right: an internal-auth key usable after the PIN only.
    c.ok(&format!(
        "80D4 0102 15 30 F1 F0 01 00 {}",
        hex::encode(ADF_INT_KEY)
    ));
    c.refuse("0088 0002 08 0102030405060708", 0x6982);
    assert_eq!(c.verify_pin("123456"), 0x9000);
    c.ok("0088 0002 08 0102030405060708");
}
