//! A residential community's door and parking reader, for the community's **application area**
//! (`profiles/areas/community-access.toml`, `docs/areas.md`).
//!
//! At every presentation the reader
//! 1. reads the card's ASN (EF 0005 of the MF, free) to diversify the area's keys for this card;
//! 2. selects the area by its DF name (a blocked or revoked area refuses entry);
//! 3. proves the card genuine: INTERNAL AUTHENTICATE of a fresh random under the area's
//!    internal-authentication key, checked against its own computation;
//! 4. authenticates itself (EXTERNAL AUTHENTICATE with the door key, next state 2), which opens
//!    the resident record and the access rights (read right F2);
//! 5. decides from the resident's validity date and the access rule of its zone (gates, hours);
//! 6. writes the entry record — granted or refused — into the cyclic entry log under a
//!    line-protection MAC (APPEND RECORD, CLA 04).
//!
//! Everything is computed with [`crate::hostcrypto`] (RustCrypto), never with card code.

use crate::area::AreaProfile;
use crate::card::SimCard;
use crate::hostcrypto::HostKey;
use crate::terminals::purse::{apdu, ok, TerminalError, When};

/// Size of the resident record (EF 0001).
pub const RESIDENT_LEN: u8 = 48;
/// Size of one access rule (EF 0002) and one entry record (EF 0003).
pub const RULE_LEN: u8 = 8;
/// Size of one entry record (EF 0003).
pub const ENTRY_LEN: usize = 16;
/// Short identifiers of the area's files.
const SFI_RESIDENT: u8 = 0x01;
const SFI_RULES: u8 = 0x02;
const SFI_LOG: u8 = 0x03;

/// Which way a gate lets people through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Into the community (or the car park).
    In,
    /// Out of it.
    Out,
}

/// A reader: its gate number (0–15 within its zone) and zone (`01` building doors, `02` car-park
/// barriers; the zones of the access rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    /// Gate number in its zone.
    pub id: u8,
    /// Zone.
    pub zone: u8,
    /// Direction.
    pub direction: Direction,
}

impl Gate {
    /// A building door.
    pub fn door(id: u8) -> Gate {
        Gate {
            id,
            zone: 0x01,
            direction: Direction::In,
        }
    }

    /// A car-park barrier.
    pub fn parking(id: u8, direction: Direction) -> Gate {
        Gate {
            id,
            zone: 0x02,
            direction,
        }
    }
}

/// The resident record (EF 0001): number, address, name, car plate, validity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resident {
    /// Resident number (8 digits).
    pub number: String,
    /// Building (4 digits).
    pub building: String,
    /// Room (4 digits).
    pub room: String,
    /// Name.
    pub name: String,
    /// Car plate.
    pub plate: String,
    /// Valid until (`YYYYMMDD`).
    pub valid_until: String,
}

/// One access rule (EF 0002): a zone, the gates of it (bit n = gate n), the hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Zone (`00`: unused record).
    pub zone: u8,
    /// Gate mask.
    pub gates: u16,
    /// From `hhmm` (BCD).
    pub from: [u8; 2],
    /// To `hhmm` (BCD), inclusive.
    pub to: [u8; 2],
    /// Flags (`01`: a vehicle rule).
    pub flags: u8,
}

/// What happened at the gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passage {
    /// Who.
    pub resident: Resident,
    /// Whether the gate opened.
    pub granted: bool,
    /// Why (for the display and the log).
    pub reason: &'static str,
    /// The entry record written to the card (newest record of EF 0003).
    pub record: [u8; ENTRY_LEN],
}

/// A door or barrier reader of the community.
pub struct DoorTerminal {
    name: Vec<u8>,
    door: (u8, HostKey, bool),
    genuine: (u8, HostKey, bool),
    line: (HostKey, bool),
    gate: Gate,
}

fn bcd(b: &[u8]) -> String {
    hex::encode(b)
}

fn text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    encoding_rs::GBK.decode(&b[..end]).0.into_owned()
}

