//! [`Store`]: the journalled store over a device (format, mount, recovery, transactions).
//!
//! Responsibility: make every committed transaction atomic under the crate's fault model, at a cost of one
//! program per journal page plus one per home page touched.
//!
//! Invariants:
//! - Home (data-area) bytes are only ever programmed from an entry of a journal record that is complete
//!   (CRC-valid) and the newest valid record, and only inside that entry's range. So a torn home program is
//!   always repaired by replaying that record, and replaying it again changes nothing.
//! - A new record starts at the aligned end of the newest one (or, when it fits in one page but would
//!   straddle two from there, at the next page start, provided it then stays clear of the newest record)
//!   and is at most half the journal long, so writing it (torn or not) never touches the newest record.
//! - Only this module's `Dev::program` programs the device; it counts every program and marks the store as
//!   needing recovery after any device error.
//! - `head`, `next_seq` and `newest` describe the journal as it is on NVM whenever `needs_recovery` is false.

use crate::crc::Crc32;
use crate::device::{Nvm, NvmError};
use crate::layout::{
    parse_entry_header, Header, HeaderError, JournalKey, ENTRY_OVERHEAD, HEADER_LEN, LOG_ALIGN,
    LOG_HEADER_LEN, LOG_MAGIC, LOG_OVERHEAD,
};
use crate::storage::{MountError, Storage, StoreError};
use crate::writeset::{segments, WriteSet, WRITE_SET_CAPACITY};
use crate::MAX_PAGE_SIZE;

/// What [`Store::recover`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Sequence number of the newest valid journal record, which was replayed; `None` for an empty journal.
    pub replayed_seq: Option<u32>,
    /// Program operations the replay needed: non-zero means a commit had been interrupted after its record
    /// was complete and has now been finished.
    pub programs: u64,
}

/// Location of a valid journal record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RecordRef {
    /// Journal offset of the record's first byte.
    start: usize,
    seq: u32,
    payload_len: usize,
}

/// The device plus the bookkeeping every program must update.
struct Dev<N: Nvm> {
    nvm: N,
    programs: u64,
    needs_recovery: bool,
}

impl<N: Nvm> Dev<N> {
    // Out of line: two callers each had a copy of it and of the device's program.
    #[inline(never)]
    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), StoreError> {
        self.programs = self.programs.saturating_add(1);
        self.nvm.program(addr, data).map_err(|e| {
            self.needs_recovery = true;
            StoreError::Nvm(e)
        })
    }

    fn read(&self, addr: usize, buf: &mut [u8]) -> Result<(), StoreError> {
        self.nvm.read(addr, buf).map_err(StoreError::Nvm)
    }

    /// Set `[addr, addr + len)` to `byte`, one program per page whose content differs, covering only the
    /// differing span.
    fn fill(&mut self, addr: usize, len: usize, byte: u8) -> Result<(), StoreError> {
        let ps = self.nvm.page_size();
        let mut cur = [0u8; MAX_PAGE_SIZE];
        let fill = [byte; MAX_PAGE_SIZE];
        for (s, e) in segments(addr, len, ps) {
            let cur = cur.get_mut(..e - s).ok_or(StoreError::OutOfBounds)?;
            self.read(s, cur)?;
            let first = cur.iter().position(|&b| b != byte);
            let last = cur.iter().rposition(|&b| b != byte);
            if let (Some(i), Some(j)) = (first, last) {
                self.program(s + i, fill.get(i..=j).ok_or(StoreError::OutOfBounds)?)?;
            }
        }
        Ok(())
    }
}

/// Streams a record into the journal: bytes are gathered per journal page and each page segment is
/// programmed once, wrapping from the end of the journal to its start.
struct JournalWriter {
    journal_start: usize,
    journal_len: usize,
    ps: usize,
    /// Journal offset of the next byte.
    off: usize,
    /// Journal offset of the first buffered byte.
    seg: usize,
    fill: usize,
    page: [u8; MAX_PAGE_SIZE],
}

impl JournalWriter {
    fn new(journal_start: usize, journal_len: usize, ps: usize, off: usize) -> Self {
        Self {
            journal_start,
            journal_len,
            ps,
            off,
            seg: off,
            fill: 0,
            page: [0; MAX_PAGE_SIZE],
        }
    }

