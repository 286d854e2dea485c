//! SELECT (00 A4): every P1 and P2 the kernel accepts, the FCI/FCP/FMD answers byte for byte,
//! the error paths with their exact status words, and what a SELECT does to the security status.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used
)]

mod common;
use common::*;

const AID2: &str = "A00000000386980702";
const SUB_NAME: &str = "D15600000501";

/// Personalised card plus a second application DF 3F02 (`AID2`) under the MF and a DF 4F01
/// (`SUB_NAME`) with an EF 0021 inside the first application. MF current, nothing proved.
fn tree() -> Card {
    let mut c = personalised();
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.ok(&format!("80E0 3F02 11 38 0100 F0 F0 95 FFFF {AID2}"));
    c.select_adf();
    c.ok(&format!("80E0 4F01 0E 38 0080 F0 F0 95 FFFF {SUB_NAME}"));
    c.ok("00A4 0000 02 4F01");
    c.ok("80E0 0021 07 28 0008 F0 F0 FFFF");
    c.power_cycle();
    c
}

fn fci(name: &str) -> Vec<u8> {
    let n = h(name);
    let mut v = vec![0x6F, (n.len() + 4) as u8, 0x84, n.len() as u8];
    v.extend_from_slice(&n);
    v.extend_from_slice(&[0xA5, 0x00]);
    v
}

#[test]
fn mf_by_fid_and_without_data() {
    let mut c = personalised();
    assert_eq!(c.ok("00A4 0000 02 3F00"), fci(MF_NAME));
    assert_eq!(c.ok("00A4 0000"), fci(MF_NAME));
    // From inside an application too.
    c.select_adf();
    assert_eq!(c.ok("00A4 0000 02 3F00"), fci(MF_NAME));
    c.select_adf();
    assert_eq!(c.ok("00A4 0000"), fci(MF_NAME));
}

#[test]
fn child_df_by_p1_00_and_01() {
    let mut c = personalised();
    assert_eq!(c.ok("00A4 0000 02 3F01"), fci(ADF_AID));
    c.ok("00A4 0000 02 3F00");
    assert_eq!(c.ok("00A4 0100 02 3F01"), fci(ADF_AID));
    // P1 01 only takes DFs; P1 02 only EFs.
    c.refuse("00A4 0100 02 0015", 0x6A82);
    c.ok("00A4 0000 02 3F00");
    c.refuse("00A4 0200 02 3F01", 0x6A82);
    // An EF child by P1 00.
    c.select_adf();
    c.ok("00A4 0000 02 0015");
}

#[test]
fn ef_fcp_is_golden() {
    let mut c = in_adf();
    // transparent 0015, 30 bytes, SFI 15
    assert_eq!(
        c.ok("00A4 0200 02 0015"),
        h("62 12 8202 0121 8302 0015 8002 001E 8801 A8 8A01 05")
    );
    // P2 04 asks for the FCP explicitly: same answer.
    assert_eq!(
        c.ok("00A4 0204 02 0015"),
        h("62 12 8202 0121 8302 0015 8002 001E 8801 A8 8A01 05")
    );
    // linear fixed 3 x 16
    assert_eq!(
        c.ok("00A4 0200 02 0017"),
        h("62 15 8205 0221001003 8302 0017 8002 0030 8801 B8 8A01 05")
    );
    // cyclic 5 x 8
    assert_eq!(
        c.ok("00A4 0200 02 0018"),
        h("62 15 8205 0621000805 8302 0018 8002 0028 8801 C0 8A01 05")
    );
    // linear variable, 64 bytes
    assert_eq!(
        c.ok("00A4 0200 02 0019"),
        h("62 15 8205 0421000000 8302 0019 8002 0040 8801 C8 8A01 05")
    );
}

