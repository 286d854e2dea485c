//! READ / UPDATE / APPEND RECORD on linear-fixed (0017, 3 × 16), cyclic (0018, 5 × 8) and
//! linear-variable (0019, 64 bytes) EFs: every P2 mode, the current record, Le handling, and the
//! refusals with their status words (leaving the NVM image untouched).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used
)]

mod common;
use common::*;

// P2 = SFI << 3 | mode
const FIXED: u8 = 0x17 << 3;
const CYCLIC: u8 = 0x18 << 3;
const VARIABLE: u8 = 0x19 << 3;
const BY_NUMBER: u8 = 0b100;
const FIRST: u8 = 0b000;
const LAST: u8 = 0b001;
const NEXT: u8 = 0b010;
const PREVIOUS: u8 = 0b011;

fn read(c: &mut Card, p1: u8, p2: u8) -> (Vec<u8>, u16) {
    c.raw(&[0x00, 0xB2, p1, p2, 0x00])
}

fn rec(fill: u8, len: usize) -> String {
    hex::encode([fill].repeat(len))
}

#[test]
fn linear_fixed_records_exist_from_creation() {
    let mut c = in_adf();
    for n in 1..=3u8 {
        assert_eq!(read(&mut c, n, FIXED | BY_NUMBER), (vec![0; 16], 0x9000));
    }
    c.ok(&format!(
        "00DC 02{:02X} 10 {}",
        FIXED | BY_NUMBER,
        rec(0x22, 16)
    ));
    assert_eq!(read(&mut c, 2, FIXED | BY_NUMBER).0, vec![0x22; 16]);
    // Via the current EF (SFI 0 in P2).
    c.ok("00A4 020C 02 0017");
    c.ok(&format!("00DC 0304 10 {}", rec(0x33, 16)));
    assert_eq!(c.ok("00B2 0304 10"), vec![0x33; 16]);
    c.power_cycle();
    c.select_adf();
    assert_eq!(read(&mut c, 3, FIXED | BY_NUMBER).0, vec![0x33; 16]);
}

#[test]
fn record_not_found_is_6a83() {
    let mut c = in_adf();
    c.refuse(&format!("00B2 04{:02X} 00", FIXED | BY_NUMBER), 0x6A83);
    c.refuse(&format!("00B2 FF{:02X} 00", FIXED | BY_NUMBER), 0x6A83);
    c.refuse(
        &format!("00DC 04{:02X} 10 {}", FIXED | BY_NUMBER, rec(1, 16)),
        0x6A83,
    );
    // Record 0 = the current record, and there is none yet.
    c.refuse(&format!("00B2 00{:02X} 00", FIXED | BY_NUMBER), 0x6A83);
    c.refuse(
        &format!("00DC 00{:02X} 10 {}", FIXED | BY_NUMBER, rec(1, 16)),
        0x6A83,
    );
    // Empty cyclic and variable files have no record 1.
    for p2 in [CYCLIC, VARIABLE] {
        c.refuse(&format!("00B2 01{:02X} 00", p2 | BY_NUMBER), 0x6A83);
        c.refuse(&format!("00B2 00{:02X} 00", p2 | FIRST), 0x6A83);
        c.refuse(&format!("00B2 00{:02X} 00", p2 | LAST), 0x6A83);
        c.refuse(
            &format!("00DC 01{:02X} 08 {}", p2 | BY_NUMBER, rec(1, 8)),
            0x6A83,
        );
    }
}

