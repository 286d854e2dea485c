//! The [`EPurse`] applet: command handlers of the electronic deposit / purse.
//!
//! Responsibility: run each JR/T 0025 Part 2 transaction against the purse files of the current
//! ADF, through the kernel's [`Cx`] only. Invariants:
//! * RAM holds only the pending INITIALIZE (`Pending`); it is dropped by every command, by
//!   power-up, reset and deselection, so a DEBIT / CREDIT works only straight after its INITIALIZE
//!   (`command_seq` = INITIALIZE's + 1).
//! * Order in every completing command: MAC verified (under the key's try counter, committed
//!   before the comparison by the kernel) → every refusal check → MAC2 / TAC computed → **one**
//!   [`Cx::transaction`] writing balance, counter, prove data and the log record → answer. A
//!   refusal or a power cut at any point leaves balance, counters and log all old or all new.
//! * Counters are checked at INITIALIZE and never wrap; balances never pass the limits.

use crate::command::{is_purse_ins, CompleteRequest, DebitRequest, InitRequest, PurseCommand};
use crate::crypto::{mac4, online_input, purchase_input, session_key, tac};
use crate::state::{LogRecord, Prove, PurseState, LOG_RECORD_LEN, PURSE_STATE_LEN};
use crate::types::{
    Amount, Atc, DateTime, DebitKind, KeyIndex, Mac4, OverdrawLimit, PurseKind, TerminalId,
    TransactionType, Ttc,
};
use cos_core::apdu::{Aid, Command, Fid, Response, Sw};
use cos_core::crypto::Key;
use cos_core::fs::{DfState, FileKind};
use cos_core::keys::{KeyRecord, KeyType};
use cos_core::keystore::Verification;
use cos_core::types::AccessRight;
use cos_core::{Applet, Cx, FileRef, Selection, Tx};

/// FID of the electronic deposit's internal EF (FMCOS convention).
pub const DEPOSIT_FID: Fid = Fid(0x0001);
/// FID of the electronic purse's internal EF (FMCOS convention).
pub const WALLET_FID: Fid = Fid(0x0002);
/// SFI of the cyclic transaction log (JR/T 0025 Part 2).
pub const LOG_SFI: u8 = 0x18;
/// SFI of the public application data (issuer id, ASN, dates), returned in the FCI as `9F0C`.
pub const ISSUER_DATA_SFI: u8 = 0x15;
/// FCI issuer discretionary data tag that carries the content of EF `15`.
pub const FCI_ISSUER_DATA_TAG: u16 = 0x9F0C;
/// Longest EF `15` content put into the FCI (one-byte BER length).
const MAX_FCI_ISSUER_DATA: usize = 0x7F;

/// The PBOC ED/EP ADF name used by default, `A00000000386980701`.
pub const DEFAULT_AID: Aid =
    Aid::from_static(&[0xA0, 0x00, 0x00, 0x00, 0x03, 0x86, 0x98, 0x07, 0x01]);

/// The largest maximum balance a profile may set: with a 3-byte overdraw limit on top, balances
/// then stay far from `u32` overflow.
pub const MAX_CONFIGURABLE_BALANCE: Amount = Amount(0x7FFF_FFFF);

/// The profile's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PurseLimits {
    max_balance: Amount,
    atc_limit: Atc,
}

impl PurseLimits {
    /// Limits: own funds never above `max_balance`; a counter at `atc_limit` refuses further
    /// transactions (`9402`). `None` when `max_balance` exceeds [`MAX_CONFIGURABLE_BALANCE`].
    pub const fn new(max_balance: Amount, atc_limit: Atc) -> Option<PurseLimits> {
        if max_balance.0 > MAX_CONFIGURABLE_BALANCE.0 {
            None
        } else {
            Some(PurseLimits {
                max_balance,
                atc_limit,
            })
        }
    }

    /// The maximum own funds of a purse.
    pub const fn max_balance(&self) -> Amount {
        self.max_balance
    }

    /// The counter value at which the purse stops transacting.
    pub const fn atc_limit(&self) -> Atc {
        self.atc_limit
    }
}

impl Default for PurseLimits {
    /// 100 000.00 yuan and the full 2-byte counter range (`FFFF` is the last refused value).
    fn default() -> Self {
        PurseLimits {
            max_balance: Amount(10_000_000),
            atc_limit: Atc(0xFFFF),
        }
    }
}

/// The files of one purse, resolved in the current ADF.
#[derive(Clone, Copy, Debug)]
struct PurseFiles {
    purse: FileRef,
    log: FileRef,
    usage: AccessRight,
}

