//! The purchase path's CAPP hook, exercised by a minimal transit front-end written here (the real
//! one belongs to the transit applet): INITIALIZE FOR CAPP PURCHASE (`80 50 03 02`) and DEBIT go
//! to [`EPurse::initialize_debit`] / [`EPurse::debit`], UPDATE CAPP DATA CACHE (`80 DC`) is kept
//! in RAM with [`EPurse::carry_pending`], and the cached record is written by the `staged`
//! closure inside the debit's own transaction: balance, log and compound record all old or all
//! new, even under power cuts.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;
use common::*;
use cos_core::apdu::{Command, Response, Sw};
use cos_core::nvm::TearMode;
use cos_core::{Applet, Cx, Selection};
use e_purse::{DebitKind, EPurse, PurseCommand};

/// A test-only transit front-end around the purse.
struct CappFrontEnd {
    purse: EPurse,
    /// (SFI, record number, data) of the last UPDATE CAPP DATA CACHE.
    cache: Option<(u8, u8, Vec<u8>)>,
}

impl CappFrontEnd {
    fn new() -> CappFrontEnd {
        CappFrontEnd {
            purse: EPurse::default(),
            cache: None,
        }
    }
}

impl Applet for CappFrontEnd {
    fn aid(&self) -> &[u8] {
        self.purse.aid()
    }

    fn power_on(&mut self) {
        self.cache = None;
        self.purse.power_on();
    }

    fn select(&mut self, cx: &mut Cx<'_>, s: Selection, fci: &mut Response<'_>) -> Result<(), Sw> {
        self.cache = None;
        self.purse.select(cx, s, fci)
    }

    fn deselect(&mut self) {
        self.cache = None;
        self.purse.deselect();
    }

    fn runs_when_blocked(&self, cmd: &Command<'_>) -> bool {
        self.purse.runs_when_blocked(cmd)
    }

    fn process(
        &mut self,
        cx: &mut Cx<'_>,
        cmd: &Command<'_>,
        rsp: &mut Response<'_>,
    ) -> Result<Sw, Sw> {
        let capp_pending = self.purse.pending_debit() == Some(DebitKind::CappPurchase);
        match (cmd.cla().raw(), cmd.ins().0, cmd.p1(), cmd.p2()) {
            (0x80, 0x50, 0x03, 0x02) => {
                self.cache = None;
                match PurseCommand::try_from(cmd)? {
                    PurseCommand::InitializeDebit { kind, purse, req } => {
                        self.purse.initialize_debit(cx, kind, purse, req, rsp)
                    }
                    _ => Err(Sw::UNKNOWN),
                }
            }
            (0x80, 0xDC, rec, p2) => {
                if !capp_pending {
                    self.cache = None;
                    let _ = self.purse.carry_pending(cx);
                    return Err(Sw::PBOC_NO_TRANSACTION);
                }
                self.purse.carry_pending(cx)?;
                self.cache = Some((p2 >> 3, rec, cmd.data().to_vec()));
                Ok(Sw::SUCCESS)
            }
            (0x80, 0x54, 0x01, 0x00) if capp_pending => {
                let PurseCommand::Debit(req) = PurseCommand::try_from(cmd)? else {
                    return Err(Sw::UNKNOWN);
                };
                let cache = self.cache.take();
                let target = match &cache {
                    Some((sfi, rec, data)) => Some((cx.file_by_sfi(*sfi)?, *rec, data.clone())),
                    None => None,
                };
                self.purse.debit(cx, req, rsp, |tx| match &target {
                    Some((f, rec, data)) => tx.update_record(*f, *rec, data),
                    None => Ok(()),
                })
            }
            _ => {
                self.cache = None;
                self.purse.process(cx, cmd, rsp)
            }
        }
    }
}

const RECORD: [u8; 16] = *b"ENTRY-STATION-42";

fn capp_card(image: &[u8]) -> Card {
    let mut c = Card::from_image_with(image, seeded(), Box::new(CappFrontEnd::new()));
    c.select_adf();
    c
}

