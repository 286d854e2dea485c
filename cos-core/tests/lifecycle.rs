//! The card life cycle (pre-personalised → personalised → issued → terminated), the application
//! life cycle (APPLICATION BLOCK / UNBLOCK), CARD BLOCK and ERASE DF.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used
)]

mod common;
use common::*;

/// The card's LCS byte in the file-system header (data area offset 5).
fn card_lcs(c: &mut Card) -> u8 {
    c.data_area()[5]
}

fn mf_line() -> cos_core::crypto::Key {
    tdes(&MF_LINE_KEY)
}

fn adf_line() -> cos_core::crypto::Key {
    tdes(&ADF_LINE_KEY)
}

// ---------------------------------------------------------------- card life cycle

#[test]
fn first_create_makes_the_card_personalised() {
    let mut c = Card::blank();
    assert_eq!(card_lcs(&mut c), 0x01);
    // The transport key's next state F meets the factory MF's create right 0F.
    assert_eq!(c.ext_auth(0x00, &tdes(&TRANSPORT_KEY)), 0x9000);
    c.ok("80E0 0001 07 28 0010 F0 F0 FFFF");
    assert_eq!(card_lcs(&mut c), 0x03);
    c.ok("80E0 0002 07 28 0010 F0 F0 FFFF");
    assert_eq!(card_lcs(&mut c), 0x03);
    // ACTIVATE FILE moves it on (the MF key file holds the transport key).
    c.ok("0044 0000");
    assert_eq!(card_lcs(&mut c), 0x05);
}

#[test]
fn redefining_the_mf_before_issue() {
    let mut c = Card::blank();
    assert_eq!(c.ext_auth(0x00, &tdes(&TRANSPORT_KEY)), 0x9000);
    // The factory MF has a key file: no redefinition.
    c.refuse("80E0 3F00 0D 38 0000 F0 F0 95 FFFF 4E45574D46", 0x6985);
    c.ok("800E 0000");
    // Without a key file it is allowed, and it is the first CREATE FILE.
    c.ok("80E0 3F00 0D 38 0000 F0 F0 95 FFFF 4E45574D46");
    assert_eq!(card_lcs(&mut c), 0x03);
    assert_eq!(
        c.ok("00A4 0400 05 4E45574D46"),
        h("6F 09 84 05 4E45574D46 A5 00")
    );
    // Its new rights (F0) are free: no authentication needed to create now.
    c.power_cycle();
    c.ok("80E0 3F01 0D 38 0100 F0 F0 95 FFFF 4E45574446");
    // DF names stay unique: not the name of that DF; the MF's own name again is fine.
    c.refuse("80E0 3F00 0D 38 0000 F0 F0 95 FFFF 4E45574446", 0x6A8A);
    c.ok("80E0 3F00 0D 38 0000 F0 F0 95 FFFF 4E45574D46");
    // Only a DF layout redefines the MF, and only from the MF.
    c.refuse("80E0 3F00 07 28 0010 F0 F0 FFFF", 0x6A89);
    c.ok("00A4 0000 02 3F01");
    c.refuse("80E0 3F00 0D 38 0000 F0 F0 95 FFFF 4E45574D47", 0x6A89);
    // Once the MF has a key file: 6985.
    c.ok("00A4 0000 02 3F00");
    c.ok("80E0 0000 07 3F 0030 01 F0 FFFF");
    c.ok("80E0 0001 07 28 0010 F0 F0 FFFF");
    c.refuse("80E0 3F00 0D 38 0000 F0 F0 95 FFFF 4E45574D47", 0x6985);
}

#[test]
fn activate_file_preconditions() {
    // Pre-personalised: 6985.
    let mut c = Card::blank();
    assert_eq!(c.ext_auth(0x00, &tdes(&TRANSPORT_KEY)), 0x9000);
    c.refuse("0044 0000", 0x6985);

    let mut c = personalised();
    c.refuse("0044 0100", 0x6A86);
    c.refuse("0044 0001", 0x6A86);
    // The MF's create right (0F) is not met.
    c.refuse("0044 0000", 0x6982);
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    // Not from an application DF (the MF level still holds there).
    c.select_adf();
    c.refuse("0044 0000", 0x6985);
    c.ok("00A4 0000 02 3F00");
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.refuse("0044 0000 01 00", 0x6700);
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.ok("0044 0000");
    assert_eq!(card_lcs(&mut c), 0x05);
    // Only once.
    c.refuse("0044 0000", 0x6985);
    // With a MAC as well (optional before issue): shown on a fresh copy.
    let mut c = personalised();
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    assert_eq!(
        c.secured([0x04, 0x44, 0x00, 0x00], &[], &mf_line(), None),
        0x9000
    );
    assert_eq!(card_lcs(&mut c), 0x05);
}

