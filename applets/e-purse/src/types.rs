//! Typed values of the purse: money, counters, identifiers and the transaction type codes.
//!
//! Responsibility: give every field of a JR/T 0025 Part 2 command or record its own type, with
//! its byte encoding in one place, so that a handler can never pass an ATC where an amount is due.
//! Invariants: every encoding is big-endian as the standard writes it; a value that cannot be
//! represented (an overdraw limit above `FFFFFF`) is refused at construction.

use cos_core::crypto::ct_eq;

/// An amount of money in fen (0.01 yuan), 4 bytes big-endian (JR/T 0025 Part 2, data elements).
/// Balances use the same type: a purse balance is never negative (see [`crate::state`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub u32);

impl Amount {
    /// Zero fen.
    pub const ZERO: Amount = Amount(0);

    /// Big-endian encoding.
    pub const fn to_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    /// From the big-endian encoding.
    pub const fn from_bytes(b: [u8; 4]) -> Amount {
        Amount(u32::from_be_bytes(b))
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Amount) -> Option<Amount> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Amount(v)),
            None => None,
        }
    }

    /// `self - other`, or `None` when it would go below zero.
    pub const fn checked_sub(self, other: Amount) -> Option<Amount> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Amount(v)),
            None => None,
        }
    }
}

/// An overdraw (credit) limit of the electronic deposit: 3 bytes big-endian, at most `FFFFFF` fen
/// (JR/T 0025 Part 2, INITIALIZE FOR PURCHASE / UPDATE OVERDRAW LIMIT).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OverdrawLimit(u32);

impl OverdrawLimit {
    /// No credit.
    pub const ZERO: OverdrawLimit = OverdrawLimit(0);
    /// The largest limit 3 bytes hold.
    pub const MAX: OverdrawLimit = OverdrawLimit(0x00FF_FFFF);

    /// A limit, or `None` above [`OverdrawLimit::MAX`].
    pub const fn new(fen: u32) -> Option<OverdrawLimit> {
        if fen > Self::MAX.0 {
            None
        } else {
            Some(OverdrawLimit(fen))
        }
    }

    /// The limit as an amount.
    pub const fn amount(self) -> Amount {
        Amount(self.0)
    }

    /// 3-byte big-endian encoding.
    pub const fn to_bytes(self) -> [u8; 3] {
        let [_, a, b, c] = self.0.to_be_bytes();
        [a, b, c]
    }

    /// From the 3-byte encoding (always representable).
    pub const fn from_bytes(b: [u8; 3]) -> OverdrawLimit {
        OverdrawLimit(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }
}

/// An application transaction counter (online or offline ATC), 2 bytes big-endian
/// (JR/T 0025 Part 2: "联机/脱机交易序号").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Atc(pub u16);

impl Atc {
    /// Big-endian encoding.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// From the big-endian encoding.
    pub const fn from_bytes(b: [u8; 2]) -> Atc {
        Atc(u16::from_be_bytes(b))
    }

    /// The counter after one more transaction, or `None` at `FFFF`.
    pub const fn next(self) -> Option<Atc> {
        match self.0.checked_add(1) {
            Some(v) => Some(Atc(v)),
            None => None,
        }
    }
}

/// Terminal identifier, 6 bytes (JR/T 0025 Part 2: "终端机编号").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TerminalId(pub [u8; 6]);

/// Terminal transaction counter (TTC), 4 bytes, sent by the terminal with DEBIT FOR PURCHASE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ttc(pub [u8; 4]);

impl Ttc {
    /// Its last two bytes, which enter the purchase session key.
    pub const fn low(self) -> [u8; 2] {
        [self.0[2], self.0[3]]
    }
}

/// Transaction date `YYYYMMDD` and time `hhmmss`, BCD, as the terminal sends them. The card does
/// not interpret them: they enter MACs, the TAC and the log record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DateTime {
    /// `YYYYMMDD`, 4 bytes BCD.
    pub date: [u8; 4],
    /// `hhmmss`, 3 bytes BCD.
    pub time: [u8; 3],
}

