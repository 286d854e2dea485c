//! The on-NVM format: constants, the header page and the journal record framing.
//!
//! Responsibility: encode and validate what is persisted, and nothing else. Every field read back from NVM
//! is checked here (or in the journal scanner) before it is used as an offset or a length.
//! Invariants:
//! - A header that [`Header::decode`] accepts describes a geometry that fits the device: page 0 header,
//!   `journal_pages >= MIN_JOURNAL_PAGES` journal pages starting at page 1, a non-empty page-aligned data area
//!   right after the journal and inside the device.
//! - All multi-byte integers are big-endian (the ISO/IEC 7816 convention).

use crate::crc::crc32;
use crate::device::Nvm;
use crate::MAX_PAGE_SIZE;

/// Format marker at offset 0 of page 0.
pub const HEADER_MAGIC: [u8; 4] = *b"CCOS";
/// Version of the on-NVM format this crate writes and mounts. Version 3 keys every journal record's
/// CRC with the per-card [`JournalKey`] kept in the header (version 2: the same compact framing with a
/// plain CRC, which let terminal-chosen payload bytes pass for a record; version 1: a 4-byte magic and
/// 6-byte entry headers). Older images are refused as corrupt, never reformatted.
pub const FORMAT_VERSION: u16 = 3;
/// Header size: magic 4, version 2, page size 2, journal first page 2, journal page count 2,
/// data start 4, data length 4, journal key 8, CRC-32 4.
pub const HEADER_LEN: usize = 32;
/// Smallest page size a store accepts: the header must fit in page 0.
pub const MIN_PAGE_SIZE: usize = 32;
/// Length of the [`JournalKey`].
pub const JOURNAL_KEY_LEN: usize = 8;

/// The per-card secret that keys the check of every journal record (format version 3).
///
/// Why: a record's payload holds file bytes, some of them chosen by terminals (purse log fields,
/// library and transit records). With a plain CRC, such bytes could be shaped into a valid-looking
/// record that recovery would replay after a journal wrap destroyed the genuine record around it —
/// arbitrary writes, key files included. With the CRC state primed by a secret that never leaves the
/// chip (it is read by nothing an APDU reaches), a planted record passes only if its 32-bit check
/// guesses that secret's effect: probability 2⁻³², and each guess costs a journal wrap and a timed
/// power cut. Chosen at format time from the chip's random source; never changes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct JournalKey(pub [u8; JOURNAL_KEY_LEN]);

/// Redacted: the key is a secret.
impl core::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("JournalKey(..)")
    }
}
/// Smallest journal: two pages, so that half of it still holds a useful record.
pub const MIN_JOURNAL_PAGES: u16 = 2;

/// Marker opening every journal record (one byte: the CRC-32 is what makes a record valid; the marker
/// only skips most non-records cheaply).
pub const LOG_MAGIC: [u8; 1] = [0xC5];
/// Record header: magic 1, sequence number 4, payload length 2.
pub const LOG_HEADER_LEN: usize = 7;
/// Per-record framing: the header plus the trailing CRC-32.
pub const LOG_OVERHEAD: usize = LOG_HEADER_LEN + 4;
/// Per-entry framing inside a record payload: home address 2 (data-area offset), length − 1 (1): an entry
/// lies inside one page, so it holds 1 to [`MAX_PAGE_SIZE`] bytes.
pub const ENTRY_OVERHEAD: usize = 3;
/// Largest data area: entry addresses are 16-bit offsets into it. A larger device keeps the rest unused.
pub const MAX_DATA_LEN: usize = 1 << 16;

/// Encode an entry header (`addr` inside the data area, `len` in `1..=MAX_PAGE_SIZE`).
pub(crate) fn entry_header(addr: usize, len: usize) -> Option<[u8; ENTRY_OVERHEAD]> {
    let a = u16::try_from(addr).ok()?;
    let l = u8::try_from(len.checked_sub(1)?).ok()?;
    let [a0, a1] = a.to_be_bytes();
    Some([a0, a1, l])
}

