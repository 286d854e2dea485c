//! Fuzz harnesses (`simulator/fuzz`, `docs/reliability.md`): one `fn(&[u8])` per target, called
//! by the libFuzzer targets *and* by the stable test that replays the committed corpus
//! (`simulator/tests/fuzz_corpus.rs`), so the targets cannot rot.
//!
//! Targets: [`apdu`] (the APDU parser, serialiser, transport and BER-TLV reader), [`kernel`] (the
//! kernel over the personalised citizen card's file system), and one per applet — [`e_purse()`],
//! [`transit()`], [`social_insurance()`], [`library()`] — which bias the APDU stream toward that
//! application's commands and state (selected, INITIALIZE pending, challenge fresh, PIN verified).
//!
//! **The oracle.** The fuzzer holds no key; it knows the holder's PIN (`123456`) and may use it.
//! After every APDU whose handling programmed the NVM (and after every power cut, once recovery
//! ran) the card's logical state ([`crate::snapshot`]) is compared with the state before it. The
//! only changes a keyless attacker may cause are: a try counter going *down* (never up, except a
//! PIN counter restored by a successful VERIFY or CHANGE PIN); the holder's PIN record changed by a
//! successful CHANGE PIN; an application locked (`05` → `04`) by its purse answering `9303`.
//! Balances, counters, records, protected files, keys, the file table and the life cycle never
//! move. Any other change, a panic, an unanswered APDU without a power cut, or a card that no
//! longer mounts, aborts the run (a libFuzzer crash).
#![allow(clippy::panic)] // a panic is the harness's way of reporting a violation to libFuzzer

use crate::card::{CardRng, SimCard, SimNvm};
use crate::snapshot::Snapshot;
use crate::terminals::purse::{Purse, PurseTerminal, When};
use cos_core::apdu::{tlv, Command, Protocol, Transport};
use cos_core::nvm::TearMode;
use cos_core::SeededRng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static APDUS: AtomicU64 = AtomicU64::new(0);

/// APDUs the harnesses have sent to a card (or to the transport) in this process.
pub fn apdus() -> u64 {
    APDUS.load(Ordering::Relaxed)
}

/// Count one APDU; every 2^16, write the running total to the file named by `COS_FUZZ_STATS`
/// (libFuzzer counts inputs, not APDUs; the campaign report sums these files).
fn count_apdu() {
    let n = APDUS.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_multiple_of(1 << 16) {
        if let Some(path) = std::env::var_os("COS_FUZZ_STATS") {
            let _ = std::fs::write(path, format!("{n}\n"));
        }
    }
}

// ---- the APDU layer ----------------------------------------------------------------------------

/// The APDU parser, serialiser, transport and TLV reader on arbitrary bytes.
///
/// Oracles: `parse` then `serialize_into` gives back the input bytes exactly; the transport
/// answers every command with at most `out.len()` bytes and at least a status word; the TLV
/// iterator terminates and never yields more bytes than it was given.
pub fn apdu(data: &[u8]) {
    count_apdu();
    if let Ok(cmd) = Command::parse(data) {
        let mut out = vec![0u8; data.len() + 8];
        match cmd.serialize_into(&mut out) {
            Ok(n) => assert_eq!(&out[..n], data, "parse ∘ serialize is not the identity"),
            Err(sw) => panic!("a parsed command does not serialise: {sw:?}"),
        }
        assert_eq!(cmd.serialized_len(), data.len());
        let again = Command::parse(data).ok();
        assert_eq!(again, Some(cmd));
    }
    let mut seen = 0usize;
    for item in tlv::tlv_iter(data) {
        match item {
            Ok((_, v)) => {
                seen += v.len();
                assert!(seen <= data.len(), "TLV values longer than the input");
            }
            Err(_) => break,
        }
    }
    // The transport: the input split into APDUs by a length byte, answered by a handler whose
    // answer length and status come from the input too.
    let mut t = Transport::new();
    let mut input = Input::new(data);
    while let Some(sel) = input.byte() {
        let len = usize::from(input.byte().unwrap_or(0));
        let capdu = input.take(len);
        let out_len = usize::from(sel) * 2 + 2;
        let answer = usize::from(input.byte().unwrap_or(0)) * 3;
        let fail = sel & 1 == 1;
        if sel & 2 == 2 {
            t.set_protocol(Protocol::T1);
        }
        let mut out = vec![0u8; out_len];
        count_apdu();
        let n = t.transmit(capdu, &mut out, |_, r| {
            let _ = r.extend(&vec![0xA5; answer]);
            if fail {
                Err(cos_core::apdu::Sw::WRONG_DATA)
            } else {
                Ok(cos_core::apdu::Sw::SUCCESS)
            }
        });
        assert!(n <= out.len());
        assert!(n >= 2 || out.len() < 2, "no status word");
    }
}