/// What the pending INITIALIZE started.
#[derive(Clone, Copy, Debug)]
enum PendingOp {
    Load {
        amount: Amount,
        terminal: TerminalId,
    },
    Debit {
        kind: DebitKind,
        amount: Amount,
        terminal: TerminalId,
    },
    Unload {
        amount: Amount,
        terminal: TerminalId,
    },
    Update {
        terminal: TerminalId,
    },
}

/// The RAM state of an answered INITIALIZE, waiting for its completing command.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// `command_seq` of the INITIALIZE.
    seq: u32,
    purse: PurseKind,
    files: PurseFiles,
    key_index: KeyIndex,
    random: [u8; 4],
    /// The purse state INITIALIZE answered from.
    before: PurseState,
    op: PendingOp,
}

/// Which completing command is running (to tell "wrong pair" from "no INITIALIZE").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Completion {
    Credit,
    Debit,
    Unload,
    Update,
}

impl PendingOp {
    fn completion(&self) -> Completion {
        match self {
            PendingOp::Load { .. } => Completion::Credit,
            PendingOp::Debit { .. } => Completion::Debit,
            PendingOp::Unload { .. } => Completion::Unload,
            PendingOp::Update { .. } => Completion::Update,
        }
    }
}

/// The PBOC electronic deposit / purse application (JR/T 0025 Part 2), bound to one ADF.
///
/// The ADF holds: the ED's internal EF [`DEPOSIT_FID`] and/or the EP's [`WALLET_FID`] (FMCOS
/// `2F count len usage 00 FF 18`, at least [`PURSE_STATE_LEN`] bytes; `usage` is the access right
/// every GET BALANCE and INITIALIZE of that purse needs, e.g. `F1` = after the PIN whose next
/// state is 1); the cyclic log EF SFI `18` with 23-byte records; the key file with the purse
/// keys (`3F` load, `3E` purchase, `3D` unload, `3C` overdraw, `34` TAC) written under the key
/// index terminals send; and normally EF `15` (ASN) and a PIN. See `docs/e-purse.md`.
#[derive(Debug)]
pub struct EPurse {
    aid: Aid,
    limits: PurseLimits,
    pending: Option<Pending>,
}

impl Default for EPurse {
    fn default() -> Self {
        EPurse::new(DEFAULT_AID, PurseLimits::default())
    }
}

impl EPurse {
    /// An applet serving the ADF named `aid` with the given limits.
    pub const fn new(aid: Aid, limits: PurseLimits) -> EPurse {
        EPurse {
            aid,
            limits,
            pending: None,
        }
    }

    /// The profile's limits.
    pub const fn limits(&self) -> PurseLimits {
        self.limits
    }

    /// The kind of debit an answered INITIALIZE is waiting to complete, if any (lets a front-end
    /// such as the transit applet route the following DEBIT of a CAPP purchase to [`EPurse::debit`]).
    pub fn pending_debit(&self) -> Option<DebitKind> {
        match self.pending {
            Some(Pending {
                op: PendingOp::Debit { kind, .. },
                ..
            }) => Some(kind),
            _ => None,
        }
    }

    /// Keep the pending INITIALIZE alive across the current command, which the caller declares
    /// part of the same transaction (a transit front-end's UPDATE CAPP DATA CACHE between
    /// INITIALIZE FOR CAPP PURCHASE and DEBIT). Succeeds only when INITIALIZE (or the previous
    /// carried command) was the command just before; otherwise the pending state is dropped and
    /// the answer is `9406`.
    pub fn carry_pending(&mut self, cx: &Cx<'_>) -> Result<(), Sw> {
        match self.pending.as_mut() {
            Some(p) if p.seq.wrapping_add(1) == cx.command_seq() => {
                p.seq = cx.command_seq();
                Ok(())
            }
            _ => {
                self.pending = None;
                Err(Sw::PBOC_NO_TRANSACTION)
            }
        }
    }

    /// INITIALIZE FOR PURCHASE / CASH WITHDRAW / CAPP PURCHASE (JR/T 0025 Part 2): the shared
    /// purchase path. `process` refuses [`DebitKind::CappPurchase`]; a transit front-end calls this
    /// directly for it. Answers old balance (4) ‖ offline ATC (2) ‖ overdraw limit (3) ‖ key
    /// version (1) ‖ algorithm (1) ‖ random (4).
    pub fn initialize_debit(
        &mut self,
        cx: &mut Cx<'_>,
        kind: DebitKind,
        purse: PurseKind,
        req: InitRequest,
        rsp: &mut Response<'_>,
    ) -> Result<Sw, Sw> {
        self.pending = None;
        check_not_locked(cx)?;
        self.init_debit(cx, kind, purse, req, rsp)
    }

