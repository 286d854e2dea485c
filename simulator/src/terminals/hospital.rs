//! Social-insurance terminals: a hospital's (designated medical institution's) settlement
//! terminal, the issuing agency's counter and an employment office, written from
//! `docs/social-insurance.md` on the host side.
//!
//! Every cryptogram is computed with [`crate::hostcrypto`] (RustCrypto, no card code) from the
//! profile's master keys, diversified for the card in front of the terminal by the ASN it reads
//! from the card identification code (element `01`). The terminal checks everything the card
//! proves: the internal-authentication answer (card genuine), the receipt MAC of a settlement, the
//! settlement record read back; any refusal or mismatch is an error.
//!
//! A hospital visit ([`SocialInsuranceTerminal::visit`]): SELECT the DDF → READ RECORD EF05 (free)
//! → INTERNAL AUTHENTICATE → VERIFY PIN → EXTERNAL AUTHENTICATE (organisation key 01) → READ
//! RECORD EF06 → SELECT the medical DF → EXTERNAL AUTHENTICATE (hospital key 01) → READ RECORD
//! EF05 → GET CHALLENGE + SETTLE (MAC'd) → READ RECORD EF07 #1 → GET DATA `30`.

use crate::card::SimCard;
use crate::hostcrypto::{diversify, HostKey};
use crate::profile::Profile;
use crate::terminals::purse::apdu;
use social_insurance::element::{self, Coding, Tag};
use social_insurance::layout::{ddf, medical, SETTLEMENT_RECORD_LEN};
use social_insurance::{
    AccountSummary, Settlement, SettlementRecord, DDF_NAME, INS_SETTLE, MEDICAL_AID,
};

/// Master-key names in the profile (`[keys.*]`).
pub mod key_names {
    /// The issuing agency (external authentication 00 in both DFs).
    pub const ISSUER: &str = "si_master";
    /// Card-using organisations' terminals in the DDF (external authentication 01).
    pub const ORGANISATION: &str = "si_hospital";
    /// Employment offices (external authentication 02 of the DDF).
    pub const EMPLOYMENT: &str = "si_employment";
    /// Internal authentication (card genuineness), both DFs.
    pub const INTERNAL: &str = "si_internal";
    /// Line protection of the DDF.
    pub const UPDATE: &str = "si_update";
    /// PIN reload.
    pub const PIN_RELOAD: &str = "si_pin_reload";
    /// Designated hospitals and pharmacies (external authentication 01 of the medical DF).
    pub const MEDICAL: &str = "si_medical";
    /// Line protection of the medical DF (settlements).
    pub const MEDICAL_UPDATE: &str = "si_medical_update";
    /// Settlement receipts (internal-auth key 01 of the medical DF).
    pub const RECEIPT: &str = "si_receipt";
}

/// What went wrong at a social-insurance terminal.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HospitalError {
    /// The card has no DDF `sx1.sh.社会保障` (a city pass).
    #[error("no social insurance application")]
    NoSocialInsurance,
    /// The card has no medical-insurance DF.
    #[error("no medical insurance application")]
    NoMedicalInsurance,
    /// INTERNAL AUTHENTICATE did not verify: a forged card or foreign keys.
    #[error("the card is not genuine: its internal authentication does not verify")]
    NotGenuine,
    /// VERIFY failed.
    #[error("wrong PIN, {0} tries left")]
    WrongPin(u8),
    /// The PIN is blocked (RELOAD PIN at the issuing agency).
    #[error("the PIN is blocked")]
    PinBlocked,
    /// The card's expiry date has passed.
    #[error("the card expired on {0}")]
    Expired(String),
    /// The holder is not (or no longer) insured.
    #[error("the holder is not insured (status {0})")]
    NotInsured(String),
    /// The card refused a step.
    #[error("{step}: the card answered {sw:04X}")]
    Refused {
        /// The command.
        step: &'static str,
        /// Its status word.
        sw: u16,
    },
    /// The card gave no answer (power lost).
    #[error("{0}: no answer from the card")]
    NoAnswer(&'static str),
    /// An answer of the wrong shape.
    #[error("{step}: malformed answer ({why})")]
    Malformed {
        /// The command.
        step: &'static str,
        /// What is wrong.
        why: String,
    },
    /// Something the card returned does not verify or does not match what was written.
    #[error("{0} does not match")]
    Mismatch(&'static str),
    /// The terminal lacks a key or a setting for this operation.
    #[error("terminal setup: {0}")]
    Setup(String),
}

type Result<T> = std::result::Result<T, HospitalError>;

/// Who operates the terminal: it decides which external-authentication key it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A designated hospital or pharmacy: organisation key 01 (DDF) and hospital key 01 (medical).
    Hospital,
    /// The issuing social-insurance agency: key 00 in both DFs.
    Agency,
    /// An employment office: key 02 of the DDF.
    EmploymentOffice,
}