#[test]
fn df_fcp_fmd_and_no_answer() {
    let mut c = personalised();
    assert_eq!(
        c.ok("00A4 0004 02 3F01"),
        h(&format!("62 16 8202 3821 8302 3F01 8409 {ADF_AID} 8A01 05"))
    );
    assert_eq!(c.ok("00A4 0008 02 3F00"), h("64 00"));
    assert_eq!(c.ok("00A4 000C 02 3F01"), Vec::<u8>::new());
    assert_eq!(c.ok("00A4 020C 02 0015"), Vec::<u8>::new());
    assert_eq!(c.ok("00A4 0208 02 0017"), h("64 00"));
    assert_eq!(c.ok(&format!("00A4 040C 09 {ADF_AID}")), Vec::<u8>::new());
    assert_eq!(
        c.ok(&format!("00A4 0404 09 {ADF_AID}")),
        h(&format!("62 16 8202 3821 8302 3F01 8409 {ADF_AID} 8A01 05"))
    );
}

#[test]
fn bad_p1_p2_is_6a86_and_changes_nothing() {
    let mut c = in_adf();
    for apdu in [
        "00A4 0010 02 3F00", // P2 high nibble
        "00A4 0080 02 3F00",
        "00A4 0001 02 3F00", // occurrence other than "first" outside P1 04
        "00A4 0002 02 3F00",
        "00A4 0202 02 0015",
        "00A4 0403 09 A00000000386980701", // "previous" occurrence not supported
        "00A4 0401 09 A00000000386980701", // "last" occurrence not supported
        "00A4 0500 02 3F00",               // unknown P1
        "00A4 0A00 02 3F00",
        "00A4 FF00 02 3F00",
    ] {
        c.refuse(apdu, 0x6A86);
    }
}

#[test]
fn wrong_lengths_are_6700() {
    let mut c = in_adf();
    for apdu in [
        "00A4 0000 01 3F",
        "00A4 0000 03 3F0000",
        "00A4 0100",
        "00A4 0200 01 00",
        "00A4 0300 02 3F00",
        "00A4 0400",
        "00A4 0400 11 A0000000038698070100000000000000FF",
        "00A4 0800 03 3F0100",
        "00A4 0900",
    ] {
        c.refuse(apdu, 0x6700);
    }
}

#[test]
fn not_found_is_6a82_and_keeps_selection_and_security() {
    let mut c = in_adf();
    assert_eq!(c.verify_pin("123456"), 0x9000);
    c.ok("00A4 020C 02 0015");
    for apdu in [
        "00A4 0000 02 1234",
        "00A4 0100 02 1234",
        "00A4 0200 02 1234",
        "00A4 0400 05 A000000099",
        "00A4 0400 03 313233",
        "00A4 0800 04 3F01 1234",
        "00A4 0900 02 1234",
        "00A4 0800 04 3F02 0015",
    ] {
        c.refuse(apdu, 0x6A82);
    }
    // Still in the application, with the PIN level and the current EF: 0016 needs F1.
    c.ok("00B0 9600 10");
    assert_eq!(
        c.ok("00B0 0000 02"),
        vec![0, 0],
        "current EF 0016 after the SFI read"
    );
}

#[test]
fn parent_by_p1_03() {
    let mut c = tree();
    c.ok("00A4 0000 02 3F01");
    c.ok("00A4 0000 02 4F01");
    assert_eq!(c.ok("00A4 0300"), fci(ADF_AID));
    assert_eq!(c.ok("00A4 0300"), fci(MF_NAME));
    // The MF has no parent.
    c.refuse("00A4 0300", 0x6A82);
    c.refuse("00A4 030C", 0x6A82);
}

#[test]
fn sibling_and_parent_by_fid() {
    let mut c = tree();
    c.select_adf();
    // Sibling DF of the current DF by P1 00.
    assert_eq!(c.ok("00A4 0000 02 3F02"), fci(AID2));
    assert_eq!(c.ok("00A4 0000 02 3F01"), fci(ADF_AID));
    // Parent by its FID from a nested DF.
    c.ok("00A4 0000 02 4F01");
    assert_eq!(c.ok("00A4 0000 02 3F01"), fci(ADF_AID));
    // A sibling EF is not reachable by P1 00 (only DFs are searched among the siblings).
    c.ok("00A4 0000 02 4F01");
    c.refuse("00A4 0000 02 0015", 0x6A82);
}