#[test]
fn first_last_next_previous_and_current() {
    let mut c = in_adf();
    for n in 1..=3u8 {
        c.ok(&format!(
            "00DC {n:02X}{:02X} 10 {}",
            FIXED | BY_NUMBER,
            rec(n, 16)
        ));
    }
    c.ok("00A4 020C 02 0017"); // forget the current record
    assert_eq!(read(&mut c, 0, FIXED | FIRST).0, vec![1; 16]);
    assert_eq!(read(&mut c, 0, FIXED | NEXT).0, vec![2; 16]);
    assert_eq!(read(&mut c, 0, FIXED | NEXT).0, vec![3; 16]);
    c.refuse(&format!("00B2 00{:02X} 00", FIXED | NEXT), 0x6A83);
    // The current record is unchanged by the failure.
    assert_eq!(read(&mut c, 0, FIXED | BY_NUMBER).0, vec![3; 16]);
    assert_eq!(read(&mut c, 0, FIXED | PREVIOUS).0, vec![2; 16]);
    assert_eq!(read(&mut c, 0, FIXED | PREVIOUS).0, vec![1; 16]);
    c.refuse(&format!("00B2 00{:02X} 00", FIXED | PREVIOUS), 0x6A83);
    assert_eq!(read(&mut c, 0, FIXED | LAST).0, vec![3; 16]);
    // With no current record, "next" is the first and "previous" the last.
    c.ok("00A4 020C 02 0017");
    assert_eq!(read(&mut c, 0, FIXED | NEXT).0, vec![1; 16]);
    c.ok("00A4 020C 02 0017");
    assert_eq!(read(&mut c, 0, FIXED | PREVIOUS).0, vec![3; 16]);
    // UPDATE RECORD takes the same modes and moves the current record.
    c.ok(&format!(
        "00DC 00{:02X} 10 {}",
        FIXED | FIRST,
        rec(0xA1, 16)
    ));
    c.ok(&format!("00DC 00{:02X} 10 {}", FIXED | NEXT, rec(0xA2, 16)));
    c.ok(&format!(
        "00DC 00{:02X} 10 {}",
        FIXED | BY_NUMBER,
        rec(0xA3, 16)
    ));
    c.ok(&format!("00DC 00{:02X} 10 {}", FIXED | LAST, rec(0xA4, 16)));
    c.ok(&format!(
        "00DC 00{:02X} 10 {}",
        FIXED | PREVIOUS,
        rec(0xA5, 16)
    ));
    assert_eq!(read(&mut c, 1, FIXED | BY_NUMBER).0, vec![0xA1; 16]);
    assert_eq!(read(&mut c, 2, FIXED | BY_NUMBER).0, vec![0xA5; 16]);
    assert_eq!(read(&mut c, 3, FIXED | BY_NUMBER).0, vec![0xA4; 16]);
}

#[test]
fn current_record_is_per_file() {
    let mut c = in_adf();
    assert_eq!(read(&mut c, 2, FIXED | BY_NUMBER).1, 0x9000);
    // Another EF: its own (absent) current record.
    c.ok(&format!("00E2 00{CYCLIC:02X} 08 {}", rec(7, 8)));
    assert_eq!(read(&mut c, 0, CYCLIC | BY_NUMBER).0, vec![7; 8]);
    // Back to the fixed file: no current record any more.
    c.refuse(&format!("00B2 00{:02X} 00", FIXED | BY_NUMBER), 0x6A83);
}

#[test]
fn bad_modes_and_p1() {
    let mut c = in_adf();
    for mode in [0b101u8, 0b110, 0b111] {
        c.refuse(&format!("00B2 01{:02X} 00", FIXED | mode), 0x6A86);
        c.refuse(
            &format!("00DC 01{:02X} 10 {}", FIXED | mode, rec(1, 16)),
            0x6A86,
        );
    }
    // first/last/next/previous with P1 ≠ 0 search a record identifier: none starts with 01.
    for mode in [FIRST, LAST, NEXT, PREVIOUS] {
        c.refuse(&format!("00B2 01{:02X} 00", FIXED | mode), 0x6A83);
    }
    // SFI 31 is reserved.
    c.refuse("00B2 01FC 00", 0x6A86);
    c.refuse(&format!("00DC 01FC 10 {}", rec(1, 16)), 0x6A86);
    c.refuse(&format!("00E2 00F8 10 {}", rec(1, 16)), 0x6A86);
    // APPEND RECORD: P1 must be 00 and P2's mode bits 000.
    c.refuse(&format!("00E2 01{CYCLIC:02X} 08 {}", rec(1, 8)), 0x6A86);
    c.refuse(
        &format!("00E2 00{:02X} 08 {}", CYCLIC | BY_NUMBER, rec(1, 8)),
        0x6A86,
    );
}

#[test]
fn wrong_file_kind_missing_file_and_no_current_ef() {
    let mut c = in_adf();
    // 0015 is transparent.
    c.refuse("00B2 01AC 00", 0x6981);
    c.refuse("00DC 01AC 01 00", 0x6981);
    c.refuse("00E2 00A8 01 00", 0x6981);
    // SFI 1 does not exist.
    c.refuse("00B2 010C 00", 0x6A82);
    c.refuse("00E2 0008 01 00", 0x6A82);
    // No current EF.
    c.refuse("00B2 0104 00", 0x6986);
    c.refuse("00DC 0104 10 00000000000000000000000000000000", 0x6986);
    c.refuse("00E2 0000 08 0000000000000000", 0x6986);
    c.ok("00A4 020C 02 0015");
    c.refuse("00B2 0104 00", 0x6981);
}

