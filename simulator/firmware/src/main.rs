//! The citizen-card COS on a Cortex-M3: the `cos-core` kernel with the e-purse, transit, social
//! insurance and library applets, bare-metal on QEMU's `lm3s6965evb`, storage in a RAM model of
//! the EEPROM ([`nvm::RamNvm`]), APDUs over UART0.
//!
//! # The line protocol (UART0, binary frames)
//!
//! Every frame, both ways, is `type (1) ‖ length (2, big-endian) ‖ payload`. The card speaks first
//! (`H`), then answers each host frame with exactly one frame:
//!
//! | host → card | payload | card → host |
//! |---|---|---|
//! | — (boot) | | `H`: `"CCOS-FW"` ‖ version (1) ‖ NVM size (4) ‖ page size (2) ‖ virgin (1) ‖ calibration: instructions (4) ‖ their ticks (4) ‖ ticks of an empty interval (4) |
//! | `F` format | transport code (8) | `R`: cost ‖ nothing — the chip formatted as the chip maker delivers it (power off) |
//! | `P` power on (cold) | RNG seed (8) | `R`: cost ‖ ATR, or `E`: reason (the store does not mount) |
//! | `W` warm reset | — | `R`: cost ‖ ATR |
//! | `A` APDU | C-APDU | `R`: cost ‖ R-APDU |
//! | `S` statistics | — | `S`: peak stack of the last frame (4) ‖ stack size (4) ‖ EEPROM pages in use (4) ‖ programs since boot (4) |
//!
//! `cost` is the SysTick ticks the card spent on the frame (8; the host turns them into
//! instructions with the hello frame's calibration, exact under QEMU `-icount`, see [`meter`]) ‖ the page programs it issued (4) ‖ the deepest stack it used (4, bytes: the stack is
//! repainted before every frame). Unknown frames and oversized payloads answer `E`.
//! The host side is `cos_sim::vectors::qemu` (`cos-sim replay … --qemu FIRMWARE`).
#![no_std]
#![no_main]

mod meter;
mod nvm;
mod uart;

use cortex_m_rt::{entry, exception};
use cos_core::apdu::MAX_COMMAND_DATA;
use cos_core::{Applet, FormatConfig, Kernel, SeededRng};
use nvm::{RamNvm, NVM_SIZE, PAGE_SIZE};

/// Largest frame payload: an extended C-APDU with the most data the transport accepts.
const MAX_FRAME: usize = 4 + 3 + MAX_COMMAND_DATA + 3;
/// R-APDU buffer: the transport's largest answer plus the status word.
const OUT_LEN: usize = cos_core::apdu::MAX_RESPONSE_DATA + 2;
/// Bytes of the cost prefix of an `R` frame.
const COST_LEN: usize = 16;

/// The EEPROM's cells: the `.nvm` region of `memory.x`, never initialised by the runtime.
#[link_section = ".nvm"]
static mut NVM_CELLS: [u8; NVM_SIZE] = [0; NVM_SIZE];

type CardKernel = Kernel<RamNvm, SeededRng>;

/// The card's power state: the kernel exists only while powered. It lives in a static (no heap to
/// box the kernel into), so the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum Power {
    Off(RamNvm),
    On(CardKernel),
    /// Only while switching.
    Switching,
}

impl Power {
    /// Cut the power (if on): RAM state gone, the EEPROM handed back.
    fn off(&mut self) -> Option<RamNvm> {
        match core::mem::replace(self, Power::Switching) {
            Power::Off(n) => Some(n),
            Power::On(k) => Some(k.power_off().0),
            Power::Switching => None,
        }
    }

    /// The EEPROM, wherever it is (none while switching). One place that looks, for the
    /// statistics below.
    fn nvm(&self) -> Option<&RamNvm> {
        match self {
            Power::Off(n) => Some(n),
            Power::On(k) => Some(k.store().nvm()),
            Power::Switching => None,
        }
    }

    /// Page programs since boot; out of line, the frame loop asks three times.
    #[inline(never)]
    fn programs(&self) -> u32 {
        self.nvm().map_or(0, RamNvm::programs)
    }
}

