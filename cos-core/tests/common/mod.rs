//! Test harness: a formatted card in RAM, APDUs as hex, and the host-side crypto a terminal
//! would do (from cos-crypto, whose known-answer tests come from the standards).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use cos_core::applet::Applet;
use cos_core::crypto::{Algorithm, Key};
use cos_core::nvm::MemNvm;
use cos_core::{FormatConfig, Kernel, SeededRng};

/// 16 KiB of EEPROM with 64-byte pages.
pub const SIZE: usize = 16 * 1024;
pub type Nvm = MemNvm<SIZE>;

pub const TRANSPORT_KEY: [u8; 16] = [0xFF; 16];
pub const MASTER_KEY: [u8; 16] = *b"MASTER-KEY-01234";
pub const MF_LINE_KEY: [u8; 16] = *b"MF-LINE-KEY-0123";
pub const ADF_AUTH_KEY: [u8; 16] = *b"ADF-AUTH-KEY-012";
pub const ADF_LINE_KEY: [u8; 16] = *b"ADF-LINE-KEY-012";
pub const ADF_INT_KEY: [u8; 16] = *b"ADF-INT-KEY-0123";
pub const ADF_AID: &str = "A00000000386980701";

pub fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(s).unwrap()
}

pub struct Card {
    kernel: Option<Kernel<Nvm, SeededRng>>,
    pub applets: Vec<Box<dyn Applet>>,
    pub log: bool,
}

impl Card {
    /// A freshly formatted (pre-personalised) card.
    pub fn blank() -> Card {
        Card::blank_with(Vec::new())
    }

    pub fn blank_with(mut applets: Vec<Box<dyn Applet>>) -> Card {
        let cfg = FormatConfig {
            transport_key: TRANSPORT_KEY,
            ..FormatConfig::default()
        };
        let nvm = Kernel::<Nvm, SeededRng>::format(Nvm::new(64), &cfg, &mut SeededRng::new(0x10))
            .unwrap();
        let mut refs: Vec<&mut dyn Applet> = applets
            .iter_mut()
            .map(|a| &mut **a as &mut dyn Applet)
            .collect();
        let kernel = Kernel::power_on(nvm, SeededRng::new(1), &mut refs)
            .map_err(|e| e.0)
            .unwrap();
        drop(refs);
        Card {
            kernel: Some(kernel),
            applets,
            log: false,
        }
    }