    fn push<N: Nvm>(&mut self, dev: &mut Dev<N>, mut bytes: &[u8]) -> Result<(), StoreError> {
        while !bytes.is_empty() {
            let room = self.ps - self.off % self.ps;
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            let dst = self
                .page
                .get_mut(self.fill..self.fill + now.len())
                .ok_or(StoreError::OutOfBounds)?;
            dst.copy_from_slice(now);
            self.fill += now.len();
            self.off += now.len();
            bytes = rest;
            if self.off & (self.ps - 1) == 0 {
                // Page size is a power of two: the record reached a page boundary.
                self.flush(dev)?;
            }
        }
        Ok(())
    }

    fn flush<N: Nvm>(&mut self, dev: &mut Dev<N>) -> Result<(), StoreError> {
        if self.fill > 0 {
            let data = self.page.get(..self.fill).ok_or(StoreError::OutOfBounds)?;
            dev.program(self.journal_start + self.seg, data)?;
            self.fill = 0;
        }
        if self.off >= self.journal_len {
            self.off = 0;
        }
        self.seg = self.off;
        Ok(())
    }
}

/// `x` rounded up to a multiple of [`LOG_ALIGN`].
fn align_up(x: usize) -> usize {
    x.div_ceil(LOG_ALIGN) * LOG_ALIGN
}

/// The journalled store over a device.
pub struct Store<N: Nvm> {
    dev: Dev<N>,
    hdr: Header,
    /// Journal offset where the next record starts.
    head: usize,
    /// Sequence number of the next record; `u32::MAX` means exhausted (no record ever carries it).
    next_seq: u32,
    /// The newest valid record (the one recovery would replay).
    newest: Option<RecordRef>,
    /// Payload capacity of one record: the write-set size, or half the journal minus the framing.
    max_payload: usize,
    ws: WriteSet,
    in_tx: bool,
    /// CRC state after the header's [`JournalKey`]: every record check starts from it, so only the
    /// card itself can produce a record recovery accepts.
    seed: Crc32,
}

/// Geometry and journal position only: the device image and pending bytes are left out.
impl<N: Nvm> core::fmt::Debug for Store<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("page_size", &self.hdr.page_size)
            .field("journal_pages", &self.hdr.journal_pages)
            .field("data_start", &self.hdr.data_start)
            .field("data_len", &self.hdr.data_len)
            .field("head", &self.head)
            .field("next_seq", &self.next_seq)
            .field("in_transaction", &self.in_tx)
            .field("needs_recovery", &self.dev.needs_recovery)
            .finish_non_exhaustive()
    }
}

impl<N: Nvm> Store<N> {
    fn from_parts(nvm: N, hdr: Header) -> Self {
        let geometric = (hdr.journal_len() / 2).saturating_sub(LOG_OVERHEAD);
        Self {
            dev: Dev {
                nvm,
                programs: 0,
                needs_recovery: false,
            },
            hdr,
            head: 0,
            next_seq: 1,
            newest: None,
            max_payload: geometric.min(WRITE_SET_CAPACITY),
            ws: WriteSet::new(),
            in_tx: false,
            seed: Crc32::new().update(&hdr.key.0),
        }
    }

    /// Write the header page and an empty journal (all 0xFF) and zero-fill the data area.
    ///
    /// Not atomic (formatting is a factory step), but ordered so an interrupted format never mounts: an old
    /// header is erased first and the new one is written last. Fails with [`StoreError::OutOfBounds`] if the
    /// page size is not a power of two in `MIN_PAGE_SIZE..=MAX_PAGE_SIZE`, `journal_pages <
    /// MIN_JOURNAL_PAGES`, or no data page remains.
    ///
    /// `key` keys every journal record's check for the life of the card: take it from the chip's random
    /// source (see [`JournalKey`]).
    pub fn format(nvm: N, journal_pages: u16, key: JournalKey) -> Result<Self, StoreError> {
        let hdr = Header::plan(&nvm, journal_pages, key).ok_or(StoreError::OutOfBounds)?;
        let mut s = Self::from_parts(nvm, hdr);
        s.dev.fill(0, HEADER_LEN, 0xFF)?;
        s.dev.fill(hdr.page_size, hdr.journal_len(), 0xFF)?;
        s.dev.fill(hdr.data_start, hdr.data_len, 0x00)?;
        s.dev.program(0, &hdr.encode())?;
        Ok(s)
    }

