//! The attack suite (issue 10, `docs/reliability.md`): each test is one attack a rogue terminal,
//! a stolen card or a man in the middle could try, with the status word the card must answer and
//! the check that nothing it protects changed (`cos_sim::snapshot`, try counters apart where the
//! attack legitimately spends a try).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use cos_core::nvm::{Store, TearMode};
use cos_sim::card::{SimCard, SimNvm};
use cos_sim::snapshot::Snapshot;
use support::*;

/// A funded card (see `support::funded_image`) with a fixed random source.
fn funded() -> SimCard {
    card(funded_image(), 21)
}

/// Assert the card's state is unchanged (try counters aside).
fn unchanged(before: &Snapshot, c: &SimCard) {
    let now = snapshot(c);
    assert!(
        before.same_except_tries(&now),
        "the card changed: {:?}",
        before.diff(&now)
    );
}

/// Assert nothing at all changed, try counters included.
fn identical(before: &Snapshot, c: &SimCard) {
    let now = snapshot(c);
    assert!(*before == now, "the card changed: {:?}", before.diff(&now));
}

fn balance(h: &Host, c: &mut SimCard, p2: u8) -> u32 {
    let d = h.ok(c, &apdu(0x80, 0x5C, 0x00, p2, &[], Some(4)));
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// CREDIT FOR LOAD data with a wrong MAC2.
fn bad_mac2(h: &Host, init: &Init, amount: u32) -> Vec<u8> {
    let mut d = h.credit_data(EPURSE, init, amount, 0x02);
    d[7] ^= 0x5A;
    d
}

fn credit(d: &[u8]) -> Vec<u8> {
    apdu(0x80, 0x52, 0x00, 0x00, d, Some(4))
}

fn debit(d: &[u8]) -> Vec<u8> {
    apdu(0x80, 0x54, 0x01, 0x00, d, Some(8))
}

// ---- MAC1 / MAC2: replay, reuse, wrong keys, brute force -----------------------------------------

#[test]
fn mac2_replayed_from_an_earlier_load_9302() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let init = h.initialize(&mut c, 0x00, 0x02, 500).unwrap();
    let recorded = credit(&h.credit_data(EPURSE, &init, 500, 0x02));
    h.ok(&mut c, &recorded);
    let before = snapshot(&c);
    // A new load of the same amount: the old MAC2 belongs to another random and ATC.
    h.initialize(&mut c, 0x00, 0x02, 500).unwrap();
    assert_eq!(h.sw(&mut c, &recorded), 0x9302);
    unchanged(&before, &c);
    assert_eq!(balance(&h, &mut c, 0x02), 10_500);
}

#[test]
fn completion_replayed_after_it_succeeded_9406() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let init = h.initialize(&mut c, 0x00, 0x02, 500).unwrap();
    let recorded = credit(&h.credit_data(EPURSE, &init, 500, 0x02));
    h.ok(&mut c, &recorded);
    let before = snapshot(&c);
    assert_eq!(h.sw(&mut c, &recorded), 0x9406);
    identical(&before, &c);
}

#[test]
fn mac1_reused_in_another_purchase_9302() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let init = h.initialize(&mut c, 0x01, 0x02, 300).unwrap();
    let recorded = debit(&h.debit_data(EPURSE, &init, 300, 0x06));
    h.ok(&mut c, &recorded);
    let before = snapshot(&c);
    h.initialize(&mut c, 0x01, 0x02, 300).unwrap();
    assert_eq!(h.sw(&mut c, &recorded), 0x9302);
    unchanged(&before, &c);
    assert_eq!(balance(&h, &mut c, 0x02), 9_700);
}

#[test]
fn mac1_for_a_smaller_amount_9302() {
    // The terminal MACs 1.00 but the card was initialised for 100.00: the MAC binds the amount.
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let before = snapshot(&c);
    let init = h.initialize(&mut c, 0x01, 0x02, 10_000).unwrap();
    let d = h.debit_data(EPURSE, &init, 100, 0x06);
    assert_eq!(h.sw(&mut c, &debit(&d)), 0x9302);
    identical(&before, &c);
}

#[test]
fn unknown_key_index_9403() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let before = snapshot(&c);
    let a = hx("80500002 0B 02 000001F4 112233445566 10");
    assert_eq!(h.sw(&mut c, &a), 0x9403);
    identical(&before, &c);
}

#[test]
fn mac_under_a_key_of_another_version_9302() {
    // A terminal holding another issuer's load key (same index, other value) cannot load.
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let before = snapshot(&c);
    let init = h.initialize(&mut c, 0x00, 0x02, 500).unwrap();
    let wrong = Keys {
        load: "ep_unload",
        ..EPURSE
    };
    let d = h.credit_data(wrong, &init, 500, 0x02);
    assert_eq!(h.sw(&mut c, &credit(&d)), 0x9302);
    unchanged(&before, &c);
}

