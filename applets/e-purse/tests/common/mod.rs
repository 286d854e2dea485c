//! Test harness of the e-purse tests: the shared card of `cos-test-support` (one harness for the
//! kernel's and the applets' tests) with the e-purse applet, an FMCOS-style personalisation of the
//! purse ADF (keys diversified from issuer master keys with the card's ASN), and a reference
//! terminal that runs whole transactions and checks every MAC and TAC the card returns with the
//! shared host crypto (`terminal`, RustCrypto only, independent of cos-crypto).
// Each test binary uses a different part of the harness (and of its re-exports).
#![allow(dead_code, unused_imports)]

/// The host-side purse crypto, under the path the tests use.
pub mod terminal {
    pub use cos_test_support::purse::*;
}

use cos_core::applet::Applet;
use cos_core::{Rng, SeededRng};
pub use cos_test_support::{assert_same_image, h};
use cos_test_support::{be24, be32};
use e_purse::{EPurse, PurseLimits, DEFAULT_AID};
use terminal::{cat, diversify, mac, session_key, tac, Alg};

pub const ADF_LINE_KEY: [u8; 16] = *b"ADF-LINE-KEY-012";
pub const PIN_RELOAD_KEY: [u8; 16] = *b"PIN-RELOAD-KEY-0";
pub const PIN: &str = "123456";
pub const AID: &str = "A00000000386980701";
/// Application serial number (10 bytes); its last 8 bytes diversify the card keys.
pub const ASN: [u8; 10] = [0x86, 0x98, 0x07, 0x01, 0x20, 0x26, 0x00, 0x00, 0x04, 0x21];

/// The published worked examples' key (unequal halves on purpose).
pub const KAT_TDES: &str = "11223344556677888877665544332211";
/// GB/T 32907 example key, used for the SM4 known answers.
pub const KAT_SM4: &str = "0123456789abcdeffedcba9876543210";
/// FIPS 197 / RFC 4493 example key, used for the AES known answers.
pub const KAT_AES: &str = "2b7e151628aed2a6abf7158809cf4f3c";

pub fn asn8() -> [u8; 8] {
    ASN[2..].try_into().unwrap()
}

// ---------------------------------------------------------------------------------------------
// RNG

/// The card's random source in tests: fixed (the worked examples' `11223344`) or seeded.
#[derive(Clone, Debug)]
pub enum TestRng {
    Fixed([u8; 4]),
    Seeded(SeededRng),
}

impl Rng for TestRng {
    fn fill(&mut self, buf: &mut [u8]) {
        match self {
            TestRng::Fixed(v) => {
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = v[i % 4];
                }
            }
            TestRng::Seeded(r) => r.fill(buf),
        }
    }
}

pub fn seeded() -> TestRng {
    TestRng::Seeded(SeededRng::new(7))
}

// ---------------------------------------------------------------------------------------------
// Card

cos_test_support::card_newtype!(
    /// The shared card with one applet (the purse, or a front-end around it).
    pub struct Card(TestRng)
);

impl Card {
    /// A freshly formatted card with the purse applet.
    pub fn blank(rng: TestRng) -> Card {
        Card(cos_test_support::Card::blank(
            rng,
            vec![Box::new(EPurse::default())],
        ))
    }

    /// A card with the purse applet powered on from an NVM image.
    pub fn from_image(image: &[u8], rng: TestRng, purse: EPurse) -> Card {
        Card::from_image_with(image, rng, Box::new(purse))
    }

    /// A card with any applet (e.g. a front-end around the purse) powered on from an image.
    pub fn from_image_with(image: &[u8], rng: TestRng, applet: Box<dyn Applet>) -> Card {
        Card(cos_test_support::Card::from_image(image, rng, vec![applet]))
    }

    /// An issuer command under the ADF's line-protection key (CLA 84, MAC over the header ‖ Lc ‖
    /// data with the challenge as IV, retail MAC).
    pub fn secured(&mut self, header: [u8; 4], data: &[u8]) -> u16 {
        let ch = self.challenge(4);
        let lc = (data.len() + 4) as u8;
        let mut iv = [0u8; 8];
        iv[..4].copy_from_slice(&ch);
        // CBC with IV = XOR the IV into the first block of the padded input.
        let mut input = cat(&[&header, &[lc], data]);
        for (x, y) in input.iter_mut().zip(iv.iter()) {
            *x ^= *y;
        }
        let m = mac(Alg::Tdes, &ADF_LINE_KEY, &input);
        let mut apdu = header.to_vec();
        apdu.push(lc);
        apdu.extend_from_slice(data);
        apdu.extend_from_slice(&m);
        self.raw(&apdu).1
    }

