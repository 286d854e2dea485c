//! Record layouts of the loans file (one record per loan slot) and of the loan history.
//!
//! Responsibility: encode and decode [`LoanSlot`] and [`HistoryRecord`] (`docs/library.md`).
//! Invariants: a free slot is 30 zero bytes (the state a freshly created linear-fixed EF has), an
//! occupied one has state `01` and valid fields; anything else does not decode, so corruption is
//! reported rather than silently read as a loan or as a free slot.

use crate::types::{
    concat_into, Barcode, BranchId, Date, Seq, SlotNumber, TerminalId, BARCODE_LEN,
};

/// Length of a loans-file record.
pub const LOAN_RECORD_LEN: usize = 30;
/// Length of a history record.
pub const HISTORY_RECORD_LEN: usize = 36;

/// An item on loan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loan {
    /// The item.
    pub barcode: Barcode,
    /// Branch where it was borrowed.
    pub branch: BranchId,
    /// Day it was borrowed.
    pub loan_date: Date,
    /// Day it is due back.
    pub due: Date,
    /// Renewals so far.
    pub renewals: u8,
    /// Counter of the history event that last wrote this loan (borrow or renew).
    pub seq: Seq,
}

/// One record of the loans file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoanSlot {
    /// No item in this slot.
    Free,
    /// An item on loan.
    OnLoan(Loan),
}

fn arr<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
}

impl LoanSlot {
    /// Encode: `state (1) ‖ barcode (16) ‖ branch (2) ‖ loan date (4) ‖ due date (4) ‖
    /// renewals (1) ‖ event counter (2)`; a free slot is all zeros.
    pub fn encode(&self) -> [u8; LOAN_RECORD_LEN] {
        let mut b = [0u8; LOAN_RECORD_LEN];
        if let LoanSlot::OnLoan(l) = self {
            concat_into(
                &mut b,
                &[
                    &[0x01],
                    &l.barcode.to_field(),
                    &l.branch.to_bytes(),
                    &l.loan_date.to_bcd(),
                    &l.due.to_bcd(),
                    &[l.renewals],
                    &l.seq.to_bytes(),
                ],
            );
        }
        b
    }

    /// Decode a record; `None` for anything [`LoanSlot::encode`] cannot produce.
    pub fn decode(b: &[u8]) -> Option<LoanSlot> {
        if b.len() != LOAN_RECORD_LEN {
            return None;
        }
        match b.first()? {
            0x00 if b.iter().all(|&x| x == 0) => Some(LoanSlot::Free),
            0x01 => {
                let [renewals] = arr::<1>(b, 27)?;
                let loan = Loan {
                    barcode: Barcode::from_field(arr::<BARCODE_LEN>(b, 1)?)?,
                    branch: BranchId::from_bytes(arr(b, 17)?),
                    loan_date: Date::from_bcd(arr(b, 19)?)?,
                    due: Date::from_bcd(arr(b, 23)?)?,
                    renewals,
                    seq: Seq::from_bytes(arr(b, 28)?),
                };
                Some(LoanSlot::OnLoan(loan))
            }
            _ => None,
        }
    }

    /// The loan, if any.
    pub const fn loan(&self) -> Option<&Loan> {
        match self {
            LoanSlot::Free => None,
            LoanSlot::OnLoan(l) => Some(l),
        }
    }
}

/// What happened to a loan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `01`: the item was borrowed.
    Borrow,
    /// `02`: the item was returned.
    Return,
    /// `03`: the loan was renewed.
    Renew,
}

impl EventKind {
    /// The stored code.
    pub const fn code(self) -> u8 {
        match self {
            EventKind::Borrow => 0x01,
            EventKind::Return => 0x02,
            EventKind::Renew => 0x03,
        }
    }

    /// From the stored code.
    pub const fn from_code(b: u8) -> Option<EventKind> {
        match b {
            0x01 => Some(EventKind::Borrow),
            0x02 => Some(EventKind::Return),
            0x03 => Some(EventKind::Renew),
            _ => None,
        }
    }
}

/// One record of the cyclic loan history (record 1 = the newest event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryRecord {
    /// Event counter.
    pub seq: Seq,
    /// What happened.
    pub kind: EventKind,
    /// The loan slot it happened in.
    pub slot: SlotNumber,
    /// The item.
    pub barcode: Barcode,
    /// Branch of the terminal.
    pub branch: BranchId,
    /// Date the terminal sent.
    pub date: Date,
    /// Due date after a borrow or renewal; for a return, the due date the loan had.
    pub due: Date,
    /// The terminal.
    pub terminal: TerminalId,
}

