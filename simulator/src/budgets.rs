//! `cos-sim budgets`: what the card costs (docs/performance.md).
//!
//! * **Image**: the default profile personalised, and how many bytes of its NVM are in use — the
//!   header page, the journal, the file system's header and table, and every file body allocated.
//! * **Transactions**: page programs (in-process, counted by the simulated EEPROM) and, with
//!   `--qemu FIRMWARE`, Cortex-M3 instructions and peak stack (the firmware in QEMU, `-icount`) of
//!   a purchase, a load and a CAPP tap, per algorithm. They are measured on conformance vectors
//!   (`test-vectors/`), run on one personalised card per profile as a reader run does; the cost
//!   of a transaction is the sum over its commands (INITIALIZE ‖ DEBIT, INITIALIZE ‖ CREDIT,
//!   INITIALIZE ‖ UPDATE CAPP DATA CACHE ‖ DEBIT).

use crate::card::{CardRng, SimCard, SimNvm};
use crate::vectors::qemu::{CommandCost, Cost, CostLog, Qemu};
use crate::vectors::reader::{InProcess, Reader, ReaderError};
use crate::vectors::runner::{load, personalised_image, Options, Runner, Status, Target};
use anyhow::{anyhow, bail, Result};
use cos_core::fs::{self, FileKind, Slot};
use cos_core::nvm::{Nvm, Storage, Store};
use std::path::{Path, PathBuf};

/// Which commands make up a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// INITIALIZE FOR PURCHASE (`80 50 01`), DEBIT (`80 54`).
    Purchase,
    /// INITIALIZE FOR LOAD (`80 50 00`), CREDIT FOR LOAD (`80 52`).
    Load,
    /// INITIALIZE FOR CAPP PURCHASE (`80 50 03`), UPDATE CAPP DATA CACHE (`80 DC`), DEBIT (`80 54`).
    Capp,
}

impl Kind {
    /// Whether `apdu` is one of the transaction's commands.
    pub fn has(self, apdu: &[u8]) -> bool {
        let [cla, ins, p1, ..] = *apdu else {
            return false;
        };
        cla == 0x80
            && match self {
                Kind::Purchase => (ins == 0x50 && p1 == 0x01) || ins == 0x54,
                Kind::Load => (ins == 0x50 && p1 == 0x00) || ins == 0x52,
                Kind::Capp => (ins == 0x50 && p1 == 0x03) || ins == 0xDC || ins == 0x54,
            }
    }
}

/// One measured transaction: a vector and the transaction inside it.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// What the report calls it.
    pub label: &'static str,
    /// The vector file, relative to the vector directory.
    pub file: &'static str,
    /// The vector's id.
    pub id: &'static str,
    /// The transaction.
    pub kind: Kind,
}

/// The transactions of the report, grouped by the card's profile: `None` is the default profile
/// (the product card; the vectors then run with it as their profile), otherwise a profile file
/// relative to the vector directory.
pub const SPECS: &[(Option<&str>, &[Spec])] = &[
    (
        None,
        &[
            Spec {
                label: "EP purchase, 3DES (default card)",
                file: "pboc/purchase.toml",
                id: "ep-purchase-3des",
                kind: Kind::Purchase,
            },
            Spec {
                label: "EP load, 3DES (default card: load key without try counter)",
                file: "pboc/purchase.toml",
                id: "ep-purchase-3des",
                kind: Kind::Load,
            },
            Spec {
                label: "CAPP metro entry (amount 0), 3DES (default card)",
                file: "transit/capp.toml",
                id: "capp-tap-in-amount-zero",
                kind: Kind::Capp,
            },
            Spec {
                label: "CAPP metro exit, 3DES (default card)",
                file: "transit/capp.toml",
                id: "capp-purchase-written-out",
                kind: Kind::Capp,
            },
        ],
    ),
    (
        Some("profiles/vectors.toml"),
        &[
            Spec {
                label: "EP purchase, 3DES (vectors' card)",
                file: "pboc/purchase.toml",
                id: "ep-purchase-3des",
                kind: Kind::Purchase,
            },
            Spec {
                label: "EP purchase, SM4",
                file: "pboc/purchase.toml",
                id: "ep-purchase-sm4",
                kind: Kind::Purchase,
            },
            Spec {
                label: "EP purchase, AES",
                file: "pboc/purchase.toml",
                id: "ep-purchase-aes",
                kind: Kind::Purchase,
            },
            Spec {
                label: "EP load, 3DES, try-limited key",
                file: "pboc/purchase.toml",
                id: "ep-purchase-3des",
                kind: Kind::Load,
            },
            Spec {
                label: "EP load, SM4, try-limited key",
                file: "pboc/purchase.toml",
                id: "ep-purchase-sm4",
                kind: Kind::Load,
            },
            Spec {
                label: "EP load, AES, try-limited key",
                file: "pboc/purchase.toml",
                id: "ep-purchase-aes",
                kind: Kind::Load,
            },
            Spec {
                label: "CAPP metro exit, 3DES (vectors' card)",
                file: "transit/capp.toml",
                id: "capp-purchase-written-out",
                kind: Kind::Capp,
            },
        ],
    ),
];

