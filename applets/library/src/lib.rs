//! # library-loan: deposit-free library borrowing on the citizen card
//!
//! The card lets its holder borrow at the city library and its branches without a deposit, and the
//! card itself enforces the loan rules: an authenticated library terminal (EXTERNAL AUTHENTICATE
//! with a library key diversified by the card's ASN) sends BORROW, RETURN or RENEW under a
//! line-protection MAC, and the applet refuses more loans than the patron's maximum, borrowing or
//! renewing while blocked or expired, renewals past the limit, returning or renewing an item that
//! is not on loan and borrowing one that already is — each with its own status word
//! ([`error`]). Each accepted command rewrites one loan slot and appends one history record in a
//! single kernel transaction: never a loan without its history entry, even across a power cut.
//!
//! Reading is the kernel's job: the patron file is free to read, the loans and the history need
//! the terminal key or the holder's PIN (their read right). See `docs/library.md`.
//!
//! Modules: [`types`] (typed values), [`patron`] (patron file), [`records`] (loan slots, history),
//! [`command`] (APDU → [`LibraryCommand`]), [`rules`] (the pure loan rules), [`error`] (refusals
//! and status words), [`applet`] (the [`Library`] applet).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[cfg(test)]
extern crate std;
#[cfg(test)]
#[macro_use]
extern crate alloc;

pub mod applet;
pub mod command;
pub mod error;
pub mod patron;
pub mod records;
pub mod rules;
pub mod types;

pub use applet::{Library, LibraryPolicy, DEFAULT_AID, HISTORY_SFI, LOANS_SFI, PATRON_SFI};
pub use command::{LibraryCommand, LoanRequest, INS_BORROW, INS_RENEW, INS_RETURN};
pub use error::LoanError;
pub use patron::{Patron, PatronCategory, PatronStatus};
pub use records::{EventKind, HistoryRecord, Loan, LoanSlot};
pub use rules::Receipt;
pub use types::{Barcode, BranchId, Date, Seq, SlotNumber, TerminalId};
