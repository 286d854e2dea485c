//! Post-issuance application areas end to end through the simulator (`docs/areas.md`): the
//! issuer's grant, the community's hand-over and its door reader, every refusal, tearing at every
//! page program of each party's script, and the existing applications — purse, transit, library,
//! social insurance — behaving exactly as before on a card that has gained and lost areas.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use cos_core::nvm::TearMode;
use cos_core::SeededRng;
use cos_sim::area::{self, AreaProfile, Revocation};
use cos_sim::card::{CardRng, SimCard, SimNvm};
use cos_sim::demo::blank_card;
use cos_sim::hostcrypto::{diversify, HostKey};
use cos_sim::perso;
use cos_sim::profile::Profile;
use cos_sim::terminals::door::{Direction, DoorTerminal, Gate as DoorGate};
use cos_sim::terminals::hospital::SocialInsuranceTerminal;
use cos_sim::terminals::library::{Day as LibraryDay, LibraryTerminal, Role};
use cos_sim::terminals::purse::{Purse, PurseTerminal, When};
use cos_sim::terminals::transit::{Gate, TransitSystem, TransitTime};
use cos_sim::vectors::reader::{Reader, ReaderError};
use social_insurance::layout::{DateTime as SiDateTime, Fen, Settlement, VisitType};
use std::sync::OnceLock;

const CARD_PROFILE: &str = include_str!("../../profiles/citizen-card.toml");
const COMMUNITY: &str = include_str!("../../profiles/areas/community-access.toml");

fn card_profile() -> Profile {
    Profile::parse("citizen-card.toml", CARD_PROFILE).unwrap()
}

fn community() -> AreaProfile {
    AreaProfile::parse("community-access.toml", COMMUNITY).unwrap()
}

/// A second area: a campus canteen's (another service unit), smaller, at FID AC02.
fn canteen() -> AreaProfile {
    let text = COMMUNITY
        .replace("fid = \"AC01\"", "fid = \"AC02\"")
        .replace("F0000000C0440001", "F0000000CA7E0001")
        .replace("space = 512", "space = 384")
        .replace(
            "C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF",
            "1111111111111111CACACACACACACACA",
        )
        .replace(
            "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF",
            "2222222222222222CACACACACACACACA",
        )
        .replace(
            "E0E1E2E3E4E5E6E7E8E9EAEBECEDEEEF",
            "3333333333333333CACACACACACACACA",
        )
        .replace(
            "F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF",
            "4444444444444444CACACACACACACACA",
        )
        .replace(
            "A5A6A7A8A9AAABACADAEAFA0A1A2A3A4",
            "5555555555555555CACACACACACACACA",
        );
    AreaProfile::parse("canteen.toml", &text).unwrap()
}

fn personalised_image() -> &'static [u8] {
    static IMG: OnceLock<Vec<u8>> = OnceLock::new();
    IMG.get_or_init(|| {
        let p = card_profile();
        let mut c = blank_card(&p).unwrap();
        perso::script(&p).unwrap().run(&mut c).unwrap();
        c.image().bytes
    })
}

fn card_from(bytes: &[u8], seed: u64) -> SimCard {
    let mut c = SimCard::from_nvm(
        SimNvm::from_bytes(bytes),
        CardRng::Seeded(SeededRng::new(seed)),
    )
    .unwrap();
    c.set_tracing(false);
    c
}

fn fresh() -> SimCard {
    card_from(personalised_image(), 1)
}

fn grant(c: &mut SimCard, a: &AreaProfile) -> Result<area::Outcome, area::ScriptFailed> {
    area::run(c, "grant", &area::grant_script(a, &card_profile()).unwrap())
}

fn handover(c: &mut SimCard, a: &AreaProfile) -> Result<area::Outcome, area::ScriptFailed> {
    area::run(c, "hand-over", &area::handover_script(a).unwrap())
}

fn revoke(
    c: &mut SimCard,
    a: &AreaProfile,
    how: Revocation,
) -> Result<area::Outcome, area::ScriptFailed> {
    area::run(
        c,
        "revoke",
        &area::revoke_script(a, &card_profile(), how).unwrap(),
    )
}

fn at(date: &str, time: &str) -> When {
    When::parse(date, time).unwrap()
}

#[track_caller]
fn fails_with(r: Result<area::Outcome, area::ScriptFailed>, sw: &str) -> String {
    let e = r.expect_err("the script should fail");
    assert!(e.message.contains(sw), "expected {sw}: {}", e.message);
    e.message
}

// ----------------------------------------------------------------------- host-side helpers

