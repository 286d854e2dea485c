//! Post-issuance application areas at the kernel level (`docs/areas.md`): the grant (CREATE FILE
//! `B8`), the hand-over, the rights model, the issuer's revocation (block, erase and reclaim), the
//! free extents of the MF's space, and tearing at every page program.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use cos_core::crypto::Key;
use cos_core::nvm::{Storage, TearMode};

const K0: [u8; 16] = *b"AREA-INITIAL-K0!";
const K1: [u8; 16] = *b"AREA-SERVICE-K1!";
const KA: [u8; 16] = *b"AREA-ADMIN-KEY-A";
const AREA_FID: u16 = 0xAC01;
const AREA_NAME: &str = "F0434F4D4D01";

fn mf_line() -> Key {
    tdes(&MF_LINE_KEY)
}

/// WRITE KEY data of a line-protection key.
fn line_key(k: &[u8; 16], use_r: u8, change: u8) -> Vec<u8> {
    let mut d = vec![0x36, use_r, change, 0xFF, 0x33];
    d.extend_from_slice(k);
    d
}

/// `E(Ld ‖ data ‖ 80 00…)` under a 3DES key.
fn enc(key: &Key, data: &[u8]) -> Vec<u8> {
    let mut b = vec![data.len() as u8];
    b.extend_from_slice(data);
    b.push(0x80);
    while b.len() % 8 != 0 {
        b.push(0);
    }
    key.encrypt_ecb(&mut b).unwrap();
    b
}

#[derive(Clone)]
struct Grant {
    fid: u16,
    name: Vec<u8>,
    quota: u16,
    create: u8,
    erase: u8,
    kf: u16,
    add: u8,
    key: Vec<u8>,
}

impl Default for Grant {
    fn default() -> Grant {
        Grant {
            fid: AREA_FID,
            name: h(AREA_NAME),
            quota: 0x0100,
            create: 0xF3,
            erase: 0xF3,
            kf: 0x0048,
            add: 0xF0,
            key: line_key(&K0, 0xF0, 0xF0),
        }
    }
}

impl Grant {
    fn named(fid: u16, name: &str, quota: u16) -> Grant {
        Grant {
            fid,
            name: h(name),
            quota,
            kf: 0x30,
            ..Grant::default()
        }
    }

    /// The CREATE FILE `B8` data, the key encrypted under `cipher`.
    fn data_with(&self, cipher: &Key) -> Vec<u8> {
        let mut d = vec![0xB8];
        d.extend_from_slice(&self.quota.to_be_bytes());
        d.extend_from_slice(&[self.create, self.erase, 0x95]);
        d.extend_from_slice(&self.kf.to_be_bytes());
        d.push(self.add);
        d.push(self.name.len() as u8);
        d.extend_from_slice(&self.name);
        d.extend_from_slice(&enc(cipher, &self.key));
        d
    }

    fn data(&self) -> Vec<u8> {
        self.data_with(&mf_line())
    }

    fn header(&self) -> [u8; 4] {
        let [a, b] = self.fid.to_be_bytes();
        [0x84, 0xE0, a, b]
    }
}

/// At the MF with the issuer's level F (card master key).
fn issuer(c: &mut Card) {
    c.ok("00A4 000C 02 3F00");
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x9000);
}

/// Grant as the issuer: authenticate at the MF, then CREATE FILE B8 under the MF's MAC.
fn grant(c: &mut Card, g: &Grant) -> u16 {
    issuer(c);
    c.secured(g.header(), &g.data(), &mf_line(), None)
}

fn select(c: &mut Card, name: &[u8]) -> u16 {
    let mut apdu = vec![0x00, 0xA4, 0x04, 0x0C, name.len() as u8];
    apdu.extend_from_slice(name);
    c.raw(&apdu).1
}

/// The service unit's hand-over: the initial key replaced by K1 (use F0, change F3), then its
/// admin key KA (external authentication, next state 3).
fn handover(c: &mut Card, name: &[u8]) {
    assert_eq!(select(c, name), 0x9000);
    let k0 = tdes(&K0);
    let sw = c.secured(
        [0x84, 0xD4, 0x36, 0x00],
        &line_key(&K1, 0xF0, 0xF3),
        &k0,
        Some(&k0),
    );
    assert_eq!(sw, 0x9000, "hand-over");
    let k1 = tdes(&K1);
    let mut admin = h("39 F0 F3 03 33");
    admin.extend_from_slice(&KA);
    assert_eq!(
        c.secured([0x84, 0xD4, 0x01, 0x01], &admin, &k1, Some(&k1)),
        0x9000
    );
}

/// As the service unit's admin (level 3) in the area.
fn admin(c: &mut Card, name: &[u8]) {
    assert_eq!(select(c, name), 0x9000);
    assert_eq!(c.ext_auth(0x01, &tdes(&KA)), 0x9000);
}

fn create_in_area(c: &mut Card, fid: u16, body: &str) -> u16 {
    let [a, b] = fid.to_be_bytes();
    c.secured([0x84, 0xE0, a, b], &h(body), &tdes(&K1), None)
}

/// An issued card with the community area granted, handed over, and two files: 0001 the
/// resident record (read F2, write F3 with a MAC) holding `RESIDENT-0001`, 0002 free to read.
fn handed_over() -> Card {
    let mut c = issued();
    assert_eq!(grant(&mut c, &Grant::default()), 0x9000);
    handover(&mut c, &h(AREA_NAME));
    admin(&mut c, &h(AREA_NAME));
    assert_eq!(create_in_area(&mut c, 0x0001, "A8 0010 F2 F3 FFFF"), 0x9000);
    assert_eq!(create_in_area(&mut c, 0x0002, "28 0008 F0 F3 FFFF"), 0x9000);
    assert_eq!(
        c.secured([0x04, 0xD6, 0x81, 0x00], b"RESIDENT-0001", &tdes(&K1), None),
        0x9000
    );
    c.power_cycle();
    c
}