    /// Validate the header, then run [`recover`](Self::recover) before anything else can happen.
    /// On failure the device is handed back.
    pub fn mount(nvm: N) -> Result<Self, (MountError, N)> {
        let mut b = [0u8; HEADER_LEN];
        if let Err(e) = nvm.read(0, &mut b) {
            return Err((MountError::Nvm(e), nvm));
        }
        let hdr = match Header::decode(&b, nvm.page_size(), nvm.capacity()) {
            Ok(h) => h,
            Err(HeaderError::Virgin) => return Err((MountError::Virgin, nvm)),
            Err(HeaderError::Corrupt) => return Err((MountError::Corrupt, nvm)),
        };
        let mut s = Self::from_parts(nvm, hdr);
        match s.recover() {
            Ok(_) => Ok(s),
            Err(StoreError::Nvm(e)) => Err((MountError::Nvm(e), s.into_nvm())),
            Err(_) => Err((MountError::Corrupt, s.into_nvm())),
        }
    }

    /// The device.
    pub fn nvm(&self) -> &N {
        &self.dev.nvm
    }

    /// The device, mutably (e.g. to arm a tear or power-cycle a simulator). Programming it directly
    /// bypasses the journal; call [`recover`](Self::recover) after a simulated power cycle.
    pub fn nvm_mut(&mut self) -> &mut N {
        &mut self.dev.nvm
    }

    /// Give the device back.
    pub fn into_nvm(self) -> N {
        self.dev.nvm
    }

    /// Number of journal pages.
    pub fn journal_pages(&self) -> u16 {
        self.hdr.journal_pages
    }

    /// Device address of the data area's first byte.
    pub fn data_start(&self) -> usize {
        self.hdr.data_start
    }

    /// Find the newest valid journal record and replay it, programming only bytes that differ; drops any
    /// open transaction. Idempotent, and itself safe against power cuts (run it again after one).
    ///
    /// Errors: [`StoreError::Nvm`] if the device fails (the store stays unusable until a later `recover`
    /// succeeds); [`StoreError::OutOfBounds`] if the newest record has a valid CRC but malformed entries, or
    /// two valid records share the newest sequence number (a corrupt image: nothing is programmed).
    pub fn recover(&mut self) -> Result<RecoveryReport, StoreError> {
        self.ws.clear();
        self.in_tx = false;
        self.dev.needs_recovery = true;
        let newest = self.scan()?;
        let before = self.dev.programs;
        if let Some(rec) = newest {
            // Validate every entry before programming anything: a malformed record changes nothing.
            self.for_each_entry(rec, |_| ())?;
            let (hdr, dev) = (self.hdr, &mut self.dev);
            let mut new = [0u8; MAX_PAGE_SIZE];
            let mut cur = [0u8; MAX_PAGE_SIZE];
            let mut pos = 0;
            while let Some(e) = entry_at(&dev.nvm, hdr, rec, pos)? {
                pos = e.next;
                let new = new.get_mut(..e.len).ok_or(StoreError::OutOfBounds)?;
                let cur = cur.get_mut(..e.len).ok_or(StoreError::OutOfBounds)?;
                journal_read(&dev.nvm, hdr.page_size, hdr.journal_len(), e.off, new)?;
                dev.read(hdr.data_start + e.addr, cur)?;
                let first = new.iter().zip(cur.iter()).position(|(a, b)| a != b);
                let last = new.iter().zip(cur.iter()).rposition(|(a, b)| a != b);
                if let (Some(i), Some(j)) = (first, last) {
                    dev.program(
                        hdr.data_start + e.addr + i,
                        new.get(i..=j).ok_or(StoreError::OutOfBounds)?,
                    )?;
                }
            }
        }
        self.newest = newest;
        self.head = newest.map_or(0, |r| self.record_end(r));
        self.next_seq = newest.map_or(1, |r| r.seq.saturating_add(1));
        self.dev.needs_recovery = false;
        Ok(RecoveryReport {
            replayed_seq: newest.map(|r| r.seq),
            programs: self.dev.programs - before,
        })
    }

    /// Journal offset just after `r`, aligned: where the next record goes.
    fn record_end(&self, r: RecordRef) -> usize {
        align_up(r.start + LOG_OVERHEAD + r.payload_len) % self.hdr.journal_len()
    }

