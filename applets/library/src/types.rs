//! Typed values of the library application: dates, item barcodes, branches, terminals, slot
//! numbers and event counters.
//!
//! Responsibility: give every field of a command or record its own type with its byte encoding in
//! one place. Invariants: a value only exists if it is well formed — a [`Date`] is a real calendar
//! day, a [`Barcode`] is 1–16 printable ASCII characters, a [`SlotNumber`] is never 0 — so the
//! handlers and the rules never see a malformed value.

use core::num::NonZeroU8;

/// A calendar date, encoded on the card and in commands as 4 BCD bytes `YYYYMMDD`.
///
/// Years 1900–9999 are accepted; month and day must name a real day of the proleptic Gregorian
/// calendar (29 February only in leap years).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// Earliest year a [`Date`] may carry.
pub const MIN_YEAR: u16 = 1900;
/// Latest year a [`Date`] may carry (4 BCD digits).
pub const MAX_YEAR: u16 = 9999;

#[inline(never)]
const fn bcd(b: u8) -> Option<u8> {
    let hi = b >> 4;
    let lo = b & 0x0F;
    if hi > 9 || lo > 9 {
        None
    } else {
        Some(hi * 10 + lo)
    }
}

const fn to_bcd(v: u8) -> u8 {
    ((v / 10) << 4) | (v % 10)
}

const fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

const fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A date from its parts, or `None` when it is not a day of the calendar (or out of range).
    pub const fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        if year < MIN_YEAR || year > MAX_YEAR || month < 1 || month > 12 {
            return None;
        }
        if day < 1 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// From the 4 BCD bytes `YYYYMMDD`; `None` for non-BCD nibbles or an impossible date.
    pub const fn from_bcd(b: [u8; 4]) -> Option<Date> {
        let [c, y, m, d] = b;
        let (Some(c), Some(y), Some(m), Some(d)) = (bcd(c), bcd(y), bcd(m), bcd(d)) else {
            return None;
        };
        Date::new(c as u16 * 100 + y as u16, m, d)
    }

    /// The 4 BCD bytes `YYYYMMDD`.
    pub const fn to_bcd(self) -> [u8; 4] {
        [
            to_bcd((self.year / 100) as u8),
            to_bcd((self.year % 100) as u8),
            to_bcd(self.month),
            to_bcd(self.day),
        ]
    }

    /// Year.
    pub const fn year(self) -> u16 {
        self.year
    }

    /// Month, 1–12.
    pub const fn month(self) -> u8 {
        self.month
    }

    /// Day of the month, 1–31.
    pub const fn day(self) -> u8 {
        self.day
    }

    /// Days since 0000-03-01 of the proleptic Gregorian calendar (H. Hinnant's `days_from_civil`
    /// shifted so that every value is non-negative for the accepted years).
    pub const fn day_number(self) -> u32 {
        let m = self.month as u32;
        let d = self.day as u32;
        let y = if m <= 2 {
            self.year as u32 - 1
        } else {
            self.year as u32
        };
        let era = y / 400;
        let yoe = y - era * 400;
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe
    }

    /// The date of a day number (inverse of [`Date::day_number`]); `None` outside the accepted years.
    pub const fn from_day_number(z: u32) -> Option<Date> {
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
        if y > MAX_YEAR as u32 {
            return None;
        }
        Date::new(y as u16, m as u8, d as u8)
    }

    /// `self + days`, or `None` past the year 9999.
    pub const fn add_days(self, days: u16) -> Option<Date> {
        Date::from_day_number(self.day_number() + days as u32)
    }

    /// Whole days from `earlier` to `self`; 0 when `self` is not after `earlier`.
    pub const fn days_after(self, earlier: Date) -> u32 {
        self.day_number().saturating_sub(earlier.day_number())
    }
}

/// Length of the barcode field in commands and records.
pub const BARCODE_LEN: usize = 16;

