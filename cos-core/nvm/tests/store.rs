//! Functional tests of `Store`: mount states, transaction semantics, costs, journal bounds checks, scrub.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use cos_nvm::{
    atomically, MemNvm, MountError, Nvm, NvmError, Storage, Store, StoreError, TearMode,
    HEADER_LEN, LOG_OVERHEAD,
};

const PS: usize = 64;
const JP: u16 = 8;
type Chip = MemNvm<4096>;

fn fresh() -> Store<Chip> {
    Store::format(Chip::new(PS), JP, KEY).unwrap()
}

fn remount(s: Store<Chip>) -> Store<Chip> {
    mount(s.into_nvm())
}

#[test]
fn format_geometry_and_empty_data_area() {
    let s = fresh();
    assert_eq!(s.capacity(), 4096 - 9 * 64);
    assert_eq!(s.data_start(), 576);
    assert_eq!(s.journal_pages(), JP);
    assert_eq!(
        s.max_transaction_bytes() as usize,
        8 * 64 / 2 - LOG_OVERHEAD
    );
    assert!(data(&s).iter().all(|&b| b == 0));
    let s = remount(s);
    assert!(data(&s).iter().all(|&b| b == 0));
}

#[test]
fn format_rejects_impossible_geometry() {
    assert_eq!(
        Store::format(MemNvm::<4096>::new(16), 8, KEY).err(),
        Some(StoreError::OutOfBounds)
    );
    assert_eq!(
        Store::format(Chip::new(PS), 1, KEY).err(),
        Some(StoreError::OutOfBounds)
    );
    assert_eq!(
        Store::format(MemNvm::<576>::new(64), 8, KEY).err(),
        Some(StoreError::OutOfBounds)
    );
}

#[test]
fn reformat_of_a_used_chip_starts_clean() {
    let mut s = fresh();
    atomically(&mut s, |t| t.write(5, &[1, 2, 3])).unwrap();
    let s = Store::format(s.into_nvm(), 4, KEY).unwrap();
    assert_eq!(s.journal_pages(), 4);
    let s = remount(s);
    assert!(data(&s).iter().all(|&b| b == 0));
}

#[test]
fn virgin_and_corrupt_are_distinguished() {
    assert_eq!(mount_err(Chip::new(PS)), MountError::Virgin);
    assert_eq!(
        mount_err(Chip::from_bytes(PS, &[0; 4096])),
        MountError::Virgin
    );
    let golden = fresh().into_nvm().as_bytes().to_vec();
    for i in 0..HEADER_LEN {
        let mut img = golden.clone();
        img[i] ^= 0x10;
        assert_eq!(
            mount_err(Chip::from_bytes(PS, &img)),
            MountError::Corrupt,
            "header byte {i}"
        );
    }
    // Right header, wrong device geometry.
    assert_eq!(
        mount_err(Chip::from_bytes(128, &golden)),
        MountError::Corrupt
    );
    assert_eq!(
        mount_err(MemNvm::<2048>::from_bytes(PS, &golden)),
        MountError::Corrupt
    );
    // The device is handed back untouched.
    let Err((_, nvm)) = Store::mount(Chip::from_bytes(128, &golden)) else {
        panic!()
    };
    assert_eq!(nvm.as_bytes(), &golden[..]);
}

#[test]
fn commit_is_visible_and_durable_abort_is_not() {
    let mut s = fresh();
    s.begin().unwrap();
    s.write(10, &[1, 2, 3]).unwrap();
    s.commit().unwrap();
    s.begin().unwrap();
    s.write(10, &[9, 9, 9]).unwrap();
    s.write(2000, &[7]).unwrap();
    s.abort();
    assert!(!s.in_transaction());
    let mut b = [0u8; 3];
    s.read(10, &mut b).unwrap();
    assert_eq!(b, [1, 2, 3]);
    assert_eq!(s.read_u8(2000).unwrap(), 0);
    let s = remount(s);
    s.read(10, &mut b).unwrap();
    assert_eq!(b, [1, 2, 3]);
    assert_eq!(s.read_u8(2000).unwrap(), 0);
}

