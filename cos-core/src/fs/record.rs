//! Record addressing for linear-fixed, linear-variable and cyclic EFs (ISO/IEC 7816-4 §7.3).
//!
//! Responsibility: map a logical record number to bytes of the body and keep each file's state
//! word (append position, bytes used, cyclic head) consistent with the records. Conventions
//! (`docs/commands.md`):
//! * linear fixed: every record exists from creation (zero-filled), as FMCOS scripts expect
//!   (UPDATE RECORD 1 right after CREATE FILE); APPEND fills the first never-appended record;
//! * linear variable: records are stored `len ‖ data` back to back; UPDATE keeps the length;
//! * cyclic: record 1 is the newest; APPEND overwrites the oldest once the file is full. Each
//!   record slot is `mark ‖ record`: marks count 1, 2 … 255, 1 … in write order (0 = never
//!   written), so the newest record is the one whose successor slot does not carry the next mark.
//!   Why: the head then lives in the body, and an APPEND writes only its own slot — no file-table
//!   write, one page program fewer for every purchase log record (`docs/performance.md`).

use super::entry::MAX_CYCLIC_RECORDS;
use super::{read_body, write_body, write_state_word, FileEntry, FileKind, Slot};
use cos_apdu::Sw;
use cos_nvm::Storage;

/// Longest record any file can hold (one length byte for variable records).
pub const MAX_RECORD: usize = 255;

/// Where a cyclic file stands, read from its record marks.
struct CyclicHead {
    /// Records written so far (at most the record count).
    used: u8,
    /// Physical index of the newest record (0 while `used` is 0).
    newest: u8,
    /// The newest record's mark (0 while `used` is 0).
    mark: u8,
}

/// The mark that follows `m`: 1 … 255, then 1 again (0 means "never written").
fn next_mark(m: u8) -> u8 {
    if m == u8::MAX {
        1
    } else {
        m + 1
    }
}

/// Body offset of physical slot `phys`'s mark.
#[inline(never)]
fn mark_at(e: &FileEntry, phys: u16) -> u32 {
    u32::from(phys) * u32::from(e.record_stride())
}

/// Find the newest record: the slot whose successor (cyclically) is unwritten or does not carry
/// the next mark. Records are written in slot order from slot 0, so the unwritten slots are a
/// tail; with at most [`MAX_CYCLIC_RECORDS`] slots a full ring has exactly one break. Marks that
/// fit neither picture (a corrupt body) answer 6581.
fn cyclic_head(s: &dyn Storage, e: &FileEntry) -> Result<CyclicHead, Sw> {
    let n = u16::from(e.record_count);
    if n == 0 || e.record_count > MAX_CYCLIC_RECORDS {
        return Err(Sw::MEMORY_FAILURE);
    }
    let mark = |phys: u16| -> Result<u8, Sw> {
        let mut m = [0u8; 1];
        read_body(s, e, mark_at(e, phys), &mut m)?;
        Ok(m[0])
    };
    let first = mark(0)?;
    if first == 0 {
        return Ok(CyclicHead {
            used: 0,
            newest: 0,
            mark: 0,
        });
    }
    let mut cur = first;
    for i in 0..n {
        let next = if i + 1 == n { first } else { mark(i + 1)? };
        if i + 1 < n && next == 0 {
            return Ok(CyclicHead {
                used: u8::try_from(i + 1).map_err(|_| Sw::MEMORY_FAILURE)?,
                newest: u8::try_from(i).map_err(|_| Sw::MEMORY_FAILURE)?,
                mark: cur,
            });
        }
        if next != next_mark(cur) {
            return Ok(CyclicHead {
                used: e.record_count,
                newest: u8::try_from(i).map_err(|_| Sw::MEMORY_FAILURE)?,
                mark: cur,
            });
        }
        cur = next;
    }
    Err(Sw::MEMORY_FAILURE)
}

/// Walk a linear-variable body (`len ‖ data` records back to back up to the state word): the
/// number of records, and where record `want` is (offset, length) when it exists — the walk
/// stops there. `want` 0 counts them all. One walk for counting and locating; more than 255
/// records (only a corrupt body) answers 6581.
fn variable_walk(
    s: &dyn Storage,
    e: &FileEntry,
    want: u8,
) -> Result<(u8, Option<(u32, usize)>), Sw> {
    let mut n = 0u8;
    let mut pos = 0u32;
    while pos < u32::from(e.state_word) {
        let mut l = [0u8; 1];
        read_body(s, e, pos, &mut l)?;
        n = n.checked_add(1).ok_or(Sw::MEMORY_FAILURE)?;
        if n == want {
            return Ok((n, Some((pos + 1, usize::from(l[0])))));
        }
        pos += 1 + u32::from(l[0]);
    }
    Ok((n, None))
}