    /// The valid (magic, length in bounds, keyed CRC) record with the highest sequence number.
    fn scan(&self) -> Result<Option<RecordRef>, StoreError> {
        let jlen = self.hdr.journal_len();
        let jstart = self.hdr.page_size;
        let nvm = &self.dev.nvm;
        let max_payload = (jlen / 2).saturating_sub(LOG_OVERHEAD);
        let mut best: Option<RecordRef> = None;
        let mut tie = false;
        for start in (0..jlen).step_by(LOG_ALIGN) {
            let mut h = [0u8; LOG_HEADER_LEN];
            journal_read(nvm, jstart, jlen, start, &mut h)?;
            let (magic, rest) = h.split_at(LOG_MAGIC.len());
            let (seq, len) = rest.split_at(4);
            if magic != LOG_MAGIC {
                continue;
            }
            let seq = u32::from_be_bytes(seq.try_into().map_err(|_| StoreError::OutOfBounds)?);
            let payload_len = usize::from(u16::from_be_bytes(
                len.try_into().map_err(|_| StoreError::OutOfBounds)?,
            ));
            if payload_len > max_payload || best.is_some_and(|b| seq < b.seq) {
                continue;
            }
            // Check the keyed CRC over header + payload, in chunks straight from NVM.
            let mut crc = self.seed;
            let mut chunk = [0u8; 64];
            let mut pos = 0;
            let body = LOG_HEADER_LEN + payload_len;
            while pos < body {
                let n = (body - pos).min(chunk.len());
                let c = chunk.get_mut(..n).ok_or(StoreError::OutOfBounds)?;
                journal_read(nvm, jstart, jlen, (start + pos) % jlen, c)?;
                crc = crc.update(c);
                pos += n;
            }
            let mut stored = [0u8; 4];
            journal_read(nvm, jstart, jlen, (start + body) % jlen, &mut stored)?;
            if crc.finish() != u32::from_be_bytes(stored) {
                continue;
            }
            let rec = RecordRef {
                start,
                seq,
                payload_len,
            };
            match best {
                Some(b) if b.seq == seq => tie = true,
                _ => {
                    best = Some(rec);
                    tie = false;
                }
            }
        }
        if tie {
            return Err(StoreError::OutOfBounds);
        }
        Ok(best)
    }

    /// Call `f` on every entry of `rec`, validating each (see [`entry_at`]).
    fn for_each_entry(
        &self,
        rec: RecordRef,
        mut f: impl FnMut(&EntryRef),
    ) -> Result<(), StoreError> {
        let mut pos = 0;
        while let Some(e) = entry_at(&self.dev.nvm, self.hdr, rec, pos)? {
            f(&e);
            pos = e.next;
        }
        Ok(())
    }

    /// Whether the newest record programs any byte of `[addr, addr + len)` when replayed.
    fn newest_touches(&self, addr: usize, len: usize) -> Result<bool, StoreError> {
        let Some(rec) = self.newest else {
            return Ok(false);
        };
        let mut hit = false;
        self.for_each_entry(rec, |e| hit |= e.addr < addr + len && addr < e.addr + e.len)?;
        Ok(hit)
    }

    /// Where a record of `len` bytes goes: the head (the aligned end of the newest record), or — when
    /// the record fits in one page but would straddle two from the head — the start of the next page, so
    /// that it costs one journal program instead of two. The skip is taken only when the record then
    /// still stays clear of the newest record (always, unless the journal is tiny), so a new record,
    /// torn or not, never touches the newest one.
    fn placement(&self, len: usize) -> usize {
        let ps = self.hdr.page_size;
        let jlen = self.hdr.journal_len();
        let head = self.head;
        if len > ps || head % ps + len <= ps {
            return head;
        }
        let next = (head / ps + 1) * ps % jlen;
        let clear = self.newest.is_none_or(|r| {
            let newest_len = LOG_OVERHEAD + r.payload_len;
            // Distance around the ring from the newest record's start to the candidate's start: the
            // candidate must begin after the newest record ends and end before it begins again.
            let from_newest = (next + jlen - r.start) % jlen;
            from_newest >= newest_len && from_newest + len <= jlen
        });
        if clear {
            next
        } else {
            head
        }
    }

