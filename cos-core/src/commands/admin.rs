//! Personalisation and life-cycle commands: CREATE FILE, WRITE KEY, ERASE DF (FMCOS 2.0 byte
//! layouts), ACTIVATE FILE (ISO/IEC 7816-9), APPLICATION BLOCK / UNBLOCK and CARD BLOCK.
//!
//! Invariants: each command is one transaction, so nothing is ever created or erased halfway; a
//! new file's body is zeroed before the transaction that makes it reachable commits; after issue,
//! CREATE FILE, ERASE DF and WRITE KEY need secure messaging (the issuer's line-protection key)
//! on top of the DF's rights.
//!
//! Application areas (`docs/areas.md`, [`super::area`]): CREATE FILE `B8` grants one; inside an
//! area the structural commands always need secure messaging under the area's own key, rights
//! naming the MF's level (`0Y`) are refused, and until the initial area key is replaced (the
//! hand-over) that WRITE KEY is the only structural command accepted. The revocation of an area
//! (ERASE DF at the MF naming it) is the one command made of several transactions, each leaving a
//! consistent card (see [`super::area::erase`]).

use super::area::{self, AreaGrant};
use super::Ctx;
use crate::error::{atomically, commit_card_state, commit_df_state, store_sw};
use crate::fs::{
    self, space, AreaFlags, DfState, FileEntry, FileKind, LineProtection, Rights, Slot, MF_SLOT,
};
use crate::keys::{KeyRecord, KeyType, KEY_RECORD_SIZE};
use crate::keystore;
use crate::lifecycle::CardState;
use crate::types::AccessRight;
use cos_apdu::{Command, Fid, Sw};

/// A parsed CREATE FILE body.
pub(crate) struct NewFile<'a> {
    pub(crate) kind: FileKind,
    pub(crate) protection: LineProtection,
    pub(crate) size: u16,
    pub(crate) record_count: u8,
    pub(crate) record_len: u8,
    pub(crate) rights: Rights,
    pub(crate) app_type: u8,
    pub(crate) name: &'a [u8],
    /// CREATE FILE `B8`: the grant of an application area.
    pub(crate) area: Option<AreaGrant<'a>>,
}

impl NewFile<'_> {
    /// The DF name as a file-table field (zero-padded): one copy for the three entries built
    /// from a CREATE FILE (DF, redefined MF, granted area).
    #[inline(never)]
    pub(crate) fn name_field(&self) -> [u8; fs::entry::MAX_DF_NAME] {
        let mut name = [0u8; fs::entry::MAX_DF_NAME];
        for (d, s) in name.iter_mut().zip(self.name) {
            *d = *s;
        }
        name
    }
}

