//! Persistent purse state and the transaction-log record: their byte layouts in the ADF's files.
//!
//! Responsibility: encode and decode the 24-byte body of a purse's internal EF and the 23-byte
//! record of the cyclic log EF (SFI `18`). Nothing here touches storage.
//!
//! **Balance convention.** Every amount is unsigned (JR/T 0025 Part 2). The balance stored and
//! reported is the *available* balance: own funds plus the overdraw limit. A purchase needs
//! `amount ≤ balance`, which lets the holder's own funds go down to `−limit` and never below;
//! raising or lowering the limit moves the balance by the difference. Own funds
//! (`balance − limit`) are what the maximum balance bounds and what an unload may take.
//!
//! Purse EF body (internal EF, `2F` in CREATE FILE; FID `0001` ED, `0002` EP), big-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 3 | overdraw limit |
//! | 3 | 2 | online ATC (loads, unloads, limit updates) |
//! | 5 | 4 | balance (available, fen) |
//! | 9 | 2 | offline ATC (purchases, withdrawals) |
//! | 11 | 1 | type of the last transaction (`00`: none yet) |
//! | 12 | 2 | its counter after the transaction (what GET TRANSACTION PROVE expects) |
//! | 14 | 4 | its MAC2 (load: the host's MAC2; purchase: the card's MAC2; unload: MAC3) |
//! | 18 | 4 | its TAC |
//! | 22 | 2 | reserved, `00 00` |
//!
//! A freshly created (zero-filled) EF is an empty purse with no transaction.
//!
//! Why this order: what a purchase changes (balance, offline ATC, prove data) is one run of 17
//! bytes, and a load's (online ATC to prove data) one of 19, so the journal record of a purchase
//! with its log record stays within one 64-byte page even when the log record straddles two
//! data pages — at most 4 page programs per purchase (`docs/performance.md`).

use crate::types::{Amount, Atc, DateTime, Mac4, OverdrawLimit, TerminalId, TransactionType};
use cos_core::apdu::Sw;

/// Bytes of purse state the applet keeps in each purse EF (the EF may be larger).
pub const PURSE_STATE_LEN: usize = 24;
/// Where the online ATC sits in the purse EF body (see the table above).
pub const ONLINE_ATC_AT: usize = 3;
/// Where the balance sits in the purse EF body.
pub const BALANCE_AT: usize = 5;
/// Where the offline ATC sits in the purse EF body.
pub const OFFLINE_ATC_AT: usize = 9;
/// Length of a transaction-log record (JR/T 0025 Part 2, EF `18`).
pub const LOG_RECORD_LEN: usize = 23;

/// MAC2 and TAC of the last transaction of a purse, kept for GET TRANSACTION PROVE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prove {
    /// Transaction type.
    pub transaction: TransactionType,
    /// The purse's counter after the transaction.
    pub atc: Atc,
    /// MAC2 (or MAC3 for an unload).
    pub mac: Mac4,
    /// TAC.
    pub tac: Mac4,
}

/// One purse's persistent state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurseState {
    /// Available balance (own funds plus overdraw limit).
    pub balance: Amount,
    /// Online transaction counter.
    pub online_atc: Atc,
    /// Offline transaction counter.
    pub offline_atc: Atc,
    /// Overdraw limit (always zero for the EP: only the ED's can be updated).
    pub overdraw_limit: OverdrawLimit,
    /// The last transaction, if any.
    pub last: Option<Prove>,
}

impl PurseState {
    /// Own funds: balance minus the overdraw limit, or `None` while the credit is in use.
    pub const fn own_funds(&self) -> Option<Amount> {
        self.balance.checked_sub(self.overdraw_limit.amount())
    }

    /// Encode as stored.
    pub fn encode(&self) -> [u8; PURSE_STATE_LEN] {
        let mut b = [0u8; PURSE_STATE_LEN];
        let (lim, rest) = b.split_at_mut(3);
        lim.copy_from_slice(&self.overdraw_limit.to_bytes());
        let (on, rest) = rest.split_at_mut(2);
        on.copy_from_slice(&self.online_atc.to_bytes());
        let (bal, rest) = rest.split_at_mut(4);
        bal.copy_from_slice(&self.balance.to_bytes());
        let (off, rest) = rest.split_at_mut(2);
        off.copy_from_slice(&self.offline_atc.to_bytes());
        if let Some(p) = self.last {
            let (ty, rest) = rest.split_at_mut(1);
            ty.copy_from_slice(&[p.transaction.code()]);
            let (atc, rest) = rest.split_at_mut(2);
            atc.copy_from_slice(&p.atc.to_bytes());
            let (mac, rest) = rest.split_at_mut(4);
            mac.copy_from_slice(&p.mac.0);
            let (tac, _) = rest.split_at_mut(4);
            tac.copy_from_slice(&p.tac.0);
        }
        b
    }

