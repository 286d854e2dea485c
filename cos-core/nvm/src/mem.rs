//! [`MemNvm`]: a RAM-backed device with power-cut ("tearing") injection.
//!
//! Responsibility: implement the crate's fault model exactly, so that tests, the host simulator and the
//! firmware's RAM model exercise the same failures a real chip shows.
//! Invariants:
//! - Every accepted, non-empty `program` counts as one program operation, torn ones included.
//! - Once power is lost, every later `program` fails with [`NvmError::PowerLost`] and changes nothing, until
//!   [`MemNvm::power_cycle`]. Reads keep working, so a test can inspect the torn image.
//! - A torn program only changes bytes inside its own range.

use crate::device::{Nvm, NvmError};
use crate::MAX_PAGE_SIZE;

/// How the armed program operation is torn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TearMode {
    /// Power fails before the cells change: nothing is written.
    Skip,
    /// The program completes, but power fails right after it.
    Complete,
    /// Each byte of the range ends up old, new or arbitrary, chosen by a small deterministic PRNG seeded with
    /// `seed` (so a failing case can be replayed).
    Partial {
        /// PRNG seed.
        seed: u64,
    },
}

/// RAM-backed NVM of `N` bytes; fresh content is all `0xFF`, like an erased chip.
#[derive(Clone, Debug)]
pub struct MemNvm<const N: usize> {
    mem: [u8; N],
    page_size: usize,
    programs: u64,
    /// Absolute program-operation number to tear, and how.
    armed: Option<(u64, TearMode)>,
    power_lost: bool,
}

/// Largest power of two `<= x` within `1..=MAX_PAGE_SIZE`: a device page is a power of two, so an
/// impossible request is clamped rather than rejected (construction cannot fail).
fn clamp_page_size(x: usize) -> usize {
    let x = x.clamp(1, MAX_PAGE_SIZE);
    let mut p = 1;
    while p * 2 <= x {
        p *= 2;
    }
    p
}

/// SplitMix64: tiny, deterministic and good enough to pick byte fates.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl<const N: usize> MemNvm<N> {
    /// A fresh chip (all `0xFF`). `page_size` is clamped to the largest power of two in
    /// `1..=MAX_PAGE_SIZE` not above it.
    pub fn new(page_size: usize) -> Self {
        Self {
            mem: [0xFF; N],
            page_size: clamp_page_size(page_size),
            programs: 0,
            armed: None,
            power_lost: false,
        }
    }

    /// Load an image: shorter input is padded with `0xFF`, longer input is truncated to `N` bytes.
    pub fn from_bytes(page_size: usize, bytes: &[u8]) -> Self {
        let mut nvm = Self::new(page_size);
        for (dst, src) in nvm.mem.iter_mut().zip(bytes) {
            *dst = *src;
        }
        nvm
    }

    /// The whole image.
    pub fn as_bytes(&self) -> &[u8] {
        &self.mem
    }

    /// Program operations so far (torn ones included, refused ones not).
    pub fn programs(&self) -> u64 {
        self.programs
    }

    /// Arm a power cut: program operation number `after` (0 = the next one) is torn according to `mode` and
    /// returns [`NvmError::PowerLost`]; every later program fails with `PowerLost` and has no effect until
    /// [`power_cycle`](Self::power_cycle). Replaces any previously armed cut.
    pub fn arm_tear(&mut self, after: u64, mode: TearMode) {
        self.armed = Some((self.programs.saturating_add(after), mode));
    }

    /// Cancel an armed power cut.
    pub fn disarm(&mut self) {
        self.armed = None;
    }

    /// Power back on: clears the "power lost" state and any armed cut.
    pub fn power_cycle(&mut self) {
        self.power_lost = false;
        self.armed = None;
    }

    /// Whether power has been lost since the last [`power_cycle`](Self::power_cycle).
    pub fn is_power_lost(&self) -> bool {
        self.power_lost
    }
}

impl<const N: usize> Nvm for MemNvm<N> {
    fn page_size(&self) -> usize {
        self.page_size
    }

    fn capacity(&self) -> usize {
        N
    }