fn sw_of(r: &[u8]) -> u16 {
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

fn send(c: &mut SimCard, apdu: &[u8]) -> u16 {
    c.exchange(apdu).unwrap().1
}

fn asn8(c: &mut SimCard) -> [u8; 8] {
    assert_eq!(send(c, &hex::decode("00A4000C023F00").unwrap()), 0x9000);
    let (d, sw) = c.exchange(&hex::decode("00B085000B").unwrap()).unwrap();
    assert_eq!(sw, 0x9000);
    d[3..11].try_into().unwrap()
}

fn issuer_key(name: &str, asn8: &[u8; 8]) -> HostKey {
    diversify(&card_profile().master_key(name).unwrap(), asn8)
}

fn area_key(a: &AreaProfile, ty: &str, id: u8, asn8: &[u8; 8]) -> HostKey {
    a.card_key(a.key(ty, id).unwrap(), asn8).unwrap()
}

fn initial_key(a: &AreaProfile, asn8: &[u8; 8]) -> HostKey {
    diversify(&a.view.master_key(&a.initial.master).unwrap(), asn8)
}

fn ext_auth(c: &mut SimCard, id: u8, k: &HostKey) -> u16 {
    let (ch, sw) = c.exchange(&hex::decode("0084000004").unwrap()).unwrap();
    assert_eq!(sw, 0x9000);
    let mut b = ch;
    b.resize(k.alg.block(), 0);
    k.encrypt(&mut b);
    let mut apdu = vec![0x00, 0x82, 0x00, id, b.len() as u8];
    apdu.extend_from_slice(&b);
    send(c, &apdu)
}

/// A line-protected command: `header ‖ Lc ‖ body ‖ MAC`, body encrypted as `Ld ‖ data ‖ 80…`
/// under `enc` when given.
fn secured(
    c: &mut SimCard,
    header: [u8; 4],
    data: &[u8],
    mac: &HostKey,
    enc: Option<&HostKey>,
) -> u16 {
    let (ch, sw) = c.exchange(&hex::decode("0084000004").unwrap()).unwrap();
    assert_eq!(sw, 0x9000);
    let body = match enc {
        Some(k) => {
            let mut b = vec![data.len() as u8];
            b.extend_from_slice(data);
            b.push(0x80);
            while b.len() % k.alg.block() != 0 {
                b.push(0);
            }
            k.encrypt_ecb(&mut b);
            b
        }
        None => data.to_vec(),
    };
    let mut input = header.to_vec();
    input.push((body.len() + 4) as u8);
    input.extend_from_slice(&body);
    let mut iv = ch;
    iv.resize(mac.alg.block(), 0);
    let m = mac.mac4(&iv, &input);
    input.extend_from_slice(&m);
    sw_of(&c.transmit(&input))
}

fn select_name(c: &mut SimCard, name: &[u8]) -> u16 {
    let mut a = vec![0x00, 0xA4, 0x04, 0x0C, name.len() as u8];
    a.extend_from_slice(name);
    send(c, &a)
}

fn line_key_data(k: &HostKey) -> Vec<u8> {
    let mut d = vec![0x36, 0xF0, 0xF0, 0xFF, 0x33];
    d.extend_from_slice(&k.bytes);
    d
}

// ----------------------------------------------------------------------- the card's contents

/// The logical card: the file table and every EF body (free space excluded), read from NVM.
fn logical(c: &SimCard) -> Vec<u8> {
    c.with_storage(|s| {
        let mut hdr = [0u8; 8];
        s.read(0, &mut hdr).unwrap();
        let slots = hdr[6] as usize;
        let mut table = vec![0u8; 32 + 32 * slots];
        s.read(0, &mut table).unwrap();
        let mut out = table.clone();
        for i in 1..slots {
            let e = &table[32 + 32 * i..64 + 32 * i];
            if ![0x00, 0x01, 0x38, 0xFE].contains(&e[0]) {
                let off = u16::from_be_bytes([e[10], e[11]]) as u32;
                let size = u16::from_be_bytes([e[12], e[13]]) as usize;
                let mut b = vec![0u8; size];
                s.read(off, &mut b).unwrap();
                out.extend_from_slice(&b);
            }
        }
        out
    })
}

/// [`logical`] with every key record's try counter (byte 6) masked.
fn masked_of(logical: &[u8]) -> Vec<u8> {
    let slots = logical[6] as usize;
    let table = &logical[..32 + 32 * slots];
    let mut out = logical.to_vec();
    let mut at = table.len();
    for i in 1..slots {
        let e = &table[32 + 32 * i..64 + 32 * i];
        if ![0x00, 0x01, 0x38, 0xFE].contains(&e[0]) {
            let size = u16::from_be_bytes([e[12], e[13]]) as usize;
            if e[0] == 0x3F {
                for r in (at..at + size).step_by(24) {
                    if r + 6 < at + size {
                        out[r + 6] = 0;
                    }
                }
            }
            at += size;
        }
    }
    out
}

fn masked(c: &SimCard) -> Vec<u8> {
    masked_of(&logical(c))
}

/// Everything of the applications that were on the card when it was issued: for each of their
/// slots (below the MF, areas excepted), the slot bytes and the body (keys and try counters
/// included).
fn applications(c: &SimCard) -> Vec<(usize, Vec<u8>, Vec<u8>)> {
    c.with_storage(|s| {
        let mut hdr = [0u8; 8];
        s.read(0, &mut hdr).unwrap();
        let slots = hdr[6] as usize;
        let mut table = vec![0u8; 32 + 32 * slots];
        s.read(0, &mut table).unwrap();
        let slot = |i: usize| table[32 + 32 * i..64 + 32 * i].to_vec();
        // Top-level DFs that are not areas (slot byte 8 bit 80), and everything below them.
        let app_root = |mut i: usize| -> Option<usize> {
            for _ in 0..slots {
                let e = slot(i);
                if e[1] == 0 {
                    return (e[0] == 0x38 && e[8] & 0x80 == 0).then_some(i);
                }
                i = e[1] as usize;
            }
            None
        };
        let mut out = Vec::new();
        for i in 1..slots {
            let e = slot(i);
            if e[0] == 0 || e[0] == 0xFE || app_root(i).is_none() {
                continue;
            }
            let mut body = Vec::new();
            if e[0] != 0x38 {
                let off = u16::from_be_bytes([e[10], e[11]]) as u32;
                body = vec![0u8; u16::from_be_bytes([e[12], e[13]]) as usize];
                s.read(off, &mut body).unwrap();
            }
            out.push((i, e, body));
        }
        out
    })
}

/// The MF's space: every piece below its top is a child or a free extent, without gaps.
#[track_caller]
fn assert_space_accounted(c: &SimCard) {
    c.with_storage(|s| {
        let mut table = vec![0u8; 32 + 32 * 64];
        s.read(0, &mut table).unwrap();
        let slots = table[6] as usize;
        let mf = &table[32..64];
        let (mf_off, top) = (
            u16::from_be_bytes([mf[10], mf[11]]),
            u16::from_be_bytes([mf[14], mf[15]]),
        );
        let mut pieces: Vec<(u16, u16)> = (1..slots)
            .map(|i| &table[32 + 32 * i..64 + 32 * i])
            .filter(|e| e[0] != 0 && e[1] == 0)
            .map(|e| {
                (
                    u16::from_be_bytes([e[10], e[11]]),
                    u16::from_be_bytes([e[12], e[13]]),
                )
            })
            .collect();
        pieces.sort();
        let mut at = mf_off;
        for (o, z) in pieces {
            assert_eq!(o, at, "a gap or an overlap in the MF's space");
            at = o + z;
        }
        assert_eq!(at, mf_off + top, "the pieces end at the MF's top");
    });
}

// ----------------------------------------------------------------------- the area's life

#[test]
fn the_community_area_is_granted_handed_over_and_used_at_the_gates() {
    let a = community();
    let mut c = fresh();
    let g = grant(&mut c, &a).unwrap();
    assert_eq!(
        g.apdus, 6,
        "SELECT MF, READ EF05, GET CHALLENGE + EXTERNAL AUTHENTICATE, GET CHALLENGE + CREATE FILE"
    );
    assert_eq!(
        area::state_on(&c, &a).as_deref(),
        Some("area granted, awaiting hand-over")
    );
    assert_space_accounted(&c);
    let h = handover(&mut c, &a).unwrap();
    eprintln!(
        "grant: {} APDUs, {} programs; hand-over: {} APDUs, {} programs",
        g.apdus, g.programs, h.apdus, h.programs
    );
    assert_eq!(area::state_on(&c, &a).as_deref(), Some("area handed over"));
    // The front door at 19:30: open, and logged.
    let mut door = DoorTerminal::new(&a, DoorGate::door(3)).unwrap();
    let p = door.present(&mut c, at("20260316", "193000")).unwrap();
    assert!(p.granted, "{}", p.reason);
    assert_eq!(
        (
            p.resident.name.as_str(),
            p.resident.building.as_str(),
            p.resident.room.as_str()
        ),
        ("张三", "0012", "0301")
    );
    assert_eq!(p.resident.plate, "浙F12345");
    // The car park at 23:35: outside the hours — refused, and logged too.
    let mut barrier = DoorTerminal::new(&a, DoorGate::parking(1, Direction::In)).unwrap();
    let q = barrier.present(&mut c, at("20260316", "233500")).unwrap();
    assert!(!q.granted);
    assert_eq!(q.reason, "outside the permitted hours");
    // Barrier 5 is not in the rule; and after the resident record expires, nothing opens.
    let mut other = DoorTerminal::new(&a, DoorGate::parking(5, Direction::Out)).unwrap();
    assert_eq!(
        other
            .present(&mut c, at("20260316", "120000"))
            .unwrap()
            .reason,
        "not this gate"
    );
    assert_eq!(
        door.present(&mut c, at("20310101", "120000"))
            .unwrap()
            .reason,
        "resident record expired"
    );
    // The entry log, newest first.
    let log = door.entries(&mut c).unwrap();
    assert_eq!(log.len(), 4);
    assert_eq!(log[3], p.record);
    assert_eq!(log[2], q.record);
    assert_eq!(log[3][11], 1);
    assert_eq!(log[2][11], 0);
    // A reader of another community (other keys) finds no genuine card.
    let forged = AreaProfile::parse(
        "forged.toml",
        &COMMUNITY.replace(
            "A5A6A7A8A9AAABACADAEAFA0A1A2A3A4",
            "00000000000000000000000000000000",
        ),
    )
    .unwrap();
    let mut fake = DoorTerminal::new(&forged, DoorGate::door(3)).unwrap();
    let e = fake.present(&mut c, at("20260316", "193100")).unwrap_err();
    assert!(e.to_string().contains("not a genuine card"), "{e}");
}

#[test]
fn the_scripts_replay_through_cos_sim_replay() {
    // What `--script` writes is what ran: the vector runner accepts it on an image.
    let a = community();
    let dir = tempfile::tempdir().unwrap();
    let mut c = fresh();
    grant(&mut c, &a).unwrap();
    let img = dir.path().join("granted.img");
    c.save(&img).unwrap();
    let file = dir.path().join("handover.toml");
    std::fs::write(&file, area::handover_script(&a).unwrap()).unwrap();
    let run = cos_sim::vectors::run_paths(
        std::slice::from_ref(&file),
        cos_sim::vectors::runner::Options {
            target: cos_sim::vectors::runner::Target::Image(img),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        run.outcomes.iter().all(|o| o.passed()),
        "{:?}",
        run.outcomes
    );
    assert_eq!(run.outcomes.len(), 1);
}

#[test]
fn the_command_line_grants_hands_over_opens_and_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("card.img");
    let exe = env!("CARGO_BIN_EXE_cos-sim");
    let profile = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../profiles/areas/community-access.toml"
    );
    let run = |args: &[&str]| {
        let o = std::process::Command::new(exe).args(args).output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let img_s = img.to_str().unwrap();
    assert!(run(&["personalise", "--out", img_s]).0);
    let script = dir.path().join("grant.toml");
    let (ok, out) = run(&[
        "area",
        "grant",
        "--card",
        img_s,
        "--profile",
        profile,
        "--script",
        script.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("6 APDUs"), "{out}");
    assert!(std::fs::read_to_string(&script)
        .unwrap()
        .contains("external_auth"));
    let (ok, out) = run(&["area", "handover", "--card", img_s, "--profile", profile]);
    assert!(ok, "{out}");
    assert!(out.contains("area handed over"), "{out}");
    let (ok, out) = run(&[
        "area",
        "door",
        "--card",
        img_s,
        "--profile",
        profile,
        "--at",
        "20260316 193000",
    ]);
    assert!(ok && out.contains("OPEN"), "{out}");
    let (ok, out) = run(&[
        "area",
        "revoke",
        "--card",
        img_s,
        "--profile",
        profile,
        "--mode",
        "block",
    ]);
    assert!(ok && out.contains("blocked by the issuer"), "{out}");
    let (ok, out) = run(&["area", "door", "--card", img_s, "--profile", profile]);
    assert!(
        !ok && out.contains("6283"),
        "a blocked area opens nothing: {out}"
    );
    let (ok, out) = run(&["area", "revoke", "--card", img_s, "--profile", profile]);
    assert!(ok && out.contains("no such area"), "{out}");
    let (ok, out) = run(&["info", "--card", img_s]);
    assert!(ok && !out.contains("AC01"), "{out}");
    let (ok, out) = run(&[
        "area",
        "revoke",
        "--card",
        img_s,
        "--profile",
        profile,
        "--mode",
        "nonsense",
    ]);
    assert!(!ok && out.contains("--mode"), "{out}");
}

// ----------------------------------------------------------------------- refusals

#[test]
fn grant_refusals() {
    let a = community();
    // No issuer authentication: the grant script without its EXTERNAL AUTHENTICATE.
    let text = area::grant_script(&a, &card_profile()).unwrap();
    let mut doc: toml::Table = toml::from_str(&text).unwrap();
    let vectors = doc.get_mut("vector").unwrap().as_array_mut().unwrap();
    let v = vectors[0].as_table_mut().unwrap();
    let steps = v.get_mut("step").unwrap().as_array_mut().unwrap();
    steps.retain(|s| !s.as_table().unwrap().contains_key("external_auth"));
    let mut c = fresh();
    let before = logical(&c);
    fails_with(
        area::run(&mut c, "no-auth", &toml::to_string(&doc).unwrap()),
        "6982",
    );
    assert_eq!(logical(&c), before);
    // Over the MF's free space.
    let big = AreaProfile::parse(
        "big.toml",
        &COMMUNITY.replace("space = 512", "space = 30000"),
    )
    .unwrap();
    fails_with(grant(&mut c, &big), "6A84");
    // A FID or a DF name already on the card, or a name shadowing an application's.
    for (what, from, to, sw) in [
        (
            "the e-purse's FID",
            "fid = \"AC01\"",
            "fid = \"3F01\"",
            "6A89",
        ),
        (
            "the e-purse's name",
            "F0000000C0440001",
            "A00000000386980701",
            "6A8A",
        ),
        (
            "a prefix of the transit AID",
            "F0000000C0440001",
            "A0000006320101",
            "6A8A",
        ),
        (
            "the library AID extended",
            "F0000000C0440001",
            "F043434F534C49420102",
            "6A8A",
        ),
    ] {
        let p = AreaProfile::parse(what, &COMMUNITY.replace(from, to)).unwrap();
        fails_with(grant(&mut c, &p), sw);
        assert_eq!(logical(&c), before, "{what}");
    }
    // Granted once; the same grant again is refused.
    grant(&mut c, &a).unwrap();
    let after = logical(&c);
    fails_with(grant(&mut c, &a), "6A89");
    fails_with(
        grant(
            &mut c,
            &AreaProfile::parse("x", &COMMUNITY.replace("fid = \"AC01\"", "fid = \"AC09\""))
                .unwrap(),
        ),
        "6A8A",
    );
    assert_eq!(logical(&c), after);
    // A profile whose rights name the MF's level is refused before any APDU.
    let e = AreaProfile::parse(
        "bad.toml",
        &COMMUNITY.replace("create = \"F3\"", "create = \"0F\""),
    )
    .unwrap_err();
    assert_eq!(e.path, "area.create");
    let e = AreaProfile::parse("bad.toml", &COMMUNITY.replace("space = 512", "space = 200"))
        .unwrap_err();
    assert_eq!(e.path, "area.space");
}

#[test]
fn the_issuer_can_neither_read_nor_rekey_a_handed_over_area() {
    let a = community();
    let mut c = fresh();
    grant(&mut c, &a).unwrap();
    handover(&mut c, &a).unwrap();
    let asn8 = asn8(&mut c);
    let master = issuer_key("card_master", &asn8);
    let maintenance = issuer_key("card_maintenance", &asn8);
    let k0 = initial_key(&a, &asn8);
    c.power_off();
    assert_eq!(
        send(&mut c, &hex::decode("00A4000C023F00").unwrap()),
        0x9000
    );
    assert_eq!(ext_auth(&mut c, 0x00, &master), 0x9000);
    assert_eq!(select_name(&mut c, &a.df_name()), 0x9000);
    let before = logical(&c);
    // Read the resident record and the access rights: the MF's level F counts for nothing.
    assert_eq!(send(&mut c, &hex::decode("00B0810030").unwrap()), 0x6982);
    assert_eq!(send(&mut c, &hex::decode("00B2011408").unwrap()), 0x6982);
    assert_eq!(send(&mut c, &hex::decode("00B2011C10").unwrap()), 0x6982);
    // Its keys are not the area's: no key 00 to authenticate with.
    assert_eq!(ext_auth(&mut c, 0x00, &master), 0x6A88);
    // Re-key the area with the MF's maintenance key or with the initial key it once knew.
    for k in [&maintenance, &k0] {
        let sw = secured(
            &mut c,
            [0x84, 0xD4, 0x36, 0x00],
            &line_key_data(k),
            k,
            Some(k),
        );
        assert!(sw == 0x6982 || sw == 0x6988, "{sw:04X}");
        assert_eq!(
            secured(
                &mut c,
                [0x84, 0xD4, 0x01, 0x05],
                &line_key_data(k),
                k,
                Some(k)
            ),
            0x6988,
            "adding a key"
        );
        assert_eq!(
            secured(&mut c, [0x84, 0x1E, 0x00, 0x00], &[], k, None),
            0x6988
        );
        assert_eq!(
            secured(
                &mut c,
                [0x84, 0xE0, 0x00, 0x09],
                &hex::decode("280010F0F0FFFF").unwrap(),
                k,
                None
            ),
            0x6982
        );
        assert_eq!(
            secured(&mut c, [0x84, 0x0E, 0x00, 0x00], &[], k, None),
            0x6982
        );
    }
    assert_eq!(logical(&c), before, "the issuer changed nothing");
    // Replaying the service unit's hand-over with the initial key fails at its first WRITE KEY
    // (the community's key may only be changed at its level 3).
    fails_with(handover(&mut c, &a), "6982");
    assert_eq!(logical(&c), before);
    // The community's reader still works.
    let mut door = DoorTerminal::new(&a, DoorGate::door(0)).unwrap();
    assert!(
        door.present(&mut c, at("20260316", "080000"))
            .unwrap()
            .granted
    );
}

#[test]
fn a_hand_over_the_issuer_made_first_is_detected() {
    // Between grant and hand-over the issuer (who knows the initial key) replaces it itself:
    // the community's hand-over then fails at once, before it writes anything, and the
    // community asks for a revocation and a new grant.
    let a = community();
    let mut c = fresh();
    grant(&mut c, &a).unwrap();
    let asn8 = asn8(&mut c);
    let k0 = initial_key(&a, &asn8);
    let rogue = HostKey::new(k0.alg, &[0x42; 16]).unwrap();
    assert_eq!(select_name(&mut c, &a.df_name()), 0x9000);
    // Before the hand-over nothing else is accepted, not even with the initial key.
    assert_eq!(
        secured(
            &mut c,
            [0x84, 0xE0, 0x00, 0x09],
            &hex::decode("280010F0F0FFFF").unwrap(),
            &k0,
            None
        ),
        0x6985
    );
    assert_eq!(
        secured(
            &mut c,
            [0x84, 0xD4, 0x01, 0x05],
            &line_key_data(&rogue),
            &k0,
            Some(&k0)
        ),
        0x6985
    );
    assert_eq!(
        secured(
            &mut c,
            [0x84, 0xD4, 0x36, 0x00],
            &line_key_data(&rogue),
            &k0,
            Some(&k0)
        ),
        0x9000
    );
    let before = logical(&c);
    fails_with(handover(&mut c, &a), "6988");
    assert_eq!(logical(&c), before);
    // The issuer revokes it and grants it again: the hand-over goes through.
    revoke(&mut c, &a, Revocation::Erase).unwrap();
    grant(&mut c, &a).unwrap();
    handover(&mut c, &a).unwrap();
}

#[test]
fn the_area_cannot_reach_outside_itself() {
    let a = community();
    let p = card_profile();
    let mut c = fresh();
    grant(&mut c, &a).unwrap();
    handover(&mut c, &a).unwrap();
    let asn8 = asn8(&mut c);
    let admin = area_key(&a, "external-auth", 1, &asn8);
    let line = area_key(&a, "line-protection", 0, &asn8);
    c.power_off();
    assert_eq!(select_name(&mut c, &a.df_name()), 0x9000);
    assert_eq!(ext_auth(&mut c, 0x01, &admin), 0x9000);
    // Its quota: 512 − 96 (keys) − 240 (files) = 176 bytes left.
    let ef = |n: u16| {
        let mut d = vec![0x28];
        d.extend_from_slice(&n.to_be_bytes());
        d.extend_from_slice(&[0xF0, 0xF3, 0xFF, 0xFF]);
        d
    };
    assert_eq!(
        secured(&mut c, [0x84, 0xE0, 0x00, 0x09], &ef(177), &line, None),
        0x6A84
    );
    let before = applications(&c);
    // Every application on the card: selectable, but not changeable with the area's keys.
    for app in &p.apps {
        let name = perso::df_name(app);
        assert_eq!(select_name(&mut c, &name), 0x9000, "{}", app.name);
        for (header, data, enc) in [
            ([0x84, 0xD4, 0x01, 0x05], line_key_data(&line), true),
            ([0x84, 0xE0, 0x00, 0x09], ef(8), false),
            ([0x84, 0x1E, 0x00, 0x01], Vec::new(), false),
            ([0x84, 0x0E, 0x00, 0x00], Vec::new(), false),
        ] {
            let sw = secured(&mut c, header, &data, &line, enc.then_some(&line));
            assert!(
                [0x6982, 0x6988, 0x6A82, 0x6882].contains(&sw),
                "{} {:02X?}: {sw:04X}",
                app.name,
                header
            );
        }
    }
    // The social-insurance holder record needs the PIN or a hospital: not the area's level.
    let si = perso::df_name(p.app("social-insurance").unwrap());
    assert_eq!(select_name(&mut c, &si), 0x9000);
    assert_eq!(send(&mut c, &hex::decode("00B2013400").unwrap()), 0x6982);
    // At the MF: the issuer's commands.
    assert_eq!(
        send(&mut c, &hex::decode("00A4000C023F00").unwrap()),
        0x9000
    );
    assert_eq!(
        secured(
            &mut c,
            [0x84, 0x0E, 0x00, 0x00],
            &hex::decode("AC01").unwrap(),
            &line,
            None
        ),
        0x6982
    );
    assert_eq!(
        secured(
            &mut c,
            [0x84, 0x1E, 0x00, 0x00],
            &hex::decode("1001").unwrap(),
            &line,
            None
        ),
        0x6988
    );
    assert_eq!(applications(&c), before, "no application changed");

    // Another service unit's area next door: its keys open nothing of the community's.
    let b = canteen();
    grant(&mut c, &b).unwrap();
    handover(&mut c, &b).unwrap();
    let their_admin = area_key(&b, "external-auth", 1, &asn8);
    let their_line = area_key(&b, "line-protection", 0, &asn8);
    assert_eq!(select_name(&mut c, &b.df_name()), 0x9000);
    assert_eq!(ext_auth(&mut c, 0x01, &their_admin), 0x9000);
    assert_eq!(select_name(&mut c, &a.df_name()), 0x9000);
    assert_eq!(send(&mut c, &hex::decode("00B0810030").unwrap()), 0x6982);
    assert_eq!(
        ext_auth(&mut c, 0x01, &their_admin),
        0x63C2,
        "not the community's key"
    );
    assert_eq!(
        secured(
            &mut c,
            [0x84, 0xD4, 0x01, 0x05],
            &line_key_data(&their_line),
            &their_line,
            Some(&their_line)
        ),
        0x6988
    );
    let mut door = DoorTerminal::new(&b, DoorGate::door(1)).unwrap();
    assert!(
        door.present(&mut c, at("20260316", "120000"))
            .unwrap()
            .granted
    );
    // The community's own admin restores its try: only the counter moved.
    assert_eq!(select_name(&mut c, &a.df_name()), 0x9000);
    assert_eq!(ext_auth(&mut c, 0x01, &admin), 0x9000);
}

#[test]
fn revocation_block_unblock_and_erase() {
    let a = community();
    let mut c = fresh();
    grant(&mut c, &a).unwrap();
    handover(&mut c, &a).unwrap();
    let mut door = DoorTerminal::new(&a, DoorGate::door(1)).unwrap();
    revoke(&mut c, &a, Revocation::Block).unwrap();
    assert_eq!(
        area::state_on(&c, &a).as_deref(),
        Some("area handed over, blocked by the issuer")
    );
    let e = door.present(&mut c, at("20260316", "080000")).unwrap_err();
    assert!(e.to_string().contains("6283"), "{e}");
    // The community cannot lift the issuer's block.
    let asn8 = asn8(&mut c);
    let line = area_key(&a, "line-protection", 0, &asn8);
    assert_eq!(select_name(&mut c, &a.df_name()), 0x6283);
    assert_eq!(
        secured(&mut c, [0x84, 0x18, 0x00, 0x00], &[], &line, None),
        0x6985
    );
    revoke(&mut c, &a, Revocation::Block).unwrap();
    revoke(&mut c, &a, Revocation::Unblock).unwrap();
    assert!(
        door.present(&mut c, at("20260316", "080100"))
            .unwrap()
            .granted
    );
    fails_with(revoke(&mut c, &a, Revocation::Unblock), "6985");
    // Erase: the files go, the quota comes back, the name can be granted again.
    revoke(&mut c, &a, Revocation::Erase).unwrap();
    assert_eq!(area::state_on(&c, &a), None);
    assert_space_accounted(&c);
    assert_eq!(select_name(&mut c, &a.df_name()), 0x6A82);
    fails_with(revoke(&mut c, &a, Revocation::Erase), "6A82");
    grant(&mut c, &a).unwrap();
    handover(&mut c, &a).unwrap();
    assert!(
        door.present(&mut c, at("20260316", "080200"))
            .unwrap()
            .granted
    );
    // For good.
    revoke(&mut c, &a, Revocation::BlockPermanently).unwrap();
    assert_eq!(select_name(&mut c, &a.df_name()), 0x6A81);
    fails_with(revoke(&mut c, &a, Revocation::Unblock), "6985");
    revoke(&mut c, &a, Revocation::Erase).unwrap();
    assert_space_accounted(&c);
}

// ----------------------------------------------------------------------- tearing

/// A reader that keeps the card's logical state after every APDU and the programs it took.
struct Recording<'a> {
    card: &'a mut SimCard,
    states: Vec<Vec<u8>>,
    ends: Vec<u64>,
    ins: Vec<u8>,
}

impl Reader for Recording<'_> {
    fn name(&self) -> String {
        "recording".into()
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let r = self.card.transmit(apdu);
        if r.is_empty() {
            return Err(ReaderError::NoAnswer);
        }
        self.states.push(logical(self.card));
        self.ends.push(self.card.programs());
        self.ins.push(apdu.get(1).copied().unwrap_or(0));
        Ok(r)
    }
    fn reset(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.card
            .reset()
            .map_err(|e| ReaderError::Io(e.to_string()))
    }
}