    /// Journal programs a record of `len` bytes costs where [`placement`](Self::placement) puts it.
    fn journal_programs(&self, len: usize) -> usize {
        let ps = self.hdr.page_size;
        (self.placement(len) % ps + len).div_ceil(ps)
    }

    /// Whether to split entries at unchanged runs before logging, and at which run length: a split
    /// costs one more home program and saves `run − 3` journal bytes, which pays when it saves a
    /// journal page — e.g. a purchase whose purse state and log record share a page, with bytes
    /// between them that do not change. `None`: the record as narrowed is cheapest.
    fn best_split(&self) -> Result<Option<usize>, StoreError> {
        let len = LOG_OVERHEAD + self.ws.payload().len();
        if len <= self.hdr.page_size {
            return Ok(None);
        }
        let data_start = self.hdr.data_start;
        let dev = &self.dev;
        let min_gaps = [32, 16, 8, ENTRY_OVERHEAD + 1];
        let runs = self.ws.gaps(min_gaps, |a, b| dev.read(data_start + a, b))?;
        let mut best = (self.journal_programs(len), None);
        for (gap, (splits, saved)) in min_gaps.into_iter().zip(runs) {
            let cost = self.journal_programs(len - saved) + splits;
            if splits > 0 && cost < best.0 {
                best = (cost, Some(gap));
            }
        }
        Ok(best.1)
    }

    /// Append the write set as the next journal record (one program per journal page touched).
    fn append_record(&mut self) -> Result<(), StoreError> {
        if self.next_seq == u32::MAX {
            return Err(StoreError::OutOfBounds);
        }
        let payload = self.ws.payload();
        if payload.len() > self.max_payload {
            return Err(StoreError::CommitCapacityExceeded);
        }
        let seq = self.next_seq;
        let len = u16::try_from(payload.len()).map_err(|_| StoreError::CommitCapacityExceeded)?;
        let mut h = [0u8; LOG_HEADER_LEN];
        let (magic, rest) = h.split_at_mut(LOG_MAGIC.len());
        let (s, l) = rest.split_at_mut(4);
        magic.copy_from_slice(&LOG_MAGIC);
        s.copy_from_slice(&seq.to_be_bytes());
        l.copy_from_slice(&len.to_be_bytes());
        let crc = self.seed.update(&h).update(payload).finish();
        let start = self.placement(LOG_OVERHEAD + payload.len());
        let mut w = JournalWriter::new(
            self.hdr.page_size,
            self.hdr.journal_len(),
            self.hdr.page_size,
            start,
        );
        w.push(&mut self.dev, &h)?;
        w.push(&mut self.dev, payload)?;
        w.push(&mut self.dev, &crc.to_be_bytes())?;
        w.flush(&mut self.dev)?;
        let rec = RecordRef {
            start,
            seq,
            payload_len: payload.len(),
        };
        self.newest = Some(rec);
        self.head = self.record_end(rec);
        self.next_seq = seq + 1;
        Ok(())
    }

    fn commit_inner(&mut self) -> Result<(), StoreError> {
        let data_start = self.hdr.data_start;
        let dev = &self.dev;
        self.ws.narrow(|a, b| dev.read(data_start + a, b))?;
        if self.ws.is_empty() {
            return Ok(());
        }
        if let Some(gap) = self.best_split()? {
            let dev = &self.dev;
            self.ws.split(gap, |a, b| dev.read(data_start + a, b))?;
        }
        self.append_record()?;
        for (addr, data) in self.ws.iter() {
            self.dev.program(data_start + addr, data)?;
        }
        Ok(())
    }

    fn alive(&self) -> Result<(), StoreError> {
        if self.dev.needs_recovery {
            Err(StoreError::Nvm(NvmError::PowerLost))
        } else {
            Ok(())
        }
    }

    /// `[addr, addr + len)` as a checked data-area range.
    fn range(&self, addr: u32, len: usize) -> Result<usize, StoreError> {
        let a = addr as usize;
        match a.checked_add(len) {
            Some(end) if end <= self.hdr.data_len => Ok(a),
            _ => Err(StoreError::OutOfBounds),
        }
    }
}