/// The default profile leaves the load key unlimited (a keyless reader must not lock a purse,
/// `docs/reliability.md`); an issuer who wants the PBOC lock writes the key with a try counter, and
/// then guessing MAC2s locks the application.
#[test]
fn mac_brute_force_hits_the_try_counter_and_locks_9303() {
    let h = Host::new();
    let image = issued_image_with(|p| {
        p.replacen(
            "master = \"ep_load\"\nversion = 1\ntries = \"00\"",
            "master = \"ep_load\"\nversion = 1\ntries = \"33\"",
            1,
        )
    });
    let mut c = card(&image, 21);
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let before = snapshot(&c);
    for want in [0x9302, 0x9302, 0x9303] {
        let init = h.initialize(&mut c, 0x00, 0x02, 500).unwrap();
        assert_eq!(h.sw(&mut c, &credit(&bad_mac2(&h, &init, 500))), want);
    }
    // Locked: every purse command 9303, SELECT 6283, reads still work, money untouched.
    assert_eq!(
        h.sw(&mut c, &apdu(0x80, 0x5C, 0x00, 0x02, &[], Some(4))),
        0x9303
    );
    assert_eq!(
        h.sw(&mut c, &hx("80500102 0B 01 00000001 112233445566 0F")),
        0x9303
    );
    assert_eq!(
        h.sw(&mut c, &apdu(0x00, 0xA4, 0x04, 0x0C, &hx(PURSE_AID), None)),
        0x6283
    );
    assert_eq!(h.sw(&mut c, &hx("00B0950000")), 0x9000);
    let now = snapshot(&c);
    for (i, f) in &before.files {
        if f.kind() != 0x38 && f.kind() != 0x3F {
            assert_eq!(f.body, now.files[i].body, "file {:04X}", f.fid());
        }
    }
    // The issuer unblocks; the still-blocked key locks again on its next use until rewritten.
    let (_, sw) = h
        .secured(
            &mut c,
            "ep_maintenance",
            [0x84, 0x18, 0x00, 0x00],
            &[],
            None,
        )
        .unwrap();
    assert_eq!(sw, 0x9000);
    assert_eq!(
        h.sw(&mut c, &hx("80500002 0B 01 000001F4 112233445566 10")),
        0x9303
    );
}

// ---- PIN ---------------------------------------------------------------------------------------

#[test]
fn pin_guessing_blocks_after_three_tries_6983() {
    let h = Host::new();
    let mut c = funded();
    h.select_ddf(&mut c).unwrap();
    for want in [0x63C2, 0x63C1, 0x63C0] {
        assert_eq!(h.sw(&mut c, &h.verify_apdu("000000")), want);
    }
    assert_eq!(h.sw(&mut c, &h.verify_apdu("123456")), 0x6983);
    assert_eq!(h.sw(&mut c, &hx("00200000")), 0x6983);
    // Power cycles do not bring tries back.
    c.power_off();
    c.power_on().unwrap();
    h.select_ddf(&mut c).unwrap();
    assert_eq!(h.sw(&mut c, &h.verify_apdu("123456")), 0x6983);
}

/// The tearing attack on VERIFY: the attacker cuts the power as soon as the comparison might have
/// run, hoping the decrement never reaches the NVM. The try is committed *before* the comparison,
/// so a cut at any program either comes before the comparison (no information) or leaves the try
/// spent; an attacker cutting after every guess is blocked after three guesses all the same.
#[test]
fn tear_during_verify_never_refunds_a_try() {
    let h = Host::new();
    let mut c = funded();
    h.select_ddf(&mut c).unwrap();
    let p0 = c.programs();
    assert_eq!(h.sw(&mut c, &h.verify_apdu("000000")), 0x63C2);
    let n = c.programs() - p0;
    assert!(n >= 1);
    // Cut at every program of a wrong VERIFY, in every mode.
    let mut spent_from = None;
    for k in 0..n {
        for mode in [
            TearMode::Skip,
            TearMode::Complete,
            TearMode::Partial { seed: k },
        ] {
            let mut c = funded();
            h.select_ddf(&mut c).unwrap();
            c.arm_tear(k, mode);
            assert!(c.transmit(&h.verify_apdu("000000")).is_empty(), "cut");
            c.power_on().unwrap();
            h.select_ddf(&mut c).unwrap();
            let left = h.sw(&mut c, &hx("00200000"));
            assert!(
                left == 0x63C3 || left == 0x63C2,
                "k={k} {mode:?}: {left:04X}"
            );
            if left == 0x63C2 && spent_from.is_none() {
                spent_from = Some(k);
            }
            if let Some(s) = spent_from {
                if k > s {
                    assert_eq!(left, 0x63C2, "k={k} {mode:?}: a spent try came back");
                }
            }
        }
    }
    // The attack: guess, cut at the last program (after the comparison), repeat until the card
    // refuses: it takes exactly three guesses, as without cuts.
    let mut c = funded();
    let mut guesses = 0;
    loop {
        h.select_ddf(&mut c).unwrap();
        c.arm_tear(n - 1, TearMode::Complete);
        let r = c.transmit(&h.verify_apdu(&format!("00000{guesses}")));
        if !r.is_empty() {
            assert_eq!(sw_of(&r), Some(0x6983), "blocked");
            break;
        }
        guesses += 1;
        c.power_on().unwrap();
        assert!(guesses <= 3, "a fourth guess got to the comparison");
    }
    assert_eq!(guesses, 3);
    c.disarm_tear();
    assert_eq!(h.sw(&mut c, &h.verify_apdu("123456")), 0x6983);
}

#[test]
fn pin_reload_without_the_agency_6982() {
    let h = Host::new();
    let mut c = funded();
    h.select_ddf(&mut c).unwrap();
    let before = snapshot(&c);
    let new = hx("654321");
    let mut d = new.clone();
    d.extend_from_slice(&h.key("si_pin_reload").mac4(&[0; 8], &new));
    assert_eq!(
        h.sw(&mut c, &apdu(0x80, 0x5E, 0x00, 0x00, &d, None)),
        0x6982
    );
    identical(&before, &c);
}