impl DateTime {
    /// `date ‖ time`, the order every MAC and record uses.
    pub const fn to_bytes(self) -> [u8; 7] {
        let d = self.date;
        let t = self.time;
        [d[0], d[1], d[2], d[3], t[0], t[1], t[2]]
    }
}

/// A key index: the key identifier under which the purse keys of one key set are written
/// (WRITE KEY P2), chosen by the terminal in INITIALIZE (JR/T 0025 Part 2: "密钥索引号").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeyIndex(pub u8);

/// A 4-byte MAC, TAC or MAC3 as transmitted. Comparison is constant-time.
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct Mac4(pub [u8; 4]);

impl PartialEq for Mac4 {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

/// Which of the two purses of the application a command addresses (P2 of GET BALANCE and
/// INITIALIZE, JR/T 0025 Part 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PurseKind {
    /// Electronic deposit (ED, "电子存折"), P2 = 01: PIN-protected, may have an overdraw limit.
    Deposit,
    /// Electronic purse (EP, "电子钱包"), P2 = 02.
    Wallet,
}

impl PurseKind {
    /// From P2.
    pub const fn from_p2(p2: u8) -> Option<PurseKind> {
        match p2 {
            0x01 => Some(PurseKind::Deposit),
            0x02 => Some(PurseKind::Wallet),
            _ => None,
        }
    }

    /// The P2 value.
    pub const fn p2(self) -> u8 {
        match self {
            PurseKind::Deposit => 0x01,
            PurseKind::Wallet => 0x02,
        }
    }

    /// Transaction type of a load into this purse.
    pub const fn load_type(self) -> TransactionType {
        match self {
            PurseKind::Deposit => TransactionType::DepositLoad,
            PurseKind::Wallet => TransactionType::WalletLoad,
        }
    }
}

/// The debit transactions that share the purchase path (INITIALIZE 80 50 P1 P2 + DEBIT 80 54 01 00).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DebitKind {
    /// Purchase (P1 = 01), ED or EP.
    Purchase,
    /// Cash withdrawal (P1 = 02), ED only.
    CashWithdrawal,
    /// Composite-application (CAPP) purchase (P1 = 03), EP only; needs a transit front-end
    /// ([`crate::EPurse::debit`] with a staged write).
    CappPurchase,
}

impl DebitKind {
    /// Whether JR/T 0025 Part 2 defines this debit for `purse`: purchases for both, cash
    /// withdrawal for the ED, CAPP purchase for the EP.
    pub const fn allows(self, purse: PurseKind) -> bool {
        matches!(
            (self, purse),
            (DebitKind::Purchase, _)
                | (DebitKind::CashWithdrawal, PurseKind::Deposit)
                | (DebitKind::CappPurchase, PurseKind::Wallet)
        )
    }

    /// Transaction type code for a debit of this kind from `purse`.
    pub const fn transaction_type(self, purse: PurseKind) -> TransactionType {
        match (self, purse) {
            (DebitKind::Purchase, PurseKind::Deposit) => TransactionType::DepositPurchase,
            (DebitKind::Purchase, PurseKind::Wallet) => TransactionType::WalletPurchase,
            (DebitKind::CashWithdrawal, _) => TransactionType::CashWithdrawal,
            (DebitKind::CappPurchase, _) => TransactionType::CappPurchase,
        }
    }
}

/// Transaction type codes (JR/T 0025 Part 2, "交易类型标识").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionType {
    /// `01` ED load.
    DepositLoad,
    /// `02` EP load.
    WalletLoad,
    /// `03` unload (ED).
    Unload,
    /// `04` ED cash withdrawal.
    CashWithdrawal,
    /// `05` ED purchase.
    DepositPurchase,
    /// `06` EP purchase.
    WalletPurchase,
    /// `07` overdraw-limit update (ED).
    OverdrawUpdate,
    /// `09` composite (CAPP) purchase (EP).
    CappPurchase,
}