// ------------------------------------------------------------------ space accounting helpers

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

/// What the MF's space holds: its top, and every piece below it (children and free extents).
struct Space {
    size: u16,
    top: u16,
    /// (offset, size, is_extent, slot)
    pieces: Vec<(u16, u16, bool, usize)>,
}

fn space(c: &mut Card) -> Space {
    let d = c.data_area();
    let slots = d[6] as usize;
    let mf = &d[32..64];
    let mut pieces = Vec::new();
    for i in 1..slots {
        let s = &d[32 + 32 * i..64 + 32 * i];
        if s[0] != 0 && s[1] == 0 {
            pieces.push((u16_at(s, 10), u16_at(s, 12), s[0] == 0xFE, i));
        }
    }
    pieces.sort();
    Space {
        size: u16_at(mf, 12),
        top: u16_at(mf, 14),
        pieces,
    }
}

/// No space lost, none counted twice: the MF's children and its free extents tile exactly
/// `[MF offset, MF offset + top)`; no two extents touch and none ends at the top.
#[track_caller]
fn assert_space_accounted(c: &mut Card) -> Space {
    let d = c.data_area();
    let mf_off = u16_at(&d[32..64], 10);
    let sp = space(c);
    let mut at = mf_off;
    let mut prev_extent = false;
    for &(off, size, ext, slot) in &sp.pieces {
        assert_eq!(off, at, "gap or overlap at slot {slot}: {:?}", sp.pieces);
        assert!(!(ext && prev_extent), "adjacent extents: {:?}", sp.pieces);
        at = off + size;
        prev_extent = ext;
    }
    assert_eq!(
        at,
        mf_off + sp.top,
        "pieces end at the top: {:?}",
        sp.pieces
    );
    assert!(!prev_extent, "an extent ends at the top: {:?}", sp.pieces);
    assert!(sp.top <= sp.size);
    sp
}

fn extents(c: &mut Card) -> Vec<(u16, u16)> {
    space(c)
        .pieces
        .iter()
        .filter(|p| p.2)
        .map(|p| (p.0, p.1))
        .collect()
}

/// The logical card: the file table and every EF body (free space excluded).
fn logical(c: &mut Card) -> Vec<u8> {
    let d = c.data_area();
    let slots = d[6] as usize;
    let mut out = d[..32 + 32 * slots].to_vec();
    for i in 1..slots {
        let s = &d[32 + 32 * i..64 + 32 * i];
        if s[0] != 0 && s[0] != 0x38 && s[0] != 0xFE && s[0] != 0x01 {
            let (off, size) = (u16_at(s, 10) as usize, u16_at(s, 12) as usize);
            out.extend_from_slice(&d[off..off + size]);
        }
    }
    out
}

fn programs(c: &mut Card) -> u64 {
    c.kernel().store().nvm().programs()
}

fn arm(c: &mut Card, k: u64, mode: TearMode) {
    c.kernel().store_mut().nvm_mut().arm_tear(k, mode);
}

fn torn(c: &mut Card) -> bool {
    c.kernel().store().nvm().is_power_lost()
}

fn slots_used(c: &mut Card) -> usize {
    let d = c.data_area();
    (1..d[6] as usize).filter(|i| d[32 + 32 * i] != 0).count()
}

// ------------------------------------------------------------------ grant

#[test]
fn grant_makes_an_empty_area_in_one_command() {
    let mut c = issued();
    let before = assert_space_accounted(&mut c);
    let used = slots_used(&mut c);
    issuer(&mut c);
    let g = Grant::default();
    let p0 = programs(&mut c);
    assert_eq!(c.secured(g.header(), &g.data(), &mf_line(), None), 0x9000);
    let cost = programs(&mut c) - p0;
    eprintln!("grant: {cost} page programs");
    let after = assert_space_accounted(&mut c);
    assert_eq!(
        after.top,
        before.top + g.quota,
        "the quota comes from the MF"
    );
    assert_eq!(slots_used(&mut c), used + 2, "the area and its key file");
    // The area answers by name with a plain FCI (no applet), by FID and by path.
    c.power_cycle();
    let fci = c.ok(&format!("00A4 0400 06 {AREA_NAME}"));
    assert_eq!(fci, h(&format!("6F 0A 84 06 {AREA_NAME} A5 00")));
    c.ok("00A4 0000 02 3F00");
    c.ok("00A4 000C 02 AC01");
    c.ok("00A4 080C 02 AC01");
    // It holds nothing but its key: no file, no other key.
    c.refuse("00B0 8100 01", 0x6A82);
    c.refuse("0082 0001 08 0000000000000000", 0x6A88);
    // Its quota holds the key file: the MF's accounting shows one piece of `quota` bytes.
    let piece = after.pieces.iter().find(|p| p.1 == g.quota).unwrap();
    assert!(!piece.2);
}

