//! The simulated card: the kernel and every applet in-process, over a RAM EEPROM that can be
//! saved as an image file and torn at any page program.
//!
//! Like a real card, [`SimCard`] holds nothing across a power cycle but its NVM: power-off drops the
//! kernel (selection, security status, transport buffers) and the applets' RAM state, and
//! power-on mounts the store, which runs recovery before the first APDU.

use crate::applets::standard_applets;
use crate::image::{Image, ImageError};
use crate::trace::TraceEntry;
use cos_core::applet::Applet;
use cos_core::nvm::{MemNvm, Nvm, NvmError, TearMode};
use cos_core::{FormatConfig, Kernel, Rng, SeededRng};
use std::path::Path;

/// Simulated EEPROM size: 32 KiB, the contact chip class of the founding documents.
pub const CHIP_SIZE: usize = 32 * 1024;
/// Simulated EEPROM page size.
pub const PAGE_SIZE: usize = 64;

/// The simulated chip (boxed: 32 KiB is too much to move around on the stack).
pub struct SimNvm(Box<MemNvm<CHIP_SIZE>>);

impl SimNvm {
    /// A factory-fresh chip (all bytes `FF`).
    pub fn blank() -> SimNvm {
        SimNvm(Box::new(MemNvm::new(PAGE_SIZE)))
    }

    /// A chip holding `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> SimNvm {
        SimNvm(Box::new(MemNvm::from_bytes(PAGE_SIZE, bytes)))
    }

    /// The chip's RAM model (tearing controls, program counter).
    pub fn chip(&self) -> &MemNvm<CHIP_SIZE> {
        &self.0
    }

    /// Mutable access to the RAM model.
    pub fn chip_mut(&mut self) -> &mut MemNvm<CHIP_SIZE> {
        &mut self.0
    }
}

impl Nvm for SimNvm {
    fn page_size(&self) -> usize {
        self.0.page_size()
    }
    fn capacity(&self) -> usize {
        self.0.capacity()
    }
    fn read(&self, addr: usize, buf: &mut [u8]) -> Result<(), NvmError> {
        self.0.read(addr, buf)
    }
    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), NvmError> {
        self.0.program(addr, data)
    }
}

/// Where the card's random numbers come from.
pub enum CardRng {
    /// Reproducible (tests, vectors, `--seed`).
    Seeded(SeededRng),
    /// The host's entropy source, as a chip TRNG would be.
    Os,
}

impl Rng for CardRng {
    fn fill(&mut self, buf: &mut [u8]) {
        match self {
            CardRng::Seeded(r) => r.fill(buf),
            CardRng::Os => {
                if getrandom::fill(buf).is_err() {
                    // No entropy source: fall back to a time-seeded generator rather than fail.
                    let t = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos() as u64)
                        .unwrap_or(0);
                    SeededRng::new(t).fill(buf);
                }
            }
        }
    }
}

/// Errors of the simulated card.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// An image file problem.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The chip could not be formatted.
    #[error("format failed: {0}")]
    Format(String),
    /// The chip content does not mount.
    #[error("the card's storage does not mount: {0}")]
    Mount(String),
}

type SimKernel = Kernel<SimNvm, CardRng>;

enum Power {
    On(Box<SimKernel>),
    Off(SimNvm, CardRng),
}

/// A placeholder while the power state is being switched (a method never leaves it in place).
fn placeholder() -> Power {
    Power::Off(SimNvm(Box::new(MemNvm::new(PAGE_SIZE))), CardRng::Os)
}

/// A whole card in-process.
pub struct SimCard {
    power: Power,
    applets: Vec<Box<dyn Applet>>,
    trace: Vec<TraceEntry>,
    tracing: bool,
    protocol: cos_core::apdu::Protocol,
}

impl SimCard {
    /// A factory-fresh chip, formatted (pre-personalised) and powered on, with the standard applets.
    /// `rng` also chooses the chip's journal key (as a chip's TRNG would at the factory).
    pub fn factory(mut rng: CardRng, cfg: &FormatConfig<'_>) -> Result<SimCard, SimError> {
        let nvm = SimKernel::format(SimNvm::blank(), cfg, &mut rng)
            .map_err(|e| SimError::Format(format!("{e:?}")))?;
        SimCard::from_nvm(nvm, rng)
    }

    /// A card from chip bytes (powered on: recovery runs).
    pub fn from_nvm(nvm: SimNvm, rng: CardRng) -> Result<SimCard, SimError> {
        let mut card = SimCard {
            power: Power::Off(nvm, rng),
            applets: standard_applets(),
            trace: Vec::new(),
            tracing: true,
            protocol: cos_core::apdu::Protocol::T0,
        };
        card.power_on()?;
        Ok(card)
    }

