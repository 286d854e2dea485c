//! Shared host side of the reliability tests (`tearing.rs`, `attacks.rs`): personalised card
//! images, a host that holds the profile's master keys and speaks raw APDUs, and the PBOC
//! transactions the reference terminals do not offer (cash withdrawal, unload, overdraw-limit
//! update). Everything here is host code: RustCrypto through `cos_sim::hostcrypto`, no card code.
#![allow(dead_code)]

pub mod tear;

use cos_core::SeededRng;
use cos_sim::card::{CardRng, SimCard, SimNvm};
use cos_sim::demo::blank_card;
use cos_sim::hostcrypto::{diversify, session_key, tac_key, HostKey};
use cos_sim::perso;
use cos_sim::profile::Profile;
use cos_sim::snapshot::Snapshot;
use cos_sim::terminals::purse::{Purse, PurseTerminal, When};
use std::sync::OnceLock;

/// The default citizen-card profile (TEST keys).
pub const PROFILE: &str = include_str!("../../../profiles/citizen-card.toml");

/// AIDs / DF names of the standard applications.
pub const PURSE_AID: &str = "A00000000386980701";
/// The transit ADF.
pub const TRANSIT_AID: &str = "A000000632010105";
/// The library ADF.
pub const LIBRARY_AID: &str = "F043434F534C494201";
/// The social-insurance medical DF.
pub const MEDICAL_AID: &str = "D15600000503";

/// The parsed default profile.
pub fn profile() -> &'static Profile {
    static P: OnceLock<Profile> = OnceLock::new();
    P.get_or_init(|| Profile::parse("citizen-card.toml", PROFILE).unwrap())
}

/// The DDF name of the social-insurance application (GBK).
pub fn ddf_name() -> Vec<u8> {
    perso::df_name(profile().app("social-insurance").unwrap())
}

/// A personalised, issued citizen card (personalising costs ~150 APDUs: done once).
pub fn issued_image() -> &'static [u8] {
    static I: OnceLock<Vec<u8>> = OnceLock::new();
    I.get_or_init(|| {
        let p = profile();
        let mut c = blank_card(p).unwrap();
        perso::script(p).unwrap().run(&mut c).unwrap();
        c.image().bytes
    })
}

/// An issued card personalised from a variant of the default profile (`edit` rewrites its text).
pub fn issued_image_with(edit: impl FnOnce(&str) -> String) -> Vec<u8> {
    let text = edit(PROFILE);
    assert_ne!(text, PROFILE, "the edit changed nothing");
    let p = Profile::parse("variant.toml", &text).unwrap();
    let mut c = blank_card(&p).unwrap();
    perso::script(&p).unwrap().run(&mut c).unwrap();
    c.image().bytes
}

/// The default card with try counters on the keys the default profile leaves unlimited (external
/// authentication and load keys, `docs/reliability.md`): what an issuer who wants the lock gets.
/// Issued, not funded.
pub fn try_limited_image() -> &'static [u8] {
    static I: OnceLock<Vec<u8>> = OnceLock::new();
    I.get_or_init(|| {
        issued_image_with(|p| {
            p.replace(
                "tries = \"00\"                      # unlimited: a keyless reader must not lock it (docs/reliability.md)",
                "tries = \"33\"",
            )
        })
    })
}

/// The same card personalised but not issued (the script without its final ACTIVATE FILE).
pub fn unissued_image() -> &'static [u8] {
    static I: OnceLock<Vec<u8>> = OnceLock::new();
    I.get_or_init(|| {
        let p = profile();
        let mut c = blank_card(p).unwrap();
        let mut s = perso::script(p).unwrap();
        let last = s.steps.pop().unwrap();
        assert_eq!(
            last.apdu,
            [0x00, 0x44, 0x00, 0x00],
            "the script ends with ACTIVATE"
        );
        s.run(&mut c).unwrap();
        c.image().bytes
    })
}