/// The measured cost of one transaction.
#[derive(Clone, Debug)]
pub struct Measured {
    /// The spec's label.
    pub label: &'static str,
    /// Page programs in-process.
    pub programs: u32,
    /// On the emulated chip, when measured there: instructions, page programs, peak stack.
    pub chip: Option<Cost>,
}

/// NVM in use on a personalised card.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImageUse {
    /// Page size.
    pub page_size: u32,
    /// Header page and journal.
    pub store_overhead: u32,
    /// File-system header and file table.
    pub table: u32,
    /// Slots in the table, and how many are in use.
    pub slots: (u32, u32),
    /// Bodies of all EFs (key files included).
    pub bodies: u32,
    /// Space DFs reserved beyond their files' bodies.
    pub df_reserve: u32,
}

impl ImageUse {
    /// Header page + journal + table + bodies.
    pub fn used(&self) -> u32 {
        self.store_overhead + self.table + self.bodies
    }
}

/// Measure the NVM a chip image uses (page size 64, as the simulator's chip).
pub fn image_use(bytes: &[u8]) -> Result<ImageUse> {
    let store = Store::mount(SimNvm::from_bytes(bytes)).map_err(|(e, _)| anyhow!("{e:?}"))?;
    let ps = store.nvm().page_size() as u32;
    let s: &dyn Storage = &store;
    let h = fs::read_header(s).map_err(|sw| anyhow!("{sw:?}"))?;
    let mut u = ImageUse {
        page_size: ps,
        store_overhead: ps * (1 + u32::from(store.journal_pages())),
        table: fs::table_end(h.slots),
        slots: (u32::from(h.slots), 0),
        ..ImageUse::default()
    };
    for i in 0..h.slots {
        let Some(e) = fs::read_entry(s, Slot(i)).map_err(|sw| anyhow!("{sw:?}"))? else {
            continue;
        };
        u.slots.1 += 1;
        match e.kind {
            FileKind::Master => {}
            k if k.is_df() => {
                u.df_reserve += u32::from(e.size).saturating_sub(u32::from(e.state_word));
            }
            _ => u.bodies += u32::from(e.size),
        }
    }
    Ok(u)
}

/// The in-process card behind a reader that logs each APDU's page programs.
struct Metered {
    inner: InProcess,
    log: CostLog,
}

impl Reader for Metered {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let before = self.inner.card.programs();
        let r = self.inner.transmit(apdu)?;
        let n = r.len();
        self.log.borrow_mut().push(CommandCost {
            apdu: apdu.to_vec(),
            sw: u16::from_be_bytes([r[n - 2], r[n - 1]]),
            cost: Cost {
                programs: (self.inner.card.programs() - before) as u32,
                ..Cost::default()
            },
        });
        Ok(r)
    }
    fn reset(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.inner.reset()
    }
    fn power_cycle(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.inner.power_cycle()
    }
    fn sim(&mut self) -> Option<&mut SimCard> {
        self.inner.sim()
    }
}

/// Run the specs of one profile on `reader` (already holding the personalised card); returns each
/// spec's summed cost, from the per-APDU `log`.
fn run_specs(
    vectors: &Path,
    profile: Option<&Path>,
    specs: &[Spec],
    reader: Box<dyn Reader>,
    log: &CostLog,
) -> Result<Vec<Cost>> {
    let mut runner = Runner::new(Options {
        target: Target::Shared(reader),
        destructive: false,
        profile: profile.map(Path::to_path_buf),
        filter: None,
        seed: Some(1),
    })
    .map_err(|e| anyhow!(e))?;
    let mut files: Vec<&str> = specs.iter().map(|s| s.file).collect();
    files.dedup();
    let mut per_vector: Vec<(String, Vec<CommandCost>)> = Vec::new();
    for f in files {
        let mut loaded = load(&vectors.join(f), f).map_err(|e| anyhow!(e))?;
        loaded
            .file
            .vectors
            .retain(|v| specs.iter().any(|s| s.file == f && s.id == v.id));
        let mut start = log.borrow().len();
        let mut failure = None;
        runner.run_file(&loaded, &mut |o| {
            let now = log.borrow().len();
            if let Status::Fail(m) = &o.status {
                failure.get_or_insert(format!("{}#{}: {m}", o.file, o.id));
            }
            per_vector.push((
                format!("{}#{}", o.file, o.id),
                log.borrow()[start..now].to_vec(),
            ));
            start = now;
        });
        if let Some(m) = failure {
            bail!("a measured vector failed: {m}");
        }
    }
    specs
        .iter()
        .map(|s| {
            let key = format!("{}#{}", s.file, s.id);
            let (_, cmds) = per_vector
                .iter()
                .find(|(k, _)| *k == key)
                .ok_or_else(|| anyhow!("vector {key} did not run"))?;
            // The transaction's commands from its INITIALIZE up to its completing command
            // (DEBIT / CREDIT) included: a vector may go on with more.
            let mut c = Cost::default();
            let mut started = false;
            for cc in cmds.iter().filter(|cc| s.kind.has(&cc.apdu)) {
                let ins = cc.apdu.get(1).copied();
                started |= ins == Some(0x50);
                if !started {
                    continue;
                }
                c.instructions += cc.cost.instructions;
                c.programs += cc.cost.programs;
                c.stack = c.stack.max(cc.cost.stack);
                if matches!(ins, Some(0x52 | 0x54)) {
                    break;
                }
            }
            Ok(c)
        })
        .collect()
}