/// The card identification (EF05), decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardIdentification {
    /// 卡识别码.
    pub identification_code: String,
    /// Card type code (`01` citizen, `02` new resident, `03` city pass).
    pub card_type: u8,
    /// Specification version (`3.00`).
    pub spec_version: String,
    /// Issuing organisation code.
    pub issuer: String,
    /// Issue date `YYYYMMDD`.
    pub issue_date: String,
    /// Expiry date `YYYYMMDD`.
    pub expiry_date: String,
    /// Card number.
    pub card_number: String,
    /// The ASN inside the identification code (diversification input: its last 8 bytes).
    pub asn: Vec<u8>,
}

/// The holder's basic information (EF06), decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// 社会保障号码.
    pub social_security_number: String,
    /// Name, decoded from GBK.
    pub name: String,
    /// Sex code.
    pub sex: String,
    /// Ethnicity code.
    pub ethnicity: String,
    /// Birthplace, decoded from GBK.
    pub birthplace: String,
    /// Date of birth `YYYYMMDD`.
    pub date_of_birth: String,
}

/// Employment and insurance data (EF09), decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Employment {
    /// Employer code.
    pub employer_code: String,
    /// Employer name, decoded from GBK.
    pub employer_name: String,
    /// Personnel category.
    pub category: String,
    /// Insurance types, one `0`/`1` per scheme.
    pub insurance_types: String,
    /// Date first insured.
    pub first_insured: String,
}

/// Medical insurance basic information (medical DF, EF05), decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicalInfo {
    /// Insured region code.
    pub region: String,
    /// Category (`1` employees, `2` residents).
    pub category: String,
    /// Insured status (`1` insured).
    pub status: String,
    /// Designated institution.
    pub institution: String,
    /// Medical account number.
    pub account_number: String,
}

/// A completed settlement, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementReceipt {
    /// The card's settlement number.
    pub number: u16,
    /// The card's receipt MAC (verified when the terminal holds the receipt key).
    pub receipt: [u8; 4],
    /// The record as read back from the card.
    pub record: SettlementRecord,
    /// The account after the settlement.
    pub account: AccountSummary,
}

/// Everything a hospital visit produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visit {
    /// The card.
    pub card: CardIdentification,
    /// The holder.
    pub holder: Holder,
    /// The medical insurance data.
    pub medical: MedicalInfo,
    /// The settlement.
    pub settlement: SettlementReceipt,
}

/// A social-insurance terminal: its role, its master keys (those of the profile it was given) and
/// its identity.
pub struct SocialInsuranceTerminal {
    role: Role,
    masters: std::collections::BTreeMap<&'static str, HostKey>,
    /// Designated institution code (12 BCD digits) written into settlements.
    pub institution: [u8; 6],
    /// Terminal identifier written into settlements.
    pub terminal_id: [u8; 6],
}

/// Send, follow `61xx`, return `(data, sw)`.
fn exchange(card: &mut SimCard, step: &'static str, apdu: &[u8]) -> Result<(Vec<u8>, u16)> {
    card.exchange(apdu).ok_or(HospitalError::NoAnswer(step))
}

/// Send and require 9000.
fn ok(card: &mut SimCard, step: &'static str, apdu: &[u8]) -> Result<Vec<u8>> {
    let (data, sw) = exchange(card, step, apdu)?;
    if sw != 0x9000 {
        return Err(HospitalError::Refused { step, sw });
    }
    Ok(data)
}

/// A PIN as VERIFY carries it: BCD digits, an odd count padded with `F`.
pub fn pin_bytes(digits: &str) -> Result<Vec<u8>> {
    if !(4..=16).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(HospitalError::Setup("a PIN is 4–16 digits".into()));
    }
    let mut d = digits.to_string();
    if d.len() % 2 == 1 {
        d.push('F');
    }
    hex::decode(&d).map_err(|e| HospitalError::Setup(e.to_string()))
}

/// The EXTERNAL AUTHENTICATE cryptogram: the challenge right-padded with zeros to one block,
/// encrypted under the card's key.
pub fn cryptogram(key: &HostKey, challenge: &[u8]) -> Vec<u8> {
    let mut b = challenge.to_vec();
    b.resize(key.alg.block(), 0);
    key.encrypt(&mut b);
    b
}

/// A command with a line-protection MAC: `CLA INS P1 P2 Lc data ‖ MAC` where the MAC covers
/// `CLA INS P1 P2 Lc data` (Lc counting the MAC), IV = the challenge padded with zeros.
pub fn with_mac(
    key: &HostKey,
    challenge: &[u8],
    header: [u8; 4],
    data: &[u8],
    le: Option<u8>,
) -> Vec<u8> {
    let lc = (data.len() + 4) as u8;
    let mut mac_input = header.to_vec();
    mac_input.push(lc);
    mac_input.extend_from_slice(data);
    let mut iv = challenge.to_vec();
    iv.resize(key.alg.block(), 0);
    let mac = key.mac4(&iv, &mac_input);
    let mut body = data.to_vec();
    body.extend_from_slice(&mac);
    apdu(header[0], header[1], header[2], header[3], &body, le)
}