// ---- the card targets --------------------------------------------------------------------------

/// The personalised citizen card with money in its purses, a library loan and a settlement: the
/// starting point of every card target (built once per process).
fn golden() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let text = include_str!("../../profiles/citizen-card.toml");
        let p = crate::profile::Profile::parse("citizen-card.toml", text)
            .unwrap_or_else(|e| panic!("profile: {e}"));
        let mut c = crate::demo::blank_card(&p).unwrap_or_else(|e| panic!("blank card: {e}"));
        crate::perso::script(&p)
            .unwrap_or_else(|e| panic!("script: {e}"))
            .run(&mut c)
            .unwrap_or_else(|e| panic!("personalisation: {e}"));
        let when = When::parse("20260316", "090000").unwrap_or_else(|| panic!("date"));
        for (app, purse) in [
            ("e-purse", Purse::Wallet),
            ("e-purse", Purse::Deposit),
            ("transit", Purse::Wallet),
        ] {
            let mut t = PurseTerminal::new(&p, app, 1, *b"FUZZ01")
                .unwrap_or_else(|e| panic!("terminal: {e}"));
            t.select(&mut c).unwrap_or_else(|e| panic!("select: {e}"));
            if purse == Purse::Deposit {
                c.transmit(&[0x00, 0x20, 0x00, 0x00, 0x03, 0x12, 0x34, 0x56]);
            }
            t.load(&mut c, purse, 10_000, when)
                .unwrap_or_else(|e| panic!("load: {e}"));
        }
        let mut lib = crate::terminals::library::LibraryTerminal::new(&p, *b"FUZZ01", 1)
            .unwrap_or_else(|e| panic!("library terminal: {e}"));
        lib.open(&mut c, crate::terminals::library::Role::Circulation)
            .unwrap_or_else(|e| panic!("library: {e}"));
        let day = crate::terminals::library::Day::new(2026, 3, 16).unwrap_or_else(|| panic!("day"));
        lib.borrow(&mut c, "FUZZ-0001", day)
            .unwrap_or_else(|e| panic!("borrow: {e}"));
        c.power_off();
        c.image().bytes
    })
}

/// The application a card target concentrates on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Kernel,
    EPurse,
    Transit,
    SocialInsurance,
    Library,
}

const PURSE_AID: &[u8] = &[0xA0, 0x00, 0x00, 0x00, 0x03, 0x86, 0x98, 0x07, 0x01];
const TRANSIT_AID: &[u8] = &[0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05];
const LIBRARY_AID: &[u8] = &[0xF0, 0x43, 0x43, 0x4F, 0x53, 0x4C, 0x49, 0x42, 0x01];
const MEDICAL_AID: &[u8] = &[0xD1, 0x56, 0x00, 0x00, 0x05, 0x03];
/// `sx1.sh.社会保障` in GBK.
const DDF_NAME: &[u8] = &[
    0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF,
];
const PPSE_NAME: &[u8] = b"2PAY.SYS.DDF01";
const MF_NAME: &[u8] = b"1PAY.SYS.DDF01";