    /// A card from an image file.
    pub fn open(path: &Path, rng: CardRng) -> Result<SimCard, SimError> {
        let img = Image::load(path)?;
        if img.bytes.len() != CHIP_SIZE || usize::from(img.page_size) != PAGE_SIZE {
            return Err(ImageError::Geometry {
                path: path.to_path_buf(),
                page_size: img.page_size,
                capacity: img.bytes.len() as u32,
                expected_capacity: CHIP_SIZE,
            }
            .into());
        }
        SimCard::from_nvm(SimNvm::from_bytes(&img.bytes), rng).map_err(|e| match e {
            SimError::Mount(reason) => ImageError::Unmountable {
                path: path.to_path_buf(),
                reason,
            }
            .into(),
            other => other,
        })
    }

    /// Save the chip content as an image file (crash-safe).
    pub fn save(&self, path: &Path) -> Result<(), SimError> {
        Ok(self.image().save(path)?)
    }

    /// The chip content as an image.
    pub fn image(&self) -> Image {
        Image {
            page_size: PAGE_SIZE as u16,
            bytes: self.nvm().chip().as_bytes().to_vec(),
        }
    }

    fn nvm(&self) -> &SimNvm {
        match &self.power {
            Power::On(k) => k.store().nvm(),
            Power::Off(n, _) => n,
        }
    }

    fn nvm_mut(&mut self) -> &mut SimNvm {
        match &mut self.power {
            Power::On(k) => k.store_mut().nvm_mut(),
            Power::Off(n, _) => n,
        }
    }

    /// Whether the card is powered.
    pub fn is_powered(&self) -> bool {
        matches!(self.power, Power::On(_))
    }

    /// Power up: mount the store (recovery runs first) and reset every applet's RAM state.
    /// Returns the ATR. Powering an already powered card is a warm reset.
    pub fn power_on(&mut self) -> Result<Vec<u8>, SimError> {
        match std::mem::replace(&mut self.power, placeholder()) {
            Power::On(mut k) => {
                let mut refs = applet_refs(&mut self.applets);
                k.reset(&mut refs);
                let atr = k.atr().to_vec();
                self.power = Power::On(k);
                Ok(atr)
            }
            Power::Off(mut nvm, rng) => {
                nvm.chip_mut().power_cycle();
                let mut refs = applet_refs(&mut self.applets);
                match Kernel::power_on(nvm, rng, &mut refs) {
                    Ok(mut k) => {
                        k.set_protocol(self.protocol);
                        let atr = k.atr().to_vec();
                        self.power = Power::On(Box::new(k));
                        Ok(atr)
                    }
                    Err((e, nvm, rng)) => {
                        self.power = Power::Off(nvm, rng);
                        Err(SimError::Mount(format!("{e:?}")))
                    }
                }
            }
        }
    }

    /// Cut the power: all RAM state is lost, NVM keeps whatever was programmed.
    pub fn power_off(&mut self) {
        if !self.is_powered() {
            return;
        }
        if let Power::On(k) = std::mem::replace(&mut self.power, placeholder()) {
            let (nvm, rng) = k.power_off();
            self.power = Power::Off(nvm, rng);
        }
    }

    /// Warm reset (RST line): fresh RAM state, no recovery needed.
    pub fn reset(&mut self) -> Result<Vec<u8>, SimError> {
        self.power_on()
    }

    /// Arm a power cut at the `after`-th page program from now (0 = the next one), torn as `mode`.
    /// The command running when it triggers gets no answer (`transmit` returns an empty vector)
    /// and the card is off; `power_on` then runs recovery.
    pub fn arm_tear(&mut self, after: u64, mode: TearMode) {
        self.nvm_mut().chip_mut().arm_tear(after, mode);
    }

    /// Cancel an armed tear.
    pub fn disarm_tear(&mut self) {
        self.nvm_mut().chip_mut().disarm();
    }

    /// Run `f` over the card's journalled store (read access, e.g. for `cos-sim info`). A card
    /// that is off is mounted read-only for the call.
    pub fn with_storage<R>(&self, f: impl FnOnce(&dyn cos_core::nvm::Storage) -> R) -> R {
        match &self.power {
            Power::On(k) => f(k.store()),
            Power::Off(n, _) => {
                let copy = SimNvm::from_bytes(n.chip().as_bytes());
                match cos_core::nvm::Store::mount(copy) {
                    Ok(store) => f(&store),
                    // Not mountable: describe an empty store rather than fail.
                    Err(_) => f(&EmptyStorage),
                }
            }
        }
    }

