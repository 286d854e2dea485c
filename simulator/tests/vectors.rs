//! The conformance vectors (test-vectors/) replayed in-process, and the replay tool itself: the
//! expansion of high-level steps, the command line's output, exit status and JUnit report, clear
//! errors for malformed files, and the personalisation script replayed as a vector file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use cos_sim::hostcrypto::{diversify, HostAlg, HostKey};
use cos_sim::profile::Profile;
use cos_sim::vectors::expr::{Value, Vars};
use cos_sim::vectors::format;
use cos_sim::vectors::reader::{InProcess, Reader, ReaderError};
use cos_sim::vectors::runner::{
    collect, load, personalised_image, run_steps, Loaded, Options, Runner, Status, Target,
};
use cos_sim::vectors::{run_paths, Run};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vectors_dir() -> PathBuf {
    root().join("test-vectors")
}

fn vectors_profile() -> Profile {
    Profile::load(&vectors_dir().join("profiles/vectors.toml")).unwrap()
}

fn report(run: &Run) -> String {
    let mut s = String::new();
    for o in &run.outcomes {
        if o.failed() {
            s.push_str(&cos_sim::vectors::report::line(o));
            s.push('\n');
            for t in &o.transcript {
                s.push_str("      ");
                s.push_str(t);
                s.push('\n');
            }
        }
    }
    s
}

/// The status words the set must reach, from test-vectors/coverage.toml.
fn coverage_list() -> (Vec<u16>, BTreeMap<String, String>) {
    #[derive(serde::Deserialize)]
    struct Coverage {
        reached: Vec<String>,
        unreachable: BTreeMap<String, String>,
    }
    let text = std::fs::read_to_string(vectors_dir().join("coverage.toml")).unwrap();
    let c: Coverage = toml::from_str(&text).unwrap();
    let reached = c
        .reached
        .iter()
        .map(|s| u16::from_str_radix(s, 16).unwrap())
        .collect();
    (reached, c.unreachable)
}

#[test]
fn every_vector_passes_on_fresh_in_process_cards() {
    let t = std::time::Instant::now();
    let run = run_paths(&[vectors_dir()], Options::default()).unwrap();
    let failed = report(&run);
    assert!(failed.is_empty(), "failing vectors:\n{failed}");
    assert!(run.outcomes.len() > 100, "{} vectors", run.outcomes.len());
    assert!(
        !run.outcomes
            .iter()
            .any(|o| matches!(o.status, Status::Skip(_))),
        "nothing is skipped in-process"
    );
    // Every status word the coverage list names was answered at least once.
    let (must, _) = coverage_list();
    let missing: Vec<String> = must
        .iter()
        .filter(|sw| {
            let range_seen = **sw & 0xFF00 == 0x6100 && run.sw_seen.iter().any(|s| s >> 8 == 0x61);
            !(run.sw_seen.contains(sw) || range_seen)
        })
        .map(|sw| format!("{sw:04X}"))
        .collect();
    assert!(
        missing.is_empty(),
        "status words never reached: {missing:?}"
    );
    eprintln!(
        "{} vectors, {} status words, {:.1} s",
        run.outcomes.len(),
        run.sw_seen.len(),
        t.elapsed().as_secs_f64()
    );
}

/// A reader run in miniature: one card for all vectors, each starting with a cold reset, and
/// the vectors a reader cannot do skipped. Everything else must pass whatever state the earlier
/// vectors left — twice over, as a CI job re-run on the same card would.
#[test]
fn non_destructive_vectors_pass_on_one_shared_card_twice() {
    let bytes = personalised_image(&vectors_profile(), true).unwrap();
    let card = cos_sim::SimCard::from_nvm(
        cos_sim::card::SimNvm::from_bytes(&bytes),
        cos_sim::CardRng::Os,
    )
    .unwrap();
    let mut runner = Runner::new(Options {
        target: Target::Shared(Box::new(InProcess::new(card))),
        ..Options::default()
    })
    .unwrap();
    let files: Vec<Loaded> = collect(&[vectors_dir()])
        .unwrap()
        .iter()
        .map(|(p, d)| load(p, d).unwrap())
        .collect();
    for round in 1..=2 {
        let mut outcomes = Vec::new();
        for f in &files {
            runner.run_file(f, &mut |o| outcomes.push(o.clone()));
        }
        let run = Run {
            outcomes,
            sw_seen: BTreeSet::new(),
        };
        let failed = report(&run);
        assert!(
            failed.is_empty(),
            "round {round}: failing vectors on a shared card:\n{failed}"
        );
        let ran = run
            .outcomes
            .iter()
            .filter(|o| matches!(o.status, Status::Pass))
            .count();
        assert!(ran > 150, "only {ran} vectors ran on the shared card");
        for o in &run.outcomes {
            if let Status::Skip(why) = &o.status {
                assert!(
                    why.contains("destructive") || why.contains("in-process"),
                    "{}: {why}",
                    o.id
                );
            }
        }
    }
}

