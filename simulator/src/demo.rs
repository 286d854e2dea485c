//! The README's main job: a fresh card personalised from the default profile, then a day in a
//! citizen's life at the terminals of the city.

use crate::card::{CardRng, SimCard};
use crate::perso;
use crate::profile::Profile;
use crate::terminals::door::{DoorTerminal, Gate as DoorGate};
use crate::terminals::hospital::SocialInsuranceTerminal;
use crate::terminals::library::{Day as LibraryDay, LibraryTerminal, Role};
use crate::terminals::purse::{Purse, PurseTerminal, When};
use crate::terminals::transit::{FareReason, Gate, TransitSystem, TransitTime};
use anyhow::{anyhow, Context, Result};
use cos_core::apdu::Protocol;
use cos_core::FormatConfig;
use social_insurance::layout::{DateTime as SiDateTime, Fen, Settlement, VisitType};
use std::path::Path;

/// The community's application area of the demo (`docs/areas.md`), compiled in like the profile.
const COMMUNITY_AREA: &str = include_str!("../../profiles/areas/community-access.toml");

/// A factory-fresh chip whose transport code is the profile's.
pub fn blank_card(p: &Profile) -> Result<SimCard> {
    let code = hex::decode(&p.card.transport_code)?;
    let mut cfg = FormatConfig::default();
    cfg.transport_code.copy_from_slice(
        code.get(..8)
            .ok_or_else(|| anyhow!("transport code must be 8 bytes"))?,
    );
    Ok(SimCard::factory(CardRng::Os, &cfg)?)
}

fn yuan(fen: u32) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

struct Day<'a> {
    card: &'a mut SimCard,
    trace: bool,
}

impl Day<'_> {
    fn scene(&mut self, title: &str) {
        println!("\n== {title}");
    }

    fn show_trace(&mut self) {
        let t = self.card.take_trace();
        if self.trace {
            for e in t {
                println!("   {}", e.to_string().replace('\n', "\n   "));
            }
        }
    }
}

