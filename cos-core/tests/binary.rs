//! READ / UPDATE / WRITE BINARY on transparent EFs: SFI and current-EF addressing, offsets, Le
//! handling, and every refusal with its status word (each one leaving the NVM image untouched).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used
)]

mod common;
use common::*;

/// In the application, with the external-authentication level (2) that 0015's write right F2 needs.
fn writable() -> Card {
    let mut c = in_adf();
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
    c
}

#[test]
fn update_then_read_by_sfi_with_offsets() {
    let mut c = writable();
    c.ok("00D6 9500 05 0102030405");
    c.ok("00D6 9505 03 AABBCC");
    assert_eq!(c.ok("00B0 9502 03"), h("030405"));
    assert_eq!(c.ok("00B0 9500 08"), h("0102030405AABBCC"));
    // The last byte of the file.
    c.ok("00D6 951D 01 EE");
    assert_eq!(c.ok("00B0 951D 01"), h("EE"));
    // Survives a power cycle.
    c.power_cycle();
    c.select_adf();
    assert_eq!(c.ok("00B0 9500 08"), h("0102030405AABBCC"));
}

#[test]
fn current_ef_and_15_bit_offset() {
    let mut c = writable();
    c.ok("00A4 020C 02 0015");
    c.ok("00D6 0010 02 CAFE");
    assert_eq!(c.ok("00B0 0010 02"), h("CAFE"));
    assert_eq!(c.ok("00B0 000F 04"), h("00CAFE00"));
}

#[test]
fn sfi_access_makes_the_ef_current() {
    let mut c = writable();
    c.ok("00D6 9500 02 1234");
    c.ok("00A4 020C 02 0017");
    assert_eq!(c.ok("00B0 9500 02"), h("1234"));
    assert_eq!(
        c.ok("00B0 0000 02"),
        h("1234"),
        "0015 is now the current EF"
    );
}

#[test]
fn le_handling() {
    let mut c = writable();
    let content: Vec<u8> = (1..=30).collect();
    c.ok(&format!("00D6 9500 1E {}", hex::encode(&content)));
    // Le 00: everything there is, no warning.
    assert_eq!(c.ok("00B0 9500 00"), content);
    assert_eq!(c.ok("00B0 950A 00"), content[10..]);
    // Le longer than what is left: the rest, with 6282.
    assert_eq!(c.expect("00B0 951A 10", 0x6282), content[26..]);
    assert_eq!(c.expect("00B0 9500 1F", 0x6282), content);
    // Exactly what is left: 9000.
    assert_eq!(c.ok("00B0 951A 04"), content[26..]);
    // Extended Le 0000 is the wildcard too; extended Le 0020 is longer than the file.
    assert_eq!(c.ok("00B0 9500 000000"), content);
    assert_eq!(c.expect("00B0 9500 000020", 0x6282), content);
    // No Le: 6700.
    c.refuse("00B0 9500", 0x6700);
    // A data field on READ BINARY: 6700.
    c.refuse("00B0 9500 01 00 00", 0x6700);
}

#[test]
fn past_the_end_is_6b00() {
    let mut c = writable();
    c.refuse("00B0 951E 01", 0x6B00);
    c.refuse("00B0 95FF 01", 0x6B00);
    c.refuse("00D6 951E 01 00", 0x6B00);
    c.refuse("00D0 951E 01 00", 0x6B00);
    c.ok("00A4 020C 02 0015");
    c.refuse("00B0 001E 01", 0x6B00);
    c.refuse("00B0 7FFF 01", 0x6B00);
    c.refuse("00D6 0100 01 00", 0x6B00);
}

#[test]
fn data_too_long_or_empty_is_6700() {
    let mut c = writable();
    c.refuse("00D6 951C 03 010203", 0x6700);
    c.refuse(&format!("00D6 9500 1F {}", "00".repeat(31)), 0x6700);
    c.refuse("00D0 951D 02 0102", 0x6700);
    c.refuse("00D6 9500", 0x6700);
    c.refuse("00D0 9500", 0x6700);
}

#[test]
fn no_current_ef_is_6986() {
    let mut c = writable();
    c.refuse("00B0 0000 04", 0x6986);
    c.refuse("00D6 0000 01 00", 0x6986);
    c.refuse("00D0 0000 01 00", 0x6986);
    // Selecting a DF clears the current EF.
    c.ok("00A4 020C 02 0015");
    c.ok("00B0 0000 01");
    c.select_adf();
    c.refuse("00B0 0000 01", 0x6986);
}

