//! The persistent file-table entry: one fixed 32-byte slot per file.
//!
//! Responsibility: encode and decode a slot, and nothing else. Decoding is where we *parse, don't
//! validate*: a decoded [`FileEntry`] always has a known [`FileKind`], a body inside the data area and
//! record geometry consistent with its size, so the command handlers never re-check a stored value.
//! Slots are 32 bytes so that two fit a 64-byte page exactly and no slot straddles a page: updating a
//! cyclic file's head or a DF's allocation pointer then costs one page program.

use crate::types::AccessRight;
use cos_apdu::Fid;

/// Size of one file-table slot in bytes.
pub const ENTRY_SIZE: usize = 32;
/// Longest DF name (ISO/IEC 7816-4 §8.2.1.2: an AID is at most 16 bytes).
pub const MAX_DF_NAME: usize = 16;
/// Most records a cyclic EF can hold: record marks run through 1..=255, so a full ring of at
/// most 254 of them always has exactly one break, right after the newest record.
pub const MAX_CYCLIC_RECORDS: u8 = 254;

/// What a slot holds. The byte values are the FMCOS CREATE FILE type codes, so the on-card table and
/// the personalisation scripts speak the same numbers (`docs/nvm-format.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// The master file (3F00); only slot 0.
    Master,
    /// A dedicated file or application DF (FMCOS `38`).
    Dedicated,
    /// Transparent EF (FMCOS `28`).
    Transparent,
    /// Linear EF with fixed-size records (FMCOS `2A`).
    LinearFixed,
    /// Linear EF with variable-size records (FMCOS `2C`).
    LinearVariable,
    /// Cyclic EF with fixed-size records, record 1 the newest (FMCOS `2E`).
    Cyclic,
    /// Internal EF (purse/deposit, FMCOS `2F`): only applets reach it, never READ/UPDATE commands.
    Internal,
    /// Key file (FMCOS `3F`): never readable.
    KeyFile,
}

impl FileKind {
    /// The stored type code.
    pub const fn code(self) -> u8 {
        match self {
            FileKind::Master => 0x01,
            FileKind::Dedicated => 0x38,
            FileKind::Transparent => 0x28,
            FileKind::LinearFixed => 0x2A,
            FileKind::LinearVariable => 0x2C,
            FileKind::Cyclic => 0x2E,
            FileKind::Internal => 0x2F,
            FileKind::KeyFile => 0x3F,
        }
    }

    /// Decode a stored type code; `None` for a free slot (00) or an unknown code.
    pub const fn from_code(code: u8) -> Option<FileKind> {
        Some(match code {
            0x01 => FileKind::Master,
            0x38 => FileKind::Dedicated,
            0x28 => FileKind::Transparent,
            0x2A => FileKind::LinearFixed,
            0x2C => FileKind::LinearVariable,
            0x2E => FileKind::Cyclic,
            0x2F => FileKind::Internal,
            0x3F => FileKind::KeyFile,
            _ => return None,
        })
    }

    /// MF or DF.
    pub const fn is_df(self) -> bool {
        matches!(self, FileKind::Master | FileKind::Dedicated)
    }

    /// EFs addressed by record number.
    pub const fn is_record(self) -> bool {
        matches!(
            self,
            FileKind::LinearFixed | FileKind::LinearVariable | FileKind::Cyclic
        )
    }
}

/// Secure-messaging requirement on writes to an EF (FMCOS type byte `+80` / `+C0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LineProtection {
    /// Plain writes allowed.
    #[default]
    None,
    /// Writes must carry a line-protection MAC (CLA 04/84).
    Mac,
    /// Writes must be encrypted and MAC'd.
    EncryptedMac,
}

impl LineProtection {
    const fn bits(self) -> u8 {
        match self {
            LineProtection::None => 0x00,
            LineProtection::Mac => 0x80,
            LineProtection::EncryptedMac => 0xC0,
        }
    }
    const fn from_bits(b: u8) -> LineProtection {
        match b & 0xC0 {
            0xC0 => LineProtection::EncryptedMac,
            0x80 => LineProtection::Mac,
            _ => LineProtection::None,
        }
    }
}

/// ISO/IEC 7816-4 §7.4.10 life-cycle status of a DF, as far as the kernel distinguishes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DfState {
    /// Operational, activated (LCS 05).
    Active,
    /// Temporarily blocked by APPLICATION BLOCK 00 (LCS 04, deactivated): APPLICATION UNBLOCK revives it.
    Blocked,
    /// Permanently blocked by APPLICATION BLOCK 01 (LCS 0C, terminated).
    Terminated,
}

