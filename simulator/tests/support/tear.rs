//! The exhaustive tear loop (design notes §5, `docs/reliability.md`).
//!
//! A [`Scenario`] is a host flow: a prefix (select, authenticate, INITIALIZE …) that is never torn,
//! then [`Arm::at`], then the commands under test. For every page program `k` of those commands and
//! every tear mode, the loop restores the scenario's image, runs the flow with the power cut at
//! program `k`, powers the card up (recovery) and checks:
//!
//! 1. **atomicity of the command**: the card's logical state (`cos_sim::snapshot`, try counters
//!    aside) equals the state before the torn APDU or after it, never anything in between (for a
//!    flow of several APDUs, "before" and "after" are those of the APDU that was cut);
//! 2. **try counters**: each is as before, as after, or one try below "before" (consumed before a
//!    comparison whose result was lost) — and for an APDU whose secret comparison *failed*, the
//!    consumed try never comes back at any later program of that APDU (no refund by a cut);
//! 3. **the store**: a cut that skips program `k` recovers exactly the state a complete program
//!    `k − 1` leaves, and a torn program `k` recovers the state after `k − 1` or after `k`;
//! 4. **a second cut during the recovery** (at each program the recovery needs, in each mode)
//!    recovers, at the next power-up, exactly what an uninterrupted recovery gives;
//! 5. **the card answers again** (SELECT MF) and **transacts again** (the scenario's `again`).

use super::{card, snapshot, sw_of};
use cos_core::nvm::{Store, TearMode};
use cos_core::SeededRng;
use cos_sim::card::{CardRng, SimCard, SimNvm};
use cos_sim::snapshot::{decremented, Snapshot};
use std::collections::BTreeMap;

/// The random seed of every card in the loop (challenges and purse randoms repeat exactly).
const SEED: u64 = 7;

/// Why a flow stopped on purpose.
pub const STOP: &str = "stop at the arm point";

/// Where the commands under test start.
pub struct Arm {
    mode: ArmMode,
    /// Program counter when the flow reached [`Arm::at`].
    programs: Option<u64>,
}

enum ArmMode {
    /// Dry run: remember where the commands start.
    Count,
    /// Stop the flow at the arm point.
    Stop,
    /// Cut the power at program `k` after the arm point.
    Tear(u64, TearMode),
}

impl Arm {
    /// The commands under test start here.
    pub fn at(&mut self, c: &mut SimCard) -> Result<(), String> {
        self.programs = Some(c.programs());
        c.set_tracing(true);
        c.take_trace();
        match self.mode {
            ArmMode::Count => Ok(()),
            ArmMode::Stop => Err(STOP.into()),
            ArmMode::Tear(k, mode) => {
                c.arm_tear(k, mode);
                Ok(())
            }
        }
    }
}

/// A host flow: prefix, `arm.at(card)?`, commands under test. It returns `Ok` when every command
/// answered as the scenario expects (a wrong PIN answering `63C2` is "as expected").
pub type Flow = Box<dyn Fn(&mut SimCard, &mut Arm) -> Result<(), String> + Send + Sync>;

/// A check that a recovered card transacts again.
pub type Again = Box<dyn Fn(&mut SimCard) -> Result<(), String> + Send + Sync>;

/// One command (or short command flow) under test.
pub struct Scenario {
    /// What is torn, e.g. "e-purse: DEBIT FOR PURCHASE (EP)".
    pub name: String,
    /// The card image the flow starts from.
    pub image: &'static [u8],
    /// The flow.
    pub flow: Flow,
    /// A transaction that must succeed on the recovered card.
    pub again: Again,
}

/// How thoroughly to tear.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// `Partial` seeds tried at every program, besides `Complete` and `Skip`.
    pub partial_seeds: u64,
    /// Tear modes of the second cut at each recovery program: all four (`Skip`, `Complete`, two
    /// `Partial` seeds) or one `Partial`.
    pub full_second_cut: bool,
    /// Run `again` after every n-th cut.
    pub again_every: u64,
}

