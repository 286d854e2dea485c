//! The README's main job: a fresh card personalised from the default profile, then a day in a
//! citizen's life at the terminals of the city.

use crate::card::{CardRng, SimCard};
use crate::perso;
use crate::profile::Profile;
use crate::terminals::purse::{Purse, PurseTerminal, When};
use anyhow::{anyhow, Context, Result};
use cos_core::FormatConfig;
use std::path::Path;

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

    day.scene("08:30 bank top-up machine: load 100.00 yuan into the e-purse");
    let mut bank = PurseTerminal::new(&p, "e-purse", 1, *b"BANK01")?;
    bank.select(day.card)?;
    let before = bank.balance(day.card, Purse::Wallet)?;
    let load = bank
        .load(
            day.card,
            Purse::Wallet,
            10_000,
            When::parse("20260316", "083000").context("clock")?,
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

    day.scene("18:40 market stall: groceries for 23.50 yuan");
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

    day.scene("21:00 at home: balance and transaction records");
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
    day.show_trace();

    if let Some(path) = out {
        card.save(path)?;
        println!("\ncard image saved to {}", path.display());
    }
    Ok(())
}