    #[track_caller]
    pub fn select_adf(&mut self) -> Vec<u8> {
        self.ok(&format!("00A4 0400 09 {AID}"))
    }

    /// GET BALANCE (`p2` 01 ED, 02 EP).
    pub fn balance(&mut self, p2: u8) -> Result<u32, u16> {
        let (d, sw) = self.raw(&[0x80, 0x5C, 0x00, p2, 0x04]);
        if sw == 0x9000 {
            Ok(u32::from_be_bytes(d.try_into().unwrap()))
        } else {
            Err(sw)
        }
    }

    /// The newest log record (SFI 18, record 1), if any.
    pub fn last_log(&mut self) -> Option<Vec<u8>> {
        let (d, sw) = self.tx("00B2 01C4 00");
        (sw == 0x9000).then_some(d)
    }

    /// Number of log records.
    pub fn log_count(&mut self) -> usize {
        (1..=255u8)
            .take_while(|n| self.raw(&[0x00, 0xB2, *n, 0xC4, 0x00]).1 == 0x9000)
            .count()
    }
}

// ---------------------------------------------------------------------------------------------
// Keys and personalisation

/// The five purse keys of one key index.
#[derive(Clone, Debug)]
pub struct PurseKeys {
    pub dlk: Vec<u8>,
    pub dpk: Vec<u8>,
    pub dtk: Vec<u8>,
    pub duk: Vec<u8>,
    pub dulk: Vec<u8>,
}

impl PurseKeys {
    pub fn same(k: &[u8]) -> PurseKeys {
        PurseKeys {
            dlk: k.to_vec(),
            dpk: k.to_vec(),
            dtk: k.to_vec(),
            duk: k.to_vec(),
            dulk: k.to_vec(),
        }
    }
}

/// One key index as personalised.
#[derive(Clone, Debug)]
pub struct KeySet {
    pub index: u8,
    pub alg: Alg,
    pub version: u8,
    /// Try-counter byte (our WRITE KEY extension); `None` = FMCOS layout, not try-limited.
    pub tries: Option<u8>,
    pub keys: PurseKeys,
}

/// Issuer master key of a key type and algorithm (deterministic test values).
pub fn master_key(ty: u8, alg: Alg) -> Vec<u8> {
    (0..16u8)
        .map(|i| ty.wrapping_mul(31) ^ i.wrapping_mul(47) ^ alg.id().wrapping_mul(13))
        .collect()
}

/// The issuer side: card keys = diversify(master key, ASN8).
pub fn diversified(alg: Alg) -> PurseKeys {
    let d = |ty| diversify(alg, &master_key(ty, alg), &asn8());
    PurseKeys {
        dlk: d(0x3F),
        dpk: d(0x3E),
        dtk: d(0x34),
        duk: d(0x3D),
        dulk: d(0x3C),
    }
}

/// The standard card: index 01 3DES, 02 SM4, 03 AES (try counters `33`), 04 3DES without try
/// counter (plain FMCOS layout); all diversified from master keys.
pub fn standard_sets() -> Vec<KeySet> {
    let mut v: Vec<KeySet> = Alg::ALL
        .iter()
        .enumerate()
        .map(|(i, &alg)| KeySet {
            index: i as u8 + 1,
            alg,
            version: 0x01,
            tries: Some(0x33),
            keys: diversified(alg),
        })
        .collect();
    v.push(KeySet {
        index: 0x04,
        alg: Alg::Tdes,
        version: 0x02,
        tries: None,
        keys: diversified(Alg::Tdes),
    });
    v
}

/// The known-answer card: index 01 = the worked examples' 3DES key (version 02), 02 the SM4
/// example key, 03 the AES example key; no try counters.
pub fn kat_sets() -> Vec<KeySet> {
    [
        (Alg::Tdes, KAT_TDES),
        (Alg::Sm4, KAT_SM4),
        (Alg::Aes, KAT_AES),
    ]
    .iter()
    .enumerate()
    .map(|(i, (alg, k))| KeySet {
        index: i as u8 + 1,
        alg: *alg,
        version: 0x02,
        tries: None,
        keys: PurseKeys::same(&h(k)),
    })
    .collect()
}