/// An item barcode: 1–16 printable ASCII characters (`21`–`7E`), stored left-aligned in 16 bytes
/// padded with `00`. Library barcodes (Code 39, Codabar, 14-digit item numbers) all fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Barcode([u8; BARCODE_LEN]);

impl Barcode {
    /// From the 16-byte field: printable characters, then only `00` padding; `None` for an empty
    /// barcode, a control or non-ASCII byte, or a character after the padding began.
    pub fn from_field(b: [u8; BARCODE_LEN]) -> Option<Barcode> {
        let len = b.iter().position(|&c| c == 0).unwrap_or(BARCODE_LEN);
        let (text, pad) = b.split_at(len);
        let ok = !text.is_empty()
            && text.iter().all(|&c| (0x21..=0x7E).contains(&c))
            && pad.iter().all(|&c| c == 0);
        ok.then_some(Barcode(b))
    }

    /// From text (1–16 printable ASCII characters).
    pub fn from_text(text: &[u8]) -> Option<Barcode> {
        if text.len() > BARCODE_LEN {
            return None;
        }
        let mut b = [0u8; BARCODE_LEN];
        for (d, s) in b.iter_mut().zip(text) {
            *d = *s;
        }
        Barcode::from_field(b)
    }

    /// The 16-byte field.
    pub const fn to_field(self) -> [u8; BARCODE_LEN] {
        self.0
    }

    /// The characters, without padding.
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.0.iter().position(|&c| c == 0).unwrap_or(BARCODE_LEN);
        self.0.get(..len).unwrap_or(&[])
    }
}

/// A library branch (2 bytes big-endian, numbered by the library system).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BranchId(pub u16);

impl BranchId {
    /// Big-endian encoding.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// From the big-endian encoding.
    pub const fn from_bytes(b: [u8; 2]) -> BranchId {
        BranchId(u16::from_be_bytes(b))
    }
}

/// A terminal identifier (6 bytes, as the PBOC terminal number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TerminalId(pub [u8; 6]);

/// A loan slot: the record number (1-based) in the loans file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotNumber(NonZeroU8);

impl SlotNumber {
    /// Slot `n`, or `None` for 0.
    pub const fn new(n: u8) -> Option<SlotNumber> {
        match NonZeroU8::new(n) {
            Some(v) => Some(SlotNumber(v)),
            None => None,
        }
    }

    /// The record number.
    pub const fn get(self) -> u8 {
        self.0.get()
    }
}

/// The history event counter: 1 for the card's first event, +1 for each (wrapping after `FFFF`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Seq(pub u16);

impl Seq {
    /// The counter of the event after this one.
    pub const fn next(self) -> Seq {
        Seq(self.0.wrapping_add(1))
    }

    /// Big-endian encoding.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// From the big-endian encoding.
    pub const fn from_bytes(b: [u8; 2]) -> Seq {
        Seq(u16::from_be_bytes(b))
    }
}

