//! Properties of the kernel, checked with proptest:
//! 1. no APDU panics it, and every answer ends with a status word;
//! 2. a refused command (anything but 9000, 61xx, 62xx, 63xx) leaves the NVM image unchanged;
//! 3. the file system agrees with a simple model (Vec-based) under random sequences of
//!    UPDATE / READ BINARY and READ / UPDATE / APPEND RECORD, current-record modes and power cycles.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used
)]

mod common;
use common::*;
use proptest::prelude::*;
use std::collections::VecDeque;

// ---------------------------------------------------------------- APDU generators

/// The kernel's instructions with their class, plus a few that are nobody's.
const INS: &[(u8, u8)] = &[
    (0x00, 0xA4),
    (0x00, 0xB0),
    (0x00, 0xD6),
    (0x00, 0xD0),
    (0x00, 0xB2),
    (0x00, 0xDC),
    (0x00, 0xE2),
    (0x00, 0x84),
    (0x00, 0x82),
    (0x00, 0x88),
    (0x00, 0x20),
    (0x00, 0x44),
    (0x00, 0xC0),
    (0x80, 0xE0),
    (0x80, 0xD4),
    (0x80, 0x0E),
    (0x80, 0x5E),
    (0x80, 0x16),
    (0x80, 0x18),
    (0x80, 0x1E),
    (0x00, 0xCA),
    (0x80, 0x50),
];

/// A well-formed APDU (short or extended) with a kernel instruction, a class that may carry
/// secure messaging or a logical channel, and P1/P2 biased towards meaningful values.
fn apdu() -> impl Strategy<Value = Vec<u8>> {
    let cla_bits = prop_oneof![4 => Just(0x00u8), 2 => Just(0x04u8), 1 => Just(0x0Cu8), 1 => Just(0x01u8), 1 => Just(0x10u8)];
    let p1 = prop_oneof![
        Just(0x00u8),
        Just(0x01),
        Just(0x02),
        Just(0x04),
        Just(0x08),
        Just(0x95),
        Just(0x97),
        any::<u8>()
    ];
    let p2 = prop_oneof![
        Just(0x00u8),
        Just(0x04),
        Just(0x0C),
        Just(0xBC),
        Just(0xC4),
        Just(0xCC),
        Just(0xC0),
        any::<u8>()
    ];
    let data = prop_oneof![
        2 => Just(Vec::new()),
        2 => proptest::collection::vec(any::<u8>(), 1..24),
        1 => proptest::collection::vec(any::<u8>(), 24..300),
        1 => prop_oneof![Just(h("3F00")), Just(h("3F01")), Just(h("0015")), Just(h(ADF_AID)), Just(h("123456")), Just(h("28 0010 F0 F0 FFFF")), Just(h("3A F0 EF 01 33 1234"))],
    ];
    let le = prop_oneof![2 => Just(None), 1 => Just(Some(0u16)), 1 => (1u16..300).prop_map(Some)];
    (
        proptest::sample::select(INS),
        cla_bits,
        p1,
        p2,
        data,
        le,
        any::<bool>(),
    )
        .prop_map(|((cla, ins), bits, p1, p2, data, le, extended)| {
            let mut a = vec![cla | bits, ins, p1, p2];
            let extended = extended && (!data.is_empty() || le.is_some())
                || data.len() > 255
                || le.is_some_and(|l| l > 256);
            if extended {
                a.push(0x00);
                if !data.is_empty() {
                    a.extend_from_slice(&(data.len() as u16).to_be_bytes());
                    a.extend_from_slice(&data);
                }
                if let Some(le) = le {
                    a.extend_from_slice(&le.to_be_bytes());
                }
            } else {
                if !data.is_empty() {
                    a.push(data.len() as u8);
                    a.extend_from_slice(&data);
                }
                if let Some(le) = le {
                    a.push(le as u8);
                }
            }
            a
        })
}

/// Any bytes at all, or a well-formed APDU, or a GET CHALLENGE (to reach the SM paths).
fn any_apdu() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => proptest::collection::vec(any::<u8>(), 0..40),
        6 => apdu(),
        1 => Just(h("0084 0000 04")),
        1 => Just(h(&format!("00A4 0400 09 {ADF_AID}"))),
    ]
}

