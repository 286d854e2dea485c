//! The ISO/IEC 7816-4 file system, kept in persistent storage.
//!
//! Responsibility: the data-area layout (card header, file table, file bodies), lookups by FID,
//! SFI and DF name, space allocation inside a DF's quota, and record addressing. Nothing here is
//! cached in RAM: every lookup reads the store, so a power cut can never leave RAM and NVM
//! disagreeing. All writes happen inside the caller's transaction.
//!
//! Layout of the data area (`docs/nvm-format.md`):
//! * `0..32`: card header (`CCFS`, format version, card life cycle, number of table slots);
//! * `32..32 + 32·slots`: the file table, slot 0 the MF;
//! * the rest: the MF's space, from which every DF reserves its quota and every EF its body.

pub mod entry;
pub mod record;
pub mod space;

use crate::error::store_sw;
use crate::lifecycle::CardState;
use cos_apdu::{Fid, Sw};
use cos_nvm::Storage;
pub use entry::{
    AreaFlags, DfState, FileEntry, FileKind, LineProtection, Rights, ENTRY_SIZE, FREE_EXTENT,
};

/// Size of the card header at the start of the data area.
pub const HEADER_SIZE: u32 = 32;
/// Magic of a formatted file system.
pub const FS_MAGIC: [u8; 4] = *b"CCFS";
/// File-system format version. Version 2 keeps a cyclic file's head in record marks in its body
/// (version 1: in the file-table state word); a version-1 card header is refused as corrupt.
pub const FS_VERSION: u8 = 2;
/// Slot of the MF.
pub const MF_SLOT: Slot = Slot(0);

/// Index of a file-table slot: the kernel's typed handle for a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot(pub u8);

impl Slot {
    /// Address of the slot in the data area.
    pub const fn addr(self) -> u32 {
        HEADER_SIZE + (self.0 as u32) * ENTRY_SIZE as u32
    }
}

/// The decoded card header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CardHeader {
    /// Card life-cycle state.
    pub state: CardState,
    /// Number of file-table slots.
    pub slots: u8,
}

/// Read the card header; a missing magic or bad state means the image holds no file system.
#[inline(never)]
pub fn read_header(s: &dyn Storage) -> Result<CardHeader, Sw> {
    let mut b = [0u8; 8];
    s.read(0, &mut b).map_err(store_sw)?;
    let [m0, m1, m2, m3, ver, lcs, slots, _] = b;
    if [m0, m1, m2, m3] != FS_MAGIC || ver != FS_VERSION || slots == 0 {
        return Err(Sw::MEMORY_FAILURE);
    }
    let state = CardState::from_lcs(lcs).ok_or(Sw::MEMORY_FAILURE)?;
    Ok(CardHeader { state, slots })
}

/// Write the card header (inside a transaction).
#[inline(never)]
pub fn write_header(s: &mut dyn Storage, h: CardHeader) -> Result<(), Sw> {
    let [a, b, c, d] = FS_MAGIC;
    s.write(0, &[a, b, c, d, FS_VERSION, h.state.lcs(), h.slots, 0])
        .map_err(store_sw)
}

/// Change only the life-cycle byte (one small journal entry).
#[inline(never)]
pub fn write_card_state(s: &mut dyn Storage, state: CardState) -> Result<(), Sw> {
    s.write(5, &[state.lcs()]).map_err(store_sw)
}

/// First byte after the file table.
pub fn table_end(slots: u8) -> u32 {
    HEADER_SIZE + u32::from(slots) * ENTRY_SIZE as u32
}

/// Read one slot.
pub fn read_entry(s: &dyn Storage, slot: Slot) -> Result<Option<FileEntry>, Sw> {
    let mut b = [0u8; ENTRY_SIZE];
    s.read(slot.addr(), &mut b).map_err(store_sw)?;
    FileEntry::decode(&b, s.capacity()).map_err(|_| Sw::MEMORY_FAILURE)
}

/// Read a slot that must hold a file.
#[inline(never)]
pub fn entry(s: &dyn Storage, slot: Slot) -> Result<FileEntry, Sw> {
    read_entry(s, slot)?.ok_or(Sw::FILE_NOT_FOUND)
}

/// Write one slot (inside a transaction).
#[inline(never)]
pub fn write_entry(s: &mut dyn Storage, slot: Slot, e: &FileEntry) -> Result<(), Sw> {
    s.write(slot.addr(), &e.encode()).map_err(store_sw)
}

/// Update only a slot's state word (2 bytes: cheap in the journal).
#[inline(never)]
pub fn write_state_word(s: &mut dyn Storage, slot: Slot, word: u16) -> Result<(), Sw> {
    s.write(slot.addr() + 14, &word.to_be_bytes())
        .map_err(store_sw)
}

