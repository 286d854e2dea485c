//! Typed identifiers: application identifiers, file identifiers, short EF identifiers and record
//! numbers.
//!
//! Responsibility: make invalid identifiers unrepresentable, so that the file system and the
//! command handlers never re-check ranges. Invariants: an [`Aid`] holds 5..=16 bytes with the
//! unused tail zeroed (so derived equality is byte equality); an [`Sfi`] is 1..=30; a
//! [`RecordNumber`] is 1..=254.

use core::fmt;
use core::num::NonZeroU8;

use crate::sw::Sw;

/// Shortest AID: a registered application provider identifier alone (ISO/IEC 7816-4 §8.2.1.2).
pub const AID_MIN_LEN: usize = 5;
/// Longest AID: RID plus an 11-byte PIX (ISO/IEC 7816-4 §8.2.1.2).
pub const AID_MAX_LEN: usize = 16;
/// Length of the registered application provider identifier (RID).
pub const RID_LEN: usize = 5;

/// An application identifier, also used as DF name (ISO/IEC 7816-4 §8.2.1.2, ISO/IEC 7816-5).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aid {
    bytes: [u8; AID_MAX_LEN],
    len: u8,
}

/// The category of an AID, from the high nibble of its first byte (ISO/IEC 7816-4 §8.2.1.2
/// Table 90).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AidCategory {
    /// `0`–`9`: reserved for backward compatibility with ISO/IEC 7812-1.
    Iso7812,
    /// `A`: international registration of the provider (e.g. `A000000003`, `A000000333`).
    International,
    /// `B`, `C`: reserved for future use by ISO/IEC JTC 1/SC 17.
    Reserved,
    /// `D`: national registration (ISO 3166-1 country code follows, e.g. `D156…` for China).
    National,
    /// `E`: identification of a standard by an object identifier (ISO/IEC 8825-1).
    Standard,
    /// `F`: proprietary, no registration.
    Proprietary,
}

/// Compile-time length check for [`Aid::from_static`]: evaluating `OK` fails the build for a
/// literal of the wrong length, whether the call itself is in a const or at run time.
struct AidLenCheck<const N: usize>;

impl<const N: usize> AidLenCheck<N> {
    const OK: () = assert!(
        N >= AID_MIN_LEN && N <= AID_MAX_LEN,
        "an AID is 5 to 16 bytes (ISO/IEC 7816-4 §8.2.1.2)"
    );
}

impl Aid {
    /// Builds an AID, refusing lengths outside 5..=16 with `WRONG_DATA` (6A80), the status word for
    /// a bad DF name in a command data field (ISO/IEC 7816-4 §5.1.3).
    pub const fn new(bytes: &[u8]) -> Result<Aid, Sw> {
        if bytes.len() < AID_MIN_LEN || bytes.len() > AID_MAX_LEN {
            return Err(Sw::WRONG_DATA);
        }
        Ok(Aid {
            bytes: copy_padded(bytes),
            // len ≤ 16, so the cast is lossless.
            len: bytes.len() as u8,
        })
    }

    /// Builds an AID from a literal; a literal that is not 5–16 bytes long fails to compile
    /// (`const OK` assertion, evaluated for every `N` used), so this never fails at run time.
    ///
    /// ```
    /// use cos_apdu::Aid;
    /// const PBOC_ED_EP: Aid = Aid::from_static(&[0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01]);
    /// assert_eq!(PBOC_ED_EP.rid(), &[0xA0, 0x00, 0x00, 0x03, 0x33]);
    /// ```
    ///
    /// ```compile_fail
    /// use cos_apdu::Aid;
    /// const TOO_SHORT: Aid = Aid::from_static(&[0xA0, 0x00, 0x00]);
    /// ```
    pub const fn from_static<const N: usize>(bytes: &[u8; N]) -> Aid {
        let () = AidLenCheck::<N>::OK;
        Aid {
            bytes: copy_padded(bytes),
            // N ≤ 16 (checked above at compile time).
            len: N as u8,
        }
    }

