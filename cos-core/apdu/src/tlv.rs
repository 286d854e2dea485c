//! BER-TLV reading (ISO/IEC 7816-4 §5.2.2).
//!
//! Responsibility: walk a byte string as a sequence of BER-TLV data objects, yielding
//! `(tag, value)` pairs that borrow from the input. Invariants: never panics, never reads past the
//! input, and stops for good after the first malformed object (yielding one `Err`). Tags are
//! limited to one or two bytes (`u16`), which covers every tag ISO/IEC 7816-4, JR/T 0025 and our
//! applets use; three-byte tags are reported as [`TlvError::TagTooLong`].
//! The matching writer is [`crate::Response::tlv`] / [`crate::Response::begin_tlv`].

use crate::sw::Sw;

/// Why a BER-TLV string could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlvError {
    /// The input ended inside a tag field.
    TruncatedTag,
    /// A tag field longer than two bytes.
    TagTooLong,
    /// The input ended inside a length field.
    TruncatedLength,
    /// A first length byte of `80` (indefinite) or `85`–`FF`, which ISO/IEC 7816-4 §5.2.2.2 forbids.
    InvalidLength,
    /// The value field is shorter than the length field says.
    TruncatedValue,
}

impl From<TlvError> for Sw {
    /// ISO/IEC 7816-4 §5.1.3: a data field that is not valid BER-TLV is "Nc inconsistent with
    /// TLV structure" (`6A85`).
    fn from(_: TlvError) -> Sw {
        Sw::NC_INCONSISTENT_WITH_TLV
    }
}

/// Iterator over the data objects of a BER-TLV string; see [`tlv_iter`].
#[derive(Clone, Debug)]
pub struct TlvIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Iterates over the BER-TLV data objects in `data`, yielding `(tag, value)`.
///
/// `00` and `FF` bytes before, between and after objects are skipped as padding, as
/// ISO/IEC 7816-4 §5.2.2 allows (erased or rewritten objects leave them behind). Constructed
/// objects are not descended into: call `tlv_iter` again on their value.
pub fn tlv_iter(data: &[u8]) -> TlvIter<'_> {
    TlvIter {
        rest: data,
        failed: false,
    }
}

