//! The kernel ↔ applet boundary, with a small probe applet: the select / deselect / reselect order,
//! which commands reach the applet, what its context lets it see (only its own ADF), atomic
//! transactions, the command counter, the challenge hand-over and the life-cycle gates.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used
)]

mod common;
use common::*;

use cos_core::apdu::{Command, Fid, Response, Sw};
use cos_core::nvm::TearMode;
use cos_core::{Applet, Cx, Selection};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

const AID2: &str = "A00000000386980702";

type Log = Rc<RefCell<Vec<String>>>;

/// A probe applet. Its proprietary commands (CLA 80):
/// * `50 sfi len`: read `len` bytes of the EF with that SFI under its ADF (Cx::file_by_sfi + read);
/// * `52 sfi 00|01 data`: in one transaction, write `data` at offset 0 of the EF `sfi` and append
///   it to the cyclic EF 0018; P2 01 then returns an error from the closure;
/// * `54`: the command sequence number (4 bytes);
/// * `56`: the challenge handed over by the kernel (its bytes, or nothing);
/// * `58`: the security levels (MF, DF); allowed while the application is blocked;
/// * `5A fid(2)`: look an EF up by FID (Cx::file) and answer its size;
/// * `5C`: answer 300 bytes (transport chaining);
/// * `40 sw1 sw2`: answer 2 bytes of data with that status word (error or warning).
struct Probe {
    aid: Vec<u8>,
    name: &'static str,
    log: Log,
    refuse_select: Rc<Cell<bool>>,
}

impl Probe {
    fn note(&self, what: String) {
        self.log.borrow_mut().push(format!("{}:{what}", self.name));
    }
}

fn ovf<T>(_: T) -> Sw {
    Sw::UNKNOWN
}

impl Applet for Probe {
    fn aid(&self) -> &[u8] {
        &self.aid
    }

    fn power_on(&mut self) {
        self.note("power_on".into());
    }

    fn select(
        &mut self,
        cx: &mut Cx<'_>,
        selection: Selection,
        fci: &mut Response<'_>,
    ) -> Result<(), Sw> {
        self.note(format!("select {selection:?}"));
        if self.refuse_select.get() {
            return Err(Sw(0x6999));
        }
        // A proprietary FCI data object, and a look at the ADF's files through the context.
        fci.tlv(0x9F08, &[0x01]).map_err(ovf)?;
        let n = cx.record_count(cx.file_by_sfi(0x17)?)?;
        fci.tlv(0xC1, &[n]).map_err(ovf)
    }

    fn deselect(&mut self) {
        self.note("deselect".into());
    }

    fn process(
        &mut self,
        cx: &mut Cx<'_>,
        cmd: &Command<'_>,
        rsp: &mut Response<'_>,
    ) -> Result<Sw, Sw> {
        self.note(format!(
            "process {:02X}{:02X}",
            cmd.cla().raw(),
            cmd.ins().0
        ));
        let (p1, p2) = (cmd.p1(), cmd.p2());
        match cmd.ins().0 {
            0x50 => {
                let f = cx.file_by_sfi(p1)?;
                let mut buf = vec![0u8; usize::from(p2)];
                cx.read(f, 0, &mut buf)?;
                rsp.extend(&buf).map_err(ovf)?;
            }
            0x52 => {
                let f = cx.file_by_sfi(p1)?;
                let log = cx.file_by_sfi(0x18)?;
                let data = cmd.data().to_vec();
                cx.transaction(|tx| {
                    tx.write(f, 0, &data)?;
                    let mut rec = [0u8; 8];
                    for (d, s) in rec.iter_mut().zip(&data) {
                        *d = *s;
                    }
                    tx.append_record(log, &rec)?;
                    let mut back = vec![0u8; data.len()];
                    tx.read(f, 0, &mut back)?;
                    assert_eq!(back, data, "a transaction sees its own writes");
                    if p2 == 0x01 {
                        return Err(Sw(0x6F01));
                    }
                    Ok(())
                })?;
            }
            0x54 => rsp.extend(&cx.command_seq().to_be_bytes()).map_err(ovf)?,
            0x56 => {
                if let Some(ch) = cx.take_challenge() {
                    rsp.extend(ch.as_bytes()).map_err(ovf)?;
                }
                // Spent on reading.
                assert!(cx.take_challenge().is_none());
            }
            0x58 => {
                let s = cx.security();
                rsp.extend(&[s.mf_level().get(), s.df_level().get()])
                    .map_err(ovf)?;
            }
            0x5A => {
                let fid = Fid::from_bytes([cmd.data()[0], cmd.data()[1]]);
                let e = cx.entry(cx.file(fid)?)?;
                rsp.extend(&e.size.to_be_bytes()).map_err(ovf)?;
            }
            0x5C => rsp.extend(&[0x5C; 300]).map_err(ovf)?,
            0x40 => {
                rsp.extend(&[0xAB, 0xCD]).map_err(ovf)?;
                let sw = Sw(u16::from_be_bytes([p1, p2]));
                return if sw.is_error() { Err(sw) } else { Ok(sw) };
            }
            _ => return Err(Sw::INS_NOT_SUPPORTED),
        }
        Ok(Sw::SUCCESS)
    }

