//! Runs vectors against a reader: sets up the card each vector asks for, sends every step,
//! matches the answers, binds captures, evaluates checks, and explains the first difference.
//!
//! Targets: a fresh in-process card for every vector (the default: vectors are independent), a
//! given image (every personalised vector starts from it), or one shared card for the whole run
//! (a PC/SC reader, or the in-process card in `--shared` mode, which shows what a reader run
//! does): then each vector starts with a cold reset, and the vectors a reader cannot set up
//! (factory, unissued or image cards, protocol switches) or that would spoil the card for later
//! vectors (`destructive`) are skipped.

use super::expr::{eval, eval_bytes, Value, Vars};
use super::format::{
    Action, CaptureSpec, Expect, Kind, ProfileRef, Setup, Step, Vector, VectorFile,
};
use super::reader::{InProcess, Reader, ReaderError};
use super::sw::describe;
use super::template::Mismatch;
use crate::card::{CardRng, SimCard, SimNvm};
use crate::perso;
use crate::profile::Profile;
use crate::terminals::find_tag;
use cos_core::{FormatConfig, SeededRng};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

/// The default profile, compiled in (as the `cos-sim` command line has it).
pub const BUILTIN_PROFILE: &str = include_str!("../../../profiles/citizen-card.toml");

/// Terminal-side defaults every vector can use (and override in `vars`).
pub const DEFAULT_VARS: &[(&str, &str)] = &[
    ("terminal", "0x112233445566"),
    ("date", "0x20260316"),
    ("time", "0x120000"),
];

/// The set's list of status words to reach (not a vector file).
pub const COVERAGE_FILE: &str = "coverage.toml";

/// Where the vectors run.
pub enum Target {
    /// A fresh in-process card for every vector, as its `setup` asks.
    Fresh,
    /// In-process; personalised vectors start from this image instead of the profile's card.
    Image(PathBuf),
    /// One card for the whole run (PC/SC, or the in-process card in shared mode).
    Shared(Box<dyn Reader>),
}

/// Run options.
pub struct Options {
    /// Where.
    pub target: Target,
    /// Run destructive vectors on a shared card too.
    pub destructive: bool,
    /// Use this profile for every file.
    pub profile: Option<PathBuf>,
    /// Run only vectors whose `file#id` contains this.
    pub filter: Option<String>,
    /// Seed the in-process cards' random numbers (default: the host's entropy, as a chip's TRNG:
    /// the vectors must not depend on the card's randoms).
    pub seed: Option<u64>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            target: Target::Fresh,
            destructive: false,
            profile: None,
            filter: None,
            seed: None,
        }
    }
}

/// What happened to one vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// It passed.
    Pass,
    /// It failed: the first difference, explained.
    Fail(String),
    /// It was not run: why.
    Skip(String),
    /// A known card bug showed as expected: (the reason given, the failure).
    ExpectedFailure(String, String),
    /// Marked `expected_failure` but it passed: the bug seems fixed.
    UnexpectedPass(String),
}

/// One vector's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The file, as displayed.
    pub file: String,
    /// The vector id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The clause it checks.
    pub clause: String,
    /// What it is.
    pub kind: Kind,
    /// The result.
    pub status: Status,
    /// How long it took.
    pub seconds: f64,
    /// The exchanges (`> C-APDU`, `< R-APDU`).
    pub transcript: Vec<String>,
}

impl Outcome {
    /// Counts as passed (including an expected failure).
    pub fn passed(&self) -> bool {
        matches!(self.status, Status::Pass | Status::ExpectedFailure(..))
    }
    /// Counts as failed (including an unexpected pass).
    pub fn failed(&self) -> bool {
        matches!(self.status, Status::Fail(_) | Status::UnexpectedPass(_))
    }
}

/// A file of vectors ready to run, with its display name.
pub struct Loaded {
    /// Displayed as.
    pub display: String,
    /// The vectors.
    pub file: VectorFile,
}

/// The runner: caches profiles and personalised images across files.
pub struct Runner {
    opts: Options,
    profiles: HashMap<String, Rc<Profile>>,
    images: HashMap<(String, bool), Vec<u8>>,
    base_image: Option<Vec<u8>>,
    last: Option<Box<dyn Reader>>,
    cards: u64,
    /// Every status word the card answered during the run.
    pub sw_seen: BTreeSet<u16>,
}

