//! `cos-sim info`: what is on a card, read straight from its file table (no keys needed).

use crate::card::SimCard;
use cos_core::fs::{self, FileKind, Slot};
use cos_core::keys::{KeyRecord, KEY_RECORD_SIZE};
use cos_core::nvm::Storage;
use std::fmt::Write as _;

/// A DF name for humans: ASCII / GBK text when it decodes cleanly, hex otherwise.
pub fn display_name(name: &[u8]) -> String {
    let (text, _, bad) = encoding_rs::GBK.decode(name);
    let printable = !bad && text.chars().all(|c| !c.is_control());
    if printable {
        format!("\"{text}\" ({})", hex::encode_upper(name))
    } else {
        hex::encode_upper(name)
    }
}

fn kind_name(k: FileKind) -> &'static str {
    match k {
        FileKind::Master => "MF",
        FileKind::Dedicated => "DF",
        FileKind::Transparent => "transparent",
        FileKind::LinearFixed => "linear fixed",
        FileKind::LinearVariable => "linear variable",
        FileKind::Cyclic => "cyclic",
        FileKind::Internal => "internal",
        FileKind::KeyFile => "key file",
    }
}

fn walk(s: &dyn Storage, slots: u8, df: Slot, depth: usize, out: &mut String) {
    for i in 1..slots {
        let Ok(Some(e)) = fs::read_entry(s, Slot(i)) else {
            continue;
        };
        if e.parent != df.0 || Slot(i) == df {
            continue;
        }
        let pad = "  ".repeat(depth);
        let _ = write!(out, "{pad}{:04X} {:<15}", e.fid.0, kind_name(e.kind));
        match e.kind {
            FileKind::Dedicated => {
                let area = if e.area.is_area() {
                    format!(", {}", area_status(&e))
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    " {} quota {} B ({} used), create {:02X} erase {:02X}, {:?}{area}",
                    display_name(e.df_name()),
                    e.size,
                    e.state_word,
                    e.rights.first.0,
                    e.rights.second.0,
                    e.state
                );
                walk(s, slots, Slot(i), depth + 1, out);
            }
            FileKind::KeyFile => {
                let mut n = 0;
                let _ = writeln!(out, " {} B", e.size);
                for k in 0..(usize::from(e.size) / KEY_RECORD_SIZE) {
                    let mut b = [0u8; KEY_RECORD_SIZE];
                    if fs::read_body(s, &e, (k * KEY_RECORD_SIZE) as u32, &mut b).is_ok() {
                        if let Some(r) = KeyRecord::decode(&b) {
                            n += 1;
                            let _ = writeln!(
                                out,
                                "{pad}     key {:02X} id {:02X} {:?} {:?} param {:02X} tries {}/{}",
                                r.key_type.code(),
                                r.id,
                                r.key_type,
                                r.algorithm,
                                r.param,
                                r.tries.remaining(),
                                r.tries.max()
                            );
                        }
                    }
                }
                if n == 0 {
                    let _ = writeln!(out, "{pad}     (no keys)");
                }
            }
            k if k.is_record() => {
                let used = fs::record::count(s, &e).unwrap_or(0);
                let _ = writeln!(
                    out,
                    " SFI {:02X}, {} records in use, read {:02X} write {:02X}{}",
                    e.sfi,
                    used,
                    e.rights.first.0,
                    e.rights.second.0,
                    protection(&e)
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    " SFI {:02X}, {} B, read {:02X} write {:02X}{}",
                    e.sfi,
                    e.size,
                    e.rights.first.0,
                    e.rights.second.0,
                    protection(&e)
                );
            }
        }
    }
}

/// An application area's status in words (`docs/areas.md`).
pub fn area_status(e: &fs::FileEntry) -> String {
    let a = e.area;
    if !a.is_area() {
        return "not an application area".into();
    }
    let stage = if a.revoking() {
        "area being revoked (send the revocation again to finish)"
    } else if a.handed_over() {
        "area handed over"
    } else {
        "area granted, awaiting hand-over"
    };
    match (e.state, a.issuer_blocked()) {
        (fs::DfState::Blocked, true) => format!("{stage}, blocked by the issuer"),
        (fs::DfState::Blocked, false) => format!("{stage}, blocked by its service unit"),
        (fs::DfState::Terminated, _) if !a.revoking() => format!("{stage}, blocked for good"),
        _ => stage.to_string(),
    }
}

fn protection(e: &fs::FileEntry) -> &'static str {
    match e.protection {
        fs::LineProtection::None => "",
        fs::LineProtection::Mac => ", writes MAC'd",
        fs::LineProtection::EncryptedMac => ", writes encrypted + MAC'd",
    }
}

/// A readable description of the card.
pub fn describe(card: &SimCard) -> String {
    let mut out = String::new();
    card.with_storage(|s| {
        let h = match fs::read_header(s) {
            Ok(h) => h,
            Err(sw) => {
                let _ = writeln!(out, "no file system ({sw})");
                return;
            }
        };
        let _ = writeln!(out, "life cycle: {:?}", h.state);
        let _ = writeln!(
            out,
            "storage: {} B data area, {} file slots, {} page programs so far",
            s.capacity(),
            h.slots,
            card.programs()
        );
        if let Ok(mf) = fs::entry(s, fs::MF_SLOT) {
            let _ = writeln!(
                out,
                "3F00 MF              {} space {} B ({} used)",
                display_name(mf.df_name()),
                mf.size,
                mf.state_word
            );
        }
        walk(s, h.slots, fs::MF_SLOT, 1, &mut out);
        let mut holes = Vec::new();
        let _ = fs::space::for_each_extent(s, h.slots, fs::MF_SLOT, |e| {
            holes.push(format!("{} B at {:#06X}", e.size, e.offset));
        });
        if !holes.is_empty() {
            let _ = writeln!(
                out,
                "  free extents of the MF (left by revoked areas): {}",
                holes.join(", ")
            );
        }
        for line in crate::applets::describe_state(s) {
            let _ = writeln!(out, "{line}");
        }
    });
    out
}