/// Write `parts` one after the other into `out`, from its start; what does not fit is dropped
/// (callers size `out` for the layout they write).
#[inline(never)]
pub fn concat_into(out: &mut [u8], parts: &[&[u8]]) {
    let mut dst = out.iter_mut();
    for part in parts {
        // `part` drives the zip, so no byte of `dst` is skipped when a part ends.
        for (s, d) in part.iter().zip(dst.by_ref()) {
            *d = *s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dates_parse_and_encode() {
        let d = Date::from_bcd([0x20, 0x26, 0x03, 0x01]).unwrap();
        assert_eq!((d.year(), d.month(), d.day()), (2026, 3, 1));
        assert_eq!(d.to_bcd(), [0x20, 0x26, 0x03, 0x01]);
        assert!(
            Date::from_bcd([0x20, 0x24, 0x02, 0x29]).is_some(),
            "leap day"
        );
        assert!(Date::from_bcd([0x20, 0x25, 0x02, 0x29]).is_none());
        assert!(
            Date::from_bcd([0x19, 0x00, 0x02, 0x29]).is_none(),
            "1900 not leap"
        );
        assert!(
            Date::from_bcd([0x20, 0x00, 0x02, 0x29]).is_some(),
            "2000 leap"
        );
        assert!(Date::from_bcd([0x20, 0x26, 0x13, 0x01]).is_none());
        assert!(Date::from_bcd([0x20, 0x26, 0x04, 0x31]).is_none());
        assert!(Date::from_bcd([0x20, 0x26, 0x00, 0x01]).is_none());
        assert!(Date::from_bcd([0x20, 0x26, 0x01, 0x00]).is_none());
        assert!(
            Date::from_bcd([0x20, 0x2A, 0x01, 0x01]).is_none(),
            "not BCD"
        );
        assert!(
            Date::from_bcd([0x18, 0x99, 0x12, 0x31]).is_none(),
            "before 1900"
        );
    }

    #[test]
    fn date_arithmetic() {
        let d = Date::new(2026, 3, 1).unwrap();
        assert_eq!(d.add_days(30), Date::new(2026, 3, 31));
        assert_eq!(d.add_days(31), Date::new(2026, 4, 1));
        let e = Date::new(2024, 2, 28).unwrap();
        assert_eq!(e.add_days(1), Date::new(2024, 2, 29));
        assert_eq!(e.add_days(2), Date::new(2024, 3, 1));
        assert_eq!(
            Date::new(2026, 12, 31).unwrap().add_days(1),
            Date::new(2027, 1, 1)
        );
        assert_eq!(Date::new(9999, 12, 31).unwrap().add_days(1), None);
        assert_eq!(Date::new(2027, 1, 1).unwrap().days_after(d), 306);
        assert_eq!(d.days_after(Date::new(2027, 1, 1).unwrap()), 0);
    }

    #[test]
    fn barcodes() {
        let b = Barcode::from_text(b"31234001234567").unwrap();
        assert_eq!(b.as_bytes(), b"31234001234567");
        assert_eq!(&b.to_field()[14..], &[0, 0]);
        assert!(Barcode::from_text(b"").is_none());
        assert!(
            Barcode::from_text(b"A B").is_none(),
            "space is not printable here"
        );
        assert!(Barcode::from_text(b"12345678901234567").is_none());
        let mut f = [0u8; 16];
        f[0] = b'A';
        f[2] = b'B';
        assert!(Barcode::from_field(f).is_none(), "character after padding");
        assert!(Barcode::from_field([b'X'; 16]).is_some());
        f[2] = 0x80;
        assert!(Barcode::from_field(f).is_none());
    }

    #[test]
    fn concatenation_skips_nothing() {
        let mut b = [0u8; 6];
        concat_into(&mut b, &[&[1], &[], &[2, 3], &[4, 5, 6, 7]]);
        assert_eq!(b, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn slots_and_seq() {
        assert!(SlotNumber::new(0).is_none());
        assert_eq!(SlotNumber::new(3).map(SlotNumber::get), Some(3));
        assert_eq!(Seq(0xFFFF).next(), Seq(0));
        assert_eq!(Seq::from_bytes(Seq(0x1234).to_bytes()), Seq(0x1234));
        assert_eq!(
            BranchId::from_bytes(BranchId(0x0102).to_bytes()),
            BranchId(0x0102)
        );
    }

    proptest! {
        #[test]
        fn day_numbers_round_trip(y in MIN_YEAR..=MAX_YEAR, m in 1u8..=12, d in 1u8..=31) {
            if let Some(date) = Date::new(y, m, d) {
                prop_assert_eq!(Date::from_day_number(date.day_number()), Some(date));
                prop_assert_eq!(Date::from_bcd(date.to_bcd()), Some(date));
                if let Some(next) = date.add_days(1) {
                    prop_assert!(next > date);
                    prop_assert_eq!(next.days_after(date), 1);
                }
            }
        }

        #[test]
        fn bcd_parsing_never_panics(b in any::<[u8; 4]>()) {
            if let Some(d) = Date::from_bcd(b) {
                prop_assert_eq!(d.to_bcd(), b);
            }
        }
    }
}