/// Cut the power at every page program of a party's script, started on a card from `base`:
/// after power-on the card is exactly as it was before the APDU the cut hit, or as after it —
/// never a third state — and the MF's space is accounted. Returns (programs, APDUs).
fn tear_script(what: &str, base: &[u8], script: &str) -> (u64, usize) {
    let mut c = card_from(base, 9);
    let start = c.programs();
    let s0 = logical(&c);
    let (states, ends, ins, apdus) = {
        let mut r = Recording {
            card: &mut c,
            states: vec![s0],
            ends: vec![start],
            ins: Vec::new(),
        };
        let out = area::run_on(&mut r, what, script).unwrap();
        (r.states, r.ends, r.ins, out.apdus)
    };
    let total = ends.last().unwrap() - start;
    for k in 0..total {
        // The APDU whose programs include the cut.
        let i = ends.iter().position(|&e| e > start + k).unwrap() - 1;
        let mut t = card_from(base, 9);
        t.arm_tear(k, TearMode::Partial { seed: k });
        let r = area::run(&mut t, what, script);
        assert!(r.is_err(), "{what}: cut {k} did not stop the script");
        t.power_on().unwrap();
        let now = logical(&t);
        // EXTERNAL AUTHENTICATE commits the spent try before comparing (the kernel's rule
        // against tearing attacks): a cut between the two leaves the try spent, nothing else.
        let spent_try = ins[i] == 0x82 && masked(&t) == masked_of(&states[i]);
        assert!(
            now == states[i] || now == states[i + 1] || spent_try,
            "{what}: cut {k} (APDU {i}) left a third state"
        );
        assert_space_accounted(&t);
    }
    eprintln!(
        "{what}: {total} page programs over {apdus} APDUs, every cut before or after its APDU"
    );
    (total, apdus)
}

