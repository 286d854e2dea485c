//! The [`Library`] applet: BORROW, RETURN and RENEW against the files of the library ADF.
//!
//! Responsibility: authorise each command (terminal security level, then the line-protection MAC
//! under the line key's try counter), read the patron file and the loan slots, let [`crate::rules`]
//! decide, and commit the decision. Invariants:
//! * RAM holds nothing: every command reads what it needs from NVM (power loss is never announced);
//! * order in every command: parse → security level → MAC (try counter committed before the
//!   comparison, by the kernel) → read and decide → **one** [`Cx::transaction`] writing the loan
//!   slot and appending the history record → answer. A refusal writes nothing (beyond the line key's
//!   try counter); a power cut anywhere leaves the slot and the history both old or both new.
//! * the loans and history files should have the write right `EF` (never): only this applet writes
//!   them, through its transactions, which the kernel's access rights do not gate.

use crate::command::LibraryCommand;
use crate::error::LoanError;
use crate::patron::{Patron, PATRON_LEN};
use crate::records::{HistoryRecord, LoanSlot, HISTORY_RECORD_LEN, LOAN_RECORD_LEN};
use crate::rules::{self, Change, LoanScan, Receipt};
use crate::types::{Barcode, Seq, SlotNumber};
use cos_core::apdu::{Aid, Command, Response, Sw};
use cos_core::fs::record::MAX_RECORD;
use cos_core::fs::FileKind;
use cos_core::types::AccessRight;
use cos_core::{Applet, Cx, FileRef, Selection};

/// The library ADF's name by default: `F0 'CCOSLIB' 01` (ISO/IEC 7816-5 category `F`, a
/// proprietary, unregistered AID).
pub const DEFAULT_AID: Aid =
    Aid::from_static(&[0xF0, 0x43, 0x43, 0x4F, 0x53, 0x4C, 0x49, 0x42, 0x01]);
/// SFI of the patron file (transparent, free read).
pub const PATRON_SFI: u8 = 0x11;
/// SFI of the loans file (linear fixed, one record per slot).
pub const LOANS_SFI: u8 = 0x12;
/// SFI of the loan history (cyclic).
pub const HISTORY_SFI: u8 = 0x13;

/// What the applet requires of the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LibraryPolicy {
    /// The access right the current security level must meet for BORROW / RETURN / RENEW. The
    /// default `F2` is met after EXTERNAL AUTHENTICATE with the library terminal key (next state
    /// 2) or the administration key (3), not after the holder's PIN (1).
    pub terminal_right: AccessRight,
    /// Identifier of the line-protection key (type `36`) that MACs the commands. It should be the
    /// ADF's only line-protection key, so that the kernel's secure messaging (patron-file updates)
    /// and the applet use the same key.
    pub line_key: u8,
}

impl Default for LibraryPolicy {
    fn default() -> Self {
        LibraryPolicy {
            terminal_right: AccessRight(0xF2),
            line_key: 0x00,
        }
    }
}

/// The library-loan application, bound to one ADF.
///
/// The ADF holds the patron file (SFI [`PATRON_SFI`], transparent, ≥ 40 bytes), the loans file
/// (SFI [`LOANS_SFI`], linear fixed, 30-byte records), the history (SFI [`HISTORY_SFI`], cyclic,
/// 36-byte records) and a key file with the terminal's external-authentication key and the line
/// key. See `docs/library.md`.
#[derive(Debug, Clone)]
pub struct Library {
    aid: Aid,
    policy: LibraryPolicy,
}

impl Default for Library {
    fn default() -> Self {
        Library::new(DEFAULT_AID, LibraryPolicy::default())
    }
}

impl Library {
    /// An applet serving the ADF named `aid`.
    pub const fn new(aid: Aid, policy: LibraryPolicy) -> Library {
        Library { aid, policy }
    }

    /// The policy.
    pub const fn policy(&self) -> LibraryPolicy {
        self.policy
    }
}

impl Applet for Library {
    fn aid(&self) -> &[u8] {
        self.aid.as_bytes()
    }

    fn power_on(&mut self) {}

    fn select(
        &mut self,
        _cx: &mut Cx<'_>,
        _selection: Selection,
        _fci: &mut Response<'_>,
    ) -> Result<(), Sw> {
        Ok(())
    }

    fn deselect(&mut self) {}

    fn process(
        &mut self,
        cx: &mut Cx<'_>,
        cmd: &Command<'_>,
        rsp: &mut Response<'_>,
    ) -> Result<Sw, Sw> {
        let command = LibraryCommand::try_from(cmd)?;
        let authorised = authorise(cx, cmd, &self.policy, command)?;
        let receipt = execute(cx, authorised)?;
        rsp.extend(&receipt.encode()).map_err(|_| Sw::UNKNOWN)?;
        Ok(Sw::SUCCESS)
    }
}

