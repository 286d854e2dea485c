//! Space inside a DF's quota: the bump pointer, and the free extents a revoked application area
//! leaves behind (`docs/areas.md` "Reclaiming space", ADR 0003).
//!
//! A DF allocates its children's bodies upwards from its offset; its state word is the *top*,
//! the number of bytes allocated so far. Files are never deleted one by one, so before areas the
//! space below the top was always in use. Revoking an area in the middle of the MF's space leaves
//! a hole; instead of moving the bodies above it (a compaction would rewrite other applications'
//! files in many transactions), the hole is recorded **in the revoked area's own file-table
//! slot**, retyped [`FREE_EXTENT`]. So a revocation never needs a slot it does not already hold.
//!
//! Invariants, kept by [`release`] and [`allocate`] / [`commit`]:
//! * extents of a DF lie below its top, do not overlap each other or any file;
//! * no two extents of a DF are adjacent (they are merged), and none ends at the top (the top is
//!   lowered instead) — so the free space of a DF is `size − top + Σ extents` and every change
//!   is one transaction of at most three slot writes and the state word;
//! * an allocation takes the smallest extent that fits (lowest offset on a tie), else space at the
//!   top; a new body is zeroed by the caller before the transaction that makes it reachable;
//! * a body asked to stay inside one page (internal EFs: an applet's hot state, written by every
//!   transaction) never straddles a page boundary: extents where it would are passed over, and at
//!   the top the bytes up to the next boundary are skipped. Those few bytes belong to no file and
//!   no extent until the DF is erased — the one exception to "the space below the top is files
//!   and extents".
//!
//! Every write here happens inside the caller's transaction.

use super::{entry, read_entry, write_state_word, FileEntry, Slot, ENTRY_SIZE, FREE_EXTENT};
use crate::error::store_sw;
use cos_apdu::Sw;
use cos_nvm::Storage;

/// A free extent of a DF's space, recorded in a file-table slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// The slot holding the record.
    pub slot: Slot,
    /// The DF whose space it is.
    pub parent: u8,
    /// Start in the data area.
    pub offset: u16,
    /// Length in bytes.
    pub size: u16,
}

impl Extent {
    /// First byte after the extent.
    pub fn end(&self) -> u32 {
        u32::from(self.offset) + u32::from(self.size)
    }
}

/// Where a new body goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocation {
    /// At the DF's top (the bump pointer moves up).
    Top {
        /// Start of the body.
        offset: u16,
        /// Bytes skipped below it so that the body stays inside one page.
        skipped: u16,
    },
    /// At the start of a free extent (which shrinks, or disappears when the size is exact).
    Extent {
        /// The extent used.
        from: Extent,
    },
}

impl Allocation {
    /// Start of the allocated body.
    pub fn offset(&self) -> u16 {
        match self {
            Allocation::Top { offset, .. } => *offset,
            Allocation::Extent { from } => from.offset,
        }
    }
}

/// The free extent recorded in `slot`, if that slot records one. A record whose range leaves the
/// data area is corrupt (6581).
pub fn read_extent(s: &dyn Storage, slot: Slot) -> Result<Option<Extent>, Sw> {
    let mut b = [0u8; ENTRY_SIZE];
    s.read(slot.addr(), &mut b).map_err(store_sw)?;
    let [ty, parent, _, _, _, _, _, _, _, _, o0, o1, z0, z1, ..] = b;
    if ty != FREE_EXTENT {
        return Ok(None);
    }
    let e = Extent {
        slot,
        parent,
        offset: u16::from_be_bytes([o0, o1]),
        size: u16::from_be_bytes([z0, z1]),
    };
    if e.end() > s.capacity() || e.size == 0 {
        return Err(Sw::MEMORY_FAILURE);
    }
    Ok(Some(e))
}

/// Visit every free extent of `df` in table order.
pub fn for_each_extent(
    s: &dyn Storage,
    slots: u8,
    df: Slot,
    mut f: impl FnMut(Extent),
) -> Result<(), Sw> {
    for i in 1..slots {
        if let Some(e) = read_extent(s, Slot(i))? {
            if e.parent == df.0 {
                f(e);
            }
        }
    }
    Ok(())
}

/// Bytes of `df`'s quota free for new files: above the top and in its extents. An allocation
/// needs one contiguous piece, so a request up to this size can still answer 6A84.
pub fn free_bytes(s: &dyn Storage, slots: u8, df: Slot, dfe: &FileEntry) -> Result<u32, Sw> {
    let mut total = dfe.df_free_bytes();
    for_each_extent(s, slots, df, |e| total += u32::from(e.size))?;
    Ok(total)
}

/// Bytes to skip at `offset` so that `size` bytes stay inside one `page` (0 when they already do,
/// or cannot: larger than a page).
fn skip_to_fit(offset: u32, size: u16, page: Option<u32>) -> u32 {
    match page {
        Some(ps) if ps > 0 && u32::from(size) <= ps && offset % ps + u32::from(size) > ps => {
            ps - offset % ps
        }
        _ => 0,
    }
}