/// (what, header, data, MAC key, expected SW).
type Case = (&'static str, [u8; 4], Vec<u8>, Key, u16);

#[test]
fn grant_refusals_change_nothing() {
    let g = Grant::default();
    // Without the issuer's authentication: the MF's create right (0F).
    let mut c = issued();
    c.ok("00A4 000C 02 3F00");
    let before = c.image();
    assert_eq!(c.secured(g.header(), &g.data(), &mf_line(), None), 0x6982);
    assert_same_image(&before, &c.image(), "no issuer authentication");

    let cases: Vec<Case> = {
        let mut v = Vec::new();
        let mut push = |what: &'static str, g: Grant, key: Key, sw: u16| {
            v.push((what, g.header(), g.data(), key, sw));
        };
        push("wrong MAC key", g.clone(), tdes(&K0), 0x6988);
        push(
            "over the MF's free space",
            Grant {
                quota: 0x7000,
                ..g.clone()
            },
            mf_line(),
            0x6A84,
        );
        push(
            "FID of the e-purse-like application",
            Grant {
                fid: 0x3F01,
                ..g.clone()
            },
            mf_line(),
            0x6A89,
        );
        push(
            "FID of the MF",
            Grant {
                fid: 0x3F00,
                ..g.clone()
            },
            mf_line(),
            0x6A89,
        );
        push(
            "reserved FID",
            Grant {
                fid: 0xFFFF,
                ..g.clone()
            },
            mf_line(),
            0x6A86,
        );
        push(
            "duplicate DF name",
            Grant {
                name: h(ADF_AID),
                ..g.clone()
            },
            mf_line(),
            0x6A8A,
        );
        push(
            "a prefix of an application's name",
            Grant {
                name: h(&ADF_AID[..14]),
                ..g.clone()
            },
            mf_line(),
            0x6A8A,
        );
        push(
            "an application's name as its prefix",
            Grant {
                name: h(&format!("{ADF_AID}01")),
                ..g.clone()
            },
            mf_line(),
            0x6A8A,
        );
        push(
            "the MF's name as its prefix",
            Grant {
                name: h(&format!("{MF_NAME}01")),
                ..g.clone()
            },
            mf_line(),
            0x6A8A,
        );
        push(
            "an initial key that is not a line-protection key",
            Grant {
                key: {
                    let mut k = h("39 F0 F0 03 33");
                    k.extend_from_slice(&K0);
                    k
                },
                ..g.clone()
            },
            mf_line(),
            0x6A80,
        );
        push(
            "a key file larger than the quota",
            Grant {
                kf: 0x0200,
                ..g.clone()
            },
            mf_line(),
            0x6A80,
        );
        push(
            "a key file smaller than a key",
            Grant {
                kf: 0x0010,
                ..g.clone()
            },
            mf_line(),
            0x6A80,
        );
        push(
            "a create right naming the MF's level",
            Grant {
                create: 0x0F,
                ..g.clone()
            },
            mf_line(),
            0x6A80,
        );
        push(
            "an add right naming the MF's level",
            Grant {
                add: 0x01,
                ..g.clone()
            },
            mf_line(),
            0x6A80,
        );
        push(
            "an initial key the service unit could not change",
            Grant {
                key: line_key(&K0, 0xF0, 0xF1),
                ..g.clone()
            },
            mf_line(),
            0x6A80,
        );
        push(
            "an initial key changeable with the MF's level",
            Grant {
                key: line_key(&K0, 0xF0, 0x0F),
                ..g.clone()
            },
            mf_line(),
            0x6A80,
        );
        v
    };
    for (what, header, data, key, sw) in cases {
        let mut c = issued();
        issuer(&mut c);
        let before = c.image();
        assert_eq!(c.secured(header, &data, &key, None), sw, "{what}");
        assert_same_image(&before, &c.image(), what);
    }

    // The key under another key than the MF's: it does not decrypt.
    let mut c = issued();
    issuer(&mut c);
    let before = c.image();
    let data = g.data_with(&tdes(&K0));
    assert_eq!(c.secured(g.header(), &data, &mf_line(), None), 0x6988);
    // A DF-name length out of 5..=16, and a missing key.
    let mut short = g.data();
    short[9] = 3;
    assert_eq!(c.secured(g.header(), &short, &mf_line(), None), 0x6700);
    let mut nokey = g.data();
    nokey.truncate(10 + g.name.len());
    assert_eq!(c.secured(g.header(), &nokey, &mf_line(), None), 0x6700);
    // Plain: the initial key never travels in clear.
    let mut plain = vec![0x80, 0xE0, 0xAC, 0x01, g.data().len() as u8];
    plain.extend_from_slice(&g.data());
    c.refuse_raw(&plain, 0x6982);
    assert_same_image(&before, &c.image(), "malformed grants");
    // From an application DF (its create right F0 and its own line key): areas hang off the MF.
    c.select_adf();
    let sw = c.secured(g.header(), &g.data(), &tdes(&ADF_LINE_KEY), None);
    assert_eq!(sw, 0x6985);
    assert_same_image(&before, &c.image(), "grant outside the MF");
    // A second grant of the same area.
    c.ok("00A4 000C 02 3F00");
    assert_eq!(c.secured(g.header(), &g.data(), &mf_line(), None), 0x9000);
    let before = c.image();
    assert_eq!(c.secured(g.header(), &g.data(), &mf_line(), None), 0x6A89);
    let other_fid = Grant {
        fid: 0xAC02,
        ..g.clone()
    };
    assert_eq!(
        c.secured(other_fid.header(), &other_fid.data(), &mf_line(), None),
        0x6A8A,
        "same name, other FID"
    );
    assert_same_image(&before, &c.image(), "duplicates");
}

