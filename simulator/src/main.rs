//! `cos-sim`: the command line of the citizen-card COS simulator.
//!
//! * `personalise` builds a card image from a profile, only through APDUs, and can write the
//!   script out for a real reader (`scriptor`).
//! * `shell` drives an image: one hex APDU per line in, one hex response per line out.
//! * `info` shows what is on an image.
//! * `demo` personalises a fresh card and runs a day in a citizen's life.
//! * `blank` writes a factory-fresh card image; `vpcd` puts an image into a PC/SC reader.
//! * `replay` runs conformance vectors against a fresh card, an image, a PC/SC reader or the
//!   Cortex-M3 firmware in QEMU; `budgets` reports sizes and costs (docs/performance.md).
//! * `area` grants, hands over and revokes post-issuance application areas (`docs/areas.md`).

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
    /// Post-issuance application areas: the issuer's grant and revocation, the service unit's
    /// hand-over, and the area's door reader (docs/areas.md).
    Area {
        #[command(subcommand)]
        action: AreaAction,
    },
    /// Report the card's budgets: image size, page programs and (with --qemu) Cortex-M3
    /// instructions and stack per transaction (docs/performance.md).
    Budgets {
        /// The conformance vector directory the transactions are taken from.
        #[arg(long, default_value = "test-vectors")]
        vectors: PathBuf,
        /// Also measure on the Cortex-M3 firmware in QEMU (the ELF of simulator/firmware).
        #[arg(long, value_name = "FIRMWARE")]
        qemu: Option<PathBuf>,
    },
}

/// What to do with an application area.
#[derive(Subcommand)]
enum AreaAction {
    /// The issuer grants the area: CREATE FILE B8 at the MF (DF, quota, key file, initial key).
    Grant(AreaArgs),
    /// The service unit takes the area over: its own keys replace the initial key, then its files.
    Handover(AreaArgs),
    /// The issuer revokes the area: erase it and reclaim its space (default), or block / unblock.
    Revoke {
        #[command(flatten)]
        args: AreaArgs,
        /// erase | block | block-permanently | unblock
        #[arg(long, default_value = "erase")]
        mode: String,
    },
    /// Present the card at one of the area's door readers (profiles/areas/community-access.toml).
    Door {
        #[command(flatten)]
        args: AreaArgs,
        /// Gate number in its zone.
        #[arg(long, default_value_t = 0)]
        gate: u8,
        /// Zone: 1 building doors, 2 car park.
        #[arg(long, default_value_t = 1)]
        zone: u8,
        /// Date and time `YYYYMMDD hhmmss` (default: now).
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(clap::Args)]
struct AreaArgs {
    /// The card image (saved after the script).
    #[arg(long)]
    card: PathBuf,
    /// The area profile (e.g. profiles/areas/community-access.toml).
    #[arg(long)]
    profile: PathBuf,
    /// The card's own profile, for the issuer's MF keys (default: the built-in citizen card).
    #[arg(long)]
    issuer: Option<PathBuf>,
    /// Also write the party's APDU script (a conformance-vector file: `cos-sim replay` runs it on
    /// a reader) here.
    #[arg(long)]
    script: Option<PathBuf>,
    /// Print every APDU exchanged.
    #[arg(long)]
    trace: bool,
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
        Command::Area { action } => area(action),
        Command::Budgets { vectors, qemu } => cos_sim::budgets::run(&vectors, qemu.as_deref()),
    }
}

fn area(action: AreaAction) -> Result<()> {
    use cos_sim::area::{self, Revocation};
    let (args, what) = match &action {
        AreaAction::Grant(a) => (a, "grant"),
        AreaAction::Handover(a) => (a, "handover"),
        AreaAction::Revoke { args, .. } => (args, "revoke"),
        AreaAction::Door { args, .. } => (args, "door"),
    };
    let ap = area::AreaProfile::load(&args.profile)?;
    let mut card = SimCard::open(&args.card, CardRng::Os)?;
    if let AreaAction::Door { gate, zone, at, .. } = &action {
        use cos_sim::terminals::door::{Direction, DoorTerminal, Gate};
        let when = match at {
            Some(s) => {
                let (d, t) = s.split_once(' ').unwrap_or((s.as_str(), "120000"));
                cos_sim::terminals::purse::When::parse(d, t)
                    .ok_or_else(|| anyhow::anyhow!("--at: `YYYYMMDD hhmmss`"))?
            }
            None => now(),
        };
        let g = Gate {
            id: *gate,
            zone: *zone,
            direction: Direction::In,
        };
        let mut door = DoorTerminal::new(&ap, g)?;
        let r = door.present(&mut card, when);
        show_trace(&mut card, args.trace);
        card.save(&args.card)?;
        let p = r?;
        println!(
            "{} {}-{} {}: {} ({})",
            if p.granted { "OPEN  " } else { "CLOSED" },
            p.resident.building,
            p.resident.room,
            p.resident.name,
            p.reason,
            hex::encode_upper(p.record)
        );
        return Ok(());
    }
    let issuer = load_profile(args.issuer.as_deref())?;
    let script = match &action {
        AreaAction::Grant(_) => area::grant_script(&ap, &issuer),
        AreaAction::Handover(_) => area::handover_script(&ap),
        AreaAction::Revoke { mode, .. } => {
            let m = match mode.as_str() {
                "erase" => Revocation::Erase,
                "block" => Revocation::Block,
                "block-permanently" => Revocation::BlockPermanently,
                "unblock" => Revocation::Unblock,
                other => bail!("--mode {other}: erase, block, block-permanently or unblock"),
            };
            area::revoke_script(&ap, &issuer, m)
        }
        AreaAction::Door { .. } => unreachable!("handled above"),
    }
    .map_err(anyhow::Error::msg)?;
    if let Some(path) = &args.script {
        std::fs::write(path, &script).with_context(|| format!("writing {}", path.display()))?;
    }
    let display = format!("{what} of {}", args.profile.display());
    let r = area::run(&mut card, &display, &script);
    show_trace(&mut card, args.trace);
    card.save(&args.card)?;
    let out = r.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{what}: {} ({}) — {} APDUs, {} page programs; {}",
        ap.spec().name,
        cos_sim::info::display_name(&ap.df_name()),
        out.apdus,
        out.programs,
        area::state_on(&card, &ap).unwrap_or_else(|| "no such area on the card any more".into())
    );
    if let Some(path) = &args.script {
        println!(
            "script: {} (replay: cos-sim replay {} --reader NAME --destructive)",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

fn show_trace(card: &mut SimCard, on: bool) {
    for t in card.take_trace() {
        if on {
            println!("{t}");
        }
    }
}

/// The host clock as a terminal's `YYYYMMDD hhmmss` (UTC; good enough for a simulator).
fn now() -> cos_sim::terminals::purse::When {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let tod = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    cos_sim::terminals::purse::When::parse(
        &format!("{y:04}{m:02}{d:02}"),
        &format!("{:02}{:02}{:02}", tod / 3600, tod / 60 % 60, tod % 60),
    )
    .unwrap_or(cos_sim::terminals::purse::When {
        date: [0x20, 0x26, 0x01, 0x01],
        time: [0x12, 0, 0],
    })
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
