//! The loan rules, as pure functions from (patron, loans, request) to the change to commit.
//!
//! Responsibility: decide every borrow, return and renewal without touching storage, so the rules
//! can be tested exhaustively on their own and the applet only reads, decides, and commits what
//! was decided in one transaction. Invariants of every [`Change`]: exactly one loan slot is
//! rewritten and exactly one history record describes it (same slot, barcode and due date, the
//! next event counter); a borrow never takes the loans in use past
//! `min(patron maximum, slot count)`.
//!
//! Order of the checks (the first failing one decides the status word):
//! * borrow: blocked → expired → already on loan → loan limit → due date in range;
//! * return: not on loan → date before the loan date (blocked or expired patrons may return);
//! * renew: blocked → expired → not on loan → date before the loan date → renewal limit.
//!
//! Due dates: borrow `min(date + loan period, expiry)`; renew `max(old due, min(date + loan
//! period, expiry))` (a renewal never shortens a loan, and no due date passes the expiry date).

use crate::command::LoanRequest;
use crate::error::LoanError;
use crate::patron::{Patron, PatronStatus};
use crate::records::{EventKind, HistoryRecord, Loan, LoanSlot};
use crate::types::{Barcode, Date, Seq, SlotNumber};

/// What the loans file holds, as far as one request is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoanScan {
    barcode: Barcode,
    slots: u8,
    in_use: u8,
    first_free: Option<SlotNumber>,
    item: Option<(SlotNumber, Loan)>,
}

impl LoanScan {
    /// An empty scan looking for `barcode`.
    pub const fn new(barcode: Barcode) -> LoanScan {
        LoanScan {
            barcode,
            slots: 0,
            in_use: 0,
            first_free: None,
            item: None,
        }
    }

    /// Account for one record of the loans file (call in record order).
    pub fn add(&mut self, slot: SlotNumber, record: &LoanSlot) {
        self.slots = self.slots.saturating_add(1);
        match record {
            LoanSlot::Free => {
                if self.first_free.is_none() {
                    self.first_free = Some(slot);
                }
            }
            LoanSlot::OnLoan(l) => {
                self.in_use = self.in_use.saturating_add(1);
                if l.barcode == self.barcode && self.item.is_none() {
                    self.item = Some((slot, *l));
                }
            }
        }
    }

    /// Slots scanned.
    pub const fn slots(&self) -> u8 {
        self.slots
    }

    /// Items on loan.
    pub const fn in_use(&self) -> u8 {
        self.in_use
    }

    /// The slot holding the barcode, if it is on loan.
    pub const fn item(&self) -> Option<(SlotNumber, Loan)> {
        self.item
    }
}

/// What the card answers after a successful operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The slot the operation used.
    pub slot: SlotNumber,
    /// Borrow, renew: the new due date; return: the due date the loan had.
    pub due: Date,
    /// Renewals of the loan after the operation (0 after a borrow).
    pub renewals: u8,
    /// Days the item was overdue on the command's date (0 when not overdue; saturates at `FFFF`).
    pub overdue_days: u16,
    /// Items on loan after the operation.
    pub loans_in_use: u8,
}

impl Receipt {
    /// Length of the encoded receipt.
    pub const LEN: usize = 9;

    /// `slot (1) ‖ due date (4) ‖ renewals (1) ‖ overdue days (2) ‖ loans in use (1)`.
    pub fn encode(&self) -> [u8; Receipt::LEN] {
        let mut b = [0u8; Receipt::LEN];
        crate::types::concat_into(
            &mut b,
            &[
                &[self.slot.get()],
                &self.due.to_bcd(),
                &[self.renewals],
                &self.overdue_days.to_be_bytes(),
                &[self.loans_in_use],
            ],
        );
        b
    }
}

/// The writes one operation commits together, and its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// The slot to rewrite.
    pub slot: SlotNumber,
    /// Its new content.
    pub record: LoanSlot,
    /// The history record to append.
    pub event: HistoryRecord,
    /// The answer.
    pub receipt: Receipt,
}

fn overdue(date: Date, due: Date) -> u16 {
    u16::try_from(date.days_after(due)).unwrap_or(u16::MAX)
}

fn patron_may_borrow(patron: &Patron, date: Date) -> Result<(), LoanError> {
    if patron.status == PatronStatus::Blocked {
        return Err(LoanError::PatronBlocked);
    }
    if patron.expired_on(date) {
        return Err(LoanError::PatronExpired);
    }
    Ok(())
}

/// `min(date + loan period, expiry)`.
fn due_date(patron: &Patron, date: Date) -> Result<Date, LoanError> {
    let due = date
        .add_days(u16::from(patron.loan_period))
        .ok_or(LoanError::DateOutOfRange)?;
    Ok(due.min(patron.expiry))
}