#[test]
fn reads_overlay_pending_writes_in_order() {
    let mut s = fresh();
    atomically(&mut s, |t| t.write(0, &[1; 8])).unwrap();
    s.begin().unwrap();
    s.write(2, &[2, 2, 2]).unwrap();
    s.write(3, &[3]).unwrap();
    s.write(62, &[4, 4, 4, 4]).unwrap(); // crosses into the next page
    let mut b = [0u8; 10];
    s.read(0, &mut b).unwrap();
    assert_eq!(b, [1, 1, 2, 3, 2, 1, 1, 1, 0, 0]);
    let mut c = [0u8; 6];
    s.read(61, &mut c).unwrap();
    assert_eq!(c, [0, 4, 4, 4, 4, 0]);
    s.commit().unwrap();
    let s = remount(s);
    s.read(0, &mut b).unwrap();
    assert_eq!(b, [1, 1, 2, 3, 2, 1, 1, 1, 0, 0]);
    s.read(61, &mut c).unwrap();
    assert_eq!(c, [0, 4, 4, 4, 4, 0]);
}

#[test]
fn transaction_state_errors() {
    let mut s = fresh();
    assert_eq!(s.write(0, &[1]), Err(StoreError::NoTransaction));
    assert_eq!(s.commit(), Err(StoreError::NoTransaction));
    s.begin().unwrap();
    assert_eq!(s.begin(), Err(StoreError::TransactionOpen));
    assert_eq!(s.scrub(0, 4, 0), Err(StoreError::TransactionOpen));
    assert!(s.in_transaction());
    let cap = s.capacity();
    assert_eq!(s.write(cap - 1, &[1, 2]), Err(StoreError::OutOfBounds));
    assert_eq!(s.write(u32::MAX, &[1]), Err(StoreError::OutOfBounds));
    s.write(cap - 2, &[1, 2]).unwrap();
    assert_eq!(s.read(cap, &mut [0u8; 1]), Err(StoreError::OutOfBounds));
    s.commit().unwrap();
    assert!(!s.in_transaction());
    assert_eq!(s.read_u16(cap - 2).unwrap(), 0x0102);
}

#[test]
fn capacity_is_honest_and_overflow_is_typed() {
    let mut s = fresh();
    let max = s.max_transaction_bytes(); // 245 with 8 journal pages of 64 bytes
    assert_eq!(max, 245);
    s.begin().unwrap();
    for p in 0..4u32 {
        s.write(p * 64, &[p as u8 + 1; 57]).unwrap(); // 3 + 57 = 60 bytes each: 240
    }
    assert_eq!(
        s.write(4 * 64, &[9; 3]),
        Err(StoreError::CommitCapacityExceeded)
    );
    assert!(s.in_transaction(), "the transaction stays open");
    s.write(57, &[5; 5]).unwrap(); // widens page 0's entry to 62 bytes: exactly 245
    assert_eq!(s.write(62, &[1]), Err(StoreError::CommitCapacityExceeded));
    assert_eq!(
        s.read_u8(4 * 64).unwrap(),
        0,
        "a refused write leaves nothing behind"
    );
    s.commit().unwrap();
    let s = remount(s);
    assert_eq!(s.read_u16(57).unwrap(), 0x0505);
    assert_eq!(s.read_u8(61).unwrap(), 5);
    assert_eq!(s.read_u8(3 * 64 + 56).unwrap(), 4);
}

#[test]
fn programs_per_commit_are_log_pages_plus_home_pages() {
    let mut s = fresh();
    let p0 = s.programs();
    // Empty transaction, and a transaction that changes nothing: zero programs.
    atomically(&mut s, |_| Ok::<_, StoreError>(())).unwrap();
    atomically(&mut s, |t| t.write(0, &[0; 16])).unwrap();
    assert_eq!(s.programs(), p0);

    // Three small writes in two pages: record 11 + (3 + 12) + (3 + 4) = 33 bytes at journal offset 0 (one
    // journal page), then one program per home page: 3.
    let three = |s: &mut Store<Chip>, v: u8| {
        let before = s.programs();
        atomically(s, |t| {
            t.write(0, &[v; 4])?;
            t.write(10, &[v; 2])?;
            t.write(64, &[v; 4])
        })
        .unwrap();
        s.programs() - before
    };
    assert_eq!(three(&mut s, 1), 3);
    // From the head (offset 36) the next record would straddle a journal page; it fits in one, so it
    // starts at the next page (offset 64) instead: 1 + 2.
    assert_eq!(three(&mut s, 2), 3);
    // One byte changed in one page: a 15-byte record at offset 100 (one journal page) + one home program.
    let before = s.programs();
    atomically(&mut s, |t| t.write(0, &[3, 2, 2, 2])).unwrap();
    assert_eq!(s.programs() - before, 2);
    // The device agrees with the store's count.
    assert_eq!(s.programs(), s.nvm().programs());
}

