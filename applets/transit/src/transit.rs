//! The [`Transit`] applet: a front-end around the PBOC purse of the transit ADF.
//!
//! Responsibility: the composite (CAPP) purchase — INITIALIZE FOR CAPP PURCHASE, UPDATE CAPP DATA
//! CACHE, DEBIT — and what keyless interoperable readers expect (FCI with `9F08` / `9F0C`, GET
//! BALANCE variants); every other purse command goes to the embedded [`EPurse`] unchanged.
//!
//! Invariants:
//! * RAM holds only the CAPP session of an answered INITIALIZE FOR CAPP PURCHASE and its cached
//!   records; any other command, power-up, reset and (de)selection drop it. The session's
//!   commands must follow each other without a gap (`command_seq`), as the purse's pair does.
//! * UPDATE CAPP DATA CACHE writes nothing: it checks the record (exists, open, same tag and
//!   length) and keeps the new content in RAM. A refused cache update ends the session.
//! * DEBIT of a CAPP purchase verifies MAC1 (in the purse), then writes the balance, the offline
//!   ATC, the prove data, the `18` record, every cached composite record and the `1E` trip-log
//!   record in **one** [`cos_core::Cx::transaction`] (the purse's, through its `staged` hook), then
//!   answers. A wrong MAC, a refusal or a power cut leaves all of them as they were.

use crate::command::{BalanceItem, CacheRequest, RecordRef, TransitCommand, COMPOSITE_SFI};
use crate::records::{
    CompositeHeader, LockFlag, TripRecord, MAX_COMPOSITE_RECORD, TRIP_RECORD_LEN,
};
use cos_core::apdu::{Aid, Command, Response, Sw};
use cos_core::fs::record::MAX_RECORD;
use cos_core::fs::{DfState, FileKind};
use cos_core::{Applet, Cx, FileRef, Selection, Tx};
use e_purse::{
    Amount, DebitKind, DebitRequest, EPurse, InitRequest, PurseKind, PurseLimits, PurseState,
    TerminalId, PURSE_STATE_LEN, WALLET_FID,
};

/// The Ministry of Transport interoperable transit AID (JT/T 978), `A000000632010105`.
pub const DEFAULT_AID: Aid = Aid::from_static(&[0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05]);
/// SFI of the public application data (issuer id, type, version, card number, dates).
pub const ISSUER_SFI: u8 = 0x15;
/// SFI of the trip log.
pub const TRIP_LOG_SFI: u8 = 0x1E;
/// FCI tag of the application version (from EF `15`, byte 9).
pub const FCI_VERSION_TAG: u16 = 0x9F08;
/// Offset of the application version in EF `15`.
const VERSION_OFFSET: u32 = 9;
/// Composite records one CAPP purchase may update.
pub const MAX_CACHED_RECORDS: usize = 2;

/// A composite record held in RAM until the DEBIT.
#[derive(Clone, Copy, Debug)]
struct CachedRecord {
    number: u8,
    header: CompositeHeader,
    data: [u8; MAX_COMPOSITE_RECORD],
}

impl CachedRecord {
    fn bytes(&self) -> &[u8] {
        self.data
            .get(..usize::from(self.header.len))
            .unwrap_or_default()
    }
}

/// The files of a CAPP purchase, resolved at INITIALIZE.
#[derive(Clone, Copy, Debug)]
struct CappFiles {
    composite: FileRef,
    trip_log: FileRef,
}

/// An answered INITIALIZE FOR CAPP PURCHASE and what was cached since.
#[derive(Clone, Copy, Debug)]
struct CappSession {
    /// `command_seq` of the last command of the session.
    seq: u32,
    files: CappFiles,
    amount: Amount,
    terminal: TerminalId,
    /// The purse state INITIALIZE answered from.
    before: PurseState,
    cache: [Option<CachedRecord>; MAX_CACHED_RECORDS],
}

/// The transit application (JT/T 978 / CJ/T 166): its own PBOC electronic purse in the transit
/// ADF plus the composite (CAPP) purchase over the interoperable files `15`, `16`, `17`, `18`,
/// `1A` and `1E`. See `docs/transit.md`.
#[derive(Debug)]
pub struct Transit {
    purse: EPurse,
    session: Option<CappSession>,
}

