//! PBOC purse terminals (JR/T 0025): a load (top-up) terminal and a point-of-sale terminal.
//!
//! Host side of INITIALIZE FOR LOAD / CREDIT FOR LOAD and INITIALIZE FOR PURCHASE / DEBIT FOR
//! PURCHASE: the terminal checks MAC1 and the TAC of a load, computes MAC1 of a purchase and checks
//! the card's MAC2 and TAC. A lost answer is recovered with GET TRANSACTION PROVE.

use crate::card::SimCard;
use crate::hostcrypto::{diversify, session_key, tac_key, HostKey};
use crate::profile::Profile;
use crate::terminals::find_tag;

/// Which purse of the ADF (the P2 of the purse commands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purse {
    /// Electronic deposit (PIN-protected), P2 01.
    Deposit,
    /// Electronic purse, P2 02.
    Wallet,
}

impl Purse {
    fn p2(self) -> u8 {
        match self {
            Purse::Deposit => 0x01,
            Purse::Wallet => 0x02,
        }
    }
    fn load_type(self) -> u8 {
        match self {
            Purse::Deposit => 0x01,
            Purse::Wallet => 0x02,
        }
    }
    fn purchase_type(self) -> u8 {
        match self {
            Purse::Deposit => 0x05,
            Purse::Wallet => 0x06,
        }
    }
}

/// What went wrong at a terminal.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TerminalError {
    /// The card refused a step.
    #[error("{step}: the card answered {sw:04X}")]
    Refused {
        /// The command.
        step: &'static str,
        /// Its status word.
        sw: u16,
    },
    /// The card gave no answer (power lost).
    #[error("{0}: no answer from the card")]
    NoAnswer(&'static str),
    /// An answer of the wrong shape.
    #[error("{0}: malformed answer")]
    Malformed(&'static str),
    /// The card's MAC or TAC does not verify: not a genuine card, or keys differ.
    #[error("{0} does not verify")]
    Mismatch(&'static str),
    /// The profile lacks what the terminal needs.
    #[error("terminal setup: {0}")]
    Setup(String),
}

/// Send and require 9000 (following 61xx).
pub fn ok(card: &mut SimCard, step: &'static str, apdu: &[u8]) -> Result<Vec<u8>, TerminalError> {
    let (data, sw) = card.exchange(apdu).ok_or(TerminalError::NoAnswer(step))?;
    if sw != 0x9000 {
        return Err(TerminalError::Refused { step, sw });
    }
    Ok(data)
}

/// Build a short APDU.
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

/// A terminal's clock reading: `YYYYMMDD` and `hhmmss` in BCD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct When {
    /// Date, BCD.
    pub date: [u8; 4],
    /// Time, BCD.
    pub time: [u8; 3],
}

impl When {
    /// From `"20260315"` and `"083000"`.
    pub fn parse(date: &str, time: &str) -> Option<When> {
        let d = hex::decode(date).ok()?;
        let t = hex::decode(time).ok()?;
        Some(When {
            date: d.try_into().ok()?,
            time: t.try_into().ok()?,
        })
    }
}

/// The result of a load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadReceipt {
    /// Balance after the load.
    pub balance: u32,
    /// The card's online counter used.
    pub atc: u16,
    /// The verified TAC.
    pub tac: [u8; 4],
}

/// The result of a purchase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchaseReceipt {
    /// Balance after the purchase.
    pub balance: u32,
    /// The card's offline counter used.
    pub atc: u16,
    /// The terminal transaction counter used.
    pub ttc: u32,
    /// The verified MAC2.
    pub mac2: [u8; 4],
    /// The verified TAC.
    pub tac: [u8; 4],
}

/// A PBOC purse terminal (load or POS) for one application of a profile.
pub struct PurseTerminal {
    aid: Vec<u8>,
    terminal_id: [u8; 6],
    key_index: u8,
    load_master: Option<HostKey>,
    purchase_master: Option<HostKey>,
    tac_master: Option<HostKey>,
    ttc: u32,
    asn8: Option<[u8; 8]>,
}

fn master_of(p: &Profile, app: &str, key_type: &str, index: u8) -> Option<HostKey> {
    let a = p.app(app)?;
    let k = a
        .keys
        .iter()
        .find(|k| k.key_type == key_type && k.id == index)?;
    p.master_key(k.master.as_deref()?)
}

impl PurseTerminal {
    /// A terminal holding the profile's master keys of `app` at key `index`.
    pub fn new(
        p: &Profile,
        app: &str,
        index: u8,
        terminal_id: [u8; 6],
    ) -> Result<PurseTerminal, TerminalError> {
        let a = p.app(app).ok_or_else(|| {
            TerminalError::Setup(format!("no application `{app}` in the profile"))
        })?;
        let aid = crate::perso::df_name(a);
        let t = PurseTerminal {
            aid,
            terminal_id,
            key_index: index,
            load_master: master_of(p, app, "load", index),
            purchase_master: master_of(p, app, "purchase", index),
            tac_master: master_of(p, app, "tac", index),
            ttc: 0,
            asn8: None,
        };
        if t.tac_master.is_none() {
            return Err(TerminalError::Setup(format!(
                "no TAC key {index:02X} for `{app}`"
            )));
        }
        Ok(t)
    }