/// A device wrapper counting programs per page, to check wear spreading.
struct Wear<'a> {
    nvm: &'a mut Chip,
    per_page: Vec<u32>,
}

impl Nvm for Wear<'_> {
    fn page_size(&self) -> usize {
        self.nvm.page_size()
    }
    fn capacity(&self) -> usize {
        self.nvm.capacity()
    }
    fn read(&self, addr: usize, buf: &mut [u8]) -> Result<(), NvmError> {
        self.nvm.read(addr, buf)
    }
    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), NvmError> {
        self.per_page[addr / PS] += 1;
        self.nvm.program(addr, data)
    }
}

/// A page whose entry would carry a long run of unchanged bytes (a purse state and a log record
/// sharing a page) is logged as two entries when that saves journal pages: the journal carries only
/// changed bytes, at the price of one more home program.
#[test]
fn unchanged_runs_are_left_out_of_the_journal_when_that_saves_programs() {
    let mut s = fresh();
    // First record 11 + 3 + 46 = 60 bytes: the head is at journal offset 60.
    atomically(&mut s, |t| t.write(0, &[1; 46])).unwrap();
    let before = s.programs();
    atomically(&mut s, |t| {
        t.write(0, &[9; 4])?;
        t.write(40, &[8; 24])?;
        t.write(100, &[7; 8])
    })
    .unwrap();
    // As one entry per page the record is 11 + (3 + 64) + (3 + 8) = 89 bytes from offset 60: three
    // journal pages + two home programs = 5. Split at the 36 unchanged bytes 4..40 it is 56 bytes,
    // which starts at the next page (one journal program) + three home programs = 4.
    assert_eq!(s.programs() - before, 4);
    let j = s.nvm().as_bytes()[PS + 64..PS + 128].to_vec();
    assert_eq!(
        &j[..7],
        &[0xC5, 0, 0, 0, 2, 0, 45],
        "seq 2, payload 45 bytes"
    );
    assert_eq!(&j[7..10], &[0, 0, 3], "entry: address 0, 4 bytes");
    assert_eq!(&j[14..17], &[0, 40, 23], "entry: address 40, 24 bytes");
    assert_eq!(&j[41..44], &[0, 100, 7], "entry: address 100, 8 bytes");
    let s = remount(s);
    let d = data(&s);
    assert_eq!(&d[..4], &[9; 4]);
    assert_eq!(&d[4..40], &[1; 36]);
    assert_eq!(&d[40..64], &[8; 24]);
    assert_eq!(&d[100..108], &[7; 8]);
}

#[test]
fn the_journal_spreads_wear() {
    let mut chip = fresh().into_nvm();
    let mut s = try_mount(Wear {
        nvm: &mut chip,
        per_page: vec![0; 64],
    })
    .err_free();
    for i in 0..400u32 {
        atomically(&mut s, |t| t.write_u32(0, i + 1)).unwrap();
    }
    let wear = &s.nvm().per_page;
    let journal = &wear[1..=8];
    // 400 records of 18 bytes (20 aligned): three fit in a page and none straddles two, so each page is
    // programmed three times per sweep of the 512-byte journal, ~17 sweeps: ~50 programs per page when
    // spread evenly, against 400 on a fixed commit slot.
    let (min, max) = (journal.iter().min().unwrap(), journal.iter().max().unwrap());
    assert!(*min >= 45 && *max <= 55, "journal wear {journal:?}");
    assert_eq!(wear[0], 0, "the header is never rewritten");
    assert_eq!(wear[9], 400, "the home page is programmed once per commit");
}

trait ErrFree<T> {
    fn err_free(self) -> T;
}
impl<T, E: core::fmt::Debug, N> ErrFree<T> for Result<T, (E, N)> {
    fn err_free(self) -> T {
        match self {
            Ok(t) => t,
            Err((e, _)) => panic!("{e:?}"),
        }
    }
}

