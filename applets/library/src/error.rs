//! Why the card refuses a loan operation, and the status word of each reason.
//!
//! Responsibility: one [`LoanError`] per rule of `docs/library.md`, mapped to its status word at
//! the command boundary (`impl From<LoanError> for Sw`). The rule refusals use the proprietary
//! range `95xx` (ISO/IEC 7816-4 leaves `9X` other than `9000` to the application), one value per
//! rule so that a terminal can tell the patron exactly why; kernel errors pass through unchanged.

use cos_core::apdu::Sw;

/// `9501`: the patron already has the maximum number of items on loan.
pub const SW_LOAN_LIMIT: Sw = Sw(0x9501);
/// `9502`: the patron is blocked by the library (no borrowing, no renewals).
pub const SW_PATRON_BLOCKED: Sw = Sw(0x9502);
/// `9503`: the command's date is after the patron's expiry date (no borrowing, no renewals).
pub const SW_PATRON_EXPIRED: Sw = Sw(0x9503);
/// `9504`: the loan has been renewed the maximum number of times.
pub const SW_RENEWAL_LIMIT: Sw = Sw(0x9504);
/// `9505`: the item is not on loan on this card (return, renewal).
pub const SW_NOT_ON_LOAN: Sw = Sw(0x9505);
/// `9506`: the item is already on loan on this card (duplicate borrow).
pub const SW_ALREADY_ON_LOAN: Sw = Sw(0x9506);
/// `9507`: the command's date is before the loan's date (return, renewal).
pub const SW_DATE_BEFORE_LOAN: Sw = Sw(0x9507);
/// `9508`: the patron file does not follow the layout (personalisation error).
pub const SW_PATRON_INVALID: Sw = Sw(0x9508);

/// A refused loan operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoanError {
    /// The patron's maximum number of loans is reached ([`SW_LOAN_LIMIT`]).
    LoanLimit,
    /// The patron is blocked ([`SW_PATRON_BLOCKED`]).
    PatronBlocked,
    /// The patron's card has expired ([`SW_PATRON_EXPIRED`]).
    PatronExpired,
    /// No renewal left for this loan ([`SW_RENEWAL_LIMIT`]).
    RenewalLimit,
    /// The item is not on loan here ([`SW_NOT_ON_LOAN`]).
    NotOnLoan,
    /// The item is already on loan here ([`SW_ALREADY_ON_LOAN`]).
    AlreadyOnLoan,
    /// The date precedes the loan date ([`SW_DATE_BEFORE_LOAN`]).
    DateBeforeLoan,
    /// The patron file is malformed ([`SW_PATRON_INVALID`]).
    PatronInvalid,
    /// A computed due date would pass the year 9999 (`6A80`).
    DateOutOfRange,
    /// A loan or history record does not decode (`6581`: the card's files are inconsistent).
    Corrupt,
    /// A kernel service refused (its status word).
    Kernel(Sw),
}

impl From<Sw> for LoanError {
    fn from(sw: Sw) -> Self {
        LoanError::Kernel(sw)
    }
}

impl From<LoanError> for Sw {
    fn from(e: LoanError) -> Sw {
        match e {
            LoanError::LoanLimit => SW_LOAN_LIMIT,
            LoanError::PatronBlocked => SW_PATRON_BLOCKED,
            LoanError::PatronExpired => SW_PATRON_EXPIRED,
            LoanError::RenewalLimit => SW_RENEWAL_LIMIT,
            LoanError::NotOnLoan => SW_NOT_ON_LOAN,
            LoanError::AlreadyOnLoan => SW_ALREADY_ON_LOAN,
            LoanError::DateBeforeLoan => SW_DATE_BEFORE_LOAN,
            LoanError::PatronInvalid => SW_PATRON_INVALID,
            LoanError::DateOutOfRange => Sw::WRONG_DATA,
            LoanError::Corrupt => Sw::MEMORY_FAILURE,
            LoanError::Kernel(sw) => sw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_its_own_status_word() {
        let all = [
            LoanError::LoanLimit,
            LoanError::PatronBlocked,
            LoanError::PatronExpired,
            LoanError::RenewalLimit,
            LoanError::NotOnLoan,
            LoanError::AlreadyOnLoan,
            LoanError::DateBeforeLoan,
            LoanError::PatronInvalid,
            LoanError::DateOutOfRange,
            LoanError::Corrupt,
        ];
        for (i, a) in all.iter().enumerate() {
            let sw = Sw::from(*a);
            assert!(sw.is_error(), "{a:?}");
            for b in &all[i + 1..] {
                assert_ne!(sw, Sw::from(*b), "{a:?} and {b:?}");
            }
        }
        assert_eq!(
            Sw::from(LoanError::from(Sw::SECURITY_STATUS_NOT_SATISFIED)),
            Sw::SECURITY_STATUS_NOT_SATISFIED
        );
    }
}
