//! Personalisation and life-cycle commands: CREATE FILE, WRITE KEY, ERASE DF (FMCOS 2.0 byte
//! layouts), ACTIVATE FILE (ISO/IEC 7816-9), APPLICATION BLOCK / UNBLOCK and CARD BLOCK.
//!
//! Invariants: each command is one transaction, so nothing is ever created or erased halfway; a
//! new file's body is zeroed before the transaction that makes it reachable commits; after issue,
//! CREATE FILE, ERASE DF and WRITE KEY need secure messaging (the issuer's line-protection key)
//! on top of the DF's rights.

use super::Ctx;
use crate::error::{atomically, store_sw};
use crate::fs::{self, DfState, FileEntry, FileKind, LineProtection, Rights, Slot, MF_SLOT};
use crate::keys::{KeyRecord, KeyType, KEY_RECORD_SIZE};
use crate::keystore;
use crate::lifecycle::CardState;
use crate::types::AccessRight;
use cos_apdu::{Command, Fid, Sw};

/// A parsed CREATE FILE body.
struct NewFile<'a> {
    kind: FileKind,
    protection: LineProtection,
    size: u16,
    record_count: u8,
    record_len: u8,
    rights: Rights,
    app_type: u8,
    name: &'a [u8],
}

/// Parse FMCOS CREATE FILE data (`docs/commands.md` has the table). Trailing `FF FF` bytes are
/// optional (tools differ).
fn parse_create(data: &[u8]) -> Result<NewFile<'_>, Sw> {
    let (&ty, rest) = data.split_first().ok_or(Sw::WRONG_LENGTH)?;
    let right = |i: usize| {
        rest.get(i)
            .copied()
            .map(AccessRight)
            .ok_or(Sw::WRONG_LENGTH)
    };
    let u16_at = |i: usize| -> Result<u16, Sw> {
        match (rest.get(i), rest.get(i + 1)) {
            (Some(&a), Some(&b)) => Ok(u16::from_be_bytes([a, b])),
            _ => Err(Sw::WRONG_LENGTH),
        }
    };
    let byte = |i: usize| rest.get(i).copied().ok_or(Sw::WRONG_LENGTH);
    let plain = |kind, size, count, len, rights| NewFile {
        kind,
        protection: LineProtection::None,
        size,
        record_count: count,
        record_len: len,
        rights,
        app_type: 0,
        name: &[],
    };
    let short_tail = |fixed: usize| {
        if rest.len() < fixed || rest.len() > fixed + 2 {
            Err(Sw::WRONG_LENGTH)
        } else {
            Ok(())
        }
    };
    match ty {
        0x38 => {
            // 38 space(2) create erase app-type FF FF name
            let name = rest.get(7..).ok_or(Sw::WRONG_LENGTH)?;
            if name.is_empty() || name.len() > fs::entry::MAX_DF_NAME {
                return Err(Sw::WRONG_LENGTH);
            }
            Ok(NewFile {
                kind: FileKind::Dedicated,
                protection: LineProtection::None,
                size: u16_at(0)?,
                record_count: 0,
                record_len: 0,
                rights: Rights {
                    first: right(2)?,
                    second: right(3)?,
                },
                app_type: byte(4)?,
                name,
            })
        }
        0x28 | 0xA8 | 0xE8 => {
            short_tail(4)?;
            let mut f = plain(
                FileKind::Transparent,
                u16_at(0)?,
                0,
                0,
                Rights {
                    first: right(2)?,
                    second: right(3)?,
                },
            );
            f.protection = protection(ty);
            Ok(f)
        }
        0x2A | 0xAA | 0xEA | 0x2E | 0xAE | 0xEE => {
            short_tail(4)?;
            let (count, len) = (byte(0)?, byte(1)?);
            if count == 0 || len == 0 {
                return Err(Sw::WRONG_DATA);
            }
            let kind = if ty & 0x3F == 0x2A {
                FileKind::LinearFixed
            } else {
                FileKind::Cyclic
            };
            let mut f = plain(
                kind,
                u16::from(count) * u16::from(len),
                count,
                len,
                Rights {
                    first: right(2)?,
                    second: right(3)?,
                },
            );
            f.protection = protection(ty);
            Ok(f)
        }
        0x2C | 0xAC | 0xEC => {
            short_tail(4)?;
            let mut f = plain(
                FileKind::LinearVariable,
                u16_at(0)?,
                0,
                0,
                Rights {
                    first: right(2)?,
                    second: right(3)?,
                },
            );
            f.protection = protection(ty);
            Ok(f)
        }
        0x2F => {
            // 2F count len usage 00 FF log-SFI: an internal (purse/deposit) EF of count × len bytes.
            if rest.len() < 4 || rest.len() > 6 {
                return Err(Sw::WRONG_LENGTH);
            }
            let (count, len) = (byte(0)?, byte(1)?);
            Ok(plain(
                FileKind::Internal,
                u16::from(count) * u16::from(len),
                0,
                0,
                Rights {
                    first: right(2)?,
                    second: AccessRight::NEVER,
                },
            ))
        }
        0x3F => {
            // 3F space(2) DF-SFI add-right FF FF
            short_tail(4)?;
            let size = u16_at(0)?;
            if usize::from(size) < KEY_RECORD_SIZE {
                return Err(Sw::WRONG_DATA);
            }
            Ok(plain(
                FileKind::KeyFile,
                size,
                0,
                0,
                Rights {
                    first: AccessRight::NEVER,
                    second: right(3)?,
                },
            ))
        }
        _ => Err(Sw::WRONG_DATA),
    }
}