/// Run the demo.
pub fn run(profile_text: &str, trace: bool, out: Option<&Path>) -> Result<()> {
    let p = Profile::parse("profiles/citizen-card.toml (built in)", profile_text)?;
    println!(
        "== At the card bureau: personalising a blank chip ({})",
        p.description.as_deref().unwrap_or("citizen card")
    );
    let mut card = blank_card(&p)?;
    let script = perso::script(&p).map_err(anyhow::Error::msg)?;
    let r = script.run(&mut card);
    let mut day = Day {
        card: &mut card,
        trace,
    };
    day.show_trace();
    r?;
    println!(
        "   {} APDUs under the transport code; card issued to {} ({} page programs)",
        script.steps.len(),
        p.holder.get("name").map_or("the holder", String::as_str),
        day.card.programs()
    );

    day.scene("08:10 city hospital: outpatient visit settled on the social-insurance card");
    let hospital = SocialInsuranceTerminal::hospital(&p);
    let bill = Settlement {
        when: SiDateTime::new([0x20, 0x26, 0x03, 0x16, 0x08, 0x10, 0x00])
            .ok_or_else(|| anyhow!("clock"))?,
        institution: [0x33, 0x04, 0x02, 0x00, 0x00, 0x01],
        terminal: [0, 0, 0, 0, 0, 1],
        visit: VisitType::Outpatient,
        total: Fen(18_600),
        fund: Fen(11_160),
        account: Fen(7_440),
        cash: Fen(0),
    };
    let visit = hospital
        .visit(day.card, "123456", &bill)
        .context("hospital visit")?;
    day.show_trace();
    println!(
        "   card {} genuine (internal authentication), PIN verified, terminal authenticated",
        visit.card.card_number
    );
    println!(
        "   holder: {} (social security number {}, born {})",
        visit.holder.name, visit.holder.social_security_number, visit.holder.date_of_birth
    );
    println!(
        "   bill 186.00 yuan: fund 111.60, personal account 74.40; settlement #{} written, receipt {} verified",
        visit.settlement.number,
        hex::encode_upper(visit.settlement.receipt)
    );

    day.scene("09:00 bank top-up machine: load 100.00 yuan into the e-purse");
    let mut bank = PurseTerminal::new(&p, "e-purse", 1, *b"BANK01")?;
    bank.select(day.card)?;
    let before = bank.balance(day.card, Purse::Wallet)?;
    let load = bank
        .load(
            day.card,
            Purse::Wallet,
            10_000,
            When::parse("20260316", "090000").context("clock")?,
        )
        .context("load")?;
    day.show_trace();
    println!(
        "   balance {} -> {} yuan (online counter {}, TAC {} verified)",
        yuan(before),
        yuan(load.balance),
        load.atc,
        hex::encode_upper(load.tac)
    );

    // Gates and phones speak contactless (T=CL): SELECT without Le gets the FCI at once.
    day.card.set_protocol(Protocol::T1);
    let mut transit = TransitSystem::from_profile(&p)?;
    let t = |s: &str| TransitTime::parse(s).ok_or_else(|| anyhow!("clock {s}"));
    day.scene("09:05 metro ticket machine: top up the transit wallet with 30.00 yuan");
    let top = transit.top_up(day.card, 3_000, t("2026-03-16 09:05")?)?;
    day.show_trace();
    println!("   transit wallet: {} yuan", yuan(top.balance));

    day.scene("09:20 bus line 7: one tap");
    let bus = transit.tap(day.card, &Gate::bus(7, 1024), t("2026-03-16 09:20")?)?;
    day.show_trace();
    println!(
        "   fare {} yuan (flat), wallet {} yuan",
        yuan(bus.fare.charged),
        yuan(bus.balance)
    );
    day.scene("09:45 metro: in at station 2, out at station 9 (transfer from the bus)");
    let inn = transit.tap(day.card, &Gate::entry(2), t("2026-03-16 09:45")?)?;
    let outt = transit.tap(day.card, &Gate::exit(9), t("2026-03-16 10:15")?)?;
    day.show_trace();
    let km = match outt.fare.reason {
        FareReason::Distance { tenths_km } => format!("{}.{} km", tenths_km / 10, tenths_km % 10),
        other => format!("{other:?}"),
    };
    println!(
        "   entry recorded (wallet {}), exit: {km}, base {} - transfer discount {} = {} yuan, wallet {} yuan",
        yuan(inn.balance),
        yuan(outt.fare.base),
        yuan(outt.fare.transfer_discount),
        yuan(outt.fare.charged),
        yuan(outt.balance)
    );
    day.card.set_protocol(Protocol::T0);

    day.scene("12:30 city library: borrow a book, deposit-free");
    let mut lib = LibraryTerminal::new(&p, *b"LIB001", 1)?;
    let patron = lib.open(day.card, Role::Circulation)?;
    let today = LibraryDay::parse("20260316").ok_or_else(|| anyhow!("date"))?;
    let loan = lib.borrow(day.card, "9787020002207", today)?;
    day.show_trace();
    println!(
        "   patron {}: borrowed 9787020002207 (slot {}), due {} — at most {} loans on this card",
        patron.number, loan.slot, loan.due, patron.max_loans
    );
    day.scene("17:30 library branch: return the book");
    let mut lib2 = LibraryTerminal::new(&p, *b"LIB002", 2)?;
    lib2.open(day.card, Role::Circulation)?;
    let back = lib2.return_item(day.card, "9787020002207", today)?;
    day.show_trace();
    println!(
        "   returned, {} days overdue; loans in use: {}",
        back.overdue_days, back.loans_in_use
    );

    day.scene("18:40 market stall: groceries for 23.50 yuan from the e-purse");
    let mut pos = PurseTerminal::new(&p, "e-purse", 1, *b"SHOP07")?;
    pos.select(day.card)?;
    let buy = pos
        .purchase(
            day.card,
            Purse::Wallet,
            2_350,
            When::parse("20260316", "184000").context("clock")?,
        )
        .context("purchase")?;
    day.show_trace();
    println!(
        "   paid 23.50, balance {} yuan (MAC2 {} and TAC {} verified)",
        yuan(buy.balance),
        hex::encode_upper(buy.mac2),
        hex::encode_upper(buy.tac)
    );

    day.scene("19:30 Lakeside Garden: the community's door-access area granted to the card, used at the gate");
    let community = crate::area::AreaProfile::parse(
        "profiles/areas/community-access.toml (built in)",
        COMMUNITY_AREA,
    )?;
    let grant = crate::area::grant_script(&community, &p).map_err(anyhow::Error::msg)?;
    let granted = crate::area::run(day.card, "grant", &grant)?;
    let handover = crate::area::handover_script(&community).map_err(anyhow::Error::msg)?;
    let handed = crate::area::run(day.card, "hand-over", &handover)?;
    let mut gate = DoorTerminal::new(&community, DoorGate::door(3))?;
    let pass = gate
        .present(
            day.card,
            When::parse("20260316", "193000").context("clock")?,
        )
        .context("community gate")?;
    // The gate left the card in the community's area; the wallet reader at home expects the
    // e-purse, as the market stall left it.
    pos.select(day.card)?;
    day.show_trace();
    println!(
        "   issuer: area AC01 granted under the card master key ({} APDUs: CREATE FILE B8, one transaction)",
        granted.apdus
    );
    println!(
        "   community office: initial key replaced by its own, 4 keys and 3 files ({} APDUs); the issuer keeps no key inside",
        handed.apdus
    );
    println!(
        "   gate 3: card genuine (internal authentication), reader authenticated; {} {}-{} {}: {}, entry logged under the area's MAC",
        if pass.granted { "OPEN" } else { "CLOSED" },
        pass.resident.building,
        pass.resident.room,
        pass.resident.name,
        pass.reason
    );

    day.scene("21:00 at home: balances and transaction records");
    let bal = pos.balance(day.card, Purse::Wallet)?;
    println!("   e-purse balance: {} yuan", yuan(bal));
    for r in pos.records(day.card)? {
        if r.len() == 23 {
            let amount = u32::from_be_bytes([r[5], r[6], r[7], r[8]]);
            let kind = match r[9] {
                0x02 => "load    ",
                0x06 => "purchase",
                _ => "other   ",
            };
            println!(
                "   #{:<3} {kind} {:>8} yuan  terminal {}  {} {}",
                u16::from_be_bytes([r[0], r[1]]),
                yuan(amount),
                String::from_utf8_lossy(&r[10..16]),
                hex::encode(&r[16..20]),
                hex::encode(&r[20..23])
            );
        }
    }
    let view = transit.read_card(day.card)?;
    println!("   transit wallet: {} yuan; trips:", yuan(view.balance));
    for trip in transit.trips(day.card)? {
        let what = match (trip.event, trip.mode) {
            (0x03, _) => "metro in ",
            (0x04, _) => "metro out",
            _ => "bus      ",
        };
        println!(
            "     {what} line {:<2} station {:<2} {:>6} yuan, wallet after {:>6}  {}",
            trip.location.line,
            trip.location.station,
            yuan(trip.amount),
            yuan(trip.balance_after),
            trip.time.map(|t| t.to_string()).unwrap_or_default()
        );
    }
    day.show_trace();
    println!("\n{}", crate::info::describe(day.card));

    if let Some(path) = out {
        card.save(path)?;
        println!("\ncard image saved to {}", path.display());
    }
    Ok(())
}
