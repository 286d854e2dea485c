//! The transit reference terminals: bus validators and metro gates running the fare rules, and a
//! top-up (load) terminal for the transit purse.
//!
//! The gate is a keyless reader for everything but the money: it SELECTs the transit AID (the FCI's
//! `9F0C` carries EF `15`: card number, expiry), reads the card type (EF `17` byte 10, staff flag in
//! EF `16` byte 1), the composite records of EF `1A` and the balance, computes the fare, and runs a
//! composite (CAPP) purchase — INITIALIZE FOR CAPP PURCHASE, UPDATE CAPP DATA CACHE with the new
//! record of its transport mode, DEBIT with MAC1 — with the PSAM-side keys diversified from the
//! profile's master keys by the card's ASN, verifying MAC2 and the TAC with [`crate::hostcrypto`].
//! A DEBIT whose answer is lost is resolved with GET TRANSACTION PROVE; every debit the card made
//! lands in the [`Ledger`], so money is conserved between card balances and ledger
//! (`docs/transit.md`, "Fare rules").
//!
//! Fare rules ([`FareRules`], from `[params.transit]` of the profile):
//! * bus: flat fare, one tap (event `06`);
//! * metro: tap in (event `03`, amount 0) and tap out (event `04`): the fare of the distance
//!   between the stations from a band table; the maximum fare when the exit has no entry, the
//!   trip took longer than the maximum trip time, or a station is unknown; an entry while the
//!   previous trip was never closed first charges the maximum fare for it;
//! * card type: a percentage of the fare (student 50 %, senior free, staff 20 % by default);
//! * transfer: a fixed discount when the ride starts within the transfer window after the end of
//!   the previous ride (on any mode), not twice in a row;
//! * daily cap: what a card pays per day, over all modes, never exceeds the cap.

use crate::card::SimCard;
use crate::hostcrypto::{diversify, session_key, tac_key, HostKey};
use crate::profile::Profile;
use crate::terminals::find_tag;
use crate::terminals::purse::{apdu, ok, LoadReceipt, Purse, PurseTerminal, TerminalError, When};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// The MOT interoperable transit AID.
pub const DEFAULT_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05];
/// SFI of the composite file.
pub const COMPOSITE_SFI: u8 = 0x1A;
/// SFI of the trip log.
pub const TRIP_LOG_SFI: u8 = 0x1E;
/// Tag of the metro record.
pub const METRO_TAG: u8 = 0x01;
/// Tag of the bus record.
pub const BUS_TAG: u8 = 0x02;
/// Length of the composite records this terminal writes.
pub const RECORD_LEN: usize = 64;

// ---------------------------------------------------------------------------------------------
// Time

/// A terminal clock reading, to the second (civil time, no time zone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransitTime {
    /// Seconds since 2000-01-01 00:00:00.
    secs: i64,
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

const EPOCH_DAYS: i64 = 10_957; // 2000-01-01 since 1970-01-01

fn bcd(v: i64) -> u8 {
    (((v / 10) % 10) << 4 | (v % 10)) as u8
}

fn from_bcd(b: u8) -> Option<i64> {
    let (hi, lo) = (b >> 4, b & 0x0F);
    (hi < 10 && lo < 10).then_some(i64::from(hi) * 10 + i64::from(lo))
}

impl TransitTime {
    /// A valid civil date and time, or `None`.
    pub fn new(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<TransitTime> {
        let days = days_from_civil(y, mo, d);
        if civil_from_days(days) != (y, mo, d)
            || !(0..24).contains(&h)
            || !(0..60).contains(&mi)
            || !(0..60).contains(&s)
            || !(2000..=9999).contains(&y)
        {
            return None;
        }
        Some(TransitTime {
            secs: (days - EPOCH_DAYS) * 86_400 + h * 3600 + mi * 60 + s,
        })
    }

    /// From `"2026-03-16 08:30"` or `"2026-03-16 08:30:15"`.
    pub fn parse(s: &str) -> Option<TransitTime> {
        let (date, time) = s.split_once(' ')?;
        let d: Vec<i64> = date
            .split('-')
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        let t: Vec<i64> = time
            .split(':')
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        match (d.as_slice(), t.as_slice()) {
            ([y, mo, da], [h, mi]) => TransitTime::new(*y, *mo, *da, *h, *mi, 0),
            ([y, mo, da], [h, mi, se]) => TransitTime::new(*y, *mo, *da, *h, *mi, *se),
            _ => None,
        }
    }

    /// `self` plus `minutes` (may be negative).
    pub fn plus_minutes(self, minutes: i64) -> TransitTime {
        TransitTime {
            secs: self.secs + minutes * 60,
        }
    }

    /// Whole minutes from `earlier` to `self`.
    pub fn minutes_since(self, earlier: TransitTime) -> i64 {
        (self.secs - earlier.secs).div_euclid(60)
    }

    fn parts(self) -> (i64, i64, i64, i64, i64, i64) {
        let days = self.secs.div_euclid(86_400) + EPOCH_DAYS;
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
    }

    /// `YYYYMMDD hhmmss` in BCD (7 bytes), as the card stores dates and times.
    pub fn to_bcd(self) -> [u8; 7] {
        let (y, m, d, h, mi, s) = self.parts();
        [
            bcd(y / 100),
            bcd(y % 100),
            bcd(m),
            bcd(d),
            bcd(h),
            bcd(mi),
            bcd(s),
        ]
    }

    /// The date part, BCD.
    pub fn date_bcd(self) -> [u8; 4] {
        let b = self.to_bcd();
        [b[0], b[1], b[2], b[3]]
    }

    /// From 7 BCD bytes; all zeros (never set) and invalid values are `None`.
    pub fn from_bcd(b: &[u8]) -> Option<TransitTime> {
        let v: Vec<i64> = b
            .get(..7)?
            .iter()
            .map(|x| from_bcd(*x))
            .collect::<Option<_>>()?;
        TransitTime::new(v[0] * 100 + v[1], v[2], v[3], v[4], v[5], v[6])
    }

    /// The PBOC date ‖ time of a transaction at this time.
    pub fn when(self) -> When {
        let b = self.to_bcd();
        When {
            date: [b[0], b[1], b[2], b[3]],
            time: [b[4], b[5], b[6]],
        }
    }
}

impl fmt::Display for TransitTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d, h, mi, s) = self.parts();
        write!(f, "{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}")
    }
}