/// What a target selects and which instructions it favours.
struct Profile {
    names: &'static [&'static [u8]],
    clas: &'static [u8],
    inss: &'static [u8],
}

const KERNEL_INS: &[u8] = &[
    0xA4, 0xB0, 0xB2, 0xD6, 0xD0, 0xDC, 0xE2, 0x84, 0x82, 0x88, 0x20, 0x44, 0xE0, 0xD4, 0x0E, 0x5E,
    0x16, 0x18, 0x1E, 0xC0, 0xCA,
];

fn profile_of(t: Target) -> Profile {
    match t {
        Target::Kernel => Profile {
            names: &[
                MF_NAME,
                DDF_NAME,
                MEDICAL_AID,
                PURSE_AID,
                TRANSIT_AID,
                LIBRARY_AID,
                PPSE_NAME,
            ],
            clas: &[0x00, 0x04, 0x0C, 0x80, 0x84, 0x10, 0x90],
            inss: KERNEL_INS,
        },
        Target::EPurse => Profile {
            names: &[PURSE_AID],
            clas: &[0x80, 0x80, 0x80, 0x84, 0x00],
            inss: &[
                0x50, 0x52, 0x54, 0x58, 0x5A, 0x5C, 0x20, 0x5E, 0xB2, 0xB0, 0x84,
            ],
        },
        Target::Transit => Profile {
            names: &[TRANSIT_AID, PPSE_NAME],
            clas: &[0x80, 0x80, 0x80, 0x84, 0x00],
            inss: &[0x50, 0x54, 0xDC, 0x5C, 0x5A, 0x52, 0xB2, 0xB0, 0xCA],
        },
        Target::SocialInsurance => Profile {
            names: &[DDF_NAME, MEDICAL_AID],
            clas: &[0x00, 0x04, 0x80, 0x84],
            inss: &[
                0xCA, 0x4C, 0xB2, 0xB0, 0x20, 0x82, 0x88, 0x84, 0xDC, 0xE2, 0xD6, 0x5E,
            ],
        },
        Target::Library => Profile {
            names: &[LIBRARY_AID],
            clas: &[0x84, 0x84, 0x80, 0x00, 0x04],
            inss: &[0x32, 0x34, 0x36, 0xB0, 0xB2, 0xD6, 0x84, 0x82, 0x20],
        },
    }
}

/// A byte-stream reader over the fuzz input.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }
    fn byte(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied();
        self.pos += 1;
        b
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = self.pos.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }
    fn pick<T: Copy>(&mut self, table: &[T]) -> T {
        let b = usize::from(self.byte().unwrap_or(0));
        table[b % table.len()]
    }
}

/// One fuzzed card session.
struct Session {
    card: SimCard,
    target: Target,
    state: Snapshot,
    programs: u64,
    armed: bool,
}

fn snapshot(c: &SimCard) -> Snapshot {
    c.with_storage(|s| Snapshot::read(s))
        .unwrap_or_else(|e| panic!("the card's state does not decode: {e}"))
}

/// A short or extended APDU.
fn build(header: [u8; 4], data: &[u8], le: Option<u16>, extended: bool) -> Vec<u8> {
    let mut a = header.to_vec();
    if extended {
        if !data.is_empty() || le.is_some() {
            a.push(0);
        }
        if !data.is_empty() {
            a.extend_from_slice(&(data.len() as u16).to_be_bytes());
            a.extend_from_slice(data);
        }
        if let Some(le) = le {
            a.extend_from_slice(&le.to_be_bytes());
        }
    } else {
        if !data.is_empty() {
            a.push(data.len().min(255) as u8);
            a.extend_from_slice(&data[..data.len().min(255)]);
        }
        if let Some(le) = le {
            a.push(le as u8);
        }
    }
    a
}