fn try_mount<N: Nvm>(nvm: N) -> Result<Store<N>, (MountError, N)> {
    Store::mount(nvm)
}

#[test]
fn many_commits_wrap_the_journal_and_survive_remounts() {
    let mut s = fresh();
    let mut model = vec![0u8; s.capacity() as usize];
    for i in 0..200u32 {
        let addr = (i * 97) % 3300;
        let len = 1 + (i as usize * 31) % 150;
        let bytes: Vec<u8> = (0..len).map(|j| (i as usize + j) as u8).collect();
        atomically(&mut s, |t| t.write(addr, &bytes)).unwrap();
        model[addr as usize..addr as usize + len].copy_from_slice(&bytes);
        if i % 7 == 0 {
            s = remount(s);
        }
        assert_eq!(data(&s), model, "after commit {i}");
    }
}

#[test]
fn atomically_commits_on_ok_and_aborts_on_err() {
    #[derive(Debug, PartialEq)]
    enum AppError {
        Store(StoreError),
        Insufficient,
    }
    impl From<StoreError> for AppError {
        fn from(e: StoreError) -> Self {
            Self::Store(e)
        }
    }
    let mut s = fresh();
    atomically(&mut s, |t| t.write_u32(0, 100)).unwrap();
    let debit = |s: &mut Store<Chip>, amount: u32| {
        atomically(s, |t| {
            t.write_u16(64, t.read_u16(64)? + 1)?; // the counter moves before the check
            let bal = t.read_u32(0)?;
            let new = bal.checked_sub(amount).ok_or(AppError::Insufficient)?;
            t.write_u32(0, new)?;
            Ok(new)
        })
    };
    assert_eq!(debit(&mut s, 30), Ok(70));
    assert_eq!(debit(&mut s, 80), Err(AppError::Insufficient));
    assert!(!s.in_transaction());
    assert_eq!((s.read_u32(0).unwrap(), s.read_u16(64).unwrap()), (70, 1));
    // Transaction control inside the closure is refused; the transaction is aborted.
    assert_eq!(
        atomically(&mut s, |t| {
            t.write_u32(0, 1)?;
            assert_eq!(t.begin(), Err(StoreError::TransactionOpen));
            assert_eq!(t.scrub(0, 1, 0), Err(StoreError::TransactionOpen));
            t.commit()
        }),
        Err(StoreError::TransactionOpen)
    );
    assert_eq!(s.read_u32(0).unwrap(), 70);
    // Capacity overflow aborts too.
    let big = vec![1u8; 300];
    assert_eq!(
        atomically(&mut s, |t| t.write(0, &big)),
        Err(StoreError::CommitCapacityExceeded)
    );
    assert!(!s.in_transaction());
    assert_eq!(s.read_u32(0).unwrap(), 70);
}

#[test]
fn scrub_fills_and_is_not_undone_by_replay() {
    let mut s = fresh();
    atomically(&mut s, |t| t.write(100, &[0xAA; 10])).unwrap();
    let before = s.programs();
    s.scrub(96, 16, 0).unwrap();
    // The newest record covers the range: one program for the retiring empty record, one for the fill.
    assert_eq!(s.programs() - before, 2);
    let s2 = remount(s);
    assert!(
        data(&s2)[96..112].iter().all(|&b| b == 0),
        "replay undid the scrub"
    );
    let mut s = s2;
    // A scrub the newest record does not cover costs only the fill; an already-filled range costs nothing.
    atomically(&mut s, |t| t.write(0, &[1])).unwrap();
    let before = s.programs();
    s.scrub(200, 100, 0x5A).unwrap();
    assert_eq!(s.programs() - before, 2, "200..300 spans two pages");
    s.scrub(200, 100, 0x5A).unwrap();
    assert_eq!(s.programs() - before, 2);
    assert_eq!(
        s.scrub(s.capacity() - 1, 2, 0),
        Err(StoreError::OutOfBounds)
    );
    s.scrub(5, 0, 1).unwrap();
    let s = remount(s);
    assert!(data(&s)[200..300].iter().all(|&b| b == 0x5A));
    assert_eq!(s.read_u8(0).unwrap(), 1);
}

