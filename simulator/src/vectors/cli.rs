//! `cos-sim replay VECTORS… [--card IMAGE | --reader NAME | --shared] [--junit FILE]`.

use super::reader::{InProcess, Reader};
use super::report::{junit, line, Counts};
use super::runner::{collect, load, personalised_image, Loaded, Options, Outcome, Runner, Target};
use super::sw::describe;
use anyhow::{anyhow, bail, Context, Result};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Arguments of `cos-sim replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Vector files (TOML), scriptor scripts, or directories of them (searched recursively).
    #[arg(required_unless_present = "list_readers")]
    pub vectors: Vec<PathBuf>,
    /// Start every personalised vector from this card image (in-process) instead of a card
    /// personalised from the file's profile.
    #[arg(long, conflicts_with_all = ["reader", "shared"])]
    pub card: Option<PathBuf>,
    /// Run on the card in this PC/SC reader (its name or a unique part of it; build with
    /// `--features pcsc`). The card must be personalised with the vectors' profile.
    #[arg(long, conflicts_with = "shared")]
    pub reader: Option<String>,
    /// Run on the Cortex-M3 firmware in QEMU (`simulator/firmware`, the ELF file): one emulated
    /// chip for the run, formatted, then personalised from the profile through its own APDUs.
    #[arg(long, value_name = "FIRMWARE", conflicts_with_all = ["reader", "shared", "card"])]
    pub qemu: Option<PathBuf>,
    /// With --qemu: leave the emulated chip blank (formatted, not personalised), e.g. to replay a
    /// personalisation script first.
    #[arg(long, requires = "qemu")]
    pub qemu_blank: bool,
    /// With --qemu: print what each command cost on the chip (instructions, page programs) and
    /// the firmware's peak stack.
    #[arg(long, requires = "qemu")]
    pub costs: bool,
    /// Run every vector on one in-process card, as a reader run does (skips what a reader skips).
    #[arg(long)]
    pub shared: bool,
    /// Write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// The profile of the card under test, for every file (default: each file's `profile`).
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// On a reader's card (or --shared), also run vectors marked destructive.
    #[arg(long)]
    pub destructive: bool,
    /// Run only the vectors whose `file#id` contains this text.
    #[arg(long)]
    pub only: Option<String>,
    /// Seed the simulated cards' random numbers (default: the host's entropy).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the exchanges of failing vectors (-vv: of every vector).
    #[arg(long, short, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print the status words the card answered during the run.
    #[arg(long)]
    pub coverage: bool,
    /// List the PC/SC readers and exit.
    #[arg(long)]
    pub list_readers: bool,
}

#[cfg(feature = "pcsc")]
fn pcsc_reader(name: &str) -> Result<Box<dyn Reader>> {
    Ok(Box::new(super::reader::Pcsc::connect(name)?))
}

#[cfg(not(feature = "pcsc"))]
fn pcsc_reader(_: &str) -> Result<Box<dyn Reader>> {
    bail!("this cos-sim was built without PC/SC: build it with `cargo build -p cos-sim --features pcsc` (needs libpcsclite-dev)")
}

#[cfg(feature = "pcsc")]
fn list_readers() -> Result<Vec<String>> {
    Ok(super::reader::list_readers()?)
}

#[cfg(not(feature = "pcsc"))]
fn list_readers() -> Result<Vec<String>> {
    pcsc_reader("").map(|_| Vec::new())
}

