//! Test harness of the kernel's tests: the shared card of `cos-test-support` (one harness for
//! the kernel's and the applets' tests) with no applets, plus this crate's profile — its keys, an
//! FMCOS-style personalisation, and the secured commands a terminal sends, built with cos-crypto's
//! `Key` (whose known-answer tests come from the standards).
// Each test binary uses a different part of the harness (and of its re-exports).
#![allow(dead_code, unused_imports)]

use cos_core::applet::Applet;
use cos_core::crypto::{Algorithm, Key};
use cos_core::SeededRng;
pub use cos_test_support::{assert_same_image, h, MASTER_KEY, TRANSPORT_KEY};

pub const MF_LINE_KEY: [u8; 16] = *b"MF-LINE-KEY-0123";
pub const ADF_AUTH_KEY: [u8; 16] = *b"ADF-AUTH-KEY-012";
pub const ADF_LINE_KEY: [u8; 16] = *b"ADF-LINE-KEY-012";
pub const ADF_INT_KEY: [u8; 16] = *b"ADF-INT-KEY-0123";
pub const ADF_AID: &str = "A00000000386980701";

cos_test_support::card_newtype!(
    /// The shared card, seeded RNG 1, with this harness's methods.
    pub struct Card(SeededRng)
);

impl Card {
    /// A freshly formatted (pre-personalised) card.
    pub fn blank() -> Card {
        Card::blank_with(Vec::new())
    }

    pub fn blank_with(applets: Vec<Box<dyn Applet>>) -> Card {
        Card(cos_test_support::Card::blank(SeededRng::new(1), applets))
    }

    /// A card powered on from a saved NVM image (e.g. [`personalised_image`]).
    pub fn from_image(image: &[u8]) -> Card {
        Card::from_image_with(image, Vec::new())
    }

    pub fn from_image_with(image: &[u8], applets: Vec<Box<dyn Applet>>) -> Card {
        Card(cos_test_support::Card::from_image(
            image,
            SeededRng::new(1),
            applets,
        ))
    }

    /// EXTERNAL AUTHENTICATE with key `id` of the current DF, enciphered with cos-crypto's
    /// `Key` (any algorithm; shadows the shared card's 3DES-only `ext_auth`).
    pub fn ext_auth(&mut self, id: u8, key: &Key) -> u16 {
        let bs = key.algorithm().block_size();
        self.0
            .ext_auth_with(id, bs, |b| key.encrypt_block(b).unwrap())
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

    /// Select the personalised application by name (its FCI is returned).
    #[track_caller]
    pub fn select_adf(&mut self) -> Vec<u8> {
        self.ok(&format!("00A4 0400 09 {ADF_AID}"))
    }
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
    // MF key file, master key (next state F), then the MF line-protection key.
    card.init_mf();
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