#[test]
fn a_granted_area_takes_only_its_new_key() {
    let mut c = issued();
    assert_eq!(grant(&mut c, &Grant::default()), 0x9000);
    let name = h(AREA_NAME);
    assert_eq!(select(&mut c, &name), 0x9000);
    let k0 = tdes(&K0);
    let before = c.image();
    // Nothing but the replacement of the initial key, even with it.
    assert_eq!(
        create_in_area_with(&mut c, &k0, "28 0010 F0 F0 FFFF"),
        0x6985
    );
    let mut ext = h("39 F0 F0 03 33");
    ext.extend_from_slice(&KA);
    assert_eq!(
        c.secured([0x84, 0xD4, 0x01, 0x01], &ext, &k0, Some(&k0)),
        0x6985,
        "adding a key"
    );
    assert_eq!(
        c.secured([0x84, 0xD4, 0x01, 0x00], &ext, &k0, Some(&k0)),
        0x6985,
        "another type as key 00"
    );
    assert_eq!(c.secured([0x84, 0x0E, 0x00, 0x00], &[], &k0, None), 0x6985);
    // Plain or under the issuer's key: refused.
    c.refuse(
        &format!("80D4 3600 15 {}", hex::encode(line_key(&K1, 0xF0, 0xF3))),
        0x6982,
    );
    assert_eq!(
        c.secured(
            [0x84, 0xD4, 0x36, 0x00],
            &line_key(&K1, 0xF0, 0xF3),
            &mf_line(),
            Some(&mf_line())
        ),
        0x6988
    );
    assert_same_image(&before, &c.image(), "a granted area");
    // The hand-over.
    let p0 = programs(&mut c);
    assert_eq!(
        c.secured(
            [0x84, 0xD4, 0x36, 0x00],
            &line_key(&K1, 0xF0, 0xF0),
            &k0,
            Some(&k0)
        ),
        0x9000
    );
    eprintln!(
        "hand-over WRITE KEY: {} page programs",
        programs(&mut c) - p0
    );
    // The initial key is gone; the new one rules the area (its create right F3: the service
    // unit's admin key first).
    let k1 = tdes(&K1);
    assert_eq!(
        c.secured([0x84, 0xD4, 0x01, 0x01], &ext, &k0, Some(&k0)),
        0x6988
    );
    assert_eq!(
        create_in_area_with(&mut c, &k1, "28 0010 F0 F0 FFFF"),
        0x6982
    );
    assert_eq!(
        c.secured([0x84, 0xD4, 0x01, 0x01], &ext, &k1, Some(&k1)),
        0x9000
    );
    assert_eq!(c.ext_auth(0x01, &tdes(&KA)), 0x9000);
    assert_eq!(
        create_in_area_with(&mut c, &k0, "28 0010 F0 F0 FFFF"),
        0x6988
    );
    assert_eq!(
        create_in_area_with(&mut c, &k1, "28 0010 F0 F0 FFFF"),
        0x9000
    );
    // Handed over for good: replacing the key again is an ordinary key change.
    assert_eq!(
        c.secured(
            [0x84, 0xD4, 0x36, 0x00],
            &line_key(&K0, 0xF0, 0xF0),
            &k1,
            Some(&k1)
        ),
        0x9000
    );
}

fn create_in_area_with(c: &mut Card, key: &Key, body: &str) -> u16 {
    c.secured([0x84, 0xE0, 0x00, 0x01], &h(body), key, None)
}

// ------------------------------------------------------------------ the issuer after hand-over

#[test]
fn the_issuer_can_neither_read_nor_rekey_a_handed_over_area() {
    let mut c = handed_over();
    issuer(&mut c);
    assert_eq!(select(&mut c, &h(AREA_NAME)), 0x9000);
    let before = c.image();
    // Its MF level F does not meet the area's rights.
    c.refuse("00B0 8100 10", 0x6982);
    // Its keys are not the area's.
    assert_eq!(c.ext_auth(0x00, &tdes(&MASTER_KEY)), 0x6A88);
    c.refuse(
        &format!(
            "80D4 3600 15 {}",
            hex::encode(line_key(&MF_LINE_KEY, 0xF0, 0xF0))
        ),
        0x6982,
    );
    for key in [mf_line(), tdes(&K0)] {
        let sw = c.secured(
            [0x84, 0xD4, 0x36, 0x00],
            &line_key(&MF_LINE_KEY, 0xF0, 0xF0),
            &key,
            Some(&key),
        );
        assert!(sw == 0x6982 || sw == 0x6988, "{sw:04X}");
        assert_eq!(
            c.secured(
                [0x84, 0xD4, 0x01, 0x05],
                &line_key(&MF_LINE_KEY, 0xF0, 0xF0),
                &key,
                Some(&key)
            ),
            0x6988,
            "adding a key of its own"
        );
        assert_eq!(
            c.secured([0x84, 0x1E, 0x00, 0x00], &[], &key, None),
            0x6988,
            "APPLICATION BLOCK inside the area"
        );
        assert_eq!(
            c.secured([0x04, 0xD6, 0x81, 0x00], b"FORGED", &key, None),
            0x6982
        );
    }
    // CREATE FILE and ERASE DF: the area's level 3 first, then its MAC.
    assert_eq!(
        create_in_area_with(&mut c, &mf_line(), "28 0004 F0 F0 FFFF"),
        0x6982
    );
    assert_eq!(
        c.secured([0x84, 0x0E, 0x00, 0x00], &[], &mf_line(), None),
        0x6982
    );
    assert_same_image(&before, &c.image(), "the issuer in the area");
    // What is free is free to anyone.
    c.ok("00B0 8200 08");
    // The service unit still reads its record.
    c.power_cycle();
    admin(&mut c, &h(AREA_NAME));
    assert_eq!(&c.ok("00B0 8100 0D"), b"RESIDENT-0001");
}