#[test]
fn record_files_are_6981() {
    let mut c = writable();
    for sfi in [0x97u8, 0x98, 0x99] {
        c.refuse(&format!("00B0 {sfi:02X}00 01"), 0x6981);
        c.refuse(&format!("00D6 {sfi:02X}00 01 00"), 0x6981);
        c.refuse(&format!("00D0 {sfi:02X}00 01 00"), 0x6981);
    }
    c.ok("00A4 020C 02 0017");
    c.refuse("00B0 0000 01", 0x6981);
    c.refuse("00D6 0000 01 00", 0x6981);
}

#[test]
fn bad_sfi_values() {
    let mut c = writable();
    // SFI 0 and 31 are not SFIs; P1 bits 7-6 must be 0 with bit 8 set.
    c.refuse("00B0 8000 01", 0x6A86);
    c.refuse("00B0 9F00 01", 0x6A86);
    c.refuse("00B0 A100 01", 0x6A86);
    c.refuse("00B0 C100 01", 0x6A86);
    c.refuse("00D6 8000 01 00", 0x6A86);
    // A valid SFI no EF of the current DF has.
    c.refuse("00B0 8100 01", 0x6A82);
    c.refuse("00D6 9E00 01 00", 0x6A82);
    // An SFI of the application is not visible from the MF.
    c.ok("00A4 0000 02 3F00");
    c.refuse("00B0 9500 01", 0x6A82);
}

#[test]
fn access_rights() {
    let mut c = in_adf();
    // 0015: read F0 (free), write F2 (level 2..F).
    c.ok("00B0 9500 01");
    c.refuse("00D6 9500 01 01", 0x6982);
    c.refuse("00D0 9500 01 01", 0x6982);
    // The PIN gives level 1: not enough.
    assert_eq!(c.verify_pin("123456"), 0x9000);
    c.refuse("00D6 9500 01 01", 0x6982);
    // 0016: read F1 (level 1..F) now met.
    c.ok("00B0 9600 10");
    // External authentication gives level 2: 0015 writable, 0016 still readable.
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
    c.ok("00D6 9500 01 01");
    c.ok("00B0 9600 10");
    // A power cycle forgets it all.
    c.power_cycle();
    c.select_adf();
    c.refuse("00B0 9600 10", 0x6982);
    c.refuse("00D6 9500 01 01", 0x6982);
}

#[test]
fn rights_are_checked_before_offsets() {
    let mut c = in_adf();
    c.refuse("00D6 95FF 01 01", 0x6982);
    c.refuse("00B0 96FF 01", 0x6982);
}

#[test]
fn write_binary_ors_bits() {
    let mut c = writable();
    c.ok("00D6 9500 02 0F30");
    c.ok("00D0 9500 02 F003");
    assert_eq!(c.ok("00B0 9500 02"), h("FF33"));
    // Bits can only be set.
    c.ok("00D0 9500 02 0000");
    assert_eq!(c.ok("00B0 9500 02"), h("FF33"));
    // UPDATE overwrites.
    c.ok("00D6 9500 02 0000");
    assert_eq!(c.ok("00B0 9500 02"), h("0000"));
}

#[test]
fn extended_length_update_and_read() {
    let mut c = writable();
    c.ok("00D6 9500 000003 A1A2A3");
    assert_eq!(c.ok("00B0 9500 000003"), h("A1A2A3"));
}

#[test]
fn mf_ef_by_sfi() {
    let mut c = personalised();
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.ok("80E0 0003 07 28 0100 F0 F0 FFFF");
    // A 256-byte file read in one go with Le 00, and with an offset beyond 255 via the current EF.
    let data: Vec<u8> = (0..=255u8).collect();
    c.ok(&format!("00D6 8300 80 {}", hex::encode(&data[..128])));
    c.ok(&format!("00D6 8380 80 {}", hex::encode(&data[128..])));
    assert_eq!(c.ok("00B0 8300 00"), data);
    c.ok("00A4 020C 02 0003");
    assert_eq!(c.ok("00B0 00FF 01"), vec![255]);
    c.refuse("00B0 0100 01", 0x6B00);
}