#[test]
fn le_handling() {
    let mut c = in_adf();
    let p2 = FIXED | BY_NUMBER;
    // Le shorter than the record: 6Cxx with the exact length, then the resend works.
    c.refuse(&format!("00B2 01{p2:02X} 05"), 0x6C10);
    c.refuse(&format!("00B2 01{p2:02X} 0F"), 0x6C10);
    assert_eq!(c.ok(&format!("00B2 01{p2:02X} 10")), vec![0; 16]);
    // Longer: the record, with 6282. Le 00: the record, 9000.
    assert_eq!(
        c.expect(&format!("00B2 01{p2:02X} 11"), 0x6282),
        vec![0; 16]
    );
    assert_eq!(c.ok(&format!("00B2 01{p2:02X} 00")), vec![0; 16]);
    assert_eq!(c.ok(&format!("00B2 01{p2:02X} 000000")), vec![0; 16]);
    // No Le, or a data field: 6700.
    c.refuse(&format!("00B2 01{p2:02X}"), 0x6700);
    c.refuse(&format!("00B2 01{p2:02X} 01 00 00"), 0x6700);
    // Variable records answer with their own length.
    c.ok(&format!("00E2 00{VARIABLE:02X} 03 AABBCC"));
    c.refuse(&format!("00B2 01{:02X} 02", VARIABLE | BY_NUMBER), 0x6C03);
    assert_eq!(
        c.ok(&format!("00B2 01{:02X} 03", VARIABLE | BY_NUMBER)),
        h("AABBCC")
    );
}

#[test]
fn update_record_length_must_match() {
    let mut c = in_adf();
    c.refuse(
        &format!("00DC 01{:02X} 0F {}", FIXED | BY_NUMBER, rec(1, 15)),
        0x6700,
    );
    c.refuse(
        &format!("00DC 01{:02X} 11 {}", FIXED | BY_NUMBER, rec(1, 17)),
        0x6700,
    );
    c.refuse(&format!("00DC 01{:02X}", FIXED | BY_NUMBER), 0x6700);
    c.ok(&format!("00E2 00{VARIABLE:02X} 02 AABB"));
    c.refuse(
        &format!("00DC 01{:02X} 03 010203", VARIABLE | BY_NUMBER),
        0x6700,
    );
    c.refuse(
        &format!("00DC 01{:02X} 01 01", VARIABLE | BY_NUMBER),
        0x6700,
    );
    c.ok(&format!("00DC 01{:02X} 02 0102", VARIABLE | BY_NUMBER));
    assert_eq!(
        c.ok(&format!("00B2 01{:02X} 00", VARIABLE | BY_NUMBER)),
        h("0102")
    );
}

#[test]
fn append_to_linear_fixed_until_full() {
    let mut c = in_adf();
    for n in 1..=3u8 {
        c.ok(&format!("00E2 00{FIXED:02X} 10 {}", rec(n, 16)));
        // The appended record becomes the current one.
        assert_eq!(read(&mut c, 0, FIXED | BY_NUMBER).0, vec![n; 16]);
    }
    c.refuse(&format!("00E2 00{FIXED:02X} 10 {}", rec(4, 16)), 0x6A84);
    c.refuse(&format!("00E2 00{FIXED:02X} 08 {}", rec(4, 8)), 0x6700);
    c.refuse(&format!("00E2 00{FIXED:02X}"), 0x6700);
    for n in 1..=3u8 {
        assert_eq!(read(&mut c, n, FIXED | BY_NUMBER).0, vec![n; 16]);
    }
}

#[test]
fn append_length_is_checked_before_fullness() {
    let mut c = in_adf();
    c.refuse(&format!("00E2 00{FIXED:02X} 0F {}", rec(4, 15)), 0x6700);
    c.refuse(&format!("00E2 00{CYCLIC:02X} 09 {}", rec(4, 9)), 0x6700);
    c.refuse(&format!("00E2 00{CYCLIC:02X} 07 {}", rec(4, 7)), 0x6700);
}

