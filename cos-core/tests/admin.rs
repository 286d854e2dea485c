//! CREATE FILE with the FMCOS 2.0 layouts of `shared/spec/cos-commands.md`, and WRITE KEY: the
//! accepted layouts, what they create, and every refusal with its status word.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used
)]

mod common;
use common::*;

/// A personalised card in the MF with the master key's level F (the MF's create right is 0F).
fn mf_admin() -> Card {
    let mut c = personalised();
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c
}

// ---------------------------------------------------------------- CREATE FILE

#[test]
fn fmcos_table_examples() {
    let mut c = mf_admin();
    // The table's DF example names the application that already exists.
    c.refuse(
        "80E0 3F02 11 38 036F F0 F0 95 FFFF A00000000386980701",
        0x6A8A,
    );
    c.ok("80E0 3F02 11 38 036F F0 F0 95 FFFF A00000000386980799");
    assert_eq!(
        c.ok("00A4 0004 02 3F02"),
        h("62 16 8202 3821 8302 3F02 8409 A00000000386980799 8A01 05")
    );
    c.ok("80E0 0000 07 3F 0050 01 F0 FFFF");
    c.ok("80E0 0001 07 A8 0030 F0 F0 FF FF");
    c.ok("80E0 0002 07 2A 02 13 F0 00 FFFF");
    c.ok("80E0 0003 07 2C 0018 F0 F0 FFFF");
    c.ok("80E0 0004 07 2E 0A 17 F0 EF FFFF");
    c.ok("80E0 0005 07 2F 0208 F0 00 FF 18");
    let fcp = |c: &mut Card, fid: &str| c.ok(&format!("00A4 0200 02 {fid}"));
    assert_eq!(
        fcp(&mut c, "0001"),
        h("62 12 8202 0121 8302 0001 8002 0030 8801 08 8A01 05")
    );
    assert_eq!(
        fcp(&mut c, "0002"),
        h("62 15 8205 0221001302 8302 0002 8002 0026 8801 10 8A01 05")
    );
    assert_eq!(
        fcp(&mut c, "0003"),
        h("62 15 8205 0421000000 8302 0003 8002 0018 8801 18 8A01 05")
    );
    assert_eq!(
        fcp(&mut c, "0004"),
        h("62 15 8205 062100170A 8302 0004 8002 00E6 8801 20 8A01 05")
    );
    // The purse is internal; the key file is not selectable either.
    c.refuse("00A4 0200 02 0005", 0x6A82);
    c.refuse("00A4 0200 02 0000", 0x6A82);
    // What the rights mean once the key file exists: A8 needs a MAC for writes, 00 is free
    // (MF level >= 0), EF is never.
    c.refuse("00D6 8100 01 01", 0x6982);
    c.ok("00DC 0114 13 00000000000000000000000000000000000000");
    c.refuse(
        "00E2 0020 17 0000000000000000000000000000000000000000000000",
        0x6982,
    );
    c.ok("00E2 0018 02 0102");
}

#[test]
fn trailing_ff_ff_is_optional() {
    let mut c = in_adf();
    c.ok("80E0 0021 05 28 0010 F0 F0");
    c.ok("80E0 0022 05 2A 02 04 F0 F0");
    c.ok("80E0 0023 05 2C 0010 F0 F0");
    c.ok("80E0 0024 05 2E 02 04 F0 F0");
    c.ok("80E0 0025 06 28 0010 F0 F0 FF");
    c.ok("80E0 0026 05 2F 0208 F0 00");
    assert_eq!(c.ok("00B0 8100 00"), vec![0; 16]);
}

