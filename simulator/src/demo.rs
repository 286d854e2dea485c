//! The README's main job: a fresh card personalised from the default profile, then a day in a
//! citizen's life at the terminals of the city.

use crate::card::{CardRng, SimCard};
use crate::perso;
use crate::profile::Profile;
use anyhow::{anyhow, Result};
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

/// Run the demo.
pub fn run(profile_text: &str, trace: bool, out: Option<&Path>) -> Result<()> {
    let p = Profile::parse("profiles/citizen-card.toml (built in)", profile_text)?;
    println!(
        "== Personalising a citizen card (profile: {})",
        p.description.as_deref().unwrap_or("citizen card")
    );
    let mut card = blank_card(&p)?;
    let script = perso::script(&p).map_err(anyhow::Error::msg)?;
    let r = script.run(&mut card);
    show(&mut card, trace);
    r?;
    println!(
        "   {} APDUs, card issued; {} page programs",
        script.steps.len(),
        card.programs()
    );
    println!("\n{}", crate::info::describe(&card));
    if let Some(path) = out {
        card.save(path)?;
        println!("card image saved to {}", path.display());
    }
    Ok(())
}

fn show(card: &mut SimCard, trace: bool) {
    let t = card.take_trace();
    if trace {
        for e in t {
            println!("{e}");
        }
    }
}