#[test]
fn status_word_coverage_list_is_consistent() {
    let (must, unreachable) = coverage_list();
    for (sw, why) in &unreachable {
        let v = u16::from_str_radix(sw, 16).unwrap();
        assert!(!must.contains(&v), "{sw} is both reached and unreachable");
        assert!(!why.is_empty());
    }
    let unique: BTreeSet<u16> = must.iter().copied().collect();
    assert_eq!(unique.len(), must.len(), "duplicates in coverage.toml");
}

// ------------------------------------------------------------------ expansion, tested once

/// A reader that records what it is sent and answers from a list.
struct Scripted {
    sent: Vec<Vec<u8>>,
    answers: Vec<Vec<u8>>,
}

impl Reader for Scripted {
    fn name(&self) -> String {
        "scripted".into()
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        self.sent.push(apdu.to_vec());
        if self.answers.is_empty() {
            return Err(ReaderError::NoAnswer);
        }
        Ok(self.answers.remove(0))
    }
    fn reset(&mut self) -> Result<Vec<u8>, ReaderError> {
        Ok(vec![0x3B])
    }
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn run_scripted(vector_steps: &str, answers: Vec<Vec<u8>>) -> (Vec<Vec<u8>>, Result<(), String>) {
    let text = format!(
        "profile = \"../test-vectors/profiles/vectors.toml\"\n[[vector]]\nid = \"x\"\ntitle = \"x\"\nclause = \"x\"\n{vector_steps}\n"
    );
    let f = format::parse(&root().join("simulator/expansion.toml"), &text).unwrap();
    let profile = vectors_profile();
    let mut vars = BTreeMap::new();
    vars.insert(
        "asn8".to_string(),
        Value::Bytes(profile.diversification_input().to_vec()),
    );
    for (k, v) in [
        ("terminal", "112233445566"),
        ("date", "20260316"),
        ("time", "120000"),
    ] {
        vars.insert(k.to_string(), Value::Bytes(h(v)));
    }
    let mut scope = Vars {
        vars,
        profile: Some(&profile),
    };
    let mut reader = Scripted {
        sent: Vec::new(),
        answers,
    };
    let r = run_steps(
        Some(&mut reader),
        &f.vectors[0].steps,
        &mut scope,
        &mut Vec::new(),
        &mut BTreeSet::new(),
    );
    (reader.sent, r)
}

fn card_key(master: &str) -> HostKey {
    let p = vectors_profile();
    diversify(&p.master_key(master).unwrap(), &p.diversification_input())
}

#[test]
fn high_level_steps_expand_to_the_raw_apdus() {
    // select / verify: Lc counted, Le 00 for SELECT.
    let (sent, r) = run_scripted(
        "step = [ { select = \"A00000000386980701\" }, { verify = \"123456\", id = 1 } ]",
        vec![h("9000"), h("9000")],
    );
    r.unwrap();
    assert_eq!(
        sent,
        vec![h("00A4040009A0000000038698070100"), h("0020000103123456")]
    );

    // external_auth: GET CHALLENGE 4, then the challenge padded to a block, encrypted.
    let (sent, r) = run_scripted(
        "step = [ { external_auth = \"card_key('k3_auth')\", id = 1 } ]",
        vec![h("11223344 9000"), h("9000")],
    );
    r.unwrap();
    let mut block = h("1122334400000000");
    card_key("k3_auth").encrypt(&mut block);
    let mut want = h("0082000108");
    want.extend_from_slice(&block);
    assert_eq!(sent, vec![h("0084000004"), want]);

    // secured with encryption: E(Ld ‖ data ‖ 80 00…) then a MAC over header ‖ Lc ‖ body with the
    // challenge as IV, under an SM4 key (16-byte blocks).
    let (sent, r) = run_scripted(
        "step = [ { secured = \"04D6 9A00\", body = \"0102\", key = \"card_key('k4_line')\", enc = \"card_key('k4_enc')\" } ]",
        vec![h("A1A2A3A4 9000"), h("9000")],
    );
    r.unwrap();
    let mut body = h("02 0102 80 000000000000000000000000");
    card_key("k4_enc").encrypt_ecb(&mut body);
    let mut mac_in = h("04D69A00");
    mac_in.push(20);
    mac_in.extend_from_slice(&body);
    let mac = card_key("k4_line").mac4(&h("A1A2A3A4000000000000000000000000"), &mac_in);
    let mut want = h("04D69A0014");
    want.extend_from_slice(&body);
    want.extend_from_slice(&mac);
    assert_eq!(sent[1], want);

    // load: INITIALIZE FOR LOAD, MAC1 checked, CREDIT FOR LOAD with MAC2, TAC checked.
    let dlk = card_key("ep_load");
    let dtk = card_key("ep_tac");
    let ses = cos_sim::hostcrypto::session_key(&dlk, &h("CAFEBABE00058000").try_into().unwrap());
    let z = [0u8; 8];
    let mac1 = ses.mac4(&z, &h("00000064 000003E8 02 112233445566"));
    let mac2 = ses.mac4(&z, &h("000003E8 02 112233445566 20260316 120000"));
    let tk = cos_sim::hostcrypto::tac_key(&dtk);
    let tac = tk.mac4(
        &z,
        &h("0000044C 0005 000003E8 02 112233445566 20260316 120000"),
    );
    let mut init = h("00000064 0005 01 00 CAFEBABE");
    init.extend_from_slice(&mac1);
    init.extend_from_slice(&h("9000"));
    let mut credit_answer = tac.to_vec();
    credit_answer.extend_from_slice(&h("9000"));
    let (sent, r) = run_scripted(
        "step = [ { load = \"EP\", amount = 1000 } ]",
        vec![init.clone(), credit_answer.clone()],
    );
    r.unwrap();
    assert_eq!(sent[0], h("805000020B 01 000003E8 112233445566 10"));
    let mut credit = h("805200000B 20260316 120000");
    credit.extend_from_slice(&mac2);
    credit.push(0x04);
    assert_eq!(sent[1], credit);
    // A wrong MAC1 from the card is caught at its first byte.
    let mut bad = init.clone();
    bad[12] ^= 0xFF;
    let (_, r) = run_scripted("step = [ { load = \"EP\", amount = 1000 } ]", vec![bad]);
    let e = r.unwrap_err();
    assert!(e.contains("step 1 part 1/2 (load EP 1000"), "{e}");
    assert!(e.contains("R-APDU byte 12: expected"), "{e}");

    // purchase: MAC1 from the session key of the card's random, MAC2 and TAC checked.
    let dpk = card_key("ep_purchase");
    let ses = cos_sim::hostcrypto::session_key(&dpk, &h("0102030400070001").try_into().unwrap());
    let mac1 = ses.mac4(&z, &h("00000010 06 112233445566 20260316 120000"));
    let mac2 = ses.mac4(&z, &h("00000010"));
    let tac = tk.mac4(&z, &h("00000010 06 112233445566 00000001 20260316 120000"));
    let mut debit_answer = tac.to_vec();
    debit_answer.extend_from_slice(&mac2);
    debit_answer.extend_from_slice(&h("9000"));
    let (sent, r) = run_scripted(
        "step = [ { purchase = \"EP\", amount = 16 } ]",
        vec![h("00000100 0007 000000 01 00 01020304 9000"), debit_answer],
    );
    r.unwrap();
    assert_eq!(sent[0], h("805001020B 01 00000010 112233445566 0F"));
    let mut debit = h("805401000F 00000001 20260316 120000");
    debit.extend_from_slice(&mac1);
    debit.push(0x08);
    assert_eq!(sent[1], debit);
}

// ------------------------------------------------------------------ the command line

fn cos_sim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cos-sim"))
}

