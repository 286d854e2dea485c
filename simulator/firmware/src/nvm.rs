//! The card's EEPROM modelled in a static RAM buffer (section `.nvm`, the first 32 KiB of the
//! LM3S6965's SRAM, see `memory.x`), with the page rules of `cos_nvm::Nvm` — the same rules
//! `cos_nvm::MemNvm` implements for the host: a program writes a range inside one page in one
//! cycle; ranges outside the device or across a page boundary are refused. No heap, no copy: the
//! buffer is borrowed for the life of the firmware.

use cos_core::nvm::{Nvm, NvmError};

/// EEPROM size: the simulator's chip (`cos_sim::card::CHIP_SIZE`), so images and profiles match.
pub const NVM_SIZE: usize = 32 * 1024;
/// EEPROM page size (`cos_sim::card::PAGE_SIZE`).
pub const PAGE_SIZE: usize = 64;

/// The EEPROM over a static buffer.
pub struct RamNvm {
    mem: &'static mut [u8; NVM_SIZE],
    programs: u32,
}

impl RamNvm {
    /// The device over `mem`.
    pub fn new(mem: &'static mut [u8; NVM_SIZE]) -> RamNvm {
        RamNvm { mem, programs: 0 }
    }

    /// Page programs since boot.
    pub fn programs(&self) -> u32 {
        self.programs
    }

    /// Erase the whole device to `FF` (a factory-fresh chip).
    pub fn wipe(&mut self) {
        self.mem.fill(0xFF);
    }

    /// Bytes of the device holding something other than `FF` or `00` at page granularity:
    /// pages that are not entirely erased or zero (a rough "in use" figure for diagnostics).
    pub fn used_pages(&self) -> usize {
        self.mem
            .chunks(PAGE_SIZE)
            .filter(|p| !p.iter().all(|&b| b == 0xFF) && !p.iter().all(|&b| b == 0))
            .count()
    }
}

impl Nvm for RamNvm {
    fn page_size(&self) -> usize {
        PAGE_SIZE
    }

    fn capacity(&self) -> usize {
        NVM_SIZE
    }

    // Out of line: the store's generic code reads at many places, and each had its own copy.
    #[inline(never)]
    fn read(&self, addr: usize, buf: &mut [u8]) -> Result<(), NvmError> {
        let end = addr.checked_add(buf.len()).ok_or(NvmError::OutOfBounds)?;
        let src = self.mem.get(addr..end).ok_or(NvmError::OutOfBounds)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), NvmError> {
        let end = addr.checked_add(data.len()).ok_or(NvmError::OutOfBounds)?;
        if data.is_empty() {
            return if end <= NVM_SIZE {
                Ok(())
            } else {
                Err(NvmError::OutOfBounds)
            };
        }
        if addr / PAGE_SIZE != (end - 1) / PAGE_SIZE {
            return Err(NvmError::CrossesPage);
        }
        let dst = self.mem.get_mut(addr..end).ok_or(NvmError::OutOfBounds)?;
        dst.copy_from_slice(data);
        self.programs = self.programs.wrapping_add(1);
        Ok(())
    }
}