// ---------------------------------------------------------------------------------------------
// Fare rules

fn d_bus_fare() -> u32 {
    200
}
fn d_bands() -> Vec<(u32, u32)> {
    vec![(60, 300), (120, 400), (220, 500), (320, 600)]
}
fn d_max_fare() -> u32 {
    900
}
fn d_max_trip() -> i64 {
    240
}
fn d_window() -> i64 {
    90
}
fn d_transfer() -> u32 {
    100
}
fn d_cap() -> u32 {
    1500
}
fn d_min_entry() -> u32 {
    300
}
fn d_stations() -> Vec<u32> {
    vec![0, 18, 35, 52, 76, 103, 131, 166, 204, 249, 301, 362]
}
fn d_percent() -> BTreeMap<String, u32> {
    [
        ("01", 100),
        ("02", 50),
        ("03", 0),
        ("04", 100),
        ("05", 0),
        ("06", 20),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
fn d_key_index() -> u8 {
    1
}
fn d_city() -> String {
    "3304".into()
}

/// The fare rules of the city (all amounts in fen, distances in 0.1 km, times in minutes).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FareRules {
    /// Key index of the purchase / load / TAC keys.
    #[serde(default = "d_key_index")]
    pub key_index: u8,
    /// City code of the acquirer (4 BCD digits), written into the records and the trip log.
    #[serde(default = "d_city")]
    pub city: String,
    /// Flat bus fare.
    #[serde(default = "d_bus_fare")]
    pub bus_fare: u32,
    /// Metro distance bands `[up to distance, fare]`, ascending; beyond the last: the maximum fare.
    #[serde(default = "d_bands")]
    pub metro_bands: Vec<(u32, u32)>,
    /// Maximum fare: exit without entry, over-long trip, unknown station, unfinished trip.
    #[serde(default = "d_max_fare")]
    pub max_fare: u32,
    /// Longest trip (entry to exit) charged by distance.
    #[serde(default = "d_max_trip")]
    pub max_trip_minutes: i64,
    /// Window after the end of a ride in which the next ride is a transfer.
    #[serde(default = "d_window")]
    pub transfer_window_minutes: i64,
    /// Discount of a transfer ride.
    #[serde(default = "d_transfer")]
    pub transfer_discount: u32,
    /// Most a card pays in one day, all modes together.
    #[serde(default = "d_cap")]
    pub daily_cap: u32,
    /// Balance a full-fare card needs to enter the metro (scaled by the card type's percentage).
    #[serde(default = "d_min_entry")]
    pub min_entry_balance: u32,
    /// Position of metro stations 1, 2, … along the line.
    #[serde(default = "d_stations")]
    pub metro_stations: Vec<u32>,
    /// Percentage of the fare each card type (`"01"` … hex) pays; unknown types pay 100.
    #[serde(default = "d_percent")]
    pub card_type_percent: BTreeMap<String, u32>,
}

impl Default for FareRules {
    fn default() -> Self {
        FareRules {
            key_index: d_key_index(),
            city: d_city(),
            bus_fare: d_bus_fare(),
            metro_bands: d_bands(),
            max_fare: d_max_fare(),
            max_trip_minutes: d_max_trip(),
            transfer_window_minutes: d_window(),
            transfer_discount: d_transfer(),
            daily_cap: d_cap(),
            min_entry_balance: d_min_entry(),
            metro_stations: d_stations(),
            card_type_percent: d_percent(),
        }
    }
}

impl FareRules {
    /// The rules of `[params.transit]` (defaults for what it leaves out, and when it is absent).
    pub fn from_profile(p: &Profile) -> Result<FareRules, TerminalError> {
        match p.params.get("transit") {
            None => Ok(FareRules::default()),
            Some(v) => v
                .clone()
                .try_into()
                .map_err(|e| TerminalError::Setup(format!("params.transit: {e}"))),
        }
    }

    /// The distance between two stations, if both exist.
    pub fn distance(&self, a: u16, b: u16) -> Option<u32> {
        let pos = |s: u16| {
            usize::from(s)
                .checked_sub(1)
                .and_then(|i| self.metro_stations.get(i).copied())
        };
        Some(pos(a)?.abs_diff(pos(b)?))
    }

    /// The distance fare (`None` beyond the last band).
    pub fn distance_fare(&self, tenths_km: u32) -> Option<u32> {
        self.metro_bands
            .iter()
            .find(|(upto, _)| tenths_km <= *upto)
            .map(|(_, f)| *f)
    }

    /// The percentage a card type pays.
    pub fn percent(&self, t: CardType) -> u32 {
        self.card_type_percent
            .get(&format!("{:02X}", t.code()))
            .copied()
            .unwrap_or(100)
    }

    fn city_code(&self) -> [u8; 2] {
        let b = hex::decode(&self.city).unwrap_or_default();
        [
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ]
    }
}

/// The card type of EF `17` byte 10 (JT/T 978 practice; `06` staff is ours).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardType {
    /// `01` normal (adult).
    Adult,
    /// `02` student.
    Student,
    /// `03` senior.
    Senior,
    /// `04` test card.
    Test,
    /// `05` military.
    Military,
    /// `06` operator staff (also: staff flag in EF `16` byte 1).
    Staff,
    /// Anything else.
    Other(u8),
}

impl CardType {
    /// From the byte.
    pub fn from_code(b: u8) -> CardType {
        match b {
            0x01 => CardType::Adult,
            0x02 => CardType::Student,
            0x03 => CardType::Senior,
            0x04 => CardType::Test,
            0x05 => CardType::Military,
            0x06 => CardType::Staff,
            o => CardType::Other(o),
        }
    }