/// `PROPTEST_CASES` overrides the default number of cases (for longer hunts).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A line-protected command: header, plain data, and whether to encrypt it.
fn secured_op() -> impl Strategy<Value = ([u8; 4], Vec<u8>, bool)> {
    let ins = prop_oneof![
        4 => Just([0x04u8, 0xD6]),
        2 => Just([0x04, 0xD0]),
        3 => Just([0x04, 0xDC]),
        3 => Just([0x04, 0xE2]),
        1 => Just([0x04, 0xB0]),
        1 => Just([0x04, 0xB2]),
        3 => Just([0x84, 0xE0]),
        3 => Just([0x84, 0xD4]),
        1 => Just([0x84, 0x0E]),
        1 => Just([0x84, 0x5E]),
        1 => Just([0x04, 0x20]),
        1 => Just([0x04, 0x44]),
        1 => Just([0x84, 0x18]),
    ];
    let p1 = prop_oneof![
        Just(0x00u8),
        Just(0x01),
        Just(0x39),
        Just(0x95),
        Just(0x96),
        Just(0x9A),
        any::<u8>()
    ];
    let p2 = prop_oneof![
        Just(0x00u8),
        Just(0x01),
        Just(0x04),
        Just(0xBC),
        Just(0xC0),
        Just(0xC8),
        any::<u8>()
    ];
    let data = prop_oneof![
        1 => Just(Vec::new()),
        3 => proptest::collection::vec(any::<u8>(), 1..24),
        1 => prop_oneof![
            Just(h("28 0010 F0 F0 FFFF")),
            Just(h("2A 02 04 F0 F0 FFFF")),
            Just(h("39 F0 F0 02 33 00112233445566778899AABBCCDDEEFF")),
            Just(h("3A F0 EF 01 33 1234")),
            Just(h("38 0040 F0 F0 95 FFFF D15600000501")),
        ],
    ];
    (ins, p1, p2, data, any::<bool>())
        .prop_map(|([cla, ins], p1, p2, data, enc)| ([cla, ins, p1, p2], data, enc))
}

fn start_image() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0u8), Just(1), Just(2)]
}

fn card_for(which: u8) -> Card {
    match which {
        0 => Card::blank(),
        1 => personalised(),
        _ => issued(),
    }
}

fn allowed_to_change(sw: u16) -> bool {
    // Success and warnings may change NVM; 63Cx consumes a try; 6988 (bad MAC, or bad
    // encryption under a good MAC) consumes a try of the line-protection (or PIN-reload) key.
    matches!(sw >> 8, 0x90 | 0x61 | 0x62 | 0x63) || sw == 0x6988
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), failure_persistence: None, ..ProptestConfig::default() })]

    /// Properties 1 and 2 over random command sequences on a blank, personalised or issued card.
    #[test]
    fn no_panic_and_refusals_change_nothing(which in start_image(), script in proptest::collection::vec(any_apdu(), 1..40)) {
        let mut c = card_for(which);
        for apdu in &script {
            let before = c.image();
            // `once` asserts the answer has a status word; a panic fails the property.
            let (_, sw) = c.once(apdu);
            prop_assert!(sw >> 8 != 0x00, "{}: SW {sw:04X}", hex::encode_upper(apdu));
            if !allowed_to_change(sw) {
                let after = c.image();
                if let Some(i) = before.iter().zip(&after).position(|(a, b)| a != b) {
                    prop_assert!(false, "{} answered {sw:04X} but changed NVM at {i:#06X}", hex::encode_upper(apdu));
                }
            }
        }
        // The card still works afterwards (unless the script terminated it).
        c.power_cycle();
        let (_, sw) = c.tx("00A4 0000 02 3F00");
        prop_assert!(sw == 0x9000 || sw == 0x6A81 || sw >> 8 == 0x61, "{sw:04X}");
    }

    /// Property 2 behind a valid MAC: commands that pass line protection (MAC'd with the right
    /// key and challenge, sometimes encrypted) and are then refused change no file data. (The
    /// journal does change: the MAC check commits the line key's try counter.)
    #[test]
    fn refusals_behind_a_valid_mac_change_no_file_data(in_mf in any::<bool>(), script in proptest::collection::vec(secured_op(), 1..16)) {
        let mut c = personalised();
        let key = if in_mf { tdes(&MF_LINE_KEY) } else { c.select_adf(); tdes(&ADF_LINE_KEY) };
        for (header, data, encrypt) in &script {
            let before = c.data_area();
            let sw = c.secured(*header, data, &key, encrypt.then_some(&key));
            if !allowed_to_change(sw) {
                prop_assert!(before == c.data_area(), "{:02X?} {} answered {:04X} but changed file data", header, hex::encode_upper(data), sw);
            }
        }
    }

    /// Property 1 in the application with an applet-free kernel and random raw bytes only.
    #[test]
    fn random_bytes_never_panic(script in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..20)) {
        let mut c = in_adf();
        for apdu in &script {
            let (_, sw) = c.once(apdu);
            prop_assert!(sw >> 8 != 0x00);
        }
    }
}

