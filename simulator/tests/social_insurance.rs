//! The social-insurance application on a personalised card, end to end: the hospital terminal's
//! visit, every refusal with its exact status word, PIN change and reload, forged cards, the three
//! card types, power loss during a settlement, and property tests over random access sequences
//! against a host-side model of the authorisation state.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use cos_core::nvm::TearMode;
use cos_core::SeededRng;
use cos_sim::card::{CardRng, SimCard, SimNvm};
use cos_sim::demo::blank_card;
use cos_sim::hostcrypto::{diversify, HostKey};
use cos_sim::perso;
use cos_sim::profile::Profile;
use cos_sim::terminals::hospital::{
    cryptogram, key_names, with_mac, HospitalError, Role, SocialInsuranceTerminal,
};
use cos_sim::terminals::purse::apdu;
use proptest::prelude::*;
use social_insurance::element::{self, Tag};
use social_insurance::layout::SETTLEMENT_RECORD_LEN;
use social_insurance::{
    AccountSummary, DateTime, Fen, Settlement, SettlementRecord, VisitType, DDF_NAME, MEDICAL_AID,
};
use std::sync::OnceLock;

const PROFILE: &str = include_str!("../../profiles/citizen-card.toml");
const PIN: &str = "123456";

// ---------------------------------------------------------------------------------------------
// Cards

fn profile_from(text: &str) -> Profile {
    Profile::parse("p.toml", text).unwrap()
}

fn profile() -> &'static Profile {
    static P: OnceLock<Profile> = OnceLock::new();
    P.get_or_init(|| profile_from(PROFILE))
}

fn personalise(p: &Profile) -> SimCard {
    let mut c = blank_card(p).unwrap();
    perso::script(p).unwrap().run(&mut c).unwrap();
    c.take_trace();
    c
}

/// The default citizen card, personalised once per test binary and copied for each test.
fn citizen_image() -> &'static [u8] {
    static IMG: OnceLock<Vec<u8>> = OnceLock::new();
    IMG.get_or_init(|| personalise(profile()).image().bytes)
}

fn citizen_card(seed: u64) -> SimCard {
    let mut c = SimCard::from_nvm(
        SimNvm::from_bytes(citizen_image()),
        CardRng::Seeded(SeededRng::new(seed)),
    )
    .unwrap();
    c.set_tracing(false);
    c
}

/// A card driven with raw APDUs; host cryptography from `hostcrypto` and the profile's masters.
struct Si {
    card: SimCard,
    asn8: [u8; 8],
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

impl Si {
    fn new(seed: u64) -> Si {
        Si {
            card: citizen_card(seed),
            asn8: profile().diversification_input(),
        }
    }

    fn tx(&mut self, a: &[u8]) -> (Vec<u8>, u16) {
        self.card.exchange(a).expect("the card answers")
    }

    fn sw(&mut self, a: &[u8]) -> u16 {
        self.tx(a).1
    }

    #[track_caller]
    fn ok(&mut self, a: &[u8]) -> Vec<u8> {
        let (d, sw) = self.tx(a);
        assert_eq!(sw, 0x9000, "{} answered {sw:04X}", hex::encode_upper(a));
        d
    }

    fn key(&self, master: &str) -> HostKey {
        diversify(&profile().master_key(master).unwrap(), &self.asn8)
    }

    fn image(&self) -> Vec<u8> {
        self.card.image().bytes
    }

    fn select_ddf(&mut self) -> u16 {
        self.sw(&apdu(0x00, 0xA4, 0x04, 0x0C, DDF_NAME, None))
    }

    fn select_medical(&mut self) -> u16 {
        self.sw(&apdu(0x00, 0xA4, 0x04, 0x0C, MEDICAL_AID, None))
    }

    fn challenge(&mut self) -> Vec<u8> {
        self.ok(&apdu(0x00, 0x84, 0x00, 0x00, &[], Some(4)))
    }

    fn ext_auth(&mut self, id: u8, master: &str) -> u16 {
        let k = self.key(master);
        let c = self.challenge();
        self.sw(&apdu(0x00, 0x82, 0x00, id, &cryptogram(&k, &c), None))
    }

    fn ext_auth_wrong(&mut self, id: u8) -> u16 {
        let _ = self.challenge();
        self.sw(&apdu(0x00, 0x82, 0x00, id, &[0xA5; 8], None))
    }

    fn verify(&mut self, pin: &str) -> u16 {
        let p = cos_sim::terminals::hospital::pin_bytes(pin).unwrap();
        self.sw(&apdu(0x00, 0x20, 0x00, 0x00, &p, None))
    }

    /// A MAC'd command built on a fresh challenge.
    fn mac_cmd(&mut self, master: &str, header: [u8; 4], data: &[u8], le: Option<u8>) -> Vec<u8> {
        let k = self.key(master);
        let c = self.challenge();
        with_mac(&k, &c, header, data, le)
    }

    fn read_record(&mut self, sfi: u8, n: u8) -> (Vec<u8>, u16) {
        self.tx(&apdu(0x00, 0xB2, n, (sfi << 3) | 4, &[], Some(0)))
    }

    fn get_data(&mut self, tag: u8) -> (Vec<u8>, u16) {
        self.tx(&apdu(0x00, 0xCA, 0x00, tag, &[], Some(0)))
    }

    /// Send `a` and require `want` with the card's NVM unchanged.
    #[track_caller]
    fn refuse(&mut self, a: &[u8], want: u16) {
        let before = self.image();
        let sw = self.sw(a);
        assert_eq!(sw, want, "{} answered {sw:04X}", hex::encode_upper(a));
        assert!(before == self.image(), "a refused command changed the card");
    }
}

fn elem(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; value.len() + 4];
    let n = element::write(Tag(tag), value, &mut b).unwrap();
    b.truncate(n);
    b
}

fn padded(s: &[u8], len: usize) -> Vec<u8> {
    let mut v = s.to_vec();
    v.resize(len, 0);
    v
}

fn bill(day: u8, hour: u8, total: u32, account: u32) -> Settlement {
    Settlement {
        when: DateTime::new([0x20, 0x26, 0x03, day, hour, 0x15, 0x00]).unwrap(),
        institution: [0x33, 0x04, 0x02, 0x00, 0x00, 0x01],
        terminal: [0, 0, 0, 0, 0, 1],
        visit: VisitType::Outpatient,
        total: Fen(total),
        fund: Fen(total - account),
        account: Fen(account),
        cash: Fen(0),
    }
}

fn settle_cmd(si: &mut Si, s: &Settlement) -> Vec<u8> {
    si.mac_cmd(
        key_names::MEDICAL_UPDATE,
        [0x84, 0x4C, 0x00, 0x00],
        &s.encode(),
        Some(6),
    )
}

// ---------------------------------------------------------------------------------------------
// The hospital visit

