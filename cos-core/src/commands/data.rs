//! READ / UPDATE / WRITE BINARY (ISO/IEC 7816-4 §11.2) and READ / UPDATE / APPEND RECORD (§11.3).
//!
//! Invariants: the file is found (current EF or SFI under the current DF) and its kind checked
//! before anything else; the read or write right is checked on every access; writes to a
//! line-protected EF need a valid MAC (and encryption for `+C0` files); every write is one
//! transaction, so a refused or torn command changes nothing.

use super::select::overflow;
use super::Ctx;
use crate::error::atomically;
use crate::fs::{self, record, FileEntry, FileKind, LineProtection, Slot};
use cos_apdu::{Command, Ne, Response, Sw};

/// Find the EF a binary command addresses: P1 b8 set → SFI in P1 b1–b5 and offset P2 (ISO
/// §11.2.2); otherwise the current EF and a 15-bit offset. Using an SFI makes that EF current.
fn binary_target(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<(Slot, FileEntry, u32), Sw> {
    let (p1, p2) = (cmd.p1(), cmd.p2());
    // The entry is read once for both forms (moving it out of the SFI lookup cost more code).
    let (slot, offset) = if p1 & 0x80 != 0 {
        if p1 & 0x60 != 0 {
            return Err(Sw::INCORRECT_P1P2);
        }
        (by_sfi(k, p1 & 0x1F)?, u32::from(p2))
    } else {
        let slot = k
            .session
            .current_ef
            .ok_or(Sw::COMMAND_NOT_ALLOWED_NO_CURRENT_EF)?;
        (slot, u32::from(u16::from_be_bytes([p1, p2])))
    };
    let e = fs::entry(k.store, slot)?;
    if e.kind != FileKind::Transparent {
        return Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE);
    }
    k.session.current_ef = Some(slot);
    Ok((slot, e, offset))
}

fn by_sfi(k: &Ctx<'_>, sfi: u8) -> Result<Slot, Sw> {
    if sfi == 0 || sfi > 30 {
        return Err(Sw::INCORRECT_P1P2);
    }
    fs::child_by_sfi(k.store, k.header.slots, k.session.current_df, sfi)?
        .map(|(s, _)| s)
        .ok_or(Sw::FILE_NOT_FOUND)
}

/// Le 00 (short) or 0000 (extended) asks for "everything, up to the maximum" without a warning.
fn is_wildcard(ne: Ne) -> bool {
    matches!(ne, Ne::Short(256) | Ne::Extended(65536))
}

/// The checks every read makes once its file is found: the read right, then a MAC when the
/// command carries secure messaging (its payload is only checked), else no data at all. One copy
/// for READ BINARY and READ RECORD.
fn read_access(k: &mut Ctx<'_>, cmd: &Command<'_>, e: &FileEntry) -> Result<(), Sw> {
    k.check_right(k.session.current_df, e.rights.first)?;
    if cmd.cla().has_sm() {
        k.payload(cmd, true, false)?;
    } else if !cmd.data().is_empty() {
        return Err(Sw::WRONG_LENGTH);
    }
    Ok(())
}

/// READ BINARY.
pub fn read_binary(k: &mut Ctx<'_>, cmd: &Command<'_>, rsp: &mut Response<'_>) -> Result<Sw, Sw> {
    if cmd.ne().is_absent() {
        return Err(Sw::WRONG_LENGTH);
    }
    let (_, e, offset) = binary_target(k, cmd)?;
    read_access(k, cmd, &e)?;
    let size = u32::from(e.size);
    if offset >= size {
        return Err(Sw::WRONG_P1P2);
    }
    let available = (size - offset) as usize;
    let want = cmd.ne().max_len();
    let n = available
        .min(want)
        .min(rsp.capacity().saturating_sub(rsp.len()));
    let mut buf = [0u8; 64];
    let mut done = 0usize;
    while done < n {
        let chunk = (n - done).min(buf.len());
        let dst = buf.get_mut(..chunk).ok_or(Sw::UNKNOWN)?;
        fs::read_body(k.store, &e, offset + done as u32, dst)?;
        rsp.extend(dst).map_err(overflow)?;
        done += chunk;
    }
    // 6282 only when the end of the file came first: an answer cut at the response buffer's
    // size (an extended Le over 512 bytes) is not an end of file; the terminal reads on.
    if available < want && !is_wildcard(cmd.ne()) {
        Ok(Sw::END_OF_FILE_REACHED)
    } else {
        Ok(Sw::SUCCESS)
    }
}