#[test]
fn activate_needs_an_mf_key_file() {
    let mut c = Card::blank();
    assert_eq!(c.ext_auth(0x00, &tdes(&TRANSPORT_KEY)), 0x9000);
    c.ok("800E 0000");
    c.ok("80E0 0001 07 28 0010 F0 F0 FFFF");
    c.refuse("0044 0000", 0x6985);
}

#[test]
fn issued_card_structure_needs_secure_messaging() {
    let mut c = issued();
    assert_eq!(card_lcs(&mut c), 0x05);
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    // CREATE FILE in the MF.
    c.refuse("80E0 0002 07 28 0010 F0 F0 FFFF", 0x6982);
    assert_eq!(
        c.secured(
            [0x84, 0xE0, 0x00, 0x02],
            &h("28 0010 F0 F0 FFFF"),
            &mf_line(),
            None
        ),
        0x9000
    );
    c.ok("00A4 020C 02 0002");
    // The right is still needed on top of the MAC.
    c.power_cycle();
    let sw = c.secured(
        [0x84, 0xE0, 0x00, 0x03],
        &h("28 0010 F0 F0 FFFF"),
        &mf_line(),
        None,
    );
    assert_eq!(sw, 0x6982);
    // WRITE KEY: plain refused, encrypted + MAC accepted (MF: line key encrypts).
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    let mut rec = h("39 F0 F0 0F 33");
    rec.extend_from_slice(b"SECOND-MASTER-01");
    c.refuse(&format!("80D4 0102 15 {}", hex::encode(&rec)), 0x6982);
    assert_eq!(
        c.secured([0x84, 0xD4, 0x01, 0x02], &rec, &mf_line(), Some(&mf_line())),
        0x9000
    );
    assert_eq!(c.ext_auth(0x02, &tdes(b"SECOND-MASTER-01")), 0x9000);
    // In the application: its own line key, and its create right F0.
    c.select_adf();
    c.refuse("80E0 0005 07 28 0010 F0 F0 FFFF", 0x6982);
    let sw = c.secured(
        [0x84, 0xE0, 0x00, 0x05],
        &h("28 0010 F0 F0 FFFF"),
        &mf_line(),
        None,
    );
    assert_eq!(sw, 0x6988, "the MF's line key is not the application's");
    let sw = c.secured(
        [0x84, 0xE0, 0x00, 0x05],
        &h("28 0010 F0 F0 FFFF"),
        &adf_line(),
        None,
    );
    assert_eq!(sw, 0x9000);
    // ERASE DF: plain refused even with the MF level (0F) met.
    c.ok("00A4 0000 02 3F00");
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.select_adf();
    c.refuse("800E 0000", 0x6982);
    assert_eq!(
        c.secured([0x84, 0x0E, 0x00, 0x00], &[], &adf_line(), None),
        0x9000
    );
    c.refuse("00A4 0200 02 0015", 0x6A82);
}

#[test]
fn issued_card_enforces_rights_without_a_key_file() {
    let mut c = personalised();
    c.select_adf();
    // A DF without a key file, holding an EF nobody may read (EF = never).
    c.ok("80E0 4F07 0E 38 0040 F0 F0 95 FFFF D15600000507");
    c.ok("00A4 0000 02 4F07");
    c.ok("80E0 0001 07 28 0004 EF EF FFFF");
    // Before issue, rights are not enforced there.
    c.ok("00B0 8100 04");
    c.ok("00D6 8100 01 01");
    // Issue.
    c.ok("00A4 0000 02 3F00");
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.ok("0044 0000");
    c.ok("00A4 0800 04 3F01 4F07");
    c.refuse("00B0 8100 04", 0x6982);
    c.refuse("00D6 8100 01 01", 0x6982);
}

// ---------------------------------------------------------------- APPLICATION BLOCK / UNBLOCK