#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub deposit: bool,
    pub wallet: bool,
}

impl Layout {
    pub const BOTH: Layout = Layout {
        deposit: true,
        wallet: true,
    };
}

fn write_key(card: &mut Card, ty: u8, index: u8, set: &KeySet, key: &[u8]) {
    let mut data = vec![ty, 0xF0, 0xF0, set.version, set.alg.id()];
    data.extend_from_slice(key);
    if let Some(t) = set.tries {
        data.push(t);
    }
    let mut apdu = vec![0x80, 0xD4, 0x01, index, data.len() as u8];
    apdu.extend_from_slice(&data);
    let (_, sw) = card.raw(&apdu);
    assert_eq!(sw, 0x9000, "WRITE KEY {ty:02X} {index:02X}");
}

/// Write (or rewrite) the purse keys of a set.
pub fn write_keyset(card: &mut Card, set: &KeySet) {
    let k = &set.keys;
    for (ty, key) in [
        (0x3F, &k.dlk),
        (0x3E, &k.dpk),
        (0x34, &k.dtk),
        (0x3D, &k.duk),
        (0x3C, &k.dulk),
    ] {
        write_key(card, ty, set.index, set, key);
    }
}

/// FMCOS-style personalisation of the purse ADF.
pub fn personalise(card: &mut Card, sets: &[KeySet], layout: Layout) {
    card.init_mf();
    // The purse ADF: 0x0600 bytes, create right F0, erase right 0F.
    card.ok(&format!("80E0 3F01 11 38 0600 F0 0F 95 FFFF {AID}"));
    card.ok(&format!("00A4 0400 09 {AID}"));
    // Key file: 24 records.
    card.ok("80E0 0000 07 3F 0240 01 F0 FFFF");
    card.ok(&format!(
        "80D4 0100 15 36 F0 F0 FF 33 {}",
        hex::encode(ADF_LINE_KEY)
    ));
    card.ok(&format!(
        "80D4 0100 15 38 F0 F0 FF 33 {}",
        hex::encode(PIN_RELOAD_KEY)
    ));
    card.ok(&format!("80D4 0100 08 3A F0 EF 01 33 {PIN}"));
    for set in sets {
        write_keyset(card, set);
    }
    // EF 15: issuer id (8), app type, app version, ASN (10), start, expiry, issuer data (2).
    card.ok("80E0 0015 07 28 001E F0 F0 FFFF");
    let ef15 = cat(&[
        &h("D156000015000000"),
        &[0x02, 0x01],
        &ASN,
        &h("20260101 20351231 0000"),
    ]);
    assert_eq!(ef15.len(), 30);
    card.ok(&format!("00D6 9500 1E {}", hex::encode(&ef15)));
    // EF 16: cardholder data.
    card.ok("80E0 0016 07 28 0037 F0 F0 FFFF");
    // EF 18: transaction log, cyclic 10 × 23, read free, never written from outside.
    card.ok("80E0 0018 07 2E 0A 17 F0 EF FFFF");
    // The purses: internal EFs, 1 × 24 bytes; ED usable after the PIN (F1), EP free (F0).
    if layout.deposit {
        card.ok("80E0 0001 07 2F 01 18 F1 00 FF 18");
    }
    if layout.wallet {
        card.ok("80E0 0002 07 2F 01 18 F0 00 FF 18");
    }
    // A record file standing in for a transit (CAPP) compound file: 3 × 16, updated only through
    // a CAPP purchase's staged write.
    card.ok("80E0 0017 07 2A 03 10 F0 EF FFFF");
}

fn image_of(sets: &[KeySet], layout: Layout) -> Vec<u8> {
    let mut c = Card::blank(seeded());
    personalise(&mut c, sets, layout);
    c.power_cycle();
    c.image()
}

/// The standard personalised image (computed once per test binary).
pub fn standard_image() -> &'static [u8] {
    static IMAGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    IMAGE.get_or_init(|| image_of(&standard_sets(), Layout::BOTH))
}

/// The known-answer image.
pub fn kat_image() -> &'static [u8] {
    static IMAGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    IMAGE.get_or_init(|| image_of(&kat_sets(), Layout::BOTH))
}