impl Budget {
    /// The `cargo test` subset (about a second in debug for every scenario).
    pub const FAST: Budget = Budget {
        partial_seeds: 1,
        full_second_cut: false,
        again_every: 2,
    };
    /// The whole campaign (`COS_TEAR_FULL=1` or the ignored `full_campaign` test).
    pub const FULL: Budget = Budget {
        partial_seeds: 8,
        full_second_cut: true,
        again_every: 1,
    };

    /// The budget the environment asks for.
    pub fn from_env() -> Budget {
        if std::env::var_os("COS_TEAR_FULL").is_some_and(|v| v != "0") {
            Budget::FULL
        } else {
            Budget::FAST
        }
    }
}

/// What the loop measured for one scenario.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The scenario.
    pub name: String,
    /// APDUs under test.
    pub apdus: usize,
    /// Page programs of the commands under test (uninterrupted).
    pub programs: u64,
    /// Power cuts during the commands (program × mode).
    pub cuts: usize,
    /// Second cuts during the recovery after a first cut.
    pub second_cuts: usize,
    /// Cuts that left the torn APDU's "before" state.
    pub old: usize,
    /// Cuts that left its "after" state.
    pub new: usize,
    /// Cuts that left "before" with one try consumed.
    pub try_consumed: usize,
    /// Everything that went wrong (the goal is none).
    pub violations: Vec<String>,
}

fn fresh(image: &[u8]) -> SimCard {
    card(image, SEED)
}

fn modes(k: u64, b: Budget) -> Vec<TearMode> {
    let mut m = vec![TearMode::Complete, TearMode::Skip];
    m.extend((1..=b.partial_seeds).map(|s| TearMode::Partial { seed: s * 1000 + k }));
    m
}

/// Page programs a recovery of `image` performs.
fn recovery_programs(image: &[u8]) -> u64 {
    match Store::mount(SimNvm::from_bytes(image)) {
        Ok(s) => s.into_nvm().chip().programs(),
        Err((_, n)) => n.chip().programs(),
    }
}

/// Power up a torn image with a cut at program `j` of its recovery, then power it up again.
fn recover_twice(image: &[u8], j: u64, mode: TearMode) -> Result<SimCard, String> {
    let mut nvm = SimNvm::from_bytes(image);
    nvm.chip_mut().arm_tear(j, mode);
    let nvm = match Store::mount(nvm) {
        Ok(s) => s.into_nvm(),
        Err((_, n)) => n,
    };
    SimCard::from_nvm(nvm, CardRng::Seeded(SeededRng::new(SEED)))
        .map_err(|e| format!("does not mount after a cut during recovery: {e}"))
}

/// The card answers SELECT MF (9000; 6A81 once terminated).
fn answers(c: &mut SimCard, s: &Snapshot) -> Result<(), String> {
    let r = c.transmit(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00]);
    let want = if s.card_lcs() == 0x0F { 0x6A81 } else { 0x9000 };
    match sw_of(&r) {
        Some(sw) if sw == want => Ok(()),
        other => Err(format!(
            "SELECT MF answered {other:04X?}, expected {want:04X}"
        )),
    }
}

/// Try counters: each as before, as after, or one below before.
pub fn tries_ok(before: &Snapshot, after: &Snapshot, got: &Snapshot) -> Result<(), String> {
    for (k, &v) in &got.tries {
        let a = before.tries.get(k).copied();
        let b = after.tries.get(k).copied();
        let ok = Some(v) == a || Some(v) == b || a.map(decremented) == Some(v);
        if !ok {
            return Err(format!(
                "try counter of key {:02X}/{:02X} (slot {}) is {v:02X}: before {a:02X?}, after {b:02X?}",
                k.key_type, k.id, k.df
            ));
        }
    }
    Ok(())
}