#[inline(never)]
fn event(
    kind: EventKind,
    slot: SlotNumber,
    req: &LoanRequest,
    due: Date,
    seq: Seq,
) -> HistoryRecord {
    HistoryRecord {
        seq,
        kind,
        slot,
        barcode: req.barcode,
        branch: req.branch,
        date: req.date,
        due,
        terminal: req.terminal,
    }
}

/// BORROW: the item goes into the first free slot, due after the loan period.
pub fn borrow(
    patron: &Patron,
    scan: &LoanScan,
    req: &LoanRequest,
    seq: Seq,
) -> Result<Change, LoanError> {
    patron_may_borrow(patron, req.date)?;
    if scan.item.is_some() {
        return Err(LoanError::AlreadyOnLoan);
    }
    if scan.in_use >= patron.max_loans.min(scan.slots) {
        return Err(LoanError::LoanLimit);
    }
    let slot = scan.first_free.ok_or(LoanError::LoanLimit)?;
    let due = due_date(patron, req.date)?;
    let loan = Loan {
        barcode: req.barcode,
        branch: req.branch,
        loan_date: req.date,
        due,
        renewals: 0,
        seq,
    };
    Ok(Change {
        slot,
        record: LoanSlot::OnLoan(loan),
        event: event(EventKind::Borrow, slot, req, due, seq),
        receipt: Receipt {
            slot,
            due,
            renewals: 0,
            overdue_days: 0,
            loans_in_use: scan.in_use.saturating_add(1),
        },
    })
}

/// RETURN: the slot is freed; the receipt tells how many days the item was overdue.
pub fn give_back(scan: &LoanScan, req: &LoanRequest, seq: Seq) -> Result<Change, LoanError> {
    let (slot, loan) = scan.item.ok_or(LoanError::NotOnLoan)?;
    if req.date < loan.loan_date {
        return Err(LoanError::DateBeforeLoan);
    }
    Ok(Change {
        slot,
        record: LoanSlot::Free,
        event: event(EventKind::Return, slot, req, loan.due, seq),
        receipt: Receipt {
            slot,
            due: loan.due,
            renewals: loan.renewals,
            overdue_days: overdue(req.date, loan.due),
            loans_in_use: scan.in_use.saturating_sub(1),
        },
    })
}

