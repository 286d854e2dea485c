//! The card every integration test drives: a real kernel over a formatted `MemNvm`, a list of
//! applets, APDUs in and out like a T=0 terminal, power cycles and tearing controls. Kept in one
//! place so that the kernel's and the applets' tests exercise the card the same way.

use cos_core::applet::Applet;
use cos_core::nvm::{MemNvm, TearMode};
use cos_core::{FormatConfig, Kernel, Rng, SeededRng};

use crate::h;
use crate::purse::{encrypt_block, Alg};

/// 16 KiB of EEPROM.
pub const SIZE: usize = 16 * 1024;
/// The EEPROM's page size.
pub const PAGE: usize = 64;
/// The test card's NVM.
pub type Nvm = MemNvm<SIZE>;

/// The transport key the card is formatted with.
pub const TRANSPORT_KEY: [u8; 16] = [0xFF; 16];
/// The MF's external-authentication (issuer master) key written by [`Card::init_mf`].
pub const MASTER_KEY: [u8; 16] = *b"MASTER-KEY-01234";

/// A blank device formatted as the chip maker delivers it (transport key [`TRANSPORT_KEY`],
/// journal key drawn from a fixed seed).
pub fn formatted_nvm() -> Nvm {
    let cfg = FormatConfig {
        transport_key: TRANSPORT_KEY,
        ..FormatConfig::default()
    };
    Kernel::<Nvm, SeededRng>::format(Nvm::new(PAGE), &cfg, &mut SeededRng::new(0x10)).unwrap()
}

fn refs(applets: &mut [Box<dyn Applet>]) -> Vec<&mut dyn Applet> {
    applets
        .iter_mut()
        .map(|a| &mut **a as &mut dyn Applet)
        .collect()
}

/// A powered-on card with its applets; `R` is the card's random source.
pub struct Card<R: Rng = SeededRng> {
    kernel: Option<Kernel<Nvm, R>>,
    /// The applets on the card, in the order the kernel sees them.
    pub applets: Vec<Box<dyn Applet>>,
    /// Print every APDU and answer to stderr.
    pub log: bool,
}

impl<R: Rng> Card<R> {
    /// Power on `nvm` with `applets` (recovery runs).
    pub fn power_on(nvm: Nvm, rng: R, mut applets: Vec<Box<dyn Applet>>) -> Self {
        let kernel = Kernel::power_on(nvm, rng, &mut refs(&mut applets))
            .map_err(|e| e.0)
            .unwrap();
        Card {
            kernel: Some(kernel),
            applets,
            log: false,
        }
    }

    /// A freshly formatted (pre-personalised) card.
    pub fn blank(rng: R, applets: Vec<Box<dyn Applet>>) -> Self {
        Self::power_on(formatted_nvm(), rng, applets)
    }

    /// A card powered on from a saved NVM image.
    pub fn from_image(image: &[u8], rng: R, applets: Vec<Box<dyn Applet>>) -> Self {
        Self::power_on(Nvm::from_bytes(PAGE, image), rng, applets)
    }

    /// The kernel.
    pub fn kernel(&mut self) -> &mut Kernel<Nvm, R> {
        self.kernel.as_mut().unwrap()
    }

    /// Send exactly one APDU; returns (data, sw).
    pub fn once(&mut self, apdu: &[u8]) -> (Vec<u8>, u16) {
        let mut out = [0u8; 600];
        let n = {
            let Card {
                kernel, applets, ..
            } = self;
            kernel
                .as_mut()
                .unwrap()
                .transmit(apdu, &mut out, &mut refs(applets))
        };
        assert!(n >= 2, "no status word");
        let sw = u16::from_be_bytes([out[n - 2], out[n - 1]]);
        if self.log {
            eprintln!(
                "> {}\n< {} {:04X}",
                hex::encode_upper(apdu),
                hex::encode_upper(&out[..n - 2]),
                sw
            );
        }
        (out[..n - 2].to_vec(), sw)
    }

    /// Send raw bytes like a T=0 terminal: a 61xx answer is followed by GET RESPONSE until the
    /// card has handed out everything. Returns (data, sw).
    pub fn raw(&mut self, apdu: &[u8]) -> (Vec<u8>, u16) {
        let (mut data, mut sw) = self.once(apdu);
        while sw >> 8 == 0x61 {
            let (more, s) = self.once(&[0x00, 0xC0, 0x00, 0x00, sw as u8]);
            data.extend_from_slice(&more);
            sw = s;
        }
        (data, sw)
    }

    /// [`Card::raw`] with the APDU in hex.
    pub fn tx(&mut self, apdu: &str) -> (Vec<u8>, u16) {
        self.raw(&h(apdu))
    }

    /// The status word only.
    pub fn sw(&mut self, apdu: &str) -> u16 {
        self.tx(apdu).1
    }

    /// Send and require 9000; returns the data.
    #[track_caller]
    pub fn ok(&mut self, apdu: &str) -> Vec<u8> {
        let (d, sw) = self.tx(apdu);
        assert_eq!(sw, 0x9000, "{apdu} answered {sw:04X}");
        d
    }

    /// Send and require the status word `want`; returns the data.
    #[track_caller]
    pub fn expect(&mut self, apdu: &str, want: u16) -> Vec<u8> {
        let (d, sw) = self.tx(apdu);
        assert_eq!(sw, want, "{apdu} answered {sw:04X}, wanted {want:04X}");
        d
    }