impl Session {
    fn new(target: Target) -> Session {
        let card = SimCard::from_nvm(
            SimNvm::from_bytes(golden()),
            CardRng::Seeded(SeededRng::new(0x5EED)),
        )
        .unwrap_or_else(|e| panic!("the golden card does not power up: {e}"));
        let mut s = Session {
            state: snapshot(&card),
            programs: card.programs(),
            card,
            target,
            armed: false,
        };
        s.card.set_tracing(false);
        if target == Target::Transit {
            s.card.set_protocol(Protocol::T1);
        }
        s
    }

    /// Send one APDU and run the oracle.
    fn send(&mut self, apdu: &[u8]) -> Vec<u8> {
        count_apdu();
        let r = self.card.transmit(apdu);
        let lost = !self.card.is_powered();
        if r.is_empty() && !lost {
            panic!("no answer to {}", hex::encode_upper(apdu));
        }
        if lost {
            if !self.armed {
                panic!("power lost without a cut: {}", hex::encode_upper(apdu));
            }
            self.armed = false;
            if let Err(e) = self.card.power_on() {
                panic!("the card does not power up after a cut: {e}");
            }
        } else if r.len() < 2 {
            panic!("an answer without a status word");
        }
        if self.card.programs() != self.programs || lost {
            let now = snapshot(&self.card);
            let sw = match r.len() {
                n if n >= 2 => Some(u16::from_be_bytes([r[n - 2], r[n - 1]])),
                _ => None,
            };
            if let Err(e) = allowed(&self.state, &now, apdu, sw) {
                panic!(
                    "unauthorised state change by {} (answer {}): {e}",
                    hex::encode_upper(apdu),
                    hex::encode_upper(&r)
                );
            }
            self.state = now;
            self.programs = self.card.programs();
        }
        r
    }