fn profile_key(r: &ProfileRef) -> String {
    match r {
        ProfileRef::Builtin => "builtin:citizen-card".into(),
        ProfileRef::File(p) => p.display().to_string(),
    }
}

/// A factory-fresh chip with the profile's transport code.
pub fn factory_card(p: &Profile, rng: CardRng) -> Result<SimCard, String> {
    let code = hex::decode(&p.card.transport_code).map_err(|e| e.to_string())?;
    let mut cfg = FormatConfig::default();
    let code: [u8; 8] = code
        .as_slice()
        .try_into()
        .map_err(|_| "the transport code must be 8 bytes".to_string())?;
    cfg.transport_code = code;
    SimCard::factory(rng, &cfg).map_err(|e| e.to_string())
}

/// The chip bytes of a card personalised from `p` (issued, or without its ACTIVATE FILE).
pub fn personalised_image(p: &Profile, issued: bool) -> Result<Vec<u8>, String> {
    let mut card = factory_card(p, CardRng::Seeded(SeededRng::new(1)))?;
    card.set_tracing(false);
    let mut script = perso::script(p)?;
    if !issued {
        script.steps.retain(|s| s.apdu != [0x00, 0x44, 0x00, 0x00]);
    }
    script
        .run(&mut card)
        .map_err(|e| format!("personalisation failed: {e}"))?;
    Ok(card.image().bytes)
}

impl Runner {
    /// A runner.
    pub fn new(opts: Options) -> Result<Runner, String> {
        let base_image = match &opts.target {
            Target::Image(p) => {
                let c = SimCard::open(p, CardRng::Os).map_err(|e| e.to_string())?;
                Some(c.image().bytes)
            }
            _ => None,
        };
        Ok(Runner {
            opts,
            profiles: HashMap::new(),
            images: HashMap::new(),
            base_image,
            last: None,
            cards: 0,
            sw_seen: BTreeSet::new(),
        })
    }

    fn profile(&mut self, r: &ProfileRef) -> Result<Rc<Profile>, String> {
        let r = match &self.opts.profile {
            Some(p) => ProfileRef::File(p.clone()),
            None => r.clone(),
        };
        let key = profile_key(&r);
        if let Some(p) = self.profiles.get(&key) {
            return Ok(p.clone());
        }
        let p = match &r {
            ProfileRef::Builtin => {
                Profile::parse("profiles/citizen-card.toml (built in)", BUILTIN_PROFILE)
            }
            ProfileRef::File(path) => Profile::load(path),
        }
        .map_err(|e| e.to_string())?;
        let p = Rc::new(p);
        self.profiles.insert(key, p.clone());
        Ok(p)
    }

    fn rng(&mut self) -> CardRng {
        self.cards += 1;
        match self.opts.seed {
            Some(s) => CardRng::Seeded(SeededRng::new(s.wrapping_add(self.cards))),
            None => CardRng::Os,
        }
    }

    fn image(&mut self, r: &ProfileRef, p: &Profile, issued: bool) -> Result<Vec<u8>, String> {
        let key = (profile_key(r), issued);
        if let Some(i) = self.images.get(&key) {
            return Ok(i.clone());
        }
        let img = personalised_image(p, issued)?;
        self.images.insert(key, img.clone());
        Ok(img)
    }

    fn fresh(
        &mut self,
        setup: &Setup,
        r: &ProfileRef,
        p: &Profile,
    ) -> Result<Box<dyn Reader>, String> {
        let bytes = match setup {
            Setup::Personalised => match &self.base_image {
                Some(b) => b.clone(),
                None => self.image(r, p, true)?,
            },
            Setup::Unissued => self.image(r, p, false)?,
            Setup::Factory | Setup::Script => {
                let rng = self.rng();
                return Ok(Box::new(InProcess::new(factory_card(p, rng)?)));
            }
            Setup::Image(path) => {
                let rng = self.rng();
                let c = SimCard::open(path, rng).map_err(|e| e.to_string())?;
                return Ok(Box::new(InProcess::new(c)));
            }
            Setup::Continue | Setup::NoCard => return Err("internal: no card to make".into()),
        };
        let rng = self.rng();
        let c = SimCard::from_nvm(SimNvm::from_bytes(&bytes), rng).map_err(|e| e.to_string())?;
        Ok(Box::new(InProcess::new(c)))
    }