#[test]
fn hospital_visit_end_to_end() {
    let mut card = citizen_card(1);
    let t = SocialInsuranceTerminal::hospital(profile());
    let v = t
        .visit(&mut card, PIN, &bill(0x15, 0x09, 12_345, 2_000))
        .unwrap();
    assert_eq!(v.card.card_type, 0x01);
    assert_eq!(v.card.spec_version, "3.00");
    assert_eq!(v.card.card_number, "A00000001");
    assert_eq!(v.card.expiry_date, "20351231");
    assert_eq!(v.card.asn, h("31000000000000000001"));
    assert_eq!(v.holder.name, "张三", "GBK name decoded");
    assert_eq!(v.holder.birthplace, "浙江嘉兴");
    assert_eq!(v.holder.social_security_number, "330402199001011234");
    assert_eq!(
        (v.holder.sex.as_str(), v.holder.date_of_birth.as_str()),
        ("1", "19900101")
    );
    assert_eq!(
        (v.medical.status.as_str(), v.medical.region.as_str()),
        ("1", "330400")
    );
    assert_eq!(v.settlement.number, 1);
    let a = v.settlement.account;
    assert_eq!(
        (a.year, a.total, a.account, a.fund, a.visits, a.counter),
        ([0x20, 0x26], Fen(12_345), Fen(2_000), Fen(10_345), 1, 1)
    );
    // A second visit the same year accumulates; the first record moves to #2.
    let v2 = t
        .visit(&mut card, PIN, &bill(0x16, 0x10, 500, 500))
        .unwrap();
    assert_eq!(v2.settlement.number, 2);
    assert_eq!(v2.settlement.account.total, Fen(12_845));
    let mut s = t.open(&mut card, None).unwrap();
    s.select_medical().unwrap();
    s.authenticate().unwrap();
    let log = s.settlements().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!((log[0].number, log[1].number), (2, 1));
    assert_eq!(log[1], v.settlement.record);
    // The settlement in a new year starts that year's totals.
    let mut next_year = bill(0x01, 0x08, 100, 0);
    next_year.when = DateTime::new([0x20, 0x27, 0x01, 0x02, 0x08, 0, 0]).unwrap();
    let v3 = t.visit(&mut card, PIN, &next_year).unwrap();
    let a = v3.settlement.account;
    assert_eq!(
        (a.year, a.total, a.visits, a.counter),
        ([0x20, 0x27], Fen(100), 1, 3)
    );
    let info = cos_sim::info::describe(&card);
    assert!(
        info.contains("medical insurance: 1 settlements in 2027"),
        "{info}"
    );
}

#[test]
fn fci_and_get_data() {
    let mut si = Si::new(2);
    let (fci, sw) = si.tx(&apdu(0x00, 0xA4, 0x04, 0x00, DDF_NAME, Some(0)));
    assert_eq!(sw, 0x9000);
    let mut want = vec![0x84, DDF_NAME.len() as u8];
    want.extend_from_slice(DDF_NAME);
    want.extend(h(
        "A5 19 9F08 02 0100 C1 09 413030303030303031 C2 01 01 C3 04 332E3030",
    ));
    let mut tlv = vec![0x6F, want.len() as u8];
    tlv.extend(want);
    assert_eq!(fci, tlv);
    // Free elements by tag; protected ones need the PIN or a terminal.
    assert_eq!(si.get_data(0x07), (elem(0x07, b"A00000001"), 0x9000));
    assert_eq!(si.get_data(0x09).1, 0x6982);
    assert_eq!(si.get_data(0x11).1, 0x6982);
    assert_eq!(si.get_data(0x77).1, 0x6A88);
    assert_eq!(
        si.get_data(0x30).1,
        0x6A88,
        "the account lives in the medical DF"
    );
    assert_eq!(si.sw(&h("00CA010900")), 0x6A86);
    assert_eq!(si.sw(&h("04CA000900")), 0x6882);
    assert_eq!(si.verify(PIN), 0x9000);
    let (el, sw) = si.get_data(0x09);
    assert_eq!(sw, 0x9000);
    assert_eq!(el, elem(0x09, &padded(&[0xD5, 0xC5, 0xC8, 0xFD], 30)));
    // The medical DF: its own FCI, its own elements; SETTLE belongs to it alone.
    let (fci, sw) = si.tx(&apdu(0x00, 0xA4, 0x04, 0x00, MEDICAL_AID, Some(0)));
    assert_eq!(sw, 0x9000);
    assert_eq!(fci, h("6F0F 8406 D15600000503 A505 9F08020100"));
    assert_eq!(si.get_data(0x09).1, 0x6A88);
    assert_eq!(
        si.get_data(0x22).1,
        0x6982,
        "the PIN of the DDF does not reach here"
    );
    assert_eq!(si.ext_auth(1, key_names::MEDICAL), 0x9000);
    assert_eq!(si.get_data(0x22), (elem(0x22, b"1"), 0x9000));
    let (acc, sw) = si.get_data(0x30);
    assert_eq!(sw, 0x9000);
    let (e, _) = element::parse(&acc).unwrap();
    assert_eq!(
        AccountSummary::parse(e.value).unwrap(),
        AccountSummary::default()
    );
    // SETTLE is the medical DF's: in the DDF it is not a command.
    assert_eq!(si.select_ddf(), 0x9000);
    assert_eq!(si.sw(&h("844C000004 01020304")), 0x6D00);
}

// ---------------------------------------------------------------------------------------------
// Reading: identification free, personal data behind PIN or terminal

#[test]
fn identification_is_free_personal_data_is_not() {
    let mut si = Si::new(3);
    assert_eq!(si.select_ddf(), 0x9000);
    for n in 1..=7 {
        assert_eq!(si.read_record(5, n).1, 0x9000);
    }
    assert_eq!(si.read_record(5, 8).1, 0x6A83);
    for (sfi, what) in [(6, "holder"), (9, "employment")] {
        assert_eq!(si.read_record(sfi, 1).1, 0x6982, "{what} without PIN");
    }
    assert_eq!(si.sw(&h("00B0880004")), 0x6982, "photo without PIN");
    // The PIN opens the personal data …
    assert_eq!(si.verify(PIN), 0x9000);
    assert_eq!(
        si.read_record(6, 2).0,
        elem(0x09, &padded(&[0xD5, 0xC5, 0xC8, 0xFD], 30))
    );
    assert_eq!(si.read_record(9, 1).1, 0x9000);
    assert_eq!(si.sw(&h("00B0880002")), 0x9000);
    // … until the DF is left: the level is per DF entry, and a power cycle clears it.
    assert_eq!(si.select_medical(), 0x9000);
    assert_eq!(si.select_ddf(), 0x9000);
    assert_eq!(si.read_record(6, 1).1, 0x6982);
    assert_eq!(si.verify(PIN), 0x9000);
    si.card.power_off();
    assert_eq!(si.select_ddf(), 0x9000);
    assert_eq!(si.read_record(6, 1).1, 0x6982);
    // A card-using organisation's terminal may read without the PIN.
    assert_eq!(si.ext_auth(1, key_names::ORGANISATION), 0x9000);
    assert_eq!(si.read_record(6, 1).1, 0x9000);
    // The medical DF needs a hospital (or the agency) there; the PIN does not open it.
    assert_eq!(si.select_medical(), 0x9000);
    assert_eq!(si.read_record(5, 1).1, 0x6982);
    assert_eq!(si.read_record(7, 1).1, 0x6982);
    assert_eq!(si.get_data(0x30).1, 0x6982);
    assert_eq!(si.ext_auth(1, key_names::MEDICAL), 0x9000);
    assert_eq!(si.read_record(5, 1).1, 0x9000);
    assert_eq!(si.read_record(7, 1).1, 0x6A83, "no settlement yet");
    // The internal account file is never readable by READ BINARY.
    assert_eq!(si.sw(&h("00B0860000")), 0x6981);
}

