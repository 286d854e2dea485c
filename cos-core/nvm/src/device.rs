//! The raw NVM device contract ([`Nvm`]) and its error type.
//!
//! Responsibility: describe what the journal may assume about the chip and nothing more.
//! Invariants every implementation must keep:
//! - `read` never changes the content and costs nothing (no program cycle).
//! - `program` writes a byte range lying inside one page, in one program cycle. A power cut during it
//!   leaves each byte of that range old, new or arbitrary and every byte outside it untouched.
//! - Addresses are device offsets in `0..capacity()`; anything else is [`NvmError::OutOfBounds`].

/// Errors reported by a raw NVM device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NvmError {
    /// The range does not lie inside the device (or the data area, for a store).
    OutOfBounds,
    /// A program range spans two pages; one program cycle only covers one page.
    CrossesPage,
    /// Power was lost: the operation did not complete (it may have been torn) and nothing else
    /// succeeds until the next power-up.
    PowerLost,
}

/// The raw device: a chip driver or a simulator such as [`MemNvm`](crate::MemNvm).
pub trait Nvm {
    /// Page size in bytes: the largest range one program cycle covers (a power of two).
    fn page_size(&self) -> usize;
    /// Device size in bytes.
    fn capacity(&self) -> usize;
    /// Copy `buf.len()` bytes starting at `addr` into `buf`. Reads are free and never tear.
    fn read(&self, addr: usize, buf: &mut [u8]) -> Result<(), NvmError>;
    /// Program `data` at `addr`; the range must lie within one page. One program cycle.
    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), NvmError>;
}

/// Lets a store borrow a device (`Store<&mut MemNvm<N>>`), so tests and the simulator keep
/// ownership of the chip image across power cycles.
impl<T: Nvm + ?Sized> Nvm for &mut T {
    fn page_size(&self) -> usize {
        (**self).page_size()
    }
    fn capacity(&self) -> usize {
        (**self).capacity()
    }
    fn read(&self, addr: usize, buf: &mut [u8]) -> Result<(), NvmError> {
        (**self).read(addr, buf)
    }
    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), NvmError> {
        (**self).program(addr, data)
    }
}