    /// Send `apdu`, require the status word `want` and require that the NVM image (journal
    /// included) is byte-for-byte unchanged: a refused command changes nothing.
    #[track_caller]
    pub fn refuse(&mut self, apdu: &str, want: u16) {
        let before = self.image();
        self.expect(apdu, want);
        assert_same_image(&before, &self.image(), apdu);
    }

    /// Same as [`Card::refuse`] with raw bytes.
    #[track_caller]
    pub fn refuse_raw(&mut self, apdu: &[u8], want: u16) {
        let before = self.image();
        let (_, sw) = self.raw(apdu);
        assert_eq!(
            sw,
            want,
            "{} answered {sw:04X}, wanted {want:04X}",
            hex::encode_upper(apdu)
        );
        assert_same_image(&before, &self.image(), &hex::encode_upper(apdu));
    }

    /// GET CHALLENGE of `n` bytes (must answer 9000).
    pub fn challenge(&mut self, n: u8) -> Vec<u8> {
        let (d, sw) = self.raw(&[0x00, 0x84, 0x00, 0x00, n]);
        assert_eq!(sw, 0x9000);
        d
    }

    /// EXTERNAL AUTHENTICATE with key `id` of the current DF for a cipher of `block_size`
    /// bytes: a 4-byte challenge for 8-byte blocks (16 bytes otherwise), zero-padded to a block
    /// and enciphered by `encrypt`.
    pub fn ext_auth_with(
        &mut self,
        id: u8,
        block_size: usize,
        encrypt: impl FnOnce(&mut [u8]),
    ) -> u16 {
        let ch = self.challenge(if block_size == 8 { 4 } else { 16 });
        let mut block = vec![0u8; block_size];
        block[..ch.len()].copy_from_slice(&ch);
        encrypt(&mut block);
        let mut apdu = vec![0x00, 0x82, 0x00, id, block_size as u8];
        apdu.extend_from_slice(&block);
        self.raw(&apdu).1
    }

    /// EXTERNAL AUTHENTICATE with 2-key 3DES key `id` of the current DF, enciphered on the host
    /// with RustCrypto.
    pub fn ext_auth(&mut self, id: u8, key: &[u8; 16]) -> u16 {
        self.ext_auth_with(id, 8, |b| encrypt_block(Alg::Tdes, key, b))
    }

    /// The issuer's first steps on a freshly formatted card, shared by every personalisation:
    /// select the MF, prove the transport key, clear the MF (`800E`), create the MF key file and
    /// write [`MASTER_KEY`] (external authentication, next state F).
    pub fn init_mf(&mut self) {
        self.ok("00A4 0000 02 3F00");
        assert_eq!(self.ext_auth(0x00, &TRANSPORT_KEY), 0x9000);
        self.ok("800E 0000 00");
        self.ok("80E0 0000 07 3F 0060 01 F0 FFFF");
        self.ok(&format!(
            "80D4 0100 15 39 F0 F0 0F 33 {}",
            hex::encode(MASTER_KEY)
        ));
    }

    /// VERIFY PIN 00 of the current DF.
    #[track_caller]
    pub fn verify_pin(&mut self, pin: &str) -> u16 {
        let p = h(pin);
        let mut apdu = vec![0x00, 0x20, 0x00, 0x00, p.len() as u8];
        apdu.extend_from_slice(&p);
        self.raw(&apdu).1
    }

    /// Power off and on again: RAM state lost, NVM kept, recovery run.
    pub fn power_cycle(&mut self) {
        let (mut nvm, rng) = self.kernel.take().unwrap().power_off();
        nvm.power_cycle();
        let kernel = Kernel::power_on(nvm, rng, &mut refs(&mut self.applets))
            .map_err(|e| e.0)
            .unwrap();
        self.kernel = Some(kernel);
    }

    /// The reader's protocol (T=0 by default; gates and phones speak T=CL).
    pub fn set_protocol(&mut self, p: cos_core::apdu::Protocol) {
        self.kernel().set_protocol(p);
    }

    /// The whole NVM image.
    pub fn image(&mut self) -> Vec<u8> {
        self.kernel().store().nvm().as_bytes().to_vec()
    }

    /// The data area of the store (file table and file bodies), without the journal.
    pub fn data_area(&mut self) -> Vec<u8> {
        let start = self.kernel().store().data_start();
        self.image()[start..].to_vec()
    }

    /// Program operations issued by the NVM so far.
    pub fn programs(&mut self) -> u64 {
        self.kernel().store().nvm().programs()
    }

    /// Arm a power cut on program operation `k` from now.
    pub fn arm_tear(&mut self, k: u64, mode: TearMode) {
        self.kernel().store_mut().nvm_mut().arm_tear(k, mode);
    }

    /// Whether an armed power cut has happened.
    pub fn power_lost(&mut self) -> bool {
        self.kernel().store().nvm().is_power_lost()
    }
}

/// Panics with the first differing offset when two NVM images differ.
#[track_caller]
pub fn assert_same_image(before: &[u8], after: &[u8], what: &str) {
    if let Some(i) = before.iter().zip(after).position(|(a, b)| a != b) {
        panic!(
            "{what}: NVM changed at offset {i:#06X} ({:02X} -> {:02X})",
            before[i], after[i]
        );
    }
    assert_eq!(before.len(), after.len());
}
