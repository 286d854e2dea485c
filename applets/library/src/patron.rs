//! The patron file: who borrows, and the loan rules the card enforces for them.
//!
//! Responsibility: the layout of the transparent patron EF (`docs/library.md`) and its parsing
//! into a [`Patron`]. The file is free to read (terminals learn the card ASN here to diversify
//! their keys) and written only by the library's administration key under a line-protection MAC
//! (kernel UPDATE BINARY), never by the applet. Invariants: a [`Patron`] only exists for a file
//! whose format byte, category, loan period, deposit-free flag and expiry date are valid; any
//! status byte other than `00` reads as blocked (fail safe).

use crate::types::{concat_into, BranchId, Date};

/// Size of the patron file's defined content (the EF may be larger; the rest is reserved).
pub const PATRON_LEN: usize = 40;
/// Format byte of this layout.
pub const PATRON_FORMAT: u8 = 0x01;
/// Offset of the status byte (`00` good standing, `01` blocked), written by the administration.
pub const STATUS_OFFSET: u16 = 27;
/// Offset of the expiry date.
pub const EXPIRY_OFFSET: u16 = 29;

/// Patron category (informational for the card: the maximum loans already reflect it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatronCategory {
    /// `01` adult reader.
    Adult,
    /// `02` child reader.
    Child,
    /// `03` library staff.
    Staff,
}

impl PatronCategory {
    /// From the stored code.
    pub const fn from_code(b: u8) -> Option<PatronCategory> {
        match b {
            0x01 => Some(PatronCategory::Adult),
            0x02 => Some(PatronCategory::Child),
            0x03 => Some(PatronCategory::Staff),
            _ => None,
        }
    }

    /// The stored code.
    pub const fn code(self) -> u8 {
        match self {
            PatronCategory::Adult => 0x01,
            PatronCategory::Child => 0x02,
            PatronCategory::Staff => 0x03,
        }
    }
}

/// Whether the library lets the patron borrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatronStatus {
    /// `00`: in good standing.
    GoodStanding,
    /// Any other value (`01` by convention): blocked by the library (lost items, unpaid fines…).
    Blocked,
}

impl PatronStatus {
    /// From the stored byte: `00` is good standing, anything else blocked.
    pub const fn from_code(b: u8) -> PatronStatus {
        if b == 0 {
            PatronStatus::GoodStanding
        } else {
            PatronStatus::Blocked
        }
    }

    /// The stored byte.
    pub const fn code(self) -> u8 {
        match self {
            PatronStatus::GoodStanding => 0x00,
            PatronStatus::Blocked => 0x01,
        }
    }
}

/// The patron file, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patron {
    /// Card application serial number (10 bytes); its last 8 bytes diversify the library keys.
    pub asn: [u8; 10],
    /// Patron (reader) number of the library system, 20 BCD digits.
    pub number: [u8; 10],
    /// Category.
    pub category: PatronCategory,
    /// Home branch.
    pub home_branch: BranchId,
    /// Most items on loan at once (0: no borrowing; capped by the loans file's record count).
    pub max_loans: u8,
    /// Loan period in days (1–255): due date = loan date + period.
    pub loan_period: u8,
    /// Most renewals of one loan.
    pub max_renewals: u8,
    /// Good standing or blocked.
    pub status: PatronStatus,
    /// Deposit-free borrowing granted (informational: the terminal asks a deposit otherwise).
    pub deposit_free: bool,
    /// Last day the patron may borrow or renew (inclusive); no due date is set after it.
    pub expiry: Date,
}

fn arr<const N: usize>(b: &[u8; PATRON_LEN], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
}

impl Patron {
    /// Parse the patron file; `None` when it does not follow the layout.
    pub fn decode(b: &[u8; PATRON_LEN]) -> Option<Patron> {
        let [format] = arr::<1>(b, 0)?;
        if format != PATRON_FORMAT {
            return None;
        }
        let [category] = arr::<1>(b, 21)?;
        let [max_loans, loan_period, max_renewals, status, deposit_free] = arr::<5>(b, 24)?;
        if loan_period == 0 {
            return None;
        }
        let deposit_free = match deposit_free {
            0x00 => false,
            0x01 => true,
            _ => return None,
        };
        Some(Patron {
            asn: arr(b, 1)?,
            number: arr(b, 11)?,
            category: PatronCategory::from_code(category)?,
            home_branch: BranchId::from_bytes(arr(b, 22)?),
            max_loans,
            loan_period,
            max_renewals,
            status: PatronStatus::from_code(status),
            deposit_free,
            expiry: Date::from_bcd(arr(b, EXPIRY_OFFSET as usize)?)?,
        })
    }

    /// The file content (reserved bytes zero).
    pub fn encode(&self) -> [u8; PATRON_LEN] {
        let mut b = [0u8; PATRON_LEN];
        concat_into(
            &mut b,
            &[
                &[PATRON_FORMAT],
                &self.asn,
                &self.number,
                &[self.category.code()],
                &self.home_branch.to_bytes(),
                &[self.max_loans, self.loan_period, self.max_renewals],
                &[self.status.code(), u8::from(self.deposit_free)],
                &self.expiry.to_bcd(),
            ],
        );
        b
    }

    /// Whether the patron may borrow or renew on `date`: valid through the expiry date.
    pub fn expired_on(&self, date: Date) -> bool {
        date > self.expiry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Patron {
        Patron {
            asn: [0x31, 0, 0, 0, 0, 0, 0, 0, 0, 0x01],
            number: [0x31, 0, 0, 0, 0, 0, 0, 0, 0, 0x01],
            category: PatronCategory::Adult,
            home_branch: BranchId(1),
            max_loans: 5,
            loan_period: 30,
            max_renewals: 2,
            status: PatronStatus::GoodStanding,
            deposit_free: true,
            expiry: Date::new(2035, 12, 31).unwrap(),
        }
    }

    #[test]
    fn layout_round_trip_and_offsets() {
        let p = sample();
        let b = p.encode();
        assert_eq!(Patron::decode(&b), Some(p));
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..11], &p.asn);
        assert_eq!(b[21], 0x01);
        assert_eq!(&b[22..24], &[0, 1]);
        assert_eq!(&b[24..27], &[5, 30, 2]);
        assert_eq!(b[STATUS_OFFSET as usize], 0);
        assert_eq!(b[28], 1);
        assert_eq!(&b[EXPIRY_OFFSET as usize..33], &[0x20, 0x35, 0x12, 0x31]);
        assert!(b[33..].iter().all(|&x| x == 0));
    }

    #[test]
    fn malformed_files_are_refused() {
        let good = sample().encode();
        let bad = |at: usize, v: u8| {
            let mut b = good;
            b[at] = v;
            Patron::decode(&b)
        };
        assert!(bad(0, 0x02).is_none(), "format");
        assert!(bad(21, 0x09).is_none(), "category");
        assert!(bad(25, 0).is_none(), "loan period 0");
        assert!(bad(28, 0x02).is_none(), "deposit-free flag");
        assert!(bad(31, 0x13).is_none(), "expiry month");
        assert!(Patron::decode(&[0; PATRON_LEN]).is_none(), "blank file");
        assert_eq!(
            bad(STATUS_OFFSET as usize, 0x7F).map(|p| p.status),
            Some(PatronStatus::Blocked),
            "any non-zero status blocks"
        );
    }

    #[test]
    fn expiry_is_inclusive() {
        let p = sample();
        assert!(!p.expired_on(Date::new(2035, 12, 31).unwrap()));
        assert!(p.expired_on(Date::new(2036, 1, 1).unwrap()));
    }
}