fn protection(ty: u8) -> LineProtection {
    match ty & 0xC0 {
        0xC0 => LineProtection::EncryptedMac,
        0x80 => LineProtection::Mac,
        _ => LineProtection::None,
    }
}

/// CREATE FILE (80/84 E0 FID Lc data) in the current DF.
pub fn create_file(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    let state = k.header.state;
    let slots = k.header.slots;
    let df = k.session.current_df;
    let dfe = fs::entry(k.store, df)?;
    k.check_right(df, dfe.rights.first)?;
    let payload = k.payload(cmd, state.structure_needs_sm(), false)?;
    let nf = parse_create(&payload.data)?;
    let fid = Fid(cmd.p1p2());
    if fid.is_reserved() {
        return Err(Sw::INCORRECT_P1P2);
    }
    if fid == Fid::MF {
        return redefine_mf(k, &nf);
    }
    if fs::child_by_fid(k.store, slots, df, fid)?.is_some() {
        return Err(Sw::FILE_ALREADY_EXISTS);
    }
    if nf.kind == FileKind::KeyFile && fs::key_file(k.store, slots, df)?.is_some() {
        return Err(Sw::FILE_ALREADY_EXISTS);
    }
    if nf.kind == FileKind::Dedicated
        && fs::find(k.store, slots, 0, |_, e| {
            e.kind.is_df() && e.df_name() == nf.name
        })?
        .is_some()
    {
        return Err(Sw::DF_NAME_ALREADY_EXISTS);
    }
    // FMCOS: the short identifier is the low five bits of the FID; kept only when unique.
    let sfi_candidate = cmd.p2() & 0x1F;
    let sfi = if nf.kind.is_df() {
        nf.app_type
    } else if (1..=30).contains(&sfi_candidate)
        && fs::child_by_sfi(k.store, slots, df, sfi_candidate)?.is_none()
    {
        sfi_candidate
    } else {
        0
    };
    let slot = fs::free_slot_index(k.store, slots)?.ok_or(Sw::NOT_ENOUGH_MEMORY)?;
    if u32::from(nf.size) > dfe.df_free_bytes() {
        return Err(Sw::NOT_ENOUGH_MEMORY);
    }
    let offset = u16::try_from(dfe.df_free_offset()).map_err(|_| Sw::NOT_ENOUGH_MEMORY)?;
    let mut name = [0u8; fs::entry::MAX_DF_NAME];
    for (d, s) in name.iter_mut().zip(nf.name) {
        *d = *s;
    }
    let entry = FileEntry {
        kind: nf.kind,
        parent: df.0,
        fid,
        sfi,
        state: DfState::Active,
        rights: nf.rights,
        protection: nf.protection,
        offset,
        size: nf.size,
        state_word: 0,
        record_count: nf.record_count,
        record_len: nf.record_len,
        name,
        name_len: nf.name.len() as u8,
    };
    // Zero the body first: the space is unreferenced until the transaction below commits, so a
    // cut here leaves nothing reachable half-written (and no earlier tenant's bytes readable).
    if entry.size > 0 && !nf.kind.is_df() {
        k.store
            .scrub(u32::from(offset), u32::from(entry.size), 0)
            .map_err(store_sw)?;
    }
    let used = dfe.state_word + nf.size;
    atomically(k.store, |s| {
        fs::write_entry(s, slot, &entry)?;
        fs::write_state_word(s, df, used)?;
        if state == CardState::PrePersonalised {
            fs::write_card_state(s, CardState::Personalised)?;
        }
        Ok(())
    })?;
    Ok(Sw::SUCCESS)
}