#[test]
fn tearing_grant_hand_over_door_and_revocation() {
    let a = community();
    let p = card_profile();
    let base = personalised_image().to_vec();
    tear_script("grant", &base, &area::grant_script(&a, &p).unwrap());
    let mut c = card_from(&base, 9);
    grant(&mut c, &a).unwrap();
    let granted = c.image().bytes;
    tear_script("hand-over", &granted, &area::handover_script(&a).unwrap());
    let mut c = card_from(&granted, 9);
    handover(&mut c, &a).unwrap();
    let handed = c.image().bytes;
    for how in [
        Revocation::Erase,
        Revocation::Block,
        Revocation::BlockPermanently,
    ] {
        tear_script(
            &format!("revocation {how:?}"),
            &handed,
            &area::revoke_script(&a, &p, how).unwrap(),
        );
    }
    // A revocation cut anywhere, then sent again: the area is gone and the space accounted.
    let script = area::revoke_script(&a, &p, Revocation::Erase).unwrap();
    let mut probe = card_from(&handed, 9);
    let cost = revoke(&mut probe, &a, Revocation::Erase).unwrap().programs;
    for k in 0..cost {
        let mut t = card_from(&handed, 9);
        t.arm_tear(k, TearMode::Partial { seed: k });
        assert!(area::run(&mut t, "revoke", &script).is_err());
        t.power_on().unwrap();
        match area::run(&mut t, "revoke", &script) {
            Ok(_) => {}
            Err(e) => assert!(e.message.contains("6A82"), "cut {k}: {}", e.message),
        }
        assert_eq!(area::state_on(&t, &a), None);
        assert_space_accounted(&t);
    }
    // The door's entry: the log record is written whole or not at all.
    let mut d = card_from(&handed, 9);
    let mut door = DoorTerminal::new(&a, DoorGate::door(2)).unwrap();
    let p0 = d.programs();
    door.present(&mut d, at("20260316", "070000")).unwrap();
    let cost = d.programs() - p0;
    for k in 0..cost {
        let mut t = card_from(&handed, 9);
        t.arm_tear(k, TearMode::Partial { seed: k });
        assert!(door.present(&mut t, at("20260316", "070000")).is_err());
        t.power_on().unwrap();
        let n = door_entries(&mut t, &a);
        assert!(n == 0 || n == 1, "cut {k}: {n} records");
    }
}