    /// DEBIT FOR PURCHASE / CASH WITHDRAW / CAPP PURCHASE (JR/T 0025 Part 2): verify MAC1, then
    /// commit the debit, the offline ATC, the prove data, the log record **and** whatever `staged`
    /// writes (a CAPP's record update) in one transaction, then answer TAC (4) ‖ MAC2 (4).
    /// `staged` runs inside the transaction; its error aborts everything.
    pub fn debit(
        &mut self,
        cx: &mut Cx<'_>,
        req: DebitRequest,
        rsp: &mut Response<'_>,
        staged: impl FnOnce(&mut Tx<'_>) -> Result<(), Sw>,
    ) -> Result<Sw, Sw> {
        let pending = self.pending.take();
        check_not_locked(cx)?;
        let mut staged = Some(staged);
        debit(cx, pending, req, rsp, &mut |tx| {
            staged.take().map_or(Ok(()), |f| f(tx))
        })
    }

    /// INITIALIZE FOR PURCHASE / CASH WITHDRAWAL / CAPP PURCHASE: the purse must allow the kind
    /// (`6A86`); the rest is [`EPurse::initialize_online`]'s debit branch.
    fn init_debit(
        &mut self,
        cx: &mut Cx<'_>,
        kind: DebitKind,
        purse: PurseKind,
        req: InitRequest,
        rsp: &mut Response<'_>,
    ) -> Result<Sw, Sw> {
        if !kind.allows(purse) {
            return Err(Sw::INCORRECT_P1P2);
        }
        let op = PendingOp::Debit {
            kind,
            amount: req.amount,
            terminal: req.terminal,
        };
        self.initialize_online(cx, purse, req.key_index, op, rsp)
    }

    fn check_counter(&self, atc: Atc) -> Result<(), Sw> {
        if atc >= self.limits.atc_limit {
            Err(Sw::PBOC_COUNTER_LIMIT)
        } else {
            Ok(())
        }
    }

    /// GET BALANCE: the available balance (4).
    fn get_balance(cx: &mut Cx<'_>, purse: PurseKind, rsp: &mut Response<'_>) -> Result<Sw, Sw> {
        let files = open(cx, purse)?;
        let state = read_state(cx, &files)?;
        put(rsp, &[&state.balance.to_bytes()])?;
        Ok(Sw::SUCCESS)
    }

    /// INITIALIZE FOR LOAD, FOR UNLOAD (ED) and FOR UPDATE (ED): the online transactions, whose
    /// session key is `random ‖ online ATC ‖ 80 00` and whose MAC1 the card computes.
    ///
    /// * load: answer old balance (4) ‖ online ATC (2) ‖ key version ‖ algorithm ‖ random (4) ‖
    ///   MAC1 (4), MAC1 = MAC(SESLK, old balance ‖ amount ‖ type ‖ terminal); own funds after
    ///   the load may not pass the maximum balance;
    /// * unload: the same with the unload key and type `03`; the amount may not exceed own funds;
    /// * update: balance ‖ online ATC ‖ **old limit (3)** ‖ key version ‖ algorithm ‖ random ‖
    ///   MAC1, MAC1 = MAC(SESK, balance ‖ old limit ‖ 07 ‖ terminal);
    /// * debit (purchase, cash withdrawal, CAPP; from [`EPurse::init_debit`]): balance ‖
    ///   **offline** ATC ‖ overdraw limit (3) ‖ key version ‖ algorithm ‖ random, no MAC1 (the
    ///   session key needs the terminal's TTC); the amount may not exceed the balance.
    ///
    /// One body for the four: they share every step but the checks and the MAC1.
    fn initialize_online(
        &mut self,
        cx: &mut Cx<'_>,
        purse: PurseKind,
        key_index: KeyIndex,
        op: PendingOp,
        rsp: &mut Response<'_>,
    ) -> Result<Sw, Sw> {
        let files = open(cx, purse)?;
        let key_type = match op {
            PendingOp::Load { .. } => KeyType::Load,
            PendingOp::Unload { .. } => KeyType::Unload,
            PendingOp::Update { .. } => KeyType::Overdraw,
            PendingOp::Debit { .. } => KeyType::Purchase,
        };
        let key = transaction_key(cx, key_type, key_index)?;
        let before = read_state(cx, &files)?;
        let debit = matches!(op, PendingOp::Debit { .. });
        let atc = if debit {
            before.offline_atc
        } else {
            before.online_atc
        };
        self.check_counter(atc)?;
        let amount_field: [u8; 4];
        let limit_field = before.overdraw_limit.to_bytes();
        // (type, terminal, the field after the balance in MAC1, the field between ATC and key
        // version in the answer)
        let (ty, terminal, mac1_field, answer_field): (_, _, &[u8], &[u8]) = match op {
            PendingOp::Load { amount, terminal } => {
                let after = before
                    .balance
                    .checked_add(amount)
                    .ok_or(Sw::PBOC_INSUFFICIENT_FUNDS)?;
                let own_after = after.checked_sub(before.overdraw_limit.amount());
                if own_after.is_some_and(|own| own > self.limits.max_balance) {
                    return Err(Sw::PBOC_INSUFFICIENT_FUNDS);
                }
                amount_field = amount.to_bytes();
                (purse.load_type(), terminal, &amount_field, &[])
            }
            PendingOp::Unload { amount, terminal } => {
                if before.own_funds().is_none_or(|own| amount > own) {
                    return Err(Sw::PBOC_INSUFFICIENT_FUNDS);
                }
                amount_field = amount.to_bytes();
                (TransactionType::Unload, terminal, &amount_field, &[])
            }
            PendingOp::Update { terminal } => (
                TransactionType::OverdrawUpdate,
                terminal,
                &limit_field,
                &limit_field,
            ),
            PendingOp::Debit {
                kind,
                amount,
                terminal,
            } => {
                if amount > before.balance {
                    return Err(Sw::PBOC_INSUFFICIENT_FUNDS);
                }
                (kind.transaction_type(purse), terminal, &[], &limit_field)
            }
        };
        let mut random = [0u8; 4];
        cx.random(&mut random);
        let mac1 = if debit {
            None
        } else {
            let sk = session_key(&key, &online_input(random, atc))?;
            Some(mac4(
                &sk,
                &[
                    &before.balance.to_bytes(),
                    mac1_field,
                    &[ty.code()],
                    &terminal.0,
                ],
            )?)
        };
        put(
            rsp,
            &[
                &before.balance.to_bytes(),
                &atc.to_bytes(),
                answer_field,
                &[key.version(), key.algorithm.id()],
                &random,
                mac1.as_ref().map_or(&[], |m| &m.0),
            ],
        )?;
        self.pending = Some(Pending {
            seq: cx.command_seq(),
            purse,
            files,
            key_index,
            random,
            before,
            op,
        });
        Ok(Sw::SUCCESS)
    }
}

/// Refuse every purse command while the application is blocked (the purse locked itself after
/// the try limit, or the issuer blocked it): `9303`.
#[inline(never)]
fn check_not_locked(cx: &Cx<'_>) -> Result<(), Sw> {
    if cx.df_state()? == DfState::Blocked {
        Err(Sw::PBOC_APPLICATION_LOCKED)
    } else {
        Ok(())
    }
}

/// Lock the application (temporary kernel block: the issuer revives it with APPLICATION
/// UNBLOCK after re-writing the blocked key) and answer `9303`.
#[inline(never)]
fn lock(cx: &mut Cx<'_>) -> Sw {
    match cx.block_application(false) {
        Ok(()) => Sw::PBOC_APPLICATION_LOCKED,
        Err(sw) => sw,
    }
}

/// Append `parts` to the response (`6F00` if it cannot hold them: unreachable, every answer is
/// at most 19 bytes).
#[inline(never)]
fn put(rsp: &mut Response<'_>, parts: &[&[u8]]) -> Result<(), Sw> {
    for p in parts {
        rsp.extend(p).map_err(|_| Sw::UNKNOWN)?;
    }
    Ok(())
}

/// Resolve a purse's files and check its usage right (`6A82` no such purse, `6981` wrong file
/// structure, `6982` right not met, e.g. the ED's PIN not verified).
fn open(cx: &Cx<'_>, purse: PurseKind) -> Result<PurseFiles, Sw> {
    let files = resolve(cx, purse)?;
    if !cx.satisfies(files.usage) {
        return Err(Sw::SECURITY_STATUS_NOT_SATISFIED);
    }
    Ok(files)
}

fn resolve(cx: &Cx<'_>, purse: PurseKind) -> Result<PurseFiles, Sw> {
    let fid = match purse {
        PurseKind::Deposit => DEPOSIT_FID,
        PurseKind::Wallet => WALLET_FID,
    };
    let pf = cx.file(fid)?;
    let pe = cx.entry(pf)?;
    if pe.kind != FileKind::Internal || usize::from(pe.size) < PURSE_STATE_LEN {
        return Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE);
    }
    let log = cx.file_by_sfi(LOG_SFI)?;
    let le = cx.entry(log)?;
    if le.kind != FileKind::Cyclic || usize::from(le.record_len) != LOG_RECORD_LEN {
        return Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE);
    }
    Ok(PurseFiles {
        purse: pf,
        log,
        usage: pe.rights.first,
    })
}