/// An image with only the EP.
pub fn wallet_only_image() -> &'static [u8] {
    static IMAGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    IMAGE.get_or_init(|| {
        image_of(
            &standard_sets(),
            Layout {
                deposit: false,
                wallet: true,
            },
        )
    })
}

/// A standard card, ADF selected, seeded RNG, default limits.
pub fn standard() -> Card {
    standard_with(EPurse::default())
}

pub fn standard_with(purse: EPurse) -> Card {
    let mut c = Card::from_image(standard_image(), seeded(), purse);
    c.select_adf();
    c
}

pub fn with_limits(max_balance: u32, atc_limit: u16) -> EPurse {
    EPurse::new(
        DEFAULT_AID,
        PurseLimits::new(e_purse::Amount(max_balance), e_purse::Atc(atc_limit)).unwrap(),
    )
}

// ---------------------------------------------------------------------------------------------
// The reference terminal's transactions

pub const TERMINAL: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
pub const LOAD_DT: [u8; 7] = [0x20, 0x11, 0x12, 0x21, 0x21, 0x48, 0x22];
pub const PURCHASE_DT: [u8; 7] = [0x20, 0x12, 0x02, 0x29, 0x13, 0x51, 0x00];

/// How a test wants the terminal to misbehave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tamper {
    /// Flip a bit of the MAC the terminal sends.
    pub bad_mac: bool,
}

/// INITIALIZE FOR LOAD / UNLOAD / UPDATE answer.
#[derive(Clone, Debug)]
pub struct OnlineInit {
    pub balance: u32,
    pub atc: u16,
    pub limit: u32,
    pub version: u8,
    pub alg: u8,
    pub random: [u8; 4],
    pub mac1: [u8; 4],
}

/// INITIALIZE FOR PURCHASE answer.
#[derive(Clone, Debug)]
pub struct PurchaseInit {
    pub balance: u32,
    pub atc: u16,
    pub limit: u32,
    pub version: u8,
    pub alg: u8,
    pub random: [u8; 4],
}

/// A completed transaction, as checked by the terminal.
#[derive(Clone, Debug)]
pub struct Done {
    /// Counter returned by INITIALIZE.
    pub atc: u16,
    pub balance_before: u32,
    pub balance_after: u32,
    /// MAC2 (purchase: the card's; load/update: the host's), MAC3 for an unload.
    pub mac: [u8; 4],
    pub tac: [u8; 4],
}

/// Send `apdu`; on 9000 require an answer of `len` bytes and return it, else the status word.
#[track_caller]
fn answer(card: &mut Card, apdu: &[u8], len: usize, what: &str) -> Result<Vec<u8>, u16> {
    let (d, sw) = card.raw(apdu);
    if sw != 0x9000 {
        return Err(sw);
    }
    assert_eq!(d.len(), len, "{what} answer length");
    Ok(d)
}

#[derive(Clone)]
pub struct Terminal {
    pub id: [u8; 6],
    pub sets: Vec<KeySet>,
    pub ttc: u32,
    pub load_dt: [u8; 7],
    pub purchase_dt: [u8; 7],
}

impl Terminal {
    pub fn new(sets: Vec<KeySet>) -> Terminal {
        Terminal {
            id: TERMINAL,
            sets,
            ttc: 0,
            load_dt: LOAD_DT,
            purchase_dt: PURCHASE_DT,
        }
    }

    pub fn standard() -> Terminal {
        Terminal::new(standard_sets())
    }

    pub fn kat() -> Terminal {
        Terminal::new(kat_sets())
    }

    pub fn set(&self, index: u8) -> &KeySet {
        self.sets.iter().find(|s| s.index == index).unwrap()
    }

    fn init_apdu(&self, p1: u8, p2: u8, index: u8, amount: u32) -> Vec<u8> {
        cat(&[
            &[0x80, 0x50, p1, p2, 0x0B, index],
            &amount.to_be_bytes(),
            &self.id,
            &[0x00],
        ])
    }

    /// INITIALIZE FOR LOAD (p1 00) or UNLOAD (p1 05).
    pub fn init_online(
        &self,
        card: &mut Card,
        p1: u8,
        p2: u8,
        index: u8,
        amount: u32,
    ) -> Result<OnlineInit, u16> {
        let apdu = self.init_apdu(p1, p2, index, amount);
        let d = answer(card, &apdu, 16, "INITIALIZE")?;
        Ok(OnlineInit {
            balance: be32(&d[0..4]),
            atc: u16::from_be_bytes([d[4], d[5]]),
            limit: 0,
            version: d[6],
            alg: d[7],
            random: d[8..12].try_into().unwrap(),
            mac1: d[12..16].try_into().unwrap(),
        })
    }

