//! Command APDUs: parsing and building, zero-copy.
//!
//! Responsibility: turn raw bytes into a [`Command`] exactly once, deciding the APDU case
//! (ISO/IEC 7816-4 §5.1, decoding rules of ISO/IEC 7816-3 §12.1.3), and serialise a command back
//! to the identical bytes. Invariants: a parsed `Command` borrows its data field from the input;
//! its [`Ne`] is always canonical (`Short(1..=256)`, `Extended(1..=65536)`); parse and
//! [`Command::serialize_into`] are exact inverses; malformed input gives a status word, never a
//! panic.

use crate::cla::Cla;
use crate::ins::Ins;
use crate::sw::Sw;

/// Length of the command header CLA INS P1 P2.
pub const HEADER_LEN: usize = 4;
/// Largest Ne a short Le field can express (Le `00`).
pub const MAX_SHORT_NE: usize = 256;
/// Largest Ne an extended Le field can express (Le `0000`).
pub const MAX_EXTENDED_NE: usize = 65_536;
/// Largest Nc a short Lc field can express.
pub const MAX_SHORT_NC: usize = 255;
/// Largest Nc an extended Lc field can express.
pub const MAX_EXTENDED_NC: usize = 65_535;

/// Ne, the maximum number of response data bytes expected (ISO/IEC 7816-4 §5.1).
///
/// An enum so that "no Le field" is never confused with "Le = 00": `Absent` is Ne = 0, while Le
/// `00` is `Short(256)` and Le `0000` (extended) is `Extended(65536)`. The variant records which
/// encoding the Le field used, so that serialising gives the original bytes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ne {
    /// No Le field: no response data expected.
    Absent,
    /// Short Le field, 1..=256 (Le `00` means 256).
    Short(u16),
    /// Extended Le field, 1..=65536 (Le `0000` means 65536).
    Extended(u32),
}

impl Ne {
    /// Ne as a byte count; 0 for `Absent`. Values are taken as stored, so use the ones [`Command`]
    /// produces (canonical) rather than hand-made out-of-range ones.
    pub fn max_len(self) -> usize {
        match self {
            Ne::Absent => 0,
            Ne::Short(n) => usize::from(n),
            // u32 → usize cannot fail on the 32- and 64-bit targets we build for.
            Ne::Extended(n) => usize::try_from(n).unwrap_or(usize::MAX),
        }
    }

    /// No Le field was present.
    pub fn is_absent(self) -> bool {
        matches!(self, Ne::Absent)
    }

    /// Decodes a short Le byte: `00` means 256 (ISO/IEC 7816-4 §5.1).
    pub const fn from_short_le(le: u8) -> Ne {
        Ne::Short(if le == 0 { 256 } else { le as u16 })
    }

    /// Decodes an extended Le field: `0000` means 65536 (ISO/IEC 7816-4 §5.1).
    pub const fn from_extended_le(le: u16) -> Ne {
        Ne::Extended(if le == 0 { 65_536 } else { le as u32 })
    }

    /// The canonical Ne count (1..=256 / 1..=65536), applying "0 means the maximum" and clamping
    /// out-of-range hand-made values; `None` for `Absent`.
    fn normalised_count(self) -> Option<u32> {
        match self {
            Ne::Absent => None,
            Ne::Short(0) => Some(256),
            Ne::Short(n) => Some(u32::from(n)),
            Ne::Extended(0) => Some(65_536),
            Ne::Extended(n) => Some(n.min(65_536)),
        }
    }
}

/// The four APDU cases, short or extended (ISO/IEC 7816-4 §5.1 Table 1; ISO/IEC 7816-3 §12.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Case {
    /// No data, no Le.
    Case1,
    /// Le only, one byte.
    Case2Short,
    /// Lc (one byte) and data.
    Case3Short,
    /// Lc (one byte), data and Le (one byte).
    Case4Short,
    /// Le only: `00` then two bytes.
    Case2Extended,
    /// Lc (`00` then two bytes) and data.
    Case3Extended,
    /// Lc (`00` then two bytes), data and Le (two bytes).
    Case4Extended,
}