    fn run(&mut self, data: &[u8]) {
        let prof = profile_of(self.target);
        let mut inp = Input::new(data);
        // Applet targets start inside their application.
        if self.target != Target::Kernel {
            let name = prof.names[0];
            self.send(&build([0x00, 0xA4, 0x04, 0x00], name, Some(0), false));
        }
        let mut steps = 0;
        while let Some(op) = inp.byte() {
            steps += 1;
            if steps > 64 {
                break;
            }
            match op % 16 {
                // A structured APDU from the target's classes and instructions.
                0..=5 => {
                    let cla = inp.pick(prof.clas);
                    let ins = inp.pick(prof.inss);
                    let p1 = inp.byte().unwrap_or(0);
                    let p2 = inp.byte().unwrap_or(0);
                    let flags = inp.byte().unwrap_or(0);
                    let len = usize::from(inp.byte().unwrap_or(0));
                    let len = if flags & 8 == 0 { len % 48 } else { len };
                    let body = if flags & 1 == 1 { inp.take(len) } else { &[] };
                    let le = (flags & 2 == 2).then(|| u16::from(inp.byte().unwrap_or(0)));
                    self.send(&build([cla, ins, p1, p2], body, le, flags & 4 == 4));
                }
                // Raw bytes (the parser's error paths).
                6 => {
                    let len = usize::from(inp.byte().unwrap_or(0));
                    let raw = inp.take(len).to_vec();
                    self.send(&raw);
                }
                // SELECT one of the target's names (or, for the kernel, by FID / path / parent).
                7 => {
                    let how = inp.byte().unwrap_or(0);
                    let a = match how % 4 {
                        0 | 1 => {
                            let name = inp.pick(prof.names);
                            build([0x00, 0xA4, 0x04, 0x00], name, Some(0), false)
                        }
                        2 => {
                            let fid = inp.take(2).to_vec();
                            build([0x00, 0xA4, how >> 4, 0x00], &fid, Some(0), false)
                        }
                        _ => vec![0x00, 0xA4, 0x03, 0x00],
                    };
                    self.send(&a);
                }
                // The holder's PIN in the current DF (the one secret the fuzzer holds).
                8 => {
                    self.send(&[0x00, 0x20, 0x00, 0x00, 0x03, 0x12, 0x34, 0x56]);
                }
                // GET CHALLENGE, then a secure-messaging command with a guessed MAC.
                9 => {
                    self.send(&[0x00, 0x84, 0x00, 0x00, 0x04]);
                    let cla = if inp.byte().unwrap_or(0) & 1 == 0 {
                        0x84
                    } else {
                        0x04
                    };
                    let ins = inp.pick(prof.inss);
                    let p1 = inp.byte().unwrap_or(0);
                    let p2 = inp.byte().unwrap_or(0);
                    let len = usize::from(inp.byte().unwrap_or(0)) % 64;
                    let body = inp.take(len);
                    self.send(&build([cla, ins, p1, p2], body, Some(0), false));
                }
                // A purse transaction: INITIALIZE with fuzzed fields, then a completion with a
                // guessed MAC (CREDIT, DEBIT, UNLOAD, UPDATE OVERDRAW LIMIT).
                10 => {
                    let p1 = inp.byte().unwrap_or(0) % 6;
                    let p2 = 1 + inp.byte().unwrap_or(0) % 2;
                    let mut d = vec![1u8];
                    d.extend_from_slice(inp.take(10));
                    d.resize(if p1 == 4 { 7 } else { 11 }, 0);
                    self.send(&build([0x80, 0x50, p1, p2], &d, Some(0), false));
                    if inp.byte().unwrap_or(0) & 1 == 1 {
                        let rec = inp.take(64).to_vec();
                        self.send(&build([0x80, 0xDC, 0x01, 0xD0], &rec, None, false));
                    }
                    let (ins, q1, n) = match inp.byte().unwrap_or(0) % 4 {
                        0 => (0x52, 0x00, 11),
                        1 => (0x54, 0x01, 15),
                        2 => (0x54, 0x03, 11),
                        _ => (0x58, 0x00, 14),
                    };
                    let mut c = inp.take(n).to_vec();
                    c.resize(n, 0);
                    self.send(&build([0x80, ins, q1, 0x00], &c, Some(0), false));
                }
                11 => {
                    self.card.power_off();
                    if let Err(e) = self.card.power_on() {
                        panic!("the card does not power up: {e}");
                    }
                    if self.target == Target::Transit {
                        self.card.set_protocol(Protocol::T1);
                    }
                }
                12 => {
                    let _ = self.card.reset();
                }
                // A power cut at one of the next page programs.
                13 => {
                    let k = u64::from(inp.byte().unwrap_or(0) % 24);
                    let m = inp.byte().unwrap_or(0);
                    let mode = match m % 3 {
                        0 => TearMode::Skip,
                        1 => TearMode::Complete,
                        _ => TearMode::Partial { seed: u64::from(m) },
                    };
                    self.card.arm_tear(k, mode);
                    self.armed = true;
                }
                14 => {
                    let p = if inp.byte().unwrap_or(0) & 1 == 0 {
                        Protocol::T0
                    } else {
                        Protocol::T1
                    };
                    self.card.set_protocol(p);
                }
                // Command chaining: fragments with CLA b5 set, then the last one.
                _ => {
                    let ins = inp.pick(prof.inss);
                    let cla = inp.pick(prof.clas) & !0x10;
                    let p1 = inp.byte().unwrap_or(0);
                    let p2 = inp.byte().unwrap_or(0);
                    let parts = 1 + inp.byte().unwrap_or(0) % 3;
                    for i in 0..=parts {
                        let len = usize::from(inp.byte().unwrap_or(0)) % 200;
                        let body = inp.take(len).to_vec();
                        let c = if i < parts { cla | 0x10 } else { cla };
                        self.send(&build([c, ins, p1, p2], &body, Some(0), false));
                    }
                }
            }
        }
        // Any armed cut not reached is cancelled; the card must still answer.
        if self.armed {
            self.card.disarm_tear();
            self.armed = false;
        }
        self.send(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00]);
    }
}

