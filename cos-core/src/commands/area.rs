//! Post-issuance application areas (`docs/areas.md`, ADR 0003): a DF with its files and keys that
//! the issuer grants to a service unit on a card already in the holder's hands, served by the
//! kernel's generic commands (no code is loaded). This module holds the issuer's side:
//!
//! * **grant** — CREATE FILE `B8` at the MF: the area DF, its key file and the initial area key
//!   (a line-protection key `36`, sent encrypted under the MF's maintenance key) in **one
//!   transaction**, after the issuer's authentication at the MF and under its MAC;
//! * **block / unblock** — APPLICATION BLOCK / UNBLOCK at the MF naming the area, under the MF's
//!   line-protection key (the issuer holds no key inside a handed-over area);
//! * **revoke** — ERASE DF at the MF naming the area: its files are freed and its quota goes back
//!   to the MF's space as a free extent ([`crate::fs::space`]). When the area is too large for one
//!   transaction the erase becomes resumable: the area is first marked *revoking* (terminated,
//!   unreachable, its quota still accounted), its files are freed in bounded batches, and the last
//!   transaction releases the quota; sending the command again after a power cut continues.
//!
//! The service unit's side needs nothing new: WRITE KEY, CREATE FILE and ERASE DF in the area are
//! the generic commands, with the area rules of [`crate::commands::admin`] (always under secure
//! messaging, no MF-level rights, the initial key's replacement first).

use super::admin::NewFile;
use super::Ctx;
use crate::error::{atomically, store_sw};
use crate::fs::{self, space, AreaFlags, DfState, FileEntry, FileKind, Slot, MF_SLOT};
use crate::keys::{KeyRecord, KeyType, KEY_RECORD_SIZE};
use crate::keystore;
use crate::sm;
use crate::types::{AccessRight, Level};
use cos_apdu::{Command, Fid, Sw};

/// Freed slots per transaction when a revocation must be split (halved on 6A84 from a smaller
/// journal); worst case 8 × 39 journal bytes, well inside the default 498.
const ERASE_BATCH: u8 = 8;

/// The area-specific part of a CREATE FILE `B8` body (`docs/commands.md`):
/// `B8 quota(2) create erase app-type key-file-size(2) add-right Ln name(Ln) E(Ld ‖ key ‖ 80…)`.
#[derive(Clone, Copy, Debug)]
pub struct AreaGrant<'a> {
    /// Size of the area's key file (a multiple of nothing in particular; `size / 24` keys).
    pub key_file_size: u16,
    /// The key file's add right.
    pub add_right: AccessRight,
    /// The initial area key, WRITE KEY data of a `36` key encrypted under the MF's key.
    pub key_blob: &'a [u8],
}

/// Whether an access right can stand inside an area: not the MF-level form `0Y` with Y > 0,
/// which only the issuer's MF level could meet (`00`, free, is allowed).
pub const fn right_fits_area(r: AccessRight) -> bool {
    r.0 >> 4 != 0 || r.0 == 0
}

/// The area's rights check (6A80 for a right naming the MF's level).
// Out of line: four callers (measured).
#[inline(never)]
pub fn check_area_rights(rights: &[AccessRight]) -> Result<(), Sw> {
    if rights.iter().all(|r| right_fits_area(*r)) {
        Ok(())
    } else {
        Err(Sw::WRONG_DATA)
    }
}