impl Case {
    /// The case uses extended length fields.
    pub const fn is_extended(self) -> bool {
        matches!(
            self,
            Case::Case2Extended | Case::Case3Extended | Case::Case4Extended
        )
    }
}

/// A command APDU whose data field borrows from the received bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Command<'a> {
    cla: Cla,
    ins: Ins,
    p1: u8,
    p2: u8,
    data: &'a [u8],
    ne: Ne,
    case: Case,
}

impl<'a> Command<'a> {
    /// Parses a command APDU (ISO/IEC 7816-4 §5.1; case decoding of ISO/IEC 7816-3 §12.1.3).
    ///
    /// Checks in this order, so the first problem found decides the status word:
    /// fewer than 4 bytes → `WRONG_LENGTH` (6700); CLA `20`–`3F` or `FF` → `CLA_NOT_SUPPORTED`
    /// (6E00); INS `6X`/`9X` → `INS_NOT_SUPPORTED` (6D00); then any Lc/Le inconsistency
    /// (body shorter or longer than Lc says, extended Lc `0000`, a 2-byte body, …) → 6700.
    pub fn parse(bytes: &'a [u8]) -> Result<Command<'a>, Sw> {
        let (header, body) = match bytes.split_first_chunk::<HEADER_LEN>() {
            Some(split) => split,
            None => return Err(Sw::WRONG_LENGTH),
        };
        let [cla, ins, p1, p2] = *header;
        let cla = Cla::parse(cla)?;
        let ins = Ins(ins);
        if !ins.is_valid() {
            return Err(Sw::INS_NOT_SUPPORTED);
        }
        let (data, ne, case) = parse_body(body).ok_or(Sw::WRONG_LENGTH)?;
        Ok(Command {
            cla,
            ins,
            p1,
            p2,
            data,
            ne,
            case,
        })
    }

    /// Builds a command, choosing the encoding: extended when Nc > 255, when Ne > 256 or when
    /// `ne` is already `Extended`; short otherwise. Both length fields then use that one form,
    /// as ISO/IEC 7816-4 §5.1 requires, so `ne` may come back as `Extended` with the same count.
    /// Out-of-range `ne` values are normalised (0 means the form's maximum, counts above 65536
    /// are clamped). Data longer than 65535 bytes cannot be encoded: `serialize_into` refuses it.
    pub fn new(cla: Cla, ins: Ins, p1: u8, p2: u8, data: &'a [u8], ne: Ne) -> Command<'a> {
        let count = ne.normalised_count();
        let extended = data.len() > MAX_SHORT_NC
            || matches!(ne, Ne::Extended(_))
            || count.is_some_and(|n| n > 256);
        let ne = match count {
            None => Ne::Absent,
            Some(n) if extended => Ne::Extended(n),
            // n ≤ 256 here, so the conversion cannot fail.
            Some(n) => Ne::Short(u16::try_from(n).unwrap_or(256)),
        };
        let case = match (data.is_empty(), ne.is_absent(), extended) {
            (true, true, _) => Case::Case1,
            (true, false, false) => Case::Case2Short,
            (true, false, true) => Case::Case2Extended,
            (false, true, false) => Case::Case3Short,
            (false, true, true) => Case::Case3Extended,
            (false, false, false) => Case::Case4Short,
            (false, false, true) => Case::Case4Extended,
        };
        Command {
            cla,
            ins,
            p1,
            p2,
            data,
            ne,
            case,
        }
    }

    /// The class byte.
    pub fn cla(&self) -> Cla {
        self.cla
    }

    /// The instruction byte.
    pub fn ins(&self) -> Ins {
        self.ins
    }

    /// Parameter P1.
    pub fn p1(&self) -> u8 {
        self.p1
    }

    /// Parameter P2.
    pub fn p2(&self) -> u8 {
        self.p2
    }

    /// P1 ‖ P2 as one number, e.g. a 15-bit READ BINARY offset.
    pub fn p1p2(&self) -> u16 {
        u16::from_be_bytes([self.p1, self.p2])
    }

    /// The command data field (Nc bytes, possibly empty).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Ne, the maximum response length the terminal expects.
    pub fn ne(&self) -> Ne {
        self.ne
    }

    /// The APDU case as encoded.
    pub fn case(&self) -> Case {
        self.case
    }

    /// The length fields use the extended form.
    pub fn is_extended(&self) -> bool {
        self.case.is_extended()
    }

    /// CLA INS P1 P2.
    pub fn header(&self) -> [u8; 4] {
        [self.cla.raw(), self.ins.0, self.p1, self.p2]
    }

    /// The number of bytes [`Command::serialize_into`] writes.
    pub fn serialized_len(&self) -> usize {
        let nc = self.data.len();
        HEADER_LEN
            + match self.case {
                Case::Case1 => 0,
                Case::Case2Short => 1,
                Case::Case3Short => 1 + nc,
                Case::Case4Short => 2 + nc,
                Case::Case2Extended => 3,
                Case::Case3Extended => 3 + nc,
                Case::Case4Extended => 5 + nc,
            }
    }

    /// Serialises the command in the encoding its case names: the exact inverse of
    /// [`Command::parse`]. Returns the number of bytes written; `WRONG_LENGTH` if `out` is too
    /// small or the data field does not fit the chosen length field.
    pub fn serialize_into(&self, out: &mut [u8]) -> Result<usize, Sw> {
        let len = self.serialized_len();
        let nc = self.data.len();
        let fits = match self.case {
            Case::Case3Short | Case::Case4Short => (1..=MAX_SHORT_NC).contains(&nc),
            Case::Case3Extended | Case::Case4Extended => (1..=MAX_EXTENDED_NC).contains(&nc),
            _ => nc == 0,
        };
        if !fits || out.len() < len {
            return Err(Sw::WRONG_LENGTH);
        }
        let mut w = Cursor { out, pos: 0 };
        w.put(&self.header());
        let nc_short = u8::try_from(nc).unwrap_or(0);
        let nc_ext = u16::try_from(nc).unwrap_or(0).to_be_bytes();
        match self.case {
            Case::Case1 => {}
            Case::Case2Short => w.put(&[short_le(self.ne)]),
            Case::Case3Short => {
                w.put(&[nc_short]);
                w.put(self.data);
            }
            Case::Case4Short => {
                w.put(&[nc_short]);
                w.put(self.data);
                w.put(&[short_le(self.ne)]);
            }
            Case::Case2Extended => {
                w.put(&[0]);
                w.put(&extended_le(self.ne));
            }
            Case::Case3Extended => {
                w.put(&[0]);
                w.put(&nc_ext);
                w.put(self.data);
            }
            Case::Case4Extended => {
                w.put(&[0]);
                w.put(&nc_ext);
                w.put(self.data);
                w.put(&extended_le(self.ne));
            }
        }
        Ok(w.pos)
    }

    /// The same command with extended length fields, for terminals (and tests) that want the
    /// extended form even where the short one would do. Case 1 has no length field and stays as
    /// it is.
    pub fn into_extended(self) -> Command<'a> {
        let ne = match self.ne.normalised_count() {
            None => Ne::Absent,
            Some(n) => Ne::Extended(n),
        };
        let case = match self.case {
            Case::Case1 => Case::Case1,
            Case::Case2Short | Case::Case2Extended => Case::Case2Extended,
            Case::Case3Short | Case::Case3Extended => Case::Case3Extended,
            Case::Case4Short | Case::Case4Extended => Case::Case4Extended,
        };
        Command { ne, case, ..self }
    }

    /// The same header and Ne with another data field, e.g. the reassembled data of a chain or
    /// the plain data after SM unwrapping. The encoding is chosen afresh as in [`Command::new`],
    /// since the new data may need (or no longer need) the extended form.
    pub fn with_data<'b>(&self, data: &'b [u8]) -> Command<'b> {
        Command::new(self.cla, self.ins, self.p1, self.p2, data, self.ne)
    }
}