/// Measure every spec in-process, and on the emulated chip when `qemu` names the firmware.
/// Returns the measurements and, on the chip, the deepest stack over the whole run
/// (personalisation included).
pub fn measure(vectors: &Path, qemu: Option<&Path>) -> Result<(Vec<Measured>, Option<u32>)> {
    let mut out = Vec::new();
    let mut chip_peak: Option<u32> = None;
    for (profile, specs) in SPECS {
        let profile_path: PathBuf = match profile {
            Some(p) => vectors.join(p),
            None => {
                // The vectors run with the default profile: the runner takes profiles as files.
                let p = std::env::temp_dir().join(format!(
                    "cos-sim-budgets-{}-citizen-card.toml",
                    std::process::id()
                ));
                std::fs::write(&p, crate::vectors::runner::BUILTIN_PROFILE)?;
                p
            }
        };
        let prof = crate::profile::Profile::load(&profile_path)?;
        let profile_path = Some(profile_path);
        let image = personalised_image(&prof, true).map_err(|e| anyhow!(e))?;
        let log = CostLog::default();
        let card = SimCard::from_nvm(SimNvm::from_bytes(&image), CardRng::Os)?;
        let reader = Box::new(Metered {
            inner: InProcess::new(card),
            log: log.clone(),
        });
        let host = run_specs(vectors, profile_path.as_deref(), specs, reader, &log)?;
        let chip = match qemu {
            Some(fw) => {
                let mut q = Qemu::launch(fw, Some(1))?;
                let code: [u8; 8] = hex::decode(&prof.card.transport_code)?
                    .as_slice()
                    .try_into()
                    .map_err(|_| anyhow!("the transport code must be 8 bytes"))?;
                q.format(code)?;
                let script = crate::perso::script(&prof).map_err(|e| anyhow!(e))?;
                q.personalise(&script).map_err(|e| anyhow!(e))?;
                let log = q.costs();
                let costs = run_specs(vectors, profile_path.as_deref(), specs, Box::new(q), &log)?;
                let peak = log.borrow().iter().map(|c| c.cost.stack).max();
                chip_peak = chip_peak.max(peak);
                Some(costs)
            }
            None => None,
        };
        for (i, s) in specs.iter().enumerate() {
            out.push(Measured {
                label: s.label,
                programs: host[i].programs,
                chip: chip.as_ref().map(|c| c[i]),
            });
        }
    }
    Ok((out, chip_peak))
}

/// `cos-sim budgets [--vectors DIR] [--qemu FIRMWARE]`: print the report.
pub fn run(vectors: &Path, qemu: Option<&Path>) -> Result<()> {
    let prof = crate::profile::Profile::parse(
        "profiles/citizen-card.toml (built in)",
        crate::vectors::runner::BUILTIN_PROFILE,
    )?;
    let image = personalised_image(&prof, true).map_err(|e| anyhow!(e))?;
    let u = image_use(&image)?;
    println!(
        "personalised image of the default profile (page size {}):",
        u.page_size
    );
    println!(
        "  header page + journal {:>6} B\n  file-system header + table ({} slots, {} used) {:>6} B\n  file bodies (EFs, key files) {:>6} B\n  used {:>6} B  (goal ≤ 8192; DF space reserved but unallocated: {} B)",
        u.store_overhead, u.slots.0, u.slots.1, u.table, u.bodies, u.used(), u.df_reserve
    );
    let (rows, peak) = measure(vectors, qemu)?;
    println!();
    println!(
        "{:<48} {:>9} {:>9} {:>13} {:>7}",
        "transaction", "programs", "on chip", "instructions", "stack"
    );
    for r in &rows {
        let (p, i, st) = match r.chip {
            Some(c) => (
                c.programs.to_string(),
                c.instructions.to_string(),
                c.stack.to_string(),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<48} {:>9} {:>9} {:>13} {:>7}",
            r.label, r.programs, p, i, st
        );
    }
    if let Some(p) = peak {
        println!("deepest stack on the chip over the whole run (personalisation included): {p} B");
    }
    Ok(())
}