// ---------------------------------------------------------------------------------------------
// PIN

#[test]
fn wrong_pin_three_times_blocks_then_the_issuer_reloads() {
    let mut si = Si::new(4);
    assert_eq!(si.select_ddf(), 0x9000);
    assert_eq!(si.sw(&h("00200000")), 0x63C3, "state query");
    assert_eq!(si.verify("111111"), 0x63C2);
    assert_eq!(si.verify("222222"), 0x63C1);
    assert_eq!(si.verify("333333"), 0x63C0);
    assert_eq!(si.verify(PIN), 0x6983, "blocked: even the right PIN");
    assert_eq!(si.sw(&h("00200000")), 0x6983);
    assert_eq!(si.read_record(6, 1).1, 0x6982);
    si.card.power_off();
    assert_eq!(si.select_ddf(), 0x9000);
    assert_eq!(si.verify(PIN), 0x6983, "blocked across power cycles");
    // The hospital terminal reports it.
    let t = SocialInsuranceTerminal::hospital(profile());
    let mut s = t.open(&mut si.card, None).unwrap();
    assert_eq!(s.verify_pin(PIN), Err(HospitalError::PinBlocked));
    // RELOAD PIN: the issuing agency authenticates, then a MAC over the new PIN.
    assert_eq!(si.select_ddf(), 0x9000);
    let reload_key = si.key(key_names::PIN_RELOAD);
    let new = [0x24, 0x68, 0x02];
    let mut good = new.to_vec();
    good.extend(reload_key.mac4(&[0; 8], &new));
    let mut bad = good.clone();
    bad[4] ^= 0x01;
    si.refuse(&apdu(0x80, 0x5E, 0x00, 0x00, &good, None), 0x6982);
    assert_eq!(si.ext_auth(1, key_names::ORGANISATION), 0x9000);
    si.refuse(&apdu(0x80, 0x5E, 0x00, 0x00, &good, None), 0x6982);
    assert_eq!(si.ext_auth(0, key_names::ISSUER), 0x9000);
    assert_eq!(si.sw(&apdu(0x80, 0x5E, 0x00, 0x00, &bad, None)), 0x6988);
    assert_eq!(
        si.verify("246802"),
        0x6983,
        "a refused reload changes nothing"
    );
    assert_eq!(si.ext_auth(0, key_names::ISSUER), 0x9000);
    assert_eq!(si.sw(&apdu(0x80, 0x5E, 0x00, 0x00, &good, None)), 0x9000);
    assert_eq!(si.sw(&h("00200000")), 0x63C3, "tries restored");
    assert_eq!(si.verify(PIN), 0x63C2, "the old PIN is gone");
    assert_eq!(si.verify("246802"), 0x9000);
    // The agency terminal does the same.
    let agency = SocialInsuranceTerminal::agency(profile());
    let mut s = agency.open(&mut si.card, None).unwrap();
    s.authenticate().unwrap();
    s.reload_pin("135790").unwrap();
    s.verify_pin("135790").unwrap();
}

