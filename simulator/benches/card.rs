//! Host benchmarks of the card (`cargo bench -p cos-sim`; docs/performance.md).
//!
//! Every figure is the card's own work in-process: the kernel and applets over the simulated
//! EEPROM, driven directly as the firmware drives them (the persistent-image case and the
//! library desk go through `SimCard`, as `cos-sim shell` and the terminals do). Where a transaction needs the terminal's cryptograms (MAC1 of a purchase, MAC2 of a
//! load) they are computed outside the timed region (`iter_custom`), so only `transmit` is
//! timed. The **crypto floor** runs exactly the cipher and MAC work a purchase's DEBIT does on
//! the card (session key, MAC1 check, MAC2, TAC key and TAC) with `cos-crypto` in a bare loop;
//! the report states a purchase as a multiple of it.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use cos_core::crypto::{self, Algorithm, Key};
use cos_core::{Applet, Kernel, SeededRng};
use cos_sim::applets::standard_applets;
use cos_sim::card::{CardRng, SimCard, SimNvm};
use cos_sim::hostcrypto::{self, HostKey};
use cos_sim::profile::Profile;
use cos_sim::vectors::expr::{eval, parse, Value, Vars};
use cos_sim::vectors::runner::{personalised_image, BUILTIN_PROFILE};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PURSE: [u8; 9] = [0xA0, 0x00, 0x00, 0x00, 0x03, 0x86, 0x98, 0x07, 0x01];
const TRANSIT: [u8; 8] = [0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05];
const TERMINAL: [u8; 6] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66];
const DATE_TIME: [u8; 7] = [0x20, 0x26, 0x03, 0x16, 0x12, 0x00, 0x00];
/// Fresh cards are made (untimed) after this many transactions: counters and balances never hit
/// their limits however many iterations criterion asks for.
const PER_CARD: u64 = 5_000;

fn vectors_profile() -> Profile {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/profiles/vectors.toml");
    Profile::load(&p).unwrap()
}

fn default_profile() -> Profile {
    Profile::parse("citizen-card", BUILTIN_PROFILE).unwrap()
}

/// A card key of the profile, by the vectors' expression (`purse_key('purchase', 2)`, …).
fn key(p: &Profile, expr: &str) -> HostKey {
    let mut vars = BTreeMap::new();
    vars.insert(
        "asn8".to_string(),
        Value::Bytes(p.diversification_input().to_vec()),
    );
    let scope = Vars {
        vars,
        profile: Some(p),
    };
    match eval(&parse(expr).unwrap(), &scope).unwrap() {
        Value::Key(k) => k,
        other => panic!("{expr}: not a key: {other:?}"),
    }
}

fn card(image: &[u8]) -> SimCard {
    let mut c = SimCard::from_nvm(
        SimNvm::from_bytes(image),
        CardRng::Seeded(SeededRng::new(7)),
    )
    .unwrap();
    c.set_tracing(false);
    c
}

fn apdu(head: [u8; 4], data: &[u8], le: Option<u8>) -> Vec<u8> {
    let mut a = head.to_vec();
    if !data.is_empty() {
        a.push(data.len() as u8);
        a.extend_from_slice(data);
    }
    a.extend(le);
    a
}

/// The kernel and the applets over the simulated EEPROM, driven as the firmware drives them: one
/// answer buffer, no per-APDU allocation (`SimCard::transmit` allocates its answer and the applet
/// list on every call, which is the simulator's cost, not the card's).
struct Chip {
    kernel: Kernel<SimNvm, CardRng>,
    applets: Vec<Box<dyn Applet>>,
    out: Vec<u8>,
}

impl Chip {
    fn new(image: &[u8]) -> Chip {
        let mut applets = standard_applets();
        let kernel = {
            let mut refs: Vec<&mut dyn Applet> = applets
                .iter_mut()
                .map(|a| &mut **a as &mut dyn Applet)
                .collect();
            Kernel::power_on(
                SimNvm::from_bytes(image),
                CardRng::Seeded(SeededRng::new(7)),
                &mut refs,
            )
            .map_err(|(e, _, _)| e)
            .unwrap()
        };
        Chip {
            kernel,
            applets,
            out: vec![0; 2 + cos_core::apdu::MAX_RESPONSE_DATA],
        }
    }