/// Update only a DF's life-cycle byte.
#[inline(never)]
pub fn write_df_state(s: &mut dyn Storage, slot: Slot, st: DfState) -> Result<(), Sw> {
    s.write(slot.addr() + 5, &[st.lcs()]).map_err(store_sw)
}

/// Mark a slot free.
#[inline(never)]
pub fn free_slot(s: &mut dyn Storage, slot: Slot) -> Result<(), Sw> {
    s.write(slot.addr(), &[0]).map_err(store_sw)
}

/// Find the first slot (in table order, starting at `from`) whose entry satisfies `pred`.
pub fn find(
    s: &dyn Storage,
    slots: u8,
    from: u8,
    mut pred: impl FnMut(Slot, &FileEntry) -> bool,
) -> Result<Option<(Slot, FileEntry)>, Sw> {
    find_dyn(s, slots, from, &mut pred)
}

/// [`find`] with the predicate behind a `dyn` (one copy of the scan for every caller). The
/// kernel calls it directly: the generic wrapper would be inlined at each call.
#[inline(never)]
pub(crate) fn find_dyn(
    s: &dyn Storage,
    slots: u8,
    from: u8,
    pred: &mut dyn FnMut(Slot, &FileEntry) -> bool,
) -> Result<Option<(Slot, FileEntry)>, Sw> {
    for i in from..slots {
        let slot = Slot(i);
        if let Some(e) = read_entry(s, slot)? {
            if pred(slot, &e) {
                return Ok(Some((slot, e)));
            }
        }
    }
    Ok(None)
}

/// A free slot.
pub fn free_slot_index(s: &dyn Storage, slots: u8) -> Result<Option<Slot>, Sw> {
    for i in 1..slots {
        let mut b = [0u8; 1];
        s.read(Slot(i).addr(), &mut b).map_err(store_sw)?;
        if b[0] == 0 {
            return Ok(Some(Slot(i)));
        }
    }
    Ok(None)
}

/// The life-cycle state that applies in the DF `slot`: the worst state on its path up to the MF.
/// An application's sub-DFs belong to the application, so a DF inside a temporarily
/// (permanently) blocked DF is blocked (terminated) with it.
#[inline(never)]
pub fn effective_state(s: &dyn Storage, slots: u8, mut slot: Slot) -> Result<DfState, Sw> {
    let mut worst = DfState::Active;
    for _ in 0..=slots {
        let e = entry(s, slot)?;
        match e.state {
            DfState::Terminated => return Ok(DfState::Terminated),
            DfState::Blocked => worst = DfState::Blocked,
            DfState::Active => {}
        }
        if slot == MF_SLOT {
            return Ok(worst);
        }
        slot = Slot(e.parent);
    }
    Err(Sw::MEMORY_FAILURE)
}

/// Whether `slot` lies in the subtree rooted at `root` (walking parents, bounded by the table size).
#[inline(never)]
pub fn is_descendant(s: &dyn Storage, slots: u8, mut slot: Slot, root: Slot) -> Result<bool, Sw> {
    for _ in 0..=slots {
        if slot == root {
            return Ok(true);
        }
        if slot == MF_SLOT {
            return Ok(false);
        }
        slot = Slot(entry(s, slot)?.parent);
    }
    Err(Sw::MEMORY_FAILURE)
}

/// Slot bytes 0..5 (type, parent, FID, SFI): what the child lookups filter on.
const PREFIX: usize = 5;

/// [`find`] over the children of `parent` (slots from 1), reading only the first [`PREFIX`] bytes
/// of each slot and decoding (and checking) the whole entry only where `pre` accepts them: the
/// lookups every command makes cost a fraction of a full table decode.
#[inline(never)]
fn find_child(
    s: &dyn Storage,
    slots: u8,
    parent: Slot,
    pre: &dyn Fn(&[u8; PREFIX]) -> bool,
    pred: &dyn Fn(&FileEntry) -> bool,
) -> Result<Option<(Slot, FileEntry)>, Sw> {
    for i in 1..slots {
        let slot = Slot(i);
        let mut b = [0u8; PREFIX];
        s.read(slot.addr(), &mut b).map_err(store_sw)?;
        let [ty, p, ..] = b;
        if ty == 0 || p != parent.0 || !pre(&b) {
            continue;
        }
        if let Some(e) = read_entry(s, slot)? {
            if e.parent == parent.0 && pred(&e) {
                return Ok(Some((slot, e)));
            }
        }
    }
    Ok(None)
}

/// A child of `parent` with this FID.
pub fn child_by_fid(
    s: &dyn Storage,
    slots: u8,
    parent: Slot,
    fid: Fid,
) -> Result<Option<(Slot, FileEntry)>, Sw> {
    let [f0, f1] = fid.0.to_be_bytes();
    find_child(
        s,
        slots,
        parent,
        &|&[_, _, a, b, _]| a == f0 && b == f1,
        &|e| e.fid == fid,
    )
}