/// A new DF name must not shadow an area under SELECT by name, nor an area any DF: a name that
/// is a prefix of another (or has one as its prefix) would let a partial-name SELECT land in
/// another party's DF. `scope`: `None` for a DF outside every area (checked against the areas and
/// the DFs inside them), `Some(None)` for a new area (checked against every DF), `Some(Some(a))`
/// for a DF inside area `a` (checked against every DF outside `a`: inside its own area the
/// service unit names its DFs as it likes). Exact duplicates anywhere: 6A8A.
pub fn check_df_name(k: &Ctx<'_>, name: &[u8], scope: Option<Option<Slot>>) -> Result<(), Sw> {
    let slots = k.header.slots;
    let mut clash = false;
    let mut err = None;
    fs::find_dyn(k.store, slots, 0, &mut |slot, e| {
        if !e.kind.is_df() || clash || err.is_some() {
            return false;
        }
        if e.df_name() == name {
            clash = true;
            return true;
        }
        if !fs::names_collide(e.df_name(), name) {
            return false;
        }
        let theirs = match fs::area_of(k.store, slots, slot) {
            Ok(a) => a.map(|(s, _)| s),
            Err(sw) => {
                err = Some(sw);
                return false;
            }
        };
        let relevant = match scope {
            None => theirs.is_some(),
            Some(None) => true,
            Some(Some(own)) => theirs != Some(own),
        };
        clash |= relevant;
        relevant
    })?;
    if let Some(sw) = err {
        return Err(sw);
    }
    if clash {
        return Err(Sw::DF_NAME_ALREADY_EXISTS);
    }
    Ok(())
}

/// The first two free file-table slots (an area needs one for itself and one for its key file).
fn two_free_slots(k: &Ctx<'_>) -> Result<(Slot, Slot), Sw> {
    let mut found = [None, None];
    let mut n = 0usize;
    for i in 1..k.header.slots {
        let mut b = [0u8; 1];
        k.store.read(Slot(i).addr(), &mut b).map_err(store_sw)?;
        if b[0] == 0 {
            if let Some(f) = found.get_mut(n) {
                *f = Some(Slot(i));
            }
            n += 1;
            if n == 2 {
                break;
            }
        }
    }
    match found {
        [Some(a), Some(b)] => Ok((a, b)),
        _ => Err(Sw::NOT_ENOUGH_MEMORY),
    }
}

/// The key that decrypts data sent to the MF: its encryption key (`35`), else its
/// line-protection key (as secure messaging does).
fn mf_cipher_key(k: &Ctx<'_>) -> Result<KeyRecord, Sw> {
    let kf = fs::key_file(k.store, k.header.slots, MF_SLOT)?
        .map(|(_, e)| e)
        .ok_or(Sw::SECURE_MESSAGING_NOT_SUPPORTED)?;
    if let Some((_, key)) = keystore::first_of(k.store, &kf, KeyType::Encryption)? {
        return Ok(key);
    }
    keystore::first_of(k.store, &kf, KeyType::LineProtection)?
        .map(|(_, key)| key)
        .ok_or(Sw::SECURE_MESSAGING_NOT_SUPPORTED)
}