/// The stored value of PIN `k` in `s`.
fn pin_value(s: &Snapshot, k: &crate::snapshot::KeyId) -> Option<Vec<u8>> {
    s.files
        .values()
        .filter(|f| f.kind() == 0x3F && f.parent() == k.df)
        .flat_map(|f| f.body.chunks(24))
        .find(|r| r.first() == Some(&0x3A) && r.get(1) == Some(&k.id))
        .and_then(|r| r.get(8..8 + usize::from(*r.get(7)?)).map(<[u8]>::to_vec))
}

/// The command data of a short APDU.
fn short_data(apdu: &[u8]) -> &[u8] {
    match apdu.get(4) {
        Some(&lc) if apdu.len() >= 5 + usize::from(lc) => &apdu[5..5 + usize::from(lc)],
        _ => &[],
    }
}

/// The PIN the APDU proves, if it is a VERIFY or a CHANGE PIN (its old PIN).
fn pin_proved(apdu: &[u8]) -> Option<&[u8]> {
    let data = short_data(apdu);
    match (apdu.get(1), apdu.get(2)) {
        (Some(0x20), _) => Some(data),
        (Some(0x5E), Some(0x01)) => data.split(|&b| b == 0xFF).next(),
        _ => None,
    }
}

/// The changes a keyless attacker (holding only the holder's PIN) may cause with `apdu`, which
/// answered `sw` (`None`: the power was cut during it).
fn allowed(
    before: &Snapshot,
    after: &Snapshot,
    apdu: &[u8],
    sw: Option<u16>,
) -> Result<(), String> {
    let proved = pin_proved(apdu);
    let change_pin = apdu.get(1) == Some(&0x5E) && apdu.get(2) == Some(&0x01);
    if before.header != after.header {
        return Err("the card header (life cycle) changed".into());
    }
    if before.files.keys().ne(after.files.keys()) {
        return Err("a file was created or removed".into());
    }
    for (i, a) in &before.files {
        let b = &after.files[i];
        let mut sa = a.slot;
        let mut sb = b.slot;
        // An application locked by its purse (9303, or a cut during the lock): LCS 05 → 04.
        if sa[5] != sb[5] {
            if !(sa[5] == 0x05 && sb[5] == 0x04 && matches!(sw, Some(0x9303) | None)) {
                return Err(format!(
                    "slot {i} ({:04X}): LCS {:02X} → {:02X} with {sw:04X?}",
                    a.fid(),
                    sa[5],
                    sb[5]
                ));
            }
            sa[5] = 0;
            sb[5] = 0;
        }
        if sa != sb {
            return Err(format!("slot {i} ({:04X}): entry changed", a.fid()));
        }
        if a.body == b.body {
            continue;
        }
        if a.kind() != 0x3F {
            return Err(format!("slot {i} ({:04X}): body changed", a.fid()));
        }
        // A key file: only a PIN record, only by CHANGE PIN proving the stored PIN.
        for (ra, rb) in a.body.chunks(24).zip(b.body.chunks(24)) {
            if ra == rb {
                continue;
            }
            let stored = ra.get(8..8 + usize::from(ra.get(7).copied().unwrap_or(0)));
            let ok = ra.first() == Some(&0x3A)
                && ra.get(..7) == rb.get(..7)
                && change_pin
                && stored.is_some()
                && stored == proved;
            if !ok {
                return Err(format!(
                    "slot {i}: key record {:02X}/{:02X} changed",
                    ra.first().copied().unwrap_or(0),
                    ra.get(1).copied().unwrap_or(0)
                ));
            }
        }
    }
    for (k, &t) in &after.tries {
        let Some(&was) = before.tries.get(k) else {
            return Err("a key appeared".into());
        };
        if t == was {
            continue;
        }
        let down = t >> 4 == was >> 4 && t & 0x0F < was & 0x0F;
        // A PIN counter back at its maximum: only after the stored PIN was presented.
        let restored = k.key_type == 0x3A
            && t == (was & 0xF0) | (was >> 4)
            && proved.is_some()
            && pin_value(before, k).as_deref() == proved;
        if !(down || restored) {
            return Err(format!(
                "try counter of key {:02X}/{:02X} (slot {}) {was:02X} → {t:02X} with {sw:04X?}",
                k.key_type, k.id, k.df
            ));
        }
    }
    Ok(())
}