    fn runs_when_blocked(&self, cmd: &Command<'_>) -> bool {
        cmd.ins().0 == 0x58
    }
}

struct Rig {
    card: Card,
    log: Log,
    refuse_a: Rc<Cell<bool>>,
    refuse_b: Rc<Cell<bool>>,
}

impl Rig {
    fn take_log(&self) -> Vec<String> {
        take(&self.log)
    }
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.borrow_mut())
}

/// The personalised card plus a second application (3F02, `AID2`, with a key file, its own 0017,
/// and an EF with SFI 05 that the first application does not have); probe "A" serves the first
/// application, probe "B" the second. MF current, log empty.
fn rig() -> Rig {
    static IMAGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let image = IMAGE.get_or_init(|| {
        let mut c = personalised();
        assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
        c.ok(&format!("80E0 3F02 11 38 0200 F0 F0 95 FFFF {AID2}"));
        c.ok("00A4 0000 02 3F02");
        c.ok("80E0 0000 07 3F 0030 01 F0 FFFF");
        c.ok("80E0 0017 07 2A 01 04 F0 F0 FFFF");
        c.ok("80E0 0018 07 2E 02 08 F0 F0 FFFF");
        c.ok("80E0 0005 07 28 0004 F0 F0 FFFF");
        c.ok("80E0 0006 07 28 0007 F0 F0 FFFF");
        c.image()
    });
    let log: Log = Rc::default();
    let refuse_a = Rc::new(Cell::new(false));
    let refuse_b = Rc::new(Cell::new(false));
    let a = Probe {
        aid: h(ADF_AID),
        name: "A",
        log: log.clone(),
        refuse_select: refuse_a.clone(),
    };
    let b = Probe {
        aid: h(AID2),
        name: "B",
        log: log.clone(),
        refuse_select: refuse_b.clone(),
    };
    let card = Card::from_image_with(image, vec![Box::new(a), Box::new(b)]);
    let rig = Rig {
        card,
        log,
        refuse_a,
        refuse_b,
    };
    assert_eq!(rig.take_log(), ["A:power_on", "B:power_on"]);
    rig
}