impl DfState {
    /// The ISO LCS byte.
    pub const fn lcs(self) -> u8 {
        match self {
            DfState::Active => 0x05,
            DfState::Blocked => 0x04,
            DfState::Terminated => 0x0C,
        }
    }
    #[inline(never)]
    const fn from_lcs(b: u8) -> DfState {
        match b {
            0x04 => DfState::Blocked,
            0x0C => DfState::Terminated,
            _ => DfState::Active,
        }
    }
}

/// Access rights of a file. For EFs `read`/`write`; for DFs `create`/`erase`; for key files `add`
/// (in `write`). The third right is the FMCOS application-type byte of a DF (`95`), kept as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rights {
    /// EF: READ BINARY/RECORD. DF: CREATE FILE inside it. Key file: unused.
    pub first: AccessRight,
    /// EF: UPDATE/WRITE/APPEND. DF: ERASE DF. Key file: WRITE KEY (add).
    pub second: AccessRight,
}

/// Post-issuance application-area status of a DF (file-table slot byte 8; `00` for every other
/// file, so cards formatted before areas existed read as "no area"). `docs/areas.md`,
/// `docs/adr/0003-post-issuance-application-areas.md`.
///
/// * `80` the DF is an **area**: granted after issue by CREATE FILE `B8`, its rights never accept the
///   MF's level, it is never bound to an applet;
/// * `01` **handed over**: the service unit has replaced the initial key (until then the only
///   structural command the area accepts is that WRITE KEY);
/// * `02` **blocked by the issuer** (APPLICATION BLOCK at the MF naming the area): only the issuer's
///   APPLICATION UNBLOCK at the MF lifts it;
/// * `04` **being revoked**: ERASE DF at the MF started freeing its files in several transactions;
///   the area is terminated (LCS `0C`) and sending the revocation again completes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AreaFlags(pub u8);

impl AreaFlags {
    /// Not an area.
    pub const NONE: AreaFlags = AreaFlags(0x00);
    /// Bit: the DF is an application area.
    pub const AREA: u8 = 0x80;
    /// Bit: the initial area key was replaced (hand-over done).
    pub const HANDED_OVER: u8 = 0x01;
    /// Bit: the temporary block was set by the issuer from the MF.
    pub const ISSUER_BLOCK: u8 = 0x02;
    /// Bit: a revocation (erase and reclaim) is in progress.
    pub const REVOKING: u8 = 0x04;

    /// Whether the DF is an application area.
    pub const fn is_area(self) -> bool {
        self.0 & Self::AREA != 0
    }
    /// Whether the service unit has replaced the initial key.
    pub const fn handed_over(self) -> bool {
        self.0 & Self::HANDED_OVER != 0
    }
    /// Whether the current temporary block is the issuer's.
    pub const fn issuer_blocked(self) -> bool {
        self.0 & Self::ISSUER_BLOCK != 0
    }
    /// Whether a revocation is in progress.
    pub const fn revoking(self) -> bool {
        self.0 & Self::REVOKING != 0
    }
    /// These flags with `bit` set.
    pub const fn with(self, bit: u8) -> AreaFlags {
        AreaFlags(self.0 | bit)
    }
    /// These flags with `bit` cleared.
    pub const fn without(self, bit: u8) -> AreaFlags {
        AreaFlags(self.0 & !bit)
    }
}

/// Type byte of a file-table slot that records a free extent of its parent DF's space (a hole
/// left by a revoked area, `fs::space`). Such a slot is not a file: [`FileEntry::decode`] reads it
/// as free, yet it is not handed out as a free slot.
pub const FREE_EXTENT: u8 = 0xFE;