    fn online_session(&self, set: &KeySet, key: &[u8], init: &OnlineInit) -> Vec<u8> {
        let input: [u8; 8] = cat(&[&init.random, &init.atc.to_be_bytes(), &[0x80, 0x00]])
            .try_into()
            .unwrap();
        session_key(set.alg, key, &input)
    }

    /// Full load: INITIALIZE (MAC1 checked), CREDIT (MAC2), TAC checked.
    pub fn load(&mut self, card: &mut Card, index: u8, p2: u8, amount: u32) -> Result<Done, u16> {
        self.load_with(card, index, p2, amount, Tamper::default())
    }

    pub fn load_with(
        &mut self,
        card: &mut Card,
        index: u8,
        p2: u8,
        amount: u32,
        tamper: Tamper,
    ) -> Result<Done, u16> {
        let init = self.init_online(card, 0x00, p2, index, amount)?;
        let apdu = self.credit_apdu(index, p2, amount, &init, tamper);
        let (d, sw) = card.raw(&apdu);
        if sw != 0x9000 {
            return Err(sw);
        }
        Ok(self.check_load(index, p2, amount, &init, &apdu, &d))
    }

    /// CREDIT FOR LOAD for an answered INITIALIZE FOR LOAD (checks MAC1 first).
    pub fn credit_apdu(
        &self,
        index: u8,
        p2: u8,
        amount: u32,
        init: &OnlineInit,
        tamper: Tamper,
    ) -> Vec<u8> {
        let set = self.set(index).clone();
        assert_eq!(init.alg, set.alg.id(), "algorithm id");
        assert_eq!(init.version, set.version, "key version");
        let ty = p2; // 01 ED load, 02 EP load
        let sk = self.online_session(&set, &set.keys.dlk, init);
        let mac1 = mac(
            set.alg,
            &sk,
            &cat(&[
                &init.balance.to_be_bytes(),
                &amount.to_be_bytes(),
                &[ty],
                &self.id,
            ]),
        );
        assert_eq!(mac1, init.mac1, "card's MAC1");
        let mut mac2 = mac(
            set.alg,
            &sk,
            &cat(&[&amount.to_be_bytes(), &[ty], &self.id, &self.load_dt]),
        );
        if tamper.bad_mac {
            mac2[0] ^= 0x01;
        }
        cat(&[&h("8052 0000 0B"), &self.load_dt, &mac2, &[0x04]])
    }

    fn check_load(
        &self,
        index: u8,
        p2: u8,
        amount: u32,
        init: &OnlineInit,
        apdu: &[u8],
        rsp: &[u8],
    ) -> Done {
        let set = self.set(index);
        assert_eq!(rsp.len(), 4);
        let new = init.balance + amount;
        let want = tac(
            set.alg,
            &set.keys.dtk,
            &cat(&[
                &new.to_be_bytes(),
                &init.atc.to_be_bytes(),
                &amount.to_be_bytes(),
                &[p2],
                &self.id,
                &self.load_dt,
            ]),
        );
        assert_eq!(rsp, want, "load TAC");
        Done {
            atc: init.atc,
            balance_before: init.balance,
            balance_after: new,
            mac: apdu[12..16].try_into().unwrap(),
            tac: want,
        }
    }

    /// INITIALIZE FOR PURCHASE (p1 01), CASH WITHDRAW (p1 02).
    pub fn init_purchase(
        &self,
        card: &mut Card,
        p1: u8,
        p2: u8,
        index: u8,
        amount: u32,
    ) -> Result<PurchaseInit, u16> {
        let apdu = self.init_apdu(p1, p2, index, amount);
        let d = answer(card, &apdu, 15, "INITIALIZE FOR PURCHASE")?;
        Ok(PurchaseInit {
            balance: be32(&d[0..4]),
            atc: u16::from_be_bytes([d[4], d[5]]),
            limit: be24(&d[6..9]),
            version: d[9],
            alg: d[10],
            random: d[11..15].try_into().unwrap(),
        })
    }