    /// Decode the stored bytes; an unknown transaction-type byte is a corrupt state (`6581`).
    pub fn decode(b: &[u8; PURSE_STATE_LEN]) -> Result<PurseState, Sw> {
        let [l0, l1, l2, a0, a1, b0, b1, b2, b3, f0, f1, ty, p0, p1, m0, m1, m2, m3, t0, t1, t2, t3, _, _] =
            *b;
        let last = match ty {
            0 => None,
            code => Some(Prove {
                transaction: TransactionType::from_code(code).ok_or(Sw::MEMORY_FAILURE)?,
                atc: Atc::from_bytes([p0, p1]),
                mac: Mac4([m0, m1, m2, m3]),
                tac: Mac4([t0, t1, t2, t3]),
            }),
        };
        Ok(PurseState {
            balance: Amount::from_bytes([b0, b1, b2, b3]),
            online_atc: Atc::from_bytes([a0, a1]),
            offline_atc: Atc::from_bytes([f0, f1]),
            overdraw_limit: OverdrawLimit::from_bytes([l0, l1, l2]),
            last,
        })
    }
}

/// A transaction-log record (JR/T 0025 Part 2, "交易明细", cyclic EF SFI `18`):
/// ATC (2) ‖ overdraw limit (3) ‖ amount (4) ‖ type (1) ‖ terminal (6) ‖ date (4) ‖ time (3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// The counter the transaction used (the value INITIALIZE returned).
    pub atc: Atc,
    /// Overdraw limit after the transaction.
    pub overdraw_limit: OverdrawLimit,
    /// Amount (0 for a limit update).
    pub amount: Amount,
    /// Transaction type.
    pub transaction: TransactionType,
    /// Terminal identifier.
    pub terminal: TerminalId,
    /// Date and time sent by the terminal.
    pub date_time: DateTime,
}

impl LogRecord {
    /// Encode as stored.
    pub fn encode(&self) -> [u8; LOG_RECORD_LEN] {
        let mut b = [0u8; LOG_RECORD_LEN];
        let parts: [&[u8]; 6] = [
            &self.atc.to_bytes(),
            &self.overdraw_limit.to_bytes(),
            &self.amount.to_bytes(),
            &[self.transaction.code()],
            &self.terminal.0,
            &self.date_time.to_bytes(),
        ];
        for (d, s) in b.iter_mut().zip(parts.iter().flat_map(|p| p.iter())) {
            *d = *s;
        }
        b
    }

    /// Decode a stored record (`None` for an unknown type byte).
    pub fn decode(b: &[u8; LOG_RECORD_LEN]) -> Option<LogRecord> {
        let [a0, a1, l0, l1, l2, m0, m1, m2, m3, ty, t0, t1, t2, t3, t4, t5, d0, d1, d2, d3, h0, h1, h2] =
            *b;
        Some(LogRecord {
            atc: Atc::from_bytes([a0, a1]),
            overdraw_limit: OverdrawLimit::from_bytes([l0, l1, l2]),
            amount: Amount::from_bytes([m0, m1, m2, m3]),
            transaction: TransactionType::from_code(ty)?,
            terminal: TerminalId([t0, t1, t2, t3, t4, t5]),
            date_time: DateTime {
                date: [d0, d1, d2, d3],
                time: [h0, h1, h2],
            },
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn purse_state_round_trip_and_layout() {
        let s = PurseState {
            balance: Amount(0x0102_0304),
            online_atc: Atc(0x0506),
            offline_atc: Atc(0x0708),
            overdraw_limit: OverdrawLimit::new(0x090A0B).unwrap(),
            last: Some(Prove {
                transaction: TransactionType::WalletPurchase,
                atc: Atc(0x0D0E),
                mac: Mac4([0x11, 0x12, 0x13, 0x14]),
                tac: Mac4([0x21, 0x22, 0x23, 0x24]),
            }),
        };
        let b = s.encode();
        assert_eq!(
            b,
            [
                9, 10, 11, 5, 6, 1, 2, 3, 4, 7, 8, 6, 13, 14, 0x11, 0x12, 0x13, 0x14, 0x21, 0x22,
                0x23, 0x24, 0, 0
            ]
        );
        assert_eq!(PurseState::decode(&b).unwrap(), s);
        assert_eq!(
            PurseState::decode(&[0; PURSE_STATE_LEN]).unwrap(),
            PurseState::default()
        );
        let mut bad = b;
        bad[11] = 0x08;
        assert_eq!(PurseState::decode(&bad), Err(Sw::MEMORY_FAILURE));
    }

    #[test]
    fn own_funds() {
        let mut s = PurseState {
            balance: Amount(100),
            overdraw_limit: OverdrawLimit::new(30).unwrap(),
            ..PurseState::default()
        };
        assert_eq!(s.own_funds(), Some(Amount(70)));
        s.balance = Amount(10);
        assert_eq!(s.own_funds(), None);
    }

    #[test]
    fn log_record_layout() {
        let r = LogRecord {
            atc: Atc(1),
            overdraw_limit: OverdrawLimit::ZERO,
            amount: Amount(0x1000),
            transaction: TransactionType::DepositLoad,
            terminal: TerminalId([0, 0x11, 0x22, 0x33, 0x44, 0x55]),
            date_time: DateTime {
                date: [0x20, 0x11, 0x12, 0x21],
                time: [0x21, 0x48, 0x22],
            },
        };
        let b = r.encode();
        assert_eq!(
            b,
            [
                0, 1, 0, 0, 0, 0, 0, 0x10, 0, 1, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x20, 0x11, 0x12,
                0x21, 0x21, 0x48, 0x22
            ]
        );
        assert_eq!(LogRecord::decode(&b), Some(r));
    }
}