#[entry]
fn main() -> ! {
    meter::paint_stack();
    let cp = cortex_m::Peripherals::take();
    let Some(cp) = cp else { halt() };
    uart::init();
    let meter = meter::Meter::start(cp.SYST);

    // SAFETY: the only reference ever made to the EEPROM cells, taken once at boot.
    let cells = unsafe { &mut *core::ptr::addr_of_mut!(NVM_CELLS) };
    let Some(power) = cortex_m::singleton!(: Power = Power::Off(RamNvm::new(cells))) else {
        halt()
    };
    let virgin = {
        let mut h = [0u8; 4];
        if let Power::Off(n) = power {
            let _ = cos_core::nvm::Nvm::read(n, 0, &mut h);
        }
        h != *b"CCOS"
    };

    let mut purse = e_purse::EPurse::default();
    let mut library = library_loan::Library::default();
    let mut si_directory = social_insurance::SocialInsurance::directory();
    let mut si_medical = social_insurance::SocialInsurance::medical();
    let mut transit = transit::Transit::default();
    let mut ppse = transit::Ppse::default();
    let mut applets: [&mut dyn Applet; 6] = [
        &mut purse,
        &mut library,
        &mut si_directory,
        &mut si_medical,
        &mut transit,
        &mut ppse,
    ];

    let mut hello = [0u8; 27];
    hello[..7].copy_from_slice(b"CCOS-FW");
    hello[7] = 1;
    hello[8..12].copy_from_slice(&(NVM_SIZE as u32).to_be_bytes());
    hello[12] = (PAGE_SIZE >> 8) as u8;
    hello[13] = PAGE_SIZE as u8;
    hello[14] = u8::from(virgin);
    hello[15..19].copy_from_slice(&meter::CAL_INSNS.to_be_bytes());
    hello[19..23].copy_from_slice(&meter.cal_ticks.to_be_bytes());
    hello[23..27].copy_from_slice(&meter.empty_ticks.to_be_bytes());
    send(b'H', &[&hello]);

    let mut frame = [0u8; MAX_FRAME];
    let mut out = [0u8; OUT_LEN];
    loop {
        let mut head = [0u8; 3];
        uart::read_exact(&mut head);
        let len = usize::from(u16::from_be_bytes([head[1], head[2]]));
        if len > frame.len() {
            for _ in 0..len {
                uart::read_byte();
            }
            send(b'E', &[b"frame too long"]);
            continue;
        }
        let payload = &mut frame[..len];
        uart::read_exact(payload);
        meter::paint_stack();
        let programs_before = power.programs();
        let t0 = meter.ticks();
        let reply = handle(head[0], payload, power, &mut applets, &mut out);
        let t1 = meter.ticks();
        let mut cost = [0u8; COST_LEN];
        cost[..8].copy_from_slice(&(t1 - t0).to_be_bytes());
        cost[8..12].copy_from_slice(&power.programs().wrapping_sub(programs_before).to_be_bytes());
        cost[12..].copy_from_slice(&(meter::stack_peak().0 as u32).to_be_bytes());
        match reply {
            Reply::Answer(n) => send(b'R', &[&cost, &out[..n]]),
            Reply::Error(why) => send(b'E', &[why.as_bytes()]),
            Reply::Stats => {
                let (peak, size) = meter::stack_peak();
                let pages = power.nvm().map_or(0, RamNvm::used_pages);
                let mut s = [0u8; 16];
                s[0..4].copy_from_slice(&(peak as u32).to_be_bytes());
                s[4..8].copy_from_slice(&(size as u32).to_be_bytes());
                s[8..12].copy_from_slice(&(pages as u32).to_be_bytes());
                s[12..16].copy_from_slice(&power.programs().to_be_bytes());
                send(b'S', &[&s]);
            }
        }
    }
}