#[test]
fn area_rights_never_name_the_mf_level() {
    let mut c = handed_over();
    admin(&mut c, &h(AREA_NAME));
    let before = c.image();
    for body in [
        "28 0004 0F F0 FFFF",
        "28 0004 F0 01 FFFF",
        "2A 02 04 0F F3 FFFF",
        "38 0040 0F F0 95 FFFF D1560000AA01",
    ] {
        assert_eq!(create_in_area(&mut c, 0x0005, body), 0x6A80, "{body}");
    }
    let k1 = tdes(&K1);
    let mut key = h("39 F0 0F 02 33");
    key.extend_from_slice(&[5; 16]);
    assert_eq!(
        c.secured([0x84, 0xD4, 0x01, 0x02], &key, &k1, Some(&k1)),
        0x6A80
    );
    assert_same_image(&before, &c.image(), "MF-level rights");
    // 00 is free: allowed.
    assert_eq!(create_in_area(&mut c, 0x0005, "28 0004 00 F3 FFFF"), 0x9000);
    c.power_cycle();
    assert_eq!(select(&mut c, &h(AREA_NAME)), 0x9000);
    c.ok("00B0 8500 04");
}

// ------------------------------------------------------------------ isolation

#[test]
fn the_area_cannot_reach_outside_itself() {
    let mut c = handed_over();
    admin(&mut c, &h(AREA_NAME));
    let k1 = tdes(&K1);
    // Over its quota (0x100 with a 0x48-byte key file and 0x18 bytes of files).
    assert_eq!(create_in_area(&mut c, 0x0007, "28 00A1 F0 F3 FFFF"), 0x6A84);
    assert_eq!(
        create_in_area(&mut c, 0x4F01, "38 00A1 F3 F3 95 FFFF F0434F4D4D0102"),
        0x6A84
    );
    // Its DFs may extend its own name, never another application's.
    assert_eq!(
        create_in_area(
            &mut c,
            0x4F01,
            &format!("38 0010 F3 F3 95 FFFF {ADF_AID}01")
        ),
        0x6A8A
    );
    assert_eq!(create_in_area(&mut c, 0x0007, "28 00A0 F0 F3 FFFF"), 0x9000);
    assert_eq!(create_in_area(&mut c, 0x0008, "28 0001 F0 F3 FFFF"), 0x6A84);
    // The application next door: selectable, but its protected files and keys stay protected.
    c.select_adf();
    c.refuse("00B0 9600 10", 0x6982);
    c.refuse("00D6 9500 01 01", 0x6982);
    assert_eq!(c.secured([0x04, 0xD6, 0x96, 0x00], &[1], &k1, None), 0x6988);
    assert_eq!(
        c.secured(
            [0x84, 0xD4, 0x01, 0x05],
            &line_key(&K1, 0xF0, 0xF0),
            &k1,
            Some(&k1)
        ),
        0x6988
    );
    assert_eq!(
        c.secured(
            [0x84, 0xE0, 0x00, 0x30],
            &h("28 0004 F0 F0 FFFF"),
            &k1,
            None
        ),
        0x6988
    );
    c.refuse("800E 0000", 0x6982);
    assert_eq!(c.secured([0x84, 0x1E, 0x00, 0x01], &[], &k1, None), 0x6988);
    assert_eq!(c.ext_auth(0x01, &tdes(&KA)), 0x63C2);
    // At the MF: the issuer's commands need the issuer.
    c.ok("00A4 000C 02 3F00");
    let g = Grant::named(0xAC09, "F0434F4D4D09", 0x40);
    assert_eq!(c.secured(g.header(), &g.data(), &k1, None), 0x6982);
    assert_eq!(
        c.secured([0x84, 0x0E, 0x00, 0x00], &h("AC01"), &k1, None),
        0x6982
    );
    assert_eq!(
        c.secured([0x84, 0x1E, 0x00, 0x00], &h("AC01"), &k1, None),
        0x6988
    );
    // The try of the application's key the area spent above is its only trace.
    c.power_cycle();
    c.select_adf();
    assert_eq!(c.ext_auth(0x01, &tdes(&ADF_AUTH_KEY)), 0x9000);
}

// ------------------------------------------------------------------ block / unblock

#[test]
fn the_issuer_blocks_and_unblocks_from_the_mf() {
    let mut c = handed_over();
    let k1 = tdes(&K1);
    let name = h(AREA_NAME);
    c.ok("00A4 000C 02 3F00");
    // Naming no area, another DF, or nothing known.
    assert_eq!(
        c.secured([0x84, 0x1E, 0x00, 0x00], &h("3F01"), &mf_line(), None),
        0x6A82
    );
    assert_eq!(
        c.secured([0x84, 0x1E, 0x00, 0x00], &h("AC77"), &mf_line(), None),
        0x6A82
    );
    assert_eq!(
        c.secured([0x84, 0x1E, 0x00, 0x00], &h("AC"), &mf_line(), None),
        0x6700
    );
    assert_eq!(
        c.secured([0x84, 0x1E, 0x00, 0x02], &h("AC01"), &mf_line(), None),
        0x6A86
    );
    assert_eq!(
        c.secured([0x84, 0x18, 0x00, 0x00], &h("AC01"), &mf_line(), None),
        0x6985,
        "not blocked"
    );
    // Temporarily, by name.
    assert_eq!(
        c.secured([0x84, 0x1E, 0x00, 0x00], &name, &mf_line(), None),
        0x9000
    );
    assert_eq!(select(&mut c, &name), 0x6283);
    c.ok("00B0 8200 08");
    c.refuse("00D6 8200 01 01", 0x6985);
    // The service unit cannot lift the issuer's block.
    assert_eq!(c.secured([0x84, 0x18, 0x00, 0x00], &[], &k1, None), 0x6985);
    c.ok("00A4 000C 02 3F00");
    assert_eq!(
        c.secured([0x84, 0x18, 0x00, 0x00], &h("AC01"), &mf_line(), None),
        0x9000
    );
    assert_eq!(select(&mut c, &name), 0x9000);
    // Its own block is its own: the issuer's unblock does not lift it.
    assert_eq!(c.secured([0x84, 0x1E, 0x00, 0x00], &[], &k1, None), 0x9000);
    c.ok("00A4 000C 02 3F00");
    assert_eq!(
        c.secured([0x84, 0x18, 0x00, 0x00], &h("AC01"), &mf_line(), None),
        0x6985
    );
    assert_eq!(select(&mut c, &name), 0x6283);
    assert_eq!(c.secured([0x84, 0x18, 0x00, 0x00], &[], &k1, None), 0x9000);
    // For good.
    c.ok("00A4 000C 02 3F00");
    assert_eq!(
        c.secured([0x84, 0x1E, 0x00, 0x01], &h("AC01"), &mf_line(), None),
        0x9000
    );
    assert_eq!(select(&mut c, &name), 0x6A81);
    assert_eq!(
        c.secured([0x84, 0x1E, 0x00, 0x01], &h("AC01"), &mf_line(), None),
        0x9000,
        "idempotent"
    );
    assert_eq!(
        c.secured([0x84, 0x1E, 0x00, 0x00], &h("AC01"), &mf_line(), None),
        0x6985,
        "no downgrade"
    );
    c.power_cycle();
    assert_eq!(select(&mut c, &name), 0x6A81);
    // The rest of the card is unaffected.
    c.select_adf();
    assert_eq!(c.verify_pin("123456"), 0x9000);
}

