//! End-to-end: an FMCOS-style personalisation script on a blank card, then the issued card.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;
use common::*;

#[test]
fn blank_card_selects_mf_and_refuses_structure_without_transport_key() {
    let mut c = Card::blank();
    let fci = c.ok("00A4 0400 0E 315041592E5359532E4444463031");
    assert_eq!(fci[0], 0x6F);
    // The transport key protects the factory MF: no erase, no create.
    c.expect("800E 0000 00", 0x6982);
    c.expect("80E0 0001 07 28 0010 F0 F0 FFFF", 0x6982);
    // A wrong transport cryptogram costs a try.
    c.challenge(4);
    c.expect("0082 0000 08 0000000000000000", 0x63C2);
}

#[test]
fn personalise_then_issue() {
    let mut c = Card::blank();
    c.log = true;
    personalise(&mut c);
    // Read a freshly created EF: zero-filled.
    c.ok(&format!("00A4 0400 09 {ADF_AID}"));
    assert_eq!(c.ok("00B0 9500 00"), vec![0u8; 30]);
    // Issue: back to the MF, prove the master key, ACTIVATE FILE.
    c.ok("00A4 0000 02 3F00");
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.ok("0044 0000");
    // After issue, CREATE FILE in plain text is refused even with the right met.
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.expect("80E0 0002 07 28 0010 F0 F0 FFFF", 0x6982);
    // ... and accepted with the MF's line-protection MAC.
    let sw = c.secured(
        [0x84, 0xE0, 0x00, 0x02],
        &h("28 0010 F0 F0 FFFF"),
        &tdes(&MF_LINE_KEY),
        None,
    );
    assert_eq!(sw, 0x9000);
    // State survives a power cycle; security status does not.
    c.power_cycle();
    c.ok("00A4 0000 02 0002");
    c.expect("80E0 0003 07 28 0010 F0 F0 FFFF", 0x6982);
}