impl Default for Transit {
    /// The MOT interoperable AID and the purse's default limits.
    fn default() -> Self {
        Transit::new(DEFAULT_AID, PurseLimits::default())
    }
}

impl Transit {
    /// An applet serving the transit ADF named `aid`, whose purse has `limits`.
    pub const fn new(aid: Aid, limits: PurseLimits) -> Transit {
        Transit {
            purse: EPurse::new(aid, limits),
            session: None,
        }
    }

    /// The purse's limits.
    pub const fn limits(&self) -> PurseLimits {
        self.purse.limits()
    }

    /// INITIALIZE FOR CAPP PURCHASE: the purse's purchase initialisation (type `09`), after
    /// checking that the composite file and the trip log exist.
    fn initialize(
        &mut self,
        cx: &mut Cx<'_>,
        req: InitRequest,
        rsp: &mut Response<'_>,
    ) -> Result<Sw, Sw> {
        check_not_locked(cx)?;
        let files = capp_files(cx)?;
        let sw = self.purse.initialize_debit(
            cx,
            DebitKind::CappPurchase,
            PurseKind::Wallet,
            req,
            rsp,
        )?;
        let before = wallet_state(cx)?;
        self.session = Some(CappSession {
            seq: cx.command_seq(),
            files,
            amount: req.amount,
            terminal: req.terminal,
            before,
            cache: [None; MAX_CACHED_RECORDS],
        });
        Ok(sw)
    }

    /// UPDATE CAPP DATA CACHE: check the record and keep it in RAM. Any refusal ends the session.
    /// The session is updated in place (it holds the cached records: moving it out and back
    /// cost code and stack).
    fn update_cache(&mut self, cx: &mut Cx<'_>, req: CacheRequest<'_>) -> Result<Sw, Sw> {
        let r = update_session(&mut self.purse, self.session.as_mut(), cx, req);
        if r.is_err() {
            self.session = None;
        }
        r
    }

    /// DEBIT of a CAPP purchase: MAC1 verified by the purse, then everything in its one
    /// transaction. The session ends whatever happens (read in place, then dropped).
    fn debit_capp(
        &mut self,
        cx: &mut Cx<'_>,
        req: DebitRequest,
        rsp: &mut Response<'_>,
    ) -> Result<Sw, Sw> {
        let r = debit_session(&mut self.purse, self.session.as_ref(), cx, req, rsp);
        self.session = None;
        r
    }

    /// GET BALANCE `80 5C 01..03 02 04` (see [`BalanceItem`]).
    fn balance_item(cx: &mut Cx<'_>, item: BalanceItem, rsp: &mut Response<'_>) -> Result<Sw, Sw> {
        check_not_locked(cx)?;
        let f = cx.file(WALLET_FID)?;
        let e = cx.entry(f)?;
        if e.kind != FileKind::Internal || usize::from(e.size) < PURSE_STATE_LEN {
            return Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE);
        }
        if !cx.satisfies(e.rights.first) {
            return Err(Sw::SECURITY_STATUS_NOT_SATISFIED);
        }
        let s = wallet_state(cx)?;
        let limit = s.overdraw_limit.amount();
        let value = match item {
            BalanceItem::OverdrawLimit => limit,
            BalanceItem::CreditInUse => limit.checked_sub(s.balance).unwrap_or(Amount::ZERO),
            BalanceItem::OwnFunds => s.own_funds().unwrap_or(Amount::ZERO),
        };
        rsp.extend(&value.to_bytes()).map_err(|_| Sw::UNKNOWN)?;
        Ok(Sw::SUCCESS)
    }
}

/// [`Transit::update_cache`] on the session in place; an error ends it (the caller drops it).
fn update_session(
    purse: &mut EPurse,
    session: Option<&mut CappSession>,
    cx: &mut Cx<'_>,
    req: CacheRequest<'_>,
) -> Result<Sw, Sw> {
    check_not_locked(cx)?;
    let session = session.ok_or(Sw::PBOC_NO_TRANSACTION)?;
    if session.seq.wrapping_add(1) != cx.command_seq()
        || purse.pending_debit() != Some(DebitKind::CappPurchase)
    {
        return Err(Sw::PBOC_NO_TRANSACTION);
    }
    let entry = cached_record(cx, session.files.composite, req)?;
    let slot = session
        .cache
        .iter()
        .position(|c| c.is_some_and(|c| c.number == entry.number))
        .or_else(|| session.cache.iter().position(Option::is_none))
        .ok_or(Sw::NOT_ENOUGH_MEMORY)?;
    let target = session.cache.get_mut(slot).ok_or(Sw::NOT_ENOUGH_MEMORY)?;
    purse.carry_pending(cx)?;
    *target = Some(entry);
    session.seq = cx.command_seq();
    Ok(Sw::SUCCESS)
}