    /// The byte.
    pub fn code(self) -> u8 {
        match self {
            CardType::Adult => 0x01,
            CardType::Student => 0x02,
            CardType::Senior => 0x03,
            CardType::Test => 0x04,
            CardType::Military => 0x05,
            CardType::Staff => 0x06,
            CardType::Other(o) => o,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The composite record as the terminals use it

/// Trip state of a composite record (byte 21).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TripState {
    /// `00`: no trip yet.
    None,
    /// `01`: entered (metro), not yet exited.
    Entered,
    /// `02`: the last trip is complete.
    Completed,
}

/// A 64-byte composite record of EF `1A` (layout in `docs/transit.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompositeRecord {
    /// Tag (`01` metro, `02` bus).
    pub tag: u8,
    /// Record length.
    pub len: u8,
    /// Lock flag (`00` open, `01` locked).
    pub lock: u8,
    /// Event of the last transaction (`03` entry, `04` exit, `06` single ride; `00` none).
    pub event: u8,
    /// Where: line, station, gate / vehicle.
    pub location: Location,
    /// Acquirer's city code (BCD).
    pub city: [u8; 2],
    /// Acquiring institution.
    pub institution: [u8; 8],
    /// Trip state.
    pub state: TripState,
    /// Operator code.
    pub operator: u16,
    /// Terminal of the entry (or of the bus ride).
    pub entry_terminal: [u8; 6],
    /// Time of the entry (or of the bus ride).
    pub entry_time: Option<TransitTime>,
    /// Maximum fare pre-authorised at entry.
    pub max_fare: u32,
    /// End of the last completed ride.
    pub last_ride_end: Option<TransitTime>,
    /// What the last ride cost.
    pub last_fare: u32,
    /// Day of the day total (BCD date; zero: none).
    pub day: [u8; 4],
    /// Charged that day on this record.
    pub day_total: u32,
    /// Rides charged that day on this record.
    pub rides_today: u8,
    /// Flags: bit 0 the last ride got the transfer discount; bit 1 it was charged the maximum
    /// fare.
    pub flags: u8,
}

/// Line ‖ station ‖ gate or vehicle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// Line number.
    pub line: u16,
    /// Station (stop) number.
    pub station: u16,
    /// Gate or vehicle number (24 bits).
    pub unit: u32,
}

impl Location {
    fn to_bytes(self) -> [u8; 7] {
        let l = self.line.to_be_bytes();
        let s = self.station.to_be_bytes();
        let u = self.unit.to_be_bytes();
        [l[0], l[1], s[0], s[1], u[1], u[2], u[3]]
    }

    fn from_bytes(b: &[u8]) -> Location {
        Location {
            line: u16::from_be_bytes([b[0], b[1]]),
            station: u16::from_be_bytes([b[2], b[3]]),
            unit: u32::from_be_bytes([0, b[4], b[5], b[6]]),
        }
    }
}

/// Flag: the last ride got the transfer discount.
pub const FLAG_TRANSFER: u8 = 0x01;
/// Flag: the last ride was charged the maximum fare.
pub const FLAG_MAX_FARE: u8 = 0x02;

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl CompositeRecord {
    /// Decode a stored record (at least 64 bytes).
    pub fn decode(r: &[u8]) -> Option<CompositeRecord> {
        if r.len() < RECORD_LEN {
            return None;
        }
        Some(CompositeRecord {
            tag: r[0],
            len: r[1],
            lock: r[2],
            event: r[3],
            location: Location::from_bytes(&r[4..11]),
            city: [r[11], r[12]],
            institution: r[13..21].try_into().ok()?,
            state: match r[21] {
                0x01 => TripState::Entered,
                0x02 => TripState::Completed,
                _ => TripState::None,
            },
            operator: u16::from_be_bytes([r[22], r[23]]),
            entry_terminal: r[24..30].try_into().ok()?,
            entry_time: TransitTime::from_bcd(&r[30..37]),
            max_fare: be32(&r[37..41]),
            last_ride_end: TransitTime::from_bcd(&r[41..48]),
            last_fare: be32(&r[48..52]),
            day: r[52..56].try_into().ok()?,
            day_total: be32(&r[56..60]),
            rides_today: r[60],
            flags: r[61],
        })
    }

    /// Encode (the record's length; bytes past 64 are zero).
    pub fn encode(&self) -> Vec<u8> {
        let mut r = vec![0u8; usize::from(self.len).max(RECORD_LEN)];
        r[0] = self.tag;
        r[1] = self.len;
        r[2] = self.lock;
        r[3] = self.event;
        r[4..11].copy_from_slice(&self.location.to_bytes());
        r[11..13].copy_from_slice(&self.city);
        r[13..21].copy_from_slice(&self.institution);
        r[21] = match self.state {
            TripState::None => 0,
            TripState::Entered => 1,
            TripState::Completed => 2,
        };
        r[22..24].copy_from_slice(&self.operator.to_be_bytes());
        r[24..30].copy_from_slice(&self.entry_terminal);
        r[30..37].copy_from_slice(&self.entry_time.map(|t| t.to_bcd()).unwrap_or_default());
        r[37..41].copy_from_slice(&self.max_fare.to_be_bytes());
        r[41..48].copy_from_slice(&self.last_ride_end.map(|t| t.to_bcd()).unwrap_or_default());
        r[48..52].copy_from_slice(&self.last_fare.to_be_bytes());
        r[52..56].copy_from_slice(&self.day);
        r[56..60].copy_from_slice(&self.day_total.to_be_bytes());
        r[60] = self.rides_today;
        r[61] = self.flags;
        r.truncate(usize::from(self.len));
        r
    }

    /// What this record says was charged on `day` (BCD date).
    pub fn charged_on(&self, day: [u8; 4]) -> u32 {
        if self.day == day {
            self.day_total
        } else {
            0
        }
    }
}