fn door_entries(c: &mut SimCard, a: &AreaProfile) -> usize {
    let mut door = DoorTerminal::new(a, DoorGate::door(2)).unwrap();
    door.present(c, at("20260316", "070500")).unwrap();
    door.entries(c).unwrap().len() - 1
}

// ----------------------------------------------------------------------- the other applications

/// The end-to-end flows of the card's applications, as the demo runs them; returns what each
/// reported (balances, counters, loans, settlement numbers).
fn city_day(c: &mut SimCard) -> Vec<String> {
    let p = card_profile();
    let mut out = Vec::new();
    // Hospital visit, PIN and settlement.
    let hospital = SocialInsuranceTerminal::hospital(&p);
    let bill = Settlement {
        when: SiDateTime::new([0x20, 0x26, 0x03, 0x16, 0x08, 0x10, 0x00]).unwrap(),
        institution: [0x33, 0x04, 0x02, 0x00, 0x00, 0x01],
        terminal: [0, 0, 0, 0, 0, 1],
        visit: VisitType::Outpatient,
        total: Fen(18_600),
        fund: Fen(11_160),
        account: Fen(7_440),
        cash: Fen(0),
    };
    let v = hospital.visit(c, "123456", &bill).unwrap();
    out.push(format!(
        "hospital: {} settlement {}",
        v.holder.name, v.settlement.number
    ));
    // Purse load and purchase.
    let mut bank = PurseTerminal::new(&p, "e-purse", 1, *b"BANK01").unwrap();
    bank.select(c).unwrap();
    let l = bank
        .load(c, Purse::Wallet, 10_000, at("20260316", "090000"))
        .unwrap();
    out.push(format!("load: balance {} atc {}", l.balance, l.atc));
    let mut pos = PurseTerminal::new(&p, "e-purse", 1, *b"SHOP07").unwrap();
    pos.select(c).unwrap();
    let b = pos
        .purchase(c, Purse::Wallet, 2_350, at("20260316", "184000"))
        .unwrap();
    out.push(format!("purchase: balance {} atc {}", b.balance, b.atc));
    // Transit: top-up and taps (contactless).
    c.set_protocol(cos_core::apdu::Protocol::T1);
    let mut transit = TransitSystem::from_profile(&p).unwrap();
    let t = |s: &str| TransitTime::parse(s).unwrap();
    let top = transit.top_up(c, 3_000, t("2026-03-16 09:05")).unwrap();
    out.push(format!("transit top-up: {}", top.balance));
    let bus = transit
        .tap(c, &Gate::bus(7, 1024), t("2026-03-16 09:20"))
        .unwrap();
    let inn = transit
        .tap(c, &Gate::entry(2), t("2026-03-16 09:45"))
        .unwrap();
    let outt = transit
        .tap(c, &Gate::exit(9), t("2026-03-16 10:15"))
        .unwrap();
    out.push(format!(
        "transit: bus {} in {} out {} -> {}",
        bus.fare.charged, inn.balance, outt.fare.charged, outt.balance
    ));
    c.set_protocol(cos_core::apdu::Protocol::T0);
    // Library: borrow and return.
    let mut lib = LibraryTerminal::new(&p, *b"LIB001", 1).unwrap();
    let patron = lib.open(c, Role::Circulation).unwrap();
    let today = LibraryDay::parse("20260316").unwrap();
    let loan = lib.borrow(c, "9787020002207", today).unwrap();
    out.push(format!(
        "library: {} slot {} due {}",
        patron.number, loan.slot, loan.due
    ));
    let mut lib2 = LibraryTerminal::new(&p, *b"LIB002", 2).unwrap();
    lib2.open(c, Role::Circulation).unwrap();
    let back = lib2.return_item(c, "9787020002207", today).unwrap();
    out.push(format!("library return: {} in use", back.loans_in_use));
    out
}