/// Read `buf.len()` (at most the journal length) bytes at journal offset `off`, wrapping at the end.
fn journal_read<N: Nvm>(
    nvm: &N,
    jstart: usize,
    jlen: usize,
    off: usize,
    buf: &mut [u8],
) -> Result<(), StoreError> {
    if off >= jlen || buf.len() > jlen {
        return Err(StoreError::OutOfBounds);
    }
    let (a, b) = buf.split_at_mut((jlen - off).min(buf.len()));
    nvm.read(jstart + off, a)?;
    nvm.read(jstart, b)?;
    Ok(())
}

/// One validated journal entry: data address, length, journal offset of its bytes, and the payload position
/// of the entry after it.
struct EntryRef {
    addr: usize,
    len: usize,
    off: usize,
    next: usize,
}

/// The entry of record `rec` at payload position `pos`, or `None` past the last one. Every entry is checked
/// before use: non-empty, inside the payload, inside the data area and inside one page; a violation is
/// [`StoreError::OutOfBounds`].
fn entry_at<N: Nvm>(
    nvm: &N,
    hdr: Header,
    rec: RecordRef,
    pos: usize,
) -> Result<Option<EntryRef>, StoreError> {
    if pos >= rec.payload_len {
        return Ok(None);
    }
    let jlen = hdr.journal_len();
    let ps = hdr.page_size;
    let body = pos + ENTRY_OVERHEAD;
    if body > rec.payload_len {
        return Err(StoreError::OutOfBounds);
    }
    let mut eh = [0u8; ENTRY_OVERHEAD];
    journal_read(
        nvm,
        hdr.page_size,
        jlen,
        (rec.start + LOG_HEADER_LEN + pos) % jlen,
        &mut eh,
    )?;
    let (addr, len) = parse_entry_header(eh);
    let ok = len > 0
        && body + len <= rec.payload_len
        && addr.checked_add(len).is_some_and(|end| end <= hdr.data_len)
        && addr / ps == (addr + len - 1) / ps;
    if !ok {
        return Err(StoreError::OutOfBounds);
    }
    Ok(Some(EntryRef {
        addr,
        len,
        off: (rec.start + LOG_HEADER_LEN + body) % jlen,
        next: body + len,
    }))
}

impl<N: Nvm> Storage for Store<N> {
    fn capacity(&self) -> u32 {
        u32::try_from(self.hdr.data_len).unwrap_or(u32::MAX)
    }

    /// The data area starts on a page boundary, so data-area offsets share the device's pages.
    fn page_size(&self) -> u32 {
        u32::try_from(self.hdr.page_size).unwrap_or(u32::MAX)
    }

    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), StoreError> {
        self.alive()?;
        let a = self.range(addr, buf.len())?;
        self.dev.read(self.hdr.data_start + a, buf)?;
        if self.in_tx {
            self.ws.overlay(a, buf);
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        self.alive()?;
        if self.in_tx {
            return Err(StoreError::TransactionOpen);
        }
        self.ws.clear();
        self.in_tx = true;
        Ok(())
    }

    fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), StoreError> {
        self.alive()?;
        if !self.in_tx {
            return Err(StoreError::NoTransaction);
        }
        let a = self.range(addr, data.len())?;
        let data_start = self.hdr.data_start;
        let dev = &self.dev;
        self.ws
            .write(a, data, self.hdr.page_size, self.max_payload, |x, b| {
                dev.read(data_start + x, b)
            })
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.alive()?;
        if !self.in_tx {
            return Err(StoreError::NoTransaction);
        }
        self.in_tx = false;
        let r = self.commit_inner();
        self.ws.clear();
        r
    }

    fn abort(&mut self) {
        self.in_tx = false;
        self.ws.clear();
    }

    fn in_transaction(&self) -> bool {
        self.in_tx
    }

    fn scrub(&mut self, addr: u32, len: u32, byte: u8) -> Result<(), StoreError> {
        self.alive()?;
        if self.in_tx {
            return Err(StoreError::TransactionOpen);
        }
        let len = len as usize;
        let a = self.range(addr, len)?;
        if len == 0 {
            return Ok(());
        }
        // The newest record would be replayed after the next power-up; if it covers scrubbed bytes it would
        // undo the scrub, so retire it first with an empty record.
        if self.newest_touches(a, len)? {
            self.ws.clear();
            self.append_record()?;
        }
        self.dev.fill(self.hdr.data_start + a, len, byte)
    }

    fn max_transaction_bytes(&self) -> u32 {
        self.max_payload as u32
    }

    fn programs(&self) -> u64 {
        self.dev.programs
    }
}