    /// SELECT the application and learn the card's ASN from its FCI (`9F0C`, the 0x15 file).
    pub fn select(&mut self, card: &mut SimCard) -> Result<(), TerminalError> {
        let fci = ok(
            card,
            "SELECT",
            &apdu(0x00, 0xA4, 0x04, 0x00, &self.aid, Some(0x00)),
        )?;
        let ef15 = find_tag(&fci, 0x9F0C).ok_or(TerminalError::Malformed("SELECT (no 9F0C)"))?;
        // 0x15: issuer id (8), type (1), version (1), ASN (10) …
        let asn = ef15
            .get(10..20)
            .ok_or(TerminalError::Malformed("SELECT (short 9F0C)"))?;
        let mut d = [0u8; 8];
        d.copy_from_slice(&asn[2..10]);
        self.asn8 = Some(d);
        Ok(())
    }

    fn card_key(&self, master: &Option<HostKey>, what: &str) -> Result<HostKey, TerminalError> {
        let m = master
            .as_ref()
            .ok_or_else(|| TerminalError::Setup(format!("no {what} key {:02X}", self.key_index)))?;
        let d = self
            .asn8
            .ok_or_else(|| TerminalError::Setup("SELECT first".into()))?;
        Ok(diversify(m, &d))
    }

    /// GET BALANCE.
    pub fn balance(&self, card: &mut SimCard, purse: Purse) -> Result<u32, TerminalError> {
        let d = ok(
            card,
            "GET BALANCE",
            &apdu(0x80, 0x5C, 0x00, purse.p2(), &[], Some(4)),
        )?;
        be32(&d).ok_or(TerminalError::Malformed("GET BALANCE"))
    }

    /// Load `amount` fen: INITIALIZE FOR LOAD, check MAC1, CREDIT FOR LOAD with MAC2, check the TAC.
    pub fn load(
        &mut self,
        card: &mut SimCard,
        purse: Purse,
        amount: u32,
        when: When,
    ) -> Result<LoadReceipt, TerminalError> {
        let dlk = self.card_key(&self.load_master, "load")?;
        let dtk = self.card_key(&self.tac_master, "TAC")?;
        let mut init = vec![self.key_index];
        init.extend_from_slice(&amount.to_be_bytes());
        init.extend_from_slice(&self.terminal_id);
        let r = ok(
            card,
            "INITIALIZE FOR LOAD",
            &apdu(0x80, 0x50, 0x00, purse.p2(), &init, Some(0x10)),
        )?;
        if r.len() != 16 {
            return Err(TerminalError::Malformed("INITIALIZE FOR LOAD"));
        }
        let old = be32(&r[0..4]).unwrap_or(0);
        let atc = u16::from_be_bytes([r[4], r[5]]);
        let mut input = [0u8; 8];
        input[..4].copy_from_slice(&r[8..12]);
        input[4..6].copy_from_slice(&r[4..6]);
        input[6] = 0x80;
        let ses = session_key(&dlk, &input);
        let ty = purse.load_type();
        let mut m1 = r[0..4].to_vec();
        m1.extend_from_slice(&amount.to_be_bytes());
        m1.push(ty);
        m1.extend_from_slice(&self.terminal_id);
        let iv = vec![0u8; ses.alg.block()];
        if ses.mac4(&iv, &m1) != r[12..16] {
            return Err(TerminalError::Mismatch("MAC1"));
        }
        let mut m2 = amount.to_be_bytes().to_vec();
        m2.push(ty);
        m2.extend_from_slice(&self.terminal_id);
        m2.extend_from_slice(&when.date);
        m2.extend_from_slice(&when.time);
        let mac2 = ses.mac4(&iv, &m2);
        let mut credit = when.date.to_vec();
        credit.extend_from_slice(&when.time);
        credit.extend_from_slice(&mac2);
        let tac = ok(
            card,
            "CREDIT FOR LOAD",
            &apdu(0x80, 0x52, 0x00, 0x00, &credit, Some(4)),
        )?;
        let balance = old
            .checked_add(amount)
            .ok_or(TerminalError::Malformed("balance overflow"))?;
        let mut t = balance.to_be_bytes().to_vec();
        t.extend_from_slice(&atc.to_be_bytes());
        t.extend_from_slice(&m2);
        let tk = tac_key(&dtk);
        if tk.mac4(&vec![0u8; tk.alg.block()], &t) != tac[..] {
            return Err(TerminalError::Mismatch("TAC"));
        }
        Ok(LoadReceipt {
            balance,
            atc,
            tac: tac
                .try_into()
                .map_err(|_| TerminalError::Malformed("CREDIT FOR LOAD"))?,
        })
    }