/// Gain and lose areas: the community's (granted, handed over, used at the gate), a canteen's
/// next to it; the community's revoked (a hole in the MF's space), then the canteen's.
fn area_life(c: &mut SimCard, keep_canteen: bool) {
    let (a, b) = (community(), canteen());
    grant(c, &a).unwrap();
    handover(c, &a).unwrap();
    let mut door = DoorTerminal::new(&a, DoorGate::door(1)).unwrap();
    assert!(door.present(c, at("20260316", "193000")).unwrap().granted);
    grant(c, &b).unwrap();
    handover(c, &b).unwrap();
    revoke(c, &a, Revocation::Erase).unwrap();
    assert_space_accounted(c);
    if !keep_canteen {
        revoke(c, &b, Revocation::Erase).unwrap();
        assert_space_accounted(c);
    }
}

#[test]
fn the_applications_are_untouched_by_the_life_of_areas() {
    let plain = fresh();
    let apps = applications(&plain);
    for keep_canteen in [false, true] {
        let mut c = fresh();
        area_life(&mut c, keep_canteen);
        assert_eq!(
            applications(&c),
            apps,
            "the applications' slots, files and keys are as issued"
        );
        // The same day on a card that never had an area and on this one (same card randoms from
        // here on): the same answers and, byte for byte, the same application files afterwards.
        let mut a = card_from(&plain.image().bytes, 77);
        let mut b = card_from(&c.image().bytes, 77);
        let ra = city_day(&mut a);
        let rb = city_day(&mut b);
        assert_eq!(ra, rb);
        assert_eq!(applications(&a), applications(&b));
        // And an area granted after all that still works.
        if keep_canteen {
            let community = community();
            grant(&mut b, &community).unwrap();
            handover(&mut b, &community).unwrap();
            let mut door = DoorTerminal::new(&community, DoorGate::door(1)).unwrap();
            assert!(
                door.present(&mut b, at("20260317", "070000"))
                    .unwrap()
                    .granted
            );
            assert_space_accounted(&b);
        }
    }
}