#[test]
fn cyclic_record_1_is_the_newest_and_the_oldest_is_overwritten() {
    let mut c = in_adf();
    for n in 1..=7u8 {
        c.ok(&format!("00E2 00{CYCLIC:02X} 08 {}", rec(n, 8)));
        // After each append, record 1 is the newest and the current record.
        assert_eq!(read(&mut c, 1, CYCLIC | BY_NUMBER).0, vec![n; 8]);
        let used = n.min(5);
        assert_eq!(read(&mut c, 0, CYCLIC | LAST).0, vec![n + 1 - used; 8]);
        c.refuse(
            &format!("00B2 {:02X}{:02X} 00", used + 1, CYCLIC | BY_NUMBER),
            0x6A83,
        );
    }
    // Records 1..5 are appends 7, 6, 5, 4, 3: 1 and 2 were overwritten.
    for (n, want) in (1..=5u8).zip([7u8, 6, 5, 4, 3]) {
        assert_eq!(read(&mut c, n, CYCLIC | BY_NUMBER).0, vec![want; 8]);
    }
    // Walk from the newest with "next".
    c.ok("00A4 020C 02 0018");
    let mut seen = Vec::new();
    loop {
        let (d, sw) = read(&mut c, 0, NEXT);
        if sw != 0x9000 {
            assert_eq!(sw, 0x6A83);
            break;
        }
        seen.push(d[0]);
    }
    assert_eq!(seen, vec![7, 6, 5, 4, 3]);
    // UPDATE RECORD rewrites an existing cyclic record in place.
    c.ok(&format!(
        "00DC 03{:02X} 08 {}",
        CYCLIC | BY_NUMBER,
        rec(0xEE, 8)
    ));
    assert_eq!(read(&mut c, 3, CYCLIC | BY_NUMBER).0, vec![0xEE; 8]);
    c.ok(&format!("00E2 00{CYCLIC:02X} 08 {}", rec(8, 8)));
    assert_eq!(read(&mut c, 4, CYCLIC | BY_NUMBER).0, vec![0xEE; 8]);
    c.power_cycle();
    c.select_adf();
    assert_eq!(read(&mut c, 1, CYCLIC | BY_NUMBER).0, vec![8; 8]);
    assert_eq!(read(&mut c, 5, CYCLIC | BY_NUMBER).0, vec![4; 8]);
}

/// The cyclic head lives in write-order marks that run 1 … 255 and wrap to 1 (fs version 2): over
/// more than a thousand appends — the marks wrap four times, at every position of the 5-record
/// ring — record 1 stays the newest and the order holds, across power cycles too. A ring of 254
/// records (the most CREATE FILE allows) is exercised the same way; 255 records answer 6A80.
#[test]
fn cyclic_order_survives_the_marks_wrapping() {
    let mut c = in_adf();
    for n in 1..=1030u32 {
        let v = (n % 251) as u8;
        c.ok(&format!("00E2 00{CYCLIC:02X} 08 {}", rec(v, 8)));
        if n % 97 == 0 || n > 1020 {
            for k in 1..=5u32 {
                let want = ((n + 1 - k) % 251) as u8;
                assert_eq!(
                    read(&mut c, k as u8, CYCLIC | BY_NUMBER).0,
                    vec![want; 8],
                    "append {n}, record {k}"
                );
            }
        }
        if n % 300 == 0 {
            c.power_cycle();
            c.select_adf();
        }
    }

    let mut c = in_adf();
    c.refuse("80E0 0A01 07 2E FF 01 F0 F0 FFFF", 0x6A80);
    c.ok("80E0 0A01 07 2E FE 01 F0 F0 FFFF");
    c.ok("00A4 020C 02 0A01");
    for n in 1..=600u32 {
        c.ok(&format!("00E2 0000 01 {:02X}", n % 256));
        if [254, 255, 509, 600].contains(&n) {
            let used = n.min(254);
            for k in [1, 2, used / 2, used] {
                let want = ((n + 1 - k) % 256) as u8;
                let got = read(&mut c, k as u8, BY_NUMBER).0;
                assert_eq!(got, vec![want], "append {n}, record {k}");
            }
        }
    }
    c.refuse("00B2 FF04 00", 0x6A83);
}

#[test]
fn linear_variable_records() {
    let mut c = in_adf();
    c.ok(&format!("00E2 00{VARIABLE:02X} 01 AA"));
    c.ok(&format!("00E2 00{VARIABLE:02X} 03 BBBBBB"));
    c.ok(&format!("00E2 00{VARIABLE:02X} 02 CCCC"));
    assert_eq!(
        read(&mut c, 0, VARIABLE | BY_NUMBER).0,
        h("CCCC"),
        "appended = current"
    );
    assert_eq!(read(&mut c, 1, VARIABLE | BY_NUMBER).0, h("AA"));
    assert_eq!(read(&mut c, 2, VARIABLE | BY_NUMBER).0, h("BBBBBB"));
    assert_eq!(read(&mut c, 0, VARIABLE | LAST).0, h("CCCC"));
    assert_eq!(read(&mut c, 0, VARIABLE | PREVIOUS).0, h("BBBBBB"));
    c.refuse(&format!("00B2 04{:02X} 00", VARIABLE | BY_NUMBER), 0x6A83);
    // 64 bytes hold 2 + 4 + 3 = 9 used; records cost length + 1. 54 more fit exactly.
    c.ok(&format!("00E2 00{VARIABLE:02X} 35 {}", rec(0xDD, 53)));
    c.refuse(&format!("00E2 00{VARIABLE:02X} 01 EE"), 0x6A84);
    c.refuse(&format!("00E2 00{VARIABLE:02X}"), 0x6700);
    assert_eq!(read(&mut c, 4, VARIABLE | BY_NUMBER).0, vec![0xDD; 53]);
}