#[test]
fn df_name_partial_match_and_next_occurrence() {
    let mut c = tree();
    let prefix = "A000000003869807";
    assert_eq!(c.ok(&format!("00A4 0400 08 {prefix}")), fci(ADF_AID));
    assert_eq!(c.ok(&format!("00A4 0402 08 {prefix}")), fci(AID2));
    c.refuse(&format!("00A4 0402 08 {prefix}"), 0x6A82);
    // "first" starts over.
    assert_eq!(c.ok(&format!("00A4 0400 08 {prefix}")), fci(ADF_AID));
    // Exact names and the MF's name.
    assert_eq!(c.ok(&format!("00A4 0400 09 {AID2}")), fci(AID2));
    assert_eq!(c.ok(&format!("00A4 0400 0E {MF_NAME}")), fci(MF_NAME));
    assert_eq!(c.ok(&format!("00A4 0400 06 {SUB_NAME}")), fci(SUB_NAME));
    // "next" without an earlier match behaves as "first".
    c.power_cycle();
    assert_eq!(c.ok(&format!("00A4 0402 08 {prefix}")), fci(ADF_AID));
    // A name longer than the DF's does not match it.
    c.refuse(&format!("00A4 0400 0A {ADF_AID}00"), 0x6A82);
}

#[test]
fn by_path_from_mf_and_from_current_df() {
    let mut c = tree();
    let fcp15 = h("62 12 8202 0121 8302 0015 8002 001E 8801 A8 8A01 05");
    assert_eq!(c.ok("00A4 0800 04 3F01 0015"), fcp15);
    // The EF's DF became current: SFI addressing works in it.
    c.ok("00B0 9500 01");
    // An explicit leading 3F00 is tolerated.
    c.ok("00A4 0000 02 3F00");
    assert_eq!(c.ok("00A4 0800 06 3F00 3F01 0015"), fcp15);
    // P1 08 with only 3F00 is the MF.
    assert_eq!(c.ok("00A4 0800 02 3F00"), fci(MF_NAME));
    // P1 09 from the current DF.
    c.ok("00A4 0000 02 3F00");
    assert_eq!(c.ok("00A4 0900 02 3F01"), fci(ADF_AID));
    assert_eq!(
        c.ok("00A4 0900 04 4F01 0021"),
        h("62 12 8202 0121 8302 0021 8002 0008 8801 08 8A01 05")
    );
    c.ok("00A4 0800 04 3F01 4F01");
    // Through an EF: not found.
    c.refuse("00A4 0800 06 3F01 0015 0016", 0x6A82);
}

#[test]
fn key_files_and_internal_efs_cannot_be_selected() {
    let mut c = personalised();
    // The MF's and the application's key files have FID 0000.
    c.refuse("00A4 0000 02 0000", 0x6A82);
    c.refuse("00A4 0200 02 0000", 0x6A82);
    c.select_adf();
    c.refuse("00A4 0000 02 0000", 0x6A82);
    c.refuse("00A4 0800 04 3F01 0000", 0x6A82);
    // A purse (internal EF) is only reachable by applets.
    c.ok("80E0 0030 07 2F 0208 F0 00 FF 18");
    c.refuse("00A4 0200 02 0030", 0x6A82);
    c.refuse("00A4 0000 02 0030", 0x6A82);
}

#[test]
fn df_change_resets_the_security_level() {
    let mut c = in_adf();
    c.refuse("00B0 9600 10", 0x6982);
    assert_eq!(c.verify_pin("123456"), 0x9000);
    c.ok("00B0 9600 10");
    // Selecting an EF of the same DF, or the DF itself again, keeps the level.
    c.ok("00A4 020C 02 0015");
    c.ok("00B0 9600 10");
    c.select_adf();
    c.ok("00B0 9600 10");
    // Leaving the DF clears it; coming back does not restore it.
    c.ok("00A4 0000 02 3F00");
    c.select_adf();
    c.refuse("00B0 9600 10", 0x6982);
    // P1 03 and path selection clear it too.
    assert_eq!(c.verify_pin("123456"), 0x9000);
    c.ok("00A4 0300");
    c.ok("00A4 0800 04 3F01 0016");
    c.refuse("00B0 0000 10", 0x6982);
}

