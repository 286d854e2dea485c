//! The transit application on the personalised citizen card, driven by the reference gate terminal:
//! journeys (bus, metro, transfer, daily cap, missing tap-out, senior free ride), what keyless
//! readers see, the gate's refusals, power cuts at every page program of a tap, and money
//! conservation between card balance and the terminal's ledger over random journeys.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use cos_core::apdu::Protocol;
use cos_core::nvm::TearMode;
use cos_core::SeededRng;
use cos_sim::card::{CardRng, SimCard, SimNvm};
use cos_sim::demo::blank_card;
use cos_sim::perso;
use cos_sim::profile::Profile;
use cos_sim::terminals::purse::TerminalError;
use cos_sim::terminals::transit::{
    CompositeRecord, FareReason, Gate, GateError, TransitSystem, TransitTime, TripState, BUS_TAG,
    METRO_TAG,
};
use proptest::prelude::*;
use std::sync::OnceLock;

const PROFILE: &str = include_str!("../../profiles/citizen-card.toml");

fn profile_with(category: &str) -> String {
    PROFILE.replace(
        "transit_category = \"01\"",
        &format!("transit_category = \"{category}\""),
    )
}

/// A personalised card image per holder category (personalising costs ~150 APDUs: done once).
fn image(category: &str) -> Vec<u8> {
    static IMAGES: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>> =
        OnceLock::new();
    let map = IMAGES.get_or_init(Default::default);
    if let Some(i) = map.lock().unwrap().get(category) {
        return i.clone();
    }
    let p = Profile::parse("p.toml", &profile_with(category)).unwrap();
    let mut c = blank_card(&p).unwrap();
    perso::script(&p).unwrap().run(&mut c).unwrap();
    let bytes = c.image().bytes;
    map.lock()
        .unwrap()
        .insert(category.to_string(), bytes.clone());
    bytes
}

/// A fresh personalised card (holder category `category`) in a T=CL reader, and the city's
/// transit system.
fn setup(category: &str) -> (SimCard, TransitSystem) {
    let mut c = SimCard::from_nvm(
        SimNvm::from_bytes(&image(category)),
        CardRng::Seeded(SeededRng::new(42)),
    )
    .unwrap();
    c.set_protocol(Protocol::T1);
    c.set_tracing(false);
    let p = Profile::parse("p.toml", &profile_with(category)).unwrap();
    (c, TransitSystem::from_profile(&p).unwrap())
}

fn at(s: &str) -> TransitTime {
    TransitTime::parse(s).unwrap()
}

fn balance(c: &mut SimCard, t: &TransitSystem) -> u32 {
    t.read_card(c).unwrap().balance
}

fn conserved(c: &mut SimCard, t: &TransitSystem) {
    assert_eq!(
        u64::from(balance(c, t)),
        t.ledger.loaded - t.ledger.taken(),
        "card balance = loads − ledger"
    );
}

fn sw(c: &mut SimCard, apdu: &str) -> (Vec<u8>, u16) {
    let r = c.transmit(&hex::decode(apdu.replace(' ', "")).unwrap());
    let n = r.len() - 2;
    (r[..n].to_vec(), u16::from_be_bytes([r[n], r[n + 1]]))
}