#[test]
fn change_pin_with_a_wrong_old_pin_63c2() {
    let h = Host::new();
    let mut c = funded();
    h.select_ddf(&mut c).unwrap();
    let before = snapshot(&c);
    assert_eq!(h.sw(&mut c, &hx("805E0100 07 000000FF654321")), 0x63C2);
    unchanged(&before, &c);
    assert_eq!(h.sw(&mut c, &h.verify_apdu("123456")), 0x9000);
}

// ---- amounts and counters ----------------------------------------------------------------------

#[test]
fn balance_overflow_by_a_huge_load_9401() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let before = snapshot(&c);
    for amount in ["FFFFFFFF", "7FFFFFFF", "00989681"] {
        let a = hx(&format!("80500002 0B 01 {amount} 112233445566 10"));
        assert_eq!(h.sw(&mut c, &a), 0x9401, "{amount}");
    }
    identical(&before, &c);
}

#[test]
fn negative_amount_as_a_huge_purchase_9401() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let before = snapshot(&c);
    assert_eq!(
        h.sw(&mut c, &hx("80500102 0B 01 FFFFFFFF 112233445566 0F")),
        0x9401
    );
    assert_eq!(
        h.sw(&mut c, &hx("80500102 0B 01 80000000 112233445566 0F")),
        0x9401
    );
    identical(&before, &c);
}

#[test]
fn zero_amount_purchase_and_load_move_no_money() {
    // JR/T 0025 does not forbid amount 0 (a transit tap-in is a 0.00 CAPP purchase): the card
    // runs the transaction, spends a counter and logs 0.00, and no money moves either way.
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    h.load(&mut c, EPURSE, 0x02, 0).unwrap();
    h.purchase(&mut c, EPURSE, 0x01, 0x02, 0x06, 0, &[])
        .unwrap();
    assert_eq!(balance(&h, &mut c, 0x02), 10_000);
    let newest = h.ok(&mut c, &hx("00B201C400"));
    assert_eq!(&newest[5..9], &[0, 0, 0, 0], "amount 0.00 in the log");
}

/// Set the purse EF's bytes `at..` to `bytes`, for each patch, by hand (a card at the end of its
/// counters), after one more transaction so that recovery does not replay the page back.
fn with_purse_bytes(c: &mut SimCard, patches: &[(usize, &[u8])]) -> SimCard {
    let h = Host::new();
    let s = snapshot(c);
    h.select_ddf(c).unwrap();
    assert_eq!(h.sw(c, &h.verify_apdu("000000")), 0x63C2);
    let mut image = c.image().bytes;
    let data_start = Store::mount(SimNvm::from_bytes(&image))
        .ok()
        .unwrap()
        .data_start();
    // The EP's state: the second 24-byte internal EF of the e-purse ADF (FID 0002).
    let purse_df = s
        .files
        .iter()
        .find(|(_, f)| f.kind() == 0x38 && f.slot[16..25] == hx(PURSE_AID)[..])
        .map(|(i, _)| *i)
        .unwrap();
    let ep = s
        .files
        .values()
        .find(|f| f.kind() == 0x2F && f.parent() == purse_df && f.fid() == 0x0002)
        .unwrap();
    let body = data_start + usize::from(u16::from_be_bytes([ep.slot[10], ep.slot[11]]));
    for (at, bytes) in patches {
        image[body + at..body + at + bytes.len()].copy_from_slice(bytes);
    }
    card(&image, 21)
}

#[test]
fn atc_at_its_limit_refuses_the_next_transaction_9402() {
    let h = Host::new();
    use e_purse::state::{OFFLINE_ATC_AT, ONLINE_ATC_AT};
    let mut c = with_purse_bytes(
        &mut funded(),
        &[
            (ONLINE_ATC_AT, &[0xFF, 0xFF]),
            (OFFLINE_ATC_AT, &[0xFF, 0xFF]),
        ],
    );
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let before = snapshot(&c);
    assert_eq!(
        h.sw(&mut c, &hx("80500002 0B 01 00000064 112233445566 10")),
        0x9402
    );
    assert_eq!(
        h.sw(&mut c, &hx("80500102 0B 01 00000064 112233445566 0F")),
        0x9402
    );
    identical(&before, &c);
}

#[test]
fn load_up_to_the_maximum_balance_and_not_a_fen_more_9401() {
    let h = Host::new();
    // 99 999.99 yuan in the EP: 1 fen fits, 2 do not (maximum 100 000.00).
    let at = e_purse::state::BALANCE_AT;
    let mut c = with_purse_bytes(&mut funded(), &[(at, &9_999_999u32.to_be_bytes())]);
    h.select_aid(&mut c, PURSE_AID).unwrap();
    assert_eq!(
        h.sw(&mut c, &hx("80500002 0B 01 00000002 112233445566 10")),
        0x9401
    );
    h.load(&mut c, EPURSE, 0x02, 1).unwrap();
    assert_eq!(balance(&h, &mut c, 0x02), 10_000_000);
}

#[test]
fn unload_above_own_funds_and_overdraw_below_zero_9401() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    h.ok(&mut c, &h.verify_apdu("123456"));
    let before = snapshot(&c);
    assert_eq!(
        h.sw(&mut c, &hx("80500501 0B 01 00002711 112233445566 10")),
        0x9401
    );
    unchanged(&before, &c);
    // Use credit: limit 50.00, spend 120.00 (own funds −20.00), then try to lower the limit to 0.
    h.overdraw(&mut c, 5_000).unwrap();
    h.purchase(&mut c, EPURSE, 0x01, 0x01, 0x05, 12_000, &[])
        .unwrap();
    let e = h.overdraw(&mut c, 0).unwrap_err();
    assert!(e.contains("9401"), "{e}");
}