/// [`Transit::debit_capp`] reading the session in place (the caller ends it).
fn debit_session(
    purse: &mut EPurse,
    session: Option<&CappSession>,
    cx: &mut Cx<'_>,
    req: DebitRequest,
    rsp: &mut Response<'_>,
) -> Result<Sw, Sw> {
    let session = session.ok_or(Sw::PBOC_NO_TRANSACTION)?;
    if session.seq.wrapping_add(1) != cx.command_seq() {
        return Err(Sw::PBOC_NO_TRANSACTION);
    }
    // The trip log describes the first cached record's event; no record, no CAPP purchase.
    let first = session
        .cache
        .iter()
        .flatten()
        .next()
        .ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
    let trip = TripRecord {
        event: first.header.event,
        terminal: session.terminal,
        mode: first.header.tag,
        location: first.header.location,
        amount: session.amount,
        balance_after: session
            .before
            .balance
            .checked_sub(session.amount)
            .ok_or(Sw::PBOC_INSUFFICIENT_FUNDS)?,
        date_time: req.date_time,
        city: first.header.city,
        institution: first.header.institution,
        atc: session.before.offline_atc,
    };
    let files = session.files;
    let cache = &session.cache;
    purse.debit(cx, req, rsp, |tx| {
        for c in cache.iter().flatten() {
            still_open(tx, files.composite, c)?;
            tx.update_record(files.composite, c.number, c.bytes())?;
        }
        tx.append_record(files.trip_log, &trip.encode())?;
        Ok(())
    })
}

/// Refuse the transit commands of a blocked application as the purse does: `9303`.
#[inline(never)]
fn check_not_locked(cx: &Cx<'_>) -> Result<(), Sw> {
    if cx.df_state()? == DfState::Blocked {
        Err(Sw::PBOC_APPLICATION_LOCKED)
    } else {
        Ok(())
    }
}

/// The EP's state (the transit ADF carries the EP only).
fn wallet_state(cx: &Cx<'_>) -> Result<PurseState, Sw> {
    let f = cx.file(WALLET_FID)?;
    let mut b = [0u8; PURSE_STATE_LEN];
    cx.read(f, 0, &mut b)?;
    PurseState::decode(&b)
}

/// EF `1A` (a record EF) and EF `1E` (cyclic, 48-byte records): `6A82` missing, `6981` wrong
/// structure.
fn capp_files(cx: &Cx<'_>) -> Result<CappFiles, Sw> {
    let composite = cx.file_by_sfi(COMPOSITE_SFI)?;
    if !cx.entry(composite)?.kind.is_record() {
        return Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE);
    }
    let trip_log = cx.file_by_sfi(TRIP_LOG_SFI)?;
    let e = cx.entry(trip_log)?;
    if e.kind != FileKind::Cyclic || usize::from(e.record_len) != TRIP_RECORD_LEN {
        return Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE);
    }
    Ok(CappFiles {
        composite,
        trip_log,
    })
}

/// Find the addressed record and check the new content against it: `6A83` no such record,
/// `6700` a length other than the record's, `6985` the record is locked, `6A80` the new content
/// changes the tag or the length byte, or has an invalid lock flag or event (`00` included).
fn cached_record(cx: &Cx<'_>, file: FileRef, req: CacheRequest<'_>) -> Result<CachedRecord, Sw> {
    let mut buf = [0u8; MAX_RECORD];
    let (number, len) = match req.target {
        RecordRef::Number(n) => (n, cx.read_record(file, n, &mut buf)?),
        RecordRef::Tag(tag) => {
            let count = cx.record_count(file)?;
            let mut found = None;
            for n in 1..=count {
                let len = cx.read_record(file, n, &mut buf)?;
                if buf.first() == Some(&tag.get()) {
                    found = Some((n, len));
                    break;
                }
            }
            found.ok_or(Sw::RECORD_NOT_FOUND)?
        }
    };
    if req.data.len() != len {
        return Err(Sw::WRONG_LENGTH);
    }
    let stored = CompositeHeader::parse(buf.get(..len).ok_or(Sw::WRONG_LENGTH)?)?;
    if stored.lock != LockFlag::Open {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
    }
    let header = CompositeHeader::parse(req.data)?;
    if header.tag != stored.tag || header.event == crate::records::TripEvent::None {
        return Err(Sw::WRONG_DATA);
    }
    let mut data = [0u8; MAX_COMPOSITE_RECORD];
    data.get_mut(..len)
        .ok_or(Sw::WRONG_LENGTH)?
        .copy_from_slice(req.data);
    Ok(CachedRecord {
        number,
        header,
        data,
    })
}