/// Decodes everything after the header into (data, Ne, case); `None` for any inconsistency.
/// ISO/IEC 7816-3 §12.1.3: with L the body length and B1 its first byte —
/// L = 0 case 1; L = 1 case 2S; B1 ≠ 0 and L = 1 + B1 case 3S, L = 2 + B1 case 4S;
/// B1 = 0 and L = 3 case 2E; B1 = 0, L > 3, Lc = B2B3 ≠ 0 and L = 3 + Lc case 3E, L = 5 + Lc case 4E.
fn parse_body(body: &[u8]) -> Option<(&[u8], Ne, Case)> {
    let Some((&b1, rest)) = body.split_first() else {
        return Some((&[], Ne::Absent, Case::Case1));
    };
    if rest.is_empty() {
        return Some((&[], Ne::from_short_le(b1), Case::Case2Short));
    }
    if b1 != 0 {
        let nc = usize::from(b1);
        let data = rest.get(..nc)?;
        return match rest.get(nc..)? {
            [] => Some((data, Ne::Absent, Case::Case3Short)),
            [le] => Some((data, Ne::from_short_le(*le), Case::Case4Short)),
            _ => None,
        };
    }
    // Extended: `00` then two bytes.
    let (lc_or_le, rest) = rest.split_first_chunk::<2>()?;
    let value = u16::from_be_bytes(*lc_or_le);
    if rest.is_empty() {
        return Some((&[], Ne::from_extended_le(value), Case::Case2Extended));
    }
    if value == 0 {
        return None;
    }
    let nc = usize::from(value);
    let data = rest.get(..nc)?;
    match rest.get(nc..)? {
        [] => Some((data, Ne::Absent, Case::Case3Extended)),
        [hi, lo] => Some((
            data,
            Ne::from_extended_le(u16::from_be_bytes([*hi, *lo])),
            Case::Case4Extended,
        )),
        _ => None,
    }
}