// ------------------------------------------------------------------ revoke and reclaim

fn revoke(c: &mut Card, area: &[u8]) -> u16 {
    issuer(c);
    c.secured([0x84, 0x0E, 0x00, 0x00], area, &mf_line(), None)
}

#[test]
fn revoking_gives_the_quota_back() {
    let mut c = handed_over();
    let first = assert_space_accounted(&mut c);
    // Refusals: the MF's erase right, the MAC, an unknown area.
    c.ok("00A4 000C 02 3F00");
    assert_eq!(
        c.secured([0x84, 0x0E, 0x00, 0x00], &h("AC01"), &mf_line(), None),
        0x6982
    );
    issuer(&mut c);
    let before_auth = c.image();
    c.refuse("800E 0000 02 AC01", 0x6982);
    assert_eq!(
        c.secured([0x84, 0x0E, 0x00, 0x00], &h("3F01"), &mf_line(), None),
        0x6A82
    );
    assert_eq!(
        c.secured([0x84, 0x0E, 0x00, 0x01], &h("AC01"), &mf_line(), None),
        0x6A86
    );
    assert_same_image(&before_auth, &c.image(), "revocation refusals");
    // The area at the top of the MF's space: the top goes back down.
    let p0 = programs(&mut c);
    assert_eq!(
        c.secured([0x84, 0x0E, 0x00, 0x00], &h("AC01"), &mf_line(), None),
        0x9000
    );
    eprintln!(
        "revocation of a 4-file area: {} page programs",
        programs(&mut c) - p0
    );
    let sp = assert_space_accounted(&mut c);
    assert_eq!(sp.top, first.top - 0x100);
    assert!(extents(&mut c).is_empty());
    assert_eq!(select(&mut c, &h(AREA_NAME)), 0x6A82);
    assert_eq!(
        c.secured([0x84, 0x0E, 0x00, 0x00], &h("AC01"), &mf_line(), None),
        0x6A82,
        "already gone"
    );
    // The name and FID can be granted again, and the new area is empty.
    assert_eq!(grant(&mut c, &Grant::default()), 0x9000);
    assert_eq!(select(&mut c, &h(AREA_NAME)), 0x9000);
    c.refuse("00B0 8100 01", 0x6A82);
}

#[test]
fn holes_are_reused_merged_and_given_back_to_the_top() {
    let mut c = issued();
    let base = assert_space_accounted(&mut c).top;
    let a = Grant::named(0xAC01, "F0434F4D4D01", 0x100);
    let b = Grant::named(0xAC02, "F0434F4D4D02", 0x80);
    let cc = Grant::named(0xAC03, "F0434F4D4D03", 0xC0);
    for g in [&a, &b, &cc] {
        assert_eq!(grant(&mut c, g), 0x9000);
    }
    assert_eq!(assert_space_accounted(&mut c).top, base + 0x240);
    // A hole in the middle: recorded in A's own slot.
    assert_eq!(revoke(&mut c, &h("AC01")), 0x9000);
    assert_space_accounted(&mut c);
    let hole = extents(&mut c);
    assert_eq!(hole.len(), 1);
    assert_eq!(hole[0].1, 0x100);
    // A smaller grant goes into the hole (best fit), which shrinks.
    let d = Grant::named(0xAC04, "F0434F4D4D04", 0x60);
    assert_eq!(grant(&mut c, &d), 0x9000);
    assert_space_accounted(&mut c);
    assert_eq!(extents(&mut c), vec![(hole[0].0 + 0x60, 0xA0)]);
    assert_eq!(assert_space_accounted(&mut c).top, base + 0x240);
    // Too large for the hole: from the top.
    let e = Grant::named(0xAC05, "F0434F4D4D05", 0xB0);
    assert_eq!(grant(&mut c, &e), 0x9000);
    assert_eq!(assert_space_accounted(&mut c).top, base + 0x2F0);
    // Exactly the hole: the extent disappears.
    let f = Grant::named(0xAC06, "F0434F4D4D06", 0xA0);
    assert_eq!(grant(&mut c, &f), 0x9000);
    assert!(extents(&mut c).is_empty());
    assert_space_accounted(&mut c);
    // D | F | B | C | E: freeing F then B merges into one hole; then D merges on the left.
    for (fid, holes) in [("AC06", 1), ("AC02", 1), ("AC04", 1)] {
        assert_eq!(revoke(&mut c, &h(fid)), 0x9000);
        assert_space_accounted(&mut c);
        assert_eq!(extents(&mut c).len(), holes, "after {fid}");
    }
    assert_eq!(extents(&mut c), vec![(hole[0].0, 0x240 - 0xC0)]);
    // Freeing E (the top) lowers the top; then C, now the top, takes the hole with it.
    assert_eq!(revoke(&mut c, &h("AC05")), 0x9000);
    assert_eq!(assert_space_accounted(&mut c).top, base + 0x240);
    assert_eq!(revoke(&mut c, &h("AC03")), 0x9000);
    let sp = assert_space_accounted(&mut c);
    assert_eq!(sp.top, base);
    assert!(extents(&mut c).is_empty());
    // The application was never touched.
    c.select_adf();
    assert_eq!(c.verify_pin("123456"), 0x9000);
}