/// The issued card after a day of use: EP 100.00 and ED 100.00 yuan loaded, the transit purse
/// topped up with 50.00, one library item on loan, one hospital settlement.
pub fn funded_image() -> &'static [u8] {
    static I: OnceLock<Vec<u8>> = OnceLock::new();
    I.get_or_init(|| {
        let mut c = card(issued_image(), 1);
        let h = Host::new();
        let mut t = h.purse_terminal("e-purse");
        t.select(&mut c).unwrap();
        t.load(&mut c, Purse::Wallet, 10_000, when("090000"))
            .unwrap();
        h.ok(&mut c, &h.verify_apdu("123456"));
        t.load(&mut c, Purse::Deposit, 10_000, when("090100"))
            .unwrap();
        let mut tt = h.purse_terminal("transit");
        tt.select(&mut c).unwrap();
        tt.load(&mut c, Purse::Wallet, 5_000, when("090200"))
            .unwrap();
        h.library_borrow(&mut c, "LIB-0001").unwrap();
        h.settle(&mut c, 1).unwrap();
        c.image().bytes
    })
}

/// A powered card from an image, with a reproducible random source.
pub fn card(image: &[u8], seed: u64) -> SimCard {
    let mut c = SimCard::from_nvm(
        SimNvm::from_bytes(image),
        CardRng::Seeded(SeededRng::new(seed)),
    )
    .unwrap();
    c.set_tracing(false);
    c
}

/// The logical state of a card (see `cos_sim::snapshot`).
pub fn snapshot(c: &SimCard) -> Snapshot {
    c.with_storage(|s| Snapshot::read(s)).unwrap()
}

/// 16 March 2026 at `hhmmss`.
pub fn when(t: &str) -> When {
    When::parse("20260316", t).unwrap()
}

/// Hex to bytes (spaces allowed).
pub fn hx(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// A short APDU.
pub fn apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u8>) -> Vec<u8> {
    let mut a = vec![cla, ins, p1, p2];
    if !data.is_empty() {
        a.push(data.len() as u8);
        a.extend_from_slice(data);
    }
    if let Some(le) = le {
        a.push(le);
    }
    a
}

/// Status word of a raw answer (`None`: no answer, the card lost power).
pub fn sw_of(r: &[u8]) -> Option<u16> {
    let n = r.len().checked_sub(2)?;
    Some(u16::from_be_bytes([r[n], r[n + 1]]))
}

/// The answer of an INITIALIZE of the PBOC purse (the fields the host needs).
#[derive(Clone, Debug)]
pub struct Init {
    /// Balance before.
    pub balance: u32,
    /// The counter the transaction uses.
    pub atc: [u8; 2],
    /// The card's random.
    pub random: [u8; 4],
    /// MAC1 (online transactions).
    pub mac1: Option<[u8; 4]>,
}

/// A host holding every master key of the profile (issuer, agencies, terminals, PSAMs).
pub struct Host {
    /// The profile.
    pub p: &'static Profile,
    /// The diversification input (last 8 bytes of the ASN).
    pub asn8: [u8; 8],
    /// Terminal id of the host's purse transactions.
    pub terminal: [u8; 6],
}

impl Default for Host {
    fn default() -> Self {
        Host::new()
    }
}