#[test]
fn select_deselect_reselect_order() {
    let mut r = rig();
    let log = r.log.clone();
    let c = &mut r.card;
    // First selection: the applet's FCI data objects go inside A5.
    let fci = c.select_adf();
    assert_eq!(
        fci,
        h(&format!("6F 14 84 09 {ADF_AID} A5 07 9F0801 01 C101 03"))
    );
    assert_eq!(take(&log), ["A:select First"]);
    // Re-selection of the same ADF (by name or FID): no deselect.
    c.select_adf();
    c.ok("00A4 000C 02 3F01");
    assert_eq!(take(&log), ["A:select Reselect", "A:select Reselect"]);
    // Selecting an EF of it changes nothing for the applet.
    c.ok("00A4 020C 02 0015");
    assert!(take(&log).is_empty());
    // Switching: the old applet's deselect, then the new one's select.
    let fci = c.ok(&format!("00A4 0400 09 {AID2}"));
    assert_eq!(
        fci,
        h(&format!("6F 14 84 09 {AID2} A5 07 9F0801 01 C101 01"))
    );
    assert_eq!(take(&log), ["A:deselect", "B:select First"]);
    // To the MF (no applet): deselect only.
    c.ok("00A4 0000 02 3F00");
    assert_eq!(take(&log), ["B:deselect"]);
    // P2 0C (no FCI wanted): the applet still runs its selection.
    c.ok("00A4 010C 02 3F01");
    assert_eq!(take(&log), ["A:select First"]);
    // By path to an EF of the other application.
    c.ok("00A4 080C 04 3F02 0005");
    assert_eq!(take(&log), ["A:deselect", "B:select First"]);
    // A failed SELECT (not found) touches no applet.
    c.expect("00A4 0400 05 A000000099", 0x6A82);
    assert!(take(&log).is_empty());
    // Power is never announced: no deselect, a power_on for everyone.
    c.power_cycle();
    assert_eq!(take(&log), ["A:power_on", "B:power_on"]);
    c.select_adf();
    assert_eq!(take(&log), ["A:select First"]);
}

#[test]
fn a_refused_applet_selection_changes_nothing_in_the_kernel() {
    let mut r = rig();
    r.card.select_adf();
    assert_eq!(r.card.verify_pin("123456"), 0x9000);
    r.card.ok("00A4 020C 02 0016");
    r.take_log();
    r.refuse_b.set(true);
    let before = r.card.image();
    r.card.refuse(&format!("00A4 0400 09 {AID2}"), 0x6999);
    assert_same_image(&before, &r.card.image(), "refused selection");
    // Java Card order: the old applet was deselected before the new one refused.
    assert_eq!(r.take_log(), ["A:deselect", "B:select First"]);
    // The kernel's selection and security status are as before the SELECT: still the first
    // application, with its current EF 0016 and the PIN's level.
    assert_eq!(r.card.ok("00B0 0000 02"), vec![0, 0]);
    r.card.ok("00B2 01BC 00");
    // No applet is bound any more (the old one was told it is deselected).
    r.card.refuse("8054 0000 00", 0x6D00);
    assert!(r.take_log().is_empty());
    // Selecting the first application again binds it afresh.
    r.card.select_adf();
    assert_eq!(r.take_log(), ["A:select First"]);
    r.card.ok("8054 0000 00");
    // A refusal on re-selection leaves it unbound too.
    r.refuse_a.set(true);
    r.card.refuse(&format!("00A4 0400 09 {ADF_AID}"), 0x6999);
    r.card.refuse("8054 0000 00", 0x6D00);
}

#[test]
fn only_non_kernel_commands_reach_the_applet() {
    let mut r = rig();
    let log = r.log.clone();
    let c = &mut r.card;
    // No applet in the MF.
    c.refuse("8054 0000 00", 0x6D00);
    c.refuse("00CA 0000 00", 0x6D00);
    c.select_adf();
    take(&log);
    for apdu in [
        "00B0 9500 01",
        "00B2 01BC 00",
        "0084 0000 04",
        "0020 0000",
        "80E0 0021 07 28 0004 F0 F0 FFFF",
        "00A4 020C 02 0015",
        "00C0 0000 00",
    ] {
        c.tx(apdu);
    }
    assert!(take(&log).is_empty(), "kernel commands are the kernel's");
    // Unknown ISO and proprietary instructions go to the applet (the kernel's INS values with
    // the other class too).
    assert_eq!(c.ok("8054 0000 00").len(), 4);
    c.refuse("00CA 9F36 00", 0x6D00);
    c.refuse("80A4 0000 02 3F00", 0x6D00);
    c.refuse("80B0 9500 01", 0x6D00);
    c.refuse("00E0 0000 00", 0x6D00);
    assert_eq!(
        take(&log),
        [
            "A:process 8054",
            "A:process 00CA",
            "A:process 80A4",
            "A:process 80B0",
            "A:process 00E0"
        ]
    );
    // A DF below the ADF has no applet of its own: nothing reaches "A" there.
    c.ok("80E0 4F01 0E 38 0040 F0 F0 95 FFFF D15600000501");
    c.ok("00A4 0000 02 4F01");
    assert_eq!(take(&log), ["A:deselect"]);
    c.refuse("8054 0000 00", 0x6D00);
    assert!(take(&log).is_empty());
}