fn read_state(cx: &Cx<'_>, files: &PurseFiles) -> Result<PurseState, Sw> {
    let mut b = [0u8; PURSE_STATE_LEN];
    cx.read(files.purse, 0, &mut b)?;
    PurseState::decode(&b)
}

/// The transaction key and the TAC key of a key index must both exist (`9403`); the key's use
/// right must be met (`6982`); a blocked transaction key locks the application (`9303`).
fn transaction_key(cx: &mut Cx<'_>, ty: KeyType, index: KeyIndex) -> Result<KeyRecord, Sw> {
    let key = cx.key(ty, index.0).map_err(key_index_sw)?;
    cx.key(KeyType::Tac, index.0).map_err(key_index_sw)?;
    if !cx.satisfies(key.use_right) {
        return Err(Sw::SECURITY_STATUS_NOT_SATISFIED);
    }
    if key.tries.is_blocked() {
        return Err(lock(cx));
    }
    Ok(key)
}

fn key_index_sw(sw: Sw) -> Sw {
    if sw == Sw::REFERENCED_DATA_NOT_FOUND {
        Sw::PBOC_KEY_INDEX_NOT_SUPPORTED
    } else {
        sw
    }
}

/// The pending INITIALIZE, if it was answered by the command just before this one and started
/// this completion: otherwise `9406` (none straight before) or `6985` (another transaction's).
/// Borrowed, not moved: the pending state is large, and a copy out of every caller cost code.
fn expect<'p>(
    cx: &Cx<'_>,
    pending: &'p Option<Pending>,
    want: Completion,
) -> Result<&'p Pending, Sw> {
    let p = pending.as_ref().ok_or(Sw::PBOC_NO_TRANSACTION)?;
    if p.seq.wrapping_add(1) != cx.command_seq() {
        return Err(Sw::PBOC_NO_TRANSACTION);
    }
    if p.op.completion() != want {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
    }
    Ok(p)
}