#[test]
fn the_holder_changes_the_pin() {
    let mut card = citizen_card(5);
    let t = SocialInsuranceTerminal::hospital(profile());
    let mut s = t.open(&mut card, None).unwrap();
    s.change_pin(PIN, "908172").unwrap();
    assert_eq!(s.verify_pin(PIN), Err(HospitalError::WrongPin(2)));
    s.verify_pin("908172").unwrap();
    assert_eq!(
        s.change_pin("000000", "111111"),
        Err(HospitalError::WrongPin(2))
    );
    assert_eq!(
        s.change_pin("908172", "12a"),
        Err(HospitalError::Setup("a PIN is 4–16 digits".into()))
    );
    s.change_pin("908172", "1357").unwrap();
    s.verify_pin("1357").unwrap();
    let bill = bill(0x15, 0x09, 100, 0);
    assert_eq!(
        t.visit(&mut card, PIN, &bill).unwrap_err(),
        HospitalError::WrongPin(2)
    );
    t.visit(&mut card, "1357", &bill).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Updates: external authentication AND a MAC

#[test]
fn updates_need_external_authentication_and_a_mac() {
    let mut si = Si::new(6);
    assert_eq!(si.select_ddf(), 0x9000);
    let new_name = elem(0x09, &padded(&[0xC0, 0xEE, 0xCB, 0xC4], 30)); // 李四
    let header = [0x04, 0xDC, 0x02, (6 << 3) | 4];
    // No authentication at all: 6982, even with a perfect MAC.
    let cmd = si.mac_cmd(key_names::UPDATE, header, &new_name, None);
    si.refuse(&cmd, 0x6982);
    // The PIN is not enough, nor a hospital: holder data is the agency's (right 33).
    assert_eq!(si.verify(PIN), 0x9000);
    let cmd = si.mac_cmd(key_names::UPDATE, header, &new_name, None);
    si.refuse(&cmd, 0x6982);
    assert_eq!(si.ext_auth(1, key_names::ORGANISATION), 0x9000);
    let cmd = si.mac_cmd(key_names::UPDATE, header, &new_name, None);
    si.refuse(&cmd, 0x6982);
    // The agency, authenticated.
    assert_eq!(si.ext_auth(0, key_names::ISSUER), 0x9000);
    // Stripped of its MAC (plain CLA): 6982.
    si.refuse(
        &apdu(0x00, 0xDC, 0x02, (6 << 3) | 4, &new_name, None),
        0x6982,
    );
    // A wrong MAC: 6988.
    let mut bad = si.mac_cmd(key_names::UPDATE, header, &new_name, None);
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    si.refuse(&bad, 0x6988);
    // MAC'd under another key (the medical DF's): 6988.
    let foreign = si.mac_cmd(key_names::MEDICAL_UPDATE, header, &new_name, None);
    si.refuse(&foreign, 0x6988);
    // No challenge before it: 6984.
    let stale = si.mac_cmd(key_names::UPDATE, header, &new_name, None);
    let _ = si.read_record(5, 1);
    si.refuse(&stale, 0x6984);
    // Data shorter than a MAC: 6987.
    let _ = si.challenge();
    si.refuse(&h("04DC0234 03 010203"), 0x6987);
    // The right one.
    let good = si.mac_cmd(key_names::UPDATE, header, &new_name, None);
    assert_eq!(si.sw(&good), 0x9000);
    assert_eq!(si.read_record(6, 2).0, new_name);
    // Replayed: with a new challenge its MAC no longer verifies; without one, 6984.
    let _ = si.challenge();
    si.refuse(&good, 0x6988);
    si.refuse(&good, 0x6984);
    // A length change of a record is refused (records keep their length).
    let short = elem(0x09, b"x");
    let cmd = si.mac_cmd(key_names::UPDATE, header, &short, None);
    si.refuse(&cmd, 0x6700);
    // The agency through its terminal: update the birthplace, read it back decoded.
    let agency = SocialInsuranceTerminal::agency(profile());
    let mut s = agency.open(&mut si.card, None).unwrap();
    s.authenticate().unwrap();
    let (gbk, _, _) = encoding_rs::GBK.encode("上海");
    s.update_element(Tag::BIRTHPLACE, &gbk).unwrap();
    assert_eq!(s.read_holder().unwrap().birthplace, "上海");
    assert_eq!(s.read_holder().unwrap().name, "李四");
}

#[test]
fn employment_offices_write_employment_data_only() {
    let mut card = citizen_card(7);
    let office = SocialInsuranceTerminal::new(profile(), Role::EmploymentOffice);
    let mut s = office.open(&mut card, None).unwrap();
    s.authenticate().unwrap();
    assert_eq!(
        s.read_employment().unwrap().employer_name,
        "嘉兴市南湖区示范科技有限公司"
    );
    let (gbk, _, _) = encoding_rs::GBK.encode("嘉兴港区物流有限公司");
    s.update_element(Tag::EMPLOYER_NAME, &gbk).unwrap();
    s.update_element(Tag::PERSONNEL_CATEGORY, b"31").unwrap();
    let e = s.read_employment().unwrap();
    assert_eq!(
        (e.employer_name.as_str(), e.category.as_str()),
        ("嘉兴港区物流有限公司", "31")
    );
    assert_eq!(
        s.update_element(Tag::NAME, b"x"),
        Err(HospitalError::Refused {
            step: "UPDATE RECORD",
            sw: 0x6982
        }),
        "holder data is not the employment office's"
    );
    // A hospital cannot write employment data.
    let hospital = SocialInsuranceTerminal::hospital(profile());
    let mut s = hospital.open(&mut card, None).unwrap();
    s.authenticate().unwrap();
    assert_eq!(
        s.update_element(Tag::PERSONNEL_CATEGORY, b"11"),
        Err(HospitalError::Refused {
            step: "UPDATE RECORD",
            sw: 0x6982
        })
    );
}

#[test]
fn the_agency_enrols_the_photo() {
    let mut card = citizen_card(8);
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend((0..700u32).map(|i| (i * 7 % 251) as u8));
    jpeg.extend([0xFF, 0xD9]);
    let hospital = SocialInsuranceTerminal::hospital(profile());
    let mut s = hospital.open(&mut card, None).unwrap();
    s.verify_pin(PIN).unwrap();
    assert_eq!(
        s.read_photo().unwrap(),
        Vec::<u8>::new(),
        "no photo at issue"
    );
    s.authenticate().unwrap();
    assert_eq!(
        s.enrol_photo(&jpeg),
        Err(HospitalError::Refused {
            step: "UPDATE BINARY EF08",
            sw: 0x6982
        })
    );
    let agency = SocialInsuranceTerminal::agency(profile());
    let mut s = agency.open(&mut card, None).unwrap();
    s.authenticate().unwrap();
    s.enrol_photo(&jpeg).unwrap();
    let mut s = hospital.open(&mut card, None).unwrap();
    assert!(matches!(
        s.read_photo(),
        Err(HospitalError::Refused { sw: 0x6982, .. })
    ));
    s.verify_pin(PIN).unwrap();
    assert_eq!(s.read_photo().unwrap(), jpeg);
    // Too big for EF08 (1024 bytes).
    let mut s = agency.open(&mut card, None).unwrap();
    s.authenticate().unwrap();
    assert_eq!(
        s.enrol_photo(&[0u8; 1100]),
        Err(HospitalError::Setup(
            "a photo of 1100 bytes does not fit EF08 (1024 bytes)".into()
        ))
    );
    let mut s = hospital.open(&mut card, None).unwrap();
    s.verify_pin(PIN).unwrap();
    assert_eq!(s.read_photo().unwrap(), jpeg, "nothing was written");
}

// ---------------------------------------------------------------------------------------------
// Settlements

#[test]
fn settlement_refusals() {
    let mut si = Si::new(9);
    assert_eq!(si.select_medical(), 0x9000);
    let b = bill(0x15, 0x09, 1000, 200);
    // No terminal authentication: 6982, with a perfect MAC.
    let cmd = settle_cmd(&mut si, &b);
    si.refuse(&cmd, 0x6982);
    // The DDF's organisation key does not carry over into the medical DF.
    assert_eq!(si.select_ddf(), 0x9000);
    assert_eq!(si.ext_auth(1, key_names::ORGANISATION), 0x9000);
    assert_eq!(si.select_medical(), 0x9000);
    let cmd = settle_cmd(&mut si, &b);
    si.refuse(&cmd, 0x6982);
    // The organisation key of the DDF is not a key of the medical DF.
    let k = si.key(key_names::ORGANISATION);
    let c = si.challenge();
    assert_eq!(
        si.sw(&apdu(0x00, 0x82, 0x00, 0x01, &cryptogram(&k, &c), None)),
        0x6300
    );
    assert_eq!(si.ext_auth(1, key_names::MEDICAL), 0x9000);
    // Plain (CLA 80): 6982. No challenge: 6984. Short: 6987. Bad MAC: 6988.
    si.refuse(&apdu(0x80, 0x4C, 0x00, 0x00, &b.encode(), Some(6)), 0x6982);
    let stale = settle_cmd(&mut si, &b);
    let _ = si.get_data(0x22);
    si.refuse(&stale, 0x6984);
    let _ = si.challenge();
    si.refuse(&h("844C000003 010203"), 0x6987);
    let mut bad = settle_cmd(&mut si, &b);
    bad[10] ^= 0x01;
    si.refuse(&bad, 0x6988);
    let other_key = si.mac_cmd(key_names::UPDATE, [0x84, 0x4C, 0, 0], &b.encode(), Some(6));
    si.refuse(&other_key, 0x6988);
    // Well MAC'd but malformed: wrong length 6700, total ≠ fund + account + cash 6A80,
    // a bad date 6A80, P1-P2 6A86.
    let cmd = si.mac_cmd(
        key_names::MEDICAL_UPDATE,
        [0x84, 0x4C, 0, 0],
        &b.encode()[..35],
        Some(6),
    );
    si.refuse(&cmd, 0x6700);
    let mut split = b.encode();
    split[35] = 1; // cash 1 fen more than the total allows
    let cmd = si.mac_cmd(
        key_names::MEDICAL_UPDATE,
        [0x84, 0x4C, 0, 0],
        &split,
        Some(6),
    );
    si.refuse(&cmd, 0x6A80);
    let mut date = b.encode();
    date[2] = 0x13;
    let cmd = si.mac_cmd(
        key_names::MEDICAL_UPDATE,
        [0x84, 0x4C, 0, 0],
        &date,
        Some(6),
    );
    si.refuse(&cmd, 0x6A80);
    si.refuse(&h("844C0001 04 01020304"), 0x6A86);
    // The good one; its replay is refused.
    let good = settle_cmd(&mut si, &b);
    let (r, sw) = si.tx(&good);
    assert_eq!((r.len(), sw), (6, 0x9000));
    assert_eq!(&r[..2], &[0, 1]);
    let rk = si.key(key_names::RECEIPT);
    let rec = SettlementRecord {
        number: 1,
        settlement: b,
    };
    assert_eq!(rk.mac4(&[0; 8], &rec.encode()), r[2..], "receipt");
    let _ = si.challenge();
    si.refuse(&good, 0x6988);
    si.refuse(&good, 0x6984);
    // A settlement dated in an earlier year than the account: 6985.
    let mut old = b;
    old.when = DateTime::new([0x20, 0x25, 0x12, 0x31, 0x23, 0, 0]).unwrap();
    let cmd = settle_cmd(&mut si, &old);
    si.refuse(&cmd, 0x6985);
    // The log and the account cannot be written any other way.
    let rec2 = si.mac_cmd(
        key_names::MEDICAL_UPDATE,
        [0x04, 0xE2, 0x00, 7 << 3],
        &[0u8; SETTLEMENT_RECORD_LEN],
        None,
    );
    si.refuse(&rec2, 0x6982);
    let upd = si.mac_cmd(
        key_names::MEDICAL_UPDATE,
        [0x04, 0xD6, 0x86, 0x00],
        &[0u8; 4],
        None,
    );
    si.refuse(&upd, 0x6981);
    // The receipt key is no INTERNAL AUTHENTICATE key (no MAC oracle); key 00 is.
    let forged = SettlementRecord {
        number: 99,
        settlement: b,
    }
    .encode();
    si.refuse(&apdu(0x00, 0x88, 0x02, 0x01, &forged, Some(0)), 0x6982);
    si.refuse(&apdu(0x00, 0x88, 0x00, 0x01, &[0x11; 8], Some(0)), 0x6982);
    assert_eq!(
        si.sw(&apdu(0x00, 0x88, 0x00, 0x00, &[0x11; 8], Some(0))),
        0x9000
    );
    // Even the agency (level 3) settles under a MAC only.
    assert_eq!(si.ext_auth(0, key_names::ISSUER), 0x9000);
    si.refuse(&apdu(0x80, 0x4C, 0x00, 0x00, &b.encode(), Some(6)), 0x6982);
    assert_eq!(si.read_record(7, 2).1, 0x6A83, "exactly one record");
}

#[test]
fn a_settlement_is_atomic_under_power_loss() {
    let b = bill(0x15, 0x09, 1000, 200);
    let prepared = || {
        let mut si = Si::new(10);
        assert_eq!(si.select_medical(), 0x9000);
        assert_eq!(si.ext_auth(1, key_names::MEDICAL), 0x9000);
        let cmd = settle_cmd(&mut si, &b);
        (si, cmd)
    };
    let (mut si, cmd) = prepared();
    let before = si.card.programs();
    assert_eq!(si.sw(&cmd), 0x9000);
    let cost = si.card.programs() - before;
    assert!(cost >= 2);
    for k in 0..cost {
        let (mut si, cmd) = prepared();
        si.card.arm_tear(k, TearMode::Partial { seed: k });
        assert!(
            si.card.transmit(&cmd).is_empty(),
            "the card died mid-command"
        );
        si.card.power_on().unwrap();
        assert_eq!(si.select_medical(), 0x9000);
        assert_eq!(si.ext_auth(1, key_names::MEDICAL), 0x9000);
        let (acc, sw) = si.get_data(0x30);
        assert_eq!(sw, 0x9000);
        let acc = AccountSummary::parse(element::parse(&acc).unwrap().0.value).unwrap();
        let (rec, sw) = si.read_record(7, 1);
        match acc.counter {
            0 => {
                assert_eq!(sw, 0x6A83, "tear at {k}: no account change, no record");
                assert_eq!(acc, AccountSummary::default());
            }
            1 => {
                assert_eq!(sw, 0x9000, "tear at {k}: account changed, record too");
                assert_eq!(SettlementRecord::parse(&rec).unwrap().settlement, b);
                assert_eq!(acc.total, Fen(1000));
            }
            n => panic!("tear at {k}: counter {n}"),
        }
    }
}

#[test]
fn the_agency_suspends_the_insurance_and_hospitals_see_it() {
    let mut card = citizen_card(13);
    let agency = SocialInsuranceTerminal::agency(profile());
    let mut s = agency.open(&mut card, None).unwrap();
    s.select_medical().unwrap();
    // A hospital key does not let the agency's data be changed …
    let hospital = SocialInsuranceTerminal::hospital(profile());
    let mut h = hospital.open(s.card(), None).unwrap();
    h.select_medical().unwrap();
    h.authenticate().unwrap();
    assert_eq!(
        h.update_element(Tag::INSURED_STATUS, b"2"),
        Err(HospitalError::Refused {
            step: "UPDATE RECORD",
            sw: 0x6982
        })
    );
    // … the agency's does (MAC'd under the medical DF's key).
    let mut s = agency.open(&mut card, None).unwrap();
    s.select_medical().unwrap();
    s.authenticate().unwrap();
    s.update_element(Tag::INSURED_STATUS, b"2").unwrap();
    assert_eq!(s.read_medical().unwrap().status, "2");
    assert_eq!(
        hospital
            .visit(&mut card, PIN, &bill(0x15, 9, 100, 0))
            .unwrap_err(),
        HospitalError::NotInsured("2".into())
    );
}

// ---------------------------------------------------------------------------------------------
// Genuine cards and the three card types

#[test]
fn a_forged_card_is_detected() {
    let forged = profile_from(&PROFILE.replace(
        "55555555555555556666666666666666",
        "0F0E0D0C0B0A09080706050403020100",
    ));
    let mut card = personalise(&forged);
    let t = SocialInsuranceTerminal::hospital(profile());
    assert_eq!(
        t.open(&mut card, None).err(),
        Some(HospitalError::NotGenuine)
    );
    assert_eq!(
        t.visit(&mut card, PIN, &bill(0x15, 9, 100, 0)).unwrap_err(),
        HospitalError::NotGenuine
    );
    // A card whose receipt key is not the insurance centre's: its settlements do not verify.
    let odd = profile_from(&PROFILE.replace(
        "13579BDF02468ACE13579BDF02468ACE",
        "00112233445566778899AABBCCDDEEFF",
    ));
    let mut card = personalise(&odd);
    assert_eq!(
        t.visit(&mut card, PIN, &bill(0x15, 9, 100, 0)).unwrap_err(),
        HospitalError::Mismatch("the settlement receipt")
    );
    // A terminal without the hospital key cannot authenticate (and spends a try).
    let mut rogue = SocialInsuranceTerminal::hospital(profile());
    rogue.set_master(
        key_names::ORGANISATION,
        Some(profile().master_key(key_names::UPDATE).unwrap()),
    );
    let mut card = citizen_card(11);
    let mut s = rogue.open(&mut card, None).unwrap();
    s.verify_pin(PIN).unwrap();
    assert_eq!(
        s.authenticate(),
        Err(HospitalError::Refused {
            step: "EXTERNAL AUTHENTICATE",
            sw: 0x6300
        })
    );
    // An expired card is turned away.
    let mut card = citizen_card(12);
    assert_eq!(
        t.open(&mut card, Some("20360101")).err(),
        Some(HospitalError::Expired("20351231".into()))
    );
}

fn city_pass_profile() -> String {
    let mut v: toml::Table = toml::from_str(PROFILE).unwrap();
    v["card"]["type"] = toml::Value::String("city-pass".into());
    let apps = v["app"].as_array_mut().unwrap();
    apps.retain(|a| a["name"].as_str() != Some("social-insurance"));
    toml::to_string(&v).unwrap()
}

#[test]
fn three_card_types() {
    let t = SocialInsuranceTerminal::hospital(profile());
    // New resident: the same functions, another card type.
    let nr = profile_from(&PROFILE.replacen("type = \"citizen\"", "type = \"new-resident\"", 1));
    let mut card = personalise(&nr);
    let v = t.visit(&mut card, PIN, &bill(0x15, 9, 300, 100)).unwrap();
    assert_eq!(v.card.card_type, 0x02);
    assert_eq!(v.holder.name, "张三");
    // City pass: no social-insurance application at all.
    let cp = profile_from(&city_pass_profile());
    assert!(cp.app("social-insurance").is_none());
    let mut card = personalise(&cp);
    let e = t.open(&mut card, None).err().unwrap();
    assert_eq!(e, HospitalError::NoSocialInsurance);
    assert_eq!(e.to_string(), "no social insurance application");
    assert_eq!(
        card.exchange(&apdu(0x00, 0xA4, 0x04, 0x0C, MEDICAL_AID, None))
            .unwrap()
            .1,
        0x6A82
    );
    // A city-pass profile that carries the application is refused before any card is made.
    let bad = PROFILE.replacen("type = \"citizen\"", "type = \"city-pass\"", 1);
    let e = Profile::parse("p.toml", &bad).unwrap_err();
    assert!(
        e.path.ends_with(".name") && e.path.starts_with("app["),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// The profile machinery for nested DFs

#[test]
fn nested_dfs_and_elements_in_the_profile() {
    let p = profile();
    let si = p.app("social-insurance").unwrap();
    assert_eq!(si.dfs.len(), 1);
    assert_eq!(si.dfs[0].fid, "DF04");
    let script = perso::script(p).unwrap().to_scriptor("t");
    assert!(
        script.contains("# CREATE FILE DF04 DF medical-insurance"),
        "{script}"
    );
    assert!(script.contains("# SELECT parent of medical-insurance"));
    // Errors inside a nested DF name their path.
    let e = Profile::parse(
        "p.toml",
        &PROFILE.replace("master = \"si_medical\"", "master = \"nope\""),
    )
    .unwrap_err();
    assert!(e.path.ends_with(".df[0].key[1].master"), "{e}");
    let e = Profile::parse(
        "p.toml",
        &PROFILE.replace(
            "{ tag = \"21\", text = \"1\"",
            "{ tag = \"FF\", text = \"1\"",
        ),
    )
    .unwrap_err();
    assert!(e.path.ends_with(".df[0].file[0].content[1]"), "{e}");
    let e = Profile::parse(
        "p.toml",
        &PROFILE.replace(
            "records = 10\nrecord_len = 38",
            "records = 10\nrecord_len = 38\ncontent = [{ hex = \"00\" }]",
        ),
    )
    .unwrap_err();
    assert!(e.path.ends_with(".df[0].file[2].content[0]"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Property: no unauthorised read or write ever succeeds (DDF)

/// DDF security levels: 0 nothing, 1 PIN, 2 organisation, 3 agency, 4 employment office.
#[derive(Clone, Debug)]
struct DdfModel {
    level: u8,
    pin_tries: u8,
    /// Current value of the updatable element of EF05 (card number), EF06 (name), EF09
    /// (personnel category).
    values: [Vec<u8>; 3],
}

const KEY_NEXT: [u8; 3] = [3, 2, 4];
const KEY_MASTER: [&str; 3] = [
    key_names::ISSUER,
    key_names::ORGANISATION,
    key_names::EMPLOYMENT,
];
/// (SFI, record, tag, value length, write right as (Y, X)).
type Target = (u8, u8, u8, usize, (u8, u8));
const TARGETS: [Target; 3] = [
    (5, 7, 0x07, 9, (3, 3)),
    (6, 2, 0x09, 30, (3, 3)),
    (9, 3, 0x12, 2, (3, 4)),
];

#[derive(Clone, Copy, Debug)]
enum MacMode {
    Good,
    Bad,
    Plain,
    NoChallenge,
    Replay,
}

#[derive(Clone, Debug)]
enum DdfOp {
    Verify(bool),
    ExtAuth(usize, bool),
    Read(usize),
    ReadPhoto,
    GetData(usize),
    Update(usize, MacMode, u8),
    LeaveAndReturn,
    Reselect,
    PowerCycle,
}

fn ddf_op() -> impl Strategy<Value = DdfOp> {
    let mac = prop_oneof![
        3 => Just(MacMode::Good),
        1 => Just(MacMode::Bad),
        1 => Just(MacMode::Plain),
        1 => Just(MacMode::NoChallenge),
        1 => Just(MacMode::Replay),
    ];
    prop_oneof![
        3 => any::<bool>().prop_map(DdfOp::Verify),
        4 => (0..3usize, prop::bool::weighted(0.8)).prop_map(|(k, ok)| DdfOp::ExtAuth(k, ok)),
        3 => (0..3usize).prop_map(DdfOp::Read),
        1 => Just(DdfOp::ReadPhoto),
        2 => (0..3usize).prop_map(DdfOp::GetData),
        5 => (0..3usize, mac, any::<u8>()).prop_map(|(t, m, v)| DdfOp::Update(t, m, v)),
        1 => Just(DdfOp::LeaveAndReturn),
        1 => Just(DdfOp::Reselect),
        1 => Just(DdfOp::PowerCycle),
    ]
}

fn initial_values() -> [Vec<u8>; 3] {
    [
        b"A00000001".to_vec(),
        padded(&[0xD5, 0xC5, 0xC8, 0xFD], 30),
        b"11".to_vec(),
    ]
}

fn run_ddf(ops: &[DdfOp], seed: u64) -> Result<(), TestCaseError> {
    let mut si = Si::new(seed);
    prop_assert_eq!(si.select_ddf(), 0x9000);
    let mut m = DdfModel {
        level: 0,
        pin_tries: 3,
        values: initial_values(),
    };
    // A valid update of each target captured earlier, for replays.
    let mut captured: [Option<Vec<u8>>; 3] = [None, None, None];
    for (i, op) in ops.iter().enumerate() {
        let ctx = format!("op {i} {op:?} in {ops:?}");
        match *op {
            DdfOp::Verify(correct) => {
                let sw = si.verify(if correct { PIN } else { "999999" });
                let want = if m.pin_tries == 0 {
                    0x6983
                } else if correct {
                    m.pin_tries = 3;
                    m.level = 1;
                    0x9000
                } else {
                    m.pin_tries -= 1;
                    0x63C0 | u16::from(m.pin_tries)
                };
                prop_assert_eq!(sw, want, "{}", ctx);
            }
            DdfOp::ExtAuth(k, correct) => {
                let sw = if correct {
                    si.ext_auth(k as u8, KEY_MASTER[k])
                } else {
                    si.ext_auth_wrong(k as u8)
                };
                // External-authentication keys are not try-limited (docs/reliability.md).
                let want = if correct {
                    m.level = KEY_NEXT[k];
                    0x9000
                } else {
                    0x6300
                };
                prop_assert_eq!(sw, want, "{}", ctx);
            }
            DdfOp::Read(t) => {
                let (sfi, rec, tag, _, _) = TARGETS[t];
                let (data, sw) = si.read_record(sfi, rec);
                let allowed = sfi == 5 || m.level >= 1;
                if allowed {
                    prop_assert_eq!(sw, 0x9000, "{}", ctx);
                    prop_assert_eq!(data, elem(tag, &m.values[t]), "{}", ctx);
                } else {
                    prop_assert_eq!(sw, 0x6982, "unauthorised read: {}", ctx);
                }
            }
            DdfOp::ReadPhoto => {
                let (_, sw) = si.tx(&h("00B0880002"));
                let want = if m.level >= 1 { 0x9000 } else { 0x6982 };
                prop_assert_eq!(sw, want, "{}", ctx);
            }
            DdfOp::GetData(t) => {
                let (sfi, _, tag, _, _) = TARGETS[t];
                let (data, sw) = si.get_data(tag);
                if sfi == 5 || m.level >= 1 {
                    prop_assert_eq!(sw, 0x9000, "{}", ctx);
                    prop_assert_eq!(data, elem(tag, &m.values[t]), "{}", ctx);
                } else {
                    prop_assert_eq!(sw, 0x6982, "unauthorised GET DATA: {}", ctx);
                }
            }
            DdfOp::Update(t, mode, v) => {
                let (sfi, rec, tag, len, (y, x)) = TARGETS[t];
                let value = vec![b'0' + v % 10; len];
                let el = elem(tag, &value);
                let header = [0x04, 0xDC, rec, (sfi << 3) | 4];
                let cmd = match mode {
                    MacMode::Good => si.mac_cmd(key_names::UPDATE, header, &el, None),
                    MacMode::Bad => {
                        let mut c = si.mac_cmd(key_names::UPDATE, header, &el, None);
                        let n = c.len() - 1;
                        c[n] ^= 0x01;
                        c
                    }
                    MacMode::Plain => apdu(0x00, 0xDC, rec, (sfi << 3) | 4, &el, None),
                    MacMode::NoChallenge => {
                        // MAC'd over a challenge that is not the card's current one (none is).
                        with_mac(&si.key(key_names::UPDATE), &[0; 4], header, &el, None)
                    }
                    MacMode::Replay => match &captured[t] {
                        Some(c) => {
                            let _ = si.challenge();
                            c.clone()
                        }
                        None => {
                            let _ = si.challenge();
                            with_mac(&si.key(key_names::UPDATE), &[1, 2, 3, 4], header, &el, None)
                        }
                    },
                };
                let before = si.image();
                let sw = si.sw(&cmd);
                let right = (y..=x).contains(&m.level);
                let want = if !right {
                    0x6982
                } else {
                    match mode {
                        MacMode::Good => 0x9000,
                        MacMode::Plain => 0x6982,
                        MacMode::NoChallenge => 0x6984,
                        MacMode::Bad | MacMode::Replay => 0x6988,
                    }
                };
                prop_assert_eq!(sw, want, "{}", ctx);
                if sw == 0x9000 {
                    m.values[t] = value;
                    captured[t] = Some(cmd);
                } else {
                    prop_assert!(
                        before == si.image(),
                        "a refused write changed the card: {}",
                        ctx
                    );
                }
            }
            DdfOp::LeaveAndReturn => {
                prop_assert_eq!(si.select_medical(), 0x9000);
                prop_assert_eq!(si.select_ddf(), 0x9000);
                m.level = 0;
            }
            DdfOp::Reselect => {
                // Selecting the current DF again keeps what was proved in it.
                prop_assert_eq!(si.select_ddf(), 0x9000);
            }
            DdfOp::PowerCycle => {
                si.card.power_off();
                prop_assert_eq!(si.select_ddf(), 0x9000);
                m.level = 0;
            }
        }
    }
    // Whatever happened, what the card holds is what the model allowed.
    if m.pin_tries > 0 {
        prop_assert_eq!(si.verify(PIN), 0x9000);
        for (t, &(sfi, rec, tag, _, _)) in TARGETS.iter().enumerate() {
            prop_assert_eq!(si.read_record(sfi, rec).0, elem(tag, &m.values[t]));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Property: settlements (medical DF)

#[derive(Clone, Debug)]
enum MedOp {
    ExtAuth(usize, bool),
    Settle(MacMode, u32, bool),
    ReadLog,
    Account,
    KernelAppend,
    PowerCycle,
}

fn med_op() -> impl Strategy<Value = MedOp> {
    let mac = prop_oneof![
        3 => Just(MacMode::Good),
        1 => Just(MacMode::Bad),
        1 => Just(MacMode::Plain),
        1 => Just(MacMode::NoChallenge),
        1 => Just(MacMode::Replay),
    ];
    prop_oneof![
        3 => (0..2usize, prop::bool::weighted(0.8)).prop_map(|(k, ok)| MedOp::ExtAuth(k, ok)),
        5 => (mac, 1..100_000u32, prop::bool::weighted(0.9))
            .prop_map(|(m, amount, valid)| MedOp::Settle(m, amount, valid)),
        2 => Just(MedOp::ReadLog),
        2 => Just(MedOp::Account),
        1 => Just(MedOp::KernelAppend),
        1 => Just(MedOp::PowerCycle),
    ]
}

fn run_medical(ops: &[MedOp], seed: u64) -> Result<(), TestCaseError> {
    let masters = [key_names::ISSUER, key_names::MEDICAL];
    let next = [3u8, 2];
    let mut si = Si::new(seed);
    prop_assert_eq!(si.select_medical(), 0x9000);
    let mut level = 0u8;
    let mut account = AccountSummary::default();
    let mut log: Vec<SettlementRecord> = Vec::new();
    let mut captured: Option<Vec<u8>> = None;
    let mut minute = 0u8;
    for (i, op) in ops.iter().enumerate() {
        let ctx = format!("op {i} {op:?} in {ops:?}");
        match *op {
            MedOp::ExtAuth(k, correct) => {
                let sw = if correct {
                    si.ext_auth(k as u8, masters[k])
                } else {
                    si.ext_auth_wrong(k as u8)
                };
                // External-authentication keys are not try-limited (docs/reliability.md).
                let want = if correct {
                    level = next[k];
                    0x9000
                } else {
                    0x6300
                };
                prop_assert_eq!(sw, want, "{}", ctx);
            }
            MedOp::Settle(mode, amount, valid) => {
                minute = (minute + 1) % 60;
                let mut b = bill(0x15, 0x09, amount, amount / 3);
                b.when = DateTime::new([0x20, 0x26, 0x03, 0x15, 0x09, bcd(minute), 0]).unwrap();
                let mut data = b.encode();
                if !valid {
                    data[35] = data[35].wrapping_add(1); // the split no longer adds up
                }
                let header = [0x84, 0x4C, 0x00, 0x00];
                let km = key_names::MEDICAL_UPDATE;
                let cmd = match mode {
                    MacMode::Good => si.mac_cmd(km, header, &data, Some(6)),
                    MacMode::Bad => {
                        let mut c = si.mac_cmd(km, header, &data, Some(6));
                        c[7] ^= 0x40;
                        c
                    }
                    MacMode::Plain => apdu(0x80, 0x4C, 0, 0, &data, Some(6)),
                    MacMode::NoChallenge => with_mac(&si.key(km), &[0; 4], header, &data, Some(6)),
                    MacMode::Replay => {
                        let _ = si.challenge();
                        captured.clone().unwrap_or_else(|| {
                            with_mac(&si.key(km), &[9; 4], header, &data, Some(6))
                        })
                    }
                };
                let before = si.image();
                let (r, sw) = si.tx(&cmd);
                let want = match mode {
                    MacMode::Plain => 0x6982,
                    _ if level < 2 => 0x6982,
                    MacMode::NoChallenge => 0x6984,
                    MacMode::Bad | MacMode::Replay => 0x6988,
                    MacMode::Good if !valid => 0x6A80,
                    MacMode::Good => 0x9000,
                };
                prop_assert_eq!(sw, want, "{}", ctx);
                if sw == 0x9000 {
                    account = account.settle(&b).unwrap();
                    let rec = SettlementRecord {
                        number: account.counter,
                        settlement: b,
                    };
                    prop_assert_eq!(&r[..2], &account.counter.to_be_bytes()[..]);
                    let rk = si.key(key_names::RECEIPT);
                    prop_assert_eq!(&r[2..], &rk.mac4(&[0; 8], &rec.encode())[..]);
                    log.insert(0, rec);
                    log.truncate(10);
                    captured = Some(cmd);
                } else {
                    prop_assert!(
                        before == si.image(),
                        "a refused SETTLE changed the card: {}",
                        ctx
                    );
                }
            }
            MedOp::ReadLog => {
                let (data, sw) = si.read_record(7, 1);
                match (level >= 2, log.first()) {
                    (false, _) => prop_assert_eq!(sw, 0x6982, "unauthorised read: {}", ctx),
                    (true, None) => prop_assert_eq!(sw, 0x6A83, "{}", ctx),
                    (true, Some(rec)) => {
                        prop_assert_eq!(sw, 0x9000, "{}", ctx);
                        prop_assert_eq!(data, rec.encode().to_vec(), "{}", ctx);
                    }
                }
            }
            MedOp::Account => {
                let (data, sw) = si.get_data(0x30);
                if level >= 2 {
                    prop_assert_eq!(sw, 0x9000, "{}", ctx);
                    prop_assert_eq!(data, elem(0x30, &account.encode()), "{}", ctx);
                } else {
                    prop_assert_eq!(sw, 0x6982, "unauthorised GET DATA: {}", ctx);
                }
            }
            MedOp::KernelAppend => {
                let cmd = si.mac_cmd(
                    key_names::MEDICAL_UPDATE,
                    [0x04, 0xE2, 0x00, 7 << 3],
                    &[0x11; SETTLEMENT_RECORD_LEN],
                    None,
                );
                let before = si.image();
                prop_assert_eq!(si.sw(&cmd), 0x6982, "{}", ctx);
                prop_assert!(before == si.image());
            }
            MedOp::PowerCycle => {
                si.card.power_off();
                prop_assert_eq!(si.select_medical(), 0x9000);
                level = 0;
            }
        }
    }
    Ok(())
}

fn bcd(n: u8) -> u8 {
    ((n / 10) << 4) | (n % 10)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_unauthorised_read_or_write_in_the_ddf(
        ops in prop::collection::vec(ddf_op(), 1..40),
        seed in any::<u64>(),
    ) {
        run_ddf(&ops, seed)?;
    }

    #[test]
    fn no_unauthorised_settlement(
        ops in prop::collection::vec(med_op(), 1..40),
        seed in any::<u64>(),
    ) {
        run_medical(&ops, seed)?;
    }
}
