//! The response data writer handed to command handlers.
//!
//! Responsibility: let a handler append response data to a fixed, caller-owned buffer without
//! ever panicking or silently truncating. Invariants: every write either completes or leaves the
//! contents exactly as they were and reports [`Overflow`]; there is no `Deref` to the inner
//! vector, so the only way in is through these deliberate methods. BER-TLV objects
//! (ISO/IEC 7816-4 §5.2.2) can be written whole ([`Response::tlv`]) or, for constructed objects
//! whose size is not known up front, opened and closed ([`Response::begin_tlv`] /
//! [`Response::end_tlv`]), the length being patched afterwards.

use heapless::VecView;

/// The response buffer is full: the write did not happen. The kernel maps this to one
/// documented status word at the command boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Overflow;

/// An open constructed BER-TLV object, to be closed with [`Response::end_tlv`].
///
/// Marks must be closed innermost first (nesting order), and the writer must not be truncated
/// below a mark while it is open; a mark that no longer fits the contents is refused with
/// [`Overflow`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an open TLV keeps a placeholder length until end_tlv"]
pub struct TlvMark {
    /// Index of the one-byte length placeholder; the value starts right after it.
    len_pos: usize,
}

/// Response data writer over a caller-owned `heapless` vector.
pub struct Response<'b> {
    buf: &'b mut VecView<u8>,
}

impl<'b> Response<'b> {
    /// Wraps `buf`, clearing it: a response always starts empty.
    pub fn new(buf: &'b mut VecView<u8>) -> Self {
        buf.clear();
        Response { buf }
    }

    /// Appends one byte.
    #[inline(never)]
    pub fn push(&mut self, b: u8) -> Result<(), Overflow> {
        self.buf.push(b).map_err(|_| Overflow)
    }

