//! # e-purse: the PBOC electronic deposit / electronic purse applet
//!
//! JR/T 0025 Part 2 (PBOC 2.0 "电子钱包/电子存折应用规范") and its SM4 edition, on the citizen-card
//! COS kernel: GET BALANCE; INITIALIZE FOR LOAD / CREDIT FOR LOAD; INITIALIZE FOR PURCHASE, CASH
//! WITHDRAW (and, through a front-end, CAPP PURCHASE) / DEBIT; INITIALIZE FOR UNLOAD / DEBIT FOR
//! UNLOAD; INITIALIZE FOR UPDATE / UPDATE OVERDRAW LIMIT; GET TRANSACTION PROVE. VERIFY, CHANGE
//! PIN and RELOAD PIN are kernel commands; the purse checks the security level they set through
//! each purse file's usage right.
//!
//! Keys are found by key index (the key identifier of WRITE KEY) and carry their algorithm:
//! 3DES (`00`), SM4 (`04`) or AES (`10`, our documented extension). Session keys, MAC1, MAC2,
//! MAC3 and the TAC follow `docs/e-purse.md`, computed with `cos_core::crypto`.
//!
//! Atomicity: a completing command verifies its MAC first, then writes balance, counter, prove
//! data and log record in one kernel transaction, then answers; a refusal or a power cut changes
//! no money.
//!
//! Modules: [`types`] (typed values), [`command`] (APDU → [`PurseCommand`]), [`state`] (file
//! layouts), [`crypto`] (card-side derivations), [`purse`] (the [`EPurse`] applet).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod command;
pub mod crypto;
pub mod purse;
pub mod state;
pub mod types;

pub use command::{CompleteRequest, DebitRequest, InitRequest, PurseCommand, UpdateRequest};
pub use purse::{
    EPurse, PurseLimits, DEFAULT_AID, DEPOSIT_FID, ISSUER_DATA_SFI, LOG_SFI, WALLET_FID,
};
pub use state::{LogRecord, Prove, PurseState, LOG_RECORD_LEN, PURSE_STATE_LEN};
pub use types::{
    Amount, Atc, DateTime, DebitKind, KeyIndex, Mac4, OverdrawLimit, PurseKind, TerminalId,
    TransactionType, Ttc,
};