impl Host {
    /// The host of the default profile.
    pub fn new() -> Host {
        let p = profile();
        Host {
            p,
            asn8: p.diversification_input(),
            terminal: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66],
        }
    }

    /// The card key diversified from master `name`.
    pub fn key(&self, name: &str) -> HostKey {
        diversify(&self.p.master_key(name).unwrap(), &self.asn8)
    }

    /// A PBOC terminal of application `app` (key index 1).
    pub fn purse_terminal(&self, app: &str) -> PurseTerminal {
        PurseTerminal::new(self.p, app, 1, *b"TEST01").unwrap()
    }

    /// Send an APDU, follow `61xx`; `Err` when the card gave no answer.
    pub fn tx(&self, c: &mut SimCard, a: &[u8]) -> Result<(Vec<u8>, u16), String> {
        c.exchange(a)
            .ok_or_else(|| format!("no answer to {}", hex::encode_upper(a)))
    }

    /// The status word of an APDU (panics when there is no answer).
    pub fn sw(&self, c: &mut SimCard, a: &[u8]) -> u16 {
        self.tx(c, a).unwrap().1
    }

    /// Send an APDU that must answer 9000; its data.
    pub fn ok(&self, c: &mut SimCard, a: &[u8]) -> Vec<u8> {
        let (d, sw) = self.tx(c, a).unwrap();
        assert_eq!(sw, 0x9000, "{} answered {sw:04X}", hex::encode_upper(a));
        d
    }

    /// As [`Host::ok`], as a `Result` (for flows that may be cut).
    pub fn expect(&self, c: &mut SimCard, a: &[u8], want: u16) -> Result<Vec<u8>, String> {
        let (d, sw) = self.tx(c, a)?;
        if sw == want {
            Ok(d)
        } else {
            Err(format!(
                "{} answered {sw:04X}, expected {want:04X}",
                hex::encode_upper(a)
            ))
        }
    }

    /// SELECT by DF name (hex).
    pub fn select_aid(&self, c: &mut SimCard, aid: &str) -> Result<(), String> {
        self.expect(c, &apdu(0x00, 0xA4, 0x04, 0x0C, &hx(aid), None), 0x9000)
            .map(|_| ())
    }

    /// SELECT the social-insurance DDF.
    pub fn select_ddf(&self, c: &mut SimCard) -> Result<(), String> {
        self.expect(c, &apdu(0x00, 0xA4, 0x04, 0x0C, &ddf_name(), None), 0x9000)
            .map(|_| ())
    }

    /// SELECT the MF.
    pub fn select_mf(&self, c: &mut SimCard) -> Result<(), String> {
        self.expect(c, &hx("00A4000C023F00"), 0x9000).map(|_| ())
    }

    /// GET CHALLENGE (4 bytes).
    pub fn challenge(&self, c: &mut SimCard) -> Result<Vec<u8>, String> {
        self.expect(c, &hx("0084000004"), 0x9000)
    }

    /// VERIFY PIN 00 (APDU).
    pub fn verify_apdu(&self, pin: &str) -> Vec<u8> {
        let mut d = pin.to_string();
        if d.len() % 2 == 1 {
            d.push('F');
        }
        apdu(0x00, 0x20, 0x00, 0x00, &hx(&d), None)
    }

    /// EXTERNAL AUTHENTICATE with key `id` of the current DF, diversified from `master`; the SW.
    pub fn ext_auth(&self, c: &mut SimCard, id: u8, master: &str) -> Result<u16, String> {
        let ch = self.challenge(c)?;
        let k = self.key(master);
        let mut b = ch;
        b.resize(k.alg.block(), 0);
        k.encrypt(&mut b);
        Ok(self.tx(c, &apdu(0x00, 0x82, 0x00, id, &b, None))?.1)
    }

    /// As [`Host::ext_auth`], requiring 9000.
    pub fn auth(&self, c: &mut SimCard, id: u8, master: &str) -> Result<(), String> {
        match self.ext_auth(c, id, master)? {
            0x9000 => Ok(()),
            sw => Err(format!("EXTERNAL AUTHENTICATE {id:02X} answered {sw:04X}")),
        }
    }

    /// `header ‖ Lc ‖ data ‖ MAC [‖ Le]` under the line key diversified from `master`, with IV =
    /// `challenge` padded with zeros (the kernel's line protection).
    pub fn mac_apdu(
        &self,
        master: &str,
        challenge: &[u8],
        header: [u8; 4],
        data: &[u8],
        le: Option<u8>,
    ) -> Vec<u8> {
        mac_apdu(&self.key(master), challenge, header, data, le)
    }

    /// GET CHALLENGE, then the MAC'd command; the SW.
    pub fn secured(
        &self,
        c: &mut SimCard,
        master: &str,
        header: [u8; 4],
        data: &[u8],
        le: Option<u8>,
    ) -> Result<(Vec<u8>, u16), String> {
        let ch = self.challenge(c)?;
        self.tx(c, &self.mac_apdu(master, &ch, header, data, le))
    }

    /// GET CHALLENGE, then the command with its data encrypted (`E(Ld ‖ data ‖ 80 00…)`) and
    /// MAC'd under the line key from `master`.
    pub fn secured_enc(
        &self,
        c: &mut SimCard,
        master: &str,
        header: [u8; 4],
        plain: &[u8],
    ) -> Result<(Vec<u8>, u16), String> {
        let k = self.key(master);
        let mut enc = vec![plain.len() as u8];
        enc.extend_from_slice(plain);
        enc.push(0x80);
        while enc.len() % k.alg.block() != 0 {
            enc.push(0);
        }
        k.encrypt_ecb(&mut enc);
        let ch = self.challenge(c)?;
        self.tx(c, &mac_apdu(&k, &ch, header, &enc, None))
    }

    // ---- PBOC purse (host side of JR/T 0025 Part 2, docs/e-purse.md) ----------------------------

    /// INITIALIZE (`80 50 p1 p2`) with key index 1; `Err` carries a refusal's SW.
    pub fn initialize(&self, c: &mut SimCard, p1: u8, p2: u8, amount: u32) -> Result<Init, String> {
        let mut d = vec![1u8];
        d.extend_from_slice(&amount.to_be_bytes());
        d.extend_from_slice(&self.terminal);
        let (r, sw) = self.tx(c, &apdu(0x80, 0x50, p1, p2, &d, None))?;
        if sw != 0x9000 {
            return Err(format!("INITIALIZE {p1:02X}{p2:02X}: {sw:04X}"));
        }
        let b = |i: usize| r[i];
        Ok(match p1 {
            // load / unload: balance(4) atc(2) ver alg random(4) MAC1(4)
            0x00 | 0x05 => Init {
                balance: u32::from_be_bytes([b(0), b(1), b(2), b(3)]),
                atc: [b(4), b(5)],
                random: [b(8), b(9), b(10), b(11)],
                mac1: Some([b(12), b(13), b(14), b(15)]),
            },
            // purchase / cash / CAPP: balance(4) atc(2) limit(3) ver alg random(4)
            _ => Init {
                balance: u32::from_be_bytes([b(0), b(1), b(2), b(3)]),
                atc: [b(4), b(5)],
                random: [b(11), b(12), b(13), b(14)],
                mac1: None,
            },
        })
    }

    /// An online session key (load, unload, overdraw) of the purse key from `master`.
    pub fn online_session(&self, master: &str, init: &Init) -> HostKey {
        let mut i = [0u8; 8];
        i[..4].copy_from_slice(&init.random);
        i[4..6].copy_from_slice(&init.atc);
        i[6] = 0x80;
        session_key(&self.key(master), &i)
    }

    /// A purchase session key (TTC 00000001).
    pub fn purchase_session(&self, master: &str, init: &Init) -> HostKey {
        let mut i = [0u8; 8];
        i[..4].copy_from_slice(&init.random);
        i[4..6].copy_from_slice(&init.atc);
        i[7] = 0x01;
        session_key(&self.key(master), &i)
    }

    /// The TAC of `data` under the TAC key of master `tac`.
    pub fn tac(&self, tac: &str, data: &[u8]) -> [u8; 4] {
        let k = tac_key(&self.key(tac));
        k.mac4(&vec![0; k.alg.block()], data)
    }

    /// `date ‖ time` of the host's transactions.
    pub fn date_time(&self) -> Vec<u8> {
        hx("20260316 120000")
    }

    /// CREDIT FOR LOAD data (`date ‖ time ‖ MAC2`) for an INITIALIZE FOR LOAD of `amount`.
    pub fn credit_data(&self, app: Keys, init: &Init, amount: u32, ty: u8) -> Vec<u8> {
        let ses = self.online_session(app.load, init);
        let mut m2 = amount.to_be_bytes().to_vec();
        m2.push(ty);
        m2.extend_from_slice(&self.terminal);
        m2.extend_from_slice(&self.date_time());
        let mut d = self.date_time();
        d.extend_from_slice(&ses.mac4(&[0; 8], &m2));
        d
    }

    /// DEBIT data (`TTC ‖ date ‖ time ‖ MAC1`) of a purchase of type `ty` (05 ED, 06 EP, 04
    /// cash, 09 CAPP).
    pub fn debit_data(&self, app: Keys, init: &Init, amount: u32, ty: u8) -> Vec<u8> {
        let ses = self.purchase_session(app.purchase, init);
        let mut m1 = amount.to_be_bytes().to_vec();
        m1.push(ty);
        m1.extend_from_slice(&self.terminal);
        m1.extend_from_slice(&self.date_time());
        let mut d = hx("00000001");
        d.extend_from_slice(&self.date_time());
        d.extend_from_slice(&ses.mac4(&[0; 8], &m1));
        d
    }

    /// A whole purchase of type `ty` through INITIALIZE `p1`/`p2` and DEBIT (CAPP records
    /// cached in between when `capp` is given); returns TAC ‖ MAC2 after checking both.
    #[allow(clippy::too_many_arguments)]
    pub fn purchase(
        &self,
        c: &mut SimCard,
        app: Keys,
        p1: u8,
        p2: u8,
        ty: u8,
        amount: u32,
        capp: &[Vec<u8>],
    ) -> Result<Vec<u8>, String> {
        let init = self.initialize(c, p1, p2, amount)?;
        for a in capp {
            self.expect(c, a, 0x9000)?;
        }
        let d = self.debit_data(app, &init, amount, ty);
        let r = self.expect(c, &apdu(0x80, 0x54, 0x01, 0x00, &d, Some(8)), 0x9000)?;
        let ses = self.purchase_session(app.purchase, &init);
        if ses.mac4(&[0; 8], &amount.to_be_bytes()) != r[4..8] {
            return Err("MAC2 does not verify".into());
        }
        let mut t = amount.to_be_bytes().to_vec();
        t.push(ty);
        t.extend_from_slice(&self.terminal);
        t.extend_from_slice(&hx("00000001"));
        t.extend_from_slice(&self.date_time());
        if self.tac(app.tac, &t) != r[0..4] {
            return Err("TAC does not verify".into());
        }
        Ok(r)
    }

    /// A whole load of the purse `p2` (01 ED, 02 EP).
    pub fn load(&self, c: &mut SimCard, app: Keys, p2: u8, amount: u32) -> Result<(), String> {
        let init = self.initialize(c, 0x00, p2, amount)?;
        let d = self.credit_data(app, &init, amount, p2);
        self.expect(c, &apdu(0x80, 0x52, 0x00, 0x00, &d, Some(4)), 0x9000)
            .map(|_| ())
    }

    /// A whole unload of the ED: INITIALIZE FOR UNLOAD, DEBIT FOR UNLOAD (MAC2), MAC3 checked.
    pub fn unload(&self, c: &mut SimCard, amount: u32) -> Result<(), String> {
        let init = self.initialize(c, 0x05, 0x01, amount)?;
        let ses = self.online_session("ep_unload", &init);
        let mut m2 = amount.to_be_bytes().to_vec();
        m2.push(0x03);
        m2.extend_from_slice(&self.terminal);
        m2.extend_from_slice(&self.date_time());
        let mut d = self.date_time();
        d.extend_from_slice(&ses.mac4(&[0; 8], &m2));
        let r = self.expect(c, &apdu(0x80, 0x54, 0x03, 0x00, &d, Some(4)), 0x9000)?;
        let mut m3 = (init.balance - amount).to_be_bytes().to_vec();
        m3.extend_from_slice(&init.atc);
        m3.extend_from_slice(&m2);
        if ses.mac4(&[0; 8], &m3) != r[..] {
            return Err("MAC3 does not verify".into());
        }
        Ok(())
    }

    /// A whole overdraw-limit update of the ED to `limit` fen.
    pub fn overdraw(&self, c: &mut SimCard, limit: u32) -> Result<(), String> {
        let mut d = vec![1u8];
        d.extend_from_slice(&self.terminal);
        let (r, sw) = self.tx(c, &apdu(0x80, 0x50, 0x04, 0x01, &d, None))?;
        if sw != 0x9000 {
            return Err(format!("INITIALIZE FOR UPDATE: {sw:04X}"));
        }
        let init = Init {
            balance: u32::from_be_bytes([r[0], r[1], r[2], r[3]]),
            atc: [r[4], r[5]],
            random: [r[11], r[12], r[13], r[14]],
            mac1: None,
        };
        let ses = self.online_session("ep_overdraw", &init);
        let lim = &limit.to_be_bytes()[1..];
        let mut m2 = lim.to_vec();
        m2.push(0x07);
        m2.extend_from_slice(&self.terminal);
        m2.extend_from_slice(&self.date_time());
        let mut d = lim.to_vec();
        d.extend_from_slice(&self.date_time());
        d.extend_from_slice(&ses.mac4(&[0; 8], &m2));
        self.expect(c, &apdu(0x80, 0x58, 0x00, 0x00, &d, Some(4)), 0x9000)
            .map(|_| ())
    }

    // ---- library (docs/library.md) ---------------------------------------------------------------

    /// `date ‖ barcode ‖ branch ‖ terminal` of a loan command.
    pub fn loan_request(&self, barcode: &str, date: &str) -> Vec<u8> {
        let mut d = hx(date);
        let mut b = barcode.as_bytes().to_vec();
        b.resize(16, 0);
        d.extend_from_slice(&b);
        d.extend_from_slice(&[0x00, 0x01]);
        d.extend_from_slice(&self.terminal);
        d
    }

    /// Open the library as a circulation desk (SELECT, EXTERNAL AUTHENTICATE key 00).
    pub fn library_open(&self, c: &mut SimCard) -> Result<(), String> {
        self.select_aid(c, LIBRARY_AID)?;
        self.auth(c, 0x00, "lib_terminal")
    }

    /// A loan command (`32` borrow, `34` return, `36` renew) on `date`; the card's answer.
    pub fn loan(
        &self,
        c: &mut SimCard,
        ins: u8,
        barcode: &str,
        date: &str,
    ) -> Result<(Vec<u8>, u16), String> {
        self.secured(
            c,
            "lib_line",
            [0x84, ins, 0x00, 0x00],
            &self.loan_request(barcode, date),
            Some(0x00),
        )
    }

    /// Open the library and borrow `barcode`.
    pub fn library_borrow(&self, c: &mut SimCard, barcode: &str) -> Result<(), String> {
        self.library_open(c)?;
        match self.loan(c, 0x32, barcode, "20260316")?.1 {
            0x9000 => Ok(()),
            sw => Err(format!("BORROW answered {sw:04X}")),
        }
    }

    // ---- social insurance (docs/social-insurance.md) ----------------------------------------------

    /// A 36-byte settlement: `n`-th visit of the day, 120.00 yuan (fund 80, account 30, cash 10).
    pub fn settlement(&self, n: u8) -> Vec<u8> {
        let mut d = hx("20260316 1000");
        d.push(n);
        d.extend_from_slice(&hx("330402000001"));
        d.extend_from_slice(&hx("000000000001"));
        d.push(0x01);
        for v in [12_000u32, 8_000, 3_000, 1_000] {
            d.extend_from_slice(&v.to_be_bytes());
        }
        d
    }

    /// Open the medical DF as a hospital (SELECT, EXTERNAL AUTHENTICATE key 01).
    pub fn medical_open(&self, c: &mut SimCard) -> Result<(), String> {
        self.select_aid(c, MEDICAL_AID)?;
        self.auth(c, 0x01, "si_medical")
    }

    /// SETTLE under the medical line key; the answer.
    pub fn settle_cmd(&self, c: &mut SimCard, n: u8) -> Result<(Vec<u8>, u16), String> {
        self.secured(
            c,
            "si_medical_update",
            [0x84, 0x4C, 0x00, 0x00],
            &self.settlement(n),
            Some(0x06),
        )
    }

    /// Open the medical DF and settle visit `n`.
    pub fn settle(&self, c: &mut SimCard, n: u8) -> Result<(), String> {
        self.medical_open(c)?;
        match self.settle_cmd(c, n)?.1 {
            0x9000 => Ok(()),
            sw => Err(format!("SETTLE answered {sw:04X}")),
        }
    }
}

