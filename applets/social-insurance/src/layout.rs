//! The application's directory and the fixed layouts of its medical-insurance records.
//!
//! Responsibility: name every DF and EF of the application (`docs/social-insurance.md` has the
//! picture and the access rules), and encode / decode the two fixed-layout structures the card
//! itself writes: the settlement record (cyclic EF `07` of the medical-insurance DF) and the
//! account summary (internal EF `06` of that DF, served as data element `30`).
//!
//! Invariants: decoding validates every field (BCD digits, calendar ranges, the payment split
//! adding up), so a value of these types is always well-formed; encoding is the exact inverse.

/// DF name of the social-security DDF: `sx1.sh.` followed by 社会保障 in GBK.
pub const DDF_NAME: &[u8] = &[
    0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF,
];
/// FID of the DDF under the MF.
pub const DDF_FID: u16 = 0xDDF1;
/// AID (DF name) of the medical-insurance DF: RID `D156000005` (MOHRSS) and PIX `03`, the
/// "social insurance 2" information zone.
pub const MEDICAL_AID: &[u8] = &[0xD1, 0x56, 0x00, 0x00, 0x05, 0x03];
/// FID of the medical-insurance DF under the DDF (MOHRSS: `DF04`, 医疗保险数据区).
pub const MEDICAL_FID: u16 = 0xDF04;

/// Short identifiers of the DDF's EFs.
pub mod ddf {
    /// EF05 card identification (issuer data, 发卡机构数据): linear variable, one element a record.
    pub const CARD_IDENTIFICATION: u8 = 0x05;
    /// EF06 holder basic information (持卡人基本信息): linear variable.
    pub const HOLDER: u8 = 0x06;
    /// EF08 photo (照片): transparent, one element `0F`.
    pub const PHOTO: u8 = 0x08;
    /// EF09 employment and insurance data (就业与参保信息): linear variable.
    pub const EMPLOYMENT: u8 = 0x09;
}

/// Short identifiers of the medical-insurance DF's EFs.
pub mod medical {
    /// EF05 medical insurance basic information (医疗保险基本信息): linear variable.
    pub const BASIC: u8 = 0x05;
    /// EF06 account summary: internal EF, reached only through this applet.
    pub const ACCOUNT: u8 = 0x06;
    /// EF07 settlement records (医疗保险结算明细): cyclic, record 1 the newest.
    pub const SETTLEMENTS: u8 = 0x07;
}

/// The two DFs this application serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// The DDF `sx1.sh.社会保障`.
    Directory,
    /// The medical-insurance DF under it.
    Medical,
}

impl Area {
    /// DF name.
    pub const fn df_name(self) -> &'static [u8] {
        match self {
            Area::Directory => DDF_NAME,
            Area::Medical => MEDICAL_AID,
        }
    }

    /// Record EFs whose records are data elements (searched by GET DATA).
    pub const fn element_files(self) -> &'static [u8] {
        match self {
            Area::Directory => &[ddf::CARD_IDENTIFICATION, ddf::HOLDER, ddf::EMPLOYMENT],
            Area::Medical => &[medical::BASIC],
        }
    }
}

/// Money in fen (分, 0.01 yuan).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Fen(pub u32);

impl Fen {
    /// Checked sum.
    pub fn checked_add(self, o: Fen) -> Option<Fen> {
        self.0.checked_add(o.0).map(Fen)
    }
}

/// A date and time, `YYYYMMDDhhmmss` in 7 BCD bytes, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime([u8; 7]);

#[inline(never)]
fn bcd(b: u8) -> Option<u8> {
    let (h, l) = (b >> 4, b & 0x0F);
    if h > 9 || l > 9 {
        None
    } else {
        Some(h * 10 + l)
    }
}

impl DateTime {
    /// Validate 7 BCD bytes (month 1–12, day 1–31, hour < 24, minute and second < 60).
    pub fn new(b: [u8; 7]) -> Option<DateTime> {
        let [y1, y2, mo, d, h, mi, s] = b;
        bcd(y1)?;
        bcd(y2)?;
        let ok = matches!(bcd(mo)?, 1..=12)
            && matches!(bcd(d)?, 1..=31)
            && bcd(h)? < 24
            && bcd(mi)? < 60
            && bcd(s)? < 60;
        ok.then_some(DateTime(b))
    }

    /// The bytes.
    pub const fn bytes(&self) -> [u8; 7] {
        self.0
    }