/// Run `cos-sim replay`. Prints a line per vector and the summary line; an error (exit status 1)
/// when any vector failed.
pub fn run(args: ReplayArgs) -> Result<()> {
    if args.list_readers {
        for r in list_readers()? {
            println!("{r}");
        }
        return Ok(());
    }
    let mut qemu_costs = None;
    let target = match (&args.card, &args.reader, args.shared) {
        _ if args.qemu.is_some() => {
            let q = qemu_target(&args)?;
            qemu_costs = Some(q.costs());
            Target::Shared(Box::new(q))
        }
        (Some(img), _, _) => Target::Image(img.clone()),
        (None, Some(name), _) => Target::Shared(pcsc_reader(name)?),
        (None, None, true) => {
            let profile = match &args.profile {
                Some(p) => crate::profile::Profile::load(p)?,
                None => shared_profile(&args.vectors)?,
            };
            let bytes = personalised_image(&profile, true).map_err(|e| anyhow!(e))?;
            let card = crate::card::SimCard::from_nvm(
                crate::card::SimNvm::from_bytes(&bytes),
                crate::card::CardRng::Os,
            )?;
            Target::Shared(Box::new(InProcess::new(card)))
        }
        (None, None, false) => Target::Fresh,
    };
    let reader_name = match &target {
        Target::Shared(r) => Some(r.name()),
        _ => None,
    };
    let files = collect(&args.vectors).map_err(|e| anyhow!(e))?;
    let mut loaded: Vec<Loaded> = Vec::new();
    for (path, display) in &files {
        loaded.push(load(path, display).map_err(|e| anyhow!(e))?);
    }
    let mut runner = Runner::new(Options {
        target,
        destructive: args.destructive,
        profile: args.profile.clone(),
        filter: args.only.clone(),
        seed: args.seed,
    })
    .map_err(|e| anyhow!(e))?;
    let total: usize = loaded
        .iter()
        .map(|l| {
            l.file
                .vectors
                .iter()
                .filter(|v| runner.selected(&l.display, v))
                .count()
        })
        .sum();
    if let Some(n) = &reader_name {
        println!("replaying {total} vectors on the {n}");
    }
    let bar = (std::io::stderr().is_terminal() && total >= 20).then(|| {
        let b = indicatif::ProgressBar::new(total as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} vectors {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut outcomes: Vec<Outcome> = Vec::new();
    let verbose = args.verbose;
    for l in &loaded {
        runner.run_file(l, &mut |o| {
            let mut text = line(o);
            if verbose > 1 || (verbose > 0 && o.failed()) {
                for t in &o.transcript {
                    text.push_str("\n      ");
                    text.push_str(t);
                }
            }
            match &bar {
                Some(b) => {
                    b.suspend(|| println!("{text}"));
                    b.inc(1);
                }
                None => println!("{text}"),
            }
            outcomes.push(o.clone());
        });
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let c = Counts::of(&outcomes);
    if let (true, Some(log)) = (args.costs, &qemu_costs) {
        print!("{}", super::qemu::cost_table(&log.borrow()));
        let peak = log.borrow().iter().map(|c| c.cost.stack).max().unwrap_or(0);
        println!("peak stack over the run: {peak} B");
        if let Some(stats) = runner.shared_reader().and_then(|r| r.diagnostics()) {
            println!("{stats}");
        }
    }
    if args.coverage {
        println!("status words answered:");
        for sw in &runner.sw_seen {
            println!("  {}", describe(*sw));
        }
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit(&outcomes))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if c.skipped > 0 {
        println!("{} skipped", c.skipped);
    }
    if c.expected_failures > 0 {
        println!(
            "{} expected failures (known card bugs, counted as passed)",
            c.expected_failures
        );
    }
    println!("{}", c.summary());
    if c.failed > 0 {
        bail!("{} of {} vectors failed", c.failed, outcomes.len());
    }
    Ok(())
}

/// Boot the firmware in QEMU, format the chip with the profile's transport code and (unless
/// `--qemu-blank`) personalise it through APDUs.
fn qemu_target(args: &ReplayArgs) -> Result<super::qemu::Qemu> {
    let Some(fw) = &args.qemu else {
        bail!("no firmware");
    };
    let profile = match &args.profile {
        Some(p) => crate::profile::Profile::load(p)?,
        None => shared_profile(&args.vectors)?,
    };
    let mut q = super::qemu::Qemu::launch(fw, args.seed)?;
    let code: [u8; 8] = hex::decode(&profile.card.transport_code)?
        .as_slice()
        .try_into()
        .map_err(|_| anyhow!("the transport code must be 8 bytes"))?;
    q.format(code)?;
    if !args.qemu_blank {
        let script = crate::perso::script(&profile).map_err(|e| anyhow!(e))?;
        let (n, cost) = q.personalise(&script).map_err(|e| anyhow!(e))?;
        println!(
            "personalised the emulated chip with {n} APDUs ({} instructions, {} page programs)",
            cost.instructions, cost.programs
        );
    }
    Ok(q)
}

/// The profile the first vector file names (for `--shared` without `--profile`).
fn shared_profile(paths: &[PathBuf]) -> Result<crate::profile::Profile> {
    let files = collect(paths).map_err(|e| anyhow!(e))?;
    for (path, display) in &files {
        let l = load(path, display).map_err(|e| anyhow!(e))?;
        if let super::format::ProfileRef::File(p) = &l.file.profile {
            return Ok(crate::profile::Profile::load(p)?);
        }
    }
    Ok(crate::profile::Profile::parse(
        "profiles/citizen-card.toml (built in)",
        super::runner::BUILTIN_PROFILE,
    )?)
}