// ---------------------------------------------------------------- the file-system model

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ef {
    Bin,
    Fixed,
    Cyclic,
    Variable,
}

impl Ef {
    fn sfi(self) -> u8 {
        match self {
            Ef::Bin => 0x15,
            Ef::Fixed => 0x17,
            Ef::Cyclic => 0x18,
            Ef::Variable => 0x19,
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    ReadBin {
        off: u8,
        le: u8,
    },
    UpdBin {
        off: u8,
        data: Vec<u8>,
    },
    ReadRec {
        ef: Ef,
        p1: u8,
        mode: u8,
        le: u8,
    },
    UpdRec {
        ef: Ef,
        p1: u8,
        mode: u8,
        data: Vec<u8>,
    },
    AppRec {
        ef: Ef,
        data: Vec<u8>,
    },
    PowerCycle,
}

fn rec_ef() -> impl Strategy<Value = Ef> {
    prop_oneof![Just(Ef::Fixed), Just(Ef::Cyclic), Just(Ef::Variable)]
}

fn mode() -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(0b100u8), 1 => Just(0b000), 1 => Just(0b001), 2 => Just(0b010), 2 => Just(0b011)]
}

fn p1() -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(0u8), 4 => 1u8..=6]
}

fn bytes(lens: &'static [usize]) -> impl Strategy<Value = Vec<u8>> {
    proptest::sample::select(lens).prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n))
}

const LENS: &[usize] = &[1, 2, 3, 5, 7, 8, 9, 12, 15, 16, 17];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..34, prop_oneof![Just(0u8), 1u8..40]).prop_map(|(off, le)| Op::ReadBin { off, le }),
        3 => (0u8..34, bytes(LENS)).prop_map(|(off, data)| Op::UpdBin { off, data }),
        5 => (rec_ef(), p1(), mode(), prop_oneof![Just(0u8), Just(1), Just(8), Just(16), Just(20), 1u8..20]).prop_map(|(ef, p1, mode, le)| Op::ReadRec { ef, p1, mode, le }),
        4 => (rec_ef(), p1(), mode(), bytes(LENS)).prop_map(|(ef, p1, mode, data)| Op::UpdRec { ef, p1, mode, data }),
        4 => (rec_ef(), bytes(LENS)).prop_map(|(ef, data)| Op::AppRec { ef, data }),
        1 => Just(Op::PowerCycle),
    ]
}

/// What the card should hold, and its current EF and record.
#[derive(Debug)]
struct Model {
    bin: Vec<u8>,
    fixed: Vec<Vec<u8>>,
    fixed_appended: usize,
    /// Newest first.
    cyclic: VecDeque<Vec<u8>>,
    variable: Vec<Vec<u8>>,
    cur_ef: Option<Ef>,
    cur_rec: Option<u8>,
}

type Answer = (Vec<u8>, u16);

impl Model {
    fn new() -> Model {
        Model {
            bin: vec![0; 30],
            fixed: vec![vec![0; 16]; 3],
            fixed_appended: 0,
            cyclic: VecDeque::new(),
            variable: Vec::new(),
            cur_ef: None,
            cur_rec: None,
        }
    }