/// The short Le byte for a canonical count (256 → `00`).
fn short_le(ne: Ne) -> u8 {
    // 256 wraps to 0, the encoding of 256.
    (ne.max_len() & 0xFF) as u8
}

/// The two extended Le bytes for a canonical count (65536 → `0000`).
fn extended_le(ne: Ne) -> [u8; 2] {
    ((ne.max_len() & 0xFFFF) as u16).to_be_bytes()
}

/// A bounds-checked writer; callers check the total length first, so `put` never truncates in
/// practice, and if it ever would, it writes what fits instead of panicking.
struct Cursor<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let dst = self.out.get_mut(self.pos..).unwrap_or_default();
        let mut written = 0;
        for (d, s) in dst.iter_mut().zip(bytes) {
            *d = *s;
            written += 1;
        }
        self.pos += written;
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn parse(bytes: &[u8]) -> Result<Command<'_>, Sw> {
        Command::parse(bytes)
    }

    fn serialize(cmd: &Command<'_>) -> Vec<u8> {
        let mut out = vec![0u8; cmd.serialized_len()];
        let n = cmd.serialize_into(&mut out).unwrap();
        assert_eq!(n, out.len());
        out
    }

    #[test]
    fn hand_written_cases() {
        // Case 1.
        let c = parse(&[0x00, 0xA4, 0x00, 0x00]).unwrap();
        assert_eq!(
            (c.case(), c.ne(), c.data()),
            (Case::Case1, Ne::Absent, &[][..])
        );
        // Case 2S, Le 00 ⇒ 256.
        let c = parse(&[0x00, 0xB0, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!((c.case(), c.ne()), (Case::Case2Short, Ne::Short(256)));
        assert_eq!(c.ne().max_len(), 256);
        // Case 2S, Le 10.
        let c = parse(&[0x00, 0xB0, 0x00, 0x00, 0x10]).unwrap();
        assert_eq!(c.ne(), Ne::Short(16));
        // Case 3S.
        let c = parse(&[0x00, 0xD6, 0x00, 0x00, 0x02, 0xAA, 0xBB]).unwrap();
        assert_eq!(
            (c.case(), c.ne(), c.data()),
            (Case::Case3Short, Ne::Absent, &[0xAA, 0xBB][..])
        );
        // Case 4S with Le 00.
        let c = parse(&[0x00, 0xA4, 0x04, 0x00, 0x01, 0xA0, 0x00]).unwrap();
        assert_eq!(
            (c.case(), c.ne(), c.data()),
            (Case::Case4Short, Ne::Short(256), &[0xA0][..])
        );
        // Case 2E with 0000 ⇒ 65536.
        let c = parse(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!(
            (c.case(), c.ne()),
            (Case::Case2Extended, Ne::Extended(65_536))
        );
        assert_eq!(c.ne().max_len(), 65_536);
        // Case 2E with 0102.
        let c = parse(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x01, 0x02]).unwrap();
        assert_eq!(c.ne(), Ne::Extended(0x0102));
        // Case 3E.
        let c = parse(&[0x00, 0xD6, 0x00, 0x00, 0x00, 0x00, 0x01, 0x55]).unwrap();
        assert_eq!((c.case(), c.data()), (Case::Case3Extended, &[0x55][..]));
        // Case 4E with Le 0000.
        let c = parse(&[0x00, 0x88, 0x00, 0x00, 0x00, 0x00, 0x01, 0x55, 0x00, 0x00]).unwrap();
        assert_eq!(
            (c.case(), c.ne()),
            (Case::Case4Extended, Ne::Extended(65_536))
        );
        assert!(c.is_extended());
        assert_eq!(c.header(), [0x00, 0x88, 0x00, 0x00]);
        assert_eq!(c.p1p2(), 0);
    }

    #[test]
    fn malformed_lengths_give_6700() {
        let bad: &[&[u8]] = &[
            &[],
            &[0x00],
            &[0x00, 0xA4],
            &[0x00, 0xA4, 0x00],
            // Short "Lc = 0" with one more byte: a 2-byte body is never valid.
            &[0x00, 0xA4, 0x00, 0x00, 0x00, 0x00],
            // Extended with Lc 0000 and data.
            &[0x00, 0xD6, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01],
            // Extended Lc with one trailing byte (a half Le).
            &[0x00, 0xD6, 0x00, 0x00, 0x00, 0x00, 0x01, 0x55, 0x00],
            // Extended Lc with three trailing bytes.
            &[
                0x00, 0xD6, 0x00, 0x00, 0x00, 0x00, 0x01, 0x55, 0x00, 0x00, 0x00,
            ],
            // Extended Lc, body shorter than Lc.
            &[0x00, 0xD6, 0x00, 0x00, 0x00, 0x00, 0x03, 0x55],
            // Short Lc, body shorter than Lc.
            &[0x00, 0xD6, 0x00, 0x00, 0x03, 0xAA, 0xBB],
            // Short Lc, body two bytes longer than Lc.
            &[0x00, 0xD6, 0x00, 0x00, 0x01, 0xAA, 0xBB, 0xCC],
            // Extended with only one length byte after 00.
            &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x01],
        ];
        for bytes in bad {
            assert_eq!(parse(bytes), Err(Sw::WRONG_LENGTH), "{bytes:02X?}");
        }
    }

    #[test]
    fn header_errors() {
        assert_eq!(parse(&[0xFF, 0xA4, 0, 0]), Err(Sw::CLA_NOT_SUPPORTED));
        assert_eq!(parse(&[0x20, 0xA4, 0, 0]), Err(Sw::CLA_NOT_SUPPORTED));
        assert_eq!(parse(&[0x00, 0x6A, 0, 0]), Err(Sw::INS_NOT_SUPPORTED));
        assert_eq!(parse(&[0x00, 0x90, 0, 0]), Err(Sw::INS_NOT_SUPPORTED));
        // CLA is checked before INS, INS before the body.
        assert_eq!(parse(&[0xFF, 0x60, 0, 0, 0, 0]), Err(Sw::CLA_NOT_SUPPORTED));
        assert_eq!(parse(&[0x00, 0x60, 0, 0, 0, 0]), Err(Sw::INS_NOT_SUPPORTED));
    }

    #[test]
    fn new_chooses_encoding() {
        let cla = Cla::INTERINDUSTRY;
        let big = [0x11u8; 300];
        let c = Command::new(cla, Ins::UPDATE_BINARY, 0, 0, &big, Ne::Absent);
        assert_eq!(c.case(), Case::Case3Extended);
        let c = Command::new(cla, Ins::UPDATE_BINARY, 0, 0, &big, Ne::Short(16));
        assert_eq!((c.case(), c.ne()), (Case::Case4Extended, Ne::Extended(16)));
        let c = Command::new(cla, Ins::READ_BINARY, 0, 0, &[], Ne::Short(0));
        assert_eq!((c.case(), c.ne()), (Case::Case2Short, Ne::Short(256)));
        let c = Command::new(cla, Ins::READ_BINARY, 0, 0, &[], Ne::Short(1000));
        assert_eq!(
            (c.case(), c.ne()),
            (Case::Case2Extended, Ne::Extended(1000))
        );
        let c = Command::new(cla, Ins::READ_BINARY, 0, 0, &[], Ne::Extended(0));
        assert_eq!(c.ne(), Ne::Extended(65_536));
        let c = Command::new(cla, Ins::READ_BINARY, 0, 0, &[], Ne::Extended(u32::MAX));
        assert_eq!(c.ne(), Ne::Extended(65_536));
        assert_eq!(serialize(&c), [0, 0xB0, 0, 0, 0, 0, 0]);
        // with_data re-chooses the form.
        let short = Command::new(cla, Ins::UPDATE_BINARY, 1, 2, &[1, 2], Ne::Short(256));
        let long = short.with_data(&big);
        assert_eq!(
            (long.case(), long.ne()),
            (Case::Case4Extended, Ne::Extended(256))
        );
        assert_eq!(long.header(), short.header());
        // An extended Ne keeps the extended form even for small data.
        assert_eq!(long.with_data(&[9]).case(), Case::Case4Extended);
        assert_eq!(short.with_data(&[9]).case(), Case::Case4Short);
    }

    #[test]
    fn serialize_refuses_small_buffers_and_huge_data() {
        let c = Command::new(
            Cla::INTERINDUSTRY,
            Ins::VERIFY,
            0,
            1,
            &[1, 2, 3],
            Ne::Absent,
        );
        let mut out = [0u8; 7];
        assert_eq!(c.serialize_into(&mut out), Err(Sw::WRONG_LENGTH));
        let mut out = [0u8; 8];
        assert_eq!(c.serialize_into(&mut out), Ok(8));
        assert_eq!(out, [0x00, 0x20, 0x00, 0x01, 0x03, 1, 2, 3]);
        let huge = vec![0u8; 70_000];
        let c = Command::new(
            Cla::INTERINDUSTRY,
            Ins::UPDATE_BINARY,
            0,
            0,
            &huge,
            Ne::Absent,
        );
        let mut out = vec![0u8; 80_000];
        assert_eq!(c.serialize_into(&mut out), Err(Sw::WRONG_LENGTH));
    }

    fn ne_strategy() -> impl Strategy<Value = Ne> {
        prop_oneof![
            Just(Ne::Absent),
            (1u16..=256).prop_map(Ne::Short),
            (1u32..=65_536).prop_map(Ne::Extended),
        ]
    }

    proptest! {
        #[test]
        fn build_serialize_parse_is_identity(
            cla in any::<u8>().prop_filter_map("valid CLA", |b| Cla::parse(b).ok()),
            ins in any::<u8>().prop_filter("valid INS", |b| Ins(*b).is_valid()),
            p1 in any::<u8>(),
            p2 in any::<u8>(),
            data in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..=300),
                proptest::collection::vec(any::<u8>(), 0..=66_000),
            ],
            ne in ne_strategy(),
        ) {
            let built = Command::new(cla, Ins(ins), p1, p2, &data, ne);
            if data.len() > MAX_EXTENDED_NC {
                let mut out = vec![0u8; built.serialized_len()];
                prop_assert_eq!(built.serialize_into(&mut out), Err(Sw::WRONG_LENGTH));
                return Ok(());
            }
            // Ne's count never changes, only possibly its form.
            prop_assert_eq!(built.ne().max_len(), ne.max_len());
            let bytes = serialize(&built);
            let parsed = Command::parse(&bytes).unwrap();
            prop_assert_eq!(parsed, built);
            prop_assert_eq!(serialize(&parsed), bytes);
        }

        #[test]
        fn every_case_round_trips(
            case_index in 0usize..7,
            nc_short in 1usize..=255,
            nc_ext in 1usize..=1024,
            le_short in 1u16..=256,
            le_ext in 1u32..=65_536,
        ) {
            let data_short = vec![0x5Au8; nc_short];
            let data_ext = vec![0xA5u8; nc_ext];
            let (data, ne, case): (&[u8], Ne, Case) = match case_index {
                0 => (&[], Ne::Absent, Case::Case1),
                1 => (&[], Ne::Short(le_short), Case::Case2Short),
                2 => (&data_short, Ne::Absent, Case::Case3Short),
                3 => (&data_short, Ne::Short(le_short), Case::Case4Short),
                4 => (&[], Ne::Extended(le_ext), Case::Case2Extended),
                5 => (&data_ext, Ne::Absent, Case::Case3Extended),
                _ => (&data_ext, Ne::Extended(le_ext), Case::Case4Extended),
            };
            let mut built = Command::new(Cla::INTERINDUSTRY, Ins::SELECT, 0, 0, data, ne);
            if case.is_extended() {
                // Small Nc with no Le would otherwise be encoded short.
                built = built.into_extended();
            }
            prop_assert_eq!(built.case(), case);
            let bytes = serialize(&built);
            prop_assert_eq!(Command::parse(&bytes).unwrap(), built);
        }

        #[test]
        fn parse_never_panics_and_reserialises_identically(
            bytes in proptest::collection::vec(any::<u8>(), 0..=300)
        ) {
            check_parse(&bytes)?;
        }

        #[test]
        fn parse_never_panics_on_large_inputs(
            head in proptest::collection::vec(any::<u8>(), 7),
            len in 65_530usize..=70_000,
            fill in any::<u8>(),
        ) {
            let mut bytes = head;
            bytes.resize(len, fill);
            check_parse(&bytes)?;
            // Also the well-formed extended shapes around the maximum Lc.
            bytes[4] = 0;
            bytes[5] = 0xFF;
            bytes[6] = 0xFF;
            check_parse(&bytes)?;
        }
    }

    fn check_parse(bytes: &[u8]) -> Result<(), TestCaseError> {
        match Command::parse(bytes) {
            Ok(cmd) => {
                prop_assert_eq!(serialize(&cmd), bytes);
                prop_assert_eq!(cmd.serialized_len(), bytes.len());
            }
            Err(sw) => prop_assert!([
                Sw::WRONG_LENGTH,
                Sw::CLA_NOT_SUPPORTED,
                Sw::INS_NOT_SUPPORTED
            ]
            .contains(&sw)),
        }
        Ok(())
    }

    #[test]
    fn extended_maximum_lc() {
        let mut bytes = vec![0x00, 0xD6, 0x00, 0x00, 0x00, 0xFF, 0xFF];
        bytes.resize(7 + 65_535, 0x42);
        let c = parse(&bytes).unwrap();
        assert_eq!((c.case(), c.data().len()), (Case::Case3Extended, 65_535));
        bytes.extend_from_slice(&[0x00, 0x00]);
        let c = parse(&bytes).unwrap();
        assert_eq!(
            (c.case(), c.ne()),
            (Case::Case4Extended, Ne::Extended(65_536))
        );
        assert_eq!(serialize(&c), bytes);
    }
}