    fn purchase_session(&self, set: &KeySet, init: &PurchaseInit, ttc: u32) -> Vec<u8> {
        let t = ttc.to_be_bytes();
        let input: [u8; 8] = cat(&[&init.random, &init.atc.to_be_bytes(), &t[2..]])
            .try_into()
            .unwrap();
        session_key(set.alg, &set.keys.dpk, &input)
    }

    /// DEBIT FOR PURCHASE for an answered INITIALIZE (uses the next TTC).
    pub fn debit_apdu(
        &mut self,
        index: u8,
        ty: u8,
        amount: u32,
        init: &PurchaseInit,
        tamper: Tamper,
    ) -> Vec<u8> {
        self.ttc += 1;
        let set = self.set(index).clone();
        assert_eq!(init.alg, set.alg.id(), "algorithm id");
        assert_eq!(init.version, set.version, "key version");
        let sk = self.purchase_session(&set, init, self.ttc);
        let mut mac1 = mac(
            set.alg,
            &sk,
            &cat(&[&amount.to_be_bytes(), &[ty], &self.id, &self.purchase_dt]),
        );
        if tamper.bad_mac {
            mac1[3] ^= 0x80;
        }
        cat(&[
            &h("8054 0100 0F"),
            &self.ttc.to_be_bytes(),
            &self.purchase_dt,
            &mac1,
            &[0x08],
        ])
    }

    /// Check DEBIT's TAC ‖ MAC2 (TTC as sent).
    pub fn check_debit(
        &self,
        index: u8,
        ty: u8,
        amount: u32,
        init: &PurchaseInit,
        ttc: u32,
        rsp: &[u8],
    ) -> Done {
        let set = self.set(index);
        assert_eq!(rsp.len(), 8);
        let sk = self.purchase_session(set, init, ttc);
        let mac2 = mac(set.alg, &sk, &amount.to_be_bytes());
        let want_tac = tac(
            set.alg,
            &set.keys.dtk,
            &cat(&[
                &amount.to_be_bytes(),
                &[ty],
                &self.id,
                &ttc.to_be_bytes(),
                &self.purchase_dt,
            ]),
        );
        assert_eq!(&rsp[..4], want_tac, "purchase TAC");
        assert_eq!(&rsp[4..], mac2, "purchase MAC2");
        Done {
            atc: init.atc,
            balance_before: init.balance,
            balance_after: init.balance - amount,
            mac: mac2,
            tac: want_tac,
        }
    }

    /// Full purchase (p1 01) or cash withdrawal (p1 02).
    pub fn debit(
        &mut self,
        card: &mut Card,
        index: u8,
        p1: u8,
        p2: u8,
        amount: u32,
        tamper: Tamper,
    ) -> Result<Done, u16> {
        let init = self.init_purchase(card, p1, p2, index, amount)?;
        let ty = match (p1, p2) {
            (0x02, _) => 0x04,
            (_, 0x01) => 0x05,
            _ => 0x06,
        };
        let apdu = self.debit_apdu(index, ty, amount, &init, tamper);
        let (d, sw) = card.raw(&apdu);
        if sw != 0x9000 {
            return Err(sw);
        }
        Ok(self.check_debit(index, ty, amount, &init, self.ttc, &d))
    }

    pub fn purchase(
        &mut self,
        card: &mut Card,
        index: u8,
        p2: u8,
        amount: u32,
    ) -> Result<Done, u16> {
        self.debit(card, index, 0x01, p2, amount, Tamper::default())
    }