#[test]
fn keyless_readers_see_the_interoperable_layout() {
    let (mut c, t) = setup("01");
    // PPSE first, as phones do: the directory lists the transit application (MOT_T_EP).
    let (fci, s) = sw(&mut c, "00A404000E325041592E5359532E4444463031");
    assert_eq!(s, 0x9000, "T=CL: the FCI comes at once even without Le");
    let entry = hex::decode("61174F08A00000063201010550084D4F545F545F4550870101").unwrap();
    assert!(fci.windows(entry.len()).any(|w| w == entry), "{fci:02X?}");
    assert_eq!(
        &fci[fci.len() - entry.len() - 3..][..3],
        &[0xBF, 0x0C, 0x19]
    );
    // SELECT of the transit AID without Le: 6F { 84 AID, A5 { 9F08 01, 9F0C (EF 15) } } 9000.
    let (fci, s) = sw(&mut c, "00A4040008A000000632010105");
    assert_eq!(s, 0x9000);
    assert_eq!(
        &fci[..12],
        &hex::decode("6F318408A000000632010105").unwrap()[..]
    );
    assert_eq!(
        &fci[12..21],
        &hex::decode("A5259F0801019F0C1E").unwrap()[..]
    );
    let ef15 = &fci[21..];
    assert_eq!(ef15.len(), 30);
    assert_eq!(
        &ef15[10..20],
        &hex::decode("31000000000000000001").unwrap()[..]
    );
    // READ BINARY with Le 00: whole files; card type at EF 17 byte 10.
    let (ef17, s) = sw(&mut c, "00B0970000");
    assert_eq!((ef17.len(), ef17[10], s), (60, 0x01, 0x9000));
    assert_eq!(&ef17[..6], &[0x01, 0x56, 0x33, 0x00, 0x33, 0x04]);
    let (ef16, _) = sw(&mut c, "00B0960000");
    assert_eq!((ef16.len(), ef16[0], ef16[1]), (55, 0x01, 0x00));
    assert!(
        ef16[2..].iter().all(|b| *b == 0),
        "no name or ID in a keyless file"
    );
    // Balance variants, records, logs past the end.
    for p1 in 0..=3u8 {
        let (d, s) = sw(&mut c, &format!("805C{p1:02X}0204"));
        assert_eq!((d, s), (vec![0, 0, 0, 0], 0x9000));
    }
    let (r1, _) = sw(&mut c, "00B201D400");
    let r1 = CompositeRecord::decode(&r1).unwrap();
    assert_eq!(
        (r1.tag, r1.len, r1.lock, r1.state),
        (METRO_TAG, 64, 0, TripState::None)
    );
    assert_eq!(sw(&mut c, "00B203D400").1, 0x6A83);
    assert_eq!(sw(&mut c, "00B201F400").1, 0x6A83);
    assert_eq!(sw(&mut c, "00B201C400").1, 0x6A83);
    // Foreign probes get clean errors; the transit application stays selected.
    for (apdu, want) in [
        ("9060000000", 0x6D00),
        ("80CA9F7F00", 0x6D00),
        ("00A4040007A0000000031010", 0x6A82),
        ("00A4040007A000000004101000", 0x6A82),
    ] {
        assert_eq!(sw(&mut c, apdu).1, want, "{apdu}");
    }
    assert_eq!(sw(&mut c, "805C000204").1, 0x9000);
    let view = t.read_card(&mut c).unwrap();
    assert_eq!(view.card_number(), "31000000000000000001");
    assert_eq!(view.records.len(), 2);
    // `cos-sim info` shows the transit state.
    let info = cos_sim::info::describe(&c);
    assert!(
        info.contains("transit: balance 0.00 yuan, 0 purchases, metro: not in a trip"),
        "{info}"
    );
}