/// Parse FMCOS CREATE FILE data (`docs/commands.md` has the table). Trailing `FF FF` bytes are
/// optional (tools differ). Out of line: its answer is built in one place instead of inside
/// CREATE FILE's frame (measured smaller).
#[inline(never)]
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
        area: None,
    };
    // Data EFs: `ty size-or-count/len(2) read write [FF FF]`, line protection from `ty`'s high bits.
    let data_ef = |kind, size, count, len| -> Result<NewFile<'_>, Sw> {
        let rights = Rights {
            first: right(2)?,
            second: right(3)?,
        };
        Ok(NewFile {
            protection: protection(ty),
            ..plain(kind, size, count, len, rights)
        })
    };
    let short_tail = |fixed: usize| {
        if rest.len() < fixed || rest.len() > fixed + 2 {
            Err(Sw::WRONG_LENGTH)
        } else {
            Ok(())
        }
    };
    // DF and area grant share their first five bytes: quota(2) create erase app-type.
    let dedicated = |name, area| -> Result<NewFile<'_>, Sw> {
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
            area,
        })
    };
    match ty {
        // DF and area grant: one tail builds both (one copy of the shared fields' decoding).
        0x38 | 0xB8 => {
            let (name, area) = if ty == 0x38 {
                // 38 space(2) create erase app-type FF FF name
                let name = rest.get(7..).ok_or(Sw::WRONG_LENGTH)?;
                if name.is_empty() || name.len() > fs::entry::MAX_DF_NAME {
                    return Err(Sw::WRONG_LENGTH);
                }
                (name, None)
            } else {
                // B8 quota(2) create erase app-type key-file-size(2) add-right Ln name(Ln)
                //    E(Ld ‖ initial key ‖ 80 00…): the grant of an application area (docs/areas.md).
                let n = usize::from(byte(8)?);
                if !(5..=fs::entry::MAX_DF_NAME).contains(&n) {
                    return Err(Sw::WRONG_LENGTH);
                }
                let name = rest.get(9..9 + n).ok_or(Sw::WRONG_LENGTH)?;
                let key_blob = rest.get(9 + n..).unwrap_or(&[]);
                if key_blob.is_empty() {
                    return Err(Sw::WRONG_LENGTH);
                }
                let grant = AreaGrant {
                    key_file_size: u16_at(5)?,
                    add_right: right(7)?,
                    key_blob,
                };
                (name, Some(grant))
            };
            dedicated(name, area)
        }
        // One shape for every data EF (one copy of the rights and protection decoding).
        0x28 | 0xA8 | 0xE8 | 0x2A | 0xAA | 0xEA | 0x2E | 0xAE | 0xEE | 0x2C | 0xAC | 0xEC => {
            short_tail(4)?;
            let (kind, size, count, len) = match ty & 0x3F {
                0x28 => (FileKind::Transparent, u16_at(0)?, 0, 0),
                0x2C => (FileKind::LinearVariable, u16_at(0)?, 0, 0),
                _ => {
                    let (count, len) = (byte(0)?, byte(1)?);
                    if count == 0 || len == 0 {
                        return Err(Sw::WRONG_DATA);
                    }
                    // A cyclic record takes one more byte, its mark (fs::record); at most 254 of them.
                    let (kind, stride) = if ty & 0x3F == 0x2A {
                        (FileKind::LinearFixed, u16::from(len))
                    } else if count <= fs::entry::MAX_CYCLIC_RECORDS {
                        (FileKind::Cyclic, u16::from(len) + 1)
                    } else {
                        return Err(Sw::WRONG_DATA);
                    };
                    (kind, u16::from(count) * stride, count, len)
                }
            };
            data_ef(kind, size, count, len)
        }
        // Internal EF and key file: one tail for both.
        0x2F | 0x3F => {
            let (kind, size, rights) = if ty == 0x2F {
                // 2F count len usage 00 FF log-SFI: an internal (purse/deposit) EF of count × len
                // bytes.
                if rest.len() < 4 || rest.len() > 6 {
                    return Err(Sw::WRONG_LENGTH);
                }
                let (count, len) = (byte(0)?, byte(1)?);
                let rights = Rights {
                    first: right(2)?,
                    second: AccessRight::NEVER,
                };
                (
                    FileKind::Internal,
                    u16::from(count) * u16::from(len),
                    rights,
                )
            } else {
                // 3F space(2) DF-SFI add-right FF FF
                short_tail(4)?;
                let size = u16_at(0)?;
                if usize::from(size) < KEY_RECORD_SIZE {
                    return Err(Sw::WRONG_DATA);
                }
                let rights = Rights {
                    first: AccessRight::NEVER,
                    second: right(3)?,
                };
                (FileKind::KeyFile, size, rights)
            };
            Ok(plain(kind, size, 0, 0, rights))
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
    let own_area = match fs::area_of(k.store, slots, df)? {
        // Until the hand-over the area takes nothing but its new key.
        Some((_, a)) if !a.handed_over() => return Err(Sw::CONDITIONS_NOT_SATISFIED),
        a => a.map(|(s, _)| s),
    };
    let in_area = own_area.is_some();
    k.check_right(df, dfe.rights.first)?;
    let payload = k.payload(cmd, state.structure_needs_sm() || in_area, false)?;
    let nf = parse_create(&payload.data)?;
    if let Some(g) = &nf.area {
        return area::grant(k, cmd, &nf, g, payload.secured);
    }
    if in_area {
        area::check_area_rights(&[nf.rights.first, nf.rights.second])?;
    }
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
    if nf.kind == FileKind::Dedicated {
        // Exact duplicates, and names that would shadow an application area (or, inside an
        // area, any DF) under SELECT by partial name.
        area::check_df_name(k, nf.name, own_area.map(Some))?;
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
    // At the top of the DF's space, or in a hole a revoked area left (fs::space).
    // An internal EF holds an applet's hot state (a purse: balance, counters, the last
    // transaction), written by every transaction: kept inside one page, each write costs one
    // program (`docs/performance.md`).
    let page = (nf.kind == FileKind::Internal).then(|| k.store.page_size());
    let alloc = space::allocate(k.store, slots, df, &dfe, nf.size, page)?;
    let offset = alloc.offset();
    let name = nf.name_field();
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
        area: AreaFlags::NONE,
    };
    // Zero the body first: the space is unreferenced until the transaction below commits, so a
    // cut here leaves nothing reachable half-written (and no earlier tenant's bytes readable).
    if entry.size > 0 && !nf.kind.is_df() {
        k.store
            .scrub(u32::from(offset), u32::from(entry.size), 0)
            .map_err(store_sw)?;
    }
    atomically(k.store, |s| {
        fs::write_entry(s, slot, &entry)?;
        space::commit(s, df, &dfe, &alloc, nf.size)?;
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
    if fs::find_dyn(k.store, k.header.slots, 1, &mut |_, e| {
        e.kind.is_df() && e.df_name() == nf.name
    })?
    .is_some()
    {
        return Err(Sw::DF_NAME_ALREADY_EXISTS);
    }
    let mut mf = fs::entry(k.store, MF_SLOT)?;
    mf.rights = nf.rights;
    mf.sfi = nf.app_type;
    mf.name = nf.name_field();
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
///
/// In an application area the data is always encrypted and MAC'd (under the area's own key),
/// rights naming the MF's level are refused (6A80), and before the hand-over the only key it
/// takes is the replacement of the initial key `36`/`00` — which hands the area over in the same
/// transaction (`docs/areas.md`). Anything else then answers 6985.
pub fn write_key(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    let slots = k.header.slots;
    let df = k.session.current_df;
    let (_, kf) = fs::key_file(k.store, slots, df)?.ok_or(Sw::FILE_NOT_FOUND)?;
    let p1 = cmd.p1();
    let area = fs::area_of(k.store, slots, df)?;
    // Some(area slot, flags) while the area waits for its hand-over.
    let pending = match area {
        Some((aslot, a)) if !a.handed_over() => {
            if !(p1 == 0x01 || p1 == KeyType::LineProtection.code()) || cmd.p2() != 0x00 {
                return Err(Sw::CONDITIONS_NOT_SATISFIED);
            }
            Some((aslot, a))
        }
        _ => None,
    };
    let require = k.header.state.structure_needs_sm() || area.is_some();
    let sm = require || cmd.cla().has_sm();
    // Check what can be checked before spending the challenge on the MAC.
    if p1 != 0x01 {
        let ty = KeyType::from_code(p1).ok_or(Sw::INCORRECT_P1P2)?;
        let (_, old) =
            keystore::find(k.store, &kf, &[ty], cmd.p2())?.ok_or(Sw::REFERENCED_DATA_NOT_FOUND)?;
        k.check_right(df, old.change_right)?;
    }
    let payload = k.payload(cmd, require, sm)?;
    let new = KeyRecord::parse_write_key(cmd.p2(), &payload.data)?;
    if p1 != 0x01 && new.key_type.code() != p1 {
        return Err(Sw::WRONG_DATA);
    }
    if area.is_some() {
        area::check_area_rights(&[new.use_right, new.change_right])?;
    }
    if pending.is_some() && new.key_type != KeyType::LineProtection {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
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
    atomically(k.store, |s| {
        keystore::write(s, at, &new)?;
        match pending {
            Some((aslot, flags)) => {
                fs::write_area_flags(s, aslot, flags.with(AreaFlags::HANDED_OVER))
            }
            None => Ok(()),
        }
    })?;
    Ok(Sw::SUCCESS)
}

/// ERASE DF (80/84 0E 00 00): frees every file below the current DF and its space.
///
/// At the MF with an area reference in the data (`84 0E 00 00 Lc FID|name MAC`) it revokes that
/// application area instead ([`area::erase`]). In an area itself the area keeps its key file (the
/// service unit resets its files, not its keys), and it needs the hand-over first.
pub fn erase_df(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    if cmd.p1() != 0 || cmd.p2() != 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    if area::names_an_area(k, cmd) {
        return area::erase(k, cmd);
    }
    let slots = k.header.slots;
    let df = k.session.current_df;
    let dfe = fs::entry(k.store, df)?;
    let area = fs::area_of(k.store, slots, df)?;
    if let Some((_, a)) = &area {
        if !a.handed_over() {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
    }
    k.check_right(df, dfe.rights.second)?;
    k.no_data(cmd, k.header.state.structure_needs_sm() || area.is_some())?;
    // An area's own key file stays: it sits at the start of the area's quota (the grant put it
    // there), so the space kept is exactly its body.
    let keep = match area {
        Some((aslot, _)) if aslot == df => fs::key_file(k.store, slots, df)?,
        _ => None,
    };
    let kept = match &keep {
        Some((_, kf)) => u16::try_from(
            (u32::from(kf.offset) + u32::from(kf.size)).saturating_sub(u32::from(dfe.offset)),
        )
        .map_err(|_| Sw::MEMORY_FAILURE)?,
        None => 0,
    };
    atomically(k.store, |s| {
        fs::free_subtree(s, slots, df)?;
        if let Some((kslot, kf)) = &keep {
            fs::write_entry(s, *kslot, kf)?;
        }
        space::clear(s, slots, df)?;
        fs::write_state_word(s, df, kept)
    })?;
    // Best effort wipe of the freed space (old keys, old data); the next CREATE zeroes again.
    let _ = k.store.scrub(
        u32::from(dfe.offset) + u32::from(kept),
        u32::from(dfe.size.saturating_sub(kept)),
        0,
    );
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
    k.no_data(cmd, false)?;
    commit_card_state(k.store, CardState::Issued)?;
    Ok(Sw::SUCCESS)
}

/// Shared body of the three MAC-protected issuer commands: P1P2 check and a MAC-only payload.
fn issuer_command(k: &mut Ctx<'_>, cmd: &Command<'_>, p2_max: u8) -> Result<(), Sw> {
    if cmd.p1() != 0 || cmd.p2() > p2_max {
        return Err(Sw::INCORRECT_P1P2);
    }
    k.no_data(cmd, true)?;
    Ok(())
}

/// APPLICATION BLOCK (84 1E 00 P2 04 MAC): P2 00 temporary, 01 permanent. At the MF with an
/// area reference before the MAC it blocks that application area ([`area::block`]).
pub fn application_block(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    if area::names_an_area(k, cmd) {
        return area::block(k, cmd);
    }
    let df = current_application(k)?;
    issuer_command(k, cmd, 0x01)?;
    let st = if cmd.p2() == 0x01 {
        DfState::Terminated
    } else {
        DfState::Blocked
    };
    commit_df_state(k.store, df, st)?;
    Ok(Sw::SUCCESS)
}

/// APPLICATION UNBLOCK (84 18 00 00 04 MAC): only a temporary block can be lifted, and an
/// application area's block set by the issuer only by the issuer ([`area::unblock`], at the MF).
pub fn application_unblock(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    if area::names_an_area(k, cmd) {
        return area::unblock(k, cmd);
    }
    let df = current_application(k)?;
    let e = fs::entry(k.store, df)?;
    if e.state != DfState::Blocked || e.area.issuer_blocked() {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
    }
    issuer_command(k, cmd, 0x00)?;
    commit_df_state(k.store, df, DfState::Active)?;
    Ok(Sw::SUCCESS)
}

/// CARD BLOCK (84 16 00 00 04 MAC): the card is terminated for good.
pub fn card_block(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    issuer_command(k, cmd, 0x00)?;
    commit_card_state(k.store, CardState::Terminated)?;
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