/// What a frame produced.
enum Reply {
    /// `out[..n]` follows the cost in an `R` frame.
    Answer(usize),
    /// An `E` frame.
    Error(&'static str),
    /// An `S` frame.
    Stats,
}

#[inline(never)]
fn handle(
    ty: u8,
    payload: &[u8],
    power: &mut Power,
    applets: &mut [&mut dyn Applet],
    out: &mut [u8; OUT_LEN],
) -> Reply {
    match ty {
        b'A' => match power {
            Power::On(k) => Reply::Answer(k.transmit(payload, out, applets)),
            _ => Reply::Error("the card is not powered"),
        },
        b'P' => power_on(payload, power, applets, out),
        b'W' => match power {
            Power::On(k) => {
                k.reset(applets);
                atr(out)
            }
            _ => Reply::Error("the card is not powered"),
        },
        b'F' => format(payload, power),
        b'S' => Reply::Stats,
        _ => Reply::Error("unknown frame"),
    }
}

/// Cold power-on: the kernel is rebuilt from the EEPROM (recovery runs first).
#[inline(never)]
fn power_on(
    payload: &[u8],
    power: &mut Power,
    applets: &mut [&mut dyn Applet],
    out: &mut [u8],
) -> Reply {
    let Some(nvm) = power.off() else {
        return Reply::Error("no EEPROM");
    };
    let mut seed = [0u8; 8];
    for (d, s) in seed.iter_mut().zip(payload) {
        *d = *s;
    }
    match Kernel::power_on(nvm, SeededRng::new(u64::from_be_bytes(seed)), applets) {
        Ok(k) => {
            *power = Power::On(k);
            atr(out)
        }
        Err((e, nvm, _)) => {
            *power = Power::Off(nvm);
            Reply::Error(match e {
                cos_core::nvm::MountError::Virgin => "virgin chip: format it first",
                cos_core::nvm::MountError::Corrupt => "corrupt store",
                cos_core::nvm::MountError::Nvm(_) => "NVM failure",
            })
        }
    }
}

/// The chip maker's step: wipe the EEPROM and format it (MF, transport key and code).
#[inline(never)]
fn format(payload: &[u8], power: &mut Power) -> Reply {
    let Some(mut nvm) = power.off() else {
        return Reply::Error("no EEPROM");
    };
    // Payload: transport code (8) ‖ seed of the journal key (8), which the host draws from its random
    // source: QEMU's board has no TRNG (a chip takes the key from its own).
    let mut cfg = FormatConfig::default();
    if let Some(code) = payload.get(..8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        cfg.transport_code = code;
    }
    let mut seed = [0u8; 8];
    for (d, s) in seed.iter_mut().zip(payload.iter().skip(8)) {
        *d = *s;
    }
    let mut rng = SeededRng::new(u64::from_be_bytes(seed));
    nvm.wipe();
    match Kernel::<RamNvm, SeededRng>::format(nvm, &cfg, &mut rng) {
        Ok(nvm) => {
            *power = Power::Off(nvm);
            Reply::Answer(0)
        }
        Err(_) => Reply::Error("format failed"),
    }
}

fn atr(out: &mut [u8]) -> Reply {
    let a = &cos_core::ATR;
    out[..a.len()].copy_from_slice(a);
    Reply::Answer(a.len())
}

/// Send one frame made of `parts`.
fn send(ty: u8, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    uart::write(&[ty, (len >> 8) as u8, len as u8]);
    for p in parts {
        uart::write(p);
    }
}

fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
fn SysTick() {
    meter::WRAPS.fetch_add(1, core::sync::atomic::Ordering::SeqCst);
}

/// An entry of the device interrupt table.
#[repr(C)]
pub union Vector {
    handler: unsafe extern "C" fn(),
    reserved: usize,
}

/// The device interrupts up to the one used (UART0 is IRQ 5): the other 235 entries of a full
/// table would only point at the default handler.
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
pub static __INTERRUPTS: [Vector; 6] = [
    Vector { reserved: 0 },
    Vector { reserved: 0 },
    Vector { reserved: 0 },
    Vector { reserved: 0 },
    Vector { reserved: 0 },
    Vector { handler: UART0 },
];

/// UART0 receive: the core only needed waking; stop the level interrupt.
#[no_mangle]
extern "C" fn UART0() {
    uart::on_interrupt();
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // The kernel never panics by design; should it, say so on the line and stop.
    send(b'E', &[b"panic"]);
    halt()
}