/// Run the tear loop of one scenario.
pub fn run(s: &Scenario, b: Budget) -> Report {
    let mut rep = Report {
        name: s.name.clone(),
        ..Report::default()
    };
    let mut viol: Vec<String> = Vec::new();

    // Dry run: the commands under test, their page programs and their APDUs.
    let mut c = fresh(s.image);
    let mut arm = Arm {
        mode: ArmMode::Count,
        programs: None,
    };
    if let Err(e) = (s.flow)(&mut c, &mut arm) {
        rep.violations
            .push(format!("the uninterrupted flow fails: {e}"));
        return rep;
    }
    let Some(p0) = arm.programs else {
        rep.violations
            .push("the flow never reaches its arm point".into());
        return rep;
    };
    let n = c.programs() - p0;
    let trace = c.take_trace();
    rep.programs = n;
    rep.apdus = trace.len();

    // The state before and after each APDU under test (replayed from the arm point).
    let mut c = fresh(s.image);
    let mut arm = Arm {
        mode: ArmMode::Stop,
        programs: None,
    };
    match (s.flow)(&mut c, &mut arm) {
        Err(e) if e == STOP => {}
        other => {
            rep.violations.push(format!(
                "the flow does not stop at its arm point: {other:?}"
            ));
            return rep;
        }
    }
    let mut states = vec![snapshot(&c)];
    for (i, e) in trace.iter().enumerate() {
        let r = c.transmit(&e.command);
        if r != e.response {
            rep.violations.push(format!(
                "APDU {i} answers differently on replay: {} vs {}",
                hex::encode_upper(&r),
                hex::encode_upper(&e.response)
            ));
            return rep;
        }
        states.push(snapshot(&c));
    }

    // D(k): the durable state after program k completes (from the Complete cuts).
    let mut durable: Vec<(usize, Snapshot)> = Vec::new();
    let mut cut_no = 0u64;
    for k in 0..n {
        // D(k − 1): the durable state before program k.
        let prev = durable.last().map_or(&states[0], |(_, d)| d).clone();
        for mode in modes(k, b) {
            cut_no += 1;
            rep.cuts += 1;
            let ctx = format!("program {k} {mode:?}");
            let mut c = fresh(s.image);
            let mut arm = Arm {
                mode: ArmMode::Tear(k, mode),
                programs: None,
            };
            let r = (s.flow)(&mut c, &mut arm);
            if c.is_powered() {
                viol.push(format!("{ctx}: the flow went on after the cut ({r:?})"));
                continue;
            }
            let t = c.take_trace();
            let Some(i) = t.len().checked_sub(1) else {
                viol.push(format!("{ctx}: no APDU was cut"));
                continue;
            };
            if !t[i].response.is_empty() {
                viol.push(format!("{ctx}: the last APDU has an answer"));
                continue;
            }
            let torn = c.image().bytes;
            if let Err(e) = c.power_on() {
                viol.push(format!("{ctx}: the card does not power up: {e}"));
                continue;
            }
            let got = snapshot(&c);
            let (before, after) = (&states[i], &states[i + 1]);
            if got.same_except_tries(before) {
                if got.tries == before.tries {
                    rep.old += 1;
                } else if got.tries == after.tries && before.same_except_tries(after) {
                    rep.new += 1;
                } else {
                    rep.try_consumed += 1;
                }
            } else if got.same_except_tries(after) {
                rep.new += 1;
            } else {
                viol.push(format!(
                    "{ctx}: APDU {i} torn: neither before nor after ({:?} vs before; {:?} vs after)",
                    before.diff(&got),
                    after.diff(&got)
                ));
            }
            if let Err(e) = tries_ok(before, after, &got) {
                viol.push(format!("{ctx}: {e}"));
            }
            // The store: Skip at k ≡ Complete at k − 1; a torn program ∈ {D(k−1), D(k)}.
            match mode {
                TearMode::Complete => durable.push((i, got.clone())),
                TearMode::Skip => {
                    if got != prev {
                        viol.push(format!("{ctx}: a skipped program recovers to another state than a completed program {}", k.wrapping_sub(1) as i64));
                    }
                }
                TearMode::Partial { .. } => {
                    let cur = durable.last().map(|(_, d)| d);
                    if got != prev && Some(&got) != cur {
                        viol.push(format!(
                            "{ctx}: a torn program recovers to neither neighbouring durable state"
                        ));
                    }
                }
            }
            // The card answers, and transacts again.
            if let Err(e) = answers(&mut c, &got) {
                viol.push(format!("{ctx}: {e}"));
            }
            if cut_no.is_multiple_of(b.again_every) {
                if let Err(e) = (s.again)(&mut c) {
                    viol.push(format!("{ctx}: the recovered card does not transact: {e}"));
                }
            }
            // A second cut during the recovery.
            let r = recovery_programs(&torn);
            let js: Vec<(u64, TearMode)> = if b.full_second_cut {
                (0..r)
                    .flat_map(|j| {
                        [
                            (j, TearMode::Skip),
                            (j, TearMode::Complete),
                            (j, TearMode::Partial { seed: j + 1 }),
                            (j, TearMode::Partial { seed: j + 2 }),
                        ]
                    })
                    .collect()
            } else {
                (0..r)
                    .map(|j| (j, TearMode::Partial { seed: k + j }))
                    .collect()
            };
            for (j, m2) in js {
                rep.second_cuts += 1;
                match recover_twice(&torn, j, m2) {
                    Ok(mut c2) => {
                        let again = snapshot(&c2);
                        if again != got {
                            viol.push(format!(
                                "{ctx}, recovery cut at {j} {m2:?}: recovers differently ({:?})",
                                got.diff(&again)
                            ));
                        }
                        if let Err(e) = answers(&mut c2, &again) {
                            viol.push(format!("{ctx}, recovery cut at {j} {m2:?}: {e}"));
                        }
                    }
                    Err(e) => viol.push(format!("{ctx}, recovery cut at {j} {m2:?}: {e}")),
                }
            }
        }
    }

    rep.violations = viol;
    // No refund: within an APDU whose secret comparison failed (a counter ends lower than it
    // started), that counter never goes back up from one program to the next.
    let mut last: BTreeMap<(usize, cos_sim::snapshot::KeyId), u8> = BTreeMap::new();
    for (i, d) in &durable {
        for (key, &t) in &d.tries {
            let (before, after) = (states[*i].tries.get(key), states[*i + 1].tries.get(key));
            let failed = matches!((before, after), (Some(a), Some(b)) if (b & 0x0F) < (a & 0x0F));
            if let Some(&prev) = last.get(&(*i, *key)) {
                if failed && (t & 0x0F) > (prev & 0x0F) {
                    rep.violations.push(format!(
                        "APDU {i}: a consumed try of key {:02X}/{:02X} came back ({prev:02X} → {t:02X})",
                        key.key_type, key.id
                    ));
                }
            }
            last.insert((*i, *key), t);
        }
    }
    rep
}