    /// The one card's reader of a shared run (`--reader`, `--qemu`, `--shared`).
    pub fn shared_reader(&mut self) -> Option<&mut dyn Reader> {
        match &mut self.opts.target {
            Target::Shared(r) => Some(&mut **r),
            _ => None,
        }
    }

    /// Whether a vector passes the filter.
    pub fn selected(&self, display: &str, v: &Vector) -> bool {
        match &self.opts.filter {
            Some(f) => format!("{display}#{}", v.id).contains(f.as_str()),
            None => true,
        }
    }

    /// Run every vector of a file, reporting each outcome as it is known.
    pub fn run_file(&mut self, loaded: &Loaded, on_done: &mut dyn FnMut(&Outcome)) {
        let f = &loaded.file;
        let needs_profile = f.vectors.iter().any(|v| v.setup != Setup::NoCard)
            || self.opts.profile.is_some()
            || f.profile != ProfileRef::Builtin;
        let profile = if needs_profile {
            match self.profile(&f.profile) {
                Ok(p) => Some(p),
                Err(e) => {
                    for v in &f.vectors {
                        if self.selected(&loaded.display, v) {
                            on_done(&self.outcome(
                                loaded,
                                v,
                                Status::Fail(format!("profile: {e}")),
                                0.0,
                                Vec::new(),
                            ));
                        }
                    }
                    return;
                }
            }
        } else {
            None
        };
        let mut base = Vars {
            vars: BTreeMap::new(),
            profile: profile.as_deref(),
        };
        let mut base_err = None;
        if let Some(p) = profile.as_deref() {
            base.vars.insert("asn".into(), Value::Bytes(p.asn()));
            base.vars.insert(
                "asn8".into(),
                Value::Bytes(p.diversification_input().to_vec()),
            );
            base.vars.insert(
                "transport_code".into(),
                Value::Bytes(hex::decode(&p.card.transport_code).unwrap_or_default()),
            );
        }
        for (k, v) in DEFAULT_VARS {
            if let Ok(e) = super::expr::parse(v) {
                if let Ok(val) = eval(&e, &base) {
                    base.vars.insert((*k).into(), val);
                }
            }
        }
        for (k, e) in &f.vars {
            match eval(e, &base) {
                Ok(v) => {
                    base.vars.insert(k.clone(), v);
                }
                Err(m) => {
                    base_err = Some(format!("file vars `{k}`: {m}"));
                    break;
                }
            }
        }
        for v in &f.vectors {
            if !self.selected(&loaded.display, v) {
                continue;
            }
            let start = Instant::now();
            let mut transcript = Vec::new();
            let status = match &base_err {
                Some(e) => Status::Fail(e.clone()),
                None => self.run_vector(
                    &f.profile,
                    profile.as_deref(),
                    &base.vars,
                    v,
                    &mut transcript,
                ),
            };
            let status = match (status, &v.expected_failure) {
                (Status::Fail(m), Some(why)) => Status::ExpectedFailure(why.clone(), m),
                (Status::Pass, Some(why)) => Status::UnexpectedPass(format!(
                    "marked expected_failure ({why}) but passed: remove the mark"
                )),
                (s, _) => s,
            };
            let o = self.outcome(loaded, v, status, start.elapsed().as_secs_f64(), transcript);
            on_done(&o);
        }
    }

    fn outcome(
        &self,
        loaded: &Loaded,
        v: &Vector,
        status: Status,
        seconds: f64,
        transcript: Vec<String>,
    ) -> Outcome {
        Outcome {
            file: loaded.display.clone(),
            id: v.id.clone(),
            title: v.title.clone(),
            clause: v.clause.clone(),
            kind: v.kind,
            status,
            seconds,
            transcript,
        }
    }