/// One decoded file-table slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Declaration order, not rustc's reordering: every lookup returns an entry by value through
// `Result<Option<(Slot, FileEntry)>, Sw>`, and a fixed layout lets those moves be plain copies
// instead of field-by-field shuffles (80 B less firmware, measured).
#[repr(C)]
pub struct FileEntry {
    /// What the file is.
    pub kind: FileKind,
    /// Slot of the parent DF (the MF is its own parent).
    pub parent: u8,
    /// File identifier.
    pub fid: Fid,
    /// Short EF identifier (1..=30) or 0 for none; for a DF the FMCOS application-type byte.
    pub sfi: u8,
    /// Life-cycle status (meaningful for DFs).
    pub state: DfState,
    /// Access rights.
    pub rights: Rights,
    /// Write protection of an EF.
    pub protection: LineProtection,
    /// Start of the body in the data area.
    pub offset: u16,
    /// Body size in bytes (for a DF: its whole space quota, children included).
    pub size: u16,
    /// Mutable state word: linear-fixed records appended, variable-record bytes used, DF bytes
    /// allocated; 0 for cyclic files (their head is in the body's record marks, see
    /// [`super::record`]).
    pub state_word: u16,
    /// Record count (fixed/cyclic) or 0.
    pub record_count: u8,
    /// Record length (fixed/cyclic) or 0.
    pub record_len: u8,
    /// DF name (length in `name_len`).
    pub name: [u8; MAX_DF_NAME],
    /// DF name length, 0 for EFs.
    pub name_len: u8,
    /// Application-area status (DFs; slot byte 8).
    pub area: AreaFlags,
}

/// A slot could not be decoded: the table is corrupt (answered as 6581/6F00 by the kernel, never a panic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorruptEntry;

impl FileEntry {
    /// The DF name as a slice (empty for EFs).
    #[inline(never)]
    pub fn df_name(&self) -> &[u8] {
        self.name.get(..usize::from(self.name_len)).unwrap_or(&[])
    }

    /// Byte offset of the first free byte of a DF's space (DFs only).
    pub fn df_free_offset(&self) -> u32 {
        u32::from(self.offset) + u32::from(self.state_word)
    }

    /// Bytes of a DF's quota not yet allocated.
    pub fn df_free_bytes(&self) -> u32 {
        u32::from(self.size).saturating_sub(u32::from(self.state_word))
    }

    /// Bytes of the body a record takes: cyclic records carry a one-byte mark in front.
    pub fn record_stride(&self) -> u16 {
        let mark = u16::from(self.kind == FileKind::Cyclic);
        u16::from(self.record_len) + mark
    }

    /// A new, empty key file of `parent` at `offset`: its add right is `add` (WRITE KEY), it is
    /// never readable. One constructor for the MF's (format) and an area's (grant).
    #[inline(never)]
    pub fn key_file(parent: u8, offset: u16, size: u16, add: AccessRight) -> FileEntry {
        FileEntry {
            kind: FileKind::KeyFile,
            parent,
            fid: Fid(0x0000),
            sfi: 0,
            state: DfState::Active,
            rights: Rights {
                first: AccessRight::NEVER,
                second: add,
            },
            protection: LineProtection::None,
            offset,
            size,
            state_word: 0,
            record_count: 0,
            record_len: 0,
            name: [0; MAX_DF_NAME],
            name_len: 0,
            area: AreaFlags::NONE,
        }
    }