    /// Appends `bytes` entirely, or nothing.
    #[inline(never)]
    pub fn extend(&mut self, bytes: &[u8]) -> Result<(), Overflow> {
        self.buf.extend_from_slice(bytes).map_err(|_| Overflow)
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Nothing written yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The most the buffer can hold.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// How many more bytes fit.
    pub fn remaining(&self) -> usize {
        self.capacity().saturating_sub(self.len())
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        self.buf.as_slice()
    }

    /// Keeps the first `len` bytes (no effect if `len` is not shorter).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Writes a whole BER-TLV object (ISO/IEC 7816-4 §5.2.2): the tag on one byte if it is below
    /// `0100`, else on two; the length in the shortest form (`00`–`7F`, `81 xx`, `82 xxxx`, …);
    /// then the value. `tag` should satisfy [`crate::tlv::is_valid_tag`] for the result to read back.
    pub fn tlv(&mut self, tag: u16, value: &[u8]) -> Result<(), Overflow> {
        let (len_field, len_len) = length_field(value.len()).ok_or(Overflow)?;
        let tag_bytes = tag.to_be_bytes();
        let tag_field = tag_bytes.get(tag_len(tag)..).unwrap_or(&tag_bytes);
        let len_field = len_field.get(..len_len).unwrap_or(&len_field);
        let total = tag_field.len() + len_field.len() + value.len();
        if total > self.remaining() {
            return Err(Overflow);
        }
        self.extend(tag_field)?;
        self.extend(len_field)?;
        self.extend(value)
    }

    /// Opens a constructed BER-TLV object: writes the tag and a one-byte length placeholder.
    /// Write the value with any other method, then call [`Response::end_tlv`].
    pub fn begin_tlv(&mut self, tag: u16) -> Result<TlvMark, Overflow> {
        let tag_bytes = tag.to_be_bytes();
        let tag_field = tag_bytes.get(tag_len(tag)..).unwrap_or(&tag_bytes);
        if tag_field.len() + 1 > self.remaining() {
            return Err(Overflow);
        }
        self.extend(tag_field)?;
        let len_pos = self.len();
        self.push(0)?;
        Ok(TlvMark { len_pos })
    }

    /// Closes the object `mark` opened: patches its length, moving the value right when the
    /// length needs the long form (`81`/`82`…). On `Overflow` the contents are unchanged.
    pub fn end_tlv(&mut self, mark: TlvMark) -> Result<(), Overflow> {
        let value_start = mark.len_pos.checked_add(1).ok_or(Overflow)?;
        let old_len = self.len();
        let value_len = old_len.checked_sub(value_start).ok_or(Overflow)?;
        let (field, field_len) = length_field(value_len).ok_or(Overflow)?;
        let extra = field_len.saturating_sub(1);
        if extra > self.remaining() {
            return Err(Overflow);
        }
        self.buf.resize(old_len + extra, 0).map_err(|_| Overflow)?;
        let bytes = self.buf.as_mut_slice();
        // Move the value right by `extra`, last byte first since the two ranges overlap. A plain
        // loop over checked accesses, so that no panicking path exists even in principle.
        let mut i = old_len;
        while extra > 0 && i > value_start {
            i -= 1;
            let b = bytes.get(i).copied().unwrap_or(0);
            if let Some(d) = bytes.get_mut(i + extra) {
                *d = b;
            }
        }
        let dst = bytes.get_mut(mark.len_pos..).unwrap_or_default();
        for (d, s) in dst.iter_mut().zip(field.iter().take(field_len)) {
            *d = *s;
        }
        Ok(())
    }
}

/// 1 to skip the zero high byte of a one-byte tag, 0 to keep both bytes.
fn tag_len(tag: u16) -> usize {
    usize::from(tag <= 0xFF)
}

/// The shortest BER-TLV length field for `n` (ISO/IEC 7816-4 §5.2.2.2), as bytes and count;
/// `None` beyond the five-byte form ISO/IEC 7816-4 allows.
#[inline(never)]
fn length_field(n: usize) -> Option<([u8; 5], usize)> {
    let n = u32::try_from(n).ok()?;
    let [b3, b2, b1, b0] = n.to_be_bytes();
    Some(match n {
        0..=0x7F => ([b0, 0, 0, 0, 0], 1),
        0x80..=0xFF => ([0x81, b0, 0, 0, 0], 2),
        0x100..=0xFFFF => ([0x82, b1, b0, 0, 0], 3),
        0x1_0000..=0xFF_FFFF => ([0x83, b2, b1, b0, 0], 4),
        _ => ([0x84, b3, b2, b1, b0], 5),
    })
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
    use crate::tlv::{is_valid_tag, tlv_iter};
    use heapless::Vec;
    use proptest::prelude::*;

    #[test]
    fn push_extend_and_overflow_leave_contents_intact() {
        let mut buf: Vec<u8, 4> = Vec::new();
        buf.extend_from_slice(&[9, 9]).unwrap();
        let mut r = Response::new(buf.as_mut_view());
        assert!(r.is_empty());
        assert_eq!(r.capacity(), 4);
        r.push(1).unwrap();
        r.extend(&[2, 3]).unwrap();
        assert_eq!(r.extend(&[4, 5]), Err(Overflow));
        assert_eq!(r.as_slice(), &[1, 2, 3]);
        r.push(4).unwrap();
        assert_eq!(r.push(5), Err(Overflow));
        assert_eq!(r.remaining(), 0);
        r.truncate(1);
        assert_eq!(r.as_slice(), &[1]);
        r.clear();
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn tlv_forms() {
        let mut buf: Vec<u8, 600> = Vec::new();
        let mut r = Response::new(buf.as_mut_view());
        r.tlv(0x84, &[1, 2]).unwrap();
        assert_eq!(r.as_slice(), &[0x84, 0x02, 1, 2]);
        r.clear();
        r.tlv(0x9F08, &[]).unwrap();
        assert_eq!(r.as_slice(), &[0x9F, 0x08, 0x00]);
        r.clear();
        r.tlv(0x53, &[0xAB; 0x80]).unwrap();
        assert_eq!(&r.as_slice()[..3], &[0x53, 0x81, 0x80]);
        assert_eq!(r.len(), 3 + 0x80);
        r.clear();
        r.tlv(0x53, &[0xAB; 0x100]).unwrap();
        assert_eq!(&r.as_slice()[..4], &[0x53, 0x82, 0x01, 0x00]);
        r.clear();
        r.tlv(0x53, &[0; 0x7F]).unwrap();
        assert_eq!(&r.as_slice()[..2], &[0x53, 0x7F]);
    }

    #[test]
    fn tlv_overflow_writes_nothing() {
        let mut buf: Vec<u8, 5> = Vec::new();
        let mut r = Response::new(buf.as_mut_view());
        r.push(0xEE).unwrap();
        assert_eq!(r.tlv(0x84, &[1, 2, 3]), Err(Overflow));
        assert_eq!(r.as_slice(), &[0xEE]);
        r.tlv(0x84, &[1, 2]).unwrap();
        assert_eq!(r.begin_tlv(0x6F), Err(Overflow));
        assert_eq!(r.as_slice(), &[0xEE, 0x84, 0x02, 1, 2]);
    }

    #[test]
    fn nested_begin_end() {
        // 6F { 84 DF-name, A5 { 88 01 01 } } — the FCI shape of design notes §4.
        let mut buf: Vec<u8, 64> = Vec::new();
        let mut r = Response::new(buf.as_mut_view());
        let fci = r.begin_tlv(0x6F).unwrap();
        r.tlv(0x84, &[0xA0, 0, 0, 0, 3]).unwrap();
        let a5 = r.begin_tlv(0xA5).unwrap();
        r.tlv(0x88, &[0x01]).unwrap();
        r.end_tlv(a5).unwrap();
        r.end_tlv(fci).unwrap();
        assert_eq!(
            r.as_slice(),
            &[0x6F, 0x0C, 0x84, 0x05, 0xA0, 0, 0, 0, 3, 0xA5, 0x03, 0x88, 0x01, 0x01]
        );
    }

    #[test]
    fn end_moves_value_for_long_forms() {
        let mut buf: Vec<u8, 400> = Vec::new();
        let mut r = Response::new(buf.as_mut_view());
        let outer = r.begin_tlv(0x70).unwrap();
        let inner = r.begin_tlv(0x9F10).unwrap();
        for i in 0..200u8 {
            r.push(i).unwrap();
        }
        r.end_tlv(inner).unwrap();
        r.end_tlv(outer).unwrap();
        let s = r.as_slice();
        assert_eq!(&s[..3], &[0x70, 0x81, 204]);
        assert_eq!(&s[3..7], &[0x9F, 0x10, 0x81, 200]);
        assert_eq!(s.len(), 3 + 4 + 200);
        assert!(s[7..].iter().copied().eq(0..200u8));
        // A 256-byte value needs the 82 form.
        r.clear();
        let m = r.begin_tlv(0x53).unwrap();
        r.extend(&[7; 256]).unwrap();
        r.end_tlv(m).unwrap();
        assert_eq!(&r.as_slice()[..4], &[0x53, 0x82, 0x01, 0x00]);
        assert_eq!(r.len(), 260);
    }

    #[test]
    fn end_overflow_and_stale_marks() {
        let mut buf: Vec<u8, 130> = Vec::new();
        let mut r = Response::new(buf.as_mut_view());
        let m = r.begin_tlv(0x53).unwrap();
        r.extend(&[1; 128]).unwrap();
        // The value needs 81 80: one more byte than fits.
        assert_eq!(r.len(), 130);
        assert_eq!(r.end_tlv(m), Err(Overflow));
        assert_eq!(r.len(), 130);
        r.clear();
        let m = r.begin_tlv(0x53).unwrap();
        r.truncate(0);
        assert_eq!(r.end_tlv(m), Err(Overflow));
    }

    fn tag_strategy() -> impl Strategy<Value = u16> {
        any::<u16>().prop_filter("valid tag", |t| is_valid_tag(*t))
    }

    proptest! {
        #[test]
        fn writer_then_reader_round_trip(
            objects in proptest::collection::vec(
                (tag_strategy(), proptest::collection::vec(any::<u8>(), 0..300)),
                0..6,
            ),
            nest in any::<bool>(),
        ) {
            let mut buf: Vec<u8, 2048> = Vec::new();
            let mut r = Response::new(buf.as_mut_view());
            let outer = if nest { Some(r.begin_tlv(0x70).unwrap()) } else { None };
            for (tag, value) in &objects {
                r.tlv(*tag, value).unwrap();
            }
            if let Some(m) = outer {
                r.end_tlv(m).unwrap();
            }
            let bytes = r.as_slice();
            let top: std::vec::Vec<_> = tlv_iter(bytes).collect::<Result<_, _>>().unwrap();
            let inner: std::vec::Vec<_> = if nest {
                prop_assert_eq!(top.len(), 1);
                prop_assert_eq!(top[0].0, 0x70);
                tlv_iter(top[0].1).collect::<Result<_, _>>().unwrap()
            } else {
                top
            };
            prop_assert_eq!(inner.len(), objects.len());
            for ((tag, value), (t, v)) in objects.iter().zip(inner) {
                prop_assert_eq!(*tag, t);
                prop_assert_eq!(value.as_slice(), v);
            }
        }

        #[test]
        fn begin_end_matches_tlv(
            tag in tag_strategy(),
            value in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let mut a: Vec<u8, 512> = Vec::new();
            let mut b: Vec<u8, 512> = Vec::new();
            let mut ra = Response::new(a.as_mut_view());
            ra.tlv(tag, &value).unwrap();
            let mut rb = Response::new(b.as_mut_view());
            let m = rb.begin_tlv(tag).unwrap();
            rb.extend(&value).unwrap();
            rb.end_tlv(m).unwrap();
            prop_assert_eq!(ra.as_slice(), rb.as_slice());
        }
    }
}