/// UPDATE BINARY (`or_mode = false`) and WRITE BINARY (`or_mode = true`: ISO's default data
/// coding "write OR", bits can only be set).
pub fn write_binary(k: &mut Ctx<'_>, cmd: &Command<'_>, or_mode: bool) -> Result<Sw, Sw> {
    let (_, e, offset) = binary_target(k, cmd)?;
    k.check_right(k.session.current_df, e.rights.second)?;
    let payload = protected_payload(k, cmd, &e)?;
    let data = payload.data.as_slice();
    if data.is_empty() {
        return Err(Sw::WRONG_LENGTH);
    }
    let size = u32::from(e.size);
    if offset >= size {
        return Err(Sw::WRONG_P1P2);
    }
    if offset + data.len() as u32 > size {
        return Err(Sw::WRONG_LENGTH);
    }
    atomically(k.store, |s| {
        if or_mode {
            let mut old = [0u8; super::MAX_PAYLOAD];
            let old = old.get_mut(..data.len()).ok_or(Sw::WRONG_LENGTH)?;
            fs::read_body(s, &e, offset, old)?;
            for (o, d) in old.iter_mut().zip(data.iter()) {
                *o |= *d;
            }
            fs::write_body(s, &e, offset, old)
        } else {
            fs::write_body(s, &e, offset, data)
        }
    })?;
    Ok(Sw::SUCCESS)
}

/// The data of a write to `e`: a line-protected EF refuses plain commands (6982) once rights are
/// enforced in its DF; before that (pre-issue, no key file yet) personalisation writes its initial
/// content in plain, as it does for every other right.
fn protected_payload(
    k: &mut Ctx<'_>,
    cmd: &Command<'_>,
    e: &FileEntry,
) -> Result<super::Payload, Sw> {
    // (require SM, decrypt), then one call.
    let (require, decrypt) = if !cmd.cla().has_sm() && !k.rights_enforced(Slot(e.parent))? {
        (false, false)
    } else {
        match e.protection {
            LineProtection::None => (false, false),
            LineProtection::Mac => (true, false),
            LineProtection::EncryptedMac => (true, true),
        }
    };
    k.payload(cmd, require, decrypt)
}

/// The record EF of a record command: P2 b8–b4 SFI (0 = current EF, 31 reserved).
fn record_target(k: &mut Ctx<'_>, p2: u8) -> Result<(Slot, FileEntry), Sw> {
    let sfi = p2 >> 3;
    // As for binary commands: find the slot, read its entry once.
    let slot = match sfi {
        0 => k
            .session
            .current_ef
            .ok_or(Sw::COMMAND_NOT_ALLOWED_NO_CURRENT_EF)?,
        31 => return Err(Sw::INCORRECT_P1P2),
        _ => by_sfi(k, sfi)?,
    };
    let e = fs::entry(k.store, slot)?;
    if !e.kind.is_record() {
        return Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE);
    }
    if k.session.current_ef != Some(slot) {
        k.session.current_record = None;
    }
    k.session.current_ef = Some(slot);
    Ok((slot, e))
}

/// Resolve the record a READ/UPDATE RECORD addresses (ISO/IEC 7816-4 §7.3.5, P2 b3–b1):
/// * `100`: record number P1 (P1 = 0: the current record);
/// * `000` first, `001` last, `010` next, `011` previous: with P1 = 0 relative to the current
///   record (without one, next = first and previous = last); with P1 ≠ 0 the first, last, next or
///   previous record whose *record identifier* (its first byte, the tag of a SIMPLE-TLV record, as
///   social-security terminals use it) equals P1.
fn record_number(k: &Ctx<'_>, e: &FileEntry, p1: u8, mode: u8) -> Result<u8, Sw> {
    let count = record::count(k.store, e)?;
    let cur = k.session.current_record;
    if mode != 0b100 && p1 != 0 {
        return record_by_identifier(k, e, p1, mode, count, cur);
    }
    let n = match mode {
        0b100 => {
            if p1 == 0 {
                cur.ok_or(Sw::RECORD_NOT_FOUND)?
            } else {
                p1
            }
        }
        0b000 => 1,
        0b001 => count,
        0b010 => match cur {
            Some(c) => c.checked_add(1).ok_or(Sw::RECORD_NOT_FOUND)?,
            None => 1,
        },
        0b011 => match cur {
            Some(c) => c.checked_sub(1).ok_or(Sw::RECORD_NOT_FOUND)?,
            None => count,
        },
        _ => return Err(Sw::INCORRECT_P1P2),
    };
    if n == 0 || n > count {
        return Err(Sw::RECORD_NOT_FOUND);
    }
    Ok(n)
}