#[test]
fn a_failed_store_refuses_work_until_recovered() {
    let mut s = fresh();
    s.nvm_mut().arm_tear(1, TearMode::Skip);
    s.begin().unwrap();
    s.write(0, &[1, 2]).unwrap();
    s.write(64, &[3]).unwrap();
    assert_eq!(s.commit(), Err(StoreError::Nvm(NvmError::PowerLost)));
    assert!(!s.in_transaction());
    assert_eq!(
        s.read(0, &mut [0u8; 2]),
        Err(StoreError::Nvm(NvmError::PowerLost))
    );
    assert_eq!(s.begin(), Err(StoreError::Nvm(NvmError::PowerLost)));
    assert_eq!(s.scrub(0, 1, 0), Err(StoreError::Nvm(NvmError::PowerLost)));
    // Still no power: recovery needs to program, so it fails too.
    assert_eq!(s.recover(), Err(StoreError::Nvm(NvmError::PowerLost)));
    s.nvm_mut().power_cycle();
    let report = s.recover().unwrap();
    assert_eq!(report.replayed_seq, Some(1));
    assert_eq!(
        report.programs, 2,
        "the record was complete: both home pages are finished"
    );
    assert_eq!(s.read_u16(0).unwrap(), 0x0102);
    assert_eq!(s.read_u8(64).unwrap(), 3);
    let again = s.recover().unwrap();
    assert_eq!(again.programs, 0, "recovery is idempotent");
}

// ---- Journal records read back from NVM are bounds-checked -------------------------------------------

fn golden() -> Vec<u8> {
    fresh().into_nvm().as_bytes().to_vec()
}

fn with_record(rec: &[u8], off: usize) -> Chip {
    let mut img = golden();
    put_journal(&mut img, PS, JP as usize, off, rec);
    Chip::from_bytes(PS, &img)
}

#[test]
fn a_crafted_record_is_replayed_even_across_the_journal_end() {
    let rec = record(5, &[(3, &[1, 2, 3]), (130, &[4])]);
    let s = try_mount(with_record(&rec, 512 - 8)).err_free();
    assert_eq!(data(&s)[3..6], [1, 2, 3]);
    assert_eq!(data(&s)[130], 4);
}

#[test]
fn oversized_length_fields_are_rejected_without_panicking() {
    // Payload length beyond half the journal: not a record at all (nothing replayed, mount succeeds).
    let mut rec = record(5, &[(0, &[1])]);
    rec[5..7].copy_from_slice(&0xFFFFu16.to_be_bytes());
    let mut s = try_mount(with_record(&rec, 0)).err_free();
    assert_eq!(s.recover().unwrap().replayed_seq, None);
    assert_eq!(s.read_u8(0).unwrap(), 0);
    let mut rec = raw_record(5, 300, &[0u8; 300]);
    rec.truncate(400);
    assert!(try_mount(with_record(&rec, 0)).is_ok());

    // Valid CRC but malformed entries: Corrupt, and nothing programmed.
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "entry longer than the payload",
            raw_record(5, 5, &[0, 0, 8, 1, 2]),
        ),
        (
            "payload ends inside an entry header",
            raw_record(5, 2, &[0, 0]),
        ),
        ("entry beyond the data area", record(5, &[(3519, &[1, 2])])),
        ("the highest address", record(5, &[(0xFFFF, &[1, 2])])),
        ("entry crossing a page", record(5, &[(63, &[1, 2])])),
        (
            "empty entry (not encodable: its length byte reads as 256)",
            record(5, &[(0, &[])]),
        ),
    ];
    for (what, rec) in cases {
        let Err((e, nvm)) = try_mount(with_record(&rec, 40)) else {
            panic!("{what}: mounted")
        };
        assert_eq!(e, MountError::Corrupt, "{what}");
        assert_eq!(nvm.programs(), 0, "{what}: nothing programmed");
    }
}