    fn transmit(&mut self, a: &[u8]) -> &[u8] {
        let [p, l, d, m, t, s] = &mut self.applets[..] else {
            panic!("six applets")
        };
        let mut refs: [&mut dyn Applet; 6] =
            [&mut **p, &mut **l, &mut **d, &mut **m, &mut **t, &mut **s];
        let n = self.kernel.transmit(a, &mut self.out, &mut refs);
        &self.out[..n]
    }
}

fn ok(c: &mut Chip, a: &[u8]) -> Vec<u8> {
    let r = c.transmit(a);
    let n = r.len();
    assert_eq!(
        &r[n - 2..],
        &[0x90, 0x00],
        "{} → {}",
        hex::encode(a),
        hex::encode(r)
    );
    r[..n - 2].to_vec()
}

fn ok_sim(c: &mut SimCard, a: &[u8]) {
    let r = c.transmit(a);
    assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
}

fn select(c: &mut Chip, aid: &[u8]) {
    ok(c, &apdu([0x00, 0xA4, 0x04, 0x00], aid, Some(0)));
}

fn zero_iv(k: &HostKey) -> Vec<u8> {
    vec![0; k.alg.block()]
}

/// The terminal's side of a purchase, from INITIALIZE's answer: the DEBIT APDU.
fn debit_apdu(dpk: &HostKey, init: &[u8], amount: u32, ty: u8) -> Vec<u8> {
    let (atc, rnd) = (&init[4..6], &init[11..15]);
    let ttc = [0, 0, 0, 1];
    let mut input = [0u8; 8];
    input[..4].copy_from_slice(rnd);
    input[4..6].copy_from_slice(atc);
    input[6..].copy_from_slice(&ttc[2..]);
    let ses = hostcrypto::session_key(dpk, &input);
    let mut m = amount.to_be_bytes().to_vec();
    m.push(ty);
    m.extend_from_slice(&TERMINAL);
    m.extend_from_slice(&DATE_TIME);
    let mac1 = ses.mac4(&zero_iv(&ses), &m);
    let mut d = ttc.to_vec();
    d.extend_from_slice(&DATE_TIME);
    d.extend_from_slice(&mac1);
    apdu([0x80, 0x54, 0x01, 0x00], &d, Some(8))
}

fn init_data(index: u8, amount: u32) -> Vec<u8> {
    let mut d = vec![index];
    d.extend_from_slice(&amount.to_be_bytes());
    d.extend_from_slice(&TERMINAL);
    d
}

/// Time `iters` transactions made by `tx`, which returns the time of its own card calls.
fn timed(
    image: &[u8],
    setup: impl Fn(&mut Chip),
    mut tx: impl FnMut(&mut Chip) -> Duration,
    iters: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let mut c = Chip::new(image);
        setup(&mut c);
        let n = (iters - done).min(PER_CARD);
        for _ in 0..n {
            total += tx(&mut c);
        }
        done += n;
    }
    total
}

fn load_enough(c: &mut Chip, dlk: &HostKey, index: u8) {
    // 10 000.00 yuan: enough for PER_CARD purchases of 0.01.
    load(c, dlk, index, 1_000_000);
}

/// A load; returns the time of its two card commands.
fn load(c: &mut Chip, dlk: &HostKey, index: u8, amount: u32) -> Duration {
    let a = apdu(
        [0x80, 0x50, 0x00, 0x02],
        &init_data(index, amount),
        Some(0x10),
    );
    let t = Instant::now();
    let init = ok(c, &a);
    let mut spent = t.elapsed();
    let (atc, rnd) = (&init[4..6], &init[8..12]);
    let mut input = [0u8; 8];
    input[..4].copy_from_slice(rnd);
    input[4..6].copy_from_slice(atc);
    input[6..].copy_from_slice(&[0x80, 0x00]);
    let ses = hostcrypto::session_key(dlk, &input);
    let mut m = amount.to_be_bytes().to_vec();
    m.push(0x02);
    m.extend_from_slice(&TERMINAL);
    m.extend_from_slice(&DATE_TIME);
    let mac2 = ses.mac4(&zero_iv(&ses), &m);
    let mut d = DATE_TIME.to_vec();
    d.extend_from_slice(&mac2);
    let credit = apdu([0x80, 0x52, 0x00, 0x00], &d, Some(4));
    let t = Instant::now();
    ok(c, &credit);
    spent += t.elapsed();
    spent
}

