//! Tear-safe persistent storage for the citizen-card COS: a raw NVM device contract, a RAM simulator with
//! power-cut injection, and a journalled store whose transactions are atomic across power loss.
//!
//! # Fault model
//!
//! The device is EEPROM-like: a byte array split into pages (size fixed per device, a power of two, at most
//! [`MAX_PAGE_SIZE`]). There is no erase.
//! - One **program** writes a byte range inside a single page in one program cycle (the unit of cost).
//! - A power cut **during** a program ("torn program") leaves each byte of the programmed range old, new or
//!   arbitrary; bytes outside the range are untouched. Reprogramming a byte with its current value is no
//!   safer: it can tear too.
//! - A power cut **between** programs just stops the sequence. Reads are free and never tear.
//!
//! [`MemNvm`] implements exactly this model ([`TearMode`]).
//!
//! # On-NVM layout (format version 3; integers big-endian)
//!
//! | where | what |
//! |---|---|
//! | page 0, bytes 0..32 | header: magic `"CCOS"`, version `u16` (= 3), page size `u16`, journal first page `u16` (= 1), journal page count `u16`, data start `u32`, data length `u32`, [`JournalKey`] (8 bytes), CRC-32 of the 28 bytes before it |
//! | pages 1 ..= J | journal area (`J = journal_pages`, at least 2) |
//! | page J+1 .. end | data area: every whole page after the journal (at most 64 KiB); store addresses are offsets in it |
//!
//! Mount states: header bytes all `0xFF` or all `0x00` → [`MountError::Virgin`]; any other invalid header
//! (magic, CRC, version, geometry not matching the device) → [`MountError::Corrupt`]. A store never formats
//! itself.
//!
//! A **journal record** starts at a journal offset that is a multiple of [`LOG_ALIGN`] and may wrap from the
//! end of the journal area to its start:
//!
//! ```text
//! magic C5 (1) | seq u32 | payload length u16 | payload | CRC-32 u32 over key ‖ everything before it
//! payload = entries { data address u16 | length − 1 u8 | bytes }   (one entry per data page touched)
//! ```
//!
//! A record that fits in one page but would straddle two from the head starts at the next page instead
//! (one journal program rather than two), when it then still stays clear of the newest record.
//!
//! # Transactions (redo log)
//!
//! - `write` merges data into a RAM write set kept in the payload encoding, one entry per page, each entry
//!   widened to span everything written in its page (gap bytes filled from committed content). Reads inside
//!   the transaction overlay it. Its size is checked on every `write`, so
//!   [`Storage::max_transaction_bytes`] (`min(WRITE_SET_CAPACITY, journal bytes / 2 - LOG_OVERHEAD)`) is
//!   honest: a write that fits always commits.
//! - `commit` (1) shrinks each entry to the span of bytes that really change and drops unchanged entries
//!   (nothing left ⇒ zero programs); (2) appends the record at the journal head, one program per journal page
//!   touched; (3) programs each entry at its home address, one program per data page.
//!   **Programs per commit = journal pages the record touches + data pages that change.**
//! - The head is the aligned end of the newest record (or the next page start, above). A record is at most
//!   half the journal, so a new one never overlaps the newest; records march around the journal, which spreads wear and leaves no location
//!   rewritten by every transaction.
//! - `recover` (run by `mount`) scans the `journal bytes / LOG_ALIGN` aligned offsets for records with magic,
//!   a payload length in bounds and a good keyed CRC (a forged record needs the card's [`JournalKey`]), takes the highest sequence number, validates its entries
//!   and replays them, programming only the bytes that differ. The next record gets sequence `max + 1` and
//!   goes right after it.
//!
//! **Why this is atomic.** Home bytes are programmed only from the entries of the newest complete record, and
//! each program stays inside one entry's range, so every byte a torn home program can damage is in that
//! record. A cut while writing a new record leaves it invalid (CRC) while the previous newest record is
//! intact and already applied: replaying it changes nothing ⇒ old state. A cut after the new record is
//! complete ⇒ recovery finishes it ⇒ new state. A cut during recovery is the same situation again.
//! `scrub` writes outside the journal; when the newest record covers scrubbed bytes it first appends an
//! empty record, so a later replay cannot undo the scrub.
//!
//! # Example
//!
//! ```
//! use cos_nvm::{atomically, JournalKey, MemNvm, Storage, Store, StoreError};
//!
//! let key = JournalKey([0x3C, 0x91, 0x07, 0xE2, 0x5A, 0x18, 0xD4, 0x6B]); // from the chip's TRNG
//! let mut store = Store::format(MemNvm::<4096>::new(64), 8, key)?;
//! atomically(&mut store, |tx| {
//!     let balance = tx.read_u32(0)?;
//!     tx.write_u32(0, balance + 100)?;
//!     tx.write_u16(64, 1) // a counter in another page
//! })?;
//! assert_eq!(store.read_u32(0)?, 100);
//!
//! let store = Store::mount(store.into_nvm()).map_err(|(e, _)| e).unwrap();
//! assert_eq!(store.read_u16(64)?, 1);
//! # Ok::<(), StoreError>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

mod crc;
mod device;
mod layout;
mod mem;
mod storage;
mod store;
mod writeset;

pub use device::{Nvm, NvmError};
pub use layout::{
    JournalKey, ENTRY_OVERHEAD, FORMAT_VERSION, HEADER_LEN, HEADER_MAGIC, JOURNAL_KEY_LEN,
    LOG_ALIGN, LOG_HEADER_LEN, LOG_MAGIC, LOG_OVERHEAD, MAX_DATA_LEN, MIN_JOURNAL_PAGES,
    MIN_PAGE_SIZE,
};
pub use mem::{MemNvm, TearMode};
pub use storage::{atomically, MountError, Storage, StoreError};
pub use store::{RecoveryReport, Store};
pub use writeset::WRITE_SET_CAPACITY;

/// Largest page size any device may have: sizes the page buffers the store keeps on the stack.
pub const MAX_PAGE_SIZE: usize = 256;