#[test]
fn cash_withdrawal_from_the_wallet_6a86() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let before = snapshot(&c);
    assert_eq!(
        h.sw(&mut c, &hx("80500202 0B 01 00000064 112233445566 0F")),
        0x6A86
    );
    identical(&before, &c);
}

// ---- transaction sequencing --------------------------------------------------------------------

#[test]
fn debit_without_initialize_9406() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let before = snapshot(&c);
    assert_eq!(
        h.sw(&mut c, &debit(&hx("00000001 20260316 120000 01020304"))),
        0x9406
    );
    identical(&before, &c);
}

#[test]
fn another_command_between_initialize_and_debit_9406() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let before = snapshot(&c);
    let init = h.initialize(&mut c, 0x01, 0x02, 300).unwrap();
    let d = h.debit_data(EPURSE, &init, 300, 0x06);
    h.ok(&mut c, &apdu(0x80, 0x5C, 0x00, 0x02, &[], Some(4)));
    assert_eq!(h.sw(&mut c, &debit(&d)), 0x9406);
    // Nor after a re-selection or a reset.
    let init = h.initialize(&mut c, 0x01, 0x02, 300).unwrap();
    let d = h.debit_data(EPURSE, &init, 300, 0x06);
    h.select_aid(&mut c, PURSE_AID).unwrap();
    assert_eq!(h.sw(&mut c, &debit(&d)), 0x9406);
    let init = h.initialize(&mut c, 0x01, 0x02, 300).unwrap();
    let d = h.debit_data(EPURSE, &init, 300, 0x06);
    c.reset().unwrap();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    assert_eq!(h.sw(&mut c, &debit(&d)), 0x9406);
    identical(&before, &c);
}

#[test]
fn completion_of_another_transaction_type_6985() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let before = snapshot(&c);
    let init = h.initialize(&mut c, 0x01, 0x02, 300).unwrap();
    // A CREDIT FOR LOAD straight after an INITIALIZE FOR PURCHASE.
    let d = h.credit_data(EPURSE, &init, 300, 0x02);
    assert_eq!(h.sw(&mut c, &credit(&d)), 0x6985);
    identical(&before, &c);
}

#[test]
fn capp_debit_without_a_cached_record_6985() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, TRANSIT_AID).unwrap();
    let before = snapshot(&c);
    let init = h.initialize(&mut c, 0x03, 0x02, 200).unwrap();
    let d = h.debit_data(TRANSIT, &init, 200, 0x09);
    assert_eq!(h.sw(&mut c, &debit(&d)), 0x6985);
    identical(&before, &c);
}

#[test]
fn capp_record_locked_by_the_operator_stays_locked_6985() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, TRANSIT_AID).unwrap();
    // The operator blacklists the card: a CAPP purchase that sets the lock flag.
    let mut locked = composite(1, 0x06, 1, 0);
    locked[2] = 0x01;
    h.purchase(&mut c, TRANSIT, 0x03, 0x02, 0x09, 0, &[cache(&locked)])
        .unwrap();
    let before = snapshot(&c);
    h.initialize(&mut c, 0x03, 0x02, 0).unwrap();
    let open = composite(1, 0x03, 2, 1);
    assert_eq!(h.sw(&mut c, &cache(&open)), 0x6985);
    // The kernel's UPDATE RECORD cannot bypass the lock either (write right EF: never).
    assert_eq!(
        h.sw(&mut c, &apdu(0x00, 0xDC, 0x01, 0xD4, &open, None)),
        0x6982
    );
    identical(&before, &c);
}

#[test]
fn capp_cache_changing_the_tag_6a80() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, TRANSIT_AID).unwrap();
    let before = snapshot(&c);
    h.initialize(&mut c, 0x03, 0x02, 0).unwrap();
    // Record 1 (the metro record) rewritten with the bus tag.
    let r = composite(2, 0x03, 1, 1);
    assert_eq!(
        h.sw(&mut c, &apdu(0x80, 0xDC, 0x01, 0xD4, &r, None)),
        0x6A80
    );
    identical(&before, &c);
}

// ---- secure messaging --------------------------------------------------------------------------

#[test]
fn sm_stripping_plain_write_to_a_mac_file_6982() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, LIBRARY_AID).unwrap();
    h.auth(&mut c, 0x01, "lib_admin").unwrap();
    let before = snapshot(&c);
    // The administration is authenticated, but the patron file needs a MAC.
    assert_eq!(h.sw(&mut c, &hx("00D6911B 01 01")), 0x6982);
    identical(&before, &c);
}

#[test]
fn mac_over_a_different_header_6988() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, LIBRARY_AID).unwrap();
    h.auth(&mut c, 0x01, "lib_admin").unwrap();
    let before = snapshot(&c);
    let ch = h.challenge(&mut c).unwrap();
    // MAC'd for offset 1A, sent for offset 1B (the status byte).
    let mut a = h.mac_apdu("lib_line", &ch, [0x04, 0xD6, 0x91, 0x1A], &[0x01], None);
    a[3] = 0x1B;
    assert_eq!(h.sw(&mut c, &a), 0x6988);
    // MAC'd as UPDATE BINARY, sent as WRITE BINARY.
    let ch = h.challenge(&mut c).unwrap();
    let mut a = h.mac_apdu("lib_line", &ch, [0x04, 0xD6, 0x91, 0x1B], &[0x01], None);
    a[1] = 0xD0;
    assert_eq!(h.sw(&mut c, &a), 0x6988);
    unchanged(&before, &c);
}