/// Verify a terminal/host MAC under the session key of `key_type`/`index`, with the key's try
/// counter consumed first (kernel `verify_with_key`). Returns the session key. A wrong MAC
/// answers `9302`; the last try, or a blocked key, locks the application (`9303`).
fn verify_mac(
    cx: &mut Cx<'_>,
    key_type: KeyType,
    index: KeyIndex,
    input: &[u8; 8],
    parts: &[&[u8]],
    given: Mac4,
) -> Result<Key, Sw> {
    let mut session = None;
    let mut limited = false;
    let verdict = cx.verify_with_key(key_type, index.0, &mut |rec| {
        limited = rec.tries.is_limited();
        let Ok(sk) = session_key(rec, input) else {
            return false;
        };
        let ok = mac4(&sk, parts).is_ok_and(|m| m == given);
        if ok {
            session = Some(sk);
        }
        ok
    });
    match verdict {
        Ok(Verification::Passed) => session.ok_or(Sw::UNKNOWN),
        Ok(Verification::Failed { remaining: Some(0) }) if limited => Err(lock(cx)),
        Ok(Verification::Failed { .. }) => Err(Sw::PBOC_MAC_INVALID),
        Err(Sw::AUTH_METHOD_BLOCKED) => Err(lock(cx)),
        Err(sw) => Err(key_index_sw(sw)),
    }
}

fn tac_of(cx: &Cx<'_>, index: KeyIndex, parts: &[&[u8]]) -> Result<Mac4, Sw> {
    let dtk = cx.key(KeyType::Tac, index.0).map_err(key_index_sw)?;
    tac(&dtk, parts)
}

/// Which transaction counter a completing command spends.
#[derive(Clone, Copy)]
enum Counter {
    /// Loads, unloads and limit updates.
    Online,
    /// Purchases, cash withdrawals and CAPP purchases.
    Offline,
}

/// What a completing command settles; the rest of the new purse state and of the log record
/// follows from the state INITIALIZE answered from (JR/T 0025 Part 2: the record carries the
/// counter INITIALIZE returned, the prove data the counter after the transaction).
struct Settlement {
    transaction: TransactionType,
    counter: Counter,
    /// The counter's value at INITIALIZE, and its successor (checked before any MAC is computed).
    atc: Atc,
    next: Atc,
    balance: Amount,
    overdraw_limit: OverdrawLimit,
    /// The amount logged (0 for a limit update).
    amount: Amount,
    terminal: TerminalId,
    date_time: DateTime,
    /// The MAC kept for GET TRANSACTION PROVE (MAC2, or MAC3 of an unload) and the TAC.
    mac: Mac4,
    tac: Mac4,
}