#[test]
fn every_protection_bit_combination() {
    let mut c = in_adf();
    for (fid, ty) in [
        ("0021", "AA"),
        ("0022", "EA"),
        ("0023", "AC"),
        ("0024", "EC"),
        ("0025", "AE"),
        ("0026", "EE"),
        ("0027", "E8"),
    ] {
        let data = if ty == "E8" || ty == "AC" || ty == "EC" {
            "0010 F0 F0 FFFF"
        } else {
            "02 04 F0 F0 FFFF"
        };
        c.ok(&format!("80E0 {fid} 07 {ty} {data}"));
    }
    // Plain writes are refused on every one of them.
    c.refuse("00E2 0008 04 01020304", 0x6982);
    c.refuse("00E2 0010 04 01020304", 0x6982);
    c.refuse("00E2 0018 01 01", 0x6982);
    c.refuse("00E2 0020 01 01", 0x6982);
    c.refuse("00E2 0028 04 01020304", 0x6982);
    c.refuse("00E2 0030 04 01020304", 0x6982);
    c.refuse("00D6 8700 01 01", 0x6982);
    // MAC-only files take a MAC; encrypted ones need the encryption too.
    let line = tdes(&ADF_LINE_KEY);
    assert_eq!(
        c.secured([0x04, 0xE2, 0x00, 0x08], &h("01020304"), &line, None),
        0x9000
    );
    assert_eq!(
        c.secured([0x04, 0xE2, 0x00, 0x10], &h("01020304"), &line, None),
        0x6988
    );
    assert_eq!(
        c.secured([0x04, 0xE2, 0x00, 0x10], &h("01020304"), &line, Some(&line)),
        0x9000
    );
    assert_eq!(c.ok("00B2 0114 00"), h("01020304"));
}

#[test]
fn duplicates() {
    let mut c = in_adf();
    c.refuse("80E0 0015 07 28 0010 F0 F0 FFFF", 0x6A89);
    c.refuse("80E0 0017 07 2A 02 04 F0 F0 FFFF", 0x6A89);
    // The key file's FID, and a second key file under another FID.
    c.refuse("80E0 0000 07 28 0010 F0 F0 FFFF", 0x6A89);
    c.refuse("80E0 0099 07 3F 0030 01 F0 FFFF", 0x6A89);
    // DF names are unique on the whole card (the MF's included).
    c.refuse(
        &format!("80E0 4F01 11 38 0040 F0 F0 95 FFFF {ADF_AID}"),
        0x6A8A,
    );
    c.refuse(
        &format!("80E0 4F01 16 38 0040 F0 F0 95 FFFF {MF_NAME}"),
        0x6A8A,
    );
    c.ok("80E0 4F01 0E 38 0040 F0 F0 95 FFFF D15600000501");
    c.refuse("80E0 4F01 0E 38 0040 F0 F0 95 FFFF D15600000502", 0x6A89);
    c.refuse("80E0 4F01 07 28 0010 F0 F0 FFFF", 0x6A89);
    // A prefix of an existing name is another name.
    c.ok("80E0 4F02 0D 38 0040 F0 F0 95 FFFF D156000005");
    // FIDs are per DF: 0015 again inside 4F01.
    c.ok("00A4 0000 02 4F01");
    c.ok("80E0 0015 07 28 0010 F0 F0 FFFF");
}

#[test]
fn out_of_space() {
    let mut c = in_adf();
    // 1024 bytes: key file 256 + EFs 30 + 16 + 48 + 45 (5 cyclic records of 8 bytes, each with
    // its mark) + 64 + 16 = 475 used, 549 free.
    c.refuse("80E0 0021 07 28 0226 F0 F0 FFFF", 0x6A84);
    c.refuse("80E0 4F01 0E 38 0226 F0 F0 95 FFFF D15600000501", 0x6A84);
    c.refuse("80E0 0021 07 2A FF FF F0 F0 FFFF", 0x6A84);
    c.ok("80E0 0021 07 28 0225 F0 F0 FFFF");
    c.refuse("80E0 0022 07 28 0001 F0 F0 FFFF", 0x6A84);
    // A sub-DF's quota bounds what is created inside it.
    let mut c = in_adf();
    c.ok("80E0 4F01 0E 38 0020 F0 F0 95 FFFF D15600000501");
    c.ok("00A4 0000 02 4F01");
    c.ok("80E0 0001 07 28 0018 F0 F0 FFFF");
    c.refuse("80E0 0002 07 28 0009 F0 F0 FFFF", 0x6A84);
    c.ok("80E0 0002 07 28 0008 F0 F0 FFFF");
    c.refuse("80E0 0003 07 2A 01 01 F0 F0 FFFF", 0x6A84);
}