#[test]
fn applet_errors_and_warnings() {
    let mut r = rig();
    let c = &mut r.card;
    c.select_adf();
    // An error discards the applet's data.
    assert_eq!(c.tx("8040 6A80 00"), (vec![], 0x6A80));
    // A warning keeps it.
    assert_eq!(c.tx("8040 6283 00"), (h("ABCD"), 0x6283));
    // A long answer comes through 61xx / GET RESPONSE.
    let (d, sw) = c.once(&h("805C 0000 00"));
    assert_eq!((d.len(), sw), (256, 0x612C));
    let (d, sw) = c.once(&h("00C0 0000 2C"));
    assert_eq!((d, sw), (vec![0x5C; 44], 0x9000));
    // Unknown applet INS.
    c.refuse("8070 0000 00", 0x6D00);
}

#[test]
fn the_applet_sees_only_its_own_adf() {
    let mut r = rig();
    let c = &mut r.card;
    c.select_adf();
    assert_eq!(c.ok("8050 1504 00"), vec![0; 4]);
    // SFI 05 exists only in the other application.
    c.refuse("8050 0504 00", 0x6A82);
    c.refuse("805A 0000 02 0005", 0x6A82);
    // Not the MF's files, not a DF by FID either.
    c.refuse("805A 0000 02 3F02", 0x6A82);
    c.refuse("805A 0000 02 3F00", 0x6A82);
    assert_eq!(c.ok("805A 0000 02 0019"), h("0040"));
    // Reading a record EF as binary through the context: 6981.
    c.refuse("8050 1704 00", 0x6981);
    // Past the end of 0015 (30 bytes).
    c.refuse("8050 1520 00", 0x6700);
    // The other applet, in its ADF, sees its own 0017 (one record of 4) and SFI 05.
    c.ok(&format!("00A4 0400 09 {AID2}"));
    assert_eq!(c.ok("8050 0504 00"), vec![0; 4]);
    assert_eq!(c.ok("805A 0000 02 0017"), h("0004"));
    c.refuse("8050 1504 00", 0x6A82);
}

#[test]
fn applet_transaction_is_atomic() {
    let mut r = rig();
    let c = &mut r.card;
    c.select_adf();
    // Ok: the write and the append both happen.
    c.ok("8052 1500 03 A1A2A3");
    assert_eq!(c.ok("00B0 9500 03"), h("A1A2A3"));
    assert_eq!(c.ok("00B2 01C4 00"), h("A1A2A3 0000000000"));
    // Err from the closure: neither, and the NVM image is untouched.
    c.refuse("8052 1501 03 B1B2B3", 0x6F01);
    assert_eq!(c.ok("00B0 9500 03"), h("A1A2A3"));
    c.refuse("00B2 02C4 00", 0x6A83);
    // An error inside the transaction (write past the end of 0016, 16 bytes) aborts it too.
    c.refuse(&format!("8052 1600 11 {}", "C1".repeat(17)), 0x6700);
    c.refuse("00B2 02C4 00", 0x6A83);
}

#[test]
fn applet_transaction_survives_power_cuts() {
    let base = {
        let mut r = rig();
        r.card.select_adf();
        r.card.image()
    };
    let mut saw_old = false;
    let mut saw_new = false;
    for k in 0.. {
        let mut r = rig();
        r.card = Card::from_image_with(&base, std::mem::take(&mut r.card.applets));
        r.card.select_adf();
        r.card
            .kernel()
            .store_mut()
            .nvm_mut()
            .arm_tear(k, TearMode::Partial { seed: k });
        let (_, sw) = r.card.tx("8052 1500 03 D1D2D3");
        let torn = r.card.kernel().store().nvm().is_power_lost();
        r.card.power_cycle();
        r.card.select_adf();
        let bin = r.card.ok("00B0 9500 03");
        let (rec, rsw) = r.card.tx("00B2 01C4 00");
        if bin == h("D1D2D3") {
            assert_eq!(
                (rec, rsw),
                (h("D1D2D3 0000000000"), 0x9000),
                "k={k}: half a transaction"
            );
            saw_new = true;
        } else {
            assert_eq!(bin, vec![0; 3]);
            assert_eq!(rsw, 0x6A83, "k={k}: half a transaction");
            saw_old = true;
        }
        if !torn {
            assert_eq!(sw, 0x9000);
            break;
        }
        assert!(k < 50);
    }
    assert!(saw_old && saw_new);
}

