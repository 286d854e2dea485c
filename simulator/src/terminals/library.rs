//! The library reference terminal: a circulation desk (or self-service kiosk) and the library's
//! patron administration.
//!
//! Host side of the library application (`docs/library.md`), written from that document with
//! [`crate::hostcrypto`] (RustCrypto) and its own calendar arithmetic, sharing no code with the
//! card: the terminal selects the library ADF, reads the free patron file, diversifies the
//! profile's master keys by the card's ASN, authenticates (EXTERNAL AUTHENTICATE), then sends
//! BORROW / RETURN / RENEW under a line-protection MAC, lists the loans with their due dates and
//! overdue days, and (administration role) blocks or unblocks the patron. It checks every due date
//! the card computes against its own computation, and reports each card refusal as a typed
//! [`Refusal`].

use crate::card::SimCard;
use crate::hostcrypto::{diversify, HostKey};
use crate::profile::Profile;
use std::fmt;

/// SFI of the patron file.
pub const PATRON_SFI: u8 = 0x11;
/// SFI of the loans file.
pub const LOANS_SFI: u8 = 0x12;
/// SFI of the history.
pub const HISTORY_SFI: u8 = 0x13;
/// BORROW.
pub const INS_BORROW: u8 = 0x32;
/// RETURN.
pub const INS_RETURN: u8 = 0x34;
/// RENEW.
pub const INS_RENEW: u8 = 0x36;
/// Offset of the status byte in the patron file.
pub const STATUS_OFFSET: u8 = 27;

/// A calendar day, with the terminal's own arithmetic (days counted from 1900-01-01).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    /// Year.
    pub year: u16,
    /// Month 1–12.
    pub month: u8,
    /// Day 1–31.
    pub day: u8,
}