/// The text of an `an` value.
fn an(v: &[u8]) -> String {
    String::from_utf8_lossy(element::trim_text(v)).into_owned()
}

/// The text of a GBK value.
fn gbk(v: &[u8]) -> String {
    encoding_rs::GBK
        .decode(element::trim_text(v))
        .0
        .into_owned()
}

/// The digits of a `cn` value.
fn cn(v: &[u8]) -> String {
    let mut out = vec![0u8; v.len() * 2];
    match element::cn_digits(v, &mut out) {
        Some(n) => String::from_utf8_lossy(&out[..n]).into_owned(),
        None => hex::encode_upper(v),
    }
}

/// Decode an element's value for humans by its coding.
pub fn display_value(tag: Tag, value: &[u8]) -> String {
    match element::definition(tag).map(|d| d.coding) {
        Some(Coding::An) => an(value),
        Some(Coding::Gbk) => gbk(value),
        Some(Coding::Cn) => cn(value),
        _ => hex::encode_upper(value),
    }
}

/// Elements of a list of records (one element a record).
fn elements_of(step: &'static str, records: &[Vec<u8>]) -> Result<Vec<(Tag, Vec<u8>)>> {
    records
        .iter()
        .map(|r| {
            element::parse(r)
                .map(|(e, _)| (e.tag, e.value.to_vec()))
                .map_err(|e| HospitalError::Malformed {
                    step,
                    why: format!("{e:?}"),
                })
        })
        .collect()
}

fn value_of<'a>(step: &'static str, els: &'a [(Tag, Vec<u8>)], tag: Tag) -> Result<&'a [u8]> {
    els.iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, v)| v.as_slice())
        .ok_or_else(|| HospitalError::Malformed {
            step,
            why: format!("no element {:02X}", tag.0),
        })
}

impl SocialInsuranceTerminal {
    /// A terminal in `role` holding every social-insurance master key the profile has.
    pub fn new(p: &Profile, role: Role) -> SocialInsuranceTerminal {
        use key_names::*;
        let mut masters = std::collections::BTreeMap::new();
        for name in [
            ISSUER,
            ORGANISATION,
            EMPLOYMENT,
            INTERNAL,
            UPDATE,
            PIN_RELOAD,
            MEDICAL,
            MEDICAL_UPDATE,
            RECEIPT,
        ] {
            if let Some(k) = p.master_key(name) {
                masters.insert(name, k);
            }
        }
        SocialInsuranceTerminal {
            role,
            masters,
            institution: [0x33, 0x04, 0x02, 0x00, 0x00, 0x01],
            terminal_id: [0x00, 0x00, 0x00, 0x00, 0x00, 0x01],
        }
    }

    /// A hospital terminal.
    pub fn hospital(p: &Profile) -> SocialInsuranceTerminal {
        SocialInsuranceTerminal::new(p, Role::Hospital)
    }

    /// The issuing agency's counter.
    pub fn agency(p: &Profile) -> SocialInsuranceTerminal {
        SocialInsuranceTerminal::new(p, Role::Agency)
    }

    /// Replace (or remove) one master key, e.g. to model a terminal with the wrong keys.
    pub fn set_master(&mut self, name: &'static str, key: Option<HostKey>) {
        match key {
            Some(k) => self.masters.insert(name, k),
            None => self.masters.remove(name),
        };
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    fn master(&self, name: &'static str) -> Result<&HostKey> {
        self.masters
            .get(name)
            .ok_or_else(|| HospitalError::Setup(format!("no master key `{name}`")))
    }

    /// A card is inserted: reset it (nothing proved by an earlier session survives), select the
    /// DDF, read the card identification and check the card is genuine (INTERNAL AUTHENTICATE
    /// against the diversified internal key). The card must not be expired on `today`
    /// (`YYYYMMDD`), when given.
    pub fn open<'c>(&'c self, card: &'c mut SimCard, today: Option<&str>) -> Result<Session<'c>> {
        card.reset()
            .map_err(|e| HospitalError::Setup(format!("the card does not power up: {e}")))?;
        let mut s = Session {
            terminal: self,
            card,
            asn8: [0; 8],
            identification: None,
            in_medical: false,
        };
        s.select_ddf()?;
        let id = s.read_identification()?;
        if let Some(today) = today {
            if id.expiry_date.as_str() < today {
                return Err(HospitalError::Expired(id.expiry_date));
            }
        }
        s.verify_genuine()?;
        Ok(s)
    }

    /// A whole hospital visit: open (genuine, not expired on the bill's date), PIN, terminal
    /// authentication, holder data, medical data (insured), settlement, read-back.
    pub fn visit(&self, card: &mut SimCard, pin: &str, bill: &Settlement) -> Result<Visit> {
        let date = hex::encode(&bill.when.bytes()[..4]);
        let mut s = self.open(card, Some(&date))?;
        s.verify_pin(pin)?;
        s.authenticate()?;
        let holder = s.read_holder()?;
        s.select_medical()?;
        s.authenticate()?;
        let medical = s.read_medical()?;
        if medical.status != "1" {
            return Err(HospitalError::NotInsured(medical.status));
        }
        let settlement = s.settle(bill)?;
        let card = s
            .identification
            .clone()
            .ok_or(HospitalError::Mismatch("card"))?;
        Ok(Visit {
            card,
            holder,
            medical,
            settlement,
        })
    }
}

/// The terminal working with one card.
pub struct Session<'c> {
    terminal: &'c SocialInsuranceTerminal,
    card: &'c mut SimCard,
    asn8: [u8; 8],
    identification: Option<CardIdentification>,
    in_medical: bool,
}