    /// The identifier's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
            .get(..usize::from(self.len))
            .unwrap_or(&self.bytes)
    }

    /// The registered application provider identifier: the first five bytes.
    pub fn rid(&self) -> &[u8] {
        self.as_bytes().get(..RID_LEN).unwrap_or_default()
    }

    /// The proprietary application identifier extension: the bytes after the RID (may be empty).
    pub fn pix(&self) -> &[u8] {
        self.as_bytes().get(RID_LEN..).unwrap_or_default()
    }

    /// The registration category (ISO/IEC 7816-4 §8.2.1.2 Table 90).
    pub const fn category(&self) -> AidCategory {
        match self.bytes[0] >> 4 {
            0x0..=0x9 => AidCategory::Iso7812,
            0xA => AidCategory::International,
            0xD => AidCategory::National,
            0xE => AidCategory::Standard,
            0xF => AidCategory::Proprietary,
            _ => AidCategory::Reserved,
        }
    }

    /// Partial DF-name matching for SELECT by name (ISO/IEC 7816-4 §7.1.1, P1 = `04`): a DF
    /// matches when `partial` is a prefix of its name (right truncation). P2 "first or only
    /// occurrence" then picks the first matching DF and "next occurrence" the following one; that
    /// walk is the file system's job, this is its predicate. An empty `partial` matches every
    /// AID, so SELECT must decide separately what an empty data field means.
    pub fn starts_with(&self, partial: &[u8]) -> bool {
        self.as_bytes().starts_with(partial)
    }
}

/// Copies up to 16 bytes into a zero-padded array, in a `const fn` (where `copy_from_slice` and
/// iterators are not yet available at our MSRV).
#[allow(clippy::indexing_slicing)] // i < bytes.len() and i < AID_MAX_LEN are loop conditions
const fn copy_padded(bytes: &[u8]) -> [u8; AID_MAX_LEN] {
    let mut out = [0u8; AID_MAX_LEN];
    let mut i = 0;
    while i < bytes.len() && i < AID_MAX_LEN {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

impl fmt::Debug for Aid {
    /// `Aid(A000000003860980)`: hex, as AIDs are written in specifications.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Aid(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02X}")?;
        }
        f.write_str(")")
    }
}

impl AsRef<[u8]> for Aid {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl TryFrom<&[u8]> for Aid {
    type Error = Sw;
    fn try_from(bytes: &[u8]) -> Result<Aid, Sw> {
        Aid::new(bytes)
    }
}

/// A two-byte file identifier (ISO/IEC 7816-4 §5.3.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fid(pub u16);

impl Fid {
    /// The master file, `3F00` (ISO/IEC 7816-4 §5.3.1.1).
    pub const MF: Fid = Fid(0x3F00);

    /// `3FFF` (reserved for path selection: "current DF") and `FFFF` (reserved for future use)
    /// can never name a file (ISO/IEC 7816-4 §5.3.1.1).
    pub const fn is_reserved(self) -> bool {
        matches!(self.0, 0x3FFF | 0xFFFF)
    }

    /// The file identifier as sent in SELECT and CREATE FILE: high byte first.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// The inverse of [`Fid::to_bytes`].
    pub const fn from_bytes(b: [u8; 2]) -> Fid {
        Fid(u16::from_be_bytes(b))
    }
}

/// A short EF identifier, 1..=30 (ISO/IEC 7816-4 §5.3.1.1): 0 means "current EF" in commands
/// and 31 is reserved, so neither is a valid SFI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sfi(u8);

impl Sfi {
    /// `Some` for 1..=30.
    pub const fn new(v: u8) -> Option<Sfi> {
        match v {
            1..=30 => Some(Sfi(v)),
            _ => None,
        }
    }

    /// The number, 1..=30.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// A record number, 1..=254 (ISO/IEC 7816-4 §7.3.1): `00` refers to the current record and
/// `FF` is reserved for future use, so neither names a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordNumber(NonZeroU8);

impl RecordNumber {
    /// `Some` for 1..=254.
    pub const fn new(n: u8) -> Option<Self> {
        if n == 0xFF {
            return None;
        }
        match NonZeroU8::new(n) {
            Some(n) => Some(RecordNumber(n)),
            None => None,
        }
    }

