//! The transit application's record layouts and their typed fields.
//!
//! Responsibility: encode and decode what the card itself interprets — the common header of a
//! composite (CAPP) record of EF `1A` and the trip-log record of EF `1E` — with every field typed.
//! Nothing here touches storage. The rest of a composite record (entry time, transfer data, day
//! totals …) belongs to the operators' terminals: the card stores it as given.
//!
//! Composite record, EF `1A` (linear variable, one record per transport mode / operator, 21 to
//! [`MAX_COMPOSITE_RECORD`] bytes; our layout where JT/T 978 leaves it to the operator):
//!
//! | offset | size | field | the card |
//! |---|---|---|---|
//! | 0 | 1 | record tag (`01` metro, `02` bus, …) | finds the record by it, never changes it |
//! | 1 | 1 | record length (the whole record) | must equal the stored length, never changes |
//! | 2 | 1 | lock flag: `00` open, `01` locked | refuses updates of a locked record |
//! | 3 | 1 | event of the last transaction: `02`/`06` single ride, `03` entry, `04` exit | copied to the trip log |
//! | 4 | 7 | where: line (2) ‖ station (2) ‖ gate / vehicle (3) | copied to the trip log |
//! | 11 | 2 | city code of the acquirer | copied to the trip log |
//! | 13 | 8 | acquiring institution | copied to the trip log |
//! | 21 | … | operator data (see `docs/transit.md`) | stored as given |
//!
//! Trip-log record, EF `1E` (cyclic, [`TRIP_RECORD_LEN`] bytes, record 1 newest), written by the
//! card in the same transaction as the debit:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | event (from the composite record) |
//! | 1 | 8 | terminal: `00 00` ‖ the 6-byte terminal id of INITIALIZE |
//! | 9 | 1 | subtype: the composite record's tag (`01` metro, `02` bus) |
//! | 10 | 7 | line ‖ station ‖ gate (from the composite record) |
//! | 17 | 4 | amount debited |
//! | 21 | 4 | balance after |
//! | 25 | 7 | date ‖ time of the DEBIT (BCD) |
//! | 32 | 2 | city code |
//! | 34 | 8 | institution |
//! | 42 | 2 | offline ATC the purchase used |
//! | 44 | 4 | reserved, `00` |

use cos_core::apdu::Sw;
use e_purse::{Amount, Atc, DateTime, TerminalId};

/// Length of a trip-log record (EF `1E`).
pub const TRIP_RECORD_LEN: usize = 48;
/// Bytes of a composite record the card interprets.
pub const COMPOSITE_HEADER_LEN: usize = 21;
/// Longest composite record (JT/T 978 practice: 48 to 128 bytes).
pub const MAX_COMPOSITE_RECORD: usize = 128;

/// The tag of a composite record: which transport mode / operator owns it. Never zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordTag(u8);

impl RecordTag {
    /// The metro record's tag (our convention; equals the trip-log subtype `01`).
    pub const METRO: RecordTag = RecordTag(0x01);
    /// The bus record's tag (trip-log subtype `02`).
    pub const BUS: RecordTag = RecordTag(0x02);

    /// A tag, or `None` for zero (which marks an unused record).
    pub const fn new(b: u8) -> Option<RecordTag> {
        if b == 0 {
            None
        } else {
            Some(RecordTag(b))
        }
    }

    /// The tag byte.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// The lock flag of a composite record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockFlag {
    /// `00`: the record may be updated by a CAPP purchase.
    Open,
    /// `01`: the operator locked the record (e.g. a blacklisted card): no more updates.
    Locked,
}

impl LockFlag {
    /// From the byte (`00` / `01`).
    pub const fn from_byte(b: u8) -> Option<LockFlag> {
        match b {
            0x00 => Some(LockFlag::Open),
            0x01 => Some(LockFlag::Locked),
            _ => None,
        }
    }

    /// The byte.
    pub const fn byte(self) -> u8 {
        match self {
            LockFlag::Open => 0x00,
            LockFlag::Locked => 0x01,
        }
    }
}

/// The event a CAPP purchase records (trip-log type, JT/T 978 practice).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TripEvent {
    /// `00`: nothing recorded yet (a freshly personalised record; not accepted in an update).
    None,
    /// `02`: single ride (some operators' code).
    SingleRideAlt,
    /// `03`: entry (tap in).
    Entry,
    /// `04`: exit (tap out).
    Exit,
    /// `06`: single ride (bus, flat fare).
    SingleRide,
}