#[test]
fn sm_command_replayed_6984() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, LIBRARY_AID).unwrap();
    h.auth(&mut c, 0x01, "lib_admin").unwrap();
    let ch = h.challenge(&mut c).unwrap();
    let a = h.mac_apdu("lib_line", &ch, [0x04, 0xD6, 0x91, 0x1B], &[0x01], None);
    h.ok(&mut c, &a);
    let before = snapshot(&c);
    assert_eq!(h.sw(&mut c, &a), 0x6984, "no challenge");
    h.challenge(&mut c).unwrap();
    assert_eq!(h.sw(&mut c, &a), 0x6988, "another challenge");
    unchanged(&before, &c);
}

#[test]
fn secure_messaging_with_extended_length_6988() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, LIBRARY_AID).unwrap();
    h.auth(&mut c, 0x01, "lib_admin").unwrap();
    let before = snapshot(&c);
    let ch = h.challenge(&mut c).unwrap();
    let short = h.mac_apdu("lib_line", &ch, [0x04, 0xD6, 0x91, 0x1B], &[0x01], None);
    // The same command (header, data, MAC) with an extended Lc.
    let mut ext = short[..4].to_vec();
    ext.extend_from_slice(&[0x00, 0x00, 0x05]);
    ext.extend_from_slice(&short[5..]);
    assert_eq!(h.sw(&mut c, &ext), 0x6988);
    unchanged(&before, &c);
}

// ---- files across applications ------------------------------------------------------------------

#[test]
fn pin_of_one_application_opens_nothing_in_another_6982() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    h.ok(&mut c, &h.verify_apdu("123456"));
    // The library's loans need its own PIN or terminal; the medical DF a hospital.
    h.select_aid(&mut c, LIBRARY_AID).unwrap();
    assert_eq!(h.sw(&mut c, &hx("00B2019400")), 0x6982);
    h.select_ddf(&mut c).unwrap();
    h.ok(&mut c, &h.verify_apdu("123456"));
    h.select_aid(&mut c, MEDICAL_AID).unwrap();
    assert_eq!(h.sw(&mut c, &hx("00B2012C00")), 0x6982);
    assert_eq!(h.sw(&mut c, &hx("00CA003000")), 0x6982);
    // The ED balance needs the e-purse's PIN in the e-purse, not the DDF's.
    h.select_aid(&mut c, PURSE_AID).unwrap();
    assert_eq!(h.sw(&mut c, &hx("805C000104")), 0x6982);
}

#[test]
fn another_applications_files_are_not_found_by_sfi_6a82() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, LIBRARY_AID).unwrap();
    // SFI 15 (the e-purse's issuer file) and 18 (its log) are not library files.
    assert_eq!(h.sw(&mut c, &hx("00B0950000")), 0x6A82);
    assert_eq!(h.sw(&mut c, &hx("00B201C400")), 0x6A82);
}

#[test]
fn key_files_and_purse_files_are_unreadable() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    // The EP's internal EF (FID 0002, SFI 2) and the key file: not selectable, not readable.
    assert_eq!(h.sw(&mut c, &hx("00A4020C020002")), 0x6A82);
    assert_eq!(h.sw(&mut c, &hx("00B0820000")), 0x6981);
    assert_eq!(h.sw(&mut c, &hx("00A4020C020000")), 0x6A82);
    let before = snapshot(&c);
    assert_eq!(h.sw(&mut c, &hx("00D68200 04 7FFFFFFF")), 0x6981);
    identical(&before, &c);
}

#[test]
fn the_receipt_key_cannot_sign_for_a_terminal_6982() {
    let h = Host::new();
    let mut c = funded();
    h.medical_open(&mut c).unwrap();
    // INTERNAL AUTHENTICATE P1 02 (a MAC with a zero IV, like a receipt) with key 01: refused.
    assert_eq!(h.sw(&mut c, &hx("00880201 08 0102030405060708 04")), 0x6982);
}

// ---- structure after issue ---------------------------------------------------------------------

#[test]
fn create_file_after_issue_without_the_issuer_6982() {
    let h = Host::new();
    let mut c = funded();
    h.select_mf(&mut c).unwrap();
    let before = snapshot(&c);
    // Plain: SM is mandatory after issue.
    assert_eq!(h.sw(&mut c, &hx("80E00E01 07 28 0020 F0F0 FFFF")), 0x6982);
    // MAC'd, but the MF's create right (card master key) was never proved.
    let (_, sw) = h
        .secured(
            &mut c,
            "card_maintenance",
            [0x84, 0xE0, 0x0E, 0x01],
            &hx("28 0020 F0F0 FFFF"),
            None,
        )
        .unwrap();
    assert_eq!(sw, 0x6982);
    // Authenticated, but MAC'd with a guessed key.
    h.auth(&mut c, 0x00, "card_master").unwrap();
    let (_, sw) = h
        .secured(
            &mut c,
            "si_update",
            [0x84, 0xE0, 0x0E, 0x01],
            &hx("28 0020 F0F0 FFFF"),
            None,
        )
        .unwrap();
    assert_eq!(sw, 0x6988);
    unchanged(&before, &c);
}

#[test]
fn erase_df_after_issue_without_the_issuer_6982() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, LIBRARY_AID).unwrap();
    let before = snapshot(&c);
    assert_eq!(h.sw(&mut c, &hx("800E0000")), 0x6982);
    let (_, sw) = h
        .secured(&mut c, "lib_line", [0x84, 0x0E, 0x00, 0x00], &[], None)
        .unwrap();
    assert_eq!(sw, 0x6982, "the erase right (card master) is not met");
    unchanged(&before, &c);
}