    fn skip_reason(&self, v: &Vector, reader: &mut dyn Reader) -> Option<String> {
        match v.setup {
            Setup::Factory | Setup::Unissued | Setup::Image(_) => {
                return Some(format!(
                    "needs a fresh {} card: in-process only",
                    match v.setup {
                        Setup::Factory => "factory",
                        Setup::Unissued => "unissued",
                        _ => "image",
                    }
                ))
            }
            _ => {}
        }
        if v.destructive && !self.opts.destructive {
            return Some(
                "destructive (changes the card for later vectors): run with --destructive".into(),
            );
        }
        if reader.sim().is_none() {
            if v.needs_protocol_switch() {
                return Some("switches the reader protocol: in-process only".into());
            }
            if let Some(why) = &v.in_process_only {
                return Some(format!("in-process only: {why}"));
            }
        }
        None
    }

    fn run_vector(
        &mut self,
        pref: &ProfileRef,
        profile: Option<&Profile>,
        base: &BTreeMap<String, Value>,
        v: &Vector,
        transcript: &mut Vec<String>,
    ) -> Status {
        let mut scope = Vars {
            vars: base.clone(),
            profile,
        };
        for (k, e) in &v.vars {
            match eval(e, &scope) {
                Ok(val) => {
                    scope.vars.insert(k.clone(), val);
                }
                Err(m) => return Status::Fail(format!("vars `{k}`: {m}")),
            }
        }
        if v.setup == Setup::NoCard {
            return match run_steps(None, &v.steps, &mut scope, transcript, &mut self.sw_seen) {
                Ok(()) => Status::Pass,
                Err(m) => Status::Fail(m),
            };
        }
        let Some(profile) = profile else {
            return Status::Fail("no profile".into());
        };
        if let Target::Shared(reader) = &mut self.opts.target {
            let mut reader = std::mem::replace(reader, Box::new(NoReader));
            let status = if let Some(why) = self.skip_reason(v, &mut *reader) {
                Status::Skip(why)
            } else {
                let prep = if v.setup == Setup::Continue {
                    Ok(())
                } else {
                    if let Some(sim) = reader.sim() {
                        sim.set_protocol(cos_core::apdu::Protocol::T0);
                    }
                    reader.power_cycle().map(|_| ()).map_err(|e| e.to_string())
                };
                match prep {
                    Err(e) => Status::Fail(format!("setup: {e}")),
                    Ok(()) => match run_steps(
                        Some(&mut *reader),
                        &v.steps,
                        &mut scope,
                        transcript,
                        &mut self.sw_seen,
                    ) {
                        Ok(()) => Status::Pass,
                        Err(m) => Status::Fail(m),
                    },
                }
            };
            if let Target::Shared(slot) = &mut self.opts.target {
                *slot = reader;
            }
            return status;
        }
        let reader = if v.setup == Setup::Continue {
            match self.last.take() {
                Some(r) => Ok(r),
                None => Err("`setup = \"continue\"` but no earlier vector left a card".to_string()),
            }
        } else {
            self.fresh(&v.setup, pref, profile)
        };
        let mut reader = match reader {
            Ok(r) => r,
            Err(e) => return Status::Fail(format!("setup: {e}")),
        };
        let r = run_steps(
            Some(&mut *reader),
            &v.steps,
            &mut scope,
            transcript,
            &mut self.sw_seen,
        );
        self.last = Some(reader);
        match r {
            Ok(()) => Status::Pass,
            Err(m) => Status::Fail(m),
        }
    }
}

/// A placeholder while the shared reader is lent out.
struct NoReader;

impl Reader for NoReader {
    fn name(&self) -> String {
        "none".into()
    }
    fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, ReaderError> {
        Err(ReaderError::Io("no reader".into()))
    }
    fn reset(&mut self) -> Result<Vec<u8>, ReaderError> {
        Err(ReaderError::Io("no reader".into()))
    }
}

