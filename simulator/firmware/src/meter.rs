//! Measurement: an instruction meter (SysTick under QEMU `-icount`) and the painted stack.
//!
//! **Instructions.** Under `-icount shift=N` QEMU's virtual clock advances exactly 2^N ns per
//! guest instruction, and a timer read is exact to the instruction. SysTick runs on the system
//! clock (QEMU's Stellaris model: 200 MHz / (SYSDIV + 1)), so the ticks between two reads are
//! `instructions × 2^N / period`. [`calibrate`] runs a loop of a known instruction count to learn
//! that ratio on whatever clock and shift the emulator was started with; the host converts (the
//! hello frame carries the calibration). Wraps of the 24-bit counter are counted by the SysTick interrupt; the few
//! instructions of that handler (every 2^24 ticks) are inside the count.
//!
//! **Stack.** At boot everything between the end of `.bss` and the current stack pointer is
//! painted with [`PAINT`]; the deepest word no longer holding it is the peak stack use so far.

use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;

/// SysTick wraps since boot (incremented by the SysTick exception).
pub static WRAPS: AtomicU32 = AtomicU32::new(0);

const RELOAD: u32 = 0x00FF_FFFF;

/// A running SysTick.
pub struct Meter {
    syst: SYST,
    /// Ticks a loop of [`CAL_INSNS`] instructions took (from [`calibrate`]).
    pub cal_ticks: u32,
    /// Ticks between two back-to-back readings: the meter's own cost (from [`calibrate`]).
    pub empty_ticks: u32,
}

impl Meter {
    /// Start SysTick on the processor clock, full range, wrap interrupt on.
    pub fn start(mut syst: SYST) -> Meter {
        set_system_clock();
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        let mut m = Meter {
            syst,
            cal_ticks: 0,
            empty_ticks: 0,
        };
        calibrate(&mut m);
        m
    }

    /// Ticks since boot (monotonic).
    // Out of line: six readings would each inline the loop. The calibration's empty interval
    // is measured through the same call, so the host's subtraction still removes its cost.
    #[inline(never)]
    pub fn ticks(&self) -> u64 {
        let _ = &self.syst;
        loop {
            let w1 = WRAPS.load(Ordering::SeqCst);
            let cur = SYST::get_current();
            let w2 = WRAPS.load(Ordering::SeqCst);
            if w1 == w2 {
                return (u64::from(w1) << 24) + u64::from(RELOAD - cur);
            }
        }
    }
}

/// Run-mode clock configuration register of the LM3S6965 system control block.
const RCC: usize = 0x400F_E060;

/// SYSDIV = 0: QEMU's Stellaris model then clocks the core (and SysTick) at 200 MHz, a 5 ns tick,
/// finer than one instruction at any `-icount` shift of 3 or more. Writing RCC also makes the
/// model publish the clock to SysTick, which otherwise runs with no period at all.
fn set_system_clock() {
    // SAFETY: the RCC register of this chip; only the SYSDIV field (bits 26:23) is changed.
    unsafe {
        let v = core::ptr::read_volatile(RCC as *const u32);
        core::ptr::write_volatile(RCC as *mut u32, v & !(0xF << 23));
    }
}

/// Loop iterations of the calibration run (two instructions each).
const CAL_LOOPS: u32 = 200_000;
/// Instructions of the calibration run: the loop plus its two surrounding instructions (the
/// meter's readings are calibrated out separately).
pub const CAL_INSNS: u32 = 2 * CAL_LOOPS;

/// `n` iterations of `subs; bne`: exactly 2n instructions.
#[inline(never)]
fn spin(n: u32) {
    // SAFETY: a register-only countdown loop; no memory is touched.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {0}, {0}, #1",
            "bne 2b",
            inout(reg) n => _,
            options(nomem, nostack),
        );
    }
}

/// Learn ticks per instruction from a loop of known length, and the meter's own cost from an
/// empty interval. The host turns ticks into instructions:
/// `(ticks − empty) × CAL_INSNS / (cal − empty)` (no division on the chip).
fn calibrate(m: &mut Meter) {
    let a = m.ticks();
    let b = m.ticks();
    m.empty_ticks = (b - a) as u32;
    let a = m.ticks();
    spin(CAL_LOOPS);
    let b = m.ticks();
    m.cal_ticks = (b - a) as u32;
}

/// The pattern painted over the free stack.
pub const PAINT: u32 = 0xC0FF_EE5A;

extern "C" {
    static __sheap: u32;
    static _stack_start: u32;
}

fn stack_bounds() -> (usize, usize) {
    // Linker symbols of cortex-m-rt: only their addresses are taken.
    (
        core::ptr::addr_of!(__sheap) as usize,
        core::ptr::addr_of!(_stack_start) as usize,
    )
}

/// Paint the free stack below the current stack pointer (leaving 64 bytes of margin).
#[inline(never)]
pub fn paint_stack() {
    let (lo, _) = stack_bounds();
    let sp = cortex_m::register::msp::read() as usize - 64;
    let mut p = (lo + 3) & !3;
    while p < sp {
        // SAFETY: [lo, sp) is RAM between the end of the statics and the live stack frames;
        // nothing lives there yet.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Bytes of stack used so far at the deepest point, and the stack's size.
pub fn stack_peak() -> (usize, usize) {
    let (lo, hi) = stack_bounds();
    let mut p = (lo + 3) & !3;
    while p < hi {
        // SAFETY: reading RAM inside the stack region.
        let v = unsafe { core::ptr::read_volatile(p as *const u32) };
        if v != PAINT {
            break;
        }
        p += 4;
    }
    (hi - p, hi - lo)
}