#[test]
fn an_ordinary_file_at_the_mf_also_uses_the_holes() {
    let mut c = issued();
    assert_eq!(
        grant(&mut c, &Grant::named(0xAC01, "F0434F4D4D01", 0x100)),
        0x9000
    );
    assert_eq!(
        grant(&mut c, &Grant::named(0xAC02, "F0434F4D4D02", 0x40)),
        0x9000
    );
    assert_eq!(revoke(&mut c, &h("AC01")), 0x9000);
    let hole = extents(&mut c)[0];
    // The issuer's own EF at the MF (CREATE FILE under its MAC) lands in the hole, zeroed.
    assert_eq!(
        c.secured(
            [0x84, 0xE0, 0x00, 0x09],
            &h("28 0020 F0 0F FFFF"),
            &mf_line(),
            None
        ),
        0x9000
    );
    assert_eq!(extents(&mut c), vec![(hole.0 + 0x20, hole.1 - 0x20)]);
    assert_space_accounted(&mut c);
    assert_eq!(
        c.ok("00B0 8900 20"),
        vec![0; 32],
        "no old area byte readable"
    );
}

#[test]
fn erasing_the_mf_drops_the_holes() {
    // On a personalised (not issued) card the issuer may still erase the whole MF.
    let mut c = personalised();
    assert_eq!(
        grant(&mut c, &Grant::named(0xAC01, "F0434F4D4D01", 0x100)),
        0x9000
    );
    assert_eq!(
        grant(&mut c, &Grant::named(0xAC02, "F0434F4D4D02", 0x40)),
        0x9000
    );
    assert_eq!(revoke(&mut c, &h("AC01")), 0x9000);
    assert_eq!(extents(&mut c).len(), 1);
    issuer(&mut c);
    c.ok("800E 0000");
    assert!(extents(&mut c).is_empty());
    let sp = space(&mut c);
    assert_eq!((sp.top, sp.pieces.len()), (0, 0));
}

/// An area with more files than one transaction can free: the revocation takes several.
fn big_area() -> Card {
    let mut c = issued();
    let g = Grant {
        quota: 0x0200,
        ..Grant::default()
    };
    assert_eq!(grant(&mut c, &g), 0x9000);
    handover(&mut c, &h(AREA_NAME));
    admin(&mut c, &h(AREA_NAME));
    // A DF inside the area with files of its own, then many EFs.
    assert_eq!(
        create_in_area(&mut c, 0x4F01, "38 0040 F0 F0 95 FFFF F0434F4D4D0101"),
        0x9000
    );
    for n in 0..36u16 {
        assert_eq!(
            create_in_area(&mut c, 0x1000 + n, "28 0002 F0 F3 FFFF"),
            0x9000,
            "file {n}"
        );
    }
    c.power_cycle();
    c
}

#[test]
fn revoking_a_large_area_is_resumable() {
    let mut c = big_area();
    let app_before = app_files(&mut c);
    let used_before = slots_used(&mut c);
    let p0 = programs(&mut c);
    assert_eq!(revoke(&mut c, &h("AC01")), 0x9000);
    eprintln!(
        "revocation of a 39-slot area: {} page programs",
        programs(&mut c) - p0
    );
    assert_space_accounted(&mut c);
    assert_eq!(slots_used(&mut c), used_before - 39);
    assert_eq!(select(&mut c, &h(AREA_NAME)), 0x6A82);
    assert_eq!(app_files(&mut c), app_before);
}

/// The application's files, read as the harness application allows (free reads).
fn app_files(c: &mut Card) -> Vec<Vec<u8>> {
    c.power_cycle();
    c.select_adf();
    let mut v = vec![c.ok("00B0 9500 1E")];
    for r in 1..=3 {
        v.push(c.ok(&format!("00B2 {r:02X}BC 10")));
    }
    v.push(c.ok("00B0 9A00 10"));
    assert_eq!(c.verify_pin("123456"), 0x9000);
    v.push(c.ok("00B0 9600 10"));
    c.power_cycle();
    v
}

// ------------------------------------------------------------------ tearing

