//! SELECT (ISO/IEC 7816-4 §11.1.1): by FID, child DF, EF, parent, DF name (first/next occurrence)
//! and path; answers FCI, FCP, FMD or nothing; binds the application of the selected ADF.
//!
//! Invariants: a failed SELECT changes nothing (but the applet binding, see [`select`]); a change
//! of current DF clears the new DF's security level (the MF's level lasts the session); selecting
//! a permanently blocked DF answers 6A81 and a temporarily blocked one (or one of its EFs, from
//! outside) selects it with 6283; a DF inside a blocked application counts as blocked with it
//! ([`fs::effective_state`]).

use super::Ctx;
use crate::applet::{Applet, Cx, Selection};
use crate::fs::{self, DfState, FileEntry, FileKind, Slot, MF_SLOT};
use cos_apdu::{Command, Fid, Overflow, Response, Sw};

/// Response buffer overflow is a kernel bug (every answer is sized to fit): one documented SW.
pub fn overflow(_: Overflow) -> Sw {
    Sw::UNKNOWN
}

/// Handle SELECT. A failed SELECT leaves the selection, the security status and the name-search
/// position as they were; only the applet binding may differ: when the new applet's `select`
/// refuses, the previous applet has already been deselected (Java Card order) and no applet
/// stays bound.
pub fn select(
    k: &mut Ctx<'_>,
    applets: &mut [&mut dyn Applet],
    cmd: &Command<'_>,
    rsp: &mut Response<'_>,
) -> Result<Sw, Sw> {
    let saved = k.session.clone();
    let result = select_inner(k, applets, cmd, rsp);
    if result.is_err() {
        let applet = k.session.applet;
        *k.session = saved;
        k.session.applet = applet;
    }
    result
}

fn select_inner(
    k: &mut Ctx<'_>,
    applets: &mut [&mut dyn Applet],
    cmd: &Command<'_>,
    rsp: &mut Response<'_>,
) -> Result<Sw, Sw> {
    let p2 = cmd.p2();
    if p2 & 0xF0 != 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    let answer = p2 & 0x0C;
    let occurrence = p2 & 0x03;
    if occurrence != 0 && !(cmd.p1() == 0x04 && occurrence == 0x02) {
        return Err(Sw::INCORRECT_P1P2);
    }
    let data = cmd.data();
    let slots = k.header.slots;
    let cur = k.session.current_df;
    // Each form finds a slot; its entry is read once below, not moved out of every lookup
    // (the moves of a large entry through each arm cost more code than the extra read).
    let slot = match cmd.p1() {
        0x00 => {
            if data.is_empty() {
                MF_SLOT
            } else {
                by_fid_anywhere(k, fid_of(data)?)?
            }
        }
        // Child DF (01) or EF (02): one lookup, the kind decides.
        0x01 | 0x02 => match fs::child_by_fid(k.store, slots, cur, fid_of(data)?)? {
            Some((s, e)) if e.kind.is_df() == (cmd.p1() == 0x01) => s,
            _ => return Err(Sw::FILE_NOT_FOUND),
        },
        0x03 => {
            if !data.is_empty() {
                return Err(Sw::WRONG_LENGTH);
            }
            if cur == MF_SLOT {
                return Err(Sw::FILE_NOT_FOUND);
            }
            Slot(fs::entry(k.store, cur)?.parent)
        }
        0x04 => by_name(k, data, occurrence == 0x02)?,
        0x08 | 0x09 => by_path(k, data, cmd.p1() == 0x08)?,
        _ => return Err(Sw::INCORRECT_P1P2),
    };
    let e = fs::entry(k.store, slot)?;
    // Internal EFs and key files cannot be selected: nothing could be done with them.
    if matches!(e.kind, FileKind::Internal | FileKind::KeyFile) {
        return Err(Sw::FILE_NOT_FOUND);
    }
    // The DF to enter: the selected DF itself, or an EF's parent when that is not current yet
    // (entering a temporarily blocked application through one of its EFs, by path, warns exactly
    // as selecting the DF itself does). One copy of the state check and the entry for both.
    let is_df = e.kind.is_df();
    let df = if is_df { slot } else { Slot(e.parent) };
    let mut sw = Sw::SUCCESS;
    if is_df || df != k.session.current_df {
        let parent;
        let (de, df_answer) = if is_df {
            (&e, answer)
        } else {
            parent = fs::entry(k.store, df)?;
            (&parent, 0x0C)
        };
        let state = fs::effective_state(k.store, k.header.slots, df)?;
        if state == DfState::Terminated {
            return Err(Sw::FUNCTION_NOT_SUPPORTED);
        }
        enter_df(k, applets, df, de, df_answer, rsp)?;
        if state == DfState::Blocked {
            sw = Sw::SELECTED_FILE_INVALIDATED;
        }
    }
    if !is_df {
        k.session.current_ef = Some(slot);
        k.session.current_record = None;
        match answer {
            0x00 | 0x04 => fcp(&e, rsp).map_err(overflow)?,
            0x08 => fmd(rsp).map_err(overflow)?,
            _ => {}
        }
    }
    Ok(sw)
}