/// CREATE FILE `B8` at the MF: grant an application area (DF, key file, initial area key) in one
/// transaction. The caller has checked the MF's create right and the MAC (`secured`).
pub(crate) fn grant(
    k: &mut Ctx<'_>,
    cmd: &Command<'_>,
    nf: &NewFile<'_>,
    g: &AreaGrant<'_>,
    secured: bool,
) -> Result<Sw, Sw> {
    if k.session.current_df != MF_SLOT {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
    }
    if !secured {
        return Err(Sw::SECURITY_STATUS_NOT_SATISFIED);
    }
    let fid = Fid(cmd.p1p2());
    if fid.is_reserved() {
        return Err(Sw::INCORRECT_P1P2);
    }
    if fid == Fid::MF {
        return Err(Sw::FILE_ALREADY_EXISTS);
    }
    check_area_rights(&[nf.rights.first, nf.rights.second, g.add_right])?;
    if usize::from(g.key_file_size) < KEY_RECORD_SIZE || g.key_file_size > nf.size {
        return Err(Sw::WRONG_DATA);
    }
    // The initial area key: WRITE KEY data of a line-protection key, encrypted like WRITE KEY's.
    let cipher = mf_cipher_key(k)?;
    let plain = sm::decrypt(&cipher, g.key_blob)?;
    let key = KeyRecord::parse_write_key(0x00, &plain)?;
    if key.key_type != KeyType::LineProtection {
        return Err(Sw::WRONG_DATA);
    }
    check_area_rights(&[key.use_right, key.change_right])?;
    // The hand-over's only proof is the MAC under this key: its change right must be met at an
    // area's starting level (F0), or the area could never be handed over.
    if !key.change_right.satisfied_by(Level::ZERO, Level::ZERO) {
        return Err(Sw::WRONG_DATA);
    }
    let slots = k.header.slots;
    if fs::child_by_fid(k.store, slots, MF_SLOT, fid)?.is_some() {
        return Err(Sw::FILE_ALREADY_EXISTS);
    }
    check_df_name(k, nf.name, Some(None))?;
    let (area_slot, kf_slot) = two_free_slots(k)?;
    let mf = fs::entry(k.store, MF_SLOT)?;
    let alloc = space::allocate(k.store, slots, MF_SLOT, &mf, nf.size, None)?;
    let offset = alloc.offset();
    let name = nf.name_field();
    let area = FileEntry {
        kind: FileKind::Dedicated,
        parent: MF_SLOT.0,
        fid,
        sfi: nf.app_type,
        state: DfState::Active,
        rights: nf.rights,
        protection: fs::LineProtection::None,
        offset,
        size: nf.size,
        state_word: g.key_file_size,
        record_count: 0,
        record_len: 0,
        name,
        name_len: nf.name.len() as u8,
        area: AreaFlags(AreaFlags::AREA),
    };
    let kf = FileEntry::key_file(area_slot.0, offset, g.key_file_size, g.add_right);
    // The key file's body is free space until the transaction commits: zero it first so that no
    // earlier tenant's bytes can read as keys.
    k.store
        .scrub(u32::from(offset), u32::from(g.key_file_size), 0)
        .map_err(store_sw)?;
    atomically(k.store, |s| {
        fs::write_entry(s, area_slot, &area)?;
        fs::write_entry(s, kf_slot, &kf)?;
        let at = keystore::free_location(s, &kf)?.ok_or(Sw::NOT_ENOUGH_MEMORY)?;
        keystore::write(s, at, &key)?;
        space::commit(s, MF_SLOT, &mf, &alloc, nf.size)
    })?;
    Ok(Sw::SUCCESS)
}

/// The area a command at the MF names: a FID (2 bytes) or an exact DF name (5–16 bytes) of a
/// child of the MF that is an application area; 6A82 otherwise, 6700 for another length.
fn named_area(k: &Ctx<'_>, data: &[u8]) -> Result<(Slot, FileEntry), Sw> {
    let slots = k.header.slots;
    let hit = match *data {
        [a, b] => fs::child_by_fid(k.store, slots, MF_SLOT, Fid::from_bytes([a, b]))?,
        _ if (5..=fs::entry::MAX_DF_NAME).contains(&data.len()) => {
            fs::find_dyn(k.store, slots, 1, &mut |_, e| {
                e.kind.is_df() && e.parent == MF_SLOT.0 && e.df_name() == data
            })?
        }
        _ => return Err(Sw::WRONG_LENGTH),
    };
    match hit {
        Some((s, e)) if e.kind.is_df() && e.area.is_area() => Ok((s, e)),
        _ => Err(Sw::FILE_NOT_FOUND),
    }
}