impl Session<'_> {
    /// The card (for raw commands).
    pub fn card(&mut self) -> &mut SimCard {
        self.card
    }

    /// The card identification read at opening.
    pub fn identification(&self) -> Option<&CardIdentification> {
        self.identification.as_ref()
    }

    /// A master key diversified for this card.
    pub fn card_key(&self, name: &'static str) -> Result<HostKey> {
        Ok(diversify(self.terminal.master(name)?, &self.asn8))
    }

    /// SELECT the DDF by name (6A82: no social-insurance application).
    pub fn select_ddf(&mut self) -> Result<()> {
        let sel = apdu(0x00, 0xA4, 0x04, 0x00, DDF_NAME, Some(0x00));
        match exchange(self.card, "SELECT sx1.sh.社会保障", &sel)? {
            (_, 0x6A82) => Err(HospitalError::NoSocialInsurance),
            (fci, 0x9000) => {
                self.in_medical = false;
                if fci.first() != Some(&0x6F) {
                    return Err(HospitalError::Malformed {
                        step: "SELECT sx1.sh.社会保障",
                        why: "no FCI".into(),
                    });
                }
                Ok(())
            }
            (_, sw) => Err(HospitalError::Refused {
                step: "SELECT sx1.sh.社会保障",
                sw,
            }),
        }
    }

    /// SELECT the medical-insurance DF by its AID.
    pub fn select_medical(&mut self) -> Result<()> {
        let sel = apdu(0x00, 0xA4, 0x04, 0x0C, MEDICAL_AID, None);
        match exchange(self.card, "SELECT medical insurance", &sel)? {
            (_, 0x6A82) => Err(HospitalError::NoMedicalInsurance),
            (_, 0x9000) => {
                self.in_medical = true;
                Ok(())
            }
            (_, sw) => Err(HospitalError::Refused {
                step: "SELECT medical insurance",
                sw,
            }),
        }
    }

    /// Every record of a linear record EF of the current DF (READ RECORD until 6A83).
    pub fn read_records(&mut self, step: &'static str, sfi: u8) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for n in 1..=u8::MAX {
            match exchange(
                self.card,
                step,
                &apdu(0x00, 0xB2, n, (sfi << 3) | 0x04, &[], Some(0x00)),
            )? {
                (data, 0x9000) => out.push(data),
                (_, 0x6A83) => break,
                (_, sw) => return Err(HospitalError::Refused { step, sw }),
            }
        }
        Ok(out)
    }

    /// READ RECORD every element of EF05 and decode the card identification; the ASN in the
    /// identification code becomes the diversification input.
    pub fn read_identification(&mut self) -> Result<CardIdentification> {
        const STEP: &str = "READ RECORD EF05";
        let recs = self.read_records(STEP, ddf::CARD_IDENTIFICATION)?;
        let els = elements_of(STEP, &recs)?;
        let code = an(value_of(STEP, &els, Tag::CARD_IDENTIFICATION_CODE)?);
        // 卡识别码 = region (6) ‖ "D156" ‖ ASN (hex digits) ‖ padding.
        let asn = code
            .get(10..)
            .and_then(|h| hex::decode(h).ok())
            .filter(|a| a.len() >= 8)
            .ok_or_else(|| HospitalError::Malformed {
                step: STEP,
                why: "the identification code holds no ASN".into(),
            })?;
        self.asn8.copy_from_slice(&asn[asn.len() - 8..]);
        let card_type = *value_of(STEP, &els, Tag::CARD_TYPE)?
            .first()
            .ok_or_else(|| HospitalError::Malformed {
                step: STEP,
                why: "empty card type".into(),
            })?;
        let id = CardIdentification {
            identification_code: code,
            card_type,
            spec_version: an(value_of(STEP, &els, Tag::SPECIFICATION_VERSION)?),
            issuer: an(value_of(STEP, &els, Tag::ISSUING_ORGANISATION)?),
            issue_date: cn(value_of(STEP, &els, Tag::ISSUE_DATE)?),
            expiry_date: cn(value_of(STEP, &els, Tag::EXPIRY_DATE)?),
            card_number: an(value_of(STEP, &els, Tag::CARD_NUMBER)?),
            asn,
        };
        self.identification = Some(id.clone());
        Ok(id)
    }

    /// INTERNAL AUTHENTICATE with a fresh random: the card must answer its encryption under the
    /// diversified internal-authentication key.
    pub fn verify_genuine(&mut self) -> Result<()> {
        let key = self.card_key(key_names::INTERNAL)?;
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).map_err(|e| HospitalError::Setup(e.to_string()))?;
        let answer = ok(
            self.card,
            "INTERNAL AUTHENTICATE",
            &apdu(0x00, 0x88, 0x00, 0x00, &rnd, Some(0x00)),
        )?;
        let mut expect = rnd.to_vec();
        key.encrypt_ecb(&mut expect);
        if answer != expect {
            return Err(HospitalError::NotGenuine);
        }
        Ok(())
    }

    /// VERIFY the holder's PIN.
    pub fn verify_pin(&mut self, pin: &str) -> Result<()> {
        let p = pin_bytes(pin)?;
        match exchange(self.card, "VERIFY", &apdu(0x00, 0x20, 0x00, 0x00, &p, None))? {
            (_, 0x9000) => Ok(()),
            (_, 0x6983) => Err(HospitalError::PinBlocked),
            (_, sw) if sw & 0xFFF0 == 0x63C0 => Err(HospitalError::WrongPin((sw & 0x0F) as u8)),
            (_, sw) => Err(HospitalError::Refused { step: "VERIFY", sw }),
        }
    }

    /// GET CHALLENGE (4 bytes).
    pub fn challenge(&mut self) -> Result<Vec<u8>> {
        let c = ok(
            self.card,
            "GET CHALLENGE",
            &apdu(0x00, 0x84, 0x00, 0x00, &[], Some(0x04)),
        )?;
        if c.len() != 4 {
            return Err(HospitalError::Malformed {
                step: "GET CHALLENGE",
                why: format!("{} bytes", c.len()),
            });
        }
        Ok(c)
    }

    /// The key id and master key of this terminal's role in the current DF.
    fn auth_key(&self, medical_df: bool) -> Result<(u8, &'static str)> {
        Ok(match (self.terminal.role, medical_df) {
            (Role::Hospital, false) => (0x01, key_names::ORGANISATION),
            (Role::Hospital, true) => (0x01, key_names::MEDICAL),
            (Role::Agency, _) => (0x00, key_names::ISSUER),
            (Role::EmploymentOffice, false) => (0x02, key_names::EMPLOYMENT),
            (Role::EmploymentOffice, true) => {
                return Err(HospitalError::Setup(
                    "an employment office has no key for the medical DF".into(),
                ))
            }
        })
    }

    /// EXTERNAL AUTHENTICATE with the role's key in the DF last selected through this session.
    pub fn authenticate(&mut self) -> Result<()> {
        let (id, name) = self.auth_key(self.in_medical)?;
        let key = self.card_key(name)?;
        let c = self.challenge()?;
        let crypt = cryptogram(&key, &c);
        ok(
            self.card,
            "EXTERNAL AUTHENTICATE",
            &apdu(0x00, 0x82, 0x00, id, &crypt, None),
        )?;
        Ok(())
    }

    /// READ RECORD EF06 and decode the holder (name and birthplace from GBK).
    pub fn read_holder(&mut self) -> Result<Holder> {
        const STEP: &str = "READ RECORD EF06";
        let recs = self.read_records(STEP, ddf::HOLDER)?;
        let els = elements_of(STEP, &recs)?;
        Ok(Holder {
            social_security_number: an(value_of(STEP, &els, Tag::SOCIAL_SECURITY_NUMBER)?),
            name: gbk(value_of(STEP, &els, Tag::NAME)?),
            sex: an(value_of(STEP, &els, Tag::SEX)?),
            ethnicity: an(value_of(STEP, &els, Tag::ETHNICITY)?),
            birthplace: gbk(value_of(STEP, &els, Tag::BIRTHPLACE)?),
            date_of_birth: cn(value_of(STEP, &els, Tag::DATE_OF_BIRTH)?),
        })
    }

    /// READ RECORD EF09 (employment and insurance data).
    pub fn read_employment(&mut self) -> Result<Employment> {
        const STEP: &str = "READ RECORD EF09";
        let recs = self.read_records(STEP, ddf::EMPLOYMENT)?;
        let els = elements_of(STEP, &recs)?;
        Ok(Employment {
            employer_code: an(value_of(STEP, &els, Tag::EMPLOYER_CODE)?),
            employer_name: gbk(value_of(STEP, &els, Tag::EMPLOYER_NAME)?),
            category: an(value_of(STEP, &els, Tag::PERSONNEL_CATEGORY)?),
            insurance_types: an(value_of(STEP, &els, Tag::INSURANCE_TYPES)?),
            first_insured: cn(value_of(STEP, &els, Tag::FIRST_INSURED)?),
        })
    }

    /// READ RECORD EF05 of the medical DF.
    pub fn read_medical(&mut self) -> Result<MedicalInfo> {
        const STEP: &str = "READ RECORD medical EF05";
        let recs = self.read_records(STEP, medical::BASIC)?;
        let els = elements_of(STEP, &recs)?;
        Ok(MedicalInfo {
            region: cn(value_of(STEP, &els, Tag::INSURED_REGION)?),
            category: an(value_of(STEP, &els, Tag::MEDICAL_CATEGORY)?),
            status: an(value_of(STEP, &els, Tag::INSURED_STATUS)?),
            institution: cn(value_of(STEP, &els, Tag::DESIGNATED_INSTITUTION)?),
            account_number: an(value_of(STEP, &els, Tag::MEDICAL_ACCOUNT_NUMBER)?),
        })
    }

    /// GET DATA: one element's value.
    pub fn get_data(&mut self, tag: Tag) -> Result<Vec<u8>> {
        let r = ok(
            self.card,
            "GET DATA",
            &apdu(0x00, 0xCA, 0x00, tag.0, &[], Some(0x00)),
        )?;
        match element::parse(&r) {
            Ok((e, rest)) if e.tag == tag && rest.is_empty() => Ok(e.value.to_vec()),
            _ => Err(HospitalError::Malformed {
                step: "GET DATA",
                why: hex::encode_upper(&r),
            }),
        }
    }

    /// GET DATA `30`: the account summary of the medical DF.
    pub fn account(&mut self) -> Result<AccountSummary> {
        let v = self.get_data(Tag::ACCOUNT_SUMMARY)?;
        AccountSummary::parse(&v).map_err(|e| HospitalError::Malformed {
            step: "GET DATA 30",
            why: format!("{e:?}"),
        })
    }

    /// SETTLE (medical DF, after the hospital authenticated): the record under a MAC, the
    /// receipt checked, the record read back and compared, the account returned.
    pub fn settle(&mut self, bill: &Settlement) -> Result<SettlementReceipt> {
        let mut s = *bill;
        s.institution = self.terminal.institution;
        s.terminal = self.terminal.terminal_id;
        let key = self.card_key(key_names::MEDICAL_UPDATE)?;
        let c = self.challenge()?;
        let cmd = with_mac(
            &key,
            &c,
            [0x84, INS_SETTLE.0, 0x00, 0x00],
            &s.encode(),
            Some(0x06),
        );
        let r = ok(self.card, "SETTLE", &cmd)?;
        let [n1, n2, m0, m1, m2, m3] = r[..] else {
            return Err(HospitalError::Malformed {
                step: "SETTLE",
                why: format!("{} bytes", r.len()),
            });
        };
        let number = u16::from_be_bytes([n1, n2]);
        let receipt = [m0, m1, m2, m3];
        let sent = SettlementRecord {
            number,
            settlement: s,
        };
        if self.terminal.masters.contains_key(key_names::RECEIPT) {
            let rk = self.card_key(key_names::RECEIPT)?;
            if rk.mac4(&vec![0u8; rk.alg.block()], &sent.encode()) != receipt {
                return Err(HospitalError::Mismatch("the settlement receipt"));
            }
        }
        let back = ok(
            self.card,
            "READ RECORD EF07",
            &apdu(
                0x00,
                0xB2,
                0x01,
                (medical::SETTLEMENTS << 3) | 0x04,
                &[],
                Some(0x00),
            ),
        )?;
        if back.len() != SETTLEMENT_RECORD_LEN || back != sent.encode() {
            return Err(HospitalError::Mismatch("the settlement record read back"));
        }
        let account = self.account()?;
        if account.counter != number || account.last != s.when.bytes() {
            return Err(HospitalError::Mismatch("the account after settlement"));
        }
        Ok(SettlementReceipt {
            number,
            receipt,
            record: sent,
            account,
        })
    }

    /// Every settlement record of the medical DF, newest first.
    pub fn settlements(&mut self) -> Result<Vec<SettlementRecord>> {
        const STEP: &str = "READ RECORD EF07";
        self.read_records(STEP, medical::SETTLEMENTS)?
            .iter()
            .map(|r| {
                SettlementRecord::parse(r).map_err(|e| HospitalError::Malformed {
                    step: STEP,
                    why: format!("{e:?}"),
                })
            })
            .collect()
    }

    /// UPDATE RECORD one element of the current DF, MAC'd with that DF's update key. The value is
    /// padded to the element's length with `00`.
    pub fn update_element(&mut self, tag: Tag, value: &[u8]) -> Result<()> {
        const STEP: &str = "UPDATE RECORD";
        let def = element::definition(tag)
            .ok_or_else(|| HospitalError::Setup(format!("unknown element {:02X}", tag.0)))?;
        let sfi = def.location.sfi;
        let recs = self.read_records("READ RECORD", sfi)?;
        let els = elements_of("READ RECORD", &recs)?;
        let n = els
            .iter()
            .position(|(t, _)| *t == tag)
            .ok_or_else(|| HospitalError::Setup(format!("no element {:02X} on the card", tag.0)))?;
        let mut v = value.to_vec();
        if v.len() > usize::from(def.len) {
            return Err(HospitalError::Setup(format!(
                "{} bytes do not fit element {:02X}",
                v.len(),
                tag.0
            )));
        }
        v.resize(usize::from(def.len), 0x00);
        let mut el = vec![0u8; v.len() + 4];
        let len =
            element::write(tag, &v, &mut el).map_err(|e| HospitalError::Setup(format!("{e:?}")))?;
        el.truncate(len);
        let key = self.card_key(if self.in_medical {
            key_names::MEDICAL_UPDATE
        } else {
            key_names::UPDATE
        })?;
        let c = self.challenge()?;
        let cmd = with_mac(
            &key,
            &c,
            [0x04, 0xDC, n as u8 + 1, (sfi << 3) | 0x04],
            &el,
            None,
        );
        ok(self.card, STEP, &cmd)?;
        Ok(())
    }

    /// Write the holder's photo into EF08 (the agency, authenticated): element `0F` in MAC'd
    /// UPDATE BINARY chunks.
    pub fn enrol_photo(&mut self, jpeg: &[u8]) -> Result<()> {
        let mut el = vec![0u8; jpeg.len() + 4];
        let n = element::write(Tag::PHOTO, jpeg, &mut el)
            .map_err(|e| HospitalError::Setup(format!("{e:?}")))?;
        el.truncate(n);
        let key = self.card_key(key_names::UPDATE)?;
        // SELECT with the FCP: the file size (tag 80) bounds the photo.
        let fcp = ok(
            self.card,
            "SELECT EF08",
            &apdu(0x00, 0xA4, 0x02, 0x04, &[0x00, ddf::PHOTO], Some(0x00)),
        )?;
        let size = fcp
            .windows(4)
            .find(|w| w[0] == 0x80 && w[1] == 0x02)
            .map(|w| usize::from(u16::from_be_bytes([w[2], w[3]])))
            .ok_or_else(|| HospitalError::Malformed {
                step: "SELECT EF08",
                why: "no file size in the FCP".into(),
            })?;
        if el.len() > size {
            return Err(HospitalError::Setup(format!(
                "a photo of {} bytes does not fit EF08 ({size} bytes)",
                jpeg.len()
            )));
        }
        for (k, chunk) in el.chunks(0xF0).enumerate() {
            let off = (k * 0xF0) as u16;
            let [p1, p2] = off.to_be_bytes();
            let c = self.challenge()?;
            let cmd = with_mac(&key, &c, [0x04, 0xD6, p1, p2], chunk, None);
            ok(self.card, "UPDATE BINARY EF08", &cmd)?;
        }
        Ok(())
    }

    /// Read the photo (EF08); empty when none was enrolled.
    pub fn read_photo(&mut self) -> Result<Vec<u8>> {
        const STEP: &str = "READ BINARY EF08";
        ok(
            self.card,
            "SELECT EF08",
            &apdu(0x00, 0xA4, 0x02, 0x0C, &[0x00, ddf::PHOTO], None),
        )?;
        let mut body = ok(
            self.card,
            STEP,
            &apdu(0x00, 0xB0, 0x00, 0x00, &[], Some(0x04)),
        )?;
        let total = match body[..] {
            [_, 0xFF, hi, lo] => 4 + usize::from(u16::from_be_bytes([hi, lo])),
            [_, l, ..] => 2 + usize::from(l),
            _ => {
                return Err(HospitalError::Malformed {
                    step: STEP,
                    why: "short".into(),
                })
            }
        };
        while body.len() < total {
            let off = body.len() as u16;
            let want = (total - body.len()).min(0xF0) as u8;
            let [p1, p2] = off.to_be_bytes();
            body.extend(ok(
                self.card,
                STEP,
                &apdu(0x00, 0xB0, p1, p2, &[], Some(want)),
            )?);
        }
        body.truncate(total);
        match element::parse(&body) {
            Ok((e, _)) if e.tag == Tag::PHOTO => Ok(e.value.to_vec()),
            _ => Err(HospitalError::Malformed {
                step: STEP,
                why: "no photo element".into(),
            }),
        }
    }

    /// CHANGE PIN by the holder (old ‖ FF ‖ new).
    pub fn change_pin(&mut self, old: &str, new: &str) -> Result<()> {
        let mut d = pin_bytes(old)?;
        d.push(0xFF);
        d.extend(pin_bytes(new)?);
        match exchange(
            self.card,
            "CHANGE PIN",
            &apdu(0x80, 0x5E, 0x01, 0x00, &d, None),
        )? {
            (_, 0x9000) => Ok(()),
            (_, 0x6983) => Err(HospitalError::PinBlocked),
            (_, sw) if sw & 0xFFF0 == 0x63C0 => Err(HospitalError::WrongPin((sw & 0x0F) as u8)),
            (_, sw) => Err(HospitalError::Refused {
                step: "CHANGE PIN",
                sw,
            }),
        }
    }

    /// RELOAD PIN by the issuing agency (after its external authentication): the new PIN and a
    /// MAC over it under the diversified PIN-reload key (zero IV).
    pub fn reload_pin(&mut self, new: &str) -> Result<()> {
        let key = self.card_key(key_names::PIN_RELOAD)?;
        let p = pin_bytes(new)?;
        let mac = key.mac4(&vec![0u8; key.alg.block()], &p);
        let mut d = p;
        d.extend_from_slice(&mac);
        ok(
            self.card,
            "RELOAD PIN",
            &apdu(0x80, 0x5E, 0x00, 0x00, &d, None),
        )?;
        Ok(())
    }
}