fn run(target: Target, data: &[u8]) {
    Session::new(target).run(data);
}

/// The kernel over the personalised card's whole file system (every class and instruction,
/// selections by name, FID and path, chaining, SM, power cuts).
pub fn kernel(data: &[u8]) {
    run(Target::Kernel, data);
}

/// The e-purse application: INITIALIZE / CREDIT / DEBIT / UNLOAD / OVERDRAW with guessed MACs.
pub fn e_purse(data: &[u8]) {
    run(Target::EPurse, data);
}

/// The transit application (T=CL): CAPP sessions, cache updates, purchases with guessed MACs.
pub fn transit(data: &[u8]) {
    run(Target::Transit, data);
}

/// The social-insurance DDF and medical DF: GET DATA, SETTLE, PIN, authentication attempts.
pub fn social_insurance(data: &[u8]) {
    run(Target::SocialInsurance, data);
}

/// The library application: BORROW / RETURN / RENEW with guessed MACs, reads, PIN.
pub fn library(data: &[u8]) {
    run(Target::Library, data);
}

/// A harness: one fuzz input in, a panic on any violation.
pub type Harness = fn(&[u8]);

/// Every target by name (the fuzz crate's binaries and the corpus replay use these names).
pub const TARGETS: &[(&str, Harness)] = &[
    ("apdu", apdu),
    ("kernel", kernel),
    ("e_purse", e_purse),
    ("transit", transit),
    ("social_insurance", social_insurance),
    ("library", library),
];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn state() -> Snapshot {
        snapshot(&Session::new(Target::Kernel).card)
    }

    /// The oracle refuses what a keyless attacker must never cause, and accepts the few changes
    /// it may cause — so a silent oracle is not mistaken for a sound card.
    #[test]
    fn the_oracle_tells_allowed_from_unauthorised_changes() {
        let before = state();
        let verify = [0x00, 0x20, 0x00, 0x00, 0x03, 0x12, 0x34, 0x56];
        assert!(allowed(&before, &before, &verify, Some(0x9000)).is_ok());
        // A body byte of a data file (the first non-key EF with a body).
        let (slot, _) = before
            .files
            .iter()
            .find(|(_, f)| f.kind() != 0x3F && !f.body.is_empty())
            .unwrap();
        let mut body = before.clone();
        body.files.get_mut(slot).unwrap().body[0] ^= 1;
        assert!(allowed(&before, &body, &verify, Some(0x9000)).is_err());
        // A try counter: down is a consumed try, up is a refund unless the PIN was presented.
        let (k, t) = before
            .tries
            .iter()
            .find(|(k, t)| k.key_type != 0x3A && **t >> 4 != 0 && **t & 0x0F != 0)
            .map(|(k, t)| (*k, *t))
            .unwrap();
        let mut down = before.clone();
        down.tries.insert(k, t - 1);
        assert!(allowed(&before, &down, &[0x80, 0x52, 0, 0], Some(0x9302)).is_ok());
        assert!(allowed(&down, &before, &[0x80, 0x52, 0, 0], Some(0x9000)).is_err());
        // The card header (life cycle).
        let mut header = before.clone();
        header.header[5] = 0x0F;
        assert!(allowed(&before, &header, &[0x84, 0x16, 0, 0], Some(0x9000)).is_err());
        // An application lock needs 9303.
        let (slot, _) = before.files.iter().find(|(_, f)| f.kind() == 0x38).unwrap();
        let mut locked = before.clone();
        locked.files.get_mut(slot).unwrap().slot[5] = 0x04;
        assert!(allowed(&before, &locked, &[0x80, 0x52, 0, 0], Some(0x9303)).is_ok());
        assert!(allowed(&before, &locked, &[0x84, 0x1E, 0, 0], Some(0x9000)).is_err());
    }
}