#[test]
fn bad_type_or_geometry_is_6a80() {
    let mut c = in_adf();
    for data in [
        "27 0010 F0 F0 FFFF",
        "00 0010 F0 F0 FFFF",
        "29 0010 F0 F0 FFFF",
        "FF 0010 F0 F0 FFFF",
        "2A 00 10 F0 F0 FFFF",
        "2A 02 00 F0 F0 FFFF",
        "2E 00 08 F0 F0 FFFF",
        "2E 05 00 F0 F0 FFFF",
        "3F 0017 01 F0 FFFF",
    ] {
        let n = h(data).len();
        c.refuse(&format!("80E0 0021 {n:02X} {data}"), 0x6A80);
    }
}

#[test]
fn bad_length_is_6700() {
    let mut c = in_adf();
    for data in [
        "28",
        "28 0010",
        "28 0010 F0",
        "28 0010 F0 F0 FFFF 00",
        "2A 02 04 F0",
        "2C 0010 F0 F0 FFFF FF",
        "2E 02",
        "2F 0208 F0",
        "2F 0208 F0 00 FF 18 00",
        "3F 0030 01",
        "38 0040 F0 F0 95 FFFF",
        "38 0040 F0 F0 95 FFFF 0102030405060708090A0B0C0D0E0F1011",
        "38 00",
    ] {
        let n = h(data).len();
        c.refuse(&format!("80E0 0021 {n:02X} {data}"), 0x6700);
    }
    c.refuse("80E0 0021", 0x6700);
}

#[test]
fn reserved_fids_are_6a86() {
    let mut c = in_adf();
    c.refuse("80E0 3FFF 07 28 0010 F0 F0 FFFF", 0x6A86);
    c.refuse("80E0 FFFF 07 28 0010 F0 F0 FFFF", 0x6A86);
}

#[test]
fn create_right() {
    let mut c = in_adf();
    // A DF whose create right needs level 2..F; its key file is created before rights apply.
    c.ok("80E0 4F01 0E 38 0100 F2 F0 95 FFFF D15600000501");
    c.ok("00A4 0000 02 4F01");
    c.ok("80E0 0000 07 3F 0030 01 F0 FFFF");
    c.ok(&format!(
        "80D4 0101 15 39 F0 F0 02 33 {}",
        hex::encode(ADF_AUTH_KEY)
    ));
    c.refuse("80E0 0001 07 28 0010 F0 F0 FFFF", 0x6982);
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
    c.ok("80E0 0001 07 28 0010 F0 F0 FFFF");
    // The MF's create right 0F without the master key.
    c.power_cycle();
    c.refuse("80E0 0001 07 28 0010 F0 F0 FFFF", 0x6982);
}

#[test]
fn rights_are_not_enforced_before_the_key_file_exists() {
    let mut c = in_adf();
    c.ok("80E0 4F01 0E 38 0100 EF EF 95 FFFF D15600000501");
    c.ok("00A4 0000 02 4F01");
    // Create right EF (never) is not enforced yet.
    c.ok("80E0 0001 07 28 0010 EF EF FFFF");
    c.ok("00D6 8100 01 01");
    c.ok("80E0 0000 07 3F 0030 01 F0 FFFF");
    // Now it is.
    c.refuse("80E0 0002 07 28 0010 F0 F0 FFFF", 0x6982);
    c.refuse("00D6 8100 01 01", 0x6982);
    c.refuse("00B0 8100 01", 0x6982);
}

#[test]
fn short_file_identifier_from_the_fid() {
    let mut c = in_adf();
    // 0115's low five bits (15) are 0015's SFI: the new EF gets no SFI.
    c.ok("80E0 0115 07 28 0004 F0 F0 FFFF");
    assert_eq!(
        c.ok("00A4 0200 02 0115"),
        h("62 0F 8202 0121 8302 0115 8002 0004 8A01 05")
    );
    // 001F would be SFI 31 and 0020 SFI 0: neither is an SFI.
    c.ok("80E0 001F 07 28 0004 F0 F0 FFFF");
    assert_eq!(
        c.ok("00A4 0200 02 001F"),
        h("62 0F 8202 0121 8302 001F 8002 0004 8A01 05")
    );
    c.ok("80E0 0020 07 28 0004 F0 F0 FFFF");
    assert_eq!(
        c.ok("00A4 0200 02 0020"),
        h("62 0F 8202 0121 8302 0020 8002 0004 8A01 05")
    );
    // SFI 1E is free.
    c.ok("80E0 AB1E 07 28 0004 F0 F0 FFFF");
    c.ok("00B0 9E00 04");
}