/// A trip-log record of EF `1E`, as the card writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TripLogEntry {
    /// Event (`03` entry, `04` exit, `06` single ride).
    pub event: u8,
    /// Terminal id (the last 6 of the 8 bytes).
    pub terminal: [u8; 6],
    /// Mode (the composite record's tag).
    pub mode: u8,
    /// Where.
    pub location: Location,
    /// Amount.
    pub amount: u32,
    /// Balance after.
    pub balance_after: u32,
    /// When.
    pub time: Option<TransitTime>,
    /// City.
    pub city: [u8; 2],
    /// Institution.
    pub institution: [u8; 8],
    /// Offline ATC used.
    pub atc: u16,
}

impl TripLogEntry {
    /// Decode a 48-byte record.
    pub fn decode(r: &[u8]) -> Option<TripLogEntry> {
        if r.len() != 48 {
            return None;
        }
        Some(TripLogEntry {
            event: r[0],
            terminal: r[3..9].try_into().ok()?,
            mode: r[9],
            location: Location::from_bytes(&r[10..17]),
            amount: be32(&r[17..21]),
            balance_after: be32(&r[21..25]),
            time: TransitTime::from_bcd(&r[25..32]),
            city: [r[32], r[33]],
            institution: r[34..42].try_into().ok()?,
            atc: u16::from_be_bytes([r[42], r[43]]),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// What the gate reads

/// What a gate reads from a card, without keys.
#[derive(Clone, Debug)]
pub struct CardView {
    /// EF `15` (card number at 10..20, start date 20..24, expiry 24..28).
    pub issuer_data: Vec<u8>,
    /// Card type (EF `17` byte 10).
    pub card_type: CardType,
    /// Staff flag (EF `16` byte 1 = `01`).
    pub staff: bool,
    /// Balance.
    pub balance: u32,
    /// The composite records with their record numbers.
    pub records: Vec<(u8, CompositeRecord)>,
}

impl CardView {
    /// The card number (ASN, 10 bytes).
    pub fn asn(&self) -> &[u8] {
        &self.issuer_data[10..20]
    }

    /// The last 8 bytes of the ASN (key diversification).
    pub fn asn8(&self) -> [u8; 8] {
        let mut d = [0u8; 8];
        d.copy_from_slice(&self.issuer_data[12..20]);
        d
    }

    /// The card number as readers show it (19 digits when the first nibble is 0).
    pub fn card_number(&self) -> String {
        let h = hex::encode_upper(self.asn());
        h.strip_prefix('0').map(str::to_string).unwrap_or(h)
    }

    /// Expiry date (BCD).
    pub fn expiry(&self) -> [u8; 4] {
        self.issuer_data[24..28].try_into().unwrap_or_default()
    }

    /// The record with `tag`.
    pub fn record(&self, tag: u8) -> Option<&(u8, CompositeRecord)> {
        self.records.iter().find(|(_, r)| r.tag == tag)
    }

    /// What was charged on `day` over all records (the daily cap's base).
    pub fn charged_on(&self, day: [u8; 4]) -> u32 {
        self.records.iter().map(|(_, r)| r.charged_on(day)).sum()
    }

    /// The latest end of a ride on any record, with its flags.
    pub fn last_ride(&self) -> Option<(TransitTime, u8)> {
        self.records
            .iter()
            .filter_map(|(_, r)| r.last_ride_end.map(|t| (t, r.flags)))
            .max_by_key(|(t, _)| *t)
    }

    /// The type a fare is computed for: the staff flag of EF 16 makes any card a staff card.
    pub fn fare_type(&self) -> CardType {
        if self.staff {
            CardType::Staff
        } else {
            self.card_type
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Gates and fares

/// Where a gate stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateKind {
    /// A bus validator (one tap, flat fare).
    Bus {
        /// Bus line.
        line: u16,
        /// Vehicle number.
        vehicle: u32,
    },
    /// A metro entry gate.
    MetroEntry {
        /// Station.
        station: u16,
    },
    /// A metro exit gate.
    MetroExit {
        /// Station.
        station: u16,
    },
}

/// A validator or gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    /// Its place.
    pub kind: GateKind,
    /// Terminal (PSAM) id.
    pub terminal_id: [u8; 6],
}

impl Gate {
    /// A bus validator.
    pub fn bus(line: u16, vehicle: u32) -> Gate {
        let v = vehicle.to_be_bytes();
        Gate {
            kind: GateKind::Bus { line, vehicle },
            terminal_id: [0x02, 0x00, v[0], v[1], v[2], v[3]],
        }
    }

    /// A metro entry gate.
    pub fn entry(station: u16) -> Gate {
        let s = station.to_be_bytes();
        Gate {
            kind: GateKind::MetroEntry { station },
            terminal_id: [0x01, 0x00, 0x01, s[0], s[1], 0x01],
        }
    }

    /// A metro exit gate.
    pub fn exit(station: u16) -> Gate {
        let s = station.to_be_bytes();
        Gate {
            kind: GateKind::MetroExit { station },
            terminal_id: [0x01, 0x00, 0x02, s[0], s[1], 0x01],
        }
    }

    fn tag(&self) -> u8 {
        match self.kind {
            GateKind::Bus { .. } => BUS_TAG,
            _ => METRO_TAG,
        }
    }
}

/// Why the base fare is what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FareReason {
    /// Bus flat fare.
    Flat,
    /// Metro entry (nothing to pay).
    Entry,
    /// Metro distance fare.
    Distance {
        /// Distance, 0.1 km.
        tenths_km: u32,
    },
    /// Exit without an entry record: maximum fare.
    NoEntry,
    /// Entry older than the maximum trip time: maximum fare.
    OverlongTrip,
    /// A station outside the fare table, or beyond the last band: maximum fare.
    OutsideTable,
    /// Entry while the previous trip was never closed: maximum fare for that trip.
    UnfinishedTrip,
}

/// A fare, step by step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fare {
    /// Why.
    pub reason: FareReason,
    /// Base fare.
    pub base: u32,
    /// Percentage of the card type.
    pub percent: u32,
    /// Transfer discount given.
    pub transfer_discount: u32,
    /// Reduction by the daily cap.
    pub capped: u32,
    /// What the card pays.
    pub charged: u32,
}

impl FareRules {
    /// Apply card type, transfer and cap to a base fare.
    pub fn fare(
        &self,
        reason: FareReason,
        base: u32,
        card: CardType,
        transfer: bool,
        charged_today: u32,
    ) -> Fare {
        let percent = self.percent(card);
        let after_card = base * percent / 100;
        let transfer_discount = if transfer {
            self.transfer_discount.min(after_card)
        } else {
            0
        };
        let before_cap = after_card - transfer_discount;
        let room = self.daily_cap.saturating_sub(charged_today);
        let charged = before_cap.min(room);
        Fare {
            reason,
            base,
            percent,
            transfer_discount,
            capped: before_cap - charged,
            charged,
        }
    }
}

/// A completed tap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tap {
    /// Event written (`03`, `04`, `06`).
    pub event: u8,
    /// The fare.
    pub fare: Fare,
    /// Balance after.
    pub balance: u32,
    /// Offline ATC the purchase used.
    pub atc: u16,
    /// Verified TAC.
    pub tac: [u8; 4],
    /// The DEBIT's answer was lost and the transaction was confirmed by GET TRANSACTION PROVE.
    pub recovered: bool,
}

/// Why a gate did not let the card through.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GateError {
    /// A card or terminal problem.
    #[error(transparent)]
    Terminal(#[from] TerminalError),
    /// The balance does not cover what is due.
    #[error("insufficient balance: {balance} fen, {needed} needed")]
    InsufficientBalance {
        /// Balance.
        balance: u32,
        /// Needed.
        needed: u32,
    },
    /// The card has expired.
    #[error("card expired")]
    Expired,
    /// The operator locked this card's record.
    #[error("record {0:02X} locked")]
    Locked(u8),
    /// The card has no record for this mode.
    #[error("no composite record {0:02X}")]
    NoRecord(u8),
    /// The card lost power during the purchase and it did not happen: tap again.
    #[error("interrupted: no money taken, tap again")]
    Interrupted,
}

/// One debit the card made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Card number.
    pub asn: Vec<u8>,
    /// Gate.
    pub terminal: [u8; 6],
    /// Terminal transaction counter.
    pub ttc: u32,
    /// Card's offline ATC.
    pub atc: u16,
    /// When.
    pub time: TransitTime,
    /// Event.
    pub event: u8,
    /// Amount taken.
    pub amount: u32,
    /// The verified TAC.
    pub tac: [u8; 4],
}

/// The money the transit system took and loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Every debit, in order.
    pub debits: Vec<LedgerEntry>,
    /// Sum of the loads (top-ups).
    pub loaded: u64,
}

