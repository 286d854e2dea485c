//! The simulator's library and CLI, end to end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use cos_core::nvm::TearMode;
use cos_sim::card::{CardRng, SimCard};
use cos_sim::demo::blank_card;
use cos_sim::perso;
use cos_sim::profile::Profile;
use cos_sim::{Image, ImageError, SimError};
use std::process::Command;

const PROFILE: &str = include_str!("../../profiles/citizen-card.toml");

fn profile() -> Profile {
    Profile::parse("citizen-card.toml", PROFILE).unwrap()
}

fn personalised() -> SimCard {
    let p = profile();
    let mut card = blank_card(&p).unwrap();
    perso::script(&p).unwrap().run(&mut card).unwrap();
    card
}

fn sw(r: &[u8]) -> u16 {
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

#[test]
fn personalised_card_answers_and_enforces_its_profile() {
    let mut c = personalised();
    // Card information in the MF, free to read.
    let (d, s) = c.exchange(&hex::decode("00B0850018").unwrap()).unwrap();
    assert_eq!(s, 0x9000);
    assert_eq!(d[0], 0x01, "card type citizen");
    assert_eq!(&d[1..11], &hex::decode("31000000000000000001").unwrap()[..]);
    // Social insurance by its GBK DF name; EF05 free, EF06 behind the PIN (one element a record).
    let name = hex::decode("7378312E73682EC9E7BBE1B1A3D5CF").unwrap();
    let mut sel = vec![0x00, 0xA4, 0x04, 0x00, name.len() as u8];
    sel.extend_from_slice(&name);
    sel.push(0x00);
    assert_eq!(c.exchange(&sel).unwrap().1, 0x9000);
    assert_eq!(
        c.exchange(&hex::decode("00B2012C00").unwrap()).unwrap().1,
        0x9000
    );
    assert_eq!(
        c.exchange(&hex::decode("00B2023400").unwrap()).unwrap().1,
        0x6982
    );
    assert_eq!(
        c.exchange(&hex::decode("0020000003123456").unwrap())
            .unwrap()
            .1,
        0x9000
    );
    let (holder, s) = c.exchange(&hex::decode("00B2023400").unwrap()).unwrap();
    assert_eq!(s, 0x9000);
    assert_eq!(&holder[..2], &[0x09, 30], "element 09 (name), 30 bytes");
    let (name, _, _) = encoding_rs::GBK.decode(&holder[2..32]);
    assert_eq!(name.trim_end_matches('\0'), "张三");
    // Issued: plain structure commands refused.
    assert_eq!(
        sw(&c.transmit(&hex::decode("80E0000107280010F0F0FFFF").unwrap())),
        0x6982
    );
}

#[test]
fn the_script_is_static_and_replays_identically() {
    let p = profile();
    let s = perso::script(&p).unwrap();
    let text = s.to_scriptor("test");
    assert!(text.lines().any(|l| l == "reset"));
    assert!(
        !text.contains("00 84 00 00"),
        "no challenge-response in a replayable script"
    );
    // Two fresh chips personalised with the same script hold the same file system.
    let mut a = blank_card(&p).unwrap();
    let mut b = blank_card(&p).unwrap();
    s.run(&mut a).unwrap();
    s.run(&mut b).unwrap();
    assert_eq!(
        cos_sim::info::describe(&a)
            .lines()
            .skip(2)
            .collect::<Vec<_>>(),
        cos_sim::info::describe(&b)
            .lines()
            .skip(2)
            .collect::<Vec<_>>()
    );
}

#[test]
fn bad_profiles_name_the_field() {
    let cases = [
        (
            PROFILE.replace("asn = \"31000000000000000001\"", "asn = \"31zz\""),
            "card.asn",
        ),
        (
            PROFILE.replace("size = 96", "size = \"big\""),
            "app[0].file[0].size",
        ),
        (
            PROFILE.replace("master = \"si_hospital\"", "master = \"nope\""),
            "app[0].key[1].master",
        ),
        (
            PROFILE.replace("type = \"citizen\"", "type = \"city-pass\""),
            "app[0].name",
        ),
        (
            PROFILE.replace(
                "{ tag = \"09\", text = \"${holder.name}\", len = 30, encoding = \"gbk\" }",
                "{ tag = \"09\", text = \"${holder.nam}\" }",
            ),
            "app[0].file[1].content[1]",
        ),
        (
            PROFILE.replace("type = \"pin\"", "type = \"pin-code\""),
            "app[0].key[5].type",
        ),
        (
            PROFILE.replace("read = \"F1\"", "read = \"F1F\""),
            "app[0].file[1].read",
        ),
        (PROFILE.replace("[card]", "[card]\nbogus = 1"), "card"),
    ];
    for (text, path) in cases {
        let e = Profile::parse("p.toml", &text).unwrap_err();
        assert!(e.path.starts_with(path), "{path}: got {e}");
        assert!(e.to_string().starts_with("profile p.toml: "), "{e}");
    }
}

#[test]
fn image_round_trip_and_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    let c = personalised();
    c.save(&path).unwrap();
    let mut d = SimCard::open(&path, CardRng::Seeded(cos_core::SeededRng::new(3))).unwrap();
    assert_eq!(
        sw(&d.transmit(&hex::decode("00A4000C023F00").unwrap())),
        0x9000
    );
    assert_eq!(c.image(), d.image());

    let missing = dir.path().join("none.img");
    let e = SimCard::open(&missing, CardRng::Os).err().unwrap();
    assert!(
        matches!(e, SimError::Image(ImageError::Missing { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("none.img"));

    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..1000]).unwrap();
    let e = SimCard::open(&path, CardRng::Os).err().unwrap();
    assert!(
        e.to_string().contains("truncated") && e.to_string().contains("card.img"),
        "{e}"
    );

    let mut flipped = bytes.clone();
    flipped[5000] ^= 0x10;
    std::fs::write(&path, &flipped).unwrap();
    let e = SimCard::open(&path, CardRng::Os).err().unwrap();
    assert!(e.to_string().contains("corrupted"), "{e}");

    std::fs::write(
        &path,
        b"PK\x03\x04 this is a zip file, not a card image at all",
    )
    .unwrap();
    let e = SimCard::open(&path, CardRng::Os).err().unwrap();
    assert!(
        e.to_string().contains("not a citizen-card COS image"),
        "{e}"
    );

    // A valid container around an unformatted chip: the store refuses to mount, named.
    Image {
        page_size: 64,
        bytes: vec![0xFF; cos_sim::card::CHIP_SIZE],
    }
    .save(&path)
    .unwrap();
    let e = SimCard::open(&path, CardRng::Os).err().unwrap();
    assert!(
        e.to_string().contains("does not mount") && e.to_string().contains("card.img"),
        "{e}"
    );
}

#[test]
fn tearing_injection_cuts_power_and_recovery_runs() {
    let mut c = personalised();
    // A wrong VERIFY commits its try-counter decrement before comparing: cut power at each of
    // its page programs.
    let name = hex::decode("7378312E73682EC9E7BBE1B1A3D5CF").unwrap();
    let mut sel = vec![0x00, 0xA4, 0x04, 0x0C, name.len() as u8];
    sel.extend_from_slice(&name);
    assert_eq!(sw(&c.transmit(&sel)), 0x9000);
    // Learn how many programs a wrong VERIFY costs, then cut at each of them.
    let before = c.programs();
    assert_eq!(
        sw(&c.transmit(&hex::decode("0020000003999999").unwrap())),
        0x63C2
    );
    let cost = c.programs() - before;
    assert!(cost >= 1);
    for k in 0..cost {
        let mut t = personalised();
        assert_eq!(sw(&t.transmit(&sel)), 0x9000);
        t.arm_tear(k, TearMode::Partial { seed: k });
        let r = t.transmit(&hex::decode("0020000003999999").unwrap());
        assert!(r.is_empty(), "the card died mid-command");
        assert!(!t.is_powered());
        t.power_on().unwrap();
        assert_eq!(sw(&t.transmit(&sel)), 0x9000);
        // The try is either consumed or not, never refunded after being spent; the card answers.
        let status = sw(&t.transmit(&hex::decode("00200000").unwrap()));
        assert!(status == 0x63C3 || status == 0x63C2, "{status:04X}");
    }
}

#[test]
fn cli_personalise_shell_and_info() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("c.img");
    let script = dir.path().join("perso.apdu");
    let bin = env!("CARGO_BIN_EXE_cos-sim");
    let out = Command::new(bin)
        .args(["personalise", "--out"])
        .arg(&img)
        .arg("--script")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_to_string(&script)
        .unwrap()
        .contains("# VERIFY transport code"));

    let mut child = Command::new(bin)
        .args(["shell", "--card"])
        .arg(&img)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"# comment\n00A4000C023F00\n00B0850001  # card type\nreset\nzz\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "9000");
    assert_eq!(lines[1], "019000");
    assert!(lines[2].starts_with("3B"), "ATR after reset: {}", lines[2]);
    assert!(!out.status.success(), "bad hex is an error");

    let out = Command::new(bin)
        .args(["info", "--card"])
        .arg(&img)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("life cycle: Issued") && text.contains("社会保障"),
        "{text}"
    );

    let out = Command::new(bin)
        .args(["info", "--card"])
        .arg(dir.path().join("no.img"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no.img"));
}