/// CREATE FILE 3F00 before issue redefines the MF's rights and name (FMCOS scripts re-create
/// the MF after ERASE DF). Only while the MF has no key file.
fn redefine_mf(k: &mut Ctx<'_>, nf: &NewFile<'_>) -> Result<Sw, Sw> {
    if nf.kind != FileKind::Dedicated || k.session.current_df != MF_SLOT {
        return Err(Sw::FILE_ALREADY_EXISTS);
    }
    if k.header.state >= CardState::Issued
        || fs::key_file(k.store, k.header.slots, MF_SLOT)?.is_some()
    {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
    }
    // DF names stay unique on the card: another DF (created before the MF's key file) may
    // already carry the new name.
    if fs::find(k.store, k.header.slots, 1, |_, e| {
        e.kind.is_df() && e.df_name() == nf.name
    })?
    .is_some()
    {
        return Err(Sw::DF_NAME_ALREADY_EXISTS);
    }
    let mut mf = fs::entry(k.store, MF_SLOT)?;
    mf.rights = nf.rights;
    mf.sfi = nf.app_type;
    mf.name = [0; fs::entry::MAX_DF_NAME];
    for (d, s) in mf.name.iter_mut().zip(nf.name) {
        *d = *s;
    }
    mf.name_len = nf.name.len() as u8;
    let state = k.header.state;
    atomically(k.store, |s| {
        fs::write_entry(s, MF_SLOT, &mf)?;
        if state == CardState::PrePersonalised {
            fs::write_card_state(s, CardState::Personalised)?;
        }
        Ok(())
    })?;
    Ok(Sw::SUCCESS)
}

/// WRITE KEY (80/84 D4 P1 key-id): P1 01 adds a key (or updates the same type and id), any
/// other P1 names the type of an existing key to update. After issue the data must be
/// encrypted and MAC'd.
pub fn write_key(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    let slots = k.header.slots;
    let df = k.session.current_df;
    let (_, kf) = fs::key_file(k.store, slots, df)?.ok_or(Sw::FILE_NOT_FOUND)?;
    let sm = k.header.state.structure_needs_sm() || cmd.cla().has_sm();
    // Check what can be checked before spending the challenge on the MAC.
    let p1 = cmd.p1();
    if p1 != 0x01 {
        let ty = KeyType::from_code(p1).ok_or(Sw::INCORRECT_P1P2)?;
        let (_, old) =
            keystore::find(k.store, &kf, &[ty], cmd.p2())?.ok_or(Sw::REFERENCED_DATA_NOT_FOUND)?;
        k.check_right(df, old.change_right)?;
    }
    let payload = k.payload(cmd, k.header.state.structure_needs_sm(), sm)?;
    let new = KeyRecord::parse_write_key(cmd.p2(), &payload.data)?;
    if p1 != 0x01 && new.key_type.code() != p1 {
        return Err(Sw::WRONG_DATA);
    }
    let at = match keystore::find(k.store, &kf, &[new.key_type], new.id)? {
        Some((at, old)) => {
            k.check_right(df, old.change_right)?;
            at
        }
        None => {
            if p1 != 0x01 {
                return Err(Sw::REFERENCED_DATA_NOT_FOUND);
            }
            k.check_right(df, kf.rights.second)?;
            keystore::free_location(k.store, &kf)?.ok_or(Sw::NOT_ENOUGH_MEMORY)?
        }
    };
    atomically(k.store, |s| keystore::write(s, at, &new))?;
    Ok(Sw::SUCCESS)
}