#[test]
fn command_seq_counts_kernel_commands() {
    let mut r = rig();
    let c = &mut r.card;
    c.select_adf();
    let seq = |c: &mut Card| u32::from_be_bytes(c.ok("8054 0000 00").try_into().unwrap());
    let a = seq(c);
    let b = seq(c);
    assert_eq!(b, a + 1);
    c.ok("00B0 9500 01");
    c.tx("00B0 9F00 01"); // refused, still a command
    assert_eq!(seq(c), b + 3);
    // GET RESPONSE is the transport's, not a command.
    let (_, sw) = c.once(&h("00A4 0000 02 3F01"));
    assert_eq!(sw >> 8, 0x61);
    c.once(&[0x00, 0xC0, 0x00, 0x00, sw as u8]);
    let d = seq(c);
    assert!(d > b + 3);
    let e = seq(c);
    assert_eq!(e, d + 1);
    // A new power-on starts again.
    c.power_cycle();
    c.select_adf();
    assert_eq!(seq(c), 2);
}

#[test]
fn challenge_is_handed_to_the_applet_once() {
    let mut r = rig();
    let c = &mut r.card;
    c.select_adf();
    let ch = c.challenge(8);
    assert_eq!(c.ok("8056 0000 00"), ch);
    assert_eq!(c.ok("8056 0000 00"), Vec::<u8>::new());
    // A command in between spends it.
    c.challenge(4);
    c.ok("00B0 9500 01");
    assert_eq!(c.ok("8056 0000 00"), Vec::<u8>::new());
}

#[test]
fn the_applet_sees_the_kernel_security_status() {
    let mut r = rig();
    let c = &mut r.card;
    c.select_adf();
    assert_eq!(c.ok("8058 0000 00"), h("00 00"));
    assert_eq!(c.verify_pin("123456"), 0x9000);
    assert_eq!(c.ok("8058 0000 00"), h("00 01"));
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
    assert_eq!(c.ok("8058 0000 00"), h("00 02"));
    // Cleared when the ADF is entered again from elsewhere.
    c.ok("00A4 0000 02 3F00");
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
    c.select_adf();
    assert_eq!(c.ok("8058 0000 00"), h("0F 00"));
}

#[test]
fn blocked_and_terminated_applications_gate_the_applet() {
    let mut r = rig();
    r.card.select_adf();
    assert_eq!(app_block(&mut r.card, 0x00), 0x9000);
    r.take_log();
    // Only what runs_when_blocked allows.
    r.card.refuse("8054 0000 00", 0x6985);
    assert_eq!(r.card.ok("8058 0000 00"), h("00 00"));
    assert_eq!(r.take_log(), ["A:process 8058"]);
    // Selecting it again binds the applet (with 6283).
    r.card.ok("00A4 0000 02 3F00");
    assert_eq!(r.take_log(), ["A:deselect"]);
    r.card.expect(&format!("00A4 0400 09 {ADF_AID}"), 0x6283);
    assert_eq!(r.take_log(), ["A:select First"]);
    assert_eq!(app_unblock(&mut r.card), 0x9000);
    r.card.ok("8054 0000 00");
    // Permanently blocked: nothing reaches the applet.
    assert_eq!(app_block(&mut r.card, 0x01), 0x9000);
    r.take_log();
    r.card.refuse("8058 0000 00", 0x6A81);
    r.card.refuse("8054 0000 00", 0x6A81);
    assert!(r.take_log().is_empty());
}