#[test]
fn bus_ride_is_one_tap_at_a_flat_fare() {
    let (mut c, mut t) = setup("01");
    t.top_up(&mut c, 5_000, at("2026-03-16 07:50")).unwrap();
    let tap = t
        .tap(&mut c, &Gate::bus(5, 1234), at("2026-03-16 08:00"))
        .unwrap();
    assert_eq!(
        (tap.event, tap.fare.charged, tap.fare.reason),
        (0x06, 200, FareReason::Flat)
    );
    assert_eq!((tap.balance, tap.atc), (4_800, 0));
    let trips = t.trips(&mut c).unwrap();
    assert_eq!(trips.len(), 1);
    let tr = &trips[0];
    assert_eq!(
        (tr.event, tr.mode, tr.amount, tr.balance_after),
        (0x06, BUS_TAG, 200, 4_800)
    );
    assert_eq!((tr.location.line, tr.location.unit), (5, 1234));
    assert_eq!(tr.terminal, Gate::bus(5, 1234).terminal_id);
    assert_eq!(tr.time, Some(at("2026-03-16 08:00")));
    assert_eq!(&tr.institution, b"CITY-BUS");
    let v = t.read_card(&mut c).unwrap();
    let (_, bus) = v.record(BUS_TAG).unwrap();
    assert_eq!(
        (bus.event, bus.last_fare, bus.day_total, bus.rides_today),
        (0x06, 200, 200, 1)
    );
    // The purse log has the CAPP purchase (type 09).
    let (log, _) = sw(&mut c, "00B201C400");
    assert_eq!(log[9], 0x09);
    assert_eq!(t.ledger.debits.len(), 1);
    conserved(&mut c, &t);
}

#[test]
fn metro_trip_is_two_taps_and_pays_by_distance() {
    let (mut c, mut t) = setup("01");
    t.top_up(&mut c, 5_000, at("2026-03-16 07:00")).unwrap();
    let e = t
        .tap(&mut c, &Gate::entry(1), at("2026-03-16 08:00"))
        .unwrap();
    assert_eq!(
        (e.event, e.fare.charged, e.fare.reason),
        (0x03, 0, FareReason::Entry)
    );
    let v = t.read_card(&mut c).unwrap();
    let (_, m) = v.record(METRO_TAG).unwrap();
    assert_eq!(
        (m.state, m.location.station, m.max_fare),
        (TripState::Entered, 1, 900)
    );
    assert_eq!(m.entry_time, Some(at("2026-03-16 08:00")));
    assert!(cos_sim::info::describe(&c).contains("metro: entered at station 1"));
    // 1 → 6 is 10.3 km: the 12 km band, 4.00 yuan.
    let x = t
        .tap(&mut c, &Gate::exit(6), at("2026-03-16 08:25"))
        .unwrap();
    assert_eq!(x.fare.reason, FareReason::Distance { tenths_km: 103 });
    assert_eq!((x.event, x.fare.charged, x.balance), (0x04, 400, 4_600));
    let trips = t.trips(&mut c).unwrap();
    assert_eq!(
        trips
            .iter()
            .map(|r| (r.event, r.location.station, r.amount))
            .collect::<Vec<_>>(),
        vec![(0x04, 6, 400), (0x03, 1, 0)]
    );
    // A short trip the other way: 6 → 4 is 5.1 km, 3.00 yuan.
    t.tap(&mut c, &Gate::entry(6), at("2026-03-16 18:00"))
        .unwrap();
    let x = t
        .tap(&mut c, &Gate::exit(4), at("2026-03-16 18:12"))
        .unwrap();
    assert_eq!(x.fare.charged, 300);
    conserved(&mut c, &t);
}

#[test]
fn transfer_discount_inside_the_window_and_not_twice_in_a_row() {
    let (mut c, mut t) = setup("01");
    t.top_up(&mut c, 5_000, at("2026-03-16 07:00")).unwrap();
    t.tap(&mut c, &Gate::bus(5, 1), at("2026-03-16 08:00"))
        .unwrap();
    // Metro entered 45 minutes after the bus ride: the exit gets the 1.00 yuan transfer discount.
    t.tap(&mut c, &Gate::entry(1), at("2026-03-16 08:45"))
        .unwrap();
    let x = t
        .tap(&mut c, &Gate::exit(6), at("2026-03-16 09:10"))
        .unwrap();
    assert_eq!((x.fare.transfer_discount, x.fare.charged), (100, 300));
    // A bus right after a transfer ride: no second discount.
    let b = t
        .tap(&mut c, &Gate::bus(7, 2), at("2026-03-16 09:20"))
        .unwrap();
    assert_eq!((b.fare.transfer_discount, b.fare.charged), (0, 200));
    // Within the window of that (non-transfer) ride: discount again.
    let b = t
        .tap(&mut c, &Gate::bus(8, 3), at("2026-03-16 10:50"))
        .unwrap();
    assert_eq!(b.fare.charged, 100);
    // Outside the window: full fare.
    let b = t
        .tap(&mut c, &Gate::bus(8, 3), at("2026-03-16 13:00"))
        .unwrap();
    assert_eq!((b.fare.transfer_discount, b.fare.charged), (0, 200));
    conserved(&mut c, &t);
}