#[test]
fn create_does_not_change_the_selection() {
    let mut c = in_adf();
    c.ok("00A4 020C 02 0015");
    c.ok("80E0 0021 07 28 0004 F0 F0 FFFF");
    c.ok("80E0 4F01 0E 38 0040 F0 F0 95 FFFF D15600000501");
    c.ok("00B0 0000 04");
    // Still in the application: 0017 by SFI.
    c.ok("00B2 01BC 00");
}

// ---------------------------------------------------------------- WRITE KEY

#[test]
fn write_key_add_update_and_use() {
    let mut c = in_adf();
    let k2 = *b"EXT-AUTH-KEY-002";
    c.ok(&format!("80D4 0102 15 39 F0 F0 02 33 {}", hex::encode(k2)));
    assert_eq!(c.ext_auth(0x02, &tdes(&k2)), 0x9000);
    // P1 01 on an existing (type, id) replaces it.
    let k2b = *b"EXT-AUTH-KEY-02B";
    c.ok(&format!("80D4 0102 15 39 F0 F0 02 33 {}", hex::encode(k2b)));
    assert_eq!(c.ext_auth(0x02, &tdes(&k2)), 0x63C2);
    assert_eq!(c.ext_auth(0x02, &tdes(&k2b)), 0x9000);
    // P1 = the key type updates, and a new try counter unblocks a blocked key.
    for _ in 0..3 {
        c.ext_auth(0x02, &tdes(&k2));
    }
    assert_eq!(c.ext_auth(0x02, &tdes(&k2b)), 0x6983);
    c.ok(&format!("80D4 3902 15 39 F0 F0 02 33 {}", hex::encode(k2b)));
    assert_eq!(c.ext_auth(0x02, &tdes(&k2b)), 0x9000);
    // Same id, other type: a separate key.
    c.ok(&format!(
        "80D4 0102 15 30 F0 F0 01 00 {}",
        hex::encode(ADF_INT_KEY)
    ));
    assert_eq!(c.ext_auth(0x02, &tdes(&k2b)), 0x9000);
    c.ok("0088 0002 08 0102030405060708");
    // The FMCOS PIN layout's change right is EF: WRITE KEY can never rewrite the PIN.
    c.refuse("80D4 3A00 08 3A F0 EF 01 33 987654", 0x6982);
    c.refuse("80D4 0100 08 3A F0 EF 01 33 987654", 0x6982);
    assert_eq!(c.verify_pin("123456"), 0x9000);
    // An 8-byte (single DES) external-auth key.
    c.ok("80D4 0104 0D 39 F0 F0 02 33 0102030405060708");
    let des = cos_core::crypto::Key::new(cos_core::crypto::Algorithm::Tdes, &h("0102030405060708"))
        .unwrap();
    assert_eq!(c.ext_auth(0x04, &des), 0x9000);
}

#[test]
fn write_key_refusals() {
    let mut c = in_adf();
    let key = hex::encode(*b"SOME-KEY-0123456");
    c.refuse(&format!("80D4 9901 15 39 F0 F0 02 33 {key}"), 0x6A86);
    c.refuse(&format!("80D4 0201 15 39 F0 F0 02 33 {key}"), 0x6A86);
    c.refuse(&format!("80D4 3909 15 39 F0 F0 02 33 {key}"), 0x6A88);
    c.refuse(&format!("80D4 3901 15 36 F0 F0 FF 33 {key}"), 0x6A80);
    c.refuse(&format!("80D4 0105 15 99 F0 F0 02 33 {key}"), 0x6A80);
    // Purse-family keys carry an algorithm id: 07 is none we know.
    c.refuse(&format!("80D4 0105 15 3E F0 F0 01 07 {key}"), 0x6A80);
    // More remaining tries than the maximum.
    c.refuse(&format!("80D4 0105 15 39 F0 F0 02 35 {key}"), 0x6A80);
    // Lengths: header only, a 7- or 12-byte key, a 1- or 9-byte PIN.
    c.refuse("80D4 0105 04 39 F0 F0 02", 0x6700);
    c.refuse("80D4 0105 0C 39 F0 F0 02 33 01020304050607", 0x6700);
    c.refuse(
        "80D4 0105 11 39 F0 F0 02 33 0102030405060708090A0B0C",
        0x6700,
    );
    c.refuse("80D4 0105 06 3A F0 EF 01 33 12", 0x6700);
    c.refuse("80D4 0105 0E 3A F0 EF 01 33 112233445566778899", 0x6700);
    c.refuse("80D4 0105", 0x6700);
    // No key file in the current DF.
    c.ok("80E0 4F01 0E 38 0040 F0 F0 95 FFFF D15600000501");
    c.ok("00A4 0000 02 4F01");
    c.refuse(&format!("80D4 0101 15 39 F0 F0 02 33 {key}"), 0x6A82);
}