impl DoorTerminal {
    /// A reader of `area` at `gate`, holding the area's door, genuineness and line keys (the key
    /// ids from `[params]` `door_key` and `genuine_key`, defaults 2 and 1).
    pub fn new(area: &AreaProfile, gate: Gate) -> Result<DoorTerminal, TerminalError> {
        let setup = |m: &str| TerminalError::Setup(m.to_string());
        let id = |name: &str, default: u8| {
            area.param(name)
                .and_then(|n| u8::try_from(n).ok())
                .unwrap_or(default)
        };
        let master = |ty: &str, kid: u8| {
            let k = area
                .key(ty, kid)
                .ok_or_else(|| setup(&format!("the area has no {ty} key {kid:02X}")))?;
            let m = area
                .view
                .master_key(k.master.as_deref().unwrap_or_default())
                .ok_or_else(|| setup(&format!("no master key for {ty} {kid:02X}")))?;
            Ok::<_, TerminalError>((m, k.diversify))
        };
        let (door_id, genuine_id) = (id("door_key", 2), id("genuine_key", 1));
        let (dk, dd) = master("external-auth", door_id)?;
        let (gk, gd) = master("internal-auth", genuine_id)?;
        let (lk, ld) = master("line-protection", 0)?;
        Ok(DoorTerminal {
            name: area.df_name(),
            door: (door_id, dk, dd),
            genuine: (genuine_id, gk, gd),
            line: (lk, ld),
            gate,
        })
    }

    fn card_key(master: &HostKey, diversify: bool, asn8: &[u8; 8]) -> HostKey {
        if diversify {
            crate::hostcrypto::diversify(master, asn8)
        } else {
            master.clone()
        }
    }

    /// The card is presented at the gate at `when`.
    pub fn present(&mut self, card: &mut SimCard, when: When) -> Result<Passage, TerminalError> {
        // 1. The card's ASN.
        ok(
            card,
            "SELECT MF",
            &apdu(0x00, 0xA4, 0x00, 0x0C, &[0x3F, 0x00], None),
        )?;
        let info = ok(
            card,
            "READ BINARY EF05",
            &apdu(0x00, 0xB0, 0x85, 0x00, &[], Some(11)),
        )?;
        let asn8: [u8; 8] = info
            .get(3..11)
            .and_then(|s| s.try_into().ok())
            .ok_or(TerminalError::Malformed("READ BINARY EF05"))?;
        // 2. The area.
        ok(
            card,
            "SELECT area",
            &apdu(0x00, 0xA4, 0x04, 0x00, &self.name, Some(0x00)),
        )?;
        // 3. Is the card genuine?
        let gk = Self::card_key(&self.genuine.1, self.genuine.2, &asn8);
        let mut rnd = vec![0u8; gk.alg.block()];
        getrandom::fill(&mut rnd).map_err(|e| TerminalError::Setup(e.to_string()))?;
        let answer = ok(
            card,
            "INTERNAL AUTHENTICATE",
            &apdu(
                0x00,
                0x88,
                0x00,
                self.genuine.0,
                &rnd,
                Some(rnd.len() as u8),
            ),
        )?;
        let mut want = rnd.clone();
        gk.encrypt_ecb(&mut want);
        if answer != want {
            return Err(TerminalError::Mismatch(
                "INTERNAL AUTHENTICATE (not a genuine card)",
            ));
        }
        // 4. The reader proves itself: the area's level 2.
        let dk = Self::card_key(&self.door.1, self.door.2, &asn8);
        let ch = ok(
            card,
            "GET CHALLENGE",
            &apdu(0x00, 0x84, 0x00, 0x00, &[], Some(4)),
        )?;
        let mut block = ch.clone();
        block.resize(dk.alg.block(), 0);
        dk.encrypt(&mut block);
        ok(
            card,
            "EXTERNAL AUTHENTICATE",
            &apdu(0x00, 0x82, 0x00, self.door.0, &block, None),
        )?;
        // 5. Who, and may they pass here, now?
        let r = ok(
            card,
            "READ BINARY resident",
            &apdu(
                0x00,
                0xB0,
                0x80 | SFI_RESIDENT,
                0x00,
                &[],
                Some(RESIDENT_LEN),
            ),
        )?;
        if r.len() < 42 {
            return Err(TerminalError::Malformed("READ BINARY resident"));
        }
        let resident = Resident {
            number: bcd(&r[0..4]),
            building: bcd(&r[4..6]),
            room: bcd(&r[6..8]),
            name: text(&r[8..28]),
            plate: text(&r[28..38]),
            valid_until: bcd(&r[38..42]),
        };
        let mut rules = Vec::new();
        for n in 1..=u8::MAX {
            let rec = card
                .exchange(&apdu(
                    0x00,
                    0xB2,
                    n,
                    (SFI_RULES << 3) | 0x04,
                    &[],
                    Some(RULE_LEN),
                ))
                .ok_or(TerminalError::NoAnswer("READ RECORD rules"))?;
            match rec {
                (d, 0x9000) if d.len() == usize::from(RULE_LEN) => rules.push(Rule {
                    zone: d[0],
                    gates: u16::from_be_bytes([d[1], d[2]]),
                    from: [d[3], d[4]],
                    to: [d[5], d[6]],
                    flags: d[7],
                }),
                (_, 0x6A83) => break,
                (_, sw) => {
                    return Err(TerminalError::Refused {
                        step: "READ RECORD rules",
                        sw,
                    })
                }
            }
        }
        let (granted, reason) = self.decide(&resident, &rules, when);
        // 6. The entry record, under the area's MAC.
        let mut record = [0u8; ENTRY_LEN];
        record[..4].copy_from_slice(&when.date);
        record[4..7].copy_from_slice(&when.time);
        record[7..9].copy_from_slice(&u16::from(self.gate.id).to_be_bytes());
        record[9] = self.gate.zone;
        record[10] = match self.gate.direction {
            Direction::In => 0x01,
            Direction::Out => 0x02,
        };
        record[11] = u8::from(granted);
        let lk = Self::card_key(&self.line.0, self.line.1, &asn8);
        let ch = ok(
            card,
            "GET CHALLENGE",
            &apdu(0x00, 0x84, 0x00, 0x00, &[], Some(4)),
        )?;
        let header = [0x04, 0xE2, 0x00, SFI_LOG << 3];
        let mut input = header.to_vec();
        input.push((ENTRY_LEN + 4) as u8);
        input.extend_from_slice(&record);
        let mut iv = ch;
        iv.resize(lk.alg.block(), 0);
        let mac = lk.mac4(&iv, &input);
        let mut a = input;
        a.extend_from_slice(&mac);
        ok(card, "APPEND RECORD entry log", &a)?;
        Ok(Passage {
            resident,
            granted,
            reason,
            record,
        })
    }