#[test]
fn application_block_refusals() {
    let mut c = in_adf();
    // In the MF there is no application to block.
    c.ok("00A4 0000 02 3F00");
    c.challenge(4);
    c.refuse("841E 0000 04 01020304", 0x6985);
    assert_eq!(
        c.secured([0x84, 0x1E, 0x00, 0x00], &[], &mf_line(), None),
        0x6985
    );
    c.select_adf();
    // Plain: the MAC is mandatory.
    c.refuse("801E 0000", 0x6982);
    c.refuse("801E 0000 04 01020304", 0x6982);
    // No challenge.
    c.refuse("841E 0000 04 01020304", 0x6984);
    // P1 / P2.
    c.challenge(4);
    c.refuse("841E 0002 04 01020304", 0x6A86);
    c.challenge(4);
    c.refuse("841E 0100 04 01020304", 0x6A86);
    // Extra data under the MAC: 6700, and the application stays active.
    let before = c.data_area();
    assert_eq!(
        c.secured([0x84, 0x1E, 0x00, 0x00], &h("00"), &adf_line(), None),
        0x6700
    );
    assert_eq!(before, c.data_area());
    assert_eq!(c.verify_pin("123456"), 0x9000);
}

#[test]
fn temporary_block_and_unblock() {
    let mut c = in_adf();
    c.refuse("84 18 0000 04 01020304", 0x6985);
    assert_eq!(app_unblock(&mut c), 0x6985, "not blocked");
    assert_eq!(app_block(&mut c, 0x00), 0x9000);
    // What a blocked application refuses: 6985, and nothing changes.
    for apdu in [
        "0020 0000 03 123456",
        "0020 0000",
        "00D6 9500 01 01",
        "00D0 9500 01 01",
        "00DC 01BC 10 00000000000000000000000000000000",
        "00E2 00C0 08 0000000000000000",
        "0088 0001 08 0000000000000000",
        "80E0 0020 07 28 0010 F0 F0 FFFF",
        "80D4 0102 15 39 F0 F0 02 33 00000000000000000000000000000000",
        "800E 0000",
        "805E 0100 06 123456 FF 1111",
        "805E 0000 06 1234 01020304",
    ] {
        c.refuse(apdu, 0x6985);
    }
    // What it still allows: reads, selection, challenge, external authentication.
    c.ok("00B0 9500 01");
    c.ok("00B2 01BC 00");
    c.ok("00A4 020C 02 0015");
    c.challenge(8);
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
    // Blocking again is allowed and keeps it blocked.
    assert_eq!(app_block(&mut c, 0x00), 0x9000);
    // The block is in NVM.
    c.power_cycle();
    c.expect(&format!("00A4 0400 09 {ADF_AID}"), 0x6283);
    c.refuse("0020 0000 03 123456", 0x6985);
    // Unblock.
    assert_eq!(app_unblock(&mut c), 0x9000);
    assert_eq!(c.verify_pin("123456"), 0x9000);
    c.power_cycle();
    c.select_adf();
    assert_eq!(c.verify_pin("123456"), 0x9000);
}

#[test]
fn unblock_refusals() {
    let mut c = in_adf();
    assert_eq!(app_block(&mut c, 0x00), 0x9000);
    c.refuse("8018 0000", 0x6982);
    c.refuse("8418 0000 04 01020304", 0x6984);
    c.challenge(4);
    c.refuse("8418 0001 04 01020304", 0x6A86);
    assert_eq!(
        c.secured([0x84, 0x18, 0x00, 0x00], &[], &mf_line(), None),
        0x6988
    );
    c.refuse("0020 0000", 0x6985);
}

#[test]
fn permanent_block() {
    let mut c = in_adf();
    assert_eq!(app_block(&mut c, 0x01), 0x9000);
    // Everything but SELECT answers 6A81, the issuer's unblock included.
    for apdu in [
        "00B0 9500 01",
        "00B2 01BC 00",
        "0084 0000 04",
        "0020 0000 03 123456",
        "8418 0000 04 01020304",
        "841E 0000 04 01020304",
        "8416 0000 04 01020304",
        "80E0 0020 07 28 0010 F0 F0 FFFF",
        "00CA 0000 00",
    ] {
        c.refuse(apdu, 0x6A81);
    }
    // Selecting an EF of it: SELECT runs, the file is in the current (terminated) DF.
    c.ok("00A4 0000 02 3F00");
    c.refuse(&format!("00A4 0400 09 {ADF_AID}"), 0x6A81);
    c.power_cycle();
    c.refuse("00A4 0000 02 3F01", 0x6A81);
    // The rest of the card works.
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
}

#[test]
fn temporary_then_permanent_block() {
    let mut c = in_adf();
    assert_eq!(app_block(&mut c, 0x00), 0x9000);
    assert_eq!(app_block(&mut c, 0x01), 0x9000);
    c.refuse("8418 0000 04 01020304", 0x6A81);
    c.ok("00A4 0000 02 3F00");
    c.refuse("00A4 0000 02 3F01", 0x6A81);
}