impl TripEvent {
    /// From the byte.
    pub const fn from_byte(b: u8) -> Option<TripEvent> {
        Some(match b {
            0x00 => TripEvent::None,
            0x02 => TripEvent::SingleRideAlt,
            0x03 => TripEvent::Entry,
            0x04 => TripEvent::Exit,
            0x06 => TripEvent::SingleRide,
            _ => return None,
        })
    }

    /// The byte.
    pub const fn byte(self) -> u8 {
        match self {
            TripEvent::None => 0x00,
            TripEvent::SingleRideAlt => 0x02,
            TripEvent::Entry => 0x03,
            TripEvent::Exit => 0x04,
            TripEvent::SingleRide => 0x06,
        }
    }
}

/// Line ‖ station ‖ gate or vehicle, 7 bytes as the trip log carries them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Location(pub [u8; 7]);

/// City code of the acquirer (2 bytes BCD).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CityCode(pub [u8; 2]);

/// Acquiring institution identifier (8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Institution(pub [u8; 8]);

/// The part of a composite record the card interprets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompositeHeader {
    /// Record tag.
    pub tag: RecordTag,
    /// Record length as the record states it.
    pub len: u8,
    /// Lock flag.
    pub lock: LockFlag,
    /// Event of the last transaction.
    pub event: TripEvent,
    /// Where it happened.
    pub location: Location,
    /// Acquirer's city.
    pub city: CityCode,
    /// Acquiring institution.
    pub institution: Institution,
}

/// A fixed-size field of a record.
fn field<const N: usize>(rec: &[u8], at: usize) -> Result<[u8; N], Sw> {
    let end = at.checked_add(N).ok_or(Sw::WRONG_DATA)?;
    rec.get(at..end)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(Sw::WRONG_DATA)
}

impl CompositeHeader {
    /// Parse the header of a whole record (`6A80` when a field is invalid: zero tag, a length
    /// byte that is not the record's length, an unknown lock flag or event).
    pub fn parse(rec: &[u8]) -> Result<CompositeHeader, Sw> {
        if rec.len() < COMPOSITE_HEADER_LEN || rec.len() > MAX_COMPOSITE_RECORD {
            return Err(Sw::WRONG_DATA);
        }
        let [tag, len, lock, event] = field::<4>(rec, 0)?;
        if usize::from(len) != rec.len() {
            return Err(Sw::WRONG_DATA);
        }
        Ok(CompositeHeader {
            tag: RecordTag::new(tag).ok_or(Sw::WRONG_DATA)?,
            len,
            lock: LockFlag::from_byte(lock).ok_or(Sw::WRONG_DATA)?,
            event: TripEvent::from_byte(event).ok_or(Sw::WRONG_DATA)?,
            location: Location(field(rec, 4)?),
            city: CityCode(field(rec, 11)?),
            institution: Institution(field(rec, 13)?),
        })
    }
}

/// One trip-log record (EF `1E`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TripRecord {
    /// Event (entry, exit, single ride).
    pub event: TripEvent,
    /// Terminal of the purchase.
    pub terminal: TerminalId,
    /// Subtype: the tag of the composite record (transport mode).
    pub mode: RecordTag,
    /// Line, station, gate.
    pub location: Location,
    /// Amount debited.
    pub amount: Amount,
    /// Balance after the debit.
    pub balance_after: Amount,
    /// Date and time of the DEBIT.
    pub date_time: DateTime,
    /// Acquirer's city.
    pub city: CityCode,
    /// Acquiring institution.
    pub institution: Institution,
    /// Offline ATC the purchase used (the value INITIALIZE returned).
    pub atc: Atc,
}

impl TripRecord {
    /// Encode as stored.
    pub fn encode(&self) -> [u8; TRIP_RECORD_LEN] {
        let mut b = [0u8; TRIP_RECORD_LEN];
        let parts: [&[u8]; 11] = [
            &[self.event.byte()],
            &[0x00, 0x00],
            &self.terminal.0,
            &[self.mode.get()],
            &self.location.0,
            &self.amount.to_bytes(),
            &self.balance_after.to_bytes(),
            &self.date_time.to_bytes(),
            &self.city.0,
            &self.institution.0,
            &self.atc.to_bytes(),
        ];
        let mut rest: &mut [u8] = &mut b;
        for p in parts {
            let (head, tail) = rest.split_at_mut(p.len().min(rest.len()));
            head.copy_from_slice(p.get(..head.len()).unwrap_or_default());
            rest = tail;
        }
        b
    }