#[test]
fn record_access_rights() {
    let mut c = in_adf();
    // A fixed-record EF readable after the PIN (F1), writable after external auth (F2).
    c.ok("80E0 0021 07 2A 02 04 F1 F2 FFFF");
    let p2 = (0x01 << 3) | BY_NUMBER;
    c.refuse(&format!("00B2 01{p2:02X} 00"), 0x6982);
    c.refuse(&format!("00DC 01{p2:02X} 04 01020304"), 0x6982);
    c.refuse("00E2 0008 04 01020304", 0x6982);
    assert_eq!(c.verify_pin("123456"), 0x9000);
    c.ok(&format!("00B2 01{p2:02X} 00"));
    c.refuse(&format!("00DC 01{p2:02X} 04 01020304"), 0x6982);
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
    c.ok(&format!("00DC 02{p2:02X} 04 01020304"));
    c.ok("00E2 0008 04 05060708");
    assert_eq!(c.ok(&format!("00B2 01{p2:02X} 00")), h("05060708"));
    assert_eq!(c.ok(&format!("00B2 02{p2:02X} 00")), h("01020304"));
}

/// Documented policy (fs/record.rs): a linear-fixed file's records all exist from creation, and
/// APPEND RECORD fills the first *never-appended* record, whatever UPDATE RECORD wrote there.
#[test]
fn append_on_linear_fixed_ignores_earlier_updates() {
    let mut c = in_adf();
    c.ok(&format!(
        "00DC 01{:02X} 10 {}",
        FIXED | BY_NUMBER,
        rec(0x11, 16)
    ));
    c.ok(&format!("00E2 00{FIXED:02X} 10 {}", rec(0x22, 16)));
    assert_eq!(read(&mut c, 1, FIXED | BY_NUMBER).0, vec![0x22; 16]);
    assert_eq!(read(&mut c, 0, FIXED | BY_NUMBER).0, vec![0x22; 16]);
}

#[test]
fn records_found_by_identifier_first_last_next_previous() {
    // ISO/IEC 7816-4: with P1 ≠ 0, P2 modes 000–011 address the record whose first byte (its
    // identifier, a SIMPLE-TLV tag) is P1 — how social-security terminals read data elements.
    let mut c = in_adf();
    c.ok(&format!(
        "00DC 01{:02X} 10 08{}",
        FIXED | BY_NUMBER,
        "AA".repeat(15)
    ));
    c.ok(&format!(
        "00DC 02{:02X} 10 09{}",
        FIXED | BY_NUMBER,
        "BB".repeat(15)
    ));
    c.ok(&format!(
        "00DC 03{:02X} 10 08{}",
        FIXED | BY_NUMBER,
        "CC".repeat(15)
    ));
    let (d, sw) = read(&mut c, 0x08, FIXED | FIRST);
    assert_eq!((d[1], sw), (0xAA, 0x9000));
    let (d, _) = read(&mut c, 0x08, FIXED | NEXT);
    assert_eq!(d[1], 0xCC, "next occurrence after record 1");
    assert_eq!(read(&mut c, 0x08, FIXED | NEXT).1, 0x6A83);
    let (d, _) = read(&mut c, 0x08, FIXED | PREVIOUS);
    assert_eq!(d[1], 0xAA, "previous occurrence before record 3");
    let (d, _) = read(&mut c, 0x08, FIXED | LAST);
    assert_eq!(d[1], 0xCC);
    let (d, _) = read(&mut c, 0x09, FIXED | FIRST);
    assert_eq!(d[1], 0xBB);
    // UPDATE RECORD by identifier too.
    c.ok(&format!(
        "00DC 09{:02X} 10 09{}",
        FIXED | FIRST,
        "DD".repeat(15)
    ));
    assert_eq!(read(&mut c, 0x02, FIXED | BY_NUMBER).0[1], 0xDD);
}