impl TransactionType {
    /// The type byte.
    #[inline(never)]
    pub const fn code(self) -> u8 {
        match self {
            TransactionType::DepositLoad => 0x01,
            TransactionType::WalletLoad => 0x02,
            TransactionType::Unload => 0x03,
            TransactionType::CashWithdrawal => 0x04,
            TransactionType::DepositPurchase => 0x05,
            TransactionType::WalletPurchase => 0x06,
            TransactionType::OverdrawUpdate => 0x07,
            TransactionType::CappPurchase => 0x09,
        }
    }

    /// From the type byte (`08`, credit purchase, is not supported).
    pub const fn from_code(b: u8) -> Option<TransactionType> {
        Some(match b {
            0x01 => TransactionType::DepositLoad,
            0x02 => TransactionType::WalletLoad,
            0x03 => TransactionType::Unload,
            0x04 => TransactionType::CashWithdrawal,
            0x05 => TransactionType::DepositPurchase,
            0x06 => TransactionType::WalletPurchase,
            0x07 => TransactionType::OverdrawUpdate,
            0x09 => TransactionType::CappPurchase,
            _ => return None,
        })
    }

    /// The purse a transaction of this type belongs to.
    pub const fn purse(self) -> PurseKind {
        match self {
            TransactionType::DepositLoad
            | TransactionType::Unload
            | TransactionType::CashWithdrawal
            | TransactionType::DepositPurchase
            | TransactionType::OverdrawUpdate => PurseKind::Deposit,
            TransactionType::WalletLoad
            | TransactionType::WalletPurchase
            | TransactionType::CappPurchase => PurseKind::Wallet,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip() {
        assert_eq!(
            Amount::from_bytes(Amount(0x1234_5678).to_bytes()).0,
            0x1234_5678
        );
        assert_eq!(Atc::from_bytes([0xAB, 0xCD]), Atc(0xABCD));
        let l = OverdrawLimit::new(0x12_3456).unwrap();
        assert_eq!(l.to_bytes(), [0x12, 0x34, 0x56]);
        assert_eq!(OverdrawLimit::from_bytes(l.to_bytes()), l);
        assert_eq!(OverdrawLimit::new(0x0100_0000), None);
        assert_eq!(Atc(0xFFFF).next(), None);
        assert_eq!(Atc(1).next(), Some(Atc(2)));
        assert_eq!(Amount(1).checked_sub(Amount(2)), None);
        assert_eq!(Amount(u32::MAX).checked_add(Amount(1)), None);
        assert_eq!(Ttc([1, 2, 3, 4]).low(), [3, 4]);
    }

    #[test]
    fn transaction_types() {
        for b in 0..=255u8 {
            if let Some(t) = TransactionType::from_code(b) {
                assert_eq!(t.code(), b);
            }
        }
        assert_eq!(TransactionType::from_code(0x08), None);
        assert_eq!(
            DebitKind::Purchase
                .transaction_type(PurseKind::Wallet)
                .code(),
            0x06
        );
        assert_eq!(PurseKind::Deposit.load_type().code(), 0x01);
        assert!(DebitKind::Purchase.allows(PurseKind::Deposit));
        assert!(!DebitKind::CashWithdrawal.allows(PurseKind::Wallet));
        assert!(!DebitKind::CappPurchase.allows(PurseKind::Deposit));
        assert_eq!(TransactionType::Unload.purse(), PurseKind::Deposit);
        assert_eq!(TransactionType::CappPurchase.purse(), PurseKind::Wallet);
    }

    #[test]
    fn mac_equality() {
        assert_eq!(Mac4([1, 2, 3, 4]), Mac4([1, 2, 3, 4]));
        assert_ne!(Mac4([1, 2, 3, 4]), Mac4([1, 2, 3, 5]));
    }
}
