//! Shared test harness: scenarios of steps, a trivially correct model, and the tear oracle.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cos_nvm::{JournalKey, MemNvm, MountError, Nvm, Storage, Store, StoreError, TearMode};

/// The journal key the tests format with (a card takes it from its random source).
pub const KEY: JournalKey = JournalKey([0xA5, 0x3C, 0x0F, 0x96, 0x71, 0xE8, 0x2D, 0x44]);

/// One step of a scenario.
#[derive(Clone, Debug)]
pub enum Step {
    /// A transaction: writes in order, then commit (or abort).
    Tx {
        writes: Vec<(u32, Vec<u8>)>,
        abort: bool,
    },
    /// A non-atomic scrub.
    Scrub { addr: u32, len: u32, byte: u8 },
}

pub fn tx(writes: &[(u32, &[u8])]) -> Step {
    Step::Tx {
        writes: writes.iter().map(|(a, d)| (*a, d.to_vec())).collect(),
        abort: false,
    }
}

pub fn aborted(writes: &[(u32, &[u8])]) -> Step {
    Step::Tx {
        writes: writes.iter().map(|(a, d)| (*a, d.to_vec())).collect(),
        abort: true,
    }
}

/// Run one step; a transaction refused for capacity is aborted and reported as not committed.
/// Returns whether the step changed the model (committed or scrubbed).
pub fn run_step(s: &mut dyn Storage, step: &Step) -> Result<bool, StoreError> {
    match step {
        Step::Tx { writes, abort } => {
            s.begin()?;
            for (a, d) in writes {
                match s.write(*a, d) {
                    Ok(()) => {}
                    Err(StoreError::CommitCapacityExceeded) => {
                        s.abort();
                        return Ok(false);
                    }
                    Err(e) => {
                        s.abort();
                        return Err(e);
                    }
                }
            }
            if *abort {
                s.abort();
                Ok(false)
            } else {
                s.commit()?;
                Ok(true)
            }
        }
        Step::Scrub { addr, len, byte } => {
            s.scrub(*addr, *len, *byte)?;
            Ok(true)
        }
    }
}

/// Apply a step to the model.
pub fn model_apply(model: &mut [u8], step: &Step) {
    match step {
        Step::Tx { writes, .. } => {
            for (a, d) in writes {
                model[*a as usize..*a as usize + d.len()].copy_from_slice(d);
            }
        }
        Step::Scrub { addr, len, byte } => {
            model[*addr as usize..(*addr + *len) as usize].fill(*byte)
        }
    }
}

pub fn data<N: Nvm>(s: &Store<N>) -> Vec<u8> {
    let mut v = vec![0u8; s.capacity() as usize];
    s.read(0, &mut v).unwrap();
    v
}

pub fn mount<const C: usize>(nvm: MemNvm<C>) -> Store<MemNvm<C>> {
    match Store::mount(nvm) {
        Ok(s) => s,
        Err((e, _)) => panic!("mount failed: {e:?}"),
    }
}

/// The model states of an untorn run: `states[i]` is the data before step `i` (and `states[len]` the end),
/// plus the number of device programs the whole run needs.
pub struct Reference {
    pub states: Vec<Vec<u8>>,
    pub programs: u64,
}

pub fn reference<const C: usize>(golden: &[u8], ps: usize, steps: &[Step]) -> Reference {
    let mut store = mount(MemNvm::<C>::from_bytes(ps, golden));
    let mut model = data(&store);
    let mut states = vec![model.clone()];
    let before = store.nvm().programs();
    for step in steps {
        if run_step(&mut store, step).unwrap() {
            model_apply(&mut model, step);
        }
        assert_eq!(
            data(&store),
            model,
            "untorn run diverges from the model at {step:?}"
        );
        states.push(model.clone());
    }
    let programs = store.nvm().programs() - before;
    let store = mount(store.into_nvm());
    assert_eq!(
        &data(&store),
        states.last().unwrap(),
        "remount after the untorn run"
    );
    Reference { states, programs }
}