    /// The year as its two BCD bytes (`20 26`).
    pub const fn year(&self) -> [u8; 2] {
        [self.0[0], self.0[1]]
    }
}

/// Kind of visit being settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VisitType {
    /// `01` outpatient (门诊).
    Outpatient,
    /// `02` inpatient (住院).
    Inpatient,
    /// `03` designated pharmacy (定点药店购药).
    Pharmacy,
}

impl VisitType {
    /// Code byte.
    pub const fn code(self) -> u8 {
        match self {
            VisitType::Outpatient => 0x01,
            VisitType::Inpatient => 0x02,
            VisitType::Pharmacy => 0x03,
        }
    }
    /// From the code byte.
    pub const fn from_code(b: u8) -> Option<VisitType> {
        match b {
            0x01 => Some(VisitType::Outpatient),
            0x02 => Some(VisitType::Inpatient),
            0x03 => Some(VisitType::Pharmacy),
            _ => None,
        }
    }
}

/// Length of a settlement as the terminal sends it (SETTLE command data without the MAC).
pub const SETTLEMENT_REQUEST_LEN: usize = 36;
/// Length of a stored settlement record: the card's settlement number and the request.
pub const SETTLEMENT_RECORD_LEN: usize = 2 + SETTLEMENT_REQUEST_LEN;

/// One settlement as a hospital terminal submits it.
///
/// Layout (36 bytes): date-time (7, BCD) ‖ institution code (6, BCD, 12 digits) ‖ terminal id (6)
/// ‖ visit type (1) ‖ total cost (4) ‖ paid by the pooled fund (4) ‖ paid from the personal
/// account (4) ‖ paid in cash (4); amounts in fen, big-endian; total = fund + account + cash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// When.
    pub when: DateTime,
    /// Designated medical institution (定点医疗机构编号), 12 BCD digits.
    pub institution: [u8; 6],
    /// Terminal identifier.
    pub terminal: [u8; 6],
    /// Visit type.
    pub visit: VisitType,
    /// Total cost (医疗总费用).
    pub total: Fen,
    /// Paid by the pooled fund (统筹支付).
    pub fund: Fen,
    /// Paid from the personal account (个人账户支付).
    pub account: Fen,
    /// Paid in cash by the holder (现金支付).
    pub cash: Fen,
}

/// Why bytes are not a settlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// Wrong length.
    Length,
    /// A field is out of range (BCD, calendar, visit type, institution code).
    Field,
    /// Total ≠ fund + account + cash.
    Split,
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, LayoutError> {
    match b.get(at..at + 4) {
        Some([a, b2, c, d]) => Ok(u32::from_be_bytes([*a, *b2, *c, *d])),
        _ => Err(LayoutError::Length),
    }
}

fn array<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N], LayoutError> {
    b.get(at..at + N)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(LayoutError::Length)
}

impl Settlement {
    /// Decode and validate the 36-byte request.
    pub fn parse(b: &[u8]) -> Result<Settlement, LayoutError> {
        if b.len() != SETTLEMENT_REQUEST_LEN {
            return Err(LayoutError::Length);
        }
        let when = DateTime::new(array(b, 0)?).ok_or(LayoutError::Field)?;
        let institution: [u8; 6] = array(b, 7)?;
        if institution.iter().any(|&x| bcd(x).is_none()) {
            return Err(LayoutError::Field);
        }
        let terminal = array(b, 13)?;
        let visit = VisitType::from_code(*b.get(19).ok_or(LayoutError::Length)?)
            .ok_or(LayoutError::Field)?;
        let s = Settlement {
            when,
            institution,
            terminal,
            visit,
            total: Fen(u32_at(b, 20)?),
            fund: Fen(u32_at(b, 24)?),
            account: Fen(u32_at(b, 28)?),
            cash: Fen(u32_at(b, 32)?),
        };
        let sum = s
            .fund
            .checked_add(s.account)
            .and_then(|x| x.checked_add(s.cash));
        if sum != Some(s.total) {
            return Err(LayoutError::Split);
        }
        Ok(s)
    }

    /// Encode the 36-byte request.
    pub fn encode(&self) -> [u8; SETTLEMENT_REQUEST_LEN] {
        let mut b = [0u8; SETTLEMENT_REQUEST_LEN];
        let parts: [&[u8]; 8] = [
            &self.when.bytes(),
            &self.institution,
            &self.terminal,
            &[self.visit.code()],
            &self.total.0.to_be_bytes(),
            &self.fund.0.to_be_bytes(),
            &self.account.0.to_be_bytes(),
            &self.cash.0.to_be_bytes(),
        ];
        let mut at = 0;
        for p in parts {
            if let Some(d) = b.get_mut(at..at + p.len()) {
                d.copy_from_slice(p);
            }
            at += p.len();
        }
        b
    }
}