impl HistoryRecord {
    /// Encode: `counter (2) ‖ event (1) ‖ slot (1) ‖ barcode (16) ‖ branch (2) ‖ date (4) ‖
    /// due date (4) ‖ terminal (6)`.
    pub fn encode(&self) -> [u8; HISTORY_RECORD_LEN] {
        let mut b = [0u8; HISTORY_RECORD_LEN];
        concat_into(
            &mut b,
            &[
                &self.seq.to_bytes(),
                &[self.kind.code(), self.slot.get()],
                &self.barcode.to_field(),
                &self.branch.to_bytes(),
                &self.date.to_bcd(),
                &self.due.to_bcd(),
                &self.terminal.0,
            ],
        );
        b
    }

    /// Decode a record; `None` when malformed.
    pub fn decode(b: &[u8]) -> Option<HistoryRecord> {
        if b.len() != HISTORY_RECORD_LEN {
            return None;
        }
        let [kind, slot] = arr::<2>(b, 2)?;
        Some(HistoryRecord {
            seq: Seq::from_bytes(arr(b, 0)?),
            kind: EventKind::from_code(kind)?,
            slot: SlotNumber::new(slot)?,
            barcode: Barcode::from_field(arr(b, 4)?)?,
            branch: BranchId::from_bytes(arr(b, 20)?),
            date: Date::from_bcd(arr(b, 22)?)?,
            due: Date::from_bcd(arr(b, 26)?)?,
            terminal: TerminalId(arr(b, 30)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loan() -> Loan {
        Loan {
            barcode: Barcode::from_text(b"B0001").unwrap(),
            branch: BranchId(7),
            loan_date: Date::new(2026, 3, 1).unwrap(),
            due: Date::new(2026, 3, 31).unwrap(),
            renewals: 1,
            seq: Seq(0x0102),
        }
    }

    #[test]
    fn loan_slots_round_trip() {
        assert_eq!(LoanSlot::Free.encode(), [0; LOAN_RECORD_LEN]);
        assert_eq!(
            LoanSlot::decode(&[0; LOAN_RECORD_LEN]),
            Some(LoanSlot::Free)
        );
        let s = LoanSlot::OnLoan(loan());
        let b = s.encode();
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..6], b"B0001");
        assert_eq!(&b[17..19], &[0, 7]);
        assert_eq!(&b[19..23], &[0x20, 0x26, 0x03, 0x01]);
        assert_eq!(&b[23..27], &[0x20, 0x26, 0x03, 0x31]);
        assert_eq!(b[27], 1);
        assert_eq!(&b[28..30], &[1, 2]);
        assert_eq!(LoanSlot::decode(&b), Some(s));
        assert_eq!(s.loan(), Some(&loan()));
    }

    #[test]
    fn corrupt_loan_records_do_not_decode() {
        let mut z = [0u8; LOAN_RECORD_LEN];
        z[5] = 1;
        assert_eq!(LoanSlot::decode(&z), None, "free slot with residue");
        let mut b = LoanSlot::OnLoan(loan()).encode();
        b[0] = 2;
        assert_eq!(LoanSlot::decode(&b), None, "unknown state");
        b[0] = 1;
        b[21] = 0x13;
        assert_eq!(LoanSlot::decode(&b), None, "bad date");
        assert_eq!(LoanSlot::decode(&[0; 29]), None, "length");
    }

    #[test]
    fn history_round_trip() {
        let h = HistoryRecord {
            seq: Seq(9),
            kind: EventKind::Renew,
            slot: SlotNumber::new(3).unwrap(),
            barcode: Barcode::from_text(b"X").unwrap(),
            branch: BranchId(0x0203),
            date: Date::new(2026, 4, 2).unwrap(),
            due: Date::new(2026, 5, 2).unwrap(),
            terminal: TerminalId([1, 2, 3, 4, 5, 6]),
        };
        let b = h.encode();
        assert_eq!(&b[..4], &[0, 9, 3, 3]);
        assert_eq!(&b[30..], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(HistoryRecord::decode(&b), Some(h));
        let mut bad = b;
        bad[2] = 4;
        assert_eq!(HistoryRecord::decode(&bad), None);
        bad[2] = 3;
        bad[3] = 0;
        assert_eq!(HistoryRecord::decode(&bad), None);
        for k in [EventKind::Borrow, EventKind::Return, EventKind::Renew] {
            assert_eq!(EventKind::from_code(k.code()), Some(k));
        }
    }
}