/// The record whose first byte is `id`, searched as `mode` says (see [`record_number`]).
fn record_by_identifier(
    k: &Ctx<'_>,
    e: &FileEntry,
    id: u8,
    mode: u8,
    count: u8,
    cur: Option<u8>,
) -> Result<u8, Sw> {
    let matches = |n: u8| -> Result<bool, Sw> {
        let (off, len) = record::locate(k.store, e, n)?;
        if len == 0 {
            return Ok(false);
        }
        let mut b = [0u8; 1];
        fs::read_body(k.store, e, off, &mut b)?;
        Ok(b[0] == id)
    };
    // One scan for all four modes (a start and a direction), so the record check is emitted once.
    let (from, forward) = match mode {
        0b000 => (1, true),
        0b001 => (count, false),
        0b010 => (cur.map_or(1, |c| c.saturating_add(1)), true),
        0b011 => match cur {
            Some(0 | 1) => return Err(Sw::RECORD_NOT_FOUND),
            Some(c) => (c - 1, false),
            None => (count, false),
        },
        _ => return Err(Sw::INCORRECT_P1P2),
    };
    let mut n = if forward { from } else { from.min(count) };
    // Forward past 255 wraps to 0 and backward past 1 reaches 0: both leave 1..=count.
    while (1..=count).contains(&n) {
        if matches(n)? {
            return Ok(n);
        }
        n = if forward {
            n.wrapping_add(1)
        } else {
            n.wrapping_sub(1)
        };
    }
    Err(Sw::RECORD_NOT_FOUND)
}

/// READ RECORD. Le shorter than the record answers 6Cxx with the record length.
pub fn read_record(k: &mut Ctx<'_>, cmd: &Command<'_>, rsp: &mut Response<'_>) -> Result<Sw, Sw> {
    if cmd.ne().is_absent() {
        return Err(Sw::WRONG_LENGTH);
    }
    let (_, e) = record_target(k, cmd.p2())?;
    read_access(k, cmd, &e)?;
    let n = record_number(k, &e, cmd.p1(), cmd.p2() & 0x07)?;
    let mut buf = [0u8; record::MAX_RECORD];
    let len = record::read(k.store, &e, n, &mut buf)?;
    let want = cmd.ne().max_len();
    if want < len {
        return Err(Sw::wrong_le(len as u8));
    }
    rsp.extend(buf.get(..len).ok_or(Sw::UNKNOWN)?)
        .map_err(overflow)?;
    k.session.current_record = Some(n);
    if want > len && !is_wildcard(cmd.ne()) {
        Ok(Sw::END_OF_FILE_REACHED)
    } else {
        Ok(Sw::SUCCESS)
    }
}

/// UPDATE RECORD.
pub fn update_record(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    let (_, e) = record_target(k, cmd.p2())?;
    k.check_right(k.session.current_df, e.rights.second)?;
    let n = record_number(k, &e, cmd.p1(), cmd.p2() & 0x07)?;
    let payload = protected_payload(k, cmd, &e)?;
    let data = payload.data.as_slice();
    if data.is_empty() {
        return Err(Sw::WRONG_LENGTH);
    }
    atomically(k.store, |s| record::update(s, &e, n, data))?;
    k.session.current_record = Some(n);
    Ok(Sw::SUCCESS)
}

/// APPEND RECORD (P1 = 00, P2 b3–b1 = 000).
pub fn append_record(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    if cmd.p1() != 0 || cmd.p2() & 0x07 != 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    let (slot, e) = record_target(k, cmd.p2())?;
    k.check_right(k.session.current_df, e.rights.second)?;
    let payload = protected_payload(k, cmd, &e)?;
    let data = payload.data.as_slice();
    if data.is_empty() {
        return Err(Sw::WRONG_LENGTH);
    }
    let n = atomically(k.store, |s| record::append(s, slot, &e, data))?;
    k.session.current_record = Some(n);
    Ok(Sw::SUCCESS)
}