fn spaced(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn step_name(s: &Step, apdu: Option<&[u8]>) -> String {
    let mut n = format!("step {}", s.number);
    if let Some((i, k)) = s.part {
        n.push_str(&format!(" part {i}/{k}"));
    }
    let what = match (&s.action, apdu) {
        (Action::Send(_), Some(a)) => {
            let name = crate::trace::command_name(a);
            let shown: Vec<u8> = a.iter().take(12).copied().collect();
            format!(
                "{name} {}{}",
                spaced(&shown),
                if a.len() > 12 { " …" } else { "" }
            )
        }
        (Action::Send(t), None) => format!("send {t}"),
        (Action::Reset { cold: true }, _) => "cold reset".into(),
        (Action::Reset { cold: false }, _) => "warm reset".into(),
        (Action::Protocol(p), _) => format!("protocol {p:?}"),
        (Action::Compute(e), _) => format!("compute {e}"),
    };
    match &s.origin {
        Some(o) => format!("{n} ({o}: {what})"),
        None => format!("{n} ({what})"),
    }
}

/// Run steps in order; the first failure is returned, explained.
pub fn run_steps<'r>(
    mut reader: Option<&mut (dyn Reader + 'r)>,
    steps: &[Step],
    scope: &mut Vars<'_>,
    transcript: &mut Vec<String>,
    sw_seen: &mut BTreeSet<u16>,
) -> Result<(), String> {
    for s in steps {
        for rep in 0..s.repeat {
            let mut apdu = None;
            let r = exec(
                reader.as_deref_mut(),
                s,
                scope,
                transcript,
                sw_seen,
                &mut apdu,
            );
            if let Err(m) = r {
                let mut msg = step_name(s, apdu.as_deref());
                if s.repeat > 1 {
                    msg.push_str(&format!(" (repetition {} of {})", rep + 1, s.repeat));
                }
                if let Some(n) = &s.note {
                    msg.push_str(&format!(" [{n}]"));
                }
                return Err(format!("{msg}: {m}"));
            }
        }
    }
    Ok(())
}

fn transmit(
    reader: &mut dyn Reader,
    apdu: &[u8],
    transcript: &mut Vec<String>,
    sw_seen: &mut BTreeSet<u16>,
) -> Result<Vec<u8>, String> {
    transcript.push(format!("> {}", hex::encode_upper(apdu)));
    match reader.transmit(apdu) {
        Ok(r) => {
            transcript.push(format!("< {}", hex::encode_upper(&r)));
            if r.len() >= 2 {
                sw_seen.insert(u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]]));
            }
            Ok(r)
        }
        Err(e) => {
            transcript.push(format!("< ({e})"));
            Err(e.to_string())
        }
    }
}

fn exec<'r>(
    reader: Option<&mut (dyn Reader + 'r)>,
    s: &Step,
    scope: &mut Vars<'_>,
    transcript: &mut Vec<String>,
    sw_seen: &mut BTreeSet<u16>,
    shown: &mut Option<Vec<u8>>,
) -> Result<(), String> {
    for (k, e) in &s.lets {
        let v = eval(e, scope).map_err(|m| format!("let {k} = {e}: {m}"))?;
        scope.vars.insert(k.clone(), v);
    }
    let (response, rapdu) = match &s.action {
        Action::Compute(e) => (eval_bytes(e, scope)?, false),
        Action::Protocol(p) => {
            let sim = reader
                .and_then(|r| r.sim())
                .ok_or("a protocol switch needs the in-process simulator")?;
            sim.set_protocol(*p);
            transcript.push(format!("  (protocol {p:?})"));
            return Ok(());
        }
        Action::Reset { cold } => {
            let r = reader.ok_or("no card")?;
            let atr = if *cold { r.power_cycle() } else { r.reset() }.map_err(|e| e.to_string())?;
            transcript.push(format!(
                "  ({} reset) ATR {}",
                if *cold { "cold" } else { "warm" },
                hex::encode_upper(&atr)
            ));
            (atr, false)
        }
        Action::Send(t) => {
            let r = reader.ok_or("no card")?;
            let apdu = t.render(scope)?;
            *shown = Some(apdu.clone());
            let mut resp = transmit(r, &apdu, transcript, sw_seen)?;
            if s.expect.follow {
                let mut rounds = 0;
                while resp.len() >= 2 && resp[resp.len() - 2] == 0x61 && rounds < 64 {
                    let le = resp[resp.len() - 1];
                    resp.truncate(resp.len() - 2);
                    let more = transmit(r, &[0x00, 0xC0, 0x00, 0x00, le], transcript, sw_seen)?;
                    resp.extend(more);
                    rounds += 1;
                }
            }
            (resp, true)
        }
    };
    check_expect(&s.expect, &response, rapdu, scope)?;
    for c in &s.checks {
        let l = eval(&c.lhs, scope).map_err(|m| format!("check `{}`: {m}", c.text))?;
        let r = eval(&c.rhs, scope).map_err(|m| format!("check `{}`: {m}", c.text))?;
        let same = match (&l, &r) {
            (Value::Int(_), _) | (_, Value::Int(_)) => l.clone().int().ok() == r.clone().int().ok(),
            _ => l == r,
        };
        if same != c.equal {
            return Err(format!(
                "check `{}` failed: {:?} {} {:?}{}",
                c.text,
                l,
                if c.equal { "≠" } else { "=" },
                r,
                first_diff(&l, &r)
            ));
        }
    }
    Ok(())
}