    /// Encode into a slot.
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        let fid = self.fid.to_bytes();
        let off = self.offset.to_be_bytes();
        let size = self.size.to_be_bytes();
        let st = self.state_word.to_be_bytes();
        let head = [
            self.kind.code(),
            self.parent,
            fid[0],
            fid[1],
            self.sfi,
            self.state.lcs(),
            self.rights.first.0,
            self.rights.second.0,
            if self.kind.is_df() { self.area.0 } else { 0 },
            self.protection.bits() | self.name_len.saturating_sub(1) & 0x0F,
            off[0],
            off[1],
            size[0],
            size[1],
            st[0],
            st[1],
        ];
        let (h, tail) = b.split_at_mut(16);
        h.copy_from_slice(&head);
        if self.kind.is_df() {
            tail.copy_from_slice(&self.name);
        } else {
            for (d, s) in tail.iter_mut().zip([self.record_count, self.record_len]) {
                *d = s;
            }
        }
        b
    }

    /// Decode a slot; `Ok(None)` for a free slot. `data_len` bounds the body.
    pub fn decode(b: &[u8; ENTRY_SIZE], data_len: u32) -> Result<Option<FileEntry>, CorruptEntry> {
        if b[0] == 0 || b[0] == FREE_EXTENT {
            return Ok(None);
        }
        let kind = FileKind::from_code(b[0]).ok_or(CorruptEntry)?;
        let offset = u16::from_be_bytes([b[10], b[11]]);
        let size = u16::from_be_bytes([b[12], b[13]]);
        let state_word = u16::from_be_bytes([b[14], b[15]]);
        if u32::from(offset) + u32::from(size) > data_len {
            return Err(CorruptEntry);
        }
        let mut e = FileEntry {
            kind,
            parent: b[1],
            fid: Fid::from_bytes([b[2], b[3]]),
            sfi: b[4],
            state: DfState::from_lcs(b[5]),
            rights: Rights {
                first: AccessRight(b[6]),
                second: AccessRight(b[7]),
            },
            protection: LineProtection::from_bits(b[9]),
            offset,
            size,
            state_word,
            record_count: 0,
            record_len: 0,
            name: [0; MAX_DF_NAME],
            name_len: 0,
            area: AreaFlags::NONE,
        };
        if kind.is_df() {
            e.area = AreaFlags(b[8]);
            e.protection = LineProtection::None;
            e.name_len = (b[9] & 0x0F) + 1;
            e.name.copy_from_slice(&b[16..32]);
            if state_word > size {
                return Err(CorruptEntry);
            }
        } else {
            e.record_count = b[16];
            e.record_len = b[17];
            match kind {
                FileKind::LinearFixed | FileKind::Cyclic => {
                    let need = u32::from(e.record_count) * u32::from(e.record_stride());
                    if e.record_count == 0 || e.record_len == 0 || need > u32::from(size) {
                        return Err(CorruptEntry);
                    }
                    if kind == FileKind::Cyclic
                        && (state_word != 0 || e.record_count > MAX_CYCLIC_RECORDS)
                    {
                        return Err(CorruptEntry);
                    }
                }
                FileKind::LinearVariable if state_word > size => return Err(CorruptEntry),
                _ => {}
            }
        }
        Ok(Some(e))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn sample(kind: FileKind) -> FileEntry {
        let mut name = [0u8; MAX_DF_NAME];
        if kind.is_df() {
            name[..5].copy_from_slice(b"ABCDE");
        }
        FileEntry {
            kind,
            parent: 3,
            fid: Fid(0x0015),
            sfi: if kind.is_df() { 0x95 } else { 0x15 },
            state: DfState::Active,
            rights: Rights {
                first: AccessRight(0xF0),
                second: AccessRight(0x11),
            },
            protection: if kind.is_df() {
                LineProtection::None
            } else {
                LineProtection::Mac
            },
            offset: 100,
            size: 240,
            state_word: 0,
            record_count: if kind.is_df() { 0 } else { 10 },
            record_len: if kind.is_df() { 0 } else { 23 },
            name,
            name_len: if kind.is_df() { 5 } else { 0 },
            area: if kind.is_df() {
                AreaFlags(AreaFlags::AREA | AreaFlags::HANDED_OVER)
            } else {
                AreaFlags::NONE
            },
        }
    }

    #[test]
    fn round_trip_every_kind() {
        for kind in [
            FileKind::Dedicated,
            FileKind::Transparent,
            FileKind::LinearFixed,
            FileKind::LinearVariable,
            FileKind::Cyclic,
            FileKind::Internal,
            FileKind::KeyFile,
        ] {
            let e = sample(kind);
            let d = FileEntry::decode(&e.encode(), 4096).unwrap().unwrap();
            assert_eq!(d, e, "{kind:?}");
        }
    }

    #[test]
    fn free_and_corrupt_slots() {
        assert_eq!(FileEntry::decode(&[0; ENTRY_SIZE], 4096), Ok(None));
        let mut hole = [0u8; ENTRY_SIZE];
        hole[0] = FREE_EXTENT;
        assert_eq!(
            FileEntry::decode(&hole, 4096),
            Ok(None),
            "a free extent is no file"
        );
        let mut b = sample(FileKind::Transparent).encode();
        b[0] = 0x77;
        assert_eq!(FileEntry::decode(&b, 4096), Err(CorruptEntry));
        // body past the end of the data area
        let b = sample(FileKind::Transparent).encode();
        assert_eq!(FileEntry::decode(&b, 200), Err(CorruptEntry));
        // records larger than the body
        let mut e = sample(FileKind::LinearFixed);
        e.size = 20;
        assert_eq!(FileEntry::decode(&e.encode(), 4096), Err(CorruptEntry));
        // cyclic: a state word (the head lives in the record marks), too many records, or no
        // room for the marks
        let mut e = sample(FileKind::Cyclic);
        e.state_word = 0x010A;
        assert_eq!(FileEntry::decode(&e.encode(), 4096), Err(CorruptEntry));
        let mut e = sample(FileKind::Cyclic);
        e.record_count = 255;
        e.size = 255 * 24;
        assert_eq!(FileEntry::decode(&e.encode(), 8192), Err(CorruptEntry));
        let mut e = sample(FileKind::Cyclic);
        e.size = 230;
        assert_eq!(FileEntry::decode(&e.encode(), 4096), Err(CorruptEntry));
    }
}