impl Ledger {
    /// Total taken by debits.
    pub fn taken(&self) -> u64 {
        self.debits.iter().map(|e| u64::from(e.amount)).sum()
    }
}

/// The transit system: fare rules, the PSAM's keys, gates' counter and the ledger.
pub struct TransitSystem {
    /// The fare rules.
    pub rules: FareRules,
    aid: Vec<u8>,
    purchase_master: HostKey,
    tac_master: HostKey,
    topup: PurseTerminal,
    ttc: u32,
    /// Money taken and loaded.
    pub ledger: Ledger,
}

fn master(p: &Profile, key_type: &str, index: u8) -> Result<HostKey, TerminalError> {
    let a = p
        .app("transit")
        .ok_or_else(|| TerminalError::Setup("no application `transit` in the profile".into()))?;
    let k = a
        .keys
        .iter()
        .find(|k| k.key_type == key_type && k.id == index)
        .ok_or_else(|| TerminalError::Setup(format!("no transit {key_type} key {index:02X}")))?;
    p.master_key(k.master.as_deref().unwrap_or_default())
        .ok_or_else(|| TerminalError::Setup(format!("no master key for transit {key_type}")))
}

const STEP_SELECT: &str = "SELECT transit";

impl TransitSystem {
    /// The system of a profile: rules from `[params.transit]`, keys of the `transit` application.
    pub fn from_profile(p: &Profile) -> Result<TransitSystem, TerminalError> {
        let rules = FareRules::from_profile(p)?;
        let a = p.app("transit").ok_or_else(|| {
            TerminalError::Setup("no application `transit` in the profile".into())
        })?;
        Ok(TransitSystem {
            aid: crate::perso::df_name(a),
            purchase_master: master(p, "purchase", rules.key_index)?,
            tac_master: master(p, "tac", rules.key_index)?,
            topup: PurseTerminal::new(p, "transit", rules.key_index, *b"TOPUP1")?,
            rules,
            ttc: 0,
            ledger: Ledger::default(),
        })
    }

    /// The AID the gates select.
    pub fn aid(&self) -> &[u8] {
        &self.aid
    }

    /// Top up the transit purse at a load terminal (the PBOC load of [`PurseTerminal`]).
    pub fn top_up(
        &mut self,
        card: &mut SimCard,
        amount: u32,
        now: TransitTime,
    ) -> Result<LoadReceipt, TerminalError> {
        self.topup.select(card)?;
        let r = self.topup.load(card, Purse::Wallet, amount, now.when())?;
        self.ledger.loaded += u64::from(amount);
        Ok(r)
    }