    /// Page programs the chip has performed so far.
    pub fn programs(&self) -> u64 {
        self.nvm().chip().programs()
    }

    /// Send one APDU. A card that is off is powered on first, as a reader does. An empty answer
    /// means the card lost power during the command (tearing injection).
    pub fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        if !self.is_powered() && self.power_on().is_err() {
            return Vec::new();
        }
        let Power::On(k) = &mut self.power else {
            return Vec::new();
        };
        let mut out = vec![0u8; 2 + cos_core::apdu::MAX_RESPONSE_DATA];
        let mut refs = applet_refs(&mut self.applets);
        let n = k.transmit(apdu, &mut out, &mut refs);
        drop(refs);
        out.truncate(n);
        let lost = k.store().nvm().chip().is_power_lost();
        if lost {
            self.power_off();
            out.clear();
        }
        if self.tracing {
            self.trace.push(TraceEntry {
                command: apdu.to_vec(),
                response: out.clone(),
            });
        }
        out
    }

    /// Send an APDU and follow `61xx` with GET RESPONSE like a T=0 terminal; returns `(data, sw)`,
    /// or `None` when the card lost power.
    pub fn exchange(&mut self, apdu: &[u8]) -> Option<(Vec<u8>, u16)> {
        let r = self.transmit(apdu);
        let (mut data, mut sw) = split(&r)?;
        while sw >> 8 == 0x61 {
            let r = self.transmit(&[0x00, 0xC0, 0x00, 0x00, sw as u8]);
            let (more, s) = split(&r)?;
            data.extend_from_slice(&more);
            sw = s;
        }
        Some((data, sw))
    }

    /// The reader's protocol (T=0 by default, as a contact reader; transit gates and phones speak
    /// T=CL: `Protocol::T1`). Kept across power cycles, like the reader itself.
    pub fn set_protocol(&mut self, protocol: cos_core::apdu::Protocol) {
        self.protocol = protocol;
        if let Power::On(k) = &mut self.power {
            k.set_protocol(protocol);
        }
    }

    /// Turn the APDU trace on or off (on by default).
    pub fn set_tracing(&mut self, on: bool) {
        self.tracing = on;
    }

    /// The trace recorded so far.
    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// Take the trace recorded so far, leaving it empty.
    pub fn take_trace(&mut self) -> Vec<TraceEntry> {
        std::mem::take(&mut self.trace)
    }
}

fn split(r: &[u8]) -> Option<(Vec<u8>, u16)> {
    let n = r.len().checked_sub(2)?;
    let (d, sw) = r.split_at(n);
    Some((d.to_vec(), u16::from_be_bytes([sw[0], sw[1]])))
}

fn applet_refs(applets: &mut [Box<dyn Applet>]) -> Vec<&mut dyn Applet> {
    applets
        .iter_mut()
        .map(|a| &mut **a as &mut dyn Applet)
        .collect()
}

/// A store with nothing in it (for describing an unmountable chip).
struct EmptyStorage;

impl cos_core::nvm::Storage for EmptyStorage {
    fn capacity(&self) -> u32 {
        0
    }
    fn page_size(&self) -> u32 {
        PAGE_SIZE as u32
    }
    fn read(&self, _: u32, _: &mut [u8]) -> Result<(), cos_core::nvm::StoreError> {
        Err(cos_core::nvm::StoreError::OutOfBounds)
    }
    fn begin(&mut self) -> Result<(), cos_core::nvm::StoreError> {
        Err(cos_core::nvm::StoreError::OutOfBounds)
    }
    fn write(&mut self, _: u32, _: &[u8]) -> Result<(), cos_core::nvm::StoreError> {
        Err(cos_core::nvm::StoreError::NoTransaction)
    }
    fn commit(&mut self) -> Result<(), cos_core::nvm::StoreError> {
        Err(cos_core::nvm::StoreError::NoTransaction)
    }
    fn abort(&mut self) {}
    fn in_transaction(&self) -> bool {
        false
    }
    fn scrub(&mut self, _: u32, _: u32, _: u8) -> Result<(), cos_core::nvm::StoreError> {
        Err(cos_core::nvm::StoreError::OutOfBounds)
    }
    fn max_transaction_bytes(&self) -> u32 {
        0
    }
    fn programs(&self) -> u64 {
        0
    }
}