/// Cut the power at every page program of `cmd` (sent after `prepare` on a card from `base`):
/// the card must be exactly as before or exactly as after, its space accounted.
fn tear_loop(
    what: &str,
    base: &[u8],
    prepare: &dyn Fn(&mut Card),
    cmd: &dyn Fn(&mut Card) -> u16,
) -> (u64, usize, usize) {
    let mut c = Card::from_image(base);
    prepare(&mut c);
    let before = logical(&mut c);
    let p0 = programs(&mut c);
    assert_eq!(cmd(&mut c), 0x9000, "{what} untorn");
    let cost = programs(&mut c) - p0;
    let after = logical(&mut c);
    let (mut old, mut new) = (0, 0);
    for k in 0..cost {
        let mut t = Card::from_image(base);
        prepare(&mut t);
        arm(&mut t, k, TearMode::Partial { seed: k });
        let _ = cmd(&mut t);
        assert!(torn(&mut t), "{what}: cut {k} of {cost} did not trigger");
        t.power_cycle();
        let now = logical(&mut t);
        assert_space_accounted(&mut t);
        if now == before {
            old += 1;
        } else if now == after {
            new += 1;
        } else {
            panic!("{what}: cut {k} of {cost} left a third state");
        }
    }
    assert!(old > 0 && new > 0, "{what}: {old} old, {new} new");
    eprintln!("{what}: {cost} programs, {old} cuts left the card before, {new} after");
    (cost, old, new)
}

#[test]
fn tearing_the_grant_hand_over_file_creation_and_revocation() {
    let issued = issued_image().to_vec();
    tear_loop("grant", &issued, &issuer, &|c| {
        let g = Grant::default();
        c.secured(g.header(), &g.data(), &mf_line(), None)
    });

    let mut c = Card::from_image(&issued);
    assert_eq!(grant(&mut c, &Grant::default()), 0x9000);
    let granted = c.image();
    tear_loop(
        "hand-over",
        &granted,
        &|c| assert_eq!(select(c, &h(AREA_NAME)), 0x9000),
        &|c| {
            let k0 = tdes(&K0);
            c.secured(
                [0x84, 0xD4, 0x36, 0x00],
                &line_key(&K1, 0xF0, 0xF3),
                &k0,
                Some(&k0),
            )
        },
    );

    let mut c = Card::from_image(&granted);
    handover(&mut c, &h(AREA_NAME));
    let handed = c.image();
    tear_loop(
        "file creation in the area",
        &handed,
        &|c| admin(c, &h(AREA_NAME)),
        &|c| create_in_area(c, 0x0003, "AE 0A 10 F2 F2 FFFF"),
    );

    // A revocation that fits one transaction: before, or gone.
    let full = handed_over().image();
    tear_loop(
        "revocation (one transaction)",
        &full,
        &|c| issuer(c),
        &|c| c.secured([0x84, 0x0E, 0x00, 0x00], &h("AC01"), &mf_line(), None),
    );

    // A block from the MF.
    tear_loop("block from the MF", &full, &|c| issuer(c), &|c| {
        c.secured([0x84, 0x1E, 0x00, 0x00], &h("AC01"), &mf_line(), None)
    });
}

/// The revocation of a large area: every cut leaves the area intact, or revoking (unreachable,
/// its quota still accounted), or gone; sending the revocation again always completes it.
#[test]
fn tearing_a_multi_step_revocation() {
    let base = big_area().image();
    let mut c = Card::from_image(&base);
    let app = app_files(&mut c);
    issuer(&mut c);
    let p0 = programs(&mut c);
    assert_eq!(
        c.secured([0x84, 0x0E, 0x00, 0x00], &h("AC01"), &mf_line(), None),
        0x9000
    );
    let cost = programs(&mut c) - p0;
    let done = logical(&mut c);
    let mut seen = [0usize; 3];
    for k in 0..cost {
        let mut t = Card::from_image(&base);
        issuer(&mut t);
        arm(&mut t, k, TearMode::Partial { seed: k });
        let _ = t.secured([0x84, 0x0E, 0x00, 0x00], &h("AC01"), &mf_line(), None);
        assert!(torn(&mut t));
        t.power_cycle();
        assert_space_accounted(&mut t);
        let state = select(&mut t, &h(AREA_NAME));
        match state {
            0x9000 => seen[0] += 1,
            0x6A81 => seen[1] += 1,
            0x6A82 => seen[2] += 1,
            other => panic!("cut {k}: SELECT answered {other:04X}"),
        }
        let again = revoke(&mut t, &h("AC01"));
        assert!(
            again == 0x9000 || (state == 0x6A82 && again == 0x6A82),
            "cut {k}: resend answered {again:04X}"
        );
        assert_eq!(logical(&mut t), done, "cut {k}: the resend completes it");
        assert_eq!(app_files(&mut t), app);
    }
    assert!(seen[0] > 0 && seen[2] > 0, "{seen:?}");
    // With the default journal (498 bytes a transaction) 39 slots need several transactions, so
    // some cuts leave the area revoking; a larger journal may do it in one.
    let per_tx = Card::from_image(&base)
        .kernel()
        .store()
        .max_transaction_bytes();
    if per_tx < 1000 {
        assert!(seen[1] > 0, "{seen:?}");
    }
    eprintln!(
        "multi-step revocation: {cost} programs; cuts left it intact {}, revoking {}, gone {}",
        seen[0], seen[1], seen[2]
    );
}

#[test]
fn the_service_unit_resets_its_area_but_keeps_its_keys() {
    let mut c = handed_over();
    admin(&mut c, &h(AREA_NAME));
    let k1 = tdes(&K1);
    assert_eq!(c.secured([0x84, 0x0E, 0x00, 0x00], &[], &k1, None), 0x9000);
    c.refuse("00B0 8200 01", 0x6A82);
    // Its keys are still there, and the whole quota but the key file is free again.
    c.power_cycle();
    admin(&mut c, &h(AREA_NAME));
    assert_eq!(create_in_area(&mut c, 0x0001, "28 00B8 F0 F3 FFFF"), 0x9000);
    assert_eq!(c.ok("00B0 8100 10"), vec![0; 16], "wiped");
    assert_space_accounted(&mut c);
}
