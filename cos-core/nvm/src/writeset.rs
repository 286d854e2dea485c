//! The RAM write set of the open transaction, kept in exactly the journal payload encoding.
//!
//! Responsibility: collect pending writes, answer reads with them overlaid, and hand the commit a payload it
//! can log and apply without any further transformation.
//!
//! Invariants:
//! - The buffer holds `len` bytes of entries `{addr u16, len − 1 u8, bytes}` (data-area offsets, big-endian),
//!   sorted by address, **at most one entry per page** while writes come in (commit may then
//!   [`split`](WriteSet::split) an entry at unchanged runs), each entry non-empty and inside one page.
//! - An entry's bytes are the final content of its whole range: bytes between two writes in the same page
//!   are filled from the committed content when the entry is widened. Commit programs each entry's range as
//!   one program, so every byte that program can tear is in the log and recovery can restore it.
//! - `len <= capacity` at all times: `write` checks the whole write before changing anything, so the payload
//!   of any transaction it accepted fits in the journal (`max_transaction_bytes` is honest).

use crate::layout::{entry_header, parse_entry_header, ENTRY_OVERHEAD};
use crate::storage::StoreError;
use crate::MAX_PAGE_SIZE;

/// Bytes of RAM for the write set, i.e. the largest transaction payload any store accepts. A record is at
/// most half the journal, so with the kernel's default 16-page journal of 64-byte pages a transaction
/// can never carry more than 512 − 11 = 501 bytes anyway: a bigger buffer would be RAM no transaction
/// uses. 512 holds the biggest single command we make atomic (a 255-byte UPDATE BINARY spanning five
/// 64-byte pages: 270 bytes; a CAPP purchase: ≈ 220); must fit the record's `u16` length field.
pub const WRITE_SET_CAPACITY: usize = 512;

const _: () = assert!(WRITE_SET_CAPACITY <= u16::MAX as usize);

/// One parsed entry: where its header sits in the buffer, its home address and length.
#[derive(Clone, Copy, Debug)]
struct Entry {
    pos: usize,
    addr: usize,
    len: usize,
}

impl Entry {
    fn data_start(&self) -> usize {
        self.pos + ENTRY_OVERHEAD
    }
    fn end(&self) -> usize {
        self.data_start() + self.len
    }
}

/// Where a page's entry is, or where it would be inserted to keep the order.
enum Slot {
    Found(Entry),
    Insert(usize),
}

/// The pending writes of one transaction.
pub(crate) struct WriteSet {
    buf: [u8; WRITE_SET_CAPACITY],
    len: usize,
}

/// Reads committed data-area content: what the write set compares its entries with.
type BaseReader<'a> = dyn Fn(usize, &mut [u8]) -> Result<(), StoreError> + 'a;

/// Internal-consistency failure: cannot happen while the invariants hold, reported rather than panicking.
const BROKEN: StoreError = StoreError::OutOfBounds;