    /// Read what a gate needs from the card, keyless: SELECT (FCI `9F0C` = EF `15`), EF `17`,
    /// EF `16`, GET BALANCE, the composite records.
    pub fn read_card(&self, card: &mut SimCard) -> Result<CardView, TerminalError> {
        let fci = ok(
            card,
            STEP_SELECT,
            &apdu(0x00, 0xA4, 0x04, 0x00, &self.aid, Some(0x00)),
        )?;
        let issuer_data = find_tag(&fci, 0x9F0C)
            .filter(|d| d.len() >= 28)
            .ok_or(TerminalError::Malformed("SELECT (9F0C)"))?
            .to_vec();
        let ef17 = ok(
            card,
            "READ BINARY 17",
            &apdu(0x00, 0xB0, 0x97, 0, &[], Some(0)),
        )?;
        let ef16 = ok(
            card,
            "READ BINARY 16",
            &apdu(0x00, 0xB0, 0x96, 0, &[], Some(0)),
        )?;
        let bal = ok(
            card,
            "GET BALANCE",
            &apdu(0x80, 0x5C, 0x00, 0x02, &[], Some(4)),
        )?;
        let mut records = Vec::new();
        for n in 1..=16u8 {
            let (d, sw) = card
                .exchange(&apdu(0x00, 0xB2, n, (COMPOSITE_SFI << 3) | 4, &[], Some(0)))
                .ok_or(TerminalError::NoAnswer("READ RECORD 1A"))?;
            match sw {
                0x9000 => {
                    if let Some(r) = CompositeRecord::decode(&d) {
                        records.push((n, r));
                    }
                }
                0x6A83 => break,
                sw => {
                    return Err(TerminalError::Refused {
                        step: "READ RECORD 1A",
                        sw,
                    })
                }
            }
        }
        Ok(CardView {
            issuer_data,
            card_type: CardType::from_code(*ef17.get(10).ok_or(TerminalError::Malformed("EF 17"))?),
            staff: ef16.get(1) == Some(&0x01),
            balance: u32::from_be_bytes(
                bal.as_slice()
                    .try_into()
                    .map_err(|_| TerminalError::Malformed("GET BALANCE"))?,
            ),
            records,
        })
    }

    /// The fare and the new composite record of a tap, from what the gate read (pure).
    pub fn quote(
        &self,
        view: &CardView,
        gate: &Gate,
        now: TransitTime,
    ) -> Result<(Fare, CompositeRecord), GateError> {
        if view.expiry() < now.date_bcd() {
            return Err(GateError::Expired);
        }
        let tag = gate.tag();
        let (_, old) = view.record(tag).ok_or(GateError::NoRecord(tag))?;
        if old.lock != 0 {
            return Err(GateError::Locked(tag));
        }
        let today = now.date_bcd();
        let card = view.fare_type();
        let r = &self.rules;
        let transfer_from = |start: TransitTime| {
            view.last_ride().is_some_and(|(end, flags)| {
                end <= start
                    && start.minutes_since(end) <= r.transfer_window_minutes
                    && flags & FLAG_TRANSFER == 0
            })
        };
        let mut new = old.clone();
        new.city = r.city_code();
        let fare;
        match gate.kind {
            GateKind::Bus { line, vehicle } => {
                fare = r.fare(
                    FareReason::Flat,
                    r.bus_fare,
                    card,
                    transfer_from(now),
                    view.charged_on(today),
                );
                new.event = 0x06;
                new.location = Location {
                    line,
                    station: 0,
                    unit: vehicle & 0x00FF_FFFF,
                };
                new.institution = *b"CITY-BUS";
                new.state = TripState::Completed;
                new.operator = 0x0002;
                new.entry_terminal = gate.terminal_id;
                new.entry_time = Some(now);
                new.max_fare = r.bus_fare;
                new.last_ride_end = Some(now);
            }
            GateKind::MetroEntry { station } => {
                fare = if old.state == TripState::Entered {
                    r.fare(
                        FareReason::UnfinishedTrip,
                        r.max_fare,
                        card,
                        false,
                        view.charged_on(today),
                    )
                } else {
                    r.fare(FareReason::Entry, 0, card, false, 0)
                };
                let needed = fare.charged + r.min_entry_balance * r.percent(card) / 100;
                if view.balance < needed {
                    return Err(GateError::InsufficientBalance {
                        balance: view.balance,
                        needed,
                    });
                }
                new.event = 0x03;
                new.location = Location {
                    line: 1,
                    station,
                    unit: u32::from(gate.terminal_id[5]),
                };
                new.institution = *b"METRO-01";
                new.state = TripState::Entered;
                new.operator = 0x0001;
                new.entry_terminal = gate.terminal_id;
                new.entry_time = Some(now);
                new.max_fare = r.max_fare;
            }
            GateKind::MetroExit { station } => {
                let (reason, base, transfer) = match (old.state, old.entry_time) {
                    (TripState::Entered, Some(t)) if now.minutes_since(t) > r.max_trip_minutes => {
                        (FareReason::OverlongTrip, r.max_fare, false)
                    }
                    (TripState::Entered, Some(t)) if t <= now => {
                        match r
                            .distance(old.location.station, station)
                            .and_then(|d| Some((d, r.distance_fare(d)?)))
                        {
                            Some((d, f)) => {
                                (FareReason::Distance { tenths_km: d }, f, transfer_from(t))
                            }
                            None => (FareReason::OutsideTable, r.max_fare, false),
                        }
                    }
                    _ => (FareReason::NoEntry, r.max_fare, false),
                };
                fare = r.fare(reason, base, card, transfer, view.charged_on(today));
                new.event = 0x04;
                new.location = Location {
                    line: 1,
                    station,
                    unit: u32::from(gate.terminal_id[5]),
                };
                new.institution = *b"METRO-01";
                new.state = TripState::Completed;
                new.operator = 0x0001;
                new.last_ride_end = Some(now);
            }
        }
        if fare.charged > view.balance {
            return Err(GateError::InsufficientBalance {
                balance: view.balance,
                needed: fare.charged,
            });
        }
        // Day totals, transfer and maximum-fare flags (an entry without a charge keeps them).
        if fare.charged > 0 || !matches!(gate.kind, GateKind::MetroEntry { .. }) {
            if new.day == today {
                new.day_total += fare.charged;
                new.rides_today = new.rides_today.saturating_add(1);
            } else {
                new.day = today;
                new.day_total = fare.charged;
                new.rides_today = 1;
            }
        }
        if !matches!(gate.kind, GateKind::MetroEntry { .. }) {
            new.last_fare = fare.charged;
            new.flags = 0;
            if fare.transfer_discount > 0 {
                new.flags |= FLAG_TRANSFER;
            }
            if matches!(
                fare.reason,
                FareReason::NoEntry | FareReason::OverlongTrip | FareReason::OutsideTable
            ) {
                new.flags |= FLAG_MAX_FARE;
            }
        }
        Ok((fare, new))
    }