/// A purchase of 0.01; returns the time of its two card commands.
fn purchase(c: &mut Chip, dpk: &HostKey, index: u8) -> Duration {
    let a = apdu([0x80, 0x50, 0x01, 0x02], &init_data(index, 1), Some(0x0F));
    let t = Instant::now();
    let init = ok(c, &a);
    let mut spent = t.elapsed();
    let debit = debit_apdu(dpk, &init, 1, 0x06);
    let t = Instant::now();
    ok(c, &debit);
    spent += t.elapsed();
    spent
}

fn commands(cr: &mut Criterion) {
    let p = default_profile();
    let image = personalised_image(&p, true).unwrap();
    let mut g = cr.benchmark_group("command");

    let raw = apdu([0x80, 0x50, 0x01, 0x02], &init_data(1, 100), Some(0x0F));
    g.bench_function("apdu-parse", |b| {
        b.iter(|| black_box(cos_core::apdu::Command::parse(black_box(&raw)).is_ok()))
    });

    let mut chip = Chip::new(&image);
    let sel = apdu([0x00, 0xA4, 0x04, 0x00], &PURSE, Some(0));
    g.bench_function("select-aid", |b| {
        b.iter(|| black_box(chip.transmit(&sel).len()))
    });

    select(&mut chip, &PURSE);
    let rb = [0x00, 0xB0, 0x95, 0x00, 0x00];
    g.bench_function("read-binary-sfi", |b| {
        b.iter(|| black_box(chip.transmit(&rb).len()))
    });
    let gb = [0x80, 0x5C, 0x00, 0x02, 0x04];
    g.bench_function("get-balance", |b| {
        b.iter(|| black_box(chip.transmit(&gb).len()))
    });

    // The shell's way (`cos-sim shell`, a `SimCard`): the image file is saved (crash-safe)
    // after every command.
    let mut c = card(&image);
    ok_sim(&mut c, &sel);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    g.bench_function("persistent-image-apdu", |b| {
        b.iter(|| {
            let r = c.transmit(&gb);
            c.save(&path).unwrap();
            black_box(r)
        })
    });
    g.finish();
}

fn transactions(cr: &mut Criterion) {
    let p = vectors_profile();
    let image = personalised_image(&p, true).unwrap();
    let mut g = cr.benchmark_group("transaction");
    for (index, alg) in [(1u8, "3des"), (2, "sm4"), (3, "aes")] {
        let dpk = key(&p, &format!("purse_key('purchase', {index})"));
        let dlk = key(&p, &format!("purse_key('load', {index})"));
        g.bench_with_input(BenchmarkId::new("purchase", alg), &index, |b, &i| {
            b.iter_custom(|n| {
                timed(
                    &image,
                    |c| {
                        select(c, &PURSE);
                        load_enough(c, &dlk, i);
                    },
                    |c| purchase(c, &dpk, i),
                    n,
                )
            })
        });
        g.bench_with_input(BenchmarkId::new("load", alg), &index, |b, &i| {
            b.iter_custom(|n| timed(&image, |c| select(c, &PURSE), |c| load(c, &dlk, i, 1), n))
        });
    }
    g.finish();
}