    fn read(&self, addr: usize, buf: &mut [u8]) -> Result<(), NvmError> {
        let end = addr.checked_add(buf.len()).ok_or(NvmError::OutOfBounds)?;
        let src = self.mem.get(addr..end).ok_or(NvmError::OutOfBounds)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), NvmError> {
        if self.power_lost {
            return Err(NvmError::PowerLost);
        }
        let end = addr.checked_add(data.len()).ok_or(NvmError::OutOfBounds)?;
        if end > N {
            return Err(NvmError::OutOfBounds);
        }
        if data.is_empty() {
            return Ok(());
        }
        if addr / self.page_size != (end - 1) / self.page_size {
            return Err(NvmError::CrossesPage);
        }
        let dst = self.mem.get_mut(addr..end).ok_or(NvmError::OutOfBounds)?;
        let op = self.programs;
        self.programs = self.programs.saturating_add(1);
        match self.armed {
            Some((at, mode)) if at == op => {
                match mode {
                    TearMode::Skip => {}
                    TearMode::Complete => dst.copy_from_slice(data),
                    TearMode::Partial { seed } => {
                        let mut state = seed;
                        for (d, s) in dst.iter_mut().zip(data) {
                            let r = splitmix64(&mut state);
                            match r % 3 {
                                0 => {}
                                1 => *d = *s,
                                _ => *d = (r >> 32) as u8,
                            }
                        }
                    }
                }
                self.armed = None;
                self.power_lost = true;
                Err(NvmError::PowerLost)
            }
            _ => {
                dst.copy_from_slice(data);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn fresh_chip_is_erased_and_page_size_clamped() {
        let m = MemNvm::<128>::new(64);
        assert!(m.as_bytes().iter().all(|&b| b == 0xFF));
        assert_eq!(m.page_size(), 64);
        assert_eq!(m.capacity(), 128);
        assert_eq!(MemNvm::<16>::new(100).page_size(), 64);
        assert_eq!(MemNvm::<16>::new(0).page_size(), 1);
        assert_eq!(MemNvm::<16>::new(10_000).page_size(), MAX_PAGE_SIZE);
    }

    #[test]
    fn from_bytes_pads_and_truncates() {
        let m = MemNvm::<4>::from_bytes(2, &[1, 2]);
        assert_eq!(m.as_bytes(), &[1, 2, 0xFF, 0xFF]);
        let m = MemNvm::<2>::from_bytes(2, &[1, 2, 3]);
        assert_eq!(m.as_bytes(), &[1, 2]);
    }

    #[test]
    fn program_within_page_and_bounds() {
        let mut m = MemNvm::<64>::new(16);
        m.program(16, &[1; 16]).unwrap();
        assert_eq!(m.programs(), 1);
        assert_eq!(m.program(15, &[0; 2]), Err(NvmError::CrossesPage));
        assert_eq!(m.program(60, &[0; 8]), Err(NvmError::OutOfBounds));
        assert_eq!(m.program(usize::MAX, &[0; 2]), Err(NvmError::OutOfBounds));
        m.program(3, &[]).unwrap();
        assert_eq!(
            m.programs(),
            1,
            "refused and empty programs are not program cycles"
        );
        let mut b = [0u8; 4];
        m.read(14, &mut b).unwrap();
        assert_eq!(b, [0xFF, 0xFF, 1, 1]);
        assert_eq!(m.read(62, &mut b), Err(NvmError::OutOfBounds));
    }

    #[test]
    fn tear_skip_complete_and_later_programs_fail() {
        let mut m = MemNvm::<64>::new(16);
        m.arm_tear(1, TearMode::Skip);
        m.program(0, &[1]).unwrap();
        assert_eq!(m.program(1, &[2]), Err(NvmError::PowerLost));
        assert!(m.is_power_lost());
        assert_eq!(m.as_bytes()[1], 0xFF);
        assert_eq!(m.program(2, &[3]), Err(NvmError::PowerLost));
        assert_eq!(m.as_bytes()[2], 0xFF);
        assert_eq!(m.programs(), 2);
        m.power_cycle();
        assert!(!m.is_power_lost());
        m.program(2, &[3]).unwrap();
        assert_eq!(m.as_bytes()[2], 3);

        m.arm_tear(0, TearMode::Complete);
        assert_eq!(m.program(4, &[9, 9]), Err(NvmError::PowerLost));
        assert_eq!(&m.as_bytes()[4..6], &[9, 9]);
        m.power_cycle();
    }

    #[test]
    fn partial_tear_is_deterministic_and_stays_in_range() {
        let run = |seed| {
            let mut m = MemNvm::<64>::new(64);
            m.arm_tear(0, TearMode::Partial { seed });
            assert_eq!(m.program(8, &[0x00; 32]), Err(NvmError::PowerLost));
            m
        };
        let a = run(7);
        assert_eq!(a.as_bytes(), run(7).as_bytes());
        assert!(a.as_bytes()[..8]
            .iter()
            .chain(&a.as_bytes()[40..])
            .all(|&b| b == 0xFF));
        let torn = &a.as_bytes()[8..40];
        assert!(
            torn.contains(&0x00) && torn.contains(&0xFF),
            "a mix of new and old bytes"
        );
        assert_ne!(run(7).as_bytes(), run(8).as_bytes());
    }

    #[test]
    fn disarm_and_power_cycle_clear_the_armed_cut() {
        let mut m = MemNvm::<64>::new(16);
        m.arm_tear(0, TearMode::Skip);
        m.disarm();
        m.program(0, &[1]).unwrap();
        m.arm_tear(0, TearMode::Skip);
        m.power_cycle();
        m.program(1, &[1]).unwrap();
        assert!(!m.is_power_lost());
    }
}