#[test]
fn an_area_is_never_served_by_an_applet() {
    // A city pass carries no social-insurance application; an area named like it gets the
    // kernel's generic commands only — the social-insurance applet never binds to it.
    let si_name = hex::encode_upper(perso::df_name(
        card_profile().app("social-insurance").unwrap(),
    ));
    // On the citizen card the name is taken (6A8A); so build a card without the application.
    let mut text = String::new();
    let mut skip = false;
    for line in CARD_PROFILE.lines() {
        if line.starts_with("[[app]]") || line.starts_with("[keys.") {
            skip = false;
        }
        if line.trim() == "name = \"social-insurance\"" {
            skip = true;
            // drop the `[[app]]` header just pushed
            let cut = text.trim_end().rfind("[[app]]").unwrap();
            text.truncate(cut);
        }
        if !skip {
            text.push_str(line);
            text.push('\n');
        }
    }
    let text = text.replace("type = \"citizen\"", "type = \"city-pass\"");
    let p = Profile::parse("city-pass.toml", &text).unwrap();
    let mut c = blank_card(&p).unwrap();
    perso::script(&p).unwrap().run(&mut c).unwrap();
    let named = AreaProfile::parse(
        "si-like.toml",
        &COMMUNITY.replace(
            "aid = \"F0000000C0440001\"",
            &format!("name_text = \"sx1.sh.社会保障\"\n# was {si_name}"),
        ),
    )
    .unwrap();
    area::run(&mut c, "grant", &area::grant_script(&named, &p).unwrap()).unwrap();
    area::run(&mut c, "hand-over", &area::handover_script(&named).unwrap()).unwrap();
    // The FCI has no applet data, and the applet's own commands are unknown here (6D00).
    let mut sel = vec![0x00, 0xA4, 0x04, 0x00, named.df_name().len() as u8];
    sel.extend_from_slice(&named.df_name());
    let (fci, sw) = c.exchange(&sel).unwrap();
    assert_eq!(sw, 0x9000);
    assert!(fci.ends_with(&[0xA5, 0x00]), "{}", hex::encode_upper(&fci));
    assert_eq!(send(&mut c, &hex::decode("80CA000000").unwrap()), 0x6D00);
    let mut door = DoorTerminal::new(&named, DoorGate::door(1)).unwrap();
    assert!(
        door.present(&mut c, at("20260316", "120000"))
            .unwrap()
            .granted
    );
}

#[test]
fn the_demo_runs_to_the_end_with_its_community_scene() {
    cos_sim::demo::run(CARD_PROFILE, false, None).unwrap();
}