/// A command whose terminal level and MAC were checked (only [`authorise`] makes one).
struct Authorised(LibraryCommand);

/// Security level first (`6982`), then the MAC: no challenge `6984`, no line key `6882`, key
/// blocked `6983`, wrong MAC `6988` (a try of the line key spent).
fn authorise(
    cx: &mut Cx<'_>,
    cmd: &Command<'_>,
    policy: &LibraryPolicy,
    command: LibraryCommand,
) -> Result<Authorised, Sw> {
    // The challenge serves this command whatever happens.
    let challenge = cx.take_challenge();
    if !cx.satisfies(policy.terminal_right) {
        return Err(Sw::SECURITY_STATUS_NOT_SATISFIED);
    }
    let challenge = challenge.ok_or(Sw::REFERENCE_DATA_NOT_USABLE)?;
    cx.verify_line_mac(cmd, policy.line_key, &challenge)?;
    Ok(Authorised(command))
}

/// The three files of the ADF, checked against the layouts (`6A82` missing, `6981` wrong kind).
struct Files {
    patron: FileRef,
    loans: FileRef,
    history: FileRef,
}

impl Files {
    fn open(cx: &Cx<'_>) -> Result<Files, Sw> {
        let patron = cx.file_by_sfi(PATRON_SFI)?;
        let loans = cx.file_by_sfi(LOANS_SFI)?;
        let history = cx.file_by_sfi(HISTORY_SFI)?;
        let p = cx.entry(patron)?;
        let l = cx.entry(loans)?;
        let h = cx.entry(history)?;
        let ok = p.kind == FileKind::Transparent
            && usize::from(p.size) >= PATRON_LEN
            && l.kind == FileKind::LinearFixed
            && usize::from(l.record_len) == LOAN_RECORD_LEN
            && h.kind == FileKind::Cyclic
            && usize::from(h.record_len) == HISTORY_RECORD_LEN;
        if !ok {
            return Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE);
        }
        Ok(Files {
            patron,
            loans,
            history,
        })
    }
}

fn read_patron(cx: &Cx<'_>, f: FileRef) -> Result<Patron, LoanError> {
    let mut b = [0u8; PATRON_LEN];
    cx.read(f, 0, &mut b)?;
    Patron::decode(&b).ok_or(LoanError::PatronInvalid)
}

fn scan_loans(cx: &Cx<'_>, f: FileRef, barcode: Barcode) -> Result<LoanScan, LoanError> {
    let mut scan = LoanScan::new(barcode);
    let mut buf = [0u8; MAX_RECORD];
    for n in 1..=cx.record_count(f)? {
        let len = cx.read_record(f, n, &mut buf)?;
        let record = buf
            .get(..len)
            .and_then(LoanSlot::decode)
            .ok_or(LoanError::Corrupt)?;
        let slot = SlotNumber::new(n).ok_or(LoanError::Corrupt)?;
        scan.add(slot, &record);
    }
    Ok(scan)
}

/// The counter of the newest history event (0 when the history is empty).
fn last_seq(cx: &Cx<'_>, f: FileRef) -> Result<Seq, LoanError> {
    if cx.record_count(f)? == 0 {
        return Ok(Seq(0));
    }
    let mut buf = [0u8; MAX_RECORD];
    let len = cx.read_record(f, 1, &mut buf)?;
    buf.get(..len)
        .and_then(HistoryRecord::decode)
        .map(|h| h.seq)
        .ok_or(LoanError::Corrupt)
}

fn execute(cx: &mut Cx<'_>, Authorised(command): Authorised) -> Result<Receipt, LoanError> {
    let files = Files::open(cx)?;
    let req = command.request();
    let scan = scan_loans(cx, files.loans, req.barcode)?;
    let seq = last_seq(cx, files.history)?.next();
    let change = match command {
        LibraryCommand::Borrow(ref r) => {
            let patron = read_patron(cx, files.patron)?;
            rules::borrow(&patron, &scan, r, seq)?
        }
        LibraryCommand::Return(ref r) => rules::give_back(&scan, r, seq)?,
        LibraryCommand::Renew(ref r) => {
            let patron = read_patron(cx, files.patron)?;
            rules::renew(&patron, &scan, r, seq)?
        }
    };
    commit(cx, &files, &change)?;
    Ok(change.receipt)
}

/// The loan slot and its history record, in one transaction.
fn commit(cx: &mut Cx<'_>, files: &Files, change: &Change) -> Result<(), Sw> {
    let record = change.record.encode();
    let event = change.event.encode();
    cx.transaction(|tx| {
        tx.update_record(files.loans, change.slot.get(), &record)?;
        tx.append_record(files.history, &event)?;
        Ok(())
    })
}