fn leap(y: u16) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn month_len(y: u16, m: u8) -> u8 {
    const LEN: [u8; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if m == 2 && leap(y) {
        29
    } else {
        LEN[usize::from(m - 1)]
    }
}

impl Day {
    /// A day, or `None` when it does not exist (years 1900–9999).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Day> {
        ((1900..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= month_len(year, month))
        .then_some(Day { year, month, day })
    }

    /// From `"20260301"` or `"2026-03-01"`.
    pub fn parse(s: &str) -> Option<Day> {
        let digits: String = s.chars().filter(|c| *c != '-').collect();
        if digits.len() != 8 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Day::new(
            digits[..4].parse().ok()?,
            digits[4..6].parse().ok()?,
            digits[6..].parse().ok()?,
        )
    }

    /// From 4 BCD bytes `YYYYMMDD`.
    pub fn from_bcd(b: &[u8]) -> Option<Day> {
        Day::parse(&hex::encode(b.get(..4)?))
    }

    /// The 4 BCD bytes.
    pub fn to_bcd(self) -> [u8; 4] {
        let b = |v: u16| (((v / 10 % 10) << 4) | (v % 10)) as u8;
        [
            b(self.year / 100),
            b(self.year),
            b(u16::from(self.month)),
            b(u16::from(self.day)),
        ]
    }

    /// Days since 1900-01-01.
    pub fn ordinal(self) -> i64 {
        let mut n: i64 = 0;
        for y in 1900..self.year {
            n += if leap(y) { 366 } else { 365 };
        }
        for m in 1..self.month {
            n += i64::from(month_len(self.year, m));
        }
        n + i64::from(self.day) - 1
    }

    /// `self + n` days.
    pub fn plus(self, n: u32) -> Day {
        let mut d = self;
        for _ in 0..n {
            d = if d.day < month_len(d.year, d.month) {
                Day {
                    day: d.day + 1,
                    ..d
                }
            } else if d.month < 12 {
                Day {
                    month: d.month + 1,
                    day: 1,
                    ..d
                }
            } else {
                Day {
                    year: d.year + 1,
                    month: 1,
                    day: 1,
                }
            };
        }
        d
    }

    /// Days from `earlier` to `self` (negative when `self` is earlier).
    pub fn since(self, earlier: Day) -> i64 {
        self.ordinal() - earlier.ordinal()
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Why the card refused a command, from its status word (`docs/library.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `9501`: the patron's maximum number of loans is reached.
    LoanLimit,
    /// `9502`: the patron is blocked.
    PatronBlocked,
    /// `9503`: the patron's card has expired.
    PatronExpired,
    /// `9504`: no renewal left for this loan.
    RenewalLimit,
    /// `9505`: the item is not on loan on this card.
    NotOnLoan,
    /// `9506`: the item is already on loan on this card.
    AlreadyOnLoan,
    /// `9507`: the date is before the loan's date.
    DateBeforeLoan,
    /// `9508`: the patron file is malformed.
    PatronInvalid,
    /// `6982`: the terminal is not authenticated, or the command was sent without a MAC.
    SecurityStatus,
    /// `6984`: no challenge before the command.
    NoChallenge,
    /// `6988`: wrong MAC.
    BadMac,
    /// `6983`: the key is blocked.
    KeyBlocked,
    /// `63Cx`: authentication failed, `x` tries left.
    AuthenticationFailed(u8),
    /// Any other status word.
    Other(u16),
}

impl Refusal {
    /// The refusal a status word stands for.
    pub fn from_sw(sw: u16) -> Refusal {
        match sw {
            0x9501 => Refusal::LoanLimit,
            0x9502 => Refusal::PatronBlocked,
            0x9503 => Refusal::PatronExpired,
            0x9504 => Refusal::RenewalLimit,
            0x9505 => Refusal::NotOnLoan,
            0x9506 => Refusal::AlreadyOnLoan,
            0x9507 => Refusal::DateBeforeLoan,
            0x9508 => Refusal::PatronInvalid,
            0x6982 => Refusal::SecurityStatus,
            0x6984 => Refusal::NoChallenge,
            0x6988 => Refusal::BadMac,
            0x6983 => Refusal::KeyBlocked,
            s if s & 0xFFF0 == 0x63C0 => Refusal::AuthenticationFailed((s & 0x0F) as u8),
            s => Refusal::Other(s),
        }
    }

    /// The status word.
    pub fn sw(self) -> u16 {
        match self {
            Refusal::LoanLimit => 0x9501,
            Refusal::PatronBlocked => 0x9502,
            Refusal::PatronExpired => 0x9503,
            Refusal::RenewalLimit => 0x9504,
            Refusal::NotOnLoan => 0x9505,
            Refusal::AlreadyOnLoan => 0x9506,
            Refusal::DateBeforeLoan => 0x9507,
            Refusal::PatronInvalid => 0x9508,
            Refusal::SecurityStatus => 0x6982,
            Refusal::NoChallenge => 0x6984,
            Refusal::BadMac => 0x6988,
            Refusal::KeyBlocked => 0x6983,
            Refusal::AuthenticationFailed(n) => 0x63C0 | u16::from(n & 0x0F),
            Refusal::Other(s) => s,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Refusal::LoanLimit => "loan limit reached",
            Refusal::PatronBlocked => "patron blocked",
            Refusal::PatronExpired => "card expired",
            Refusal::RenewalLimit => "no renewal left",
            Refusal::NotOnLoan => "item not on loan on this card",
            Refusal::AlreadyOnLoan => "item already on loan on this card",
            Refusal::DateBeforeLoan => "date before the loan date",
            Refusal::PatronInvalid => "patron file invalid",
            Refusal::SecurityStatus => "security status not satisfied",
            Refusal::NoChallenge => "no challenge",
            Refusal::BadMac => "MAC rejected",
            Refusal::KeyBlocked => "key blocked",
            Refusal::AuthenticationFailed(_) => "authentication failed",
            Refusal::Other(_) => "refused",
        };
        write!(f, "{what} ({:04X})", self.sw())
    }
}

/// What went wrong at the library terminal.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LibraryError {
    /// The card refused a step.
    #[error("{step}: {refusal}")]
    Refused {
        /// The command.
        step: &'static str,
        /// Why.
        refusal: Refusal,
    },
    /// The card gave no answer (power lost).
    #[error("{0}: no answer from the card")]
    NoAnswer(&'static str),
    /// An answer of the wrong shape.
    #[error("{0}: malformed answer")]
    Malformed(&'static str),
    /// The card's answer contradicts the terminal's own computation.
    #[error("{0}")]
    Mismatch(String),
    /// A barcode the card cannot store (1–16 printable ASCII characters).
    #[error("bad barcode `{0}`")]
    BadBarcode(String),
    /// No card session: call `open` first.
    #[error("no card session: open the card first")]
    NotOpen,
    /// The profile lacks what the terminal needs.
    #[error("terminal setup: {0}")]
    Setup(String),
}

impl LibraryError {
    /// The card's refusal, if that is what this is.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            LibraryError::Refused { refusal, .. } => Some(*refusal),
            _ => None,
        }
    }
}

/// Who the terminal authenticates as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Circulation desk or kiosk: external-authentication key 00 (borrow, return, renew, read).
    Circulation,
    /// Patron administration: external-authentication key 01 (also writes the patron file).
    Admin,
}

/// The patron file as the terminal reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatronInfo {
    /// Card ASN.
    pub asn: [u8; 10],
    /// Patron number (BCD digits as hex text).
    pub number: String,
    /// Category code (`01` adult, `02` child, `03` staff).
    pub category: u8,
    /// Home branch.
    pub home_branch: u16,
    /// Maximum concurrent loans.
    pub max_loans: u8,
    /// Loan period in days.
    pub loan_period: u8,
    /// Maximum renewals per loan.
    pub max_renewals: u8,
    /// Blocked by the library.
    pub blocked: bool,
    /// Deposit-free borrowing.
    pub deposit_free: bool,
    /// Last day of validity.
    pub expiry: Day,
}

impl PatronInfo {
    /// Parse the 40-byte patron file.
    pub fn parse(b: &[u8]) -> Option<PatronInfo> {
        if b.len() < 33 || b[0] != 0x01 {
            return None;
        }
        Some(PatronInfo {
            asn: b[1..11].try_into().ok()?,
            number: hex::encode_upper(&b[11..21]),
            category: b[21],
            home_branch: u16::from_be_bytes([b[22], b[23]]),
            max_loans: b[24],
            loan_period: b[25],
            max_renewals: b[26],
            blocked: b[27] != 0,
            deposit_free: b[28] == 1,
            expiry: Day::from_bcd(&b[29..33])?,
        })
    }

    /// The due date the card must set for a loan made (or renewed) on `today`:
    /// `min(today + loan period, expiry)`.
    pub fn due_for(&self, today: Day) -> Day {
        today.plus(u32::from(self.loan_period)).min(self.expiry)
    }
}

/// The card's answer to BORROW / RETURN / RENEW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoanReceipt {
    /// Loan slot.
    pub slot: u8,
    /// Due date (borrow, renew: the new one; return: the one the loan had).
    pub due: Day,
    /// Renewals of the loan.
    pub renewals: u8,
    /// Days overdue on the command's date.
    pub overdue_days: u16,
    /// Items on loan afterwards.
    pub loans_in_use: u8,
}

impl LoanReceipt {
    fn parse(b: &[u8]) -> Option<LoanReceipt> {
        if b.len() != 9 {
            return None;
        }
        Some(LoanReceipt {
            slot: b[0],
            due: Day::from_bcd(&b[1..5])?,
            renewals: b[5],
            overdue_days: u16::from_be_bytes([b[6], b[7]]),
            loans_in_use: b[8],
        })
    }
}

/// One item on loan, as listed by the terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoanView {
    /// Loan slot (record number).
    pub slot: u8,
    /// Item barcode.
    pub barcode: String,
    /// Branch where it was borrowed.
    pub branch: u16,
    /// Loan date.
    pub loan_date: Day,
    /// Due date.
    pub due: Day,
    /// Renewals so far.
    pub renewals: u8,
    /// History counter of the event that last wrote the loan.
    pub seq: u16,
    /// Days overdue on the listing's "today" (0 when not overdue).
    pub overdue_days: u32,
}

impl LoanView {
    /// Parse a loans record; `Ok(None)` for a free slot.
    pub fn parse(slot: u8, b: &[u8], today: Day) -> Option<Option<LoanView>> {
        if b.len() != 30 {
            return None;
        }
        match b[0] {
            0 if b.iter().all(|&x| x == 0) => Some(None),
            1 => {
                let due = Day::from_bcd(&b[23..27])?;
                Some(Some(LoanView {
                    slot,
                    barcode: barcode_text(&b[1..17])?,
                    branch: u16::from_be_bytes([b[17], b[18]]),
                    loan_date: Day::from_bcd(&b[19..23])?,
                    due,
                    renewals: b[27],
                    seq: u16::from_be_bytes([b[28], b[29]]),
                    overdue_days: today.since(due).max(0) as u32,
                }))
            }
            _ => None,
        }
    }
}

/// What a history record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// `01`.
    Borrow,
    /// `02`.
    Return,
    /// `03`.
    Renew,
}

/// One history record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventView {
    /// Event counter.
    pub seq: u16,
    /// What happened.
    pub kind: EventType,
    /// Loan slot.
    pub slot: u8,
    /// Item barcode.
    pub barcode: String,
    /// Terminal's branch.
    pub branch: u16,
    /// Event date.
    pub date: Day,
    /// Due date after the event (return: the loan's due date).
    pub due: Day,
    /// Terminal id.
    pub terminal: [u8; 6],
}

impl EventView {
    /// Parse a 36-byte history record.
    pub fn parse(b: &[u8]) -> Option<EventView> {
        if b.len() != 36 {
            return None;
        }
        Some(EventView {
            seq: u16::from_be_bytes([b[0], b[1]]),
            kind: match b[2] {
                1 => EventType::Borrow,
                2 => EventType::Return,
                3 => EventType::Renew,
                _ => return None,
            },
            slot: b[3],
            barcode: barcode_text(&b[4..20])?,
            branch: u16::from_be_bytes([b[20], b[21]]),
            date: Day::from_bcd(&b[22..26])?,
            due: Day::from_bcd(&b[26..30])?,
            terminal: b[30..36].try_into().ok()?,
        })
    }
}

fn barcode_text(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let text = &b[..end];
    (!text.is_empty()
        && text.iter().all(|c| (0x21..=0x7E).contains(c))
        && b[end..].iter().all(|&c| c == 0))
    .then(|| String::from_utf8_lossy(text).into_owned())
}

/// The 16-byte barcode field of a command.
pub fn barcode_field(code: &str) -> Result<[u8; 16], LibraryError> {
    let b = code.as_bytes();
    if b.is_empty() || b.len() > 16 || !b.iter().all(|c| (0x21..=0x7E).contains(c)) {
        return Err(LibraryError::BadBarcode(code.into()));
    }
    let mut f = [0u8; 16];
    f[..b.len()].copy_from_slice(b);
    Ok(f)
}

fn short_apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u8>) -> Vec<u8> {
    let mut a = vec![cla, ins, p1, p2];
    if !data.is_empty() {
        a.push(data.len() as u8);
        a.extend_from_slice(data);
    }
    if let Some(le) = le {
        a.push(le);
    }
    a
}

/// The card-specific keys of an open session.
struct Session {
    patron: PatronInfo,
    auth: HostKey,
    line: HostKey,
}

/// A library terminal for the `library` application of a profile.
pub struct LibraryTerminal {
    aid: Vec<u8>,
    terminal_id: [u8; 6],
    branch: u16,
    circulation_master: HostKey,
    admin_master: Option<HostKey>,
    line_master: HostKey,
    session: Option<Session>,
}

fn master_of(p: &Profile, key_type: &str, id: u8) -> Option<HostKey> {
    let app = p.app("library")?;
    let spec = app
        .keys
        .iter()
        .find(|k| k.key_type == key_type && k.id == id)?;
    p.master_key(spec.master.as_deref()?)
}

impl LibraryTerminal {
    /// A terminal of `branch` with the master keys of the profile's `library` application:
    /// external authentication 00 (circulation), 01 (administration, optional) and line
    /// protection 00.
    pub fn new(p: &Profile, terminal_id: [u8; 6], branch: u16) -> Result<Self, LibraryError> {
        let app = p.app("library").ok_or_else(|| {
            LibraryError::Setup("the profile has no `library` application".into())
        })?;
        let aid = app
            .aid
            .as_deref()
            .and_then(|a| hex::decode(a).ok())
            .ok_or_else(|| {
                LibraryError::Setup("the library application needs a hex `aid`".into())
            })?;
        let need = |t: &str, id: u8| {
            master_of(p, t, id).ok_or_else(|| {
                LibraryError::Setup(format!("no master key for the library's {t} key {id:02X}"))
            })
        };
        Ok(LibraryTerminal {
            aid,
            terminal_id,
            branch,
            circulation_master: need("external-auth", 0)?,
            admin_master: master_of(p, "external-auth", 1),
            line_master: need("line-protection", 0)?,
            session: None,
        })
    }

    /// The patron read when the card was opened.
    pub fn patron(&self) -> Option<&PatronInfo> {
        self.session.as_ref().map(|s| &s.patron)
    }

    fn send(
        &self,
        card: &mut SimCard,
        step: &'static str,
        apdu: &[u8],
    ) -> Result<Vec<u8>, LibraryError> {
        let (data, sw) = card.exchange(apdu).ok_or(LibraryError::NoAnswer(step))?;
        if sw != 0x9000 {
            return Err(LibraryError::Refused {
                step,
                refusal: Refusal::from_sw(sw),
            });
        }
        Ok(data)
    }

    /// SELECT the library ADF and read the patron file (free), without authenticating.
    pub fn select(&mut self, card: &mut SimCard) -> Result<PatronInfo, LibraryError> {
        self.session = None;
        self.send(
            card,
            "SELECT library",
            &short_apdu(0x00, 0xA4, 0x04, 0x0C, &self.aid, None),
        )?;
        let b = self.send(
            card,
            "READ BINARY patron",
            &[0x00, 0xB0, 0x80 | PATRON_SFI, 0x00, 0x28],
        )?;
        PatronInfo::parse(&b).ok_or(LibraryError::Malformed("patron file"))
    }

    /// Open a session: select, read the patron, diversify the keys by the ASN and authenticate as
    /// `role`.
    pub fn open(&mut self, card: &mut SimCard, role: Role) -> Result<PatronInfo, LibraryError> {
        let patron = self.select(card)?;
        let d: [u8; 8] = patron.asn[2..10].try_into().unwrap_or([0; 8]);
        let (master, id) = match role {
            Role::Circulation => (&self.circulation_master, 0x00),
            Role::Admin => (
                self.admin_master
                    .as_ref()
                    .ok_or_else(|| LibraryError::Setup("no administration key".into()))?,
                0x01,
            ),
        };
        let auth = diversify(master, &d);
        let line = diversify(&self.line_master, &d);
        let challenge = self.challenge(card)?;
        let mut block = challenge.clone();
        block.resize(auth.alg.block(), 0);
        auth.encrypt(&mut block);
        self.send(
            card,
            "EXTERNAL AUTHENTICATE",
            &short_apdu(0x00, 0x82, 0x00, id, &block, None),
        )?;
        self.session = Some(Session {
            patron: patron.clone(),
            auth,
            line,
        });
        Ok(patron)
    }

    /// GET CHALLENGE (4 bytes).
    pub fn challenge(&self, card: &mut SimCard) -> Result<Vec<u8>, LibraryError> {
        let c = self.send(card, "GET CHALLENGE", &[0x00, 0x84, 0x00, 0x00, 0x04])?;
        if c.len() != 4 {
            return Err(LibraryError::Malformed("GET CHALLENGE"));
        }
        Ok(c)
    }

    fn session(&self) -> Result<&Session, LibraryError> {
        self.session.as_ref().ok_or(LibraryError::NotOpen)
    }

    /// The request data of BORROW / RETURN / RENEW: `date ‖ barcode ‖ branch ‖ terminal`.
    pub fn request(&self, barcode: &str, today: Day) -> Result<Vec<u8>, LibraryError> {
        let mut d = today.to_bcd().to_vec();
        d.extend_from_slice(&barcode_field(barcode)?);
        d.extend_from_slice(&self.branch.to_be_bytes());
        d.extend_from_slice(&self.terminal_id);
        Ok(d)
    }

    /// `CLA INS P1 P2 Lc ‖ data ‖ MAC [‖ Le]`, the MAC under the session's line key from
    /// `challenge` (IV = challenge right-padded with zeros to the block size) over
    /// `CLA INS P1 P2 Lc ‖ data`, Lc counting the MAC.
    pub fn secured_apdu(
        &self,
        header: [u8; 4],
        data: &[u8],
        challenge: &[u8],
        le: Option<u8>,
    ) -> Result<Vec<u8>, LibraryError> {
        let line = &self.session()?.line;
        let lc = (data.len() + 4) as u8;
        let mut input = header.to_vec();
        input.push(lc);
        input.extend_from_slice(data);
        let mut iv = challenge.to_vec();
        iv.resize(line.alg.block(), 0);
        let mac = line.mac4(&iv, &input);
        let mut a = input;
        a.extend_from_slice(&mac);
        if let Some(le) = le {
            a.push(le);
        }
        Ok(a)
    }

    fn loan_command(
        &self,
        card: &mut SimCard,
        step: &'static str,
        ins: u8,
        barcode: &str,
        today: Day,
    ) -> Result<LoanReceipt, LibraryError> {
        self.session()?;
        let data = self.request(barcode, today)?;
        let challenge = self.challenge(card)?;
        let apdu = self.secured_apdu([0x84, ins, 0x00, 0x00], &data, &challenge, Some(0x00))?;
        let r = self.send(card, step, &apdu)?;
        LoanReceipt::parse(&r).ok_or(LibraryError::Malformed(step))
    }

    /// BORROW `barcode` on `today`. Checks the due date the card set against the patron's rules.
    pub fn borrow(
        &self,
        card: &mut SimCard,
        barcode: &str,
        today: Day,
    ) -> Result<LoanReceipt, LibraryError> {
        let r = self.loan_command(card, "BORROW", INS_BORROW, barcode, today)?;
        let want = self.session()?.patron.due_for(today);
        if r.due != want || r.renewals != 0 || r.overdue_days != 0 {
            return Err(LibraryError::Mismatch(format!(
                "BORROW: card set due {} renewals {} overdue {}, terminal expects due {want}",
                r.due, r.renewals, r.overdue_days
            )));
        }
        Ok(r)
    }

    /// RETURN `barcode` on `today`; the receipt tells the days overdue.
    pub fn return_item(
        &self,
        card: &mut SimCard,
        barcode: &str,
        today: Day,
    ) -> Result<LoanReceipt, LibraryError> {
        let r = self.loan_command(card, "RETURN", INS_RETURN, barcode, today)?;
        let want = today.since(r.due).clamp(0, i64::from(u16::MAX)) as u16;
        if r.overdue_days != want {
            return Err(LibraryError::Mismatch(format!(
                "RETURN: card says {} days overdue, terminal computes {want}",
                r.overdue_days
            )));
        }
        Ok(r)
    }

    /// RENEW `barcode` on `today`. Checks the new due date: never earlier than the old one, else
    /// `min(today + loan period, expiry)`.
    pub fn renew(
        &self,
        card: &mut SimCard,
        barcode: &str,
        today: Day,
    ) -> Result<LoanReceipt, LibraryError> {
        let r = self.loan_command(card, "RENEW", INS_RENEW, barcode, today)?;
        let fresh = self.session()?.patron.due_for(today);
        if r.due < fresh {
            return Err(LibraryError::Mismatch(format!(
                "RENEW: card set due {}, terminal expects at least {fresh}",
                r.due
            )));
        }
        Ok(r)
    }

    fn read_records(
        &self,
        card: &mut SimCard,
        step: &'static str,
        sfi: u8,
    ) -> Result<Vec<Vec<u8>>, LibraryError> {
        let mut out = Vec::new();
        for n in 1..=u8::MAX {
            let (data, sw) = card
                .exchange(&[0x00, 0xB2, n, (sfi << 3) | 0x04, 0x00])
                .ok_or(LibraryError::NoAnswer(step))?;
            match sw {
                0x9000 => out.push(data),
                0x6A83 => break,
                sw => {
                    return Err(LibraryError::Refused {
                        step,
                        refusal: Refusal::from_sw(sw),
                    })
                }
            }
        }
        Ok(out)
    }

    /// Every item on loan with its due date and the days it is overdue on `today` (needs the
    /// terminal's authentication, or the holder's PIN verified on the card).
    pub fn loans(&self, card: &mut SimCard, today: Day) -> Result<Vec<LoanView>, LibraryError> {
        let mut out = Vec::new();
        for (i, r) in self
            .read_records(card, "READ RECORD loans", LOANS_SFI)?
            .iter()
            .enumerate()
        {
            let v = LoanView::parse(i as u8 + 1, r, today)
                .ok_or(LibraryError::Malformed("loan record"))?;
            out.extend(v);
        }
        Ok(out)
    }

    /// The history, newest first.
    pub fn history(&self, card: &mut SimCard) -> Result<Vec<EventView>, LibraryError> {
        self.read_records(card, "READ RECORD history", HISTORY_SFI)?
            .iter()
            .map(|r| EventView::parse(r).ok_or(LibraryError::Malformed("history record")))
            .collect()
    }

    /// Administration: block (or unblock) the patron — UPDATE BINARY of the status byte under the
    /// line-protection MAC (needs a session opened as [`Role::Admin`]).
    pub fn set_blocked(&self, card: &mut SimCard, blocked: bool) -> Result<(), LibraryError> {
        let challenge = self.challenge(card)?;
        let apdu = self.secured_apdu(
            [0x04, 0xD6, 0x80 | PATRON_SFI, STATUS_OFFSET],
            &[u8::from(blocked)],
            &challenge,
            None,
        )?;
        self.send(card, "UPDATE BINARY patron status", &apdu)?;
        Ok(())
    }

    /// The session's authentication key (for tests that forge cryptograms).
    pub fn session_auth_key(&self) -> Option<&HostKey> {
        self.session.as_ref().map(|s| &s.auth)
    }
}

/// The library files of a card read straight from its storage (no APDU, no key): for `cos-sim
/// info` and for tests that check invariants without disturbing the card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLibrary {
    /// The patron file.
    pub patron: Vec<u8>,
    /// Every loans record, in slot order.
    pub loans: Vec<Vec<u8>>,
    /// The history records, newest first.
    pub history: Vec<Vec<u8>>,
}

/// The default library ADF name (`docs/library.md`).
pub const DEFAULT_AID: [u8; 9] = [0xF0, 0x43, 0x43, 0x4F, 0x53, 0x4C, 0x49, 0x42, 0x01];

/// Read the library files of the ADF named `aid` from a store.
pub fn stored(s: &dyn cos_core::nvm::Storage, aid: &[u8]) -> Option<StoredLibrary> {
    use cos_core::fs::{self, record, FileKind};
    let h = fs::read_header(s).ok()?;
    let (adf, _) = fs::find(s, h.slots, 1, |_, e| {
        e.kind == FileKind::Dedicated && e.df_name() == aid
    })
    .ok()??;
    let file = |sfi: u8| fs::child_by_sfi(s, h.slots, adf, sfi).ok().flatten();
    let (_, pe) = file(PATRON_SFI)?;
    let mut patron = vec![0u8; usize::from(pe.size)];
    fs::read_body(s, &pe, 0, &mut patron).ok()?;
    let records = |sfi: u8| -> Option<Vec<Vec<u8>>> {
        let (_, e) = file(sfi)?;
        let mut out = Vec::new();
        for n in 1..=record::count(s, &e).ok()? {
            let mut buf = [0u8; record::MAX_RECORD];
            let len = record::read(s, &e, n, &mut buf).ok()?;
            out.push(buf[..len].to_vec());
        }
        Some(out)
    };
    Some(StoredLibrary {
        patron,
        loans: records(LOANS_SFI)?,
        history: records(HISTORY_SFI)?,
    })
}

/// One line for `cos-sim info`: loans in use of the default library ADF, if the card has one.
pub fn describe(s: &dyn cos_core::nvm::Storage) -> Option<String> {
    let lib = stored(s, &DEFAULT_AID)?;
    let patron = PatronInfo::parse(&lib.patron)?;
    let in_use = lib.loans.iter().filter(|r| r.first() == Some(&1)).count();
    Some(format!(
        "library: {in_use} of {} loans in use ({} slots), {} history records, patron {}, valid until {}",
        patron.max_loans,
        lib.loans.len(),
        lib.history.len(),
        if patron.blocked { "blocked" } else { "in good standing" },
        patron.expiry
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_calendar() {
        let d = Day::parse("2026-03-01").unwrap();
        assert_eq!(d.plus(30), Day::parse("20260331").unwrap());
        assert_eq!(d.plus(31).to_string(), "2026-04-01");
        assert_eq!(
            Day::parse("20240228").unwrap().plus(1),
            Day::parse("20240229").unwrap()
        );
        assert_eq!(
            Day::parse("20261231").unwrap().plus(1),
            Day::parse("20270101").unwrap()
        );
        assert_eq!(Day::parse("20270101").unwrap().since(d), 306);
        assert_eq!(d.since(Day::parse("20270101").unwrap()), -306);
        assert_eq!(Day::from_bcd(&d.to_bcd()), Some(d));
        assert!(Day::parse("20250229").is_none());
        assert!(Day::parse("2026031").is_none());
    }

    #[test]
    fn refusals_round_trip() {
        for sw in [
            0x9501, 0x9502, 0x9503, 0x9504, 0x9505, 0x9506, 0x9507, 0x9508, 0x6982, 0x6984, 0x6988,
            0x6983, 0x63C2, 0x6A80,
        ] {
            assert_eq!(Refusal::from_sw(sw).sw(), sw);
        }
        assert_eq!(
            Refusal::from_sw(0x9501).to_string(),
            "loan limit reached (9501)"
        );
    }

    #[test]
    fn barcodes() {
        assert_eq!(&barcode_field("AB12").unwrap()[..5], b"AB12\0");
        assert!(barcode_field("").is_err());
        assert!(barcode_field("with space").is_err());
        assert!(barcode_field("12345678901234567").is_err());
        assert_eq!(
            barcode_text(b"AB12\0\0\0\0\0\0\0\0\0\0\0\0").as_deref(),
            Some("AB12")
        );
        assert_eq!(barcode_text(b"AB\0C\0\0\0\0\0\0\0\0\0\0\0\0"), None);
    }
}