    /// The number, 1..=254.
    pub const fn get(self) -> u8 {
        self.0.get()
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
    use std::format;

    const PBOC: Aid = Aid::from_static(&[0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x01]);

    #[test]
    fn aid_lengths() {
        for len in 0..=20usize {
            let bytes = [0xA0u8; 20];
            let r = Aid::new(&bytes[..len]);
            if (5..=16).contains(&len) {
                let aid = r.unwrap();
                assert_eq!(aid.as_bytes(), &bytes[..len]);
                assert_eq!(aid.rid(), &bytes[..5]);
                assert_eq!(aid.pix(), &bytes[5..len]);
            } else {
                assert_eq!(r, Err(Sw::WRONG_DATA));
            }
        }
        assert_eq!(PBOC.as_bytes().len(), 8);
        assert_eq!(PBOC.pix(), &[0x01, 0x01, 0x01]);
        assert_eq!(format!("{PBOC:?}"), "Aid(A000000333010101)");
        assert_eq!(Aid::try_from(PBOC.as_ref()), Ok(PBOC));
    }

    #[test]
    fn aid_category_table() {
        let expected = [
            (0x0, AidCategory::Iso7812),
            (0x1, AidCategory::Iso7812),
            (0x2, AidCategory::Iso7812),
            (0x3, AidCategory::Iso7812),
            (0x4, AidCategory::Iso7812),
            (0x5, AidCategory::Iso7812),
            (0x6, AidCategory::Iso7812),
            (0x7, AidCategory::Iso7812),
            (0x8, AidCategory::Iso7812),
            (0x9, AidCategory::Iso7812),
            (0xA, AidCategory::International),
            (0xB, AidCategory::Reserved),
            (0xC, AidCategory::Reserved),
            (0xD, AidCategory::National),
            (0xE, AidCategory::Standard),
            (0xF, AidCategory::Proprietary),
        ];
        for (nibble, category) in expected {
            for low in [0x0u8, 0x5, 0xF] {
                let aid = Aid::new(&[(nibble << 4) | low, 1, 2, 3, 4]).unwrap();
                assert_eq!(aid.category(), category, "{nibble:X}{low:X}");
            }
        }
    }

    #[test]
    fn partial_name_matching() {
        assert!(PBOC.starts_with(&[0xA0, 0x00, 0x00, 0x03, 0x33]));
        assert!(PBOC.starts_with(PBOC.as_bytes()));
        assert!(PBOC.starts_with(&[]));
        assert!(!PBOC.starts_with(&[0xA0, 0x00, 0x00, 0x03, 0x34]));
        let longer = [PBOC.as_bytes(), &[0x00]].concat();
        assert!(!PBOC.starts_with(&longer));
        // Equality is byte equality, independent of how the AID was built.
        let a = Aid::new(&[1, 2, 3, 4, 5]).unwrap();
        let b = Aid::new(&[1, 2, 3, 4, 5, 0]).unwrap();
        assert_ne!(a, b);
        assert_eq!(a, Aid::from_static(&[1, 2, 3, 4, 5]));
    }

    #[test]
    fn fid() {
        assert_eq!(Fid::MF.to_bytes(), [0x3F, 0x00]);
        assert!(Fid(0x3FFF).is_reserved());
        assert!(Fid(0xFFFF).is_reserved());
        assert!(!Fid::MF.is_reserved());
        for v in 0..=u16::MAX {
            assert_eq!(Fid::from_bytes(Fid(v).to_bytes()), Fid(v));
        }
    }

    #[test]
    fn sfi_and_record_number_ranges() {
        for v in 0..=255u8 {
            assert_eq!(
                Sfi::new(v).map(Sfi::get),
                (1..=30).contains(&v).then_some(v)
            );
            assert_eq!(
                RecordNumber::new(v).map(RecordNumber::get),
                (1..=254).contains(&v).then_some(v)
            );
        }
    }
}