#[test]
fn daily_cap_over_all_modes_and_a_new_day() {
    let (mut c, mut t) = setup("01");
    t.top_up(&mut c, 10_000, at("2026-03-16 06:00")).unwrap();
    let mut paid = 0;
    let mut time = at("2026-03-16 06:00");
    for i in 0..6 {
        // Metro 1 → 9 (20.4 km: 5.00 yuan), then a bus 20 minutes later (2.00 − 1.00 transfer).
        t.tap(&mut c, &Gate::entry(1), time).unwrap();
        let x = t
            .tap(&mut c, &Gate::exit(9), time.plus_minutes(40))
            .unwrap();
        paid += x.fare.charged;
        if i >= 3 {
            assert_eq!(x.fare.charged, 0, "capped: {x:?}");
        }
        let b = t
            .tap(&mut c, &Gate::bus(3, 9), time.plus_minutes(60))
            .unwrap();
        paid += b.fare.charged;
        if i < 2 {
            assert_eq!((x.fare.charged, b.fare.charged), (500, 100));
        }
        time = time.plus_minutes(120);
        assert!(paid <= 1_500);
    }
    assert_eq!(paid, 1_500, "the cap is reached exactly");
    let v = t.read_card(&mut c).unwrap();
    assert_eq!(v.charged_on(at("2026-03-16 07:00").date_bcd()), 1_500);
    // The next day starts from zero.
    let b = t
        .tap(&mut c, &Gate::bus(3, 9), at("2026-03-17 08:00"))
        .unwrap();
    assert_eq!(b.fare.charged, 200);
    conserved(&mut c, &t);
}

#[test]
fn missing_tap_out_then_next_entry_exit_without_entry_and_overlong_trip() {
    let (mut c, mut t) = setup("01");
    t.top_up(&mut c, 5_000, at("2026-03-16 06:00")).unwrap();
    t.tap(&mut c, &Gate::entry(2), at("2026-03-16 08:00"))
        .unwrap();
    // Never tapped out. Next entry (next day): the maximum fare for the unfinished trip.
    let e = t
        .tap(&mut c, &Gate::entry(3), at("2026-03-17 08:00"))
        .unwrap();
    assert_eq!(
        (e.fare.reason, e.fare.charged),
        (FareReason::UnfinishedTrip, 900)
    );
    // The new trip is normal: 3 → 5 is 4.1 km.
    let x = t
        .tap(&mut c, &Gate::exit(5), at("2026-03-17 08:20"))
        .unwrap();
    assert_eq!(
        (x.fare.reason, x.fare.charged),
        (FareReason::Distance { tenths_km: 41 }, 300)
    );
    // Exit with no entry: maximum fare.
    let x = t
        .tap(&mut c, &Gate::exit(5), at("2026-03-17 12:00"))
        .unwrap();
    assert_eq!((x.fare.reason, x.fare.base), (FareReason::NoEntry, 900));
    assert_eq!(
        (x.fare.capped, x.fare.charged),
        (600, 300),
        "the day's cap: 900 + 300 + 300"
    );
    // A trip longer than four hours: maximum fare (capped by the day: 900 + 300 + 900 > 1500).
    t.tap(&mut c, &Gate::entry(1), at("2026-03-18 08:00"))
        .unwrap();
    let x = t
        .tap(&mut c, &Gate::exit(2), at("2026-03-18 12:01"))
        .unwrap();
    assert_eq!(
        (x.fare.reason, x.fare.charged),
        (FareReason::OverlongTrip, 900)
    );
    let v = t.read_card(&mut c).unwrap();
    assert_eq!(
        v.record(METRO_TAG).unwrap().1.flags & 0x02,
        0x02,
        "max-fare flag"
    );
    // An exit at a station outside the table: maximum fare.
    t.tap(&mut c, &Gate::entry(1), at("2026-03-19 08:00"))
        .unwrap();
    let x = t
        .tap(&mut c, &Gate::exit(40), at("2026-03-19 08:30"))
        .unwrap();
    assert_eq!(
        (x.fare.reason, x.fare.charged),
        (FareReason::OutsideTable, 900)
    );
    conserved(&mut c, &t);
}