/// One line for `cos-sim info`: the medical account, read straight from the file table.
pub fn describe(s: &dyn cos_core::nvm::Storage) -> Option<String> {
    use cos_core::fs::{self, FileKind};
    let header = fs::read_header(s).ok()?;
    let (df, _) = fs::find(s, header.slots, 0, |_, e| {
        e.kind == FileKind::Dedicated && e.df_name() == MEDICAL_AID
    })
    .ok()??;
    let (_, acc) = fs::child_by_sfi(s, header.slots, df, medical::ACCOUNT).ok()??;
    let mut b = [0u8; social_insurance::layout::ACCOUNT_FILE_LEN];
    fs::read_body(s, &acc, 0, &mut b).ok()?;
    let a = AccountSummary::parse(&b).ok()?;
    Some(if a.counter == 0 {
        "medical insurance: no settlement yet".to_string()
    } else {
        format!(
            "medical insurance: {} settlements in {}, {:.2} yuan ({:.2} by the fund, {:.2} from the account, {:.2} cash), {} in all",
            a.visits,
            hex::encode(a.year),
            f64::from(a.total.0) / 100.0,
            f64::from(a.fund.0) / 100.0,
            f64::from(a.account.0) / 100.0,
            f64::from(a.cash.0) / 100.0,
            a.counter
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostcrypto::HostAlg;

    #[test]
    fn pins_and_apdus() {
        assert_eq!(pin_bytes("123456").unwrap(), vec![0x12, 0x34, 0x56]);
        assert_eq!(pin_bytes("12345").unwrap(), vec![0x12, 0x34, 0x5F]);
        assert!(pin_bytes("12a4").is_err());
        assert_eq!(
            apdu(0x00, 0xB2, 1, 0x2C, &[], Some(0)),
            vec![0x00, 0xB2, 0x01, 0x2C, 0x00]
        );
        let k = HostKey::new(HostAlg::Tdes, &[0x11; 16]).unwrap();
        let a = with_mac(&k, &[1, 2, 3, 4], [0x04, 0xDC, 1, 0x2C], &[9, 9], None);
        assert_eq!(&a[..7], &[0x04, 0xDC, 0x01, 0x2C, 0x06, 9, 9]);
        assert_eq!(a.len(), 11);
        assert_eq!(cryptogram(&k, &[1, 2, 3, 4]).len(), 8);
    }

    #[test]
    fn value_display() {
        assert_eq!(
            display_value(Tag::NAME, &[0xD5, 0xC5, 0xC8, 0xFD, 0, 0]),
            "张三"
        );
        assert_eq!(
            display_value(Tag::ISSUE_DATE, &[0x20, 0x26, 0x01, 0x01]),
            "20260101"
        );
        assert_eq!(display_value(Tag::CARD_NUMBER, b"A1\0"), "A1");
        assert_eq!(display_value(Tag::CARD_TYPE, &[1]), "01");
    }
}