/// Decode an entry header: `(address, length)`, the length in `1..=256`.
pub(crate) fn parse_entry_header(h: [u8; ENTRY_OVERHEAD]) -> (usize, usize) {
    let [a0, a1, l] = h;
    (
        usize::from(u16::from_be_bytes([a0, a1])),
        usize::from(l) + 1,
    )
}
/// Records start at journal offsets that are multiples of this, which bounds the recovery scan to
/// `journal bytes / LOG_ALIGN` candidate positions.
pub const LOG_ALIGN: usize = 4;

/// Validated header contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) page_size: usize,
    pub(crate) journal_pages: u16,
    pub(crate) data_start: usize,
    pub(crate) data_len: usize,
    pub(crate) key: JournalKey,
}

/// Why a header was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// All header bytes erased (0xFF or 0x00): never formatted.
    Virgin,
    /// Anything else that is not a valid header.
    Corrupt,
}

/// Whether a device page size can hold a store.
pub(crate) fn page_size_ok(ps: usize) -> bool {
    ps.is_power_of_two() && (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&ps)
}

fn be16(b: &[u8; HEADER_LEN], at: usize) -> u16 {
    let mut v = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        v.copy_from_slice(s);
    }
    u16::from_be_bytes(v)
}

fn be32(b: &[u8; HEADER_LEN], at: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        v.copy_from_slice(s);
    }
    u32::from_be_bytes(v)
}

fn key_at(b: &[u8; HEADER_LEN]) -> [u8; JOURNAL_KEY_LEN] {
    let mut k = [0u8; JOURNAL_KEY_LEN];
    if let Some(s) = b.get(20..20 + JOURNAL_KEY_LEN) {
        k.copy_from_slice(s);
    }
    k
}

impl Header {
    /// The geometry `format` lays out on `nvm`, or `None` if the device or `journal_pages` cannot hold a store.
    pub(crate) fn plan<N: Nvm + ?Sized>(
        nvm: &N,
        journal_pages: u16,
        key: JournalKey,
    ) -> Option<Self> {
        let ps = nvm.page_size();
        if !page_size_ok(ps) || journal_pages < MIN_JOURNAL_PAGES {
            return None;
        }
        let data_start = (usize::from(journal_pages) + 1).checked_mul(ps)?;
        let pages = nvm.capacity() / ps;
        let data_len = pages
            .checked_mul(ps)?
            .checked_sub(data_start)?
            .min(MAX_DATA_LEN);
        if data_len == 0 || u32::try_from(data_start).is_err() || u32::try_from(data_len).is_err() {
            return None;
        }
        Some(Self {
            page_size: ps,
            journal_pages,
            data_start,
            data_len,
            key,
        })
    }

    /// Journal area size in bytes.
    pub(crate) fn journal_len(&self) -> usize {
        usize::from(self.journal_pages) * self.page_size
    }

