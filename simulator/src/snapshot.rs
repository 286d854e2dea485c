//! Logical snapshots of a card's persistent state, for the reliability checks (tearing campaign,
//! fuzz oracle, attack suite; `docs/reliability.md`).
//!
//! Responsibility: read what the card *means* from its journalled store — the card header, every
//! file-table slot, the body of every EF, every key record — without sending an APDU, so that a
//! check never disturbs the card it inspects. Free space (freed by ERASE DF, zero-filled before
//! CREATE FILE, neither journalled nor reachable) is not part of the state, and try counters are
//! kept apart from the rest, because commands legitimately move them in their own small
//! transactions (consumed before a secret comparison, restored after a success).
//!
//! Invariant: two snapshots compare equal with [`Snapshot::same_except_tries`] exactly when every
//! byte a command could ever read or depend on is the same, try counters aside.

use cos_core::fs::{self, FileKind, Slot, ENTRY_SIZE};
use cos_core::keys::{KEY_RECORD_SIZE, TRIES_OFFSET};
use cos_core::nvm::Storage;
use std::collections::BTreeMap;

/// One key record, identified by the DF that holds it, its type and its identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId {
    /// File-table slot of the DF whose key file holds the key.
    pub df: u8,
    /// Key type byte (`39` external authentication, `3A` PIN, `3E` purchase …).
    pub key_type: u8,
    /// Key identifier.
    pub id: u8,
}

/// One file: its slot bytes and, for an EF, its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileState {
    /// The raw 32-byte file-table slot.
    pub slot: [u8; ENTRY_SIZE],
    /// The body (EFs; empty for DFs). Key files have every try-counter byte zeroed.
    pub body: Vec<u8>,
}

impl FileState {
    /// The FMCOS type byte of the slot.
    pub fn kind(&self) -> u8 {
        self.slot[0]
    }
    /// The parent DF's slot.
    pub fn parent(&self) -> u8 {
        self.slot[1]
    }
    /// The FID.
    pub fn fid(&self) -> u16 {
        u16::from_be_bytes([self.slot[2], self.slot[3]])
    }
    /// The life-cycle byte (DFs: `05` active, `04` temporarily blocked, `0C` permanently).
    pub fn lcs(&self) -> u8 {
        self.slot[5]
    }
    /// The write (EF) / erase (DF) / add (key file) right.
    pub fn write_right(&self) -> u8 {
        self.slot[7]
    }
    /// The line-protection bits of an EF (`80` MAC, `C0` MAC + encryption).
    pub fn protection(&self) -> u8 {
        self.slot[9] & 0xC0
    }
    /// Records written so far into a cyclic EF: the slots whose one-byte mark is set (each
    /// record is `mark ‖ record`, `docs/nvm-format.md`); 0 for any other file.
    pub fn cyclic_records(&self) -> usize {
        if self.kind() != 0x2E {
            return 0;
        }
        let stride = usize::from(self.slot[17]) + 1;
        self.body
            .iter()
            .step_by(stride)
            .filter(|&&m| m != 0)
            .count()
    }
}

/// The logical persistent state of a card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The 32-byte card header (magic, version, life cycle, slot count).
    pub header: [u8; 32],
    /// Every used slot, by slot number.
    pub files: BTreeMap<u8, FileState>,
    /// Every key record's try-counter byte (maximum ‖ remaining).
    pub tries: BTreeMap<KeyId, u8>,
}

impl Snapshot {
    /// Read the state from a store. Errors name what does not decode (a corrupt table).
    pub fn read(s: &dyn Storage) -> Result<Snapshot, String> {
        let mut header = [0u8; 32];
        s.read(0, &mut header)
            .map_err(|e| format!("card header: {e:?}"))?;
        let h = fs::read_header(s).map_err(|sw| format!("card header: {sw:?}"))?;
        let mut files = BTreeMap::new();
        let mut tries = BTreeMap::new();
        for i in 0..h.slots {
            let mut slot = [0u8; ENTRY_SIZE];
            s.read(Slot(i).addr(), &mut slot)
                .map_err(|e| format!("slot {i}: {e:?}"))?;
            let Some(e) = fs::read_entry(s, Slot(i)).map_err(|sw| format!("slot {i}: {sw:?}"))?
            else {
                continue;
            };
            let mut body = Vec::new();
            if !e.kind.is_df() {
                body = vec![0u8; usize::from(e.size)];
                fs::read_body(s, &e, 0, &mut body)
                    .map_err(|sw| format!("slot {i} body: {sw:?}"))?;
            }
            if e.kind == FileKind::KeyFile {
                for rec in body.chunks_exact_mut(KEY_RECORD_SIZE) {
                    if rec[0] == 0 {
                        continue;
                    }
                    let id = KeyId {
                        df: e.parent,
                        key_type: rec[0],
                        id: rec[1],
                    };
                    tries.insert(id, rec[TRIES_OFFSET]);
                    rec[TRIES_OFFSET] = 0;
                }
            }
            files.insert(i, FileState { slot, body });
        }
        Ok(Snapshot {
            header,
            files,
            tries,
        })
    }

    /// Everything but the try counters is the same.
    pub fn same_except_tries(&self, other: &Snapshot) -> bool {
        self.header == other.header && self.files == other.files
    }

    /// The card's life-cycle byte.
    pub fn card_lcs(&self) -> u8 {
        self.header[5]
    }

    /// Names of what differs (slot, FID and part), for failure messages.
    pub fn diff(&self, other: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        if self.header != other.header {
            out.push("card header".to_string());
        }
        let slots: std::collections::BTreeSet<u8> = self
            .files
            .keys()
            .chain(other.files.keys())
            .copied()
            .collect();
        for i in slots {
            match (self.files.get(&i), other.files.get(&i)) {
                (Some(a), Some(b)) => {
                    if a.slot != b.slot {
                        out.push(format!("slot {i} ({:04X}) entry", a.fid()));
                    }
                    if a.body != b.body {
                        let first = a.body.iter().zip(&b.body).position(|(x, y)| x != y);
                        out.push(format!(
                            "slot {i} ({:04X}) body from byte {}",
                            a.fid(),
                            first.unwrap_or(a.body.len().min(b.body.len()))
                        ));
                    }
                }
                (Some(a), None) => out.push(format!("slot {i} ({:04X}) removed", a.fid())),
                (None, Some(b)) => out.push(format!("slot {i} ({:04X}) created", b.fid())),
                (None, None) => {}
            }
        }
        for (k, v) in &self.tries {
            if other.tries.get(k) != Some(v) {
                out.push(format!(
                    "tries of key {:02X}/{:02X} in slot {}: {v:02X} → {:?}",
                    k.key_type,
                    k.id,
                    k.df,
                    other.tries.get(k)
                ));
            }
        }
        for k in other.tries.keys() {
            if !self.tries.contains_key(k) {
                out.push(format!(
                    "key {:02X}/{:02X} in slot {} added",
                    k.key_type, k.id, k.df
                ));
            }
        }
        out
    }
}

/// A try-counter byte's remaining tries.
pub fn remaining(tries: u8) -> u8 {
    tries & 0x0F
}

/// A try-counter byte after one consumed try (unchanged when not limited or already at zero),
/// as the kernel's `TryCounter::decremented`.
pub fn decremented(tries: u8) -> u8 {
    if tries >> 4 != 0 && tries & 0x0F != 0 {
        tries - 1
    } else {
        tries
    }
}
