//! Keys and PINs in a DF's key file: lookup, writing, and try counters.
//!
//! Responsibility: locate a [`KeyRecord`] by type and identifier, store records, and run every
//! secret comparison through [`consume_then_verify`], which commits the decremented try counter
//! **before** the comparison runs. A power cut between the two therefore costs the attacker a try
//! (the tearing attack on PIN verification), and a correct answer restores the counter afterwards.

use crate::error::{atomically, store_sw};
use crate::fs::{self, FileEntry, Slot};
use crate::keys::{KeyRecord, KeyType, TryCounter, KEY_RECORD_SIZE, TRIES_OFFSET};
use cos_apdu::Sw;
use cos_nvm::Storage;

/// Where a key record lives (data-area address), so it can be rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLocation(u32);

/// Number of records a key file holds.
pub fn capacity(kf: &FileEntry) -> u32 {
    u32::from(kf.size) / KEY_RECORD_SIZE as u32
}

/// Find a key of one of `types` with identifier `id` in the key file `kf`.
pub fn find(
    s: &dyn Storage,
    kf: &FileEntry,
    types: &[KeyType],
    id: u8,
) -> Result<Option<(KeyLocation, KeyRecord)>, Sw> {
    find_by(s, kf, types, Some(id))
}

/// The first key of a type (lowest record), e.g. the DF's line-protection key. Out of line:
/// its callers each built the filter in place (measured).
#[inline(never)]
pub fn first_of(
    s: &dyn Storage,
    kf: &FileEntry,
    ty: KeyType,
) -> Result<Option<(KeyLocation, KeyRecord)>, Sw> {
    find_by(s, kf, &[ty], None)
}

/// The first record whose type and identifier `want` accepts. Only those two bytes are read of
/// the other records: a lookup copies (and then wipes) the key bytes of the record it returns,
/// not of every record before it. The filter is data (types, and an identifier or any), not a
/// closure, so that one copy of the scan serves both lookups.
fn find_by(
    s: &dyn Storage,
    kf: &FileEntry,
    types: &[KeyType],
    id: Option<u8>,
) -> Result<Option<(KeyLocation, KeyRecord)>, Sw> {
    for i in 0..capacity(kf) {
        let off = i * KEY_RECORD_SIZE as u32;
        let mut head = [0u8; 2];
        fs::read_body(s, kf, off, &mut head)?;
        let [ty, kid] = head;
        if !KeyType::from_code(ty)
            .is_some_and(|t| types.contains(&t) && id.is_none_or(|w| w == kid))
        {
            continue;
        }
        let mut b = [0u8; KEY_RECORD_SIZE];
        let read = fs::read_body(s, kf, off, &mut b);
        let found = match read {
            Ok(()) => KeyRecord::decode(&b),
            Err(_) => None,
        };
        // The raw record holds key bytes: wiped on every path, the match included.
        zeroize::Zeroize::zeroize(&mut b);
        read?;
        if let Some(r) = found {
            return Ok(Some((KeyLocation(u32::from(kf.offset) + off), r)));
        }
    }
    Ok(None)
}

/// A free record in the key file.
pub fn free_location(s: &dyn Storage, kf: &FileEntry) -> Result<Option<KeyLocation>, Sw> {
    for i in 0..capacity(kf) {
        let off = i * KEY_RECORD_SIZE as u32;
        let mut t = [0u8; 1];
        fs::read_body(s, kf, off, &mut t)?;
        if t[0] == 0 {
            return Ok(Some(KeyLocation(u32::from(kf.offset) + off)));
        }
    }
    Ok(None)
}

/// Write a whole record (inside a transaction).
pub fn write(s: &mut dyn Storage, at: KeyLocation, r: &KeyRecord) -> Result<(), Sw> {
    let mut b = r.encode();
    let res = s.write(at.0, &b).map_err(store_sw);
    zeroize::Zeroize::zeroize(&mut b);
    res
}

#[inline(never)]
fn write_tries(s: &mut dyn Storage, at: KeyLocation, t: TryCounter) -> Result<(), Sw> {
    s.write(at.0 + TRIES_OFFSET as u32, &[t.0])
        .map_err(store_sw)
}

/// Outcome of a secret comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The secret matched; the counter is back to its maximum.
    Passed,
    /// It did not.
    Failed {
        /// Tries left after this failure (`Some(0)`: now blocked); `None` for a secret without a
        /// try counter, which can never block.
        remaining: Option<u8>,
    },
}

/// Consume a try (committed to NVM), then run `check`, then restore the counter on success.
/// A blocked key answers 6983 without running `check`.
///
/// The check is a `dyn` (run once): one copy of the code for every caller, and no wrapper to
/// inline at each of them.
#[inline(never)]
pub fn consume_then_verify(
    s: &mut dyn Storage,
    at: KeyLocation,
    key: &KeyRecord,
    check: &mut dyn FnMut(&KeyRecord) -> bool,
) -> Result<Verification, Sw> {
    let (verdict, restore) = consume_then_check(s, at, key, check)?;
    if let Some(r) = restore {
        r.commit(s)?;
    }
    Ok(verdict)
}

/// A try counter to put back after a passed comparison: written by [`TryRestore::write`] inside a
/// transaction, which may be the caller's own next one (so the restore costs no commit of its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TryRestore {
    at: KeyLocation,
    counter: TryCounter,
}

impl TryRestore {
    /// Write the restored counter (inside an open transaction).
    pub fn write(&self, s: &mut dyn Storage) -> Result<(), Sw> {
        write_tries(s, self.at, self.counter)
    }

    /// Write the restored counter in a transaction of its own.
    pub fn commit(&self, s: &mut dyn Storage) -> Result<(), Sw> {
        commit_tries(s, self.at, self.counter)
    }
}

/// A try counter in a transaction of its own: one copy for the consume and both restores.
#[inline(never)]
fn commit_tries(s: &mut dyn Storage, at: KeyLocation, t: TryCounter) -> Result<(), Sw> {
    atomically(s, |s| write_tries(s, at, t))
}

/// The first half of [`consume_then_verify`]: consume a try (committed to NVM **before** `check`
/// runs), run `check`, and on success hand back the restore instead of committing it. The caller
/// must write it before its command ends; a power cut before that leaves the try consumed, exactly
/// as a cut between comparison and restore does in [`consume_then_verify`].
///
/// The check is a `dyn` (run once), as for [`consume_then_verify`].
#[inline(never)]
pub fn consume_then_check(
    s: &mut dyn Storage,
    at: KeyLocation,
    key: &KeyRecord,
    check: &mut dyn FnMut(&KeyRecord) -> bool,
) -> Result<(Verification, Option<TryRestore>), Sw> {
    if key.tries.is_blocked() {
        return Err(Sw::AUTH_METHOD_BLOCKED);
    }
    let limited = key.tries.is_limited();
    let after = key.tries.decremented();
    if limited {
        commit_tries(s, at, after)?;
    }
    if check(key) {
        let restore = limited.then_some(TryRestore {
            at,
            counter: key.tries.reset(),
        });
        Ok((Verification::Passed, restore))
    } else {
        Ok((
            Verification::Failed {
                remaining: limited.then_some(after.remaining()),
            },
            None,
        ))
    }
}

/// The key file of `df` (6A88 when the DF has none: no key can be referenced).
pub fn key_file_of(s: &dyn Storage, slots: u8, df: Slot) -> Result<FileEntry, Sw> {
    fs::key_file(s, slots, df)?
        .map(|(_, e)| e)
        .ok_or(Sw::REFERENCED_DATA_NOT_FOUND)
}