fn fid_of(data: &[u8]) -> Result<Fid, Sw> {
    match *data {
        [a, b] => Ok(Fid::from_bytes([a, b])),
        _ => Err(Sw::WRONG_LENGTH),
    }
}

/// P1 = 00: the MF, a child of the current DF, the current DF's parent, or a sibling DF.
fn by_fid_anywhere(k: &Ctx<'_>, fid: Fid) -> Result<Slot, Sw> {
    if fid == Fid::MF {
        return Ok(MF_SLOT);
    }
    let slots = k.header.slots;
    let cur = k.session.current_df;
    if let Some((s, _)) = fs::child_by_fid(k.store, slots, cur, fid)? {
        return Ok(s);
    }
    let parent = Slot(fs::entry(k.store, cur)?.parent);
    let pe = fs::entry(k.store, parent)?;
    if pe.fid == fid && parent != cur {
        return Ok(parent);
    }
    match fs::child_by_fid(k.store, slots, parent, fid)? {
        Some((s, e)) if e.kind.is_df() => Ok(s),
        _ => Err(Sw::FILE_NOT_FOUND),
    }
}

/// P1 = 04: DF name, partial (prefix) match; "next" continues after the last match.
fn by_name(k: &mut Ctx<'_>, name: &[u8], next: bool) -> Result<Slot, Sw> {
    if name.is_empty() || name.len() > fs::entry::MAX_DF_NAME {
        return Err(Sw::WRONG_LENGTH);
    }
    let from = match (next, k.session.last_name_match) {
        (true, Some(Slot(s))) => s.saturating_add(1),
        _ => 0,
    };
    let hit = fs::find_dyn(k.store, k.header.slots, from, &mut |_, e| {
        e.kind.is_df() && e.df_name().starts_with(name)
    })?;
    match hit {
        Some((s, _)) => {
            k.session.last_name_match = Some(s);
            Ok(s)
        }
        None => Err(Sw::FILE_NOT_FOUND),
    }
}

/// P1 = 08 (from the MF, MF FID omitted) or 09 (from the current DF): a list of FIDs.
fn by_path(k: &Ctx<'_>, path: &[u8], from_mf: bool) -> Result<Slot, Sw> {
    if path.is_empty() || !path.len().is_multiple_of(2) {
        return Err(Sw::WRONG_LENGTH);
    }
    let mut at = if from_mf {
        MF_SLOT
    } else {
        k.session.current_df
    };
    let mut e = fs::entry(k.store, at)?;
    let mut fids = path.chunks_exact(2).peekable();
    // An explicit leading 3F00 is tolerated for P1 = 08.
    if from_mf && fids.peek().is_some_and(|f| f == &[0x3F, 0x00]) {
        fids.next();
    }
    for f in fids {
        if !e.kind.is_df() {
            return Err(Sw::FILE_NOT_FOUND);
        }
        let fid = fid_of(f)?;
        let (s, ne) =
            fs::child_by_fid(k.store, k.header.slots, at, fid)?.ok_or(Sw::FILE_NOT_FOUND)?;
        at = s;
        e = ne;
    }
    Ok(at)
}