/// ERASE DF (80/84 0E 00 00): frees every file below the current DF and its space.
pub fn erase_df(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    if cmd.p1() != 0 || cmd.p2() != 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    let slots = k.header.slots;
    let df = k.session.current_df;
    let dfe = fs::entry(k.store, df)?;
    k.check_right(df, dfe.rights.second)?;
    let payload = k.payload(cmd, k.header.state.structure_needs_sm(), false)?;
    if !payload.data.is_empty() {
        return Err(Sw::WRONG_LENGTH);
    }
    atomically(k.store, |s| {
        fs::free_subtree(s, slots, df)?;
        fs::write_state_word(s, df, 0)
    })?;
    // Best effort wipe of the freed space (old keys, old data); the next CREATE zeroes again.
    let _ = k.store.scrub(u32::from(dfe.offset), u32::from(dfe.size), 0);
    k.session.current_ef = None;
    k.session.current_record = None;
    Ok(Sw::SUCCESS)
}

/// ACTIVATE FILE (00 44 00 00) on the MF: personalised → issued. Needs the MF's create right and
/// a key file in the MF (an issued card without issuer keys could never be managed).
pub fn activate(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    if cmd.p1() != 0 || cmd.p2() != 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    if k.session.current_df != MF_SLOT {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
    }
    if k.header.state != CardState::Personalised
        || fs::key_file(k.store, k.header.slots, MF_SLOT)?.is_none()
    {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
    }
    let mf = fs::entry(k.store, MF_SLOT)?;
    k.check_right(MF_SLOT, mf.rights.first)?;
    let payload = k.payload(cmd, false, false)?;
    if !payload.data.is_empty() {
        return Err(Sw::WRONG_LENGTH);
    }
    atomically(k.store, |s| fs::write_card_state(s, CardState::Issued))?;
    Ok(Sw::SUCCESS)
}

/// Shared body of the three MAC-protected issuer commands: P1P2 check and a MAC-only payload.
fn issuer_command(k: &mut Ctx<'_>, cmd: &Command<'_>, p2_max: u8) -> Result<(), Sw> {
    if cmd.p1() != 0 || cmd.p2() > p2_max {
        return Err(Sw::INCORRECT_P1P2);
    }
    let payload = k.payload(cmd, true, false)?;
    if !payload.data.is_empty() {
        return Err(Sw::WRONG_LENGTH);
    }
    Ok(())
}

/// APPLICATION BLOCK (84 1E 00 P2 04 MAC): P2 00 temporary, 01 permanent.
pub fn application_block(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    let df = current_application(k)?;
    issuer_command(k, cmd, 0x01)?;
    let st = if cmd.p2() == 0x01 {
        DfState::Terminated
    } else {
        DfState::Blocked
    };
    atomically(k.store, |s| fs::write_df_state(s, df, st))?;
    Ok(Sw::SUCCESS)
}

/// APPLICATION UNBLOCK (84 18 00 00 04 MAC): only a temporary block can be lifted.
pub fn application_unblock(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    let df = current_application(k)?;
    if fs::entry(k.store, df)?.state != DfState::Blocked {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
    }
    issuer_command(k, cmd, 0x00)?;
    atomically(k.store, |s| fs::write_df_state(s, df, DfState::Active))?;
    Ok(Sw::SUCCESS)
}

/// CARD BLOCK (84 16 00 00 04 MAC): the card is terminated for good.
pub fn card_block(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    issuer_command(k, cmd, 0x00)?;
    atomically(k.store, |s| fs::write_card_state(s, CardState::Terminated))?;
    Ok(Sw::SUCCESS)
}

/// The current DF, which must be an application DF (not the MF).
fn current_application(k: &Ctx<'_>) -> Result<Slot, Sw> {
    let df = k.session.current_df;
    if df == MF_SLOT {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
    }
    Ok(df)
}