/// The master-key names of one purse application.
#[derive(Clone, Copy, Debug)]
pub struct Keys {
    /// DLK.
    pub load: &'static str,
    /// DPK.
    pub purchase: &'static str,
    /// DTK.
    pub tac: &'static str,
}

/// The e-purse application's purse keys.
pub const EPURSE: Keys = Keys {
    load: "ep_load",
    purchase: "ep_purchase",
    tac: "ep_tac",
};

/// The transit application's purse keys.
pub const TRANSIT: Keys = Keys {
    load: "transit_load",
    purchase: "transit_purchase",
    tac: "transit_tac",
};

/// `header ‖ Lc ‖ data ‖ MAC [‖ Le]` under `key`, IV = `challenge` padded with zeros.
pub fn mac_apdu(
    key: &HostKey,
    challenge: &[u8],
    header: [u8; 4],
    data: &[u8],
    le: Option<u8>,
) -> Vec<u8> {
    let lc = (data.len() + 4) as u8;
    let mut input = header.to_vec();
    input.push(lc);
    input.extend_from_slice(data);
    let mut iv = challenge.to_vec();
    iv.resize(key.alg.block(), 0);
    let mac = key.mac4(&iv, &input);
    let mut a = input;
    a.extend_from_slice(&mac);
    if let Some(le) = le {
        a.push(le);
    }
    a
}