/// The value of the first object with `tag` at the top level of `data`.
pub fn find(data: &[u8], tag: u16) -> Result<Option<&[u8]>, TlvError> {
    for item in tlv_iter(data) {
        let (t, value) = item?;
        if t == tag {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

/// Whether `tag` is a BER-TLV tag this crate can write and read back (ISO/IEC 7816-4 §5.2.2.1):
/// one byte whose bits b5–b1 are not all set (and not the padding values `00`/`FF`), or two
/// bytes, the first with b5–b1 all set (not `FF`) and the second with b8 clear. ISO/IEC 7816-4
/// asks for a second byte of at least `1F`, but EMV and JR/T 0025 use tags such as `9F08` and
/// `5F20`, so reader and writer accept `00`–`7F`.
pub const fn is_valid_tag(tag: u16) -> bool {
    let [hi, lo] = tag.to_be_bytes();
    if hi == 0 {
        lo != 0x00 && lo != 0xFF && lo & 0x1F != 0x1F
    } else {
        hi != 0xFF && hi & 0x1F == 0x1F && lo <= 0x7F
    }
}

/// Bit b6 of the first tag byte: the value is itself a BER-TLV string (ISO/IEC 7816-4 §5.2.2.1).
pub const fn is_constructed(tag: u16) -> bool {
    let [hi, lo] = tag.to_be_bytes();
    let first = if hi == 0 { lo } else { hi };
    first & 0x20 != 0
}

impl<'a> TlvIter<'a> {
    fn read_tag(&mut self) -> Result<u16, TlvError> {
        let (&first, rest) = self.rest.split_first().ok_or(TlvError::TruncatedTag)?;
        if first & 0x1F != 0x1F {
            self.rest = rest;
            return Ok(u16::from(first));
        }
        let (&second, rest) = rest.split_first().ok_or(TlvError::TruncatedTag)?;
        if second & 0x80 != 0 {
            return Err(TlvError::TagTooLong);
        }
        self.rest = rest;
        Ok(u16::from_be_bytes([first, second]))
    }

    fn read_length(&mut self) -> Result<usize, TlvError> {
        let (&first, rest) = self.rest.split_first().ok_or(TlvError::TruncatedLength)?;
        let count = match first {
            0x00..=0x7F => {
                self.rest = rest;
                return Ok(usize::from(first));
            }
            0x81..=0x84 => usize::from(first & 0x0F),
            _ => return Err(TlvError::InvalidLength),
        };
        let bytes = rest.get(..count).ok_or(TlvError::TruncatedLength)?;
        let len = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        self.rest = rest.get(count..).ok_or(TlvError::TruncatedLength)?;
        // Anything beyond usize cannot fit in the input anyway.
        usize::try_from(len).map_err(|_| TlvError::TruncatedValue)
    }

    fn read_object(&mut self) -> Result<(u16, &'a [u8]), TlvError> {
        let tag = self.read_tag()?;
        let len = self.read_length()?;
        let value = self.rest.get(..len).ok_or(TlvError::TruncatedValue)?;
        self.rest = self.rest.get(len..).ok_or(TlvError::TruncatedValue)?;
        Ok((tag, value))
    }
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<(u16, &'a [u8]), TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        while let Some((&b, rest)) = self.rest.split_first() {
            if b != 0x00 && b != 0xFF {
                break;
            }
            self.rest = rest;
        }
        if self.rest.is_empty() {
            return None;
        }
        let item = self.read_object();
        if item.is_err() {
            self.failed = true;
            self.rest = &[];
        }
        Some(item)
    }
}

impl core::iter::FusedIterator for TlvIter<'_> {}

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
    use std::vec::Vec;

    fn collect(data: &[u8]) -> Vec<Result<(u16, &[u8]), TlvError>> {
        tlv_iter(data).collect()
    }

    #[test]
    fn reads_fci() {
        // 6F { 84 DF-name, A5 { 9F08 01 02 } }
        let fci = [
            0x6F, 0x0E, 0x84, 0x05, 0xA0, 0x00, 0x00, 0x00, 0x03, 0xA5, 0x05, 0x9F, 0x08, 0x02,
            0x01, 0x02,
        ];
        let top = collect(&fci);
        assert_eq!(top.len(), 1);
        let (tag, value) = top[0].unwrap();
        assert_eq!(tag, 0x6F);
        assert!(is_constructed(tag));
        assert_eq!(
            find(value, 0x84),
            Ok(Some(&[0xA0, 0x00, 0x00, 0x00, 0x03][..]))
        );
        let a5 = find(value, 0xA5).unwrap().unwrap();
        assert_eq!(find(a5, 0x9F08), Ok(Some(&[0x01, 0x02][..])));
        assert_eq!(find(a5, 0x50), Ok(None));
    }

    #[test]
    fn long_forms_and_padding() {
        let mut data = std::vec![0x00, 0xFF, 0x53, 0x81, 0x80];
        data.extend([0x11; 0x80]);
        data.extend([0x54, 0x82, 0x01, 0x00]);
        data.extend([0x22; 0x100]);
        data.extend([0x00, 0x00]);
        let items = collect(&data);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].unwrap().1.len(), 0x80);
        assert_eq!(items[1].unwrap().1.len(), 0x100);
        assert!(collect(&[0x00, 0xFF, 0x00]).is_empty());
    }

    #[test]
    fn malformed_inputs() {
        assert_eq!(collect(&[0x9F]), [Err(TlvError::TruncatedTag)]);
        assert_eq!(
            collect(&[0x9F, 0x81, 0x01, 0x00]),
            [Err(TlvError::TagTooLong)]
        );
        assert_eq!(collect(&[0x5F, 0x20, 0x00]), [Ok((0x5F20, &[][..]))]);
        assert_eq!(collect(&[0x84]), [Err(TlvError::TruncatedLength)]);
        assert_eq!(
            collect(&[0x84, 0x82, 0x01]),
            [Err(TlvError::TruncatedLength)]
        );
        assert_eq!(collect(&[0x84, 0x80]), [Err(TlvError::InvalidLength)]);
        assert_eq!(
            collect(&[0x84, 0x85, 0, 0, 0, 0, 1]),
            [Err(TlvError::InvalidLength)]
        );
        assert_eq!(
            collect(&[0x84, 0x03, 0x01]),
            [Err(TlvError::TruncatedValue)]
        );
        assert_eq!(
            collect(&[0x84, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]),
            [Err(TlvError::TruncatedValue)]
        );
        // A good object, then a bad one, then nothing more.
        let items = collect(&[0x80, 0x01, 0xAA, 0x84, 0x05, 0x01, 0x80, 0x00]);
        assert_eq!(
            items,
            [Ok((0x80, &[0xAA][..])), Err(TlvError::TruncatedValue)]
        );
        assert_eq!(
            Sw::from(TlvError::TruncatedTag),
            Sw::NC_INCONSISTENT_WITH_TLV
        );
    }

    #[test]
    fn tag_validity() {
        assert!(is_valid_tag(0x84));
        assert!(is_valid_tag(0x9F08));
        assert!(is_valid_tag(0x5F2D));
        assert!(!is_valid_tag(0x00));
        assert!(!is_valid_tag(0xFF));
        assert!(!is_valid_tag(0x1F));
        assert!(!is_valid_tag(0x9F80));
        assert!(is_valid_tag(0x5F20));
        assert!(!is_valid_tag(0x8408));
        assert!(!is_valid_tag(0xFF20));
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..=600)) {
            let mut consumed = 0usize;
            for item in tlv_iter(&data) {
                if let Ok((tag, value)) = item {
                    prop_assert!(value.len() <= data.len());
                    prop_assert!(tag != 0);
                }
                consumed += 1;
                prop_assert!(consumed <= data.len());
            }
        }
    }
}