    /// Purchase `amount` fen: INITIALIZE FOR PURCHASE, DEBIT FOR PURCHASE with MAC1, check MAC2
    /// and the TAC.
    pub fn purchase(
        &mut self,
        card: &mut SimCard,
        purse: Purse,
        amount: u32,
        when: When,
    ) -> Result<PurchaseReceipt, TerminalError> {
        self.debit(card, purse, amount, when, None)
    }

    /// The purchase flow; with `capp`, a composite purchase (INITIALIZE FOR CAPP PURCHASE, the
    /// given UPDATE CAPP DATA CACHE APDUs, DEBIT with type 09).
    pub fn debit(
        &mut self,
        card: &mut SimCard,
        purse: Purse,
        amount: u32,
        when: When,
        capp: Option<&[Vec<u8>]>,
    ) -> Result<PurchaseReceipt, TerminalError> {
        let dpk = self.card_key(&self.purchase_master, "purchase")?;
        let dtk = self.card_key(&self.tac_master, "TAC")?;
        let mut init = vec![self.key_index];
        init.extend_from_slice(&amount.to_be_bytes());
        init.extend_from_slice(&self.terminal_id);
        let (p1, ty) = match capp {
            Some(_) => (0x03, 0x09),
            None => (0x01, purse.purchase_type()),
        };
        let r = ok(
            card,
            "INITIALIZE FOR PURCHASE",
            &apdu(0x80, 0x50, p1, purse.p2(), &init, Some(0x0F)),
        )?;
        if r.len() != 15 {
            return Err(TerminalError::Malformed("INITIALIZE FOR PURCHASE"));
        }
        let old = be32(&r[0..4]).unwrap_or(0);
        let atc = u16::from_be_bytes([r[4], r[5]]);
        for u in capp.unwrap_or(&[]) {
            ok(card, "UPDATE CAPP DATA CACHE", u)?;
        }
        self.ttc = self.ttc.wrapping_add(1);
        let ttc = self.ttc.to_be_bytes();
        let mut input = [0u8; 8];
        input[..4].copy_from_slice(&r[11..15]);
        input[4..6].copy_from_slice(&r[4..6]);
        input[6..8].copy_from_slice(&ttc[2..4]);
        let ses = session_key(&dpk, &input);
        let iv = vec![0u8; ses.alg.block()];
        let mut m1 = amount.to_be_bytes().to_vec();
        m1.push(ty);
        m1.extend_from_slice(&self.terminal_id);
        m1.extend_from_slice(&when.date);
        m1.extend_from_slice(&when.time);
        let mac1 = ses.mac4(&iv, &m1);
        let mut debit = ttc.to_vec();
        debit.extend_from_slice(&when.date);
        debit.extend_from_slice(&when.time);
        debit.extend_from_slice(&mac1);
        let d = ok(
            card,
            "DEBIT FOR PURCHASE",
            &apdu(0x80, 0x54, 0x01, 0x00, &debit, Some(8)),
        )?;
        if d.len() != 8 {
            return Err(TerminalError::Malformed("DEBIT FOR PURCHASE"));
        }
        let (tac, mac2) = d.split_at(4);
        if ses.mac4(&iv, &amount.to_be_bytes()) != mac2 {
            return Err(TerminalError::Mismatch("MAC2"));
        }
        let mut t = amount.to_be_bytes().to_vec();
        t.push(ty);
        t.extend_from_slice(&self.terminal_id);
        t.extend_from_slice(&ttc);
        t.extend_from_slice(&when.date);
        t.extend_from_slice(&when.time);
        let tk = tac_key(&dtk);
        if tk.mac4(&vec![0u8; tk.alg.block()], &t) != tac {
            return Err(TerminalError::Mismatch("TAC"));
        }
        Ok(PurchaseReceipt {
            balance: old - amount.min(old),
            atc,
            ttc: self.ttc,
            mac2: mac2
                .try_into()
                .map_err(|_| TerminalError::Malformed("DEBIT"))?,
            tac: tac
                .try_into()
                .map_err(|_| TerminalError::Malformed("DEBIT"))?,
        })
    }

    /// The purse's transaction records (READ RECORD of SFI 18, newest first).
    pub fn records(&self, card: &mut SimCard) -> Result<Vec<Vec<u8>>, TerminalError> {
        let mut out = Vec::new();
        for n in 1..=50u8 {
            let (d, sw) = card
                .exchange(&apdu(0x00, 0xB2, n, (0x18 << 3) | 0x04, &[], Some(0x00)))
                .ok_or(TerminalError::NoAnswer("READ RECORD"))?;
            match sw {
                0x9000 => out.push(d),
                0x6A83 => break,
                sw => {
                    return Err(TerminalError::Refused {
                        step: "READ RECORD",
                        sw,
                    })
                }
            }
        }
        Ok(out)
    }
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}