#[test]
fn senior_rides_free_and_the_records_still_move() {
    let (mut c, mut t) = setup("03");
    // No money on the card at all: a senior still rides.
    let b = t
        .tap(&mut c, &Gate::bus(5, 1), at("2026-03-16 08:00"))
        .unwrap();
    assert_eq!((b.fare.percent, b.fare.charged, b.balance), (0, 0, 0));
    t.tap(&mut c, &Gate::entry(1), at("2026-03-16 09:00"))
        .unwrap();
    let x = t
        .tap(&mut c, &Gate::exit(12), at("2026-03-16 09:50"))
        .unwrap();
    assert_eq!((x.fare.base, x.fare.charged), (900, 0));
    let trips = t.trips(&mut c).unwrap();
    assert_eq!(trips.len(), 3);
    assert!(trips.iter().all(|r| r.amount == 0));
    assert_eq!(t.ledger.taken(), 0);
    assert_eq!(
        t.ledger.debits.len(),
        3,
        "free rides are still CAPP purchases (ATC moves)"
    );
    assert_eq!(x.atc, 2);
    conserved(&mut c, &t);
}

#[test]
fn student_and_staff_discounts() {
    let (mut c, mut t) = setup("02");
    t.top_up(&mut c, 1_000, at("2026-03-16 07:00")).unwrap();
    let b = t
        .tap(&mut c, &Gate::bus(5, 1), at("2026-03-16 08:00"))
        .unwrap();
    assert_eq!(b.fare.charged, 100);
    conserved(&mut c, &t);
    let (mut c, mut t) = setup("06");
    t.top_up(&mut c, 1_000, at("2026-03-16 07:00")).unwrap();
    t.tap(&mut c, &Gate::entry(1), at("2026-03-16 08:00"))
        .unwrap();
    let x = t
        .tap(&mut c, &Gate::exit(6), at("2026-03-16 08:20"))
        .unwrap();
    assert_eq!((x.fare.percent, x.fare.charged), (20, 80));
    conserved(&mut c, &t);
}