#[test]
fn mf_level_lasts_the_session_across_df_changes() {
    let mut c = personalised();
    // The ADF's erase right 0F tests the MF's level (X = 0).
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.select_adf();
    // Proved in the MF, so a right 0F holds here: check it with a DF whose create right is 0F.
    c.ok("80E0 4F02 0E 38 0040 0F 0F 95 FFFF D15600000502");
    c.ok("00A4 0000 02 4F02");
    // Until its key file exists a DF enforces no rights (pre-issue); then 0F applies.
    c.ok("80E0 0000 07 3F 0018 01 F0 FFFF");
    c.ok("80E0 0001 07 28 0004 F0 F0 FFFF");
    // Going back to the MF keeps the MF level (it belongs to the session, see
    // SecurityStatus::enter_df): rights 0F still hold below.
    c.ok("00A4 0000 02 3F00");
    c.ok("00A4 0800 04 3F01 4F02");
    c.ok("80E0 0002 07 28 0004 F0 F0 FFFF");
    // Only a power cycle (or reset) clears it.
    c.power_cycle();
    c.ok("00A4 0800 04 3F01 4F02");
    c.refuse("80E0 0003 07 28 0004 F0 F0 FFFF", 0x6982);
}

#[test]
fn blocked_application_selects_with_6283_and_terminated_with_6a81() {
    let mut c = in_adf();
    assert_eq!(app_block(&mut c, 0x00), 0x9000);
    c.ok("00A4 0000 02 3F00");
    // FCI still returned, with the warning.
    assert_eq!(
        c.expect(&format!("00A4 0400 09 {ADF_AID}"), 0x6283),
        fci(ADF_AID)
    );
    assert_eq!(c.expect("00A4 0000 02 3F01", 0x6283), fci(ADF_AID));
    c.expect("00A4 000C 02 3F01", 0x6283);
    // Entering it by a path to one of its EFs warns too; moving between its EFs does not.
    c.ok("00A4 0000 02 3F00");
    c.expect("00A4 080C 04 3F01 0015", 0x6283);
    c.ok("00A4 020C 02 0017");
    c.ok("00B2 0104 00");
    // Permanently blocked: not selectable at all.
    assert_eq!(app_block(&mut c, 0x01), 0x9000);
    c.ok("00A4 0000 02 3F00");
    c.refuse(&format!("00A4 0400 09 {ADF_AID}"), 0x6A81);
    c.refuse("00A4 0000 02 3F01", 0x6A81);
    c.refuse("00A4 0800 04 3F01 0015", 0x6A81);
    // The MF is still current after the refused selections.
    assert_eq!(c.ok("00A4 0000"), fci(MF_NAME));
    c.power_cycle();
    c.refuse("00A4 0100 02 3F01", 0x6A81);
}

#[test]
fn select_ef_in_the_mf() {
    let mut c = personalised();
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.ok("80E0 0005 07 28 0004 F0 F0 FFFF");
    c.ok("00A4 0000 02 3F00");
    assert_eq!(
        c.ok("00A4 0200 02 0005"),
        h("62 12 8202 0121 8302 0005 8002 0004 8801 28 8A01 05")
    );
    c.ok("00A4 0000 02 0005");
    c.ok("00A4 0800 02 0005");
    assert_eq!(c.ok("00B0 0000 04"), vec![0; 4]);
    // From inside the application the MF's EF is not a child, a parent or a sibling DF.
    c.select_adf();
    c.refuse("00A4 0000 02 0005", 0x6A82);
    c.refuse("00A4 0200 02 0005", 0x6A82);
    // But a path reaches it.
    c.ok("00A4 0800 02 0005");
}