    /// The gate's decision: the resident's validity, then a rule of this zone that names this
    /// gate and covers the time of day.
    pub fn decide(&self, who: &Resident, rules: &[Rule], when: When) -> (bool, &'static str) {
        if hex::encode(when.date) > who.valid_until {
            return (false, "resident record expired");
        }
        let gate_bit = 1u16 << (self.gate.id & 0x0F);
        let now = [when.time[0], when.time[1]];
        let zone_rules: Vec<&Rule> = rules.iter().filter(|r| r.zone == self.gate.zone).collect();
        if zone_rules.is_empty() {
            return (false, "no access to this zone");
        }
        if !zone_rules.iter().any(|r| r.gates & gate_bit != 0) {
            return (false, "not this gate");
        }
        if zone_rules
            .iter()
            .any(|r| r.gates & gate_bit != 0 && r.from <= now && now <= r.to)
        {
            (true, "welcome home")
        } else {
            (false, "outside the permitted hours")
        }
    }

    /// The entry log, newest first (the service unit's or a door's reading, after its
    /// authentication: read right F2).
    pub fn entries(&self, card: &mut SimCard) -> Result<Vec<[u8; ENTRY_LEN]>, TerminalError> {
        let mut out = Vec::new();
        for n in 1..=u8::MAX {
            match card
                .exchange(&apdu(
                    0x00,
                    0xB2,
                    n,
                    (SFI_LOG << 3) | 0x04,
                    &[],
                    Some(ENTRY_LEN as u8),
                ))
                .ok_or(TerminalError::NoAnswer("READ RECORD entry log"))?
            {
                (d, 0x9000) => {
                    let mut r = [0u8; ENTRY_LEN];
                    if d.len() == ENTRY_LEN {
                        r.copy_from_slice(&d);
                    }
                    out.push(r);
                }
                (_, 0x6A83) => break,
                (_, sw) => {
                    return Err(TerminalError::Refused {
                        step: "READ RECORD entry log",
                        sw,
                    })
                }
            }
        }
        Ok(out)
    }
}