#[test]
fn the_gate_refuses_without_touching_the_card() {
    let (mut c, mut t) = setup("01");
    let before = c.image();
    // No money: no bus ride, no metro entry.
    assert_eq!(
        t.tap(&mut c, &Gate::bus(5, 1), at("2026-03-16 08:00")),
        Err(GateError::InsufficientBalance {
            balance: 0,
            needed: 200
        })
    );
    assert_eq!(
        t.tap(&mut c, &Gate::entry(1), at("2026-03-16 08:00")),
        Err(GateError::InsufficientBalance {
            balance: 0,
            needed: 300
        })
    );
    // Expired card (the profile's expiry is 2035-12-31).
    assert_eq!(
        t.tap(&mut c, &Gate::bus(5, 1), at("2036-01-01 08:00")),
        Err(GateError::Expired)
    );
    assert_eq!(before.bytes, c.image().bytes);
    // Enough to enter, not enough to leave a long trip: the exit gate refuses, the trip stays open.
    t.top_up(&mut c, 300, at("2026-03-16 07:00")).unwrap();
    t.tap(&mut c, &Gate::entry(1), at("2026-03-16 08:00"))
        .unwrap();
    let e = t
        .tap(&mut c, &Gate::exit(12), at("2026-03-16 09:00"))
        .unwrap_err();
    assert_eq!(
        e,
        GateError::InsufficientBalance {
            balance: 300,
            needed: 900
        }
    );
    let v = t.read_card(&mut c).unwrap();
    assert_eq!(v.record(METRO_TAG).unwrap().1.state, TripState::Entered);
    // A card whose MAC2 / TAC do not verify (another issuer's keys): the gate says so.
    let p = Profile::parse(
        "p.toml",
        &PROFILE.replace(
            "value = \"8182838485868788898A8B8C8D8E8F80\"",
            "value = \"00112233445566778899AABBCCDDEEFF\"",
        ),
    )
    .unwrap();
    let mut other = TransitSystem::from_profile(&p).unwrap();
    assert_eq!(
        other.tap(&mut c, &Gate::bus(5, 1), at("2026-03-16 10:00")),
        Err(GateError::Terminal(TerminalError::Mismatch("TAC")))
    );
    assert!(other.ledger.debits.is_empty());
}

/// What a gate can see of the card's money and records (for the tearing test).
fn state(c: &mut SimCard, t: &TransitSystem) -> (u32, Vec<CompositeRecord>, usize, usize) {
    let v = t.read_card(c).unwrap();
    let trips = t.trips(c).unwrap().len();
    let logs = (1..=10u8)
        .take_while(|n| sw(c, &format!("00B2{n:02X}C400")).1 == 0x9000)
        .count();
    (
        v.balance,
        v.records.into_iter().map(|(_, r)| r).collect(),
        trips,
        logs,
    )
}

/// A power cut at every page program of a metro exit tap, in three tear modes: the card is all
/// old or all new, the gate knows which (GET TRANSACTION PROVE), and the ledger matches.
#[test]
fn power_cuts_during_a_tap_never_tear_and_the_gate_knows() {
    let (mut c, mut t) = setup("01");
    t.top_up(&mut c, 2_000, at("2026-03-16 07:00")).unwrap();
    t.tap(&mut c, &Gate::entry(1), at("2026-03-16 08:00"))
        .unwrap();
    let base = c.image().bytes;
    let ledger = t.ledger.clone();
    let exit = Gate::exit(6);
    let now = at("2026-03-16 08:30");
    let fresh = || {
        let mut c = SimCard::from_nvm(
            SimNvm::from_bytes(&base),
            CardRng::Seeded(SeededRng::new(9)),
        )
        .unwrap();
        c.set_protocol(Protocol::T1);
        c.set_tracing(false);
        c
    };
    let mut dry = fresh();
    let old = state(&mut dry, &t);
    let mut td = TransitSystem::from_profile(&Profile::parse("p.toml", PROFILE).unwrap()).unwrap();
    td.ledger = ledger.clone();
    // Count the page programs of the tap itself (reads cost none).
    let view = td.read_card(&mut dry).unwrap();
    let _ = view;
    let p0 = dry.programs();
    td.tap(&mut dry, &exit, now).unwrap();
    let n = dry.programs() - p0;
    let new = state(&mut dry, &td);
    assert_ne!(old, new);
    let (mut olds, mut news) = (0, 0);
    for k in 0..n {
        for mode in [
            TearMode::Skip,
            TearMode::Complete,
            TearMode::Partial { seed: k },
        ] {
            let mut c = fresh();
            let mut tk =
                TransitSystem::from_profile(&Profile::parse("p.toml", PROFILE).unwrap()).unwrap();
            tk.ledger = ledger.clone();
            tk.read_card(&mut c).unwrap();
            c.arm_tear(k, mode);
            let r = tk.tap(&mut c, &exit, now);
            c.disarm_tear();
            let s = state(&mut c, &tk);
            match r {
                Ok(tap) => {
                    assert!(
                        tap.recovered,
                        "k={k} {mode:?}: a cut tap recovered by PROVE"
                    );
                    assert_eq!(s, new, "k={k} {mode:?}");
                    news += 1;
                }
                Err(GateError::Interrupted) => {
                    assert_eq!(s, old, "k={k} {mode:?}");
                    olds += 1;
                }
                Err(e) => panic!("k={k} {mode:?}: {e}"),
            }
            conserved(&mut c, &tk);
            // Tap again: an interrupted exit completes now; a completed one becomes an exit
            // without entry (maximum fare) — either way the card goes on.
            tk.tap(&mut c, &exit, now.plus_minutes(1)).unwrap();
            conserved(&mut c, &tk);
        }
    }
    eprintln!(
        "metro exit tap: {n} page programs, {} cuts: {olds} all old, {news} all new, 0 torn",
        3 * n
    );
    assert!(olds > 0 && news > 0);
}