// ---------------------------------------------------------------- CARD BLOCK

#[test]
fn card_block_terminates_the_card() {
    let mut c = in_adf();
    c.refuse("8016 0000", 0x6982);
    c.refuse("8416 0000 04 01020304", 0x6984);
    c.challenge(4);
    c.refuse("8416 0001 04 01020304", 0x6A86);
    assert_eq!(
        c.secured([0x84, 0x16, 0x00, 0x00], &[], &mf_line(), None),
        0x6988
    );
    assert_eq!(
        c.secured([0x84, 0x16, 0x00, 0x00], &[], &adf_line(), None),
        0x9000
    );
    assert_eq!(card_lcs(&mut c), 0x0F);
    for apdu in [
        "00A4 0000 02 3F00",
        "00A4 0000",
        "00B0 9500 01",
        "0084 0000 04",
        "0020 0000 03 123456",
        "0082 0001 08 0000000000000000",
        "80E0 0020 07 28 0010 F0 F0 FFFF",
        "8418 0000 04 01020304",
        "0044 0000",
        "00CA 0000 00",
        "01A4 0000 02 3F00",
    ] {
        c.refuse(apdu, 0x6A81);
    }
    c.power_cycle();
    c.refuse("00A4 0000 02 3F00", 0x6A81);
    c.refuse(&format!("00A4 0400 09 {ADF_AID}"), 0x6A81);
}

#[test]
fn card_block_from_the_mf() {
    let mut c = personalised();
    assert_eq!(
        c.secured([0x84, 0x16, 0x00, 0x00], &[], &mf_line(), None),
        0x9000
    );
    assert_eq!(card_lcs(&mut c), 0x0F);
    c.refuse("0084 0000 04", 0x6A81);
}

// ---------------------------------------------------------------- ERASE DF

/// In the application with the MF's level F (the application's erase right is 0F).
fn erasable() -> Card {
    let mut c = personalised();
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.select_adf();
    c
}

#[test]
fn erase_df_frees_files_keys_and_space() {
    let mut c = erasable();
    // The application's 0x400 bytes are partly used: a full-size file does not fit.
    c.refuse("80E0 0030 07 28 0400 F0 F0 FFFF", 0x6A84);
    c.ok("800E 0000");
    for fid in ["0015", "0016", "0017", "0018", "0019", "001A"] {
        c.refuse(&format!("00A4 0200 02 {fid}"), 0x6A82);
    }
    c.refuse("0020 0000 03 123456", 0x6A88);
    c.refuse("00B0 9500 01", 0x6A82);
    // All of the DF's space is free again, and the old FIDs can be reused.
    c.ok("80E0 0015 07 28 0400 F0 F0 FFFF");
    assert_eq!(c.ok("00B0 9500 00").len(), 256);
    c.ok("00A4 020C 02 0015");
    assert_eq!(
        c.ok("00B0 03FF 01"),
        vec![0],
        "new files are zeroed: no old keys readable"
    );
    c.refuse("80E0 0016 07 28 0001 F0 F0 FFFF", 0x6A84);
    // The DF itself is still there.
    c.ok("00A4 0000 02 3F00");
    c.select_adf();
}

/// Create EFs `1000`, `1001`, … in the current DF until the table is full; returns how many.
fn fill_table(c: &mut Card) -> u16 {
    let mut n = 0;
    loop {
        let sw = c.sw(&format!("80E0 {:04X} 07 28 0001 F0 F0 FFFF", 0x1000 + n));
        if sw != 0x9000 {
            assert_eq!(sw, 0x6A84);
            return n;
        }
        n += 1;
    }
}

#[test]
fn erase_df_frees_nested_dfs_and_table_slots() {
    let mut c = erasable();
    c.ok("80E0 4F01 0E 38 0100 F0 F0 95 FFFF D15600000501");
    c.ok("00A4 0000 02 4F01");
    c.ok("80E0 0001 07 28 0004 F0 F0 FFFF");
    c.ok("80E0 4F02 0E 38 0040 F0 F0 95 FFFF D15600000502");
    c.ok("00A4 0300");
    // The MF's level lasts the session: the erase right 0F is still met.
    c.ok("800E 0000");
    c.refuse("00A4 0400 06 D15600000501", 0x6A82);
    c.refuse("00A4 0400 06 D15600000502", 0x6A82);
    // The slots are free again: of the 63 slots after the MF's, only the MF's key file and the
    // application itself remain in use.
    assert_eq!(fill_table(&mut c), 61);
}