impl WriteSet {
    pub(crate) const fn new() -> Self {
        Self {
            buf: [0; WRITE_SET_CAPACITY],
            len: 0,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The journal payload: all entries, encoded.
    pub(crate) fn payload(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    fn entry_at(&self, pos: usize) -> Option<Entry> {
        let h = self.buf.get(pos..pos.checked_add(ENTRY_OVERHEAD)?)?;
        let (addr, len) = parse_entry_header(h.try_into().ok()?);
        let e = Entry { pos, addr, len };
        (e.end() <= self.len).then_some(e)
    }

    fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        let mut pos = 0;
        core::iter::from_fn(move || {
            let e = self.entry_at(pos)?;
            pos = e.end();
            Some(e)
        })
    }

    /// Entries as `(data-area address, bytes)`, in address order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        self.entries()
            .filter_map(move |e| Some((e.addr, self.buf.get(e.data_start()..e.end())?)))
    }

    fn locate(&self, page: usize, ps: usize) -> Slot {
        for e in self.entries() {
            let p = e.addr / ps;
            if p == page {
                return Slot::Found(e);
            }
            if p > page {
                return Slot::Insert(e.pos);
            }
        }
        Slot::Insert(self.len)
    }

    /// Overlay pending bytes on `buf`, which holds committed content read from data address `addr`.
    pub(crate) fn overlay(&self, addr: usize, buf: &mut [u8]) {
        let end = addr.saturating_add(buf.len());
        for (eaddr, data) in self.iter() {
            let lo = eaddr.max(addr);
            let hi = (eaddr + data.len()).min(end);
            if lo >= hi {
                continue;
            }
            if let (Some(dst), Some(src)) = (
                buf.get_mut(lo - addr..hi - addr),
                data.get(lo - eaddr..hi - eaddr),
            ) {
                dst.copy_from_slice(src);
            }
        }
    }

    /// Add a write of `data` at data address `addr` (already bounds-checked by the caller), all or nothing.
    /// `base` reads committed data-area content (used to fill the gap when an entry is widened).
    pub(crate) fn write(
        &mut self,
        addr: usize,
        data: &[u8],
        ps: usize,
        capacity: usize,
        base: impl Fn(usize, &mut [u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // Pass 1: size the whole write so a refused write leaves the set untouched.
        let mut extra = 0usize;
        for (s, e) in segments(addr, data.len(), ps) {
            extra += match self.locate(s / ps, ps) {
                Slot::Found(en) => {
                    let lo = en.addr.min(s);
                    let hi = (en.addr + en.len).max(e);
                    (hi - lo) - en.len
                }
                Slot::Insert(_) => ENTRY_OVERHEAD + (e - s),
            };
        }
        if self.len + extra > capacity.min(WRITE_SET_CAPACITY) {
            return Err(StoreError::CommitCapacityExceeded);
        }
        // Pass 2: merge each page segment into its page's entry.
        for (s, e) in segments(addr, data.len(), ps) {
            let src = data.get(s - addr..e - addr).ok_or(BROKEN)?;
            self.merge(s, src, ps, &base)?;
        }
        Ok(())
    }

    /// Merge `src` (inside one page, at data address `s`) into that page's entry.
    fn merge(
        &mut self,
        s: usize,
        src: &[u8],
        ps: usize,
        base: &impl Fn(usize, &mut [u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let page_base = s / ps * ps;
        let e = s + src.len();
        let (pos, old_total, lo, hi, old) = match self.locate(s / ps, ps) {
            Slot::Found(en) => (
                en.pos,
                ENTRY_OVERHEAD + en.len,
                en.addr.min(s),
                (en.addr + en.len).max(e),
                Some(en),
            ),
            Slot::Insert(pos) => (pos, 0, s, e, None),
        };
        // Build the widened entry's bytes in a page image: committed content, then the old entry, then `src`.
        let mut img = [0u8; MAX_PAGE_SIZE];
        base(
            lo,
            img.get_mut(lo - page_base..hi - page_base).ok_or(BROKEN)?,
        )?;
        if let Some(en) = old {
            let from = self.buf.get(en.data_start()..en.end()).ok_or(BROKEN)?;
            copy(
                img.get_mut(en.addr - page_base..en.addr + en.len - page_base),
                from,
            )?;
        }
        copy(img.get_mut(s - page_base..e - page_base), src)?;
        let new_len = hi - lo;
        self.splice(pos, old_total, ENTRY_OVERHEAD + new_len)?;
        let hdr = self.buf.get_mut(pos..pos + ENTRY_OVERHEAD).ok_or(BROKEN)?;
        hdr.copy_from_slice(&entry_header(lo, new_len).ok_or(BROKEN)?);
        let dst = self
            .buf
            .get_mut(pos + ENTRY_OVERHEAD..pos + ENTRY_OVERHEAD + new_len);
        copy(dst, img.get(lo - page_base..hi - page_base).ok_or(BROKEN)?)
    }

    /// Replace `old` bytes at `pos` by a gap of `new` bytes, shifting the tail.
    fn splice(&mut self, pos: usize, old: usize, new: usize) -> Result<(), StoreError> {
        let tail = pos
            .checked_add(old)
            .filter(|&t| t <= self.len)
            .ok_or(BROKEN)?;
        let new_len = (self.len - old)
            .checked_add(new)
            .filter(|&l| l <= WRITE_SET_CAPACITY)
            .ok_or(BROKEN)?;
        self.buf.copy_within(tail..self.len, pos + new);
        self.len = new_len;
        Ok(())
    }

    /// Shrink every entry to the bytes that differ from committed content (`base`), dropping entries that
    /// change nothing. Afterwards each entry's first and last bytes are real changes, so programming the
    /// entry is programming exactly `[lowest changed, highest changed]` of its page.
    #[inline(never)]
    pub(crate) fn narrow(
        &mut self,
        base: impl Fn(usize, &mut [u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.rewrite(usize::MAX, &base)
    }

    /// After [`narrow`](Self::narrow), in one pass over the entries: for each run length in
    /// `min_gaps` (each > [`ENTRY_OVERHEAD`]), how many inner runs of at least that many unchanged
    /// bytes there are, and how many payload bytes [`split`](Self::split) at them would save (each
    /// run's length minus the extra entry header).
    pub(crate) fn gaps<const K: usize>(
        &self,
        min_gaps: [usize; K],
        base: impl Fn(usize, &mut [u8]) -> Result<(), StoreError>,
    ) -> Result<[(usize, usize); K], StoreError> {
        let shortest = min_gaps.iter().copied().min().unwrap_or(usize::MAX);
        let mut out = [(0, 0); K];
        let mut cur = [0u8; MAX_PAGE_SIZE];
        for en in self.entries() {
            let cur = cur.get_mut(..en.len).ok_or(BROKEN)?;
            base(en.addr, cur)?;
            let new = self.buf.get(en.data_start()..en.end()).ok_or(BROKEN)?;
            let same = |k: usize| new.get(k) == cur.get(k);
            let mut i = 0;
            while let Some((start, g)) = next_run(same, i, en.len, shortest) {
                for (&min, (n, saved)) in min_gaps.iter().zip(out.iter_mut()) {
                    if g >= min {
                        *n += 1;
                        *saved += g.saturating_sub(ENTRY_OVERHEAD);
                    }
                }
                i = start + g;
            }
        }
        Ok(out)
    }

    /// After [`narrow`](Self::narrow): split every entry at each inner run of at least `min_gap`
    /// (> [`ENTRY_OVERHEAD`]) bytes equal to committed content, so that the journal carries only
    /// bytes that change. Every resulting entry still starts and ends with a changed byte, and each
    /// is programmed home on its own (one more program per split: the caller weighs that against
    /// journal pages saved).
    pub(crate) fn split(
        &mut self,
        min_gap: usize,
        base: impl Fn(usize, &mut [u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if min_gap <= ENTRY_OVERHEAD {
            return Err(BROKEN);
        }
        self.rewrite(min_gap, &base)
    }

    /// Rewrite every entry as the bytes that differ from committed content: bytes equal to it at
    /// either end are dropped (an entry that changes nothing disappears), and inner runs of at least
    /// `min_gap` of them are cut out, each cut starting a new entry.
    fn rewrite(&mut self, min_gap: usize, base: &BaseReader<'_>) -> Result<(), StoreError> {
        let mut r = 0;
        let mut w = 0;
        let mut cur = [0u8; MAX_PAGE_SIZE];
        while let Some(en) = self.entry_at(r) {
            r = en.end();
            let cur = cur.get_mut(..en.len).ok_or(BROKEN)?;
            base(en.addr, cur)?;
            // Pieces are emitted front to back at `w`. Since `w <= en.pos`, and every inner run cut
            // out is longer than the header it adds, a piece's header and bytes land before any
            // byte not yet scanned (its own bytes move with `copy_within`, which allows overlap).
            let ds = en.data_start();
            let same = |buf: &[u8], k: usize| buf.get(ds + k) == cur.get(k);
            let Some(first) = (0..en.len).find(|&k| !same(&self.buf, k)) else {
                continue;
            };
            let end = (0..en.len)
                .rfind(|&k| !same(&self.buf, k))
                .map_or(first + 1, |k| k + 1);
            let mut from = first;
            while let Some((start, g)) = next_run(|k| same(&self.buf, k), from, end, min_gap) {
                w = self.emit(en, from, start, w)?;
                from = start + g;
            }
            w = self.emit(en, from, end, w)?;
        }
        self.len = w;
        Ok(())
    }

    /// Move bytes `a..b` of entry `en` to a new entry at buffer position `w`; returns the position
    /// after it.
    fn emit(&mut self, en: Entry, a: usize, b: usize, w: usize) -> Result<usize, StoreError> {
        let n = b - a;
        let src = en.data_start() + a;
        self.buf.get(src..src + n).ok_or(BROKEN)?;
        self.buf.get(w..w + ENTRY_OVERHEAD + n).ok_or(BROKEN)?;
        self.buf.copy_within(src..src + n, w + ENTRY_OVERHEAD);
        let hdr = self.buf.get_mut(w..w + ENTRY_OVERHEAD).ok_or(BROKEN)?;
        hdr.copy_from_slice(&entry_header(en.addr + a, n).ok_or(BROKEN)?);
        Ok(w + ENTRY_OVERHEAD + n)
    }
}

/// The first run of at least `min_gap` positions in `from..end` where `same` holds (a byte equal
/// to committed content), as `(start, length)`. Callers pass bounds that are changed bytes or
/// entry ends (`narrow` trims an entry to its changes), so only inner runs are counted.
fn next_run(
    same: impl Fn(usize) -> bool,
    from: usize,
    end: usize,
    min_gap: usize,
) -> Option<(usize, usize)> {
    let mut i = from;
    while i < end {
        if !same(i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < end && same(i) {
            i += 1;
        }
        if start > 0 && i < end && i - start >= min_gap {
            return Some((start, i - start));
        }
    }
    None
}

/// Split `[addr, addr + len)` at page boundaries.
pub(crate) fn segments(addr: usize, len: usize, ps: usize) -> impl Iterator<Item = (usize, usize)> {
    let end = addr.saturating_add(len);
    let mut s = addr;
    core::iter::from_fn(move || {
        if s >= end || ps == 0 {
            return None;
        }
        let e = ((s / ps + 1) * ps).min(end);
        let seg = (s, e);
        s = e;
        Some(seg)
    })
}

/// `dst.copy_from_slice(src)` that reports a missing or mis-sized destination instead of panicking.
fn copy(dst: Option<&mut [u8]>, src: &[u8]) -> Result<(), StoreError> {
    match dst {
        Some(d) if d.len() == src.len() => {
            d.copy_from_slice(src);
            Ok(())
        }
        _ => Err(BROKEN),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const PS: usize = 64;

    fn zero(_: usize, b: &mut [u8]) -> Result<(), StoreError> {
        b.fill(0);
        Ok(())
    }

    fn entries(ws: &WriteSet) -> std::vec::Vec<(usize, std::vec::Vec<u8>)> {
        ws.iter().map(|(a, d)| (a, d.to_vec())).collect()
    }

    #[test]
    fn segments_split_at_pages() {
        let v: std::vec::Vec<_> = segments(60, 80, 64).collect();
        assert_eq!(v, [(60, 64), (64, 128), (128, 140)]);
        assert_eq!(segments(5, 0, 64).count(), 0);
    }

    #[test]
    fn one_entry_per_page_widened_with_committed_gap() {
        let mut ws = WriteSet::new();
        ws.write(10, &[1, 2], PS, 1024, zero).unwrap();
        ws.write(4, &[9], PS, 1024, zero).unwrap();
        ws.write(70, &[5], PS, 1024, zero).unwrap();
        assert_eq!(
            entries(&ws),
            [(4, std::vec![9, 0, 0, 0, 0, 0, 1, 2]), (70, std::vec![5])]
        );
        assert_eq!(ws.payload().len(), 3 + 8 + 3 + 1);
        let mut b = [0xEEu8; 8];
        ws.overlay(8, &mut b);
        assert_eq!(b, [0, 0, 1, 2, 0xEE, 0xEE, 0xEE, 0xEE]);
    }

    #[test]
    fn refused_write_changes_nothing() {
        let mut ws = WriteSet::new();
        ws.write(0, &[1; 10], PS, 30, zero).unwrap();
        let before = ws.payload().to_vec();
        // 10 more bytes in page 0 (fits) plus a new entry in page 1 (does not).
        assert_eq!(
            ws.write(50, &[2; 20], PS, 30, zero),
            Err(StoreError::CommitCapacityExceeded)
        );
        assert_eq!(ws.payload(), &before[..]);
    }

    #[test]
    fn narrow_drops_unchanged_bytes() {
        let mut ws = WriteSet::new();
        ws.write(0, &[0, 0, 7, 0, 8, 0], PS, 1024, zero).unwrap();
        ws.write(64, &[0; 5], PS, 1024, zero).unwrap();
        ws.write(130, &[3], PS, 1024, zero).unwrap();
        ws.narrow(zero).unwrap();
        assert_eq!(entries(&ws), [(2, std::vec![7, 0, 8]), (130, std::vec![3])]);
    }
}