#[derive(Clone, Debug)]
enum Step {
    TopUp(u32),
    Bus(u16),
    Entry(u16),
    Exit(u16),
    Wait(i64),
    /// A power cut at the k-th page program of the next tap.
    CutNextTap(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (1u32..3_000).prop_map(Step::TopUp),
        3 => (1u16..20).prop_map(Step::Bus),
        3 => (1u16..13).prop_map(Step::Entry),
        3 => (1u16..14).prop_map(Step::Exit),
        3 => (1i64..600).prop_map(Step::Wait),
        1 => (0u64..16).prop_map(Step::CutNextTap),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// Random journeys with top-ups, refusals and power cuts: the card's balance always equals
    /// what was loaded minus what the ledger took, each debit verified; no day costs more than
    /// the cap; the trip log has one record per ledger debit (up to its 10 records).
    #[test]
    fn random_journeys_conserve_money(
        category in prop_oneof![Just("01"), Just("02"), Just("03"), Just("06")],
        initial in 0u32..6_000,
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let (mut c, mut t) = setup(category);
        let mut now = at("2026-03-16 06:00");
        if initial > 0 {
            t.top_up(&mut c, initial, now).unwrap();
        }
        let mut cut = None;
        for s in steps {
            let gate = match s {
                Step::TopUp(a) => {
                    let _ = t.top_up(&mut c, a, now);
                    None
                }
                Step::Bus(l) => Some(Gate::bus(l, 77)),
                Step::Entry(st) => Some(Gate::entry(st)),
                Step::Exit(st) => Some(Gate::exit(st)),
                Step::Wait(m) => {
                    now = now.plus_minutes(m);
                    None
                }
                Step::CutNextTap(k) => {
                    cut = Some(k);
                    None
                }
            };
            if let Some(g) = gate {
                if let Some(k) = cut.take() {
                    t.read_card(&mut c).unwrap();
                    c.arm_tear(k, TearMode::Partial { seed: k });
                }
                match t.tap(&mut c, &g, now) {
                    Ok(_) | Err(GateError::Interrupted)
                    | Err(GateError::InsufficientBalance { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
                c.disarm_tear();
                now = now.plus_minutes(1);
            }
            let b = balance(&mut c, &t);
            prop_assert_eq!(u64::from(b), t.ledger.loaded - t.ledger.taken());
        }
        let mut per_day = std::collections::BTreeMap::new();
        for d in &t.ledger.debits {
            *per_day.entry(d.time.date_bcd()).or_insert(0u32) += d.amount;
        }
        prop_assert!(per_day.values().all(|v| *v <= t.rules.daily_cap), "{:?}", per_day);
        let trips = t.trips(&mut c).unwrap();
        prop_assert_eq!(trips.len(), t.ledger.debits.len().min(10));
        for (trip, d) in trips.iter().zip(t.ledger.debits.iter().rev()) {
            prop_assert_eq!((trip.amount, trip.atc, trip.event), (d.amount, d.atc, d.event));
        }
    }
}