/// Run `steps` with a tear armed at program `k`; returns the interrupted step and the powered-up device.
pub fn run_torn<const C: usize>(
    golden: &[u8],
    ps: usize,
    steps: &[Step],
    k: u64,
    mode: TearMode,
) -> (usize, MemNvm<C>) {
    let mut store = mount(MemNvm::<C>::from_bytes(ps, golden));
    store.nvm_mut().arm_tear(k, mode);
    for (i, step) in steps.iter().enumerate() {
        if let Err(e) = run_step(&mut store, step) {
            assert_eq!(e, StoreError::Nvm(cos_nvm::NvmError::PowerLost), "step {i}");
            assert!(store.nvm().is_power_lost());
            // The store refuses to work on until it has recovered.
            assert_eq!(
                store.begin(),
                Err(StoreError::Nvm(cos_nvm::NvmError::PowerLost))
            );
            let mut nvm = store.into_nvm();
            nvm.power_cycle();
            return (i, nvm);
        }
    }
    panic!("tear at program {k} ({mode:?}) never fired");
}

/// The oracle: after recovery from a cut during step `i`, the data is the state before or after it. A
/// scrub is not atomic: only the bytes outside its range are checked (they must match both states).
pub fn assert_old_or_new(got: &[u8], r: &Reference, steps: &[Step], i: usize, what: &str) {
    let (old, new) = (&r.states[i], &r.states[i + 1]);
    match &steps[i] {
        Step::Tx { .. } => assert!(
            got == &old[..] || got == &new[..],
            "{what}: after a cut in step {i} the data is neither the old nor the new state (first diff vs old at {:?}, vs new at {:?})",
            got.iter().zip(old).position(|(a, b)| a != b),
            got.iter().zip(new).position(|(a, b)| a != b),
        ),
        Step::Scrub { addr, len, .. } => {
            let r = *addr as usize..(*addr + *len) as usize;
            for (j, (g, o)) in got.iter().zip(old).enumerate() {
                if !r.contains(&j) {
                    assert_eq!(g, o, "{what}: a cut in scrub step {i} changed byte {j} outside its range");
                }
            }
        }
    }
}

/// Which state recovery reached: the index of the first step not (fully) applied.
pub fn resume_index(got: &[u8], r: &Reference, steps: &[Step], i: usize) -> usize {
    match &steps[i] {
        Step::Tx { .. } if got == &r.states[i + 1][..] => i + 1,
        _ => i,
    }
}

/// Mount must fail with `MountError`.
pub fn mount_err<const C: usize>(nvm: MemNvm<C>) -> MountError {
    match Store::mount(nvm) {
        Ok(_) => panic!("mount unexpectedly succeeded"),
        Err((e, _)) => e,
    }
}

/// Bitwise CRC-32 (ISO-HDLC), independent of the crate's table implementation.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Encode a journal record (header, entries, CRC keyed with [`KEY`]) as the card writes it.
pub fn record(seq: u32, entries: &[(u32, &[u8])]) -> Vec<u8> {
    record_keyed(&KEY.0, seq, entries)
}

/// Encode a journal record whose CRC is keyed with `key` (empty: the plain CRC of format 2).
pub fn record_keyed(key: &[u8], seq: u32, entries: &[(u32, &[u8])]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (a, d) in entries {
        // Format 2 entry header: address u16, length − 1 (an empty entry encodes as 256 bytes).
        payload.extend_from_slice(&(*a as u16).to_be_bytes());
        payload.push((d.len() as u8).wrapping_sub(1));
        payload.extend_from_slice(d);
    }
    raw_record_keyed(key, seq, payload.len() as u16, &payload)
}

/// A record with an arbitrary length field over `payload`, with a correct (keyed) CRC.
pub fn raw_record(seq: u32, len: u16, payload: &[u8]) -> Vec<u8> {
    raw_record_keyed(&KEY.0, seq, len, payload)
}

/// [`raw_record`] with the CRC keyed by `key`: CRC-32 over `key ‖ header ‖ payload` (format 3).
pub fn raw_record_keyed(key: &[u8], seq: u32, len: u16, payload: &[u8]) -> Vec<u8> {
    let mut r = key.to_vec();
    r.extend_from_slice(&cos_nvm::LOG_MAGIC);
    r.extend_from_slice(&seq.to_be_bytes());
    r.extend_from_slice(&len.to_be_bytes());
    r.extend_from_slice(payload);
    let crc = crc32(&r);
    r.extend_from_slice(&crc.to_be_bytes());
    r.split_off(key.len())
}

/// Put `bytes` into the journal area of `image` at journal offset `off`, wrapping like the store does.
pub fn put_journal(image: &mut [u8], ps: usize, journal_pages: usize, off: usize, bytes: &[u8]) {
    let jlen = ps * journal_pages;
    for (i, b) in bytes.iter().enumerate() {
        image[ps + (off + i) % jlen] = *b;
    }
}