    pub fn kernel(&mut self) -> &mut Kernel<Nvm, SeededRng> {
        self.kernel.as_mut().unwrap()
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

    /// Send exactly one APDU; returns (data, sw).
    pub fn once(&mut self, apdu: &[u8]) -> (Vec<u8>, u16) {
        let mut out = [0u8; 600];
        let mut refs: Vec<&mut dyn Applet> = self
            .applets
            .iter_mut()
            .map(|a| &mut **a as &mut dyn Applet)
            .collect();
        let n = self
            .kernel
            .as_mut()
            .unwrap()
            .transmit(apdu, &mut out, &mut refs);
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

    pub fn tx(&mut self, apdu: &str) -> (Vec<u8>, u16) {
        self.raw(&h(apdu))
    }

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

    #[track_caller]
    pub fn expect(&mut self, apdu: &str, want: u16) -> Vec<u8> {
        let (d, sw) = self.tx(apdu);
        assert_eq!(sw, want, "{apdu} answered {sw:04X}, wanted {want:04X}");
        d
    }

    pub fn challenge(&mut self, n: u8) -> Vec<u8> {
        let (d, sw) = self.raw(&[0x00, 0x84, 0x00, 0x00, n]);
        assert_eq!(sw, 0x9000);
        d
    }

    /// EXTERNAL AUTHENTICATE with key `id` of the current DF.
    pub fn ext_auth(&mut self, id: u8, key: &Key) -> u16 {
        let bs = key.algorithm().block_size();
        let ch = self.challenge(if bs == 8 { 4 } else { 16 });
        let mut block = vec![0u8; bs];
        block[..ch.len()].copy_from_slice(&ch);
        key.encrypt_block(&mut block).unwrap();
        let mut apdu = vec![0x00, 0x82, 0x00, id, bs as u8];
        apdu.extend_from_slice(&block);
        self.raw(&apdu).1
    }

    /// A line-protected command: GET CHALLENGE, then `header ‖ Lc ‖ data ‖ MAC` (Lc counts the
    /// MAC); with `enc`, data is first encrypted as `Ld ‖ data ‖ 80 00…` under `enc`.
    pub fn secured(
        &mut self,
        header: [u8; 4],
        data: &[u8],
        mac_key: &Key,
        enc: Option<&Key>,
    ) -> u16 {
        self.secured_full(header, data, mac_key, enc).1
    }

    pub fn secured_full(
        &mut self,
        header: [u8; 4],
        data: &[u8],
        mac_key: &Key,
        enc: Option<&Key>,
    ) -> (Vec<u8>, u16) {
        let apdu = self.build_secured(header, data, mac_key, enc);
        self.raw(&apdu)
    }

    pub fn build_secured(
        &mut self,
        header: [u8; 4],
        data: &[u8],
        mac_key: &Key,
        enc: Option<&Key>,
    ) -> Vec<u8> {
        let bs = mac_key.algorithm().block_size();
        let ch = self.challenge(4);
        let body = match enc {
            Some(k) => {
                let ebs = k.algorithm().block_size();
                let mut b = vec![data.len() as u8];
                b.extend_from_slice(data);
                b.push(0x80);
                while b.len() % ebs != 0 {
                    b.push(0);
                }
                k.encrypt_ecb(&mut b).unwrap();
                b
            }
            None => data.to_vec(),
        };
        let lc = (body.len() + 4) as u8;
        let mut iv = vec![0u8; bs];
        iv[..4].copy_from_slice(&ch);
        let mac = mac_key.mac(&iv, &[&header, &[lc], &body]).unwrap().first4();
        let mut apdu = header.to_vec();
        apdu.push(lc);
        apdu.extend_from_slice(&body);
        apdu.extend_from_slice(&mac);
        apdu
    }

    /// Power off and on again (RAM state lost, NVM kept, recovery run).
    pub fn power_cycle(&mut self) {
        let (mut nvm, rng) = self.kernel.take().unwrap().power_off();
        nvm.power_cycle();
        let mut refs: Vec<&mut dyn Applet> = self
            .applets
            .iter_mut()
            .map(|a| &mut **a as &mut dyn Applet)
            .collect();
        let k = Kernel::power_on(nvm, rng, &mut refs)
            .map_err(|e| e.0)
            .unwrap();
        drop(refs);
        self.kernel = Some(k);
    }

    pub fn image(&mut self) -> Vec<u8> {
        self.kernel().store().nvm().as_bytes().to_vec()
    }

    /// A card powered on from a saved NVM image (e.g. [`personalised_image`]).
    pub fn from_image(image: &[u8]) -> Card {
        Card::from_image_with(image, Vec::new())
    }

    pub fn from_image_with(image: &[u8], mut applets: Vec<Box<dyn Applet>>) -> Card {
        let nvm = Nvm::from_bytes(64, image);
        let mut refs: Vec<&mut dyn Applet> = applets
            .iter_mut()
            .map(|a| &mut **a as &mut dyn Applet)
            .collect();
        let kernel = Kernel::power_on(nvm, SeededRng::new(1), &mut refs)
            .map_err(|e| e.0)
            .unwrap();
        drop(refs);
        Card {
            kernel: Some(kernel),
            applets,
            log: false,
        }
    }

    /// The data area of the store (file table and file bodies), without the journal.
    pub fn data_area(&mut self) -> Vec<u8> {
        let start = self.kernel().store().data_start();
        self.image()[start..].to_vec()
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

    /// Select the personalised application by name (its FCI is returned).
    #[track_caller]
    pub fn select_adf(&mut self) -> Vec<u8> {
        self.ok(&format!("00A4 0400 09 {ADF_AID}"))
    }

    /// VERIFY PIN 00 of the current DF.
    #[track_caller]
    pub fn verify_pin(&mut self, pin: &str) -> u16 {
        let p = h(pin);
        let mut apdu = vec![0x00, 0x20, 0x00, 0x00, p.len() as u8];
        apdu.extend_from_slice(&p);
        self.raw(&apdu).1
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

/// The NVM image of a card right after [`personalise`] (computed once per test binary).
pub fn personalised_image() -> &'static [u8] {
    static IMAGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    IMAGE.get_or_init(|| {
        let mut c = Card::blank();
        personalise(&mut c);
        c.image()
    })
}

/// A freshly powered-on personalised card (MF current, nothing proved).
pub fn personalised() -> Card {
    Card::from_image(personalised_image())
}

/// A personalised card with the application selected.
pub fn in_adf() -> Card {
    let mut c = personalised();
    c.select_adf();
    c
}

/// The personalised card issued (ACTIVATE FILE on the MF), then power-cycled.
pub fn issued_image() -> &'static [u8] {
    static IMAGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    IMAGE.get_or_init(|| {
        let mut c = personalised();
        assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
        c.ok("0044 0000");
        c.image()
    })
}

pub fn issued() -> Card {
    Card::from_image(issued_image())
}

pub fn tdes(k: &[u8; 16]) -> Key {
    Key::new(Algorithm::Tdes, k).unwrap()
}

/// The personalisation every scenario starts from (FMCOS-style script):
/// MF with master key (ext auth 00, next state F) and line key; ADF `A00000000386980701` with
/// its key file, ext auth key 01 (next state 2), line key, PIN 00 `123456` (3 tries, next state
/// 1), internal auth key, and EFs:
/// * 0015 transparent 30 B, free read, write after ext auth (rights F0 / F2... see below)
/// * 0016 transparent 16 B line-MAC protected, read after PIN (F1), write free-with-MAC (F0)
/// * 0017 linear fixed 3 × 16, 0018 cyclic 5 × 8, 0019 linear variable 64 B, 001A transparent
///   `+C0` encrypted 16 B.
pub fn personalise(card: &mut Card) {
    card.ok("00A4 0000 02 3F00");
    assert_eq!(card.ext_auth(0x00, &tdes(&TRANSPORT_KEY)), 0x9000);
    card.ok("800E 0000 00");
    // MF key file, master key (next state F), MF line-protection key.
    card.ok("80E0 0000 07 3F 0060 01 F0 FFFF");
    card.ok(&format!(
        "80D4 0100 15 39 F0 F0 0F 33 {}",
        hex::encode(MASTER_KEY)
    ));
    card.ok(&format!(
        "80D4 0100 15 36 F0 F0 FF 33 {}",
        hex::encode(MF_LINE_KEY)
    ));
    // The ADF: 0x0400 bytes, create right F0, erase right 0F (issuer only).
    card.ok(&format!("80E0 3F01 11 38 0400 F0 0F 95 FFFF {ADF_AID}"));
    card.ok(&format!("00A4 0400 09 {ADF_AID}"));
    card.ok("80E0 0000 07 3F 0100 01 F0 FFFF");
    card.ok(&format!(
        "80D4 0101 15 39 F0 F0 02 33 {}",
        hex::encode(ADF_AUTH_KEY)
    ));
    card.ok(&format!(
        "80D4 0100 15 36 F0 F0 FF 33 {}",
        hex::encode(ADF_LINE_KEY)
    ));
    card.ok(&format!(
        "80D4 0101 15 30 F0 F0 01 00 {}",
        hex::encode(ADF_INT_KEY)
    ));
    card.ok("80D4 0100 08 3A F0 EF 01 33 123456");
    card.ok("80E0 0015 07 28 001E F0 F2 FFFF");
    card.ok("80E0 0016 07 A8 0010 F1 F0 FFFF");
    card.ok("80E0 0017 07 2A 03 10 F0 F0 FFFF");
    card.ok("80E0 0018 07 2E 05 08 F0 F0 FFFF");
    card.ok("80E0 0019 07 2C 0040 F0 F0 FFFF");
    card.ok("80E0 001A 07 E8 0010 F0 F0 FFFF");
}

/// APPLICATION BLOCK (P2 00 temporary, 01 permanent) of the current application, MAC'd with the
/// application's line-protection key.
pub fn app_block(c: &mut Card, p2: u8) -> u16 {
    c.secured([0x84, 0x1E, 0x00, p2], &[], &tdes(&ADF_LINE_KEY), None)
}

/// APPLICATION UNBLOCK of the current application.
pub fn app_unblock(c: &mut Card) -> u16 {
    c.secured([0x84, 0x18, 0x00, 0x00], &[], &tdes(&ADF_LINE_KEY), None)
}

/// The name of the MF as formatted ("1PAY.SYS.DDF01").
pub const MF_NAME: &str = "315041592E5359532E4444463031";