/// Inside the debit's transaction: the record still has the tag, length and open lock it had
/// when cached (nothing can change it in between; checked anyway, reads cost no programs).
fn still_open(tx: &Tx<'_>, file: FileRef, c: &CachedRecord) -> Result<(), Sw> {
    let mut buf = [0u8; MAX_RECORD];
    let len = tx.read_record(file, c.number, &mut buf)?;
    let stored = CompositeHeader::parse(buf.get(..len).ok_or(Sw::WRONG_LENGTH)?)?;
    if stored.tag != c.header.tag || stored.len != c.header.len || stored.lock != LockFlag::Open {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
    }
    Ok(())
}

impl Applet for Transit {
    fn aid(&self) -> &[u8] {
        self.purse.aid()
    }

    fn power_on(&mut self) {
        self.session = None;
        self.purse.power_on();
    }

    /// FCI proprietary data: `9F08` the application version (EF `15` byte 9), then the purse's
    /// `9F0C` with the whole EF `15` — the `6F { 84 AID, A5 { 9F08, 9F0C } }` readers expect.
    fn select(
        &mut self,
        cx: &mut Cx<'_>,
        selection: Selection,
        fci: &mut Response<'_>,
    ) -> Result<(), Sw> {
        self.session = None;
        if let Ok(f) = cx.file_by_sfi(ISSUER_SFI) {
            let e = cx.entry(f)?;
            if e.kind == FileKind::Transparent && u32::from(e.size) > VERSION_OFFSET {
                let mut v = [0u8; 1];
                cx.read(f, VERSION_OFFSET, &mut v)?;
                fci.tlv(FCI_VERSION_TAG, &v).map_err(|_| Sw::UNKNOWN)?;
            }
        }
        self.purse.select(cx, selection, fci)
    }

    fn deselect(&mut self) {
        self.session = None;
        self.purse.deselect();
    }

    fn process(
        &mut self,
        cx: &mut Cx<'_>,
        cmd: &Command<'_>,
        rsp: &mut Response<'_>,
    ) -> Result<Sw, Sw> {
        let command = match TransitCommand::try_from(cmd) {
            Ok(c) => c,
            Err(sw) => {
                self.session = None;
                return Err(sw);
            }
        };
        match command {
            TransitCommand::UpdateCappCache(req) => self.update_cache(cx, req),
            TransitCommand::Debit(req)
                if self.purse.pending_debit() == Some(DebitKind::CappPurchase) =>
            {
                self.debit_capp(cx, req, rsp)
            }
            other => {
                self.session = None;
                match other {
                    TransitCommand::InitializeCapp(req) => self.initialize(cx, req, rsp),
                    TransitCommand::GetBalance(item) => Transit::balance_item(cx, item, rsp),
                    _ => self.purse.process(cx, cmd, rsp),
                }
            }
        }
    }

    /// The purse's commands and UPDATE CAPP DATA CACHE reach the applet in a blocked application
    /// so that they answer `9303`.
    fn runs_when_blocked(&self, cmd: &Command<'_>) -> bool {
        self.purse.runs_when_blocked(cmd)
            || (cmd.cla().is_proprietary()
                && cmd.ins() == crate::command::INS_UPDATE_CAPP_DATA_CACHE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The applet's RAM: the purse's pending INITIALIZE and the CAPP session with two cached
    /// records (`docs/transit.md` quotes it).
    #[test]
    fn ram_footprint() {
        let n = core::mem::size_of::<Transit>();
        assert!(n <= 512, "{n} bytes");
    }
}