#[test]
fn newest_valid_record_wins_and_ambiguity_is_corrupt() {
    let mut img = golden();
    put_journal(&mut img, PS, 8, 0, &record(7, &[(0, &[7])]));
    put_journal(&mut img, PS, 8, 100, &record(9, &[(0, &[9])]));
    put_journal(&mut img, PS, 8, 200, &record(8, &[(0, &[8])]));
    let mut s = try_mount(Chip::from_bytes(PS, &img)).err_free();
    assert_eq!(s.read_u8(0).unwrap(), 9);
    // The next record goes right after the newest one and carries the next sequence number.
    atomically(&mut s, |t| t.write(1, &[1])).unwrap();
    let b = s.nvm().as_bytes();
    // The seq-9 record ends at 100 + 11 + 4 = 115 (116 aligned); from there the new 15-byte record would
    // straddle a page, so it starts at the next page, 128.
    let after = PS + 128;
    assert_eq!(&b[after..after + 5], &[0xC5, 0, 0, 0, 10]);

    let mut img = golden();
    put_journal(&mut img, PS, 8, 0, &record(9, &[(0, &[1])]));
    put_journal(&mut img, PS, 8, 100, &record(9, &[(0, &[2])]));
    assert_eq!(mount_err(Chip::from_bytes(PS, &img)), MountError::Corrupt);
}

#[test]
fn a_torn_newer_record_is_ignored() {
    let mut img = golden();
    put_journal(&mut img, PS, 8, 0, &record(3, &[(0, &[3])]));
    let mut torn = record(4, &[(0, &[4])]);
    let n = torn.len();
    torn[n - 1] ^= 1;
    put_journal(&mut img, PS, 8, 24, &torn);
    let s = try_mount(Chip::from_bytes(PS, &img)).err_free();
    assert_eq!(s.read_u8(0).unwrap(), 3);
}

// ---- Record injection (format 3) -------------------------------------------------------------------

/// Terminal-chosen bytes journalled inside a genuine record must never pass for a record of their own,
/// even once the genuine record's header is gone (as a journal wrap can leave it).
///
/// The first commit after format puts its record at journal offset 0: magic, seq, length (7 bytes), then
/// the entry header (3), so the written bytes start at journal offset 10 and a fake record placed two
/// bytes into them sits at the aligned offset 12. The fake writes `EVIL` at data address 200.
fn plant(fake: &[u8]) -> Chip {
    let mut s = fresh();
    let mut bytes = vec![0x11, 0x11];
    bytes.extend_from_slice(fake);
    bytes.push(0x22); // a non-zero last byte keeps the entry from being narrowed
    atomically(&mut s, |t| t.write(64, &bytes)).unwrap();
    let mut nvm = s.into_nvm();
    let j = nvm.as_bytes();
    assert_eq!(j[PS], 0xC5, "the genuine record starts the journal");
    assert_eq!(
        &j[PS + 12..PS + 12 + fake.len()],
        fake,
        "the fake sits at offset 12"
    );
    // What a wrap does to the genuine record: its header is overwritten, the payload survives.
    nvm.program(PS, &[0x00]).unwrap();
    nvm
}

#[test]
fn planted_records_are_never_replayed() {
    let target: (u32, &[u8]) = (200, b"EVIL");
    // A forger who knows the format but not the card's key: the plain CRC (format 2's check), a
    // guessed key, and the key of another card all fail.
    for (what, key) in [
        ("plain CRC", &[][..]),
        ("all-zero key", &[0u8; 8][..]),
        (
            "another card's key",
            &[0xA5, 0x3C, 0x0F, 0x96, 0x71, 0xE8, 0x2D, 0x45][..],
        ),
    ] {
        let fake = record_keyed(key, 1000, &[target]);
        let mut s = try_mount(plant(&fake)).err_free();
        assert_eq!(
            &data(&s)[200..204],
            &[0; 4],
            "{what}: the fake was replayed"
        );
        assert_eq!(s.recover().unwrap().replayed_seq, None, "{what}");
    }
    // Control: the same record keyed with this card's key is accepted, so the planting above does put a
    // well-formed record where recovery looks.
    let mut s = try_mount(plant(&record(1000, &[target]))).err_free();
    assert_eq!(&data(&s)[200..204], b"EVIL");
    assert_eq!(s.recover().unwrap().replayed_seq, Some(1000));
}

#[test]
fn the_key_is_kept_in_the_header_and_keys_the_card_s_own_records() {
    let mut s = fresh();
    atomically(&mut s, |t| t.write(0, &[9, 8, 7])).unwrap();
    let img = s.into_nvm().as_bytes().to_vec();
    assert_eq!(&img[20..28], &KEY.0, "header bytes 20..28");
    // The record the store wrote is exactly the keyed encoding.
    let want = record(1, &[(0, &[9, 8, 7])]);
    assert_eq!(&img[PS..PS + want.len()], &want[..]);
}