/// An EF child of `df` with this short identifier.
pub fn child_by_sfi(
    s: &dyn Storage,
    slots: u8,
    df: Slot,
    sfi: u8,
) -> Result<Option<(Slot, FileEntry)>, Sw> {
    if sfi == 0 {
        return Ok(None);
    }
    find_child(s, slots, df, &|&[.., x]| x == sfi, &|e| {
        !e.kind.is_df() && e.sfi == sfi
    })
}

/// The key file of `df`, if it has one. Out of line: nine callers each had their own copy of
/// the predicates and the call.
#[inline(never)]
pub fn key_file(s: &dyn Storage, slots: u8, df: Slot) -> Result<Option<(Slot, FileEntry)>, Sw> {
    find_child(
        s,
        slots,
        df,
        &|&[ty, ..]| ty == FileKind::KeyFile.code(),
        &|e| e.kind == FileKind::KeyFile,
    )
}

/// Read bytes of a file body.
#[inline(never)]
pub fn read_body(s: &dyn Storage, e: &FileEntry, off: u32, buf: &mut [u8]) -> Result<(), Sw> {
    check_range(e, off, buf.len())?;
    s.read(u32::from(e.offset) + off, buf).map_err(store_sw)
}

/// Write bytes of a file body (inside a transaction).
#[inline(never)]
pub fn write_body(s: &mut dyn Storage, e: &FileEntry, off: u32, data: &[u8]) -> Result<(), Sw> {
    check_range(e, off, data.len())?;
    s.write(u32::from(e.offset) + off, data).map_err(store_sw)
}

fn check_range(e: &FileEntry, off: u32, len: usize) -> Result<(), Sw> {
    let end = off
        .checked_add(u32::try_from(len).map_err(|_| Sw::WRONG_LENGTH)?)
        .ok_or(Sw::WRONG_LENGTH)?;
    if end > u32::from(e.size) {
        return Err(Sw::WRONG_LENGTH);
    }
    Ok(())
}

/// Free every slot below `df` (not `df` itself); returns how many were freed.
/// Leaves go first, so the parent chain of every slot still to be freed stays intact; each
/// round frees at least one slot or ends the loop.
pub fn free_subtree(s: &mut dyn Storage, slots: u8, df: Slot) -> Result<u8, Sw> {
    // A table has at most 255 slots, so no limit is ever reached.
    free_descendants(s, slots, df, u8::MAX)
}

/// The application area `slot` belongs to: itself or its nearest ancestor whose area flag is set
/// (`docs/areas.md`), with that DF's area flags. Bounded by the table size like
/// [`is_descendant`]. Only the slot and flags come back: every caller needs no more, and a small
/// answer travels in registers instead of a whole entry copied through each frame.
pub fn area_of(
    s: &dyn Storage,
    slots: u8,
    mut slot: Slot,
) -> Result<Option<(Slot, AreaFlags)>, Sw> {
    for _ in 0..=slots {
        let e = entry(s, slot)?;
        if e.kind.is_df() && e.area.is_area() {
            return Ok(Some((slot, e.area)));
        }
        if slot == MF_SLOT {
            return Ok(None);
        }
        slot = Slot(e.parent);
    }
    Err(Sw::MEMORY_FAILURE)
}

/// Update only a DF's area flags (slot byte 8).
#[inline(never)]
pub fn write_area_flags(s: &mut dyn Storage, slot: Slot, flags: AreaFlags) -> Result<(), Sw> {
    s.write(slot.addr() + 8, &[flags.0]).map_err(store_sw)
}

/// Free at most `limit` slots below `df` (never `df` itself), leaves first, so every slot still
/// in place keeps an intact parent chain and the table stays consistent after any number of
/// calls; returns how many were freed (0: nothing is left below `df`). The resumable step of an
/// area's revocation: each call is one bounded transaction.
pub fn free_descendants(s: &mut dyn Storage, slots: u8, df: Slot, limit: u8) -> Result<u8, Sw> {
    let mut freed = 0u8;
    while freed < limit {
        let mut progress = false;
        for i in 1..slots {
            if freed >= limit {
                break;
            }
            let slot = Slot(i);
            if slot == df {
                continue;
            }
            let Some(e) = read_entry(s, slot)? else {
                continue;
            };
            if !is_descendant(s, slots, slot, df)? {
                continue;
            }
            let has_child =
                e.kind.is_df() && find_dyn(s, slots, 1, &mut |_, c| c.parent == slot.0)?.is_some();
            if !has_child {
                free_slot(s, slot)?;
                freed = freed.saturating_add(1);
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    Ok(freed)
}

/// Whether two DF names shadow each other under SELECT by name (ISO/IEC 7816-4 §11.1.1: a
/// partial name selects the first DF it begins): one is a prefix of the other.
pub fn names_collide(a: &[u8], b: &[u8]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}