/// Choose where `size` bytes go in `df` (6A84 when no extent and not the top can hold them).
/// With `page`, a body of at most that many bytes is kept inside one page (see the invariants).
pub fn allocate(
    s: &dyn Storage,
    slots: u8,
    df: Slot,
    dfe: &FileEntry,
    size: u16,
    page: Option<u32>,
) -> Result<Allocation, Sw> {
    let mut best: Option<Extent> = None;
    if size > 0 {
        for_each_extent(s, slots, df, |e| {
            let better = match best {
                None => true,
                Some(b) => e.size < b.size || (e.size == b.size && e.offset < b.offset),
            };
            let fits = e.size >= size && skip_to_fit(u32::from(e.offset), size, page) == 0;
            if fits && better {
                best = Some(e);
            }
        })?;
    }
    if let Some(from) = best {
        return Ok(Allocation::Extent { from });
    }
    let top = dfe.df_free_offset();
    let skipped = skip_to_fit(top, size, page);
    if u32::from(size) + skipped > dfe.df_free_bytes() {
        return Err(Sw::NOT_ENOUGH_MEMORY);
    }
    Ok(Allocation::Top {
        offset: u16::try_from(top + skipped).map_err(|_| Sw::NOT_ENOUGH_MEMORY)?,
        skipped: u16::try_from(skipped).map_err(|_| Sw::NOT_ENOUGH_MEMORY)?,
    })
}

/// Record the allocation of `size` bytes chosen by [`allocate`] (inside the transaction that
/// creates the file): the top moves up, or the extent shrinks from its start or is dropped.
pub fn commit(
    s: &mut dyn Storage,
    df: Slot,
    dfe: &FileEntry,
    a: &Allocation,
    size: u16,
) -> Result<(), Sw> {
    match a {
        Allocation::Top { skipped, .. } => {
            let top = dfe
                .state_word
                .checked_add(*skipped)
                .and_then(|t| t.checked_add(size))
                .ok_or(Sw::NOT_ENOUGH_MEMORY)?;
            write_state_word(s, df, top)
        }
        Allocation::Extent { from } => {
            if from.size == size {
                super::free_slot(s, from.slot)
            } else {
                let off = from.offset.checked_add(size).ok_or(Sw::MEMORY_FAILURE)?;
                let rest = from.size.checked_sub(size).ok_or(Sw::MEMORY_FAILURE)?;
                write_extent(s, from.slot, from.parent, off, rest)
            }
        }
    }
}

fn write_extent(
    s: &mut dyn Storage,
    slot: Slot,
    parent: u8,
    offset: u16,
    size: u16,
) -> Result<(), Sw> {
    let mut b = [0u8; ENTRY_SIZE];
    let [o0, o1] = offset.to_be_bytes();
    let [z0, z1] = size.to_be_bytes();
    for (i, v) in [
        (0, FREE_EXTENT),
        (1, parent),
        (10, o0),
        (11, o1),
        (12, z0),
        (13, z1),
    ] {
        if let Some(d) = b.get_mut(i) {
            *d = v;
        }
    }
    s.write(slot.addr(), &b).map_err(store_sw)
}

/// Give `[offset, offset + size)` back to `df` (inside one transaction), where `holder` is the
/// slot that held the allocation (a revoked area's): merged with the adjacent extents; lowering
/// the top when the merged range ends at it (then `holder` is freed), else recorded in `holder`.
pub fn release(
    s: &mut dyn Storage,
    slots: u8,
    df: Slot,
    holder: Slot,
    offset: u16,
    size: u16,
) -> Result<(), Sw> {
    let dfe = entry(s, df)?;
    let mut lo = u32::from(offset);
    let mut hi = lo + u32::from(size);
    let mut left = None;
    let mut right = None;
    for_each_extent(s, slots, df, |e| {
        if e.end() == lo {
            left = Some(e);
        }
        if u32::from(e.offset) == hi {
            right = Some(e);
        }
    })?;
    if let Some(e) = left {
        lo = u32::from(e.offset);
        super::free_slot(s, e.slot)?;
    }
    if let Some(e) = right {
        hi = e.end();
        super::free_slot(s, e.slot)?;
    }
    let top = dfe.df_free_offset();
    if hi > top || lo < u32::from(dfe.offset) {
        return Err(Sw::MEMORY_FAILURE);
    }
    if hi == top {
        let new_top = u16::try_from(lo - u32::from(dfe.offset)).map_err(|_| Sw::MEMORY_FAILURE)?;
        write_state_word(s, df, new_top)?;
        super::free_slot(s, holder)
    } else {
        let lo16 = u16::try_from(lo).map_err(|_| Sw::MEMORY_FAILURE)?;
        let len = u16::try_from(hi - lo).map_err(|_| Sw::MEMORY_FAILURE)?;
        write_extent(s, holder, df.0, lo16, len)
    }
}

/// Drop every extent of `df` (ERASE DF of `df`: its whole space becomes free at once).
pub fn clear(s: &mut dyn Storage, slots: u8, df: Slot) -> Result<(), Sw> {
    for i in 1..slots {
        if let Some(e) = read_extent(s, Slot(i))? {
            if e.parent == df.0 {
                super::free_slot(s, e.slot)?;
            }
        }
    }
    Ok(())
}

/// Whether `slot` is in use by a file or an extent (for diagnostics and tests).
pub fn slot_in_use(s: &dyn Storage, slot: Slot) -> Result<bool, Sw> {
    Ok(read_entry(s, slot)?.is_some() || read_extent(s, slot)?.is_some())
}

#[cfg(test)]
mod tests {
    use super::skip_to_fit;

    #[test]
    fn small_bodies_asked_to_stay_in_a_page_skip_to_the_next_one() {
        let p = Some(64);
        assert_eq!(skip_to_fit(0, 24, p), 0);
        assert_eq!(skip_to_fit(40, 24, p), 0, "ends exactly at the boundary");
        assert_eq!(skip_to_fit(41, 24, p), 23, "would straddle: start at 64");
        assert_eq!(skip_to_fit(100, 64, p), 28, "a whole page");
        assert_eq!(
            skip_to_fit(100, 65, p),
            0,
            "larger than a page: cannot help"
        );
        assert_eq!(skip_to_fit(41, 24, None), 0, "not asked");
        assert_eq!(skip_to_fit(41, 0, p), 0);
    }
}