#[test]
fn write_key_file_full() {
    let mut c = in_adf();
    c.ok("80E0 4F01 0E 38 0080 F0 F0 95 FFFF D15600000501");
    c.ok("00A4 0000 02 4F01");
    // 0x30 bytes: two 24-byte records.
    c.ok("80E0 0000 07 3F 0030 01 F0 FFFF");
    c.ok(&format!(
        "80D4 0101 15 39 F0 F0 02 33 {}",
        hex::encode([1u8; 16])
    ));
    c.ok(&format!(
        "80D4 0102 15 39 F0 F0 02 33 {}",
        hex::encode([2u8; 16])
    ));
    c.refuse(
        &format!("80D4 0103 15 39 F0 F0 02 33 {}", hex::encode([3u8; 16])),
        0x6A84,
    );
    // Updating an existing key still works when full.
    c.ok(&format!(
        "80D4 0102 15 39 F0 F0 02 33 {}",
        hex::encode([4u8; 16])
    ));
    assert_eq!(c.ext_auth(0x02, &tdes(&[4u8; 16])), 0x9000);
}

#[test]
fn write_key_rights() {
    let mut c = in_adf();
    c.ok("80E0 4F01 0E 38 0100 F0 F0 95 FFFF D15600000501");
    c.ok("00A4 0000 02 4F01");
    // Adding needs the key file's add right (here: level 1..F, after the PIN).
    c.ok("80E0 0000 07 3F 0060 01 F1 FFFF");
    c.refuse("80D4 0100 07 3A F0 EF 01 33 1234", 0x6982);
    // (With no PIN in it yet, this DF can never get one: add right F1 on an empty key file is a
    // personalisation dead end the kernel does not prevent.) The change right, on the
    // application's keys:
    c.select_adf();
    // An external-auth key nobody may change (change right EF).
    c.ok(&format!(
        "80D4 0102 15 39 F0 EF 02 33 {}",
        hex::encode([7u8; 16])
    ));
    c.refuse(
        &format!("80D4 0102 15 39 F0 F0 02 33 {}", hex::encode([8u8; 16])),
        0x6982,
    );
    c.refuse(
        &format!("80D4 3902 15 39 F0 F0 02 33 {}", hex::encode([8u8; 16])),
        0x6982,
    );
    assert_eq!(c.ext_auth(0x02, &tdes(&[7u8; 16])), 0x9000);
    // A key changeable after external authentication only (F2).
    c.ok(&format!(
        "80D4 0103 15 39 F0 F2 02 33 {}",
        hex::encode([9u8; 16])
    ));
    c.power_cycle();
    c.select_adf();
    c.refuse(
        &format!("80D4 3903 15 39 F0 F2 02 33 {}", hex::encode([10u8; 16])),
        0x6982,
    );
    assert_eq!(c.ext_auth(0x03, &tdes(&[9u8; 16])), 0x9000);
    c.ok(&format!(
        "80D4 3903 15 39 F0 F2 02 33 {}",
        hex::encode([10u8; 16])
    ));
}

#[test]
fn write_key_add_right_with_the_mf_level() {
    let mut c = mf_admin();
    c.select_adf();
    c.ok("80E0 4F01 0E 38 0100 F0 F0 95 FFFF D15600000501");
    c.ok("00A4 0000 02 4F01");
    // Add right 0F: the MF's level F (proved at the MF, it lasts the session) meets it.
    c.ok("80E0 0000 07 3F 0060 01 0F FFFF");
    c.ok("80D4 0100 07 3A F0 EF 01 33 1234");
    c.power_cycle();
    c.ok("00A4 0800 04 3F01 4F01");
    c.refuse("80D4 0101 07 3A F0 EF 01 33 1234", 0x6982);
}