/// The area a MAC-protected command at the MF names (its payload, see [`named_area`]). Out of
/// line so that the payload buffer's frame is gone before the caller's transaction commits (the
/// deepest stack path of the area commands), and one copy serves block, unblock and erase.
#[inline(never)]
fn commanded_area(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<(Slot, FileEntry), Sw> {
    let payload = k.payload(cmd, true, false)?;
    named_area(k, &payload.data)
}

/// An area's life-cycle byte and flags, in one transaction. One copy for block, unblock and the
/// revocation's mark (each had its own transaction closure).
#[inline(never)]
fn set_state(k: &mut Ctx<'_>, slot: Slot, st: DfState, flags: AreaFlags) -> Result<(), Sw> {
    atomically(k.store, |s| {
        fs::write_df_state(s, slot, st)?;
        fs::write_area_flags(s, slot, flags)
    })
}

/// Whether a command at the MF carries an area reference (a FID or DF name after the MAC): the
/// area forms of APPLICATION BLOCK / UNBLOCK and ERASE DF.
pub fn names_an_area(k: &Ctx<'_>, cmd: &Command<'_>) -> bool {
    if k.session.current_df != MF_SLOT {
        return false;
    }
    let n = cmd.data().len();
    if cmd.cla().has_sm() {
        n > sm::MAC_LEN
    } else {
        n > 0
    }
}

/// APPLICATION BLOCK at the MF naming an area (`84 1E 00 P2 Lc area MAC`, MF line key): P2 00
/// blocks it until the issuer unblocks it (the service unit cannot lift it), 01 for good.
pub fn block(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    if cmd.p1() != 0 || cmd.p2() > 0x01 {
        return Err(Sw::INCORRECT_P1P2);
    }
    let (slot, e) = commanded_area(k, cmd)?;
    let permanent = cmd.p2() == 0x01;
    if e.state == DfState::Terminated {
        // Already terminated: a permanent block is a no-op (scripts may resend it), a temporary
        // one would be a downgrade.
        return if permanent {
            Ok(Sw::SUCCESS)
        } else {
            Err(Sw::CONDITIONS_NOT_SATISFIED)
        };
    }
    let (st, flags) = if permanent {
        (DfState::Terminated, e.area)
    } else {
        (DfState::Blocked, e.area.with(AreaFlags::ISSUER_BLOCK))
    };
    set_state(k, slot, st, flags)?;
    Ok(Sw::SUCCESS)
}

/// APPLICATION UNBLOCK at the MF naming an area: lifts the issuer's own temporary block only.
pub fn unblock(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    if cmd.p1() != 0 || cmd.p2() != 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    let (slot, e) = commanded_area(k, cmd)?;
    if e.state != DfState::Blocked || !e.area.issuer_blocked() {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
    }
    set_state(
        k,
        slot,
        DfState::Active,
        e.area.without(AreaFlags::ISSUER_BLOCK),
    )?;
    Ok(Sw::SUCCESS)
}

/// ERASE DF at the MF naming an area (`84 0E 00 00 Lc area MAC`, the MF's erase right and line
/// key): revoke the area and give its quota back to the MF's space.
///
/// Tear-safety: if the whole erase fits one transaction it is one (the card before, or the area
/// gone). Otherwise the first transaction marks the area *revoking* (terminated: unreachable,
/// quota still accounted), each following one frees a bounded batch of its files leaves first,
/// and the last releases the quota; every intermediate state is consistent and resending the
/// command continues where the power cut stopped it. The freed space is wiped afterwards.
pub fn erase(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    if cmd.p1() != 0 || cmd.p2() != 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    let mf = fs::entry(k.store, MF_SLOT)?;
    k.check_right(MF_SLOT, mf.rights.second)?;
    let (slot, e) = commanded_area(k, cmd)?;
    let slots = k.header.slots;
    let mut marked = e.area.revoking();
    // Bounded: every round either completes or frees at least one slot of the area.
    for _ in 0..=slots {
        let done = atomically(k.store, |s| {
            fs::free_subtree(s, slots, slot)?;
            space::release(s, slots, MF_SLOT, slot, e.offset, e.size)
        });
        match done {
            Ok(()) => {
                // Best-effort wipe of the area's old content (keys, records); the next
                // allocation zeroes its body again anyway.
                let _ = k.store.scrub(u32::from(e.offset), u32::from(e.size), 0);
                return Ok(Sw::SUCCESS);
            }
            Err(Sw::NOT_ENOUGH_MEMORY) => {}
            Err(sw) => return Err(sw),
        }
        if !marked {
            let flags = e.area.with(AreaFlags::REVOKING);
            set_state(k, slot, DfState::Terminated, flags)?;
            marked = true;
        }
        let mut batch = ERASE_BATCH;
        loop {
            match atomically(k.store, |s| fs::free_descendants(s, slots, slot, batch)) {
                Ok(_) => break,
                Err(Sw::NOT_ENOUGH_MEMORY) if batch > 1 => batch /= 2,
                Err(sw) => return Err(sw),
            }
        }
    }
    Err(Sw::MEMORY_FAILURE)
}
