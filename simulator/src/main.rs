//! `cos-sim`: the command line of the citizen-card COS simulator.
//!
//! * `personalise` builds a card image from a profile, only through APDUs, and can write the
//!   script out for a real reader (`scriptor`).
//! * `shell` drives an image: one hex APDU per line in, one hex response per line out.
//! * `info` shows what is on an image.
//! * `demo` personalises a fresh card and runs a day in a citizen's life.
//! * `blank` writes a factory-fresh card image; `vpcd` puts an image into a PC/SC reader.
//! * `replay` runs conformance vectors against a fresh card, an image or a PC/SC reader.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use cos_sim::card::{CardRng, SimCard};
use cos_sim::perso;
use cos_sim::profile::Profile;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// The default profile, compiled in so the demo works from any directory.
const DEFAULT_PROFILE: &str = include_str!("../../profiles/citizen-card.toml");

#[derive(Parser)]
#[command(name = "cos-sim", version, about = "Citizen-card COS simulator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Personalise a fresh card from a profile and save its image.
    Personalise {
        /// Profile (TOML); the built-in citizen-card profile when omitted.
        #[arg(long)]
        profile: Option<PathBuf>,
        /// Where to write the card image.
        #[arg(long)]
        out: PathBuf,
        /// Also write the personalisation APDU script (scriptor syntax) here.
        #[arg(long)]
        script: Option<PathBuf>,
        /// Print every APDU, decoded.
        #[arg(long)]
        trace: bool,
    },
    /// Drive a card image: hex APDUs on stdin, hex responses on stdout.
    Shell {
        /// The card image (saved after every command).
        #[arg(long)]
        card: PathBuf,
        /// Also print the decoded exchange on stderr.
        #[arg(long)]
        trace: bool,
    },
    /// Show the applications, files, life cycle and counters of a card image.
    Info {
        /// The card image.
        #[arg(long)]
        card: PathBuf,
    },
    /// Personalise a fresh card and run a day in a citizen's life.
    Demo {
        /// Print every APDU, decoded.
        #[arg(long)]
        trace: bool,
        /// Keep the demo card's image here (default: a temporary file).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a factory-fresh (blank, unpersonalised) card image, e.g. to personalise through a reader.
    Blank {
        /// Profile (TOML) whose transport code the chip gets; the built-in one when omitted.
        #[arg(long)]
        profile: Option<PathBuf>,
        /// Where to write the card image.
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a card image into a PC/SC reader: attach it to vsmartcard's vpcd (inside pcscd).
    Vpcd {
        /// The card image (saved after every command that changes it).
        #[arg(long)]
        card: PathBuf,
        /// vpcd's address (slot 0 is port 35963, reader "Virtual PCD 00 00").
        #[arg(long, default_value = cos_sim::vpcd::DEFAULT_ADDR)]
        addr: String,
        /// Print every APDU, decoded, on stderr.
        #[arg(long)]
        trace: bool,
    },
    /// Replay conformance vectors (test-vectors/) against a simulated card, an image or a reader.
    Replay(cos_sim::vectors::cli::ReplayArgs),
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("cos-sim: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Personalise {
            profile,
            out,
            script,
            trace,
        } => {
            let p = load_profile(profile.as_deref())?;
            let (card, s) = personalise(&p, trace)?;
            if let Some(path) = script {
                std::fs::write(
                    &path,
                    s.to_scriptor(&format!(
                        "personalisation of {}",
                        profile_name(profile.as_deref())
                    )),
                )
                .with_context(|| format!("writing {}", path.display()))?;
                println!("script: {} ({} APDUs)", path.display(), s.steps.len());
            }
            card.save(&out)?;
            println!(
                "card image: {} (personalised with {} APDUs)",
                out.display(),
                s.steps.len()
            );
            Ok(())
        }
        Command::Shell { card, trace } => shell(&card, trace),
        Command::Info { card } => {
            let c = SimCard::open(&card, CardRng::Os)?;
            print!("{}", cos_sim::info::describe(&c));
            Ok(())
        }
        Command::Demo { trace, out } => cos_sim::demo::run(DEFAULT_PROFILE, trace, out.as_deref()),
        Command::Blank { profile, out } => {
            let p = load_profile(profile.as_deref())?;
            cos_sim::demo::blank_card(&p)?.save(&out)?;
            println!("blank card image: {}", out.display());
            Ok(())
        }
        Command::Vpcd { card, addr, trace } => cos_sim::vpcd::cli(&card, &addr, trace),
        Command::Replay(args) => cos_sim::vectors::cli::run(args),
    }
}

fn profile_name(p: Option<&Path>) -> String {
    p.map_or("the built-in citizen-card profile".into(), |p| {
        p.display().to_string()
    })
}

fn load_profile(p: Option<&Path>) -> Result<Profile> {
    Ok(match p {
        Some(path) => Profile::load(path)?,
        None => Profile::parse("profiles/citizen-card.toml (built in)", DEFAULT_PROFILE)?,
    })
}

fn personalise(p: &Profile, trace: bool) -> Result<(SimCard, perso::Script)> {
    let mut card = cos_sim::demo::blank_card(p)?;
    let s = perso::script(p).map_err(anyhow::Error::msg)?;
    let r = s.run(&mut card);
    if trace {
        for t in card.take_trace() {
            println!("{t}");
        }
    }
    r?;
    Ok((card, s))
}

fn shell(path: &Path, trace: bool) -> Result<()> {
    let mut card = SimCard::open(path, CardRng::Os)?;
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = line?;
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.eq_ignore_ascii_case("reset") {
            card.power_off();
            let atr = card.power_on()?;
            writeln!(out, "{}", hex::encode_upper(atr))?;
            continue;
        }
        let clean: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        let Ok(apdu) = hex::decode(&clean) else {
            bail!("line {}: not hex: {line}", n + 1);
        };
        let r = card.transmit(&apdu);
        writeln!(out, "{}", hex::encode_upper(&r))?;
        out.flush()?;
        if trace {
            if let Some(t) = card.take_trace().last() {
                eprintln!("{t}");
            }
        } else {
            card.take_trace();
        }
        card.save(path)?;
    }
    Ok(())
}