    fn records(&self, ef: Ef) -> Vec<Vec<u8>> {
        match ef {
            Ef::Fixed => self.fixed.clone(),
            Ef::Cyclic => self.cyclic.iter().cloned().collect(),
            Ef::Variable => self.variable.clone(),
            Ef::Bin => unreachable!(),
        }
    }

    /// The record addressed by P1 / mode (ISO/IEC 7816-4: P1 ≠ 0 with modes 000–011 names a record
    /// identifier, the record's first byte; otherwise record numbers).
    fn number(&self, ef: Ef, p1: u8, mode: u8) -> Result<u8, u16> {
        let recs = self.records(ef);
        let count = recs.len() as u8;
        let cur = self.cur_rec;
        if mode != 0b100 && p1 != 0 {
            let hit = |n: &u8| recs[usize::from(*n) - 1].first() == Some(&p1);
            let found = match mode {
                0b000 => (1..=count).find(hit),
                0b001 => (1..=count).rev().find(hit),
                0b010 => (cur.map_or(1, |c| c.saturating_add(1))..=count).find(hit),
                _ => match cur {
                    Some(c) if c <= 1 => None,
                    Some(c) => (1..c).rev().find(hit),
                    None => (1..=count).rev().find(hit),
                },
            };
            return found.ok_or(0x6A83);
        }
        let n = match mode {
            0b100 if p1 == 0 => cur.ok_or(0x6A83u16)?,
            0b100 => p1,
            0b000 => 1,
            0b001 => count,
            0b010 => match cur {
                Some(c) => c.checked_add(1).ok_or(0x6A83u16)?,
                None => 1,
            },
            _ => match cur {
                Some(c) => c - 1,
                None => count,
            },
        };
        if n == 0 || n > count {
            return Err(0x6A83);
        }
        Ok(n)
    }

    fn target(&mut self, ef: Ef) {
        if self.cur_ef != Some(ef) {
            self.cur_rec = None;
        }
        self.cur_ef = Some(ef);
    }

    fn apply(&mut self, op: &Op) -> Answer {
        match op {
            Op::ReadBin { off, le } => {
                self.cur_ef = Some(Ef::Bin);
                let off = usize::from(*off);
                if off >= 30 {
                    return (vec![], 0x6B00);
                }
                let want = if *le == 0 { 256 } else { usize::from(*le) };
                let n = want.min(30 - off);
                let sw = if n < want && *le != 0 { 0x6282 } else { 0x9000 };
                (self.bin[off..off + n].to_vec(), sw)
            }
            Op::UpdBin { off, data } => {
                self.cur_ef = Some(Ef::Bin);
                let off = usize::from(*off);
                if off >= 30 {
                    return (vec![], 0x6B00);
                }
                if off + data.len() > 30 {
                    return (vec![], 0x6700);
                }
                self.bin[off..off + data.len()].copy_from_slice(data);
                (vec![], 0x9000)
            }
            Op::ReadRec { ef, p1, mode, le } => {
                self.target(*ef);
                let n = match self.number(*ef, *p1, *mode) {
                    Ok(n) => n,
                    Err(sw) => return (vec![], sw),
                };
                let rec = self.records(*ef)[usize::from(n) - 1].clone();
                let want = if *le == 0 { 256 } else { usize::from(*le) };
                if want < rec.len() {
                    return (vec![], 0x6C00 | rec.len() as u16);
                }
                self.cur_rec = Some(n);
                let sw = if want > rec.len() && *le != 0 {
                    0x6282
                } else {
                    0x9000
                };
                (rec, sw)
            }
            Op::UpdRec { ef, p1, mode, data } => {
                self.target(*ef);
                let n = match self.number(*ef, *p1, *mode) {
                    Ok(n) => n,
                    Err(sw) => return (vec![], sw),
                };
                let i = usize::from(n) - 1;
                let len = self.records(*ef)[i].len();
                if data.len() != len {
                    return (vec![], 0x6700);
                }
                match ef {
                    Ef::Fixed => self.fixed[i] = data.clone(),
                    Ef::Cyclic => self.cyclic[i] = data.clone(),
                    Ef::Variable => self.variable[i] = data.clone(),
                    Ef::Bin => unreachable!(),
                }
                self.cur_rec = Some(n);
                (vec![], 0x9000)
            }
            Op::AppRec { ef, data } => {
                self.target(*ef);
                match ef {
                    Ef::Fixed => {
                        if data.len() != 16 {
                            return (vec![], 0x6700);
                        }
                        if self.fixed_appended >= 3 {
                            return (vec![], 0x6A84);
                        }
                        self.fixed[self.fixed_appended] = data.clone();
                        self.fixed_appended += 1;
                        self.cur_rec = Some(self.fixed_appended as u8);
                    }
                    Ef::Cyclic => {
                        if data.len() != 8 {
                            return (vec![], 0x6700);
                        }
                        self.cyclic.push_front(data.clone());
                        self.cyclic.truncate(5);
                        self.cur_rec = Some(1);
                    }
                    Ef::Variable => {
                        let used: usize = self.variable.iter().map(|r| r.len() + 1).sum();
                        if used + 1 + data.len() > 64 {
                            return (vec![], 0x6A84);
                        }
                        self.variable.push(data.clone());
                        self.cur_rec = Some(self.variable.len() as u8);
                    }
                    Ef::Bin => unreachable!(),
                }
                (vec![], 0x9000)
            }
            Op::PowerCycle => {
                self.cur_ef = None;
                self.cur_rec = None;
                (vec![], 0x9000)
            }
        }
    }
}