#[test]
fn write_key_after_issue_plain_6982() {
    let h = Host::new();
    let mut c = funded();
    h.select_ddf(&mut c).unwrap();
    h.auth(&mut c, 0x00, "si_master").unwrap();
    let before = snapshot(&c);
    let mut d = hx("39 F0 33 04 33");
    d.extend_from_slice(&[0x5A; 16]);
    assert_eq!(
        h.sw(&mut c, &apdu(0x80, 0xD4, 0x39, 0x02, &d, None)),
        0x6982
    );
    unchanged(&before, &c);
}

#[test]
fn application_block_and_card_block_need_the_issuer_mac() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let before = snapshot(&c);
    assert_eq!(
        h.sw(&mut c, &hx("801E0000")),
        0x6982,
        "plain CLA (SM stripped)"
    );
    assert_eq!(
        h.sw(&mut c, &hx("841E0000")),
        0x6984,
        "SM CLA, no challenge"
    );
    let (_, sw) = h
        .secured(&mut c, "si_update", [0x84, 0x1E, 0x00, 0x01], &[], None)
        .unwrap();
    assert_eq!(sw, 0x6988, "MAC under a foreign key");
    assert_eq!(
        h.sw(&mut c, &hx("84160000 04 00000000")),
        0x6984,
        "no challenge"
    );
    identical(&before, &c);
}

// ---- length and parameter edges ----------------------------------------------------------------

#[test]
fn chained_command_longer_than_512_bytes_6700() {
    let h = Host::new();
    let mut c = funded();
    h.select_mf(&mut c).unwrap();
    let chunk = vec![0u8; 255];
    assert_eq!(
        h.sw(&mut c, &apdu(0x10, 0xD6, 0x00, 0x00, &chunk, None)),
        0x9000
    );
    assert_eq!(
        h.sw(&mut c, &apdu(0x10, 0xD6, 0x00, 0x00, &chunk, None)),
        0x9000
    );
    assert_eq!(
        h.sw(&mut c, &apdu(0x00, 0xD6, 0x00, 0x00, &chunk, None)),
        0x6700
    );
}

#[test]
fn inconsistent_lc_and_truncated_apdus_6700() {
    let h = Host::new();
    let mut c = funded();
    for a in [
        "00A4",                     // shorter than a header
        "00A4040C 05 A000",         // Lc 5, 2 bytes
        "00A4040C 02 A00000000386", // Lc 2, 6 bytes (and no valid Le)
        "00B00000 00 0000 00",      // extended Le with a trailing byte
        "00D60000 000000 01",       // extended Lc 0
    ] {
        assert_eq!(sw_of(&c.transmit(&hx(a))), Some(0x6700), "{a}");
    }
    // The card answers normally afterwards.
    h.select_mf(&mut c).unwrap();
}

#[test]
fn extended_length_read_of_a_large_file() {
    // The 1 KiB photo file with extended Le 0000 (65536): the card answers what fits its
    // response buffer in one go and the rest through GET RESPONSE, never more than asked.
    let h = Host::new();
    let mut c = funded();
    h.select_ddf(&mut c).unwrap();
    h.ok(&mut c, &h.verify_apdu("123456"));
    let r = c.transmit(&hx("00B08800 000000"));
    let sw = sw_of(&r).unwrap();
    assert!(sw == 0x9000 || sw >> 8 == 0x61, "{sw:04X}");
    assert!(r.len() - 2 <= 1024);
    let (all, sw) = c.exchange(&hx("00B08800 000000")).unwrap();
    assert_eq!(sw, 0x9000);
    assert!(all.len() >= 256, "{}", all.len());
    // Short Le 00 = 256.
    let (d, sw) = c.exchange(&hx("00B0880000")).unwrap();
    assert_eq!((d.len(), sw), (256, 0x9000));
}

#[test]
fn le_longer_than_the_rest_of_the_file_6282() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let r = c.transmit(&hx("00B0951A 10"));
    assert_eq!(r.len(), 4 + 2, "the 4 bytes that exist");
    assert_eq!(sw_of(&r), Some(0x6282));
    assert_eq!(sw_of(&c.transmit(&hx("00B0951E 01"))), Some(0x6B00));
}

#[test]
fn record_numbers_0_and_255_6a83() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    // P1 = 0: the current record, and there is none yet.
    assert_eq!(h.sw(&mut c, &hx("00B200C400")), 0x6A83);
    assert_eq!(h.sw(&mut c, &hx("00B2FFC400")), 0x6A83);
    // The log has records 1..=2 (two loads): 3 is past the last.
    assert_eq!(h.sw(&mut c, &hx("00B203C400")), 0x6A83);
    let before = snapshot(&c);
    assert_eq!(
        h.sw(&mut c, &apdu(0x00, 0xDC, 0xFF, 0xC4, &[0; 23], None)),
        0x6982
    );
    identical(&before, &c);
}

#[test]
fn sfi_out_of_range_6a86() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    assert_eq!(
        h.sw(&mut c, &hx("00B09F0000")),
        0x6A86,
        "READ BINARY SFI 31"
    );
    assert_eq!(h.sw(&mut c, &hx("00B0800000")), 0x6A86, "READ BINARY SFI 0");
    assert_eq!(h.sw(&mut c, &hx("00B0C00000")), 0x6A86, "P1 b7 set");
    assert_eq!(
        h.sw(&mut c, &hx("00B201FC00")),
        0x6A86,
        "READ RECORD SFI 31"
    );
    assert_eq!(
        h.sw(&mut c, &hx("00B201C700")),
        0x6A86,
        "READ RECORD mode 111"
    );
}