/// Make `slot` the current DF: clear security on change, switch the bound applet, answer.
fn enter_df(
    k: &mut Ctx<'_>,
    applets: &mut [&mut dyn Applet],
    slot: Slot,
    e: &FileEntry,
    answer: u8,
    rsp: &mut Response<'_>,
) -> Result<(), Sw> {
    let changed = slot != k.session.current_df;
    if changed {
        k.session.security.enter_df(slot == MF_SLOT);
        k.session.current_df = slot;
    }
    k.session.current_ef = None;
    k.session.current_record = None;
    // An application area is served by the kernel's generic commands only: no applet code ever
    // runs on its files, whatever its DF name (docs/areas.md).
    let new_applet = if fs::area_of(k.store, k.header.slots, slot)?.is_some() {
        None
    } else {
        applets
            .iter()
            .position(|a| a.aid() == e.df_name() && e.name_len > 0)
    };
    let previous = k.session.applet;
    if previous.is_some() && previous != new_applet {
        if let Some(a) = previous.and_then(|i| applets.get_mut(i)) {
            a.deselect();
        }
    }
    k.session.applet = None;
    let selection = if previous == new_applet && !changed {
        Selection::Reselect
    } else {
        Selection::First
    };
    match answer {
        0x00 => {
            let fci = rsp.begin_tlv(0x6F).map_err(overflow)?;
            rsp.tlv(0x84, e.df_name()).map_err(overflow)?;
            let a5 = rsp.begin_tlv(0xA5).map_err(overflow)?;
            bind_applet(k, applets, new_applet, slot, selection, rsp)?;
            rsp.end_tlv(a5).map_err(overflow)?;
            rsp.end_tlv(fci).map_err(overflow)?;
        }
        _ => {
            // The applet still runs its selection logic; its FCI data is discarded.
            let mark = rsp.len();
            bind_applet(k, applets, new_applet, slot, selection, rsp)?;
            rsp.truncate(mark);
            match answer {
                0x04 => fcp(e, rsp).map_err(overflow)?,
                0x08 => fmd(rsp).map_err(overflow)?,
                _ => {}
            }
        }
    }
    Ok(())
}

fn bind_applet(
    k: &mut Ctx<'_>,
    applets: &mut [&mut dyn Applet],
    index: Option<usize>,
    adf: Slot,
    selection: Selection,
    rsp: &mut Response<'_>,
) -> Result<(), Sw> {
    let Some(applet) = index.and_then(|i| applets.get_mut(i)) else {
        return Ok(());
    };
    let mut cx = Cx {
        store: &mut *k.store,
        slots: k.header.slots,
        adf,
        card_state: k.header.state,
        security: &mut k.session.security,
        rng: &mut *k.rng,
        command_seq: k.session.seq,
        challenge: None,
        restore: None,
        key_file: core::cell::OnceCell::new(),
    };
    applet.select(&mut cx, selection, rsp)?;
    k.session.applet = index;
    Ok(())
}

/// ISO/IEC 7816-4 §7.4.3 file descriptor byte of each kind.
fn descriptor(e: &FileEntry) -> u8 {
    match e.kind {
        FileKind::Master | FileKind::Dedicated => 0x38,
        FileKind::Transparent => 0x01,
        FileKind::LinearFixed => 0x02,
        FileKind::LinearVariable => 0x04,
        FileKind::Cyclic => 0x06,
        FileKind::Internal | FileKind::KeyFile => 0x09,
    }
}

/// FCP template `62`: descriptor (82), FID (83), size (80) or DF name (84), SFI (88), LCS (8A).
pub fn fcp(e: &FileEntry, rsp: &mut Response<'_>) -> Result<(), Overflow> {
    let t = rsp.begin_tlv(0x62)?;
    if e.kind.is_record() {
        rsp.tlv(
            0x82,
            &[descriptor(e), 0x21, 0x00, e.record_len, e.record_count],
        )?;
    } else {
        rsp.tlv(0x82, &[descriptor(e), 0x21])?;
    }
    rsp.tlv(0x83, &e.fid.to_bytes())?;
    if e.kind.is_df() {
        rsp.tlv(0x84, e.df_name())?;
    } else {
        // ISO/IEC 7816-4 §5.3.3 tag 80: data bytes without structural information, so a cyclic
        // file's record marks are not counted.
        let data_bytes = if e.kind == FileKind::Cyclic {
            u16::from(e.record_count) * u16::from(e.record_len)
        } else {
            e.size
        };
        rsp.tlv(0x80, &data_bytes.to_be_bytes())?;
        if e.sfi != 0 {
            rsp.tlv(0x88, &[e.sfi << 3])?;
        }
    }
    rsp.tlv(0x8A, &[e.state.lcs()])?;
    rsp.end_tlv(t)
}

/// FMD template `64` (no management data beyond the template itself).
fn fmd(rsp: &mut Response<'_>) -> Result<(), Overflow> {
    rsp.tlv(0x64, &[])
}