fn to_apdu(op: &Op) -> Vec<u8> {
    let with_data = |hdr: [u8; 4], data: &[u8]| {
        let mut a = hdr.to_vec();
        a.push(data.len() as u8);
        a.extend_from_slice(data);
        a
    };
    match op {
        Op::ReadBin { off, le } => vec![0x00, 0xB0, 0x80 | 0x15, *off, *le],
        Op::UpdBin { off, data } => with_data([0x00, 0xD6, 0x80 | 0x15, *off], data),
        Op::ReadRec { ef, p1, mode, le } => vec![0x00, 0xB2, *p1, ef.sfi() << 3 | mode, *le],
        Op::UpdRec { ef, p1, mode, data } => {
            with_data([0x00, 0xDC, *p1, ef.sfi() << 3 | mode], data)
        }
        Op::AppRec { ef, data } => with_data([0x00, 0xE2, 0x00, ef.sfi() << 3], data),
        Op::PowerCycle => unreachable!(),
    }
}

/// In the application with level 2 (0015's write right F2).
fn fs_card() -> Card {
    let mut c = in_adf();
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn file_system_matches_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let mut c = fs_card();
        let mut m = Model::new();
        for (i, op) in ops.iter().enumerate() {
            let want = m.apply(op);
            let got = if let Op::PowerCycle = op {
                c.power_cycle();
                c = Card::from_image(&c.image());
                c.select_adf();
                prop_assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
                (vec![], 0x9000)
            } else {
                c.raw(&to_apdu(op))
            };
            prop_assert_eq!(&got, &want, "step {}: {:?}", i, op);
        }
        // Full contents at the end, through fresh reads.
        prop_assert_eq!(c.ok("00B0 9500 00"), m.bin.clone());
        for (ef, recs) in [(Ef::Fixed, m.records(Ef::Fixed)), (Ef::Cyclic, m.records(Ef::Cyclic)), (Ef::Variable, m.records(Ef::Variable))] {
            for (n, rec) in recs.iter().enumerate() {
                let got = c.raw(&[0x00, 0xB2, n as u8 + 1, ef.sfi() << 3 | 0b100, 0x00]);
                prop_assert_eq!(&got, &(rec.clone(), 0x9000u16), "{:?} record {}", ef, n + 1);
            }
            let past = c.raw(&[0x00, 0xB2, recs.len() as u8 + 1, ef.sfi() << 3 | 0b100, 0x00]);
            prop_assert_eq!(past.1, 0x6A83);
        }
    }
}