fn first_diff(a: &Value, b: &Value) -> String {
    if let (Value::Bytes(x), Value::Bytes(y)) = (a, b) {
        if let Some(i) = (0..x.len().max(y.len())).find(|&i| x.get(i) != y.get(i)) {
            let show = |v: Option<&u8>| v.map_or("(end)".to_string(), |b| format!("{b:02X}"));
            return format!(
                " (first difference at byte {i}: {} vs {})",
                show(x.get(i)),
                show(y.get(i))
            );
        }
    }
    String::new()
}

fn split(r: &[u8]) -> Result<(&[u8], u16), String> {
    match r.len().checked_sub(2) {
        Some(n) => Ok((&r[..n], u16::from_be_bytes([r[n], r[n + 1]]))),
        None => Err(format!(
            "the answer `{}` has no status word",
            hex::encode_upper(r)
        )),
    }
}

/// Explain a mismatch of `bytes` (a whole R-APDU when `rapdu`).
fn explain(m: &Mismatch, bytes: &[u8], rapdu: bool, what: &str) -> String {
    let n = bytes.len();
    let place = if rapdu && n >= 2 && m.offset + 2 >= n && m.offset < n {
        if m.offset + 2 == n {
            "SW1".to_string()
        } else {
            "SW2".to_string()
        }
    } else {
        format!("byte {}", m.offset)
    };
    let got = match m.got {
        Some(b) => format!("{b:02X}"),
        None => format!("the end ({n} bytes)"),
    };
    let mut s = format!("{what} {place}: expected {}, got {got}", m.expected);
    if rapdu {
        if let Ok((d, sw)) = split(bytes) {
            s.push_str(&format!(
                " — answer {}{}",
                if d.is_empty() {
                    String::new()
                } else {
                    format!("{} ", hex::encode_upper(d))
                },
                describe(sw)
            ));
        }
    } else {
        s.push_str(&format!(" — got {}", hex::encode_upper(bytes)));
    }
    s
}

fn sw_mismatch(want: u16, got: u16, data: &[u8]) -> String {
    let [w1, w2] = want.to_be_bytes();
    let [g1, g2] = got.to_be_bytes();
    let (which, w, g) = if w1 != g1 {
        ("SW1", w1, g1)
    } else {
        ("SW2", w2, g2)
    };
    let mut msg = format!(
        "R-APDU {which}: expected {w:02X}, got {g:02X} — status {}, expected {}",
        describe(got),
        describe(want)
    );
    if !data.is_empty() {
        msg.push_str(&format!(" (data {})", hex::encode_upper(data)));
    }
    msg
}