    /// Full unload (ED): INITIALIZE FOR UNLOAD, DEBIT FOR UNLOAD; MAC1 and MAC3 checked.
    pub fn unload(
        &mut self,
        card: &mut Card,
        index: u8,
        amount: u32,
        tamper: Tamper,
    ) -> Result<Done, u16> {
        let init = self.init_online(card, 0x05, 0x01, index, amount)?;
        let set = self.set(index).clone();
        let sk = self.online_session(&set, &set.keys.duk, &init);
        let mac1 = mac(
            set.alg,
            &sk,
            &cat(&[
                &init.balance.to_be_bytes(),
                &amount.to_be_bytes(),
                &[0x03],
                &self.id,
            ]),
        );
        assert_eq!(mac1, init.mac1, "unload MAC1");
        let mut mac2 = mac(
            set.alg,
            &sk,
            &cat(&[&amount.to_be_bytes(), &[0x03], &self.id, &self.load_dt]),
        );
        if tamper.bad_mac {
            mac2[1] ^= 0x10;
        }
        let (d, sw) = card.raw(&cat(&[&h("8054 0300 0B"), &self.load_dt, &mac2, &[0x04]]));
        if sw != 0x9000 {
            return Err(sw);
        }
        let new = init.balance - amount;
        let fields = cat(&[
            &new.to_be_bytes(),
            &init.atc.to_be_bytes(),
            &amount.to_be_bytes(),
            &[0x03],
            &self.id,
            &self.load_dt,
        ]);
        let mac3 = mac(set.alg, &sk, &fields);
        assert_eq!(d, mac3, "unload MAC3");
        Ok(Done {
            atc: init.atc,
            balance_before: init.balance,
            balance_after: new,
            mac: mac3,
            tac: tac(set.alg, &set.keys.dtk, &fields),
        })
    }

    /// INITIALIZE FOR UPDATE: balance, online ATC, old limit, version, alg, random, MAC1.
    pub fn init_update(&self, card: &mut Card, index: u8) -> Result<OnlineInit, u16> {
        let apdu = cat(&[&[0x80, 0x50, 0x04, 0x01, 0x07, index], &self.id, &[0x13]]);
        let d = answer(card, &apdu, 19, "INITIALIZE FOR UPDATE")?;
        Ok(OnlineInit {
            balance: be32(&d[0..4]),
            atc: u16::from_be_bytes([d[4], d[5]]),
            limit: be24(&d[6..9]),
            version: d[9],
            alg: d[10],
            random: d[11..15].try_into().unwrap(),
            mac1: d[15..19].try_into().unwrap(),
        })
    }

    /// Full overdraw-limit update (ED): MAC1 and TAC checked.
    pub fn update_limit(
        &mut self,
        card: &mut Card,
        index: u8,
        new_limit: u32,
        tamper: Tamper,
    ) -> Result<Done, u16> {
        let init = self.init_update(card, index)?;
        let set = self.set(index).clone();
        let sk = self.online_session(&set, &set.keys.dulk, &init);
        let old = &init.limit.to_be_bytes()[1..];
        let new = &new_limit.to_be_bytes()[1..];
        let mac1 = mac(
            set.alg,
            &sk,
            &cat(&[&init.balance.to_be_bytes(), old, &[0x07], &self.id]),
        );
        assert_eq!(mac1, init.mac1, "update MAC1");
        let mut mac2 = mac(set.alg, &sk, &cat(&[new, &[0x07], &self.id, &self.load_dt]));
        if tamper.bad_mac {
            mac2[2] ^= 0x04;
        }
        let (d, sw) = card.raw(&cat(&[
            &h("8058 0000 0E"),
            new,
            &self.load_dt,
            &mac2,
            &[0x04],
        ]));
        if sw != 0x9000 {
            return Err(sw);
        }
        let balance = init.balance + new_limit - init.limit;
        let want = tac(
            set.alg,
            &set.keys.dtk,
            &cat(&[
                &balance.to_be_bytes(),
                &init.atc.to_be_bytes(),
                new,
                &[0x07],
                &self.id,
                &self.load_dt,
            ]),
        );
        assert_eq!(d, want, "update TAC");
        Ok(Done {
            atc: init.atc,
            balance_before: init.balance,
            balance_after: balance,
            mac: mac2,
            tac: want,
        })
    }

    /// GET TRANSACTION PROVE for `ty` and counter `atc`.
    pub fn prove(&self, card: &mut Card, ty: u8, atc: u16) -> Result<([u8; 4], [u8; 4]), u16> {
        let apdu = cat(&[&[0x80, 0x5A, 0x00, ty, 0x02], &atc.to_be_bytes(), &[0x08]]);
        let d = answer(card, &apdu, 8, "GET TRANSACTION PROVE")?;
        Ok((d[..4].try_into().unwrap(), d[4..].try_into().unwrap()))
    }
}

/// The expected log record of a transaction.
pub fn log_record(atc: u16, limit: u32, amount: u32, ty: u8, dt: &[u8; 7]) -> Vec<u8> {
    cat(&[
        &atc.to_be_bytes(),
        &limit.to_be_bytes()[1..],
        &amount.to_be_bytes(),
        &[ty],
        &TERMINAL,
        dt,
    ])
}