/// Number of records that currently exist.
pub fn count(s: &dyn Storage, e: &FileEntry) -> Result<u8, Sw> {
    match e.kind {
        FileKind::LinearFixed => Ok(e.record_count),
        FileKind::Cyclic => Ok(cyclic_head(s, e)?.used),
        FileKind::LinearVariable => Ok(variable_walk(s, e, 0)?.0),
        _ => Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE),
    }
}

/// Body offset and length of logical record `n` (1-based).
pub fn locate(s: &dyn Storage, e: &FileEntry, n: u8) -> Result<(u32, usize), Sw> {
    if n == 0 {
        return Err(Sw::RECORD_NOT_FOUND);
    }
    match e.kind {
        FileKind::LinearFixed => {
            if n > e.record_count {
                return Err(Sw::RECORD_NOT_FOUND);
            }
            Ok((
                u32::from(n - 1) * u32::from(e.record_len),
                usize::from(e.record_len),
            ))
        }
        FileKind::Cyclic => {
            let head = cyclic_head(s, e)?;
            if n > head.used {
                return Err(Sw::RECORD_NOT_FOUND);
            }
            let rc = u16::from(e.record_count);
            let phys = (u16::from(head.newest) + rc - u16::from(n - 1)) % rc;
            Ok((mark_at(e, phys) + 1, usize::from(e.record_len)))
        }
        FileKind::LinearVariable => variable_walk(s, e, n)?.1.ok_or(Sw::RECORD_NOT_FOUND),
        _ => Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE),
    }
}

/// Read logical record `n` into `buf`; returns its length.
pub fn read(
    s: &dyn Storage,
    e: &FileEntry,
    n: u8,
    buf: &mut [u8; MAX_RECORD],
) -> Result<usize, Sw> {
    let (off, len) = locate(s, e, n)?;
    let dst = buf.get_mut(..len).ok_or(Sw::MEMORY_FAILURE)?;
    read_body(s, e, off, dst)?;
    Ok(len)
}

/// Overwrite logical record `n`; the length must match the record's.
pub fn update(s: &mut dyn Storage, e: &FileEntry, n: u8, data: &[u8]) -> Result<(), Sw> {
    let (off, len) = locate(s, e, n)?;
    if data.len() != len {
        return Err(Sw::WRONG_LENGTH);
    }
    write_body(s, e, off, data)
}

/// Append a record; returns the logical number it got (1 for cyclic files).
pub fn append(s: &mut dyn Storage, slot: Slot, e: &FileEntry, data: &[u8]) -> Result<u8, Sw> {
    match e.kind {
        FileKind::LinearFixed => {
            if data.len() != usize::from(e.record_len) {
                return Err(Sw::WRONG_LENGTH);
            }
            let next = e.state_word;
            if next >= u16::from(e.record_count) {
                return Err(Sw::NOT_ENOUGH_MEMORY);
            }
            write_body(s, e, u32::from(next) * u32::from(e.record_len), data)?;
            write_state_word(s, slot, next + 1)?;
            Ok(u8::try_from(next + 1).map_err(|_| Sw::MEMORY_FAILURE)?)
        }
        FileKind::Cyclic => {
            if data.len() != usize::from(e.record_len) {
                return Err(Sw::WRONG_LENGTH);
            }
            let head = cyclic_head(s, e)?;
            let (phys, mark) = if head.used == 0 {
                (0, 1)
            } else {
                let phys = (u16::from(head.newest) + 1) % u16::from(e.record_count);
                (phys, next_mark(head.mark))
            };
            // Mark and record are adjacent: one write-set entry, one home program per page.
            let at = mark_at(e, phys);
            write_body(s, e, at, &[mark])?;
            write_body(s, e, at + 1, data)?;
            Ok(1)
        }
        FileKind::LinearVariable => {
            let len = u8::try_from(data.len()).map_err(|_| Sw::WRONG_LENGTH)?;
            if len == 0 {
                return Err(Sw::WRONG_LENGTH);
            }
            let n = count(s, e)?;
            let used = u32::from(e.state_word);
            let end = used + 1 + u32::from(len);
            if end > u32::from(e.size) || n == u8::MAX {
                return Err(Sw::NOT_ENOUGH_MEMORY);
            }
            write_body(s, e, used, &[len])?;
            write_body(s, e, used + 1, data)?;
            write_state_word(s, slot, end as u16)?;
            Ok(n + 1)
        }
        _ => Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE),
    }
}