/// A stored settlement record: the card's settlement number (2 bytes, big-endian, counting from
/// 1 over the card's life) ‖ the settlement (36 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettlementRecord {
    /// Assigned by the card.
    pub number: u16,
    /// What the terminal submitted.
    pub settlement: Settlement,
}

impl SettlementRecord {
    /// Decode a 38-byte record.
    pub fn parse(b: &[u8]) -> Result<SettlementRecord, LayoutError> {
        if b.len() != SETTLEMENT_RECORD_LEN {
            return Err(LayoutError::Length);
        }
        let [hi, lo] = array::<2>(b, 0)?;
        Ok(SettlementRecord {
            number: u16::from_be_bytes([hi, lo]),
            settlement: Settlement::parse(b.get(2..).ok_or(LayoutError::Length)?)?,
        })
    }

    /// Encode the 38-byte record.
    pub fn encode(&self) -> [u8; SETTLEMENT_RECORD_LEN] {
        let mut b = [0u8; SETTLEMENT_RECORD_LEN];
        let (n, rest) = b.split_at_mut(2);
        n.copy_from_slice(&self.number.to_be_bytes());
        rest.copy_from_slice(&self.settlement.encode());
        b
    }
}

/// Size of the internal account EF (two 16-byte internal records).
pub const ACCOUNT_FILE_LEN: usize = 32;
/// Length of the account summary (data element `30`).
pub const ACCOUNT_SUMMARY_LEN: usize = 29;

/// The card's running account of settlements: the totals of the current calendar year and the
/// lifetime settlement counter. Only SETTLE changes it, in the same transaction as the record.
///
/// Layout (29 bytes, the internal EF's first 29; the rest is zero): year (2, BCD; `0000` before
/// the first settlement) ‖ total cost (4) ‖ fund (4) ‖ account (4) ‖ cash (4) ‖ settlements this
/// year (2) ‖ settlement counter (2) ‖ last settlement date-time (7, BCD; zero before the first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AccountSummary {
    /// The year the totals are for (BCD).
    pub year: [u8; 2],
    /// Sum of total costs this year.
    pub total: Fen,
    /// Sum paid by the fund this year.
    pub fund: Fen,
    /// Sum paid from the personal account this year.
    pub account: Fen,
    /// Sum paid in cash this year.
    pub cash: Fen,
    /// Settlements this year.
    pub visits: u16,
    /// Settlements over the card's life (the number of the last record).
    pub counter: u16,
    /// When the last settlement happened (zero before the first).
    pub last: [u8; 7],
}

impl AccountSummary {
    /// Decode (the first 29 bytes of the account EF). The all-zero file is the fresh account.
    pub fn parse(b: &[u8]) -> Result<AccountSummary, LayoutError> {
        let b = b.get(..ACCOUNT_SUMMARY_LEN).ok_or(LayoutError::Length)?;
        let year: [u8; 2] = array(b, 0)?;
        if year.iter().any(|&x| bcd(x).is_none()) {
            return Err(LayoutError::Field);
        }
        let [v1, v2] = array::<2>(b, 18)?;
        let [c1, c2] = array::<2>(b, 20)?;
        Ok(AccountSummary {
            year,
            total: Fen(u32_at(b, 2)?),
            fund: Fen(u32_at(b, 6)?),
            account: Fen(u32_at(b, 10)?),
            cash: Fen(u32_at(b, 14)?),
            visits: u16::from_be_bytes([v1, v2]),
            counter: u16::from_be_bytes([c1, c2]),
            last: array(b, 22)?,
        })
    }

    /// Encode the 29 bytes.
    pub fn encode(&self) -> [u8; ACCOUNT_SUMMARY_LEN] {
        let mut b = [0u8; ACCOUNT_SUMMARY_LEN];
        let parts: [&[u8]; 8] = [
            &self.year,
            &self.total.0.to_be_bytes(),
            &self.fund.0.to_be_bytes(),
            &self.account.0.to_be_bytes(),
            &self.cash.0.to_be_bytes(),
            &self.visits.to_be_bytes(),
            &self.counter.to_be_bytes(),
            &self.last,
        ];
        let mut at = 0;
        for p in parts {
            if let Some(d) = b.get_mut(at..at + p.len()) {
                d.copy_from_slice(p);
            }
            at += p.len();
        }
        b
    }