    /// A tap at `gate`: read the card, compute the fare, run the CAPP purchase, verify MAC2 and
    /// the TAC, book the debit.
    pub fn tap(
        &mut self,
        card: &mut SimCard,
        gate: &Gate,
        now: TransitTime,
    ) -> Result<Tap, GateError> {
        let view = self.read_card(card)?;
        let (fare, record) = self.quote(&view, gate, now)?;
        let (number, _) = view
            .record(gate.tag())
            .ok_or(GateError::NoRecord(gate.tag()))?;
        let cache = apdu(
            0x80,
            0xDC,
            *number,
            (COMPOSITE_SFI << 3) | 4,
            &record.encode(),
            None,
        );
        self.capp(card, &view, gate, now, fare, record.event, &cache)
    }

    #[allow(clippy::too_many_arguments)]
    fn capp(
        &mut self,
        card: &mut SimCard,
        view: &CardView,
        gate: &Gate,
        now: TransitTime,
        fare: Fare,
        event: u8,
        cache: &[u8],
    ) -> Result<Tap, GateError> {
        let d = view.asn8();
        let dpk = diversify(&self.purchase_master, &d);
        let dtk = diversify(&self.tac_master, &d);
        let amount = fare.charged;
        let mut init = vec![self.rules.key_index];
        init.extend_from_slice(&amount.to_be_bytes());
        init.extend_from_slice(&gate.terminal_id);
        let interrupted = |e: TerminalError| match e {
            TerminalError::NoAnswer(_) => GateError::Interrupted,
            e => GateError::Terminal(e),
        };
        let r = ok(
            card,
            "INITIALIZE FOR CAPP PURCHASE",
            &apdu(0x80, 0x50, 0x03, 0x02, &init, Some(0x0F)),
        )
        .map_err(interrupted)?;
        if r.len() != 15 {
            return Err(TerminalError::Malformed("INITIALIZE FOR CAPP PURCHASE").into());
        }
        let old = be32(&r[0..4]);
        let atc = u16::from_be_bytes([r[4], r[5]]);
        ok(card, "UPDATE CAPP DATA CACHE", cache).map_err(interrupted)?;
        self.ttc = self.ttc.wrapping_add(1);
        let ttc = self.ttc.to_be_bytes();
        let mut input = [0u8; 8];
        input[..4].copy_from_slice(&r[11..15]);
        input[4..6].copy_from_slice(&r[4..6]);
        input[6..8].copy_from_slice(&ttc[2..4]);
        let ses = session_key(&dpk, &input);
        let iv = vec![0u8; ses.alg.block()];
        let w = now.when();
        let mut m1 = amount.to_be_bytes().to_vec();
        m1.push(0x09);
        m1.extend_from_slice(&gate.terminal_id);
        m1.extend_from_slice(&w.date);
        m1.extend_from_slice(&w.time);
        let mac1 = ses.mac4(&iv, &m1);
        let mut debit = ttc.to_vec();
        debit.extend_from_slice(&w.date);
        debit.extend_from_slice(&w.time);
        debit.extend_from_slice(&mac1);
        let mut t = amount.to_be_bytes().to_vec();
        t.push(0x09);
        t.extend_from_slice(&gate.terminal_id);
        t.extend_from_slice(&ttc);
        t.extend_from_slice(&w.date);
        t.extend_from_slice(&w.time);
        let tk = tac_key(&dtk);
        let want_tac = tk.mac4(&vec![0u8; tk.alg.block()], &t);
        let want_mac2 = ses.mac4(&iv, &amount.to_be_bytes());
        let (answer, recovered) =
            match card.exchange(&apdu(0x80, 0x54, 0x01, 0x00, &debit, Some(8))) {
                Some((d, 0x9000)) if d.len() == 8 => (d, false),
                Some((_, 0x9000)) => return Err(TerminalError::Malformed("DEBIT").into()),
                Some((_, sw)) => {
                    return Err(TerminalError::Refused {
                        step: "DEBIT FOR CAPP PURCHASE",
                        sw,
                    }
                    .into())
                }
                None => {
                    // The answer is lost: did the card debit? Ask for the proof of transaction 09 at
                    // the counter after it (MAC2 ‖ TAC), which exists only if it did.
                    ok(
                        card,
                        STEP_SELECT,
                        &apdu(0x00, 0xA4, 0x04, 0x00, &self.aid, Some(0x00)),
                    )
                    .map_err(interrupted)?;
                    let next = atc.wrapping_add(1).to_be_bytes();
                    match card.exchange(&apdu(0x80, 0x5A, 0x00, 0x09, &next, Some(8))) {
                        Some((p, 0x9000)) if p.len() == 8 => {
                            let mut d = p[4..8].to_vec();
                            d.extend_from_slice(&p[0..4]);
                            (d, true)
                        }
                        Some((_, 0x9406)) => return Err(GateError::Interrupted),
                        Some((_, sw)) => {
                            return Err(TerminalError::Refused {
                                step: "GET TRANSACTION PROVE",
                                sw,
                            }
                            .into())
                        }
                        None => return Err(GateError::Interrupted),
                    }
                }
            };
        if answer[4..8] != want_mac2 {
            return Err(TerminalError::Mismatch("MAC2").into());
        }
        if answer[0..4] != want_tac {
            return Err(TerminalError::Mismatch("TAC").into());
        }
        self.ledger.debits.push(LedgerEntry {
            asn: view.asn().to_vec(),
            terminal: gate.terminal_id,
            ttc: self.ttc,
            atc,
            time: now,
            event,
            amount,
            tac: want_tac,
        });
        Ok(Tap {
            event,
            fare,
            balance: old.saturating_sub(amount),
            atc,
            tac: want_tac,
            recovered,
        })
    }

