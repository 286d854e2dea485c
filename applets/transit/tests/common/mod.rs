//! Test harness of the transit tests: the shared card of `cos-test-support` (one harness for the
//! kernel's and the applets' tests) with the transit and PPSE applets, an FMCOS-style
//! personalisation of the transit ADF (interoperable files, composite records, the EP, purse
//! keys), and a small reference terminal that checks every MAC2 and TAC the card returns with the
//! shared host crypto (RustCrypto `des` directly, never cos-crypto).
// Each test binary uses a different part of the harness (and of its re-exports).
#![allow(dead_code, unused_imports)]

use cos_core::applet::Applet;
use cos_core::SeededRng;
use cos_test_support::purse::{self, Alg};
pub use cos_test_support::{cat, h};
use transit::{Ppse, Transit};

pub const AID: &str = "A000000632010105";
/// Card number (ASN) in EF 15, first nibble 0 (shown as 19 digits).
pub const ASN: &str = "03104000000000000042";
/// Purse keys of key index 01 (no try counter) and 02 (try counter 33). Deliberately unequal
/// halves, so that a wrong TAC key (left half only, no XOR) fails.
pub const DPK: [u8; 16] = *b"DPK-purchase-key";
pub const DLK: [u8; 16] = *b"DLK-load-key-012";
pub const DTK: [u8; 16] = *b"DTK-tac-key-0123";
pub const TERMINAL: [u8; 6] = [0x33, 0x04, 0x00, 0x00, 0x00, 0x01];
pub const DATE: [u8; 4] = [0x20, 0x26, 0x03, 0x01];
pub const TIME: [u8; 3] = [0x08, 0x30, 0x00];

// ---------------------------------------------------------------------------------------------
// Card

cos_test_support::card_newtype!(
    /// The shared card with the transit and PPSE applets.
    pub struct Card(SeededRng)
);

fn applets() -> Vec<Box<dyn Applet>> {
    vec![Box::new(Transit::default()), Box::new(Ppse::default())]
}

impl Card {
    pub fn blank() -> Card {
        Card(cos_test_support::Card::blank(SeededRng::new(11), applets()))
    }

    pub fn from_image(image: &[u8]) -> Card {
        Card(cos_test_support::Card::from_image(
            image,
            SeededRng::new(5),
            applets(),
        ))
    }

    #[track_caller]
    pub fn select(&mut self) -> Vec<u8> {
        self.ok(&format!("00A4 0400 08 {AID} 00"))
    }

    pub fn balance(&mut self) -> u32 {
        let d = self.ok("805C000204");
        u32::from_be_bytes(d.try_into().unwrap())
    }

    /// Composite record `n` (EF 1A).
    pub fn composite(&mut self, n: u8) -> Vec<u8> {
        self.ok(&format!("00B2 {n:02X} D4 00"))
    }

    /// Trip-log record `n` (EF 1E, 1 = newest), if it exists.
    pub fn trip(&mut self, n: u8) -> Option<Vec<u8>> {
        let (d, sw) = self.tx(&format!("00B2 {n:02X} F4 00"));
        (sw == 0x9000).then_some(d)
    }

    /// Purse-log record `n` (EF 18), if it exists.
    pub fn purse_log(&mut self, n: u8) -> Option<Vec<u8>> {
        let (d, sw) = self.tx(&format!("00B2 {n:02X} C4 00"));
        (sw == 0x9000).then_some(d)
    }