fn check_expect(
    e: &Expect,
    response: &[u8],
    rapdu: bool,
    scope: &mut Vars<'_>,
) -> Result<(), String> {
    let (data, sw) = if rapdu {
        let (d, s) = split(response)?;
        (d, Some(s))
    } else {
        (response, None)
    };
    let mut caps: Vec<(String, Vec<u8>)> = Vec::new();
    if let (Some((p, text)), Some(sw)) = (&e.sw, sw) {
        let got = sw.to_be_bytes();
        match p.matches(&got, scope)? {
            Ok(_) => {}
            Err(m) => {
                let mut msg = format!(
                    "R-APDU SW{}: expected {}, got {:02X} — status {}, expected {}",
                    m.offset + 1,
                    m.expected,
                    m.got.unwrap_or(0),
                    describe(sw),
                    match p.trailing_sw() {
                        Some(want) => describe(want),
                        None => text.clone(),
                    }
                );
                if !data.is_empty() {
                    msg.push_str(&format!(" (data {})", hex::encode_upper(data)));
                }
                return Err(msg);
            }
        }
    }
    if let Some(p) = &e.full {
        match p.matches(response, scope)? {
            Ok(c) => caps.extend(c),
            Err(m) => {
                // A refusal where success was expected: the status word is the first difference
                // that matters (the data of a refusal is absent, not different).
                if let (Some(want), Some(got)) = (p.trailing_sw(), sw) {
                    if want != got {
                        return Err(sw_mismatch(want, got, data));
                    }
                }
                return Err(explain(
                    &m,
                    response,
                    rapdu,
                    if rapdu { "R-APDU" } else { "value" },
                ));
            }
        }
    }
    if let Some(p) = &e.data {
        let layered: Vec<(String, Vec<u8>)> = caps.clone();
        for (k, v) in &layered {
            scope.vars.insert(k.clone(), Value::Bytes(v.clone()));
        }
        match p.matches(data, scope)? {
            Ok(c) => caps.extend(c),
            Err(m) => {
                let mut s = explain(&m, data, false, "data");
                if let Some(sw) = sw {
                    s.push_str(&format!(", {}", describe(sw)));
                }
                return Err(s);
            }
        }
    }
    if let Some(n) = e.len {
        if data.len() != n {
            return Err(format!(
                "data is {} bytes, expected {n} ({}{})",
                data.len(),
                hex::encode_upper(data),
                sw.map(|s| format!(" {}", describe(s))).unwrap_or_default()
            ));
        }
    }
    for (k, v) in caps {
        scope.vars.insert(k, Value::Bytes(v));
    }
    if let Some(d) = &e.differs {
        let other = eval_bytes(d, scope)?;
        if other == data {
            return Err(format!(
                "data {} equals `{d}`, expected a different value",
                hex::encode_upper(data)
            ));
        }
    }
    for (name, spec) in &e.captures {
        let v: Vec<u8> = match spec {
            CaptureSpec::Sw => sw
                .map(|s| s.to_be_bytes().to_vec())
                .ok_or("no status word to capture")?,
            CaptureSpec::Data => data.to_vec(),
            CaptureSpec::Byte(i) => vec![*data.get(*i).ok_or_else(|| {
                format!(
                    "capture `{name}`: the data has {} bytes, no byte {i}",
                    data.len()
                )
            })?],
            CaptureSpec::Range(a, b) => {
                let a = a.unwrap_or(0);
                let b = b.unwrap_or(data.len());
                data.get(a..b)
                    .ok_or_else(|| {
                        format!(
                            "capture `{name}`: the data has {} bytes, cannot take {a}..{b}",
                            data.len()
                        )
                    })?
                    .to_vec()
            }
            CaptureSpec::Tag(t) => find_tag(data, *t)
                .ok_or_else(|| {
                    format!(
                        "capture `{name}`: no tag {t:X} in {}",
                        hex::encode_upper(data)
                    )
                })?
                .to_vec(),
        };
        scope.vars.insert(name.clone(), Value::Bytes(v));
    }
    Ok(())
}

/// Collect vector files: directories recursively (`*.toml` and `*.apdu` scriptor scripts, except
/// under `profiles/` and `images/`, and except the set's status-word list `coverage.toml`), files
/// as given (a non-TOML file is a scriptor script).
pub fn collect(paths: &[PathBuf]) -> Result<Vec<(PathBuf, String)>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found).map_err(|e| format!("{}: {e}", p.display()))?;
            found.sort();
            for f in found {
                let display = f
                    .strip_prefix(p)
                    .map(|r| r.display().to_string())
                    .unwrap_or_else(|_| f.display().to_string());
                out.push((f, display));
            }
        } else if p.is_file() {
            out.push((p.clone(), p.display().to_string()));
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if name != "profiles" && name != "images" && !name.starts_with('.') {
                walk(&path, out)?;
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("toml" | "apdu")
        ) && name != COVERAGE_FILE
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Read and parse one file (TOML vectors, or a scriptor script).
pub fn load(path: &Path, display: &str) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = if path.extension().and_then(|e| e.to_str()) == Some("toml") {
        super::format::parse(path, &text).map_err(|e| e.to_string())?
    } else {
        super::scriptor::parse(path, &text)?
    };
    Ok(Loaded {
        display: display.to_string(),
        file,
    })
}