/// ERASE DF is one transaction (docs/commands.md), and a transaction holds at most 498 bytes with
/// the default journal; freeing a file-table slot costs up to 39 of them. A DF with a few dozen
/// files is therefore refused with 6A84 and left as it was.
#[test]
fn erase_df_of_a_large_df_exceeds_one_transaction() {
    let mut c = erasable();
    c.ok("800E 0000");
    for n in 0..20u16 {
        c.ok(&format!("80E0 {:04X} 07 28 0001 F0 F0 FFFF", 0x1000 + n));
    }
    c.ok("800E 0000");
    let n = fill_table(&mut c);
    assert!(n > 40, "{n}");
    c.refuse("800E 0000", 0x6A84);
    c.ok("00A4 020C 02 1000");
}

#[test]
fn erase_df_refusals() {
    let mut c = in_adf();
    // The erase right 0F needs the MF's level F.
    c.refuse("800E 0000", 0x6982);
    assert_eq!(c.verify_pin("123456"), 0x9000);
    c.refuse("800E 0000", 0x6982);
    let mut c = erasable();
    c.refuse("800E 0100", 0x6A86);
    c.refuse("800E 0001", 0x6A86);
    c.refuse("800E 0000 01 00", 0x6700);
    c.ok("00A4 0200 02 0015");
}

#[test]
fn erase_the_mf_before_issue() {
    let mut c = personalised();
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.ok("800E 0000");
    c.refuse(&format!("00A4 0400 09 {ADF_AID}"), 0x6A82);
    c.refuse("0082 0000 08 0000000000000000", 0x6A88);
    // The whole card space is free for a new structure.
    c.ok(&format!("80E0 3F01 11 38 2000 F0 F0 95 FFFF {ADF_AID}"));
    c.select_adf();
}

#[test]
fn transport_code_meets_the_factory_rights() {
    let mut c = Card::blank();
    c.refuse("80E0 0001 07 28 0010 F0 F0 FFFF", 0x6982);
    c.refuse("0020 0000", 0x63CA);
    assert_eq!(c.sw("0020 0000 08 0000000000000000"), 0x63C9);
    c.ok("0020 0000 08 FFFFFFFFFFFFFFFF");
    c.refuse("0020 0000", 0x63CA);
    c.ok("80E0 0001 07 28 0010 F0 F0 FFFF");
    assert_eq!(card_lcs(&mut c), 0x03);
}

/// An application's sub-DFs belong to it: blocking the application blocks them too.
#[test]
fn blocking_an_application_covers_its_sub_dfs() {
    let mut c = in_adf();
    c.ok("80E0 4F01 0E 38 0080 F0 F0 95 FFFF D15600000501");
    c.ok("00A4 0000 02 4F01");
    c.ok("80E0 0001 07 28 0004 F0 F0 FFFF");
    c.ok("00A4 0300");
    assert_eq!(app_block(&mut c, 0x00), 0x9000);
    // Temporarily: the sub-DF is selected with the warning, reads work, writes do not.
    c.expect("00A4 0000 02 4F01", 0x6283);
    c.ok("00B0 8100 04");
    c.refuse("00D6 8100 01 01", 0x6985);
    c.refuse("80E0 0002 07 28 0004 F0 F0 FFFF", 0x6985);
    c.ok("00A4 0000 02 3F00");
    c.expect("00A4 080C 04 3F01 4F01", 0x6283);
    c.ok("00A4 0000 02 3F00");
    c.expect("00A4 080C 06 3F01 4F01 0001", 0x6283);
    c.ok("00A4 0000 02 3F00");
    c.expect("00A4 0400 06 D15600000501", 0x6283);
    // Unblocking is done at the application itself.
    c.challenge(4);
    c.refuse("8418 0000 04 01020304", 0x6985);
    c.expect(&format!("00A4 0400 09 {ADF_AID}"), 0x6283);
    assert_eq!(app_unblock(&mut c), 0x9000);
    c.ok("00A4 0000 02 4F01");
    c.ok("00D6 8100 01 01");
    // Permanently: the sub-DF cannot be reached any more, from anywhere.
    c.ok("00A4 0300");
    assert_eq!(app_block(&mut c, 0x01), 0x9000);
    c.refuse("00A4 0000 02 4F01", 0x6A81);
    c.ok("00A4 0000 02 3F00");
    c.refuse("00A4 0800 04 3F01 4F01", 0x6A81);
    c.refuse("00A4 0800 06 3F01 4F01 0001", 0x6A81);
    c.refuse("00A4 0400 06 D15600000501", 0x6A81);
}