/// The table row of a report (docs/reliability.md).
pub fn row(r: &Report) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.name,
        r.apdus,
        r.programs,
        r.cuts,
        r.second_cuts,
        r.old,
        r.new,
        r.try_consumed,
        r.violations.len()
    )
}

/// Run scenarios, print their table, fail on any violation.
pub fn campaign(title: &str, scenarios: Vec<Scenario>, b: Budget) {
    let reports: Vec<Report> = scenarios.iter().map(|s| run(s, b)).collect();
    let mut out = format!(
        "\n{title} ({b:?})\n| command | APDUs | programs | cuts | recovery cuts | old | new | try consumed | violations |\n|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in &reports {
        out.push_str(&row(r));
        out.push('\n');
    }
    let total_cuts: usize = reports.iter().map(|r| r.cuts + r.second_cuts).sum();
    let total_v: usize = reports.iter().map(|r| r.violations.len()).sum();
    out.push_str(&format!(
        "total: {} scenarios, {total_cuts} tear points, {total_v} violations\n",
        reports.len()
    ));
    eprintln!("{out}");
    let bad: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.violations
                .iter()
                .take(5)
                .map(move |v| format!("{}: {v}", r.name))
        })
        .collect();
    assert!(bad.is_empty(), "violations:\n{}", bad.join("\n"));
    for r in &reports {
        assert!(
            r.programs > 0,
            "{}: the commands under test write nothing",
            r.name
        );
    }
}