const GOOD_AND_BAD: &str = r#"
title = "a passing and a failing vector"
profile = "PROFILE"

[[vector]]
id = "mf-fci"
title = "SELECT MF answers its FCI"
clause = "ISO/IEC 7816-4 §7.1.1"
step = [ { send = "00A4 0000 [3F00] 00", expect = "6F 12 84 0E ${text('1PAY.SYS.DDF01')} A5 00 9000" } ]

[[vector]]
id = "wrong-expectation"
title = "expects the wrong FCI tag"
clause = "none"
step = [
  { send = "00A4 0000 [3F00] 00", expect = "6F 12 84 0E ${text('1PAY.SYS.DDF01')} A5 00 9000" },
  { send = "00A4 0000 [3F00] 00", expect = "6F 12 85 {any} 9000" },
]

[[vector]]
id = "known-bug"
title = "a documented card bug"
clause = "none"
expected_failure = "shows how a known bug is carried"
step = [ { send = "00B0 9500 01", sw = "9000" } ]
"#;

#[test]
fn cli_prints_a_line_per_vector_the_summary_and_junit_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.toml");
    let profile = vectors_dir().join("profiles/vectors.toml");
    std::fs::write(
        &file,
        GOOD_AND_BAD.replace("PROFILE", &profile.display().to_string()),
    )
    .unwrap();
    let junit = dir.path().join("report.xml");
    let out = cos_sim()
        .args([
            "replay",
            file.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("PASS  "), "{stdout}");
    let fail = stdout
        .lines()
        .find(|l| l.starts_with("FAIL  ") && l.contains("#wrong-expectation"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        fail.contains(
            "step 2 (SELECT 00 A4 00 00 02 3F 00 00): R-APDU byte 2: expected 85, got 84"
        ),
        "{fail}"
    );
    assert!(stdout.contains("XFAIL "), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("2 passed, 1 failed"),
        "{stdout}"
    );
    assert!(stderr.contains("1 of 3 vectors failed"), "{stderr}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure message=\"step 2"), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 3);

    // --only picks vectors; all passing exits 0.
    let out = cos_sim()
        .args(["replay", file.to_str().unwrap(), "--only", "mf-fci"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("1 passed, 0 failed"));
}

#[test]
fn cli_names_file_line_vector_and_field_of_a_malformed_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "title = \"x\"\n\n[[vector]]\nid = \"v1\"\ntitle = \"t\"\nclause = \"c\"\nstep = [ { send = \"00A4 0000\", sw = \"FILE_NOT_FUND\" } ]\n",
    )
    .unwrap();
    let out = cos_sim()
        .args(["replay", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("bad.toml:4: vector `v1` step 1 `sw`: unknown status word `FILE_NOT_FUND`"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `FILE_NOT_FOUND`"), "{stderr}");
}

#[test]
fn cli_without_pcsc_says_how_to_get_it() {
    if cfg!(feature = "pcsc") {
        return;
    }
    let out = cos_sim()
        .args([
            "replay",
            "--reader",
            "Virtual PCD 00 00",
            vectors_dir().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("--features pcsc"), "{stderr}");
}

// ------------------------------------------------------------------ personalisation scripts

/// `cos-sim personalise --script` writes a scriptor script; `cos-sim replay` replays it on a factory
/// chip, every line answering 9000 — for the built-in profile and the vectors' profile.
#[test]
fn personalisation_scripts_replay_as_vectors() {
    let dir = tempfile::tempdir().unwrap();
    for (name, profile) in [
        ("builtin", None),
        ("vectors", Some(vectors_dir().join("profiles/vectors.toml"))),
    ] {
        let script = dir.path().join(format!("{name}.apdu"));
        let img = dir.path().join(format!("{name}.img"));
        let mut cmd = cos_sim();
        cmd.args([
            "personalise",
            "--out",
            img.to_str().unwrap(),
            "--script",
            script.to_str().unwrap(),
        ]);
        if let Some(p) = &profile {
            cmd.args(["--profile", p.to_str().unwrap()]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut cmd = cos_sim();
        cmd.args(["replay", script.to_str().unwrap()]);
        if let Some(p) = &profile {
            cmd.args(["--profile", p.to_str().unwrap()]);
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout.lines().last(),
            Some("1 passed, 0 failed"),
            "{stdout}"
        );

        // With --card, a script still starts from a factory chip (its setup is its own).
        let run = run_paths(
            std::slice::from_ref(&script),
            Options {
                target: Target::Image(img.clone()),
                profile: profile.clone(),
                ..Options::default()
            },
        )
        .unwrap();
        assert!(run.outcomes[0].passed(), "{}", report(&run));
    }
    // A broken script names the line and the status word.
    let bad = dir.path().join("bad.apdu");
    std::fs::write(
        &bad,
        "reset\n# SELECT MF\n00A4000C023F00\n# a creation without rights\n80E000010728 0010 F0F0 FFFF\n",
    )
    .unwrap();
    let run = run_paths(&[bad], Options::default()).unwrap();
    match &run.outcomes[0].status {
        Status::Fail(m) => assert!(
            m.contains("step 5 (line 5: a creation without rights: CREATE FILE")
                && m.contains("6982 SECURITY_STATUS_NOT_SATISFIED"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}

/// Key lengths the expressions accept (a sanity check of the reference model's constructors).
#[test]
fn reference_model_key_constructors() {
    assert!(HostKey::new(HostAlg::Sm4, &[0; 8]).is_err());
    assert!(HostKey::new(HostAlg::Tdes, &[0; 8]).is_ok());
}