/// RENEW: one more renewal, due a loan period after the renewal date (never earlier than before).
pub fn renew(
    patron: &Patron,
    scan: &LoanScan,
    req: &LoanRequest,
    seq: Seq,
) -> Result<Change, LoanError> {
    patron_may_borrow(patron, req.date)?;
    let (slot, loan) = scan.item.ok_or(LoanError::NotOnLoan)?;
    if req.date < loan.loan_date {
        return Err(LoanError::DateBeforeLoan);
    }
    if loan.renewals >= patron.max_renewals {
        return Err(LoanError::RenewalLimit);
    }
    let due = due_date(patron, req.date)?.max(loan.due);
    let renewals = loan.renewals.saturating_add(1);
    let renewed = Loan {
        due,
        renewals,
        seq,
        ..loan
    };
    Ok(Change {
        slot,
        record: LoanSlot::OnLoan(renewed),
        event: event(EventKind::Renew, slot, req, due, seq),
        receipt: Receipt {
            slot,
            due,
            renewals,
            overdue_days: overdue(req.date, loan.due),
            loans_in_use: scan.in_use,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patron::PatronCategory;
    use crate::types::{BranchId, TerminalId};
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn patron() -> Patron {
        Patron {
            asn: [0; 10],
            number: [0; 10],
            category: PatronCategory::Adult,
            home_branch: BranchId(1),
            max_loans: 3,
            loan_period: 30,
            max_renewals: 2,
            status: PatronStatus::GoodStanding,
            deposit_free: true,
            expiry: Date::new(2030, 6, 30).unwrap(),
        }
    }

    fn date(y: u16, m: u8, d: u8) -> Date {
        Date::new(y, m, d).unwrap()
    }

    fn req(code: &str, d: Date) -> LoanRequest {
        LoanRequest {
            date: d,
            barcode: Barcode::from_text(code.as_bytes()).unwrap(),
            branch: BranchId(2),
            terminal: TerminalId([9; 6]),
        }
    }

    /// A loans file of `n` slots, with the slots to apply `changes` to.
    struct Book(Vec<LoanSlot>);

    impl Book {
        fn new(n: usize) -> Book {
            Book(vec![LoanSlot::Free; n])
        }
        fn scan(&self, code: &str) -> LoanScan {
            let mut s = LoanScan::new(Barcode::from_text(code.as_bytes()).unwrap());
            for (i, r) in self.0.iter().enumerate() {
                s.add(SlotNumber::new(i as u8 + 1).unwrap(), r);
            }
            s
        }
        fn apply(&mut self, c: &Change) {
            self.0[usize::from(c.slot.get()) - 1] = c.record;
        }
        fn in_use(&self) -> usize {
            self.0.iter().filter(|s| s.loan().is_some()).count()
        }
    }

    #[test]
    fn borrow_renew_return() {
        let p = patron();
        let mut b = Book::new(4);
        let d0 = date(2026, 3, 1);
        let c = borrow(&p, &b.scan("A"), &req("A", d0), Seq(1)).unwrap();
        assert_eq!(c.slot.get(), 1);
        assert_eq!(c.receipt.due, date(2026, 3, 31));
        assert_eq!(c.receipt.loans_in_use, 1);
        assert_eq!(c.event.kind, EventKind::Borrow);
        assert_eq!(
            (c.event.slot, c.event.due, c.event.seq),
            (c.slot, c.receipt.due, Seq(1))
        );
        b.apply(&c);
        let c = borrow(&p, &b.scan("B"), &req("B", d0), Seq(2)).unwrap();
        assert_eq!(c.slot.get(), 2);
        b.apply(&c);
        // Renew A on 2026-03-20: due 2026-04-19, one renewal.
        let c = renew(&p, &b.scan("A"), &req("A", date(2026, 3, 20)), Seq(3)).unwrap();
        assert_eq!((c.receipt.due, c.receipt.renewals), (date(2026, 4, 19), 1));
        assert_eq!(c.receipt.overdue_days, 0);
        b.apply(&c);
        // Return A 5 days late.
        let c = give_back(&b.scan("A"), &req("A", date(2026, 4, 24)), Seq(4)).unwrap();
        assert_eq!(c.receipt.overdue_days, 5);
        assert_eq!(c.receipt.due, date(2026, 4, 19));
        assert_eq!(c.record, LoanSlot::Free);
        assert_eq!(c.receipt.loans_in_use, 1);
        b.apply(&c);
        // The freed slot is reused first.
        let c = borrow(&p, &b.scan("C"), &req("C", date(2026, 4, 24)), Seq(5)).unwrap();
        assert_eq!(c.slot.get(), 1);
        assert_eq!(c.receipt.encode(), [1, 0x20, 0x26, 0x05, 0x24, 0, 0, 0, 2]);
    }

    #[test]
    fn refusals() {
        let p = patron();
        let d0 = date(2026, 3, 1);
        let mut b = Book::new(4);
        for (i, code) in ["A", "B", "C"].iter().enumerate() {
            let c = borrow(&p, &b.scan(code), &req(code, d0), Seq(i as u16)).unwrap();
            b.apply(&c);
        }
        assert_eq!(
            borrow(&p, &b.scan("D"), &req("D", d0), Seq(9)),
            Err(LoanError::LoanLimit)
        );
        assert_eq!(
            borrow(&p, &b.scan("A"), &req("A", d0), Seq(9)),
            Err(LoanError::AlreadyOnLoan)
        );
        assert_eq!(
            give_back(&b.scan("D"), &req("D", d0), Seq(9)),
            Err(LoanError::NotOnLoan)
        );
        assert_eq!(
            renew(&p, &b.scan("D"), &req("D", d0), Seq(9)),
            Err(LoanError::NotOnLoan)
        );
        let early = req("A", date(2026, 2, 28));
        assert_eq!(
            give_back(&b.scan("A"), &early, Seq(9)),
            Err(LoanError::DateBeforeLoan)
        );
        assert_eq!(
            renew(&p, &b.scan("A"), &early, Seq(9)),
            Err(LoanError::DateBeforeLoan)
        );
        for s in 0..2 {
            let c = renew(&p, &b.scan("A"), &req("A", d0), Seq(10 + s)).unwrap();
            b.apply(&c);
        }
        assert_eq!(
            renew(&p, &b.scan("A"), &req("A", d0), Seq(12)),
            Err(LoanError::RenewalLimit)
        );

        let blocked = Patron {
            status: PatronStatus::Blocked,
            ..p
        };
        let fresh = Book::new(4);
        assert_eq!(
            borrow(&blocked, &fresh.scan("A"), &req("A", d0), Seq(1)),
            Err(LoanError::PatronBlocked)
        );
        assert_eq!(
            renew(&blocked, &b.scan("B"), &req("B", d0), Seq(1)),
            Err(LoanError::PatronBlocked)
        );
        assert!(
            give_back(&b.scan("B"), &req("B", d0), Seq(1)).is_ok(),
            "a blocked patron may return"
        );
        let after = date(2030, 7, 1);
        assert_eq!(
            borrow(&p, &fresh.scan("A"), &req("A", after), Seq(1)),
            Err(LoanError::PatronExpired)
        );
        assert_eq!(
            renew(&p, &b.scan("B"), &req("B", after), Seq(1)),
            Err(LoanError::PatronExpired)
        );
        assert!(give_back(&b.scan("B"), &req("B", after), Seq(1)).is_ok());

        let none = Patron { max_loans: 0, ..p };
        assert_eq!(
            borrow(&none, &fresh.scan("A"), &req("A", d0), Seq(1)),
            Err(LoanError::LoanLimit)
        );
        let many = Patron {
            max_loans: 200,
            ..p
        };
        let mut small = Book::new(1);
        small.apply(&borrow(&many, &small.scan("A"), &req("A", d0), Seq(1)).unwrap());
        assert_eq!(
            borrow(&many, &small.scan("B"), &req("B", d0), Seq(2)),
            Err(LoanError::LoanLimit),
            "capped by the slot count"
        );
        let far = Patron {
            expiry: date(9999, 12, 31),
            ..p
        };
        assert_eq!(
            borrow(
                &far,
                &fresh.scan("A"),
                &req("A", date(9999, 12, 30)),
                Seq(1)
            ),
            Err(LoanError::DateOutOfRange)
        );
    }

    #[test]
    fn due_dates_never_pass_the_expiry_and_renewals_never_shorten() {
        let p = patron();
        let mut b = Book::new(4);
        let c = borrow(&p, &b.scan("A"), &req("A", date(2030, 6, 20)), Seq(1)).unwrap();
        assert_eq!(c.receipt.due, p.expiry);
        b.apply(&c);
        let q = Patron {
            loan_period: 1,
            expiry: date(2031, 1, 1),
            ..p
        };
        let c = renew(&q, &b.scan("A"), &req("A", date(2030, 6, 20)), Seq(2)).unwrap();
        assert_eq!(c.receipt.due, p.expiry, "kept, not shortened");
    }

    #[derive(Clone, Debug)]
    enum Op {
        Borrow(u8, u8),
        Return(u8, u8),
        Renew(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..8, 0u8..20).prop_map(|(b, d)| Op::Borrow(b, d)),
            (0u8..8, 0u8..20).prop_map(|(b, d)| Op::Return(b, d)),
            (0u8..8, 0u8..20).prop_map(|(b, d)| Op::Renew(b, d)),
        ]
    }

    proptest! {
        /// Whatever the sequence, the book never holds more than the maximum, never a barcode
        /// twice, and each change rewrites one slot described by its own history record.
        #[test]
        fn rules_keep_the_invariants(ops in proptest::collection::vec(op(), 1..60), max in 0u8..6) {
            let p = Patron { max_loans: max, ..patron() };
            let mut b = Book::new(4);
            let mut day = date(2026, 1, 1);
            let mut seq = Seq(0);
            for o in ops {
                let (code, adv, r) = match o {
                    Op::Borrow(c, d) => (c, d, 0),
                    Op::Return(c, d) => (c, d, 1),
                    Op::Renew(c, d) => (c, d, 2),
                };
                day = day.add_days(u16::from(adv)).unwrap();
                let name = format!("I{code}");
                let rq = req(&name, day);
                let scan = b.scan(&name);
                let result = match r {
                    0 => borrow(&p, &scan, &rq, seq.next()),
                    1 => give_back(&scan, &rq, seq.next()),
                    _ => renew(&p, &scan, &rq, seq.next()),
                };
                if let Ok(c) = result {
                    prop_assert_eq!(c.event.slot, c.slot);
                    prop_assert_eq!(c.event.barcode, rq.barcode);
                    prop_assert_eq!(c.event.seq, seq.next());
                    prop_assert_eq!(c.event.due, c.receipt.due);
                    if let LoanSlot::OnLoan(l) = c.record {
                        prop_assert_eq!(l.due, c.event.due);
                        prop_assert_eq!(l.seq, c.event.seq);
                    }
                    b.apply(&c);
                    seq = seq.next();
                    prop_assert_eq!(usize::from(c.receipt.loans_in_use), b.in_use());
                }
                prop_assert!(b.in_use() <= usize::from(max.min(4)));
                let mut codes: Vec<_> = b.0.iter().filter_map(|s| s.loan().map(|l| l.barcode)).collect();
                let n = codes.len();
                codes.sort_by_key(|c| c.to_field());
                codes.dedup();
                prop_assert_eq!(codes.len(), n);
            }
        }
    }
}
