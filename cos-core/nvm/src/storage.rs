//! The object-safe storage interface ([`Storage`]), its errors and the closure-scoped [`atomically`].
//!
//! Responsibility: the contract the kernel and applets program against, independent of the journal
//! implementation (so a kernel test may use any other implementation).
//! Invariants a [`Storage`] implementation keeps:
//! - One transaction at most is open; `write` is only possible inside it, `scrub` only outside it.
//! - `read` sees the committed data with the open transaction's pending writes overlaid.
//! - `commit` is atomic across power loss: after any cut and recovery, all of the transaction's writes are
//!   present or none is. `commit` always closes the transaction, whether it succeeds or not.
//! - A refused `write` (any error) leaves the pending writes unchanged.

use crate::device::NvmError;

/// Errors of a mounted store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreError {
    /// The device failed. After [`NvmError::PowerLost`] a store refuses everything until it is recovered
    /// (`Store::recover`), because its RAM view may no longer match NVM.
    Nvm(NvmError),
    /// An address range outside the data area, an impossible geometry, a malformed journal record, or an
    /// exhausted sequence counter.
    OutOfBounds,
    /// `write` or `commit` without an open transaction.
    NoTransaction,
    /// `begin` (or `scrub`) while a transaction is open; also `commit` called inside [`atomically`].
    TransactionOpen,
    /// The write set is full; the transaction stays open and the caller should abort it.
    CommitCapacityExceeded,
}

impl From<NvmError> for StoreError {
    fn from(e: NvmError) -> Self {
        Self::Nvm(e)
    }
}

/// Why a device could not be mounted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MountError {
    /// No format marker at all: the header bytes are erased (all 0xFF or all 0x00). Only this state may
    /// lead to formatting.
    Virgin,
    /// A marker is present but the header (CRC, version, geometry) or the newest journal record is invalid.
    /// Never re-initialise in this state: only diagnostics and an authenticated reset should work.
    Corrupt,
    /// The device failed while mounting (e.g. power lost during recovery).
    Nvm(NvmError),
}

/// Object-safe view of a mounted, journalled store; addresses are offsets in the data area.
pub trait Storage {
    /// Data-area size in bytes.
    fn capacity(&self) -> u32;
    /// Bytes of one device page, the unit of one program: data-area offsets in the same page cost
    /// one program together. Layout decisions use it (a small internal EF never straddles two).
    fn page_size(&self) -> u32;
    /// Read `buf.len()` bytes at `addr`; sees the pending writes of the open transaction.
    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), StoreError>;
    /// Open a transaction; one nesting level only ([`StoreError::TransactionOpen`] if one is open).
    fn begin(&mut self) -> Result<(), StoreError>;
    /// Add a write to the open transaction ([`StoreError::NoTransaction`] outside one). On
    /// [`StoreError::CommitCapacityExceeded`] the transaction stays open, unchanged; the caller aborts.
    fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), StoreError>;
    /// Make the open transaction durable, atomically: after any power cut and recovery, all or nothing.
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Drop the pending writes and close the transaction (no effect without one).
    fn abort(&mut self);
    /// Whether a transaction is open.
    fn in_transaction(&self) -> bool;
    /// Non-atomic direct fill of `len` bytes at `addr` with `byte`, outside any transaction
    /// ([`StoreError::TransactionOpen`] otherwise). Only for space no committed state references (e.g.
    /// zeroing space before a CREATE FILE commits): a cut leaves it partly filled, which is harmless there.
    fn scrub(&mut self, addr: u32, len: u32, byte: u8) -> Result<(), StoreError>;
    /// Payload capacity of one transaction in bytes. Pending writes are kept as one entry per page touched,
    /// costing `ENTRY_OVERHEAD` (3) plus the span from the lowest to the highest byte written in that page.
    fn max_transaction_bytes(&self) -> u32;
    /// Program operations issued by this store (for benchmarks and tests).
    fn programs(&self) -> u64;

    /// Read a byte.
    fn read_u8(&self, addr: u32) -> Result<u8, StoreError> {
        let mut b = [0u8; 1];
        self.read(addr, &mut b)?;
        Ok(u8::from_be_bytes(b))
    }
    /// Read a big-endian `u16`.
    fn read_u16(&self, addr: u32) -> Result<u16, StoreError> {
        let mut b = [0u8; 2];
        self.read(addr, &mut b)?;
        Ok(u16::from_be_bytes(b))
    }
    /// Read a big-endian `u32`.
    fn read_u32(&self, addr: u32) -> Result<u32, StoreError> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    /// Write a byte in the open transaction.
    fn write_u8(&mut self, addr: u32, v: u8) -> Result<(), StoreError> {
        self.write(addr, &[v])
    }
    /// Write a big-endian `u16` in the open transaction.
    fn write_u16(&mut self, addr: u32, v: u16) -> Result<(), StoreError> {
        self.write(addr, &v.to_be_bytes())
    }
    /// Write a big-endian `u32` in the open transaction.
    fn write_u32(&mut self, addr: u32, v: u32) -> Result<(), StoreError> {
        self.write(addr, &v.to_be_bytes())
    }
}

/// Closure-scoped transaction: `Err` from `f` (or from commit) ⇒ abort, nothing changed; `Ok` ⇒ committed.
///
/// Inside `f` the transaction is structural: `begin` and `commit` return [`StoreError::TransactionOpen`],
/// `abort` does nothing (return `Err` to abort) and `scrub` is refused, so no transaction can be left open
/// or closed early.
pub fn atomically<R, E: From<StoreError>>(
    s: &mut dyn Storage,
    f: impl FnOnce(&mut dyn Storage) -> Result<R, E>,
) -> Result<R, E> {
    s.begin()?;
    let out = f(&mut Scoped(&mut *s));
    match out {
        Ok(r) => match s.commit() {
            Ok(()) => Ok(r),
            Err(e) => {
                s.abort();
                Err(e.into())
            }
        },
        Err(e) => {
            s.abort();
            Err(e)
        }
    }
}

/// The view `atomically` hands to its closure: everything but transaction control is forwarded.
struct Scoped<'a>(&'a mut dyn Storage);

impl Storage for Scoped<'_> {
    fn capacity(&self) -> u32 {
        self.0.capacity()
    }
    fn page_size(&self) -> u32 {
        self.0.page_size()
    }
    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), StoreError> {
        self.0.read(addr, buf)
    }
    fn begin(&mut self) -> Result<(), StoreError> {
        Err(StoreError::TransactionOpen)
    }
    fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), StoreError> {
        self.0.write(addr, data)
    }
    fn commit(&mut self) -> Result<(), StoreError> {
        Err(StoreError::TransactionOpen)
    }
    fn abort(&mut self) {}
    fn in_transaction(&self) -> bool {
        self.0.in_transaction()
    }
    fn scrub(&mut self, _addr: u32, _len: u32, _byte: u8) -> Result<(), StoreError> {
        Err(StoreError::TransactionOpen)
    }
    fn max_transaction_bytes(&self) -> u32 {
        self.0.max_transaction_bytes()
    }
    fn programs(&self) -> u64 {
        self.0.programs()
    }
}