/// The one transaction of a completing command: the purse must still hold the state INITIALIZE
/// answered from (it always does: no command ran in between), then the new state, the log
/// record and any staged write land together.
fn settle(
    cx: &mut Cx<'_>,
    p: &Pending,
    s: &Settlement,
    staged: &mut dyn FnMut(&mut Tx<'_>) -> Result<(), Sw>,
) -> Result<(), Sw> {
    let mut after = PurseState {
        balance: s.balance,
        overdraw_limit: s.overdraw_limit,
        last: Some(Prove {
            transaction: s.transaction,
            atc: s.next,
            mac: s.mac,
            tac: s.tac,
        }),
        ..p.before
    };
    match s.counter {
        Counter::Online => after.online_atc = s.next,
        Counter::Offline => after.offline_atc = s.next,
    }
    let record = LogRecord {
        atc: s.atc,
        overdraw_limit: s.overdraw_limit,
        amount: s.amount,
        transaction: s.transaction,
        terminal: s.terminal,
        date_time: s.date_time,
    };
    let files = p.files;
    let before = p.before;
    cx.transaction(|tx| {
        let mut cur = [0u8; PURSE_STATE_LEN];
        tx.read(files.purse, 0, &mut cur)?;
        if PurseState::decode(&cur)? != before {
            return Err(Sw::PBOC_NO_TRANSACTION);
        }
        tx.write(files.purse, 0, &after.encode())?;
        tx.append_record(files.log, &record.encode())?;
        staged(tx)
    })
}

/// What an online completion changes, besides the online counter.
struct OnlineChange<'a> {
    key: KeyType,
    transaction: TransactionType,
    /// The field MAC2 and the TAC cover after the counter: the amount, or the new limit.
    value: &'a [u8],
    /// The new balance; `None` when it would leave the allowed range (`9401`).
    balance: Option<Amount>,
    overdraw_limit: OverdrawLimit,
    /// The amount logged (0 for a limit update).
    logged: Amount,
    terminal: TerminalId,
    /// The answer: the TAC (load, limit update) or MAC3 (unload).
    answer_mac3: bool,
    /// A purchase's TTC: the completion is the offline DEBIT (see [`complete_online`]).
    ttc: Option<Ttc>,
}