/// INITIALIZE FOR CAPP PURCHASE ‖ UPDATE CAPP DATA CACHE, then the DEBIT APDU.
fn prepare(c: &mut Card, t: &mut Terminal, amount: u32) -> (PurchaseInit, Vec<u8>) {
    let init = t.init_purchase(c, 0x03, 0x02, 1, amount).unwrap();
    c.ok(&format!("80DC 01BC 10 {}", hex::encode(RECORD)));
    let apdu = t.debit_apdu(1, 0x09, amount, &init, Tamper::default());
    (init, apdu)
}

#[test]
fn capp_purchase_commits_the_cached_record_with_the_debit() {
    let mut c = capp_card(standard_image());
    let mut t = Terminal::standard();
    t.load(&mut c, 1, 0x02, 1_000).unwrap();
    let (init, apdu) = prepare(&mut c, &mut t, 250);
    let rsp = c.ok(&hex::encode(&apdu));
    let done = t.check_debit(1, 0x09, 250, &init, t.ttc, &rsp);
    assert_eq!(c.balance(0x02), Ok(750));
    assert_eq!(c.ok("00B2 01BC 00"), RECORD);
    assert_eq!(
        c.last_log().unwrap(),
        log_record(0, 0, 250, 0x09, &PURCHASE_DT)
    );
    assert_eq!(t.prove(&mut c, 0x09, 1), Ok((done.mac, done.tac)));
    // A plain purchase through the same front-end still works.
    t.purchase(&mut c, 1, 0x02, 50).unwrap();
}

#[test]
fn capp_pair_broken_by_another_command() {
    let mut c = capp_card(standard_image());
    let mut t = Terminal::standard();
    t.load(&mut c, 1, 0x02, 1_000).unwrap();
    let (_, apdu) = prepare(&mut c, &mut t, 250);
    c.ok("805C000204");
    c.refuse_raw(&apdu, 0x9406);
    // UPDATE CAPP DATA CACHE without INITIALIZE FOR CAPP PURCHASE.
    c.refuse(&format!("80DC 01BC 10 {}", hex::encode(RECORD)), 0x9406);
    assert_eq!(c.ok("00B2 01BC 00"), [0u8; 16]);
    assert_eq!(c.balance(0x02), Ok(1_000));
}

#[test]
fn capp_purchase_is_atomic_under_power_cuts() {
    let mut c = capp_card(standard_image());
    let mut t = Terminal::standard();
    t.load(&mut c, 1, 0x02, 1_000).unwrap();
    c.power_cycle();
    let base = c.image();
    let mut dry = capp_card(&base);
    let mut t_dry = t.clone();
    let (_, apdu) = prepare(&mut dry, &mut t_dry, 250);
    let p0 = dry.programs();
    dry.ok(&hex::encode(&apdu));
    let n = dry.programs() - p0;
    let (mut old, mut new) = (0, 0);
    for k in 0..n {
        for mode in [
            TearMode::Skip,
            TearMode::Complete,
            TearMode::Partial { seed: k },
        ] {
            let mut c = capp_card(&base);
            let mut tk = t.clone();
            let (_, apdu_k) = prepare(&mut c, &mut tk, 250);
            c.arm_tear(k, mode);
            assert_ne!(c.raw(&apdu_k).1, 0x9000);
            c.power_cycle();
            c.select_adf();
            let state = (
                c.balance(0x02).unwrap(),
                c.ok("00B2 01BC 00"),
                c.last_log().unwrap()[9],
            );
            match state {
                (1_000, r, 0x02) if r == [0u8; 16] => old += 1,
                (750, r, 0x09) if r == RECORD => new += 1,
                s => panic!("k={k} {mode:?}: torn CAPP purchase {s:?}"),
            }
        }
    }
    eprintln!(
        "CAPP purchase: {n} program operations, {} cuts: {old} old, {new} new, 0 torn",
        3 * n
    );
    assert!(old > 0 && new > 0);
}