    /// The account after settling `s`: a settlement in a later year starts that year's totals
    /// afresh. `None` when `s` is dated in an earlier year than the account's, or a total or the
    /// counter would overflow.
    pub fn settle(&self, s: &Settlement) -> Option<AccountSummary> {
        let year = s.when.year();
        let base = if year == self.year {
            *self
        } else if year > self.year {
            AccountSummary {
                year,
                counter: self.counter,
                ..AccountSummary::default()
            }
        } else {
            return None;
        };
        Some(AccountSummary {
            year,
            total: base.total.checked_add(s.total)?,
            fund: base.fund.checked_add(s.fund)?,
            account: base.account.checked_add(s.account)?,
            cash: base.cash.checked_add(s.cash)?,
            visits: base.visits.checked_add(1)?,
            counter: base.counter.checked_add(1)?,
            last: s.when.bytes(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn settlement(y: u8, total: u32) -> Settlement {
        Settlement {
            when: DateTime::new([0x20, y, 0x03, 0x15, 0x09, 0x30, 0x00]).unwrap(),
            institution: [0x33, 0x04, 0x02, 0x00, 0x00, 0x01],
            terminal: [1, 2, 3, 4, 5, 6],
            visit: VisitType::Outpatient,
            total: Fen(total),
            fund: Fen(total / 2),
            account: Fen(total - total / 2),
            cash: Fen(0),
        }
    }

    #[test]
    fn records_round_trip_and_are_validated() {
        let s = settlement(0x26, 12345);
        assert_eq!(Settlement::parse(&s.encode()).unwrap(), s);
        let r = SettlementRecord {
            number: 7,
            settlement: s,
        };
        assert_eq!(SettlementRecord::parse(&r.encode()).unwrap(), r);
        let mut bad = s.encode();
        bad[23] ^= 1; // total no longer the sum
        assert_eq!(Settlement::parse(&bad), Err(LayoutError::Split));
        let mut bad = s.encode();
        bad[2] = 0x13; // month 13
        assert_eq!(Settlement::parse(&bad), Err(LayoutError::Field));
        let mut bad = s.encode();
        bad[19] = 9;
        assert_eq!(Settlement::parse(&bad), Err(LayoutError::Field));
        let mut bad = s.encode();
        bad[7] = 0xAA; // institution not BCD
        assert_eq!(Settlement::parse(&bad), Err(LayoutError::Field));
        assert_eq!(Settlement::parse(&[0; 35]), Err(LayoutError::Length));
        let mut over = s;
        over.fund = Fen(u32::MAX);
        assert_eq!(Settlement::parse(&over.encode()), Err(LayoutError::Split));
    }

    #[test]
    fn the_account_accumulates_per_year() {
        let fresh = AccountSummary::parse(&[0u8; ACCOUNT_FILE_LEN]).unwrap();
        assert_eq!(fresh, AccountSummary::default());
        let a = fresh.settle(&settlement(0x26, 100)).unwrap();
        let a = a.settle(&settlement(0x26, 50)).unwrap();
        assert_eq!(
            (a.year, a.total, a.visits, a.counter),
            ([0x20, 0x26], Fen(150), 2, 2)
        );
        assert_eq!(AccountSummary::parse(&a.encode()).unwrap(), a);
        let b = a.settle(&settlement(0x27, 10)).unwrap();
        assert_eq!((b.total, b.visits, b.counter), (Fen(10), 1, 3));
        assert_eq!(b.settle(&settlement(0x26, 1)), None, "an earlier year");
        let full = AccountSummary {
            counter: u16::MAX,
            ..b
        };
        assert_eq!(full.settle(&settlement(0x27, 1)), None);
    }

    #[test]
    fn date_times() {
        assert!(DateTime::new([0x20, 0x26, 0x12, 0x31, 0x23, 0x59, 0x59]).is_some());
        assert!(DateTime::new([0x20, 0x26, 0x00, 0x31, 0x23, 0x59, 0x59]).is_none());
        assert!(DateTime::new([0x20, 0x26, 0x01, 0x32, 0x23, 0x59, 0x59]).is_none());
        assert!(DateTime::new([0x20, 0x26, 0x01, 0x01, 0x24, 0x00, 0x00]).is_none());
        assert!(DateTime::new([0x2A, 0x26, 0x01, 0x01, 0x00, 0x00, 0x00]).is_none());
    }
}