    /// Serialise, CRC included.
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        let mut w = Writer { buf: &mut b, at: 0 };
        w.put(&HEADER_MAGIC);
        w.put(&FORMAT_VERSION.to_be_bytes());
        w.put(&(self.page_size as u16).to_be_bytes());
        w.put(&1u16.to_be_bytes());
        w.put(&self.journal_pages.to_be_bytes());
        w.put(&(self.data_start as u32).to_be_bytes());
        w.put(&(self.data_len as u32).to_be_bytes());
        w.put(&self.key.0);
        let crc = crc32(w.buf.get(..HEADER_LEN - 4).unwrap_or(&[]));
        w.put(&crc.to_be_bytes());
        b
    }

    /// Parse and validate a header read from a device with `page_size` and `capacity`.
    pub(crate) fn decode(
        b: &[u8; HEADER_LEN],
        page_size: usize,
        capacity: usize,
    ) -> Result<Self, HeaderError> {
        if b.iter().all(|&x| x == 0xFF) || b.iter().all(|&x| x == 0x00) {
            return Err(HeaderError::Virgin);
        }
        let magic_ok = b.get(..4) == Some(&HEADER_MAGIC[..]);
        let crc_ok = crc32(b.get(..HEADER_LEN - 4).unwrap_or(&[])) == be32(b, HEADER_LEN - 4);
        if !magic_ok || !crc_ok || be16(b, 4) != FORMAT_VERSION {
            return Err(HeaderError::Corrupt);
        }
        let h = Self {
            page_size: usize::from(be16(b, 6)),
            journal_pages: be16(b, 10),
            data_start: be32(b, 12) as usize,
            data_len: be32(b, 16) as usize,
            key: JournalKey(key_at(b)),
        };
        let first_page = be16(b, 8);
        let geometry_ok = h.page_size == page_size
            && page_size_ok(page_size)
            && first_page == 1
            && h.journal_pages >= MIN_JOURNAL_PAGES
            && Some(h.data_start) == (usize::from(h.journal_pages) + 1).checked_mul(page_size)
            && h.data_len > 0
            && h.data_len <= MAX_DATA_LEN
            && h.data_len & (page_size - 1) == 0 // page_size is a power of two
            && h.data_start
                .checked_add(h.data_len)
                .is_some_and(|end| end <= capacity);
        if geometry_ok {
            Ok(h)
        } else {
            Err(HeaderError::Corrupt)
        }
    }
}

/// Sequential big-endian writer into a fixed buffer; silently stops at the end (callers size buffers
/// exactly, and tests check the encodings).
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.at + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.at..end) {
            dst.copy_from_slice(bytes);
        }
        self.at = end;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::MemNvm;

    const K: JournalKey = JournalKey([1, 2, 3, 4, 5, 6, 7, 8]);

    #[test]
    fn plan_and_round_trip() {
        let nvm = MemNvm::<4096>::new(64);
        let h = Header::plan(&nvm, 8, K).unwrap();
        assert_eq!(
            h,
            Header {
                page_size: 64,
                journal_pages: 8,
                data_start: 576,
                data_len: 3520,
                key: K,
            }
        );
        let b = h.encode();
        assert_eq!(&b[..4], b"CCOS");
        assert_eq!(&b[20..28], &K.0);
        assert_eq!(Header::decode(&b, 64, 4096), Ok(h));
        assert_eq!(Header::decode(&b, 128, 4096), Err(HeaderError::Corrupt));
        assert_eq!(Header::decode(&b, 64, 4000), Err(HeaderError::Corrupt));
    }

    #[test]
    fn plan_rejects_impossible_geometry() {
        assert!(Header::plan(&MemNvm::<4096>::new(16), 8, K).is_none());
        assert!(Header::plan(&MemNvm::<4096>::new(64), 1, K).is_none());
        assert!(Header::plan(&MemNvm::<576>::new(64), 8, K).is_none());
        assert!(Header::plan(&MemNvm::<640>::new(64), 8, K).is_some());
    }

    #[test]
    fn erased_is_virgin_anything_else_corrupt() {
        assert_eq!(
            Header::decode(&[0xFF; HEADER_LEN], 64, 4096),
            Err(HeaderError::Virgin)
        );
        assert_eq!(
            Header::decode(&[0x00; HEADER_LEN], 64, 4096),
            Err(HeaderError::Virgin)
        );
        let good = Header::plan(&MemNvm::<4096>::new(64), 8, K)
            .unwrap()
            .encode();
        for i in 0..HEADER_LEN {
            for bit in 0..8 {
                let mut b = good;
                b[i] ^= 1 << bit;
                assert_eq!(
                    Header::decode(&b, 64, 4096),
                    Err(HeaderError::Corrupt),
                    "byte {i} bit {bit}"
                );
            }
        }
    }
}