    /// Everything a CAPP purchase may change, read through the card.
    pub fn snapshot(&mut self) -> Snapshot {
        self.select();
        Snapshot {
            balance: self.balance(),
            records: (1..=4).map(|n| self.composite(n)).collect(),
            trips: (1..=10).map_while(|n| self.trip(n)).collect(),
            purse_logs: (1..=10).map_while(|n| self.purse_log(n)).collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub balance: u32,
    pub records: Vec<Vec<u8>>,
    pub trips: Vec<Vec<u8>>,
    pub purse_logs: Vec<Vec<u8>>,
}

// ---------------------------------------------------------------------------------------------
// Personalisation

/// What to leave out of the transit ADF (for the "missing file" refusals).
#[derive(Clone, Copy, Debug, Default)]
pub struct Omit {
    pub trip_log: bool,
    pub composite: bool,
}

/// A fresh composite record: tag, length, lock, no event, the rest zero.
pub fn blank_record(tag: u8, len: usize, lock: u8) -> Vec<u8> {
    let mut r = vec![0u8; len];
    r[0] = tag;
    r[1] = len as u8;
    r[2] = lock;
    r
}

/// The initial composite records: 01 metro (64), 02 bus (64), 03 locked (48), 04 taxi (48).
pub fn initial_records() -> Vec<Vec<u8>> {
    vec![
        blank_record(0x01, 64, 0),
        blank_record(0x02, 64, 0),
        blank_record(0x03, 48, 1),
        blank_record(0x04, 48, 0),
    ]
}

pub fn personalise(card: &mut Card, omit: Omit) {
    card.init_mf();
    // The transit ADF.
    card.ok(&format!("80E0 1002 10 38 0800 F0 0F 95 FFFF {AID}"));
    card.ok(&format!("00A4 0400 08 {AID}"));
    // EF 15: issuer id (8), app type, version (01), card number (10), dates, reserved.
    card.ok("80E0 0015 07 28 001E F0 F0 FFFF");
    card.ok(&format!(
        "00D6 9500 1E 3304000000000000 02 01 {ASN} 20260101 20351231 0000"
    ));
    // EF 16: holder category 03 (senior), staff flag, name and ID left blank.
    card.ok("80E0 0016 07 28 0037 F0 F0 FFFF");
    card.ok("00D6 9600 02 0300");
    // EF 17: country 0156, province 3300, city 3304, flags 0001, 0000, card type 03.
    card.ok("80E0 0017 07 28 003C F0 F0 FFFF");
    card.ok("00D6 9700 0B 0156 3300 3304 0001 0000 03");
    // EF 18: purse log, cyclic 10 × 23; the EP: internal EF 2 × 16.
    card.ok("80E0 0018 07 2E 0A 17 F0 EF FFFF");
    card.ok("80E0 0002 07 2F 02 10 F0 00 FF 18");
    if !omit.composite {
        // EF 1A: linear variable, 2 × (1 + 64) + 2 × (1 + 48).
        card.ok("80E0 001A 07 2C 00E4 F0 EF FFFF");
        for r in initial_records() {
            card.ok(&format!("00E2 00D0 {:02X} {}", r.len(), hex::encode(&r)));
        }
    }
    if !omit.trip_log {
        card.ok("80E0 001E 07 2E 0A 30 F0 EF FFFF");
    }
    // Key file last: rights are enforced from here on.
    card.ok("80E0 0000 07 3F 0120 01 F0 FFFF");
    for (index, tries) in [(0x01u8, None), (0x02u8, Some(0x33u8))] {
        for (ty, key) in [(0x3E, DPK), (0x3F, DLK), (0x34, DTK)] {
            let mut d = vec![ty, 0xF0, 0xF0, 0x01, 0x00];
            d.extend_from_slice(&key);
            if let Some(t) = tries {
                d.push(t);
            }
            card.ok(&format!(
                "80D4 01{index:02X} {:02X} {}",
                d.len(),
                hex::encode(&d)
            ));
        }
    }
    // The PPSE DF with its directory (one entry, the transit application).
    card.ok("00A4 0000 02 3F00");
    card.ok(&format!(
        "80E0 1F01 16 38 0080 F0 0F 95 FFFF {}",
        hex::encode(b"2PAY.SYS.DDF01")
    ));
    card.ok("00A4 0000 02 1F01");
    card.ok("80E0 0001 07 2C 0040 F0 EF FFFF");
    card.ok(&format!(
        "00E2 0008 19 6117 4F08{AID} 5008{} 870101",
        hex::encode(b"MOT_T_EP")
    ));
    card.ok("00A4 0000 02 3F00");
    card.ok("0044 0000");
}

fn image_of(omit: Omit) -> Vec<u8> {
    let mut c = Card::blank();
    personalise(&mut c, omit);
    c.power_cycle();
    c.image()
}

/// The standard personalised image (computed once per test binary).
pub fn standard_image() -> &'static [u8] {
    static IMAGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    IMAGE.get_or_init(|| image_of(Omit::default()))
}

/// A card from the standard image with the transit application selected.
pub fn card() -> Card {
    let mut c = Card::from_image(standard_image());
    c.select();
    c
}

// ---------------------------------------------------------------------------------------------
// Host crypto (the shared RustCrypto purse crypto, 3DES / single DES only)

/// ISO 9797-1 MAC algorithm 1, padding method 2, single DES, zero IV; leftmost 4 bytes.
pub fn mac(key8: &[u8], data: &[u8]) -> [u8; 4] {
    assert_eq!(key8.len(), 8, "single-DES MAC key");
    purse::mac(Alg::Tdes, key8, data)
}

pub fn session(key: &[u8; 16], input: &[u8]) -> [u8; 8] {
    purse::session_key(Alg::Tdes, key, input.try_into().unwrap())
        .try_into()
        .unwrap()
}

pub fn tac(data: &[u8]) -> [u8; 4] {
    purse::tac(Alg::Tdes, &DTK, data)
}

// ---------------------------------------------------------------------------------------------
// Terminal

/// The terminal's side of one CAPP purchase, after INITIALIZE.
#[derive(Clone, Debug)]
pub struct CappInit {
    pub amount: u32,
    pub balance: u32,
    pub atc: u16,
    pub random: [u8; 4],
    pub ttc: [u8; 4],
}

/// Load `amount` into the EP (key index 01).
pub fn load(c: &mut Card, amount: u32) {
    let d = c.ok(&format!(
        "80500002 0B 01 {amount:08X} {} 10",
        hex::encode(TERMINAL)
    ));
    let (bal, atc, random, mac1) = (&d[0..4], &d[4..6], &d[8..12], &d[12..16]);
    let sk = session(&DLK, &cat(&[random, atc, &[0x80, 0x00]]));
    let a = amount.to_be_bytes();
    assert_eq!(mac1, mac(&sk, &cat(&[bal, &a, &[0x02], &TERMINAL])));
    let mac2 = mac(&sk, &cat(&[&a, &[0x02], &TERMINAL, &DATE, &TIME]));
    let t = c.ok(&format!(
        "80520000 0B {}{}{} 04",
        hex::encode(DATE),
        hex::encode(TIME),
        hex::encode(mac2)
    ));
    let nb = (u32::from_be_bytes(bal.try_into().unwrap()) + amount).to_be_bytes();
    assert_eq!(
        t,
        tac(&cat(&[&nb, atc, &a, &[0x02], &TERMINAL, &DATE, &TIME]))
    );
}

/// INITIALIZE FOR CAPP PURCHASE with key index `index`.
pub fn init_capp(c: &mut Card, index: u8, amount: u32, ttc: u32) -> Result<CappInit, u16> {
    let (d, sw) = c.tx(&format!(
        "80500302 0B {index:02X} {amount:08X} {} 0F",
        hex::encode(TERMINAL)
    ));
    if sw != 0x9000 {
        return Err(sw);
    }
    assert_eq!(d.len(), 15);
    Ok(CappInit {
        amount,
        balance: u32::from_be_bytes(d[0..4].try_into().unwrap()),
        atc: u16::from_be_bytes(d[4..6].try_into().unwrap()),
        random: d[11..15].try_into().unwrap(),
        ttc: ttc.to_be_bytes(),
    })
}

/// UPDATE CAPP DATA CACHE by tag.
pub fn cache_apdu(record: &[u8]) -> String {
    format!(
        "80DC {:02X} D0 {:02X} {}",
        record[0],
        record.len(),
        hex::encode(record)
    )
}

fn sk(i: &CappInit) -> [u8; 8] {
    session(&DPK, &cat(&[&i.random, &i.atc.to_be_bytes(), &i.ttc[2..4]]))
}

/// The DEBIT APDU (MAC1 over amount ‖ 09 ‖ terminal ‖ date ‖ time).
pub fn debit_apdu(i: &CappInit) -> Vec<u8> {
    let m1 = mac(
        &sk(i),
        &cat(&[&i.amount.to_be_bytes(), &[0x09], &TERMINAL, &DATE, &TIME]),
    );
    cat(&[
        &[0x80, 0x54, 0x01, 0x00, 0x0F],
        &i.ttc,
        &DATE,
        &TIME,
        &m1,
        &[0x08],
    ])
}

/// Check the DEBIT answer TAC ‖ MAC2.
pub fn check_debit(i: &CappInit, rsp: &[u8]) {
    assert_eq!(rsp.len(), 8);
    let a = i.amount.to_be_bytes();
    assert_eq!(
        &rsp[0..4],
        tac(&cat(&[&a, &[0x09], &TERMINAL, &i.ttc, &DATE, &TIME])),
        "TAC"
    );
    assert_eq!(&rsp[4..8], mac(&sk(i), &a), "MAC2");
}

/// A whole CAPP purchase updating `records`.
pub fn capp(c: &mut Card, amount: u32, ttc: u32, records: &[Vec<u8>]) -> CappInit {
    let i = init_capp(c, 0x01, amount, ttc).unwrap();
    for r in records {
        c.ok(&cache_apdu(r));
    }
    let (rsp, sw) = c.raw(&debit_apdu(&i));
    assert_eq!(sw, 0x9000);
    check_debit(&i, &rsp);
    i
}

/// A metro entry record (event 03) at station `station`.
pub fn metro_entry(station: u8) -> Vec<u8> {
    let mut r = blank_record(0x01, 64, 0);
    r[3] = 0x03;
    r[4..11].copy_from_slice(&[0x00, 0x01, 0x00, station, 0x00, 0x00, 0x01]);
    r[11..13].copy_from_slice(&[0x33, 0x04]);
    r[13..21].copy_from_slice(b"METRO-01");
    r[21] = 0x01;
    r
}

/// A bus single-ride record (event 06).
pub fn bus_ride(line: u8) -> Vec<u8> {
    let mut r = blank_record(0x02, 64, 0);
    r[3] = 0x06;
    r[4..11].copy_from_slice(&[0x00, line, 0x00, 0x00, 0x00, 0x12, 0x34]);
    r[11..13].copy_from_slice(&[0x33, 0x04]);
    r[13..21].copy_from_slice(b"BUS-CO-1");
    r[21] = 0x02;
    r
}