    /// The card's trip log (EF `1E`), newest first.
    pub fn trips(&self, card: &mut SimCard) -> Result<Vec<TripLogEntry>, TerminalError> {
        ok(
            card,
            STEP_SELECT,
            &apdu(0x00, 0xA4, 0x04, 0x00, &self.aid, Some(0x00)),
        )?;
        let mut out = Vec::new();
        for n in 1..=50u8 {
            let (d, sw) = card
                .exchange(&apdu(0x00, 0xB2, n, (TRIP_LOG_SFI << 3) | 4, &[], Some(0)))
                .ok_or(TerminalError::NoAnswer("READ RECORD 1E"))?;
            match sw {
                0x9000 => out.extend(TripLogEntry::decode(&d)),
                0x6A83 => break,
                sw => {
                    return Err(TerminalError::Refused {
                        step: "READ RECORD 1E",
                        sw,
                    })
                }
            }
        }
        Ok(out)
    }
}

/// One line for `cos-sim info`: the transit purse's balance and the metro state, read straight
/// from the store, if the card has the transit application.
pub fn describe(s: &dyn cos_core::nvm::Storage) -> Option<String> {
    use cos_core::fs::{self, record, FileKind};
    let h = fs::read_header(s).ok()?;
    let (adf, _) = fs::find(s, h.slots, 1, |_, e| {
        e.kind == FileKind::Dedicated && e.df_name() == DEFAULT_AID
    })
    .ok()??;
    let (_, purse) = fs::child_by_fid(s, h.slots, adf, cos_core::apdu::Fid(0x0002))
        .ok()
        .flatten()?;
    let mut b = [0u8; 8];
    fs::read_body(s, &purse, 0, &mut b).ok()?;
    let balance = be32(&b[0..4]);
    let atc = u16::from_be_bytes([b[6], b[7]]);
    let mut metro = "no metro record".to_string();
    if let Some((_, e)) = fs::child_by_sfi(s, h.slots, adf, COMPOSITE_SFI)
        .ok()
        .flatten()
    {
        for n in 1..=record::count(s, &e).ok()? {
            let mut buf = [0u8; record::MAX_RECORD];
            let len = record::read(s, &e, n, &mut buf).ok()?;
            if let Some(r) = CompositeRecord::decode(&buf[..len]).filter(|r| r.tag == METRO_TAG) {
                metro = match (r.state, r.entry_time) {
                    (TripState::Entered, Some(t)) => {
                        format!("metro: entered at station {} at {t}", r.location.station)
                    }
                    _ => "metro: not in a trip".into(),
                };
            }
        }
    }
    Some(format!(
        "transit: balance {}.{:02} yuan, {atc} purchases, {metro}",
        balance / 100,
        balance % 100
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock() {
        let t = TransitTime::parse("2026-03-16 08:30").unwrap();
        assert_eq!(t.to_bcd(), [0x20, 0x26, 0x03, 0x16, 0x08, 0x30, 0x00]);
        assert_eq!(TransitTime::from_bcd(&t.to_bcd()), Some(t));
        assert_eq!(t.plus_minutes(16 * 60).to_string(), "2026-03-17 00:30:00");
        assert_eq!(
            TransitTime::parse("2024-02-28 23:59:59")
                .unwrap()
                .plus_minutes(1)
                .to_string(),
            "2024-02-29 00:00:59"
        );
        assert_eq!(t.plus_minutes(90).minutes_since(t), 90);
        assert_eq!(TransitTime::from_bcd(&[0; 7]), None);
        assert!(TransitTime::parse("2026-02-30 08:00").is_none());
        assert!(TransitTime::parse("2026-03-16 24:00").is_none());
    }

    #[test]
    fn fares() {
        let r = FareRules::default();
        assert_eq!(r.distance(1, 4), Some(52));
        assert_eq!(r.distance(4, 1), Some(52));
        assert_eq!(r.distance(0, 1), None);
        assert_eq!(r.distance(1, 13), None);
        assert_eq!(r.distance_fare(60), Some(300));
        assert_eq!(r.distance_fare(61), Some(400));
        assert_eq!(r.distance_fare(321), None);
        let f = r.fare(FareReason::Flat, 200, CardType::Adult, true, 0);
        assert_eq!((f.transfer_discount, f.charged), (100, 100));
        let f = r.fare(FareReason::Flat, 200, CardType::Student, true, 0);
        assert_eq!((f.transfer_discount, f.charged), (100, 0));
        let f = r.fare(FareReason::Flat, 200, CardType::Senior, false, 0);
        assert_eq!(f.charged, 0);
        let f = r.fare(FareReason::Flat, 500, CardType::Staff, false, 0);
        assert_eq!(f.charged, 100);
        let f = r.fare(FareReason::Flat, 600, CardType::Adult, false, 1_200);
        assert_eq!((f.capped, f.charged), (300, 300));
        let f = r.fare(FareReason::Flat, 600, CardType::Other(0x77), false, 1_600);
        assert_eq!(f.charged, 0);
    }

    #[test]
    fn record_round_trip() {
        let t = TransitTime::parse("2026-03-16 08:30").unwrap();
        let r = CompositeRecord {
            tag: METRO_TAG,
            len: 64,
            lock: 0,
            event: 3,
            location: Location {
                line: 1,
                station: 7,
                unit: 3,
            },
            city: [0x33, 0x04],
            institution: *b"METRO-01",
            state: TripState::Entered,
            operator: 1,
            entry_terminal: [1, 2, 3, 4, 5, 6],
            entry_time: Some(t),
            max_fare: 900,
            last_ride_end: None,
            last_fare: 0,
            day: t.date_bcd(),
            day_total: 0,
            rides_today: 0,
            flags: 0,
        };
        let b = r.encode();
        assert_eq!(b.len(), 64);
        assert_eq!(&b[4..11], &[0, 1, 0, 7, 0, 0, 3]);
        assert_eq!(CompositeRecord::decode(&b), Some(r));
    }
}