/// A 64-byte composite (CAPP) record: `tag`, length, open, `event` (03 entry, 04 exit, 06 ride),
/// station `station`, trip state `state`.
pub fn composite(tag: u8, event: u8, station: u8, state: u8) -> Vec<u8> {
    let mut r = vec![0u8; 64];
    r[0] = tag;
    r[1] = 0x40;
    r[3] = event;
    r[4..11].copy_from_slice(&[0x00, 0x01, 0x00, station, 0x00, 0x00, 0x01]);
    r[11..13].copy_from_slice(&[0x33, 0x04]);
    r[21] = state;
    r
}

/// UPDATE CAPP DATA CACHE of the composite record with tag `r[0]` (by tag, JT/T 978 practice).
pub fn cache(r: &[u8]) -> Vec<u8> {
    apdu(0x80, 0xDC, r[0], 0x1A << 3, r, None)
}

/// Whole-card health check after recovery: an EP load and purchase in the e-purse application
/// succeed (`app` chooses the e-purse or the transit purse).
pub fn transact(c: &mut SimCard, app: Keys) -> Result<(), String> {
    let h = Host::new();
    let aid = if app.load == EPURSE.load {
        PURSE_AID
    } else {
        TRANSIT_AID
    };
    h.select_aid(c, aid)?;
    h.load(c, app, 0x02, 100)?;
    h.purchase(c, app, 0x01, 0x02, 0x06, 1, &[]).map(|_| ())
}