fn capp_and_library(cr: &mut Criterion) {
    let p = default_profile();
    let image = personalised_image(&p, true).unwrap();
    let dpk = key(&p, "app_key('transit', 'purchase', 1)");
    let dlk = key(&p, "app_key('transit', 'load', 1)");
    let mut g = cr.benchmark_group("transaction");
    // A metro entry tap: INITIALIZE FOR CAPP PURCHASE, UPDATE CAPP DATA CACHE, DEBIT (type 09).
    let mut rec = vec![0x01, 0x40, 0x00, 0x03];
    rec.resize(64, 0);
    g.bench_function("capp-tap/3des", |b| {
        b.iter_custom(|n| {
            timed(
                &image,
                |c| {
                    select(c, &TRANSIT);
                    load_enough(c, &dlk, 1);
                },
                |c| {
                    let a = apdu([0x80, 0x50, 0x03, 0x02], &init_data(1, 1), Some(0x0F));
                    let cache = apdu([0x80, 0xDC, 0x01, 0xD0], &rec, None);
                    let t = Instant::now();
                    let init = ok(c, &a);
                    ok(c, &cache);
                    let mut spent = t.elapsed();
                    let debit = debit_apdu(&dpk, &init, 1, 0x09);
                    let t = Instant::now();
                    ok(c, &debit);
                    spent += t.elapsed();
                    spent
                },
                n,
            )
        })
    });

    // A library loan through the reference circulation desk (its MACs are inside the timing:
    // the desk computes the line protection of BORROW on the host). Every borrowed book is
    // returned, untimed.
    use cos_sim::terminals::library::{Day, LibraryTerminal, Role};
    let today = Day::parse("20260316").unwrap();
    g.bench_function("library-borrow", |b| {
        b.iter_custom(|n| {
            let mut total = Duration::ZERO;
            let mut c = card(&image);
            let mut desk = LibraryTerminal::new(&p, *b"LIB001", 1).unwrap();
            desk.open(&mut c, Role::Circulation).unwrap();
            for _ in 0..n {
                let t = Instant::now();
                black_box(desk.borrow(&mut c, "9787020002207", today).unwrap());
                total += t.elapsed();
                desk.return_item(&mut c, "9787020002207", today).unwrap();
            }
            total
        })
    });
    g.finish();
}

/// The crypto a purchase's DEBIT does on the card, and nothing else.
fn crypto_floor(cr: &mut Criterion) {
    let p = vectors_profile();
    let mut g = cr.benchmark_group("crypto-floor");
    for (index, alg, algorithm) in [
        (1u8, "3des", Algorithm::Tdes),
        (2, "sm4", Algorithm::Sm4),
        (3, "aes", Algorithm::Aes),
    ] {
        let dpk = key(&p, &format!("purse_key('purchase', {index})"));
        let dtk = key(&p, &format!("purse_key('tac', {index})"));
        let bs = algorithm.block_size();
        let zero = [0u8; 16];
        let amount = 1u32.to_be_bytes();
        let ttc = [0u8, 0, 0, 1];
        g.bench_function(alg, |b| {
            b.iter(|| {
                // The card keeps DPK and DTK as stored bytes, so each DEBIT runs both key
                // schedules; then session key, MAC1 (recomputed to compare), MAC2, TAC key, TAC.
                let dpk = Key::new(algorithm, black_box(&dpk.bytes)).unwrap();
                let dtk = Key::new(algorithm, black_box(&dtk.bytes)).unwrap();
                let ses = crypto::session_key(&dpk, black_box(&[1, 2, 3, 4, 0, 0, 0, 1])).unwrap();
                let mac1 = ses
                    .mac(
                        &zero[..bs],
                        &[
                            &amount,
                            &[0x06],
                            &TERMINAL,
                            &DATE_TIME[..4],
                            &DATE_TIME[4..],
                        ],
                    )
                    .unwrap();
                let mac2 = ses.mac(&zero[..bs], &[&amount]).unwrap();
                let tk = crypto::tac_key(&dtk).unwrap();
                let tac = tk
                    .mac(
                        &zero[..bs],
                        &[
                            &amount,
                            &[0x06],
                            &TERMINAL,
                            &ttc,
                            &DATE_TIME[..4],
                            &DATE_TIME[4..],
                        ],
                    )
                    .unwrap();
                black_box((mac1, mac2, tac))
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = commands, transactions, capp_and_library, crypto_floor
}
criterion_main!(benches);