#[test]
fn logical_channels_and_stray_get_response() {
    let h = Host::new();
    let mut c = funded();
    assert_eq!(h.sw(&mut c, &hx("01A4000C023F00")), 0x6881);
    assert_eq!(sw_of(&c.transmit(&hx("00C0000010"))), Some(0x6985));
    assert_eq!(sw_of(&c.transmit(&hx("FFA4000C023F00"))), Some(0x6E00));
    assert_eq!(sw_of(&c.transmit(&hx("0060000000"))), Some(0x6D00));
}

// ---- replayed application commands -------------------------------------------------------------

#[test]
fn library_loan_command_replayed_6984_then_6988() {
    let h = Host::new();
    let mut c = funded();
    h.library_open(&mut c).unwrap();
    let ch = h.challenge(&mut c).unwrap();
    let borrow = h.mac_apdu(
        "lib_line",
        &ch,
        [0x84, 0x32, 0x00, 0x00],
        &h.loan_request("LIB-0009", "20260316"),
        Some(0),
    );
    h.ok(&mut c, &borrow);
    // Give it back, then replay the recorded BORROW.
    let (_, sw) = h.loan(&mut c, 0x34, "LIB-0009", "20260316").unwrap();
    assert_eq!(sw, 0x9000);
    let before = snapshot(&c);
    assert_eq!(h.sw(&mut c, &borrow), 0x6984);
    h.challenge(&mut c).unwrap();
    assert_eq!(h.sw(&mut c, &borrow), 0x6988);
    unchanged(&before, &c);
}

#[test]
fn library_command_without_terminal_authentication_6982() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, LIBRARY_AID).unwrap();
    h.ok(&mut c, &h.verify_apdu("123456"));
    let before = snapshot(&c);
    // The holder's PIN is not a terminal: the MAC is never even checked (no line-key try spent).
    let (_, sw) = h.loan(&mut c, 0x32, "LIB-0009", "20260316").unwrap();
    assert_eq!(sw, 0x6982);
    identical(&before, &c);
}

#[test]
fn settlement_replayed_6984_then_6988() {
    let h = Host::new();
    let mut c = funded();
    h.medical_open(&mut c).unwrap();
    let ch = h.challenge(&mut c).unwrap();
    let settle = h.mac_apdu(
        "si_medical_update",
        &ch,
        [0x84, 0x4C, 0x00, 0x00],
        &h.settlement(2),
        Some(6),
    );
    h.ok(&mut c, &settle);
    let before = snapshot(&c);
    assert_eq!(h.sw(&mut c, &settle), 0x6984);
    h.challenge(&mut c).unwrap();
    assert_eq!(h.sw(&mut c, &settle), 0x6988);
    identical(&before, &c);
}

/// A keyless reader can neither lock the default card's load keys nor its terminal-authentication
/// keys: after many wrong MAC2s and wrong cryptograms the genuine terminal still loads and
/// authenticates (a 32-bit MAC2 or 64-bit cryptogram bound to a fresh card random cannot be
/// brute-forced online, so a try counter would only hand out a denial of service).
#[test]
fn a_keyless_reader_cannot_lock_load_or_terminal_keys() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    for _ in 0..10 {
        let init = h.initialize(&mut c, 0x00, 0x02, 500).unwrap();
        assert_eq!(h.sw(&mut c, &credit(&bad_mac2(&h, &init, 500))), 0x9302);
    }
    let before = balance(&h, &mut c, 0x02);
    let init = h.initialize(&mut c, 0x00, 0x02, 500).unwrap();
    let d = h.credit_data(EPURSE, &init, 500, 0x02);
    assert_eq!(h.sw(&mut c, &credit(&d)), 0x9000);
    assert_eq!(balance(&h, &mut c, 0x02), before + 500);

    h.select_ddf(&mut c).unwrap();
    for _ in 0..10 {
        h.challenge(&mut c).unwrap();
        let a = apdu(0x00, 0x82, 0x00, 0x01, &[0x5A; 8], None);
        assert_eq!(h.sw(&mut c, &a), 0x6300);
    }
    let ch = h.challenge(&mut c).unwrap();
    let mut b = ch;
    b.resize(8, 0);
    h.key("si_hospital").encrypt(&mut b);
    h.ok(&mut c, &apdu(0x00, 0x82, 0x00, 0x01, &b, None));
}

#[test]
fn external_authenticate_replayed_cryptogram_6300() {
    let h = Host::new();
    let mut c = funded();
    h.select_ddf(&mut c).unwrap();
    let ch = h.challenge(&mut c).unwrap();
    let k = h.key("si_hospital");
    let mut b = ch;
    b.resize(8, 0);
    k.encrypt(&mut b);
    let a = apdu(0x00, 0x82, 0x00, 0x01, &b, None);
    h.ok(&mut c, &a);
    assert_eq!(h.sw(&mut c, &a), 0x6984, "the challenge is spent");
    h.challenge(&mut c).unwrap();
    assert_eq!(
        h.sw(&mut c, &a),
        0x6300,
        "another challenge (the key is not try-limited)"
    );
}

// ---- forged cards and terminals ----------------------------------------------------------------