/// The online completions — CREDIT FOR LOAD, DEBIT FOR UNLOAD, UPDATE OVERDRAW LIMIT — share one
/// shape (JR/T 0025 Part 2): MAC2 = MAC(session key of the online counter, value ‖ type ‖
/// terminal ‖ date ‖ time); the TAC (and an unload's MAC3 under the session key) covers new
/// balance ‖ online ATC (as INITIALIZE returned it) ‖ value ‖ type ‖ terminal ‖ date ‖ time.
///
/// The offline DEBIT (`c.ttc` set) runs the same steps with its own fields: MAC1 = MAC(SESPK,
/// amount ‖ type ‖ terminal ‖ date ‖ time) under `random ‖ offline ATC ‖ TTC`; MAC2 =
/// MAC(SESPK, amount); TAC over amount ‖ type ‖ terminal ‖ TTC ‖ date ‖ time; answer TAC ‖ MAC2;
/// `staged` runs inside its transaction. One body for the four completions.
fn complete_online(
    cx: &mut Cx<'_>,
    p: &Pending,
    date_time: DateTime,
    given: Mac4,
    c: OnlineChange<'_>,
    staged: &mut dyn FnMut(&mut Tx<'_>) -> Result<(), Sw>,
    rsp: &mut Response<'_>,
) -> Result<Sw, Sw> {
    let ty = c.transaction;
    let dt = date_time.to_bytes();
    let (atc, input, counter) = match c.ttc {
        Some(ttc) => {
            let atc = p.before.offline_atc;
            (atc, purchase_input(p.random, atc, ttc), Counter::Offline)
        }
        None => {
            let atc = p.before.online_atc;
            (atc, online_input(p.random, atc), Counter::Online)
        }
    };
    let sk = verify_mac(
        cx,
        c.key,
        p.key_index,
        &input,
        &[c.value, &[ty.code()], &c.terminal.0, &dt],
        given,
    )?;
    let balance = c.balance.ok_or(Sw::PBOC_INSUFFICIENT_FUNDS)?;
    let next = atc.next().ok_or(Sw::PBOC_COUNTER_LIMIT)?;
    let (kept, tac) = match c.ttc {
        Some(ttc) => {
            let mac2 = mac4(&sk, &[c.value])?;
            let fields: [&[u8]; 5] = [c.value, &[ty.code()], &c.terminal.0, &ttc.0, &dt];
            (mac2, tac_of(cx, p.key_index, &fields)?)
        }
        None => {
            let fields: [&[u8]; 6] = [
                &balance.to_bytes(),
                &atc.to_bytes(),
                c.value,
                &[ty.code()],
                &c.terminal.0,
                &dt,
            ];
            let kept = if c.answer_mac3 {
                mac4(&sk, &fields)?
            } else {
                given
            };
            (kept, tac_of(cx, p.key_index, &fields)?)
        }
    };
    let settled = Settlement {
        transaction: ty,
        counter,
        atc,
        next,
        balance,
        overdraw_limit: c.overdraw_limit,
        amount: c.logged,
        terminal: c.terminal,
        date_time,
        mac: kept,
        tac,
    };
    settle(cx, p, &settled, staged)?;
    if c.ttc.is_some() {
        put(rsp, &[&tac.0, &kept.0])?;
    } else {
        put(rsp, &[if c.answer_mac3 { &kept.0 } else { &tac.0 }])?;
    }
    Ok(Sw::SUCCESS)
}

/// The completing command of an online operation, one function for the three (they differ only
/// in the [`OnlineChange`] they build):
/// * CREDIT FOR LOAD: the balance grows by the amount; answers the TAC;
/// * DEBIT FOR UNLOAD: the balance shrinks by the amount; answers MAC3 (the TAC, over the same
///   fields, is kept for GET TRANSACTION PROVE);
/// * UPDATE OVERDRAW LIMIT (`new_limit`): the balance moves by new − old limit (`9401` if that
///   would take it below zero); the value MAC'd is the new limit (3 bytes); answers the TAC.
fn complete_pending(
    cx: &mut Cx<'_>,
    pending: Option<Pending>,
    want: Completion,
    req: CompleteRequest,
    new_limit: Option<OverdrawLimit>,
    rsp: &mut Response<'_>,
) -> Result<Sw, Sw> {
    let p = expect(cx, &pending, want)?;
    let value: [u8; 4];
    let limit: [u8; 3];
    let change = match p.op {
        PendingOp::Load { amount, terminal } => {
            value = amount.to_bytes();
            OnlineChange {
                key: KeyType::Load,
                transaction: p.purse.load_type(),
                value: &value,
                balance: p.before.balance.checked_add(amount),
                overdraw_limit: p.before.overdraw_limit,
                logged: amount,
                terminal,
                answer_mac3: false,
                ttc: None,
            }
        }
        PendingOp::Unload { amount, terminal } => {
            value = amount.to_bytes();
            OnlineChange {
                key: KeyType::Unload,
                transaction: TransactionType::Unload,
                value: &value,
                balance: p.before.balance.checked_sub(amount),
                overdraw_limit: p.before.overdraw_limit,
                logged: amount,
                terminal,
                answer_mac3: true,
                ttc: None,
            }
        }
        PendingOp::Update { terminal } => {
            // `expect` matched the op to `want`: an update always comes with its new limit.
            let new_limit = new_limit.ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
            limit = new_limit.to_bytes();
            OnlineChange {
                key: KeyType::Overdraw,
                transaction: TransactionType::OverdrawUpdate,
                value: &limit,
                balance: p
                    .before
                    .balance
                    .checked_add(new_limit.amount())
                    .and_then(|b| b.checked_sub(p.before.overdraw_limit.amount())),
                overdraw_limit: new_limit,
                logged: Amount::ZERO,
                terminal,
                answer_mac3: false,
                ttc: None,
            }
        }
        PendingOp::Debit { .. } => return Err(Sw::CONDITIONS_NOT_SATISFIED),
    };
    complete_online(cx, p, req.date_time, req.mac2, change, &mut |_| Ok(()), rsp)
}

/// DEBIT FOR PURCHASE / CASH WITHDRAW / CAPP PURCHASE: MAC1 = MAC(SESPK, amount ‖ type ‖
/// terminal ‖ date ‖ time); MAC2 = MAC(SESPK, amount); TAC over amount ‖ type ‖ terminal ‖
/// TTC ‖ date ‖ time.
fn debit(
    cx: &mut Cx<'_>,
    pending: Option<Pending>,
    req: DebitRequest,
    rsp: &mut Response<'_>,
    staged: &mut dyn FnMut(&mut Tx<'_>) -> Result<(), Sw>,
) -> Result<Sw, Sw> {
    let p = expect(cx, &pending, Completion::Debit)?;
    let PendingOp::Debit {
        kind,
        amount,
        terminal,
    } = p.op
    else {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
    };
    let value = amount.to_bytes();
    let change = OnlineChange {
        key: KeyType::Purchase,
        transaction: kind.transaction_type(p.purse),
        value: &value,
        balance: p.before.balance.checked_sub(amount),
        overdraw_limit: p.before.overdraw_limit,
        logged: amount,
        terminal,
        answer_mac3: false,
        ttc: Some(req.ttc),
    };
    complete_online(cx, p, req.date_time, req.mac1, change, staged, rsp)
}

/// GET TRANSACTION PROVE: MAC2 (4) ‖ TAC (4) of the purse's last transaction when its type and
/// its counter *after* the transaction (INITIALIZE's ATC + 1) match; else `9406`.
fn get_transaction_prove(
    cx: &mut Cx<'_>,
    transaction: TransactionType,
    atc: Atc,
    rsp: &mut Response<'_>,
) -> Result<Sw, Sw> {
    let files = resolve(cx, transaction.purse())?;
    let state = read_state(cx, &files)?;
    match state.last {
        Some(last) if last.transaction == transaction && last.atc == atc => {
            put(rsp, &[&last.mac.0, &last.tac.0])?;
            Ok(Sw::SUCCESS)
        }
        _ => Err(Sw::PBOC_NO_TRANSACTION),
    }
}

impl Applet for EPurse {
    fn aid(&self) -> &[u8] {
        self.aid.as_bytes()
    }

    fn power_on(&mut self) {
        self.pending = None;
    }

    /// Adds `9F0C` (FCI issuer discretionary data) with the content of EF `15` when it exists,
    /// so the terminal learns the ASN it diversifies with at SELECT.
    fn select(
        &mut self,
        cx: &mut Cx<'_>,
        _selection: Selection,
        fci: &mut Response<'_>,
    ) -> Result<(), Sw> {
        self.pending = None;
        let Ok(f) = cx.file_by_sfi(ISSUER_DATA_SFI) else {
            return Ok(());
        };
        let e = cx.entry(f)?;
        let len = usize::from(e.size);
        if e.kind != FileKind::Transparent || len > MAX_FCI_ISSUER_DATA {
            return Ok(());
        }
        let mut buf = [0u8; MAX_FCI_ISSUER_DATA];
        let data = buf.get_mut(..len).ok_or(Sw::UNKNOWN)?;
        cx.read(f, 0, data)?;
        fci.tlv(FCI_ISSUER_DATA_TAG, data).map_err(|_| Sw::UNKNOWN)
    }

    fn deselect(&mut self) {
        self.pending = None;
    }

    fn process(
        &mut self,
        cx: &mut Cx<'_>,
        cmd: &Command<'_>,
        rsp: &mut Response<'_>,
    ) -> Result<Sw, Sw> {
        let pending = self.pending.take();
        let command = PurseCommand::try_from(cmd)?;
        check_not_locked(cx)?;
        match command {
            PurseCommand::GetBalance { purse } => EPurse::get_balance(cx, purse, rsp),
            PurseCommand::InitializeLoad { purse, req } => self.initialize_online(
                cx,
                purse,
                req.key_index,
                PendingOp::Load {
                    amount: req.amount,
                    terminal: req.terminal,
                },
                rsp,
            ),
            PurseCommand::CreditForLoad(req) => {
                complete_pending(cx, pending, Completion::Credit, req, None, rsp)
            }
            PurseCommand::InitializeDebit {
                kind: DebitKind::CappPurchase,
                ..
            } => Err(Sw::INCORRECT_P1P2),
            PurseCommand::InitializeDebit { kind, purse, req } => {
                self.init_debit(cx, kind, purse, req, rsp)
            }
            PurseCommand::Debit(req) => debit(cx, pending, req, rsp, &mut |_| Ok(())),
            PurseCommand::InitializeUnload { req } => self.initialize_online(
                cx,
                PurseKind::Deposit,
                req.key_index,
                PendingOp::Unload {
                    amount: req.amount,
                    terminal: req.terminal,
                },
                rsp,
            ),
            PurseCommand::DebitForUnload(req) => {
                complete_pending(cx, pending, Completion::Unload, req, None, rsp)
            }
            PurseCommand::InitializeUpdate {
                key_index,
                terminal,
            } => self.initialize_online(
                cx,
                PurseKind::Deposit,
                key_index,
                PendingOp::Update { terminal },
                rsp,
            ),
            PurseCommand::UpdateOverdrawLimit(req) => complete_pending(
                cx,
                pending,
                Completion::Update,
                CompleteRequest {
                    date_time: req.date_time,
                    mac2: req.mac2,
                },
                Some(req.new_limit),
                rsp,
            ),
            PurseCommand::GetTransactionProve { transaction, atc } => {
                get_transaction_prove(cx, transaction, atc, rsp)
            }
        }
    }

    /// Purse commands reach the applet in a blocked application so that it can answer `9303`.
    fn runs_when_blocked(&self, cmd: &Command<'_>) -> bool {
        cmd.cla().is_proprietary() && is_purse_ins(cmd.ins())
    }
}
