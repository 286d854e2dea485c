//! UART0 of the LM3S6965 (an ARM PL011, "pl011_luminary" in QEMU) at 0x4000_C000: the card's I/O
//! line. Polled transmit; receive sleeps in `WFI` until the RX interrupt wakes the core, so an
//! idle card does not spin the emulator.

use core::ptr::{read_volatile, write_volatile};
use cortex_m::interrupt;

const BASE: usize = 0x4000_C000;
const DR: usize = BASE;
const FR: usize = BASE + 0x018;
const IBRD: usize = BASE + 0x024;
const FBRD: usize = BASE + 0x028;
const LCRH: usize = BASE + 0x02C;
const CTL: usize = BASE + 0x030;
const IM: usize = BASE + 0x038;
const ICR: usize = BASE + 0x044;
/// System control: run-mode clock gating 1 (bit 0: UART0).
const RCGC1: usize = 0x400F_E104;

const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
const IM_RX: u32 = 1 << 4;
const IM_RT: u32 = 1 << 6;
/// NVIC interrupt number of UART0 on the LM3S6965.
pub const UART0_IRQ: u16 = 5;

fn rd(addr: usize) -> u32 {
    // SAFETY: `addr` is one of the UART0 / system-control registers above, which exist on this
    // chip; volatile 32-bit accesses are how they are used.
    unsafe { read_volatile(addr as *const u32) }
}

fn wr(addr: usize, v: u32) {
    // SAFETY: as in `rd`.
    unsafe { write_volatile(addr as *mut u32, v) }
}

/// Clock the UART, 115200 8N1 with FIFOs (the baud rate is irrelevant under QEMU), RX interrupt
/// routed to the NVIC (it only wakes the core: the handler masks it).
pub fn init() {
    wr(RCGC1, rd(RCGC1) | 1);
    wr(CTL, 0);
    wr(IBRD, 27); // 50 MHz / (16 × 115200) = 27.13
    wr(FBRD, 8);
    wr(LCRH, (0b11 << 5) | (1 << 4)); // 8 bits, FIFO enabled
    wr(CTL, (1 << 9) | (1 << 8) | 1); // RXE, TXE, UARTEN
    wr(IM, 0);
    // SAFETY: enabling an interrupt whose handler (`UART0` in main.rs) only masks the source.
    unsafe {
        cortex_m::peripheral::NVIC::unmask(Irq(UART0_IRQ));
    }
}

/// The NVIC's view of an interrupt number.
#[derive(Clone, Copy)]
pub struct Irq(pub u16);

// SAFETY: the number is a valid LM3S6965 interrupt.
unsafe impl cortex_m::interrupt::InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

/// Called by the UART0 interrupt handler: mask the source so the level interrupt stops.
pub fn on_interrupt() {
    wr(IM, 0);
    wr(ICR, IM_RX | IM_RT);
}

fn rx_ready() -> bool {
    rd(FR) & FR_RXFE == 0
}

/// One received byte; sleeps until there is one.
pub fn read_byte() -> u8 {
    loop {
        if rx_ready() {
            return rd(DR) as u8;
        }
        // Sleep with interrupts masked: a byte that arrived between the check and WFI still
        // pends the RX interrupt, which wakes WFI (PRIMASK does not stop the wake-up).
        interrupt::disable();
        wr(IM, IM_RX | IM_RT);
        if !rx_ready() {
            cortex_m::asm::wfi();
        }
        wr(IM, 0);
        // SAFETY: re-enabling interrupts after the critical section above (no shared state).
        unsafe { interrupt::enable() };
    }
}

/// Fill `buf` from the line.
pub fn read_exact(buf: &mut [u8]) {
    for b in buf {
        *b = read_byte();
    }
}

/// Send bytes.
pub fn write(bytes: &[u8]) {
    for &b in bytes {
        while rd(FR) & FR_TXFF != 0 {}
        wr(DR, u32::from(b));
    }
}