#[test]
fn a_forged_card_is_caught_by_the_terminal() {
    // A card personalised with other purse keys (a forger without the issuer's masters): the
    // genuine terminal rejects its MAC1 before sending any money.
    let text = PROFILE.replace(
        "value = \"0123456789ABCDEFFEDCBA9876543210\"\ndescription = \"e-purse: load key",
        "value = \"00000000000000001111111111111111\"\ndescription = \"e-purse: load key",
    );
    let forged = cos_sim::profile::Profile::parse("forged.toml", &text).unwrap();
    let mut c = cos_sim::demo::blank_card(&forged).unwrap();
    cos_sim::perso::script(&forged)
        .unwrap()
        .run(&mut c)
        .unwrap();
    let mut t = Host::new().purse_terminal("e-purse");
    t.select(&mut c).unwrap();
    let e = t
        .load(
            &mut c,
            cos_sim::terminals::purse::Purse::Wallet,
            100,
            when("100000"),
        )
        .unwrap_err();
    assert_eq!(
        e,
        cos_sim::terminals::purse::TerminalError::Mismatch("MAC1")
    );
}

#[test]
fn a_terminated_card_answers_6a81_to_everything() {
    let h = Host::new();
    let mut c = funded();
    h.select_mf(&mut c).unwrap();
    let (_, sw) = h
        .secured(
            &mut c,
            "card_maintenance",
            [0x84, 0x16, 0x00, 0x00],
            &[],
            None,
        )
        .unwrap();
    assert_eq!(sw, 0x9000);
    let before = snapshot(&c);
    for a in [
        "00A4000C023F00",
        "00A4040C09A00000000386980701",
        "0084000004",
        "0020000003123456",
    ] {
        assert_eq!(h.sw(&mut c, &hx(a)), 0x6A81, "{a}");
    }
    identical(&before, &c);
}

#[test]
fn a_permanently_blocked_application_cannot_be_selected_6a81() {
    let h = Host::new();
    let mut c = funded();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    let (_, sw) = h
        .secured(
            &mut c,
            "ep_maintenance",
            [0x84, 0x1E, 0x00, 0x01],
            &[],
            None,
        )
        .unwrap();
    assert_eq!(sw, 0x9000);
    assert_eq!(
        h.sw(&mut c, &apdu(0x00, 0xA4, 0x04, 0x0C, &hx(PURSE_AID), None)),
        0x6A81
    );
    // Nothing runs in it any more, UNBLOCK included (its challenge cannot even be fetched).
    assert_eq!(h.sw(&mut c, &hx("0084000004")), 0x6A81);
    assert_eq!(h.sw(&mut c, &hx("84180000 04 00000000")), 0x6A81);
}

/// A merchant mints TACs: with an SM4 (or AES, or single-DES) DTK the TAC key is the DTK itself,
/// so a MAC under the DTK over chosen data *is* a TAC. INTERNAL AUTHENTICATE must never compute
/// one (it used to accept TAC keys, type 34: a forged purchase record then carried a valid TAC
/// without any money leaving the card).
#[test]
fn internal_authenticate_cannot_mint_tacs_6a88() {
    let text = PROFILE.replace(
        "[keys.ep_tac]\nalg = \"3des\"",
        "[keys.ep_tac]\nalg = \"sm4\"",
    );
    assert_ne!(text, PROFILE);
    let p = cos_sim::profile::Profile::parse("sm4-tac.toml", &text).unwrap();
    let mut c = cos_sim::demo::blank_card(&p).unwrap();
    cos_sim::perso::script(&p).unwrap().run(&mut c).unwrap();
    let h = Host::new();
    h.select_aid(&mut c, PURSE_AID).unwrap();
    // A fabricated purchase: 500.00 yuan, type 06, our terminal, TTC 1, a date.
    let mut fake = 50_000u32.to_be_bytes().to_vec();
    fake.push(0x06);
    fake.extend_from_slice(&h.terminal);
    fake.extend_from_slice(&hx("00000001 20260316 120000"));
    let before = snapshot(&c);
    for p1 in [0x00u8, 0x01, 0x02] {
        let data = if p1 == 2 { fake.clone() } else { vec![0u8; 16] };
        let r = c.transmit(&apdu(0x00, 0x88, p1, 0x01, &data, Some(0)));
        assert_eq!(
            sw_of(&r),
            Some(0x6A88),
            "P1 {p1:02X}: {}",
            hex::encode_upper(&r)
        );
    }
    identical(&before, &c);
}

// ---- Journal record injection (NVM format 3) -----------------------------------------------------

/// Each chip's journal records are checked under its own key, drawn from its random source at the
/// factory, so a record forged for one card (or with format 2's plain CRC) is no record on another.
/// The store-level planting tests are in `cos-core/nvm/tests/store.rs`.
#[test]
fn journal_keys_are_per_card_and_from_the_random_source() {
    use cos_core::nvm::HEADER_LEN;
    use cos_core::{FormatConfig, SeededRng};
    use cos_sim::card::CardRng;
    let key = |seed| {
        let c = SimCard::factory(
            CardRng::Seeded(SeededRng::new(seed)),
            &FormatConfig::default(),
        )
        .unwrap();
        let img = c.image().bytes;
        assert_eq!(&img[4..6], &[0, 3], "NVM format version 3");
        img[20..HEADER_LEN - 4].to_vec()
    };
    let (a, b) = (key(1), key(2));
    assert_ne!(a, b);
    assert_eq!(a, key(1), "reproducible with a seeded source");
    assert!(a.iter().any(|&x| x != 0) && a.iter().any(|&x| x != 0xFF));
}