    /// Decode a stored record (`6A80` for an unknown event or a zero subtype).
    pub fn decode(b: &[u8; TRIP_RECORD_LEN]) -> Result<TripRecord, Sw> {
        let [event] = field::<1>(b, 0)?;
        let [mode] = field::<1>(b, 9)?;
        let date: [u8; 4] = field(b, 25)?;
        let time: [u8; 3] = field(b, 29)?;
        Ok(TripRecord {
            event: TripEvent::from_byte(event).ok_or(Sw::WRONG_DATA)?,
            terminal: TerminalId(field(b, 3)?),
            mode: RecordTag::new(mode).ok_or(Sw::WRONG_DATA)?,
            location: Location(field(b, 10)?),
            amount: Amount::from_bytes(field(b, 17)?),
            balance_after: Amount::from_bytes(field(b, 21)?),
            date_time: DateTime { date, time },
            city: CityCode(field(b, 32)?),
            institution: Institution(field(b, 34)?),
            atc: Atc::from_bytes(field(b, 42)?),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn record(len: usize) -> [u8; MAX_COMPOSITE_RECORD] {
        let mut r = [0u8; MAX_COMPOSITE_RECORD];
        r[0] = 0x01;
        r[1] = len as u8;
        r[3] = 0x03;
        r[4..11].copy_from_slice(&[0, 1, 0, 7, 0, 0, 9]);
        r[11..13].copy_from_slice(&[0x33, 0x04]);
        r[13..21].copy_from_slice(b"METRO-01");
        r
    }

    #[test]
    fn header_parses_and_refuses_bad_fields() {
        let r = record(64);
        let h = CompositeHeader::parse(&r[..64]).unwrap();
        assert_eq!(h.tag, RecordTag::METRO);
        assert_eq!(h.lock, LockFlag::Open);
        assert_eq!(h.event, TripEvent::Entry);
        assert_eq!(h.location.0, [0, 1, 0, 7, 0, 0, 9]);
        assert_eq!(h.city.0, [0x33, 0x04]);
        assert_eq!(&h.institution.0, b"METRO-01");
        // Length byte must be the record's length.
        assert_eq!(CompositeHeader::parse(&r[..63]), Err(Sw::WRONG_DATA));
        for (at, v) in [(0, 0x00), (2, 0x02), (3, 0x05)] {
            let mut b = r;
            b[at] = v;
            assert_eq!(
                CompositeHeader::parse(&b[..64]),
                Err(Sw::WRONG_DATA),
                "{at}"
            );
        }
        assert_eq!(CompositeHeader::parse(&r[..20]), Err(Sw::WRONG_DATA));
        let mut long = [0u8; 129];
        long[..64].copy_from_slice(&r[..64]);
        assert_eq!(CompositeHeader::parse(&long), Err(Sw::WRONG_DATA));
    }

    #[test]
    fn trip_record_round_trip_and_layout() {
        let t = TripRecord {
            event: TripEvent::Exit,
            terminal: TerminalId([1, 2, 3, 4, 5, 6]),
            mode: RecordTag::METRO,
            location: Location([0, 1, 0, 9, 0, 0, 3]),
            amount: Amount(400),
            balance_after: Amount(9_600),
            date_time: DateTime {
                date: [0x20, 0x26, 0x03, 0x01],
                time: [0x08, 0x30, 0x00],
            },
            city: CityCode([0x33, 0x04]),
            institution: Institution(*b"METRO-01"),
            atc: Atc(7),
        };
        let b = t.encode();
        assert_eq!(b[0], 0x04);
        assert_eq!(&b[1..9], &[0, 0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(b[9], 0x01);
        assert_eq!(&b[17..21], &400u32.to_be_bytes());
        assert_eq!(&b[21..25], &9_600u32.to_be_bytes());
        assert_eq!(&b[25..32], &[0x20, 0x26, 0x03, 0x01, 0x08, 0x30, 0x00]);
        assert_eq!(&b[42..44], &[0, 7]);
        assert_eq!(&b[44..], &[0; 4]);
        assert_eq!(TripRecord::decode(&b), Ok(t));
    }

    #[test]
    fn codes_round_trip() {
        for b in 0..=255u8 {
            if let Some(e) = TripEvent::from_byte(b) {
                assert_eq!(e.byte(), b);
            }
            if let Some(l) = LockFlag::from_byte(b) {
                assert_eq!(l.byte(), b);
            }
        }
        assert_eq!(RecordTag::new(0), None);
        assert_eq!(RecordTag::new(2), Some(RecordTag::BUS));
    }
}
