//! Mapping of storage failures to status words, and the kernel's transaction helper.
//!
//! Why one place: every handler must answer a power-loss or a full journal the same way
//! (6581 MEMORY FAILURE, 6A84 NOT ENOUGH MEMORY), and no handler may leave a transaction open.

use crate::fs::{self, DfState, Slot};
use crate::lifecycle::CardState;
use cos_apdu::Sw;
use cos_nvm::{Storage, StoreError};

/// The status word for a storage error.
#[inline(never)]
pub fn store_sw(e: StoreError) -> Sw {
    match e {
        StoreError::CommitCapacityExceeded => Sw::NOT_ENOUGH_MEMORY,
        StoreError::OutOfBounds => Sw::MEMORY_FAILURE,
        _ => Sw::MEMORY_FAILURE,
    }
}

/// Run `f` as one atomic transaction: an `Err` from `f` or from the commit aborts it and nothing
/// changes; `Ok` means every write is durable (and survives a power cut at any later point).
pub fn atomically<R>(
    s: &mut dyn Storage,
    f: impl FnOnce(&mut dyn Storage) -> Result<R, Sw>,
) -> Result<R, Sw> {
    begin(s)?;
    let r = f(s);
    end(s, r.as_ref().map(|_| ()).map_err(|sw| *sw))?;
    r
}

/// A DF's life-cycle byte as a transaction of its own: one copy for APPLICATION BLOCK / UNBLOCK
/// and an applet's block (each had its own [`atomically`] instance).
#[inline(never)]
pub fn commit_df_state(s: &mut dyn Storage, df: Slot, st: DfState) -> Result<(), Sw> {
    atomically(s, |s| fs::write_df_state(s, df, st))
}

/// The card's life-cycle byte as a transaction of its own (ACTIVATE FILE, CARD BLOCK).
#[inline(never)]
pub fn commit_card_state(s: &mut dyn Storage, state: CardState) -> Result<(), Sw> {
    atomically(s, |s| fs::write_card_state(s, state))
}

/// Open a transaction (one copy of this code for every [`atomically`] caller).
#[inline(never)]
fn begin(s: &mut dyn Storage) -> Result<(), Sw> {
    s.begin().map_err(store_sw)
}

/// Close the transaction [`begin`] opened: commit on `Ok`, abort on `Err` or a failing commit.
#[inline(never)]
fn end(s: &mut dyn Storage, r: Result<(), Sw>) -> Result<(), Sw> {
    match r {
        Ok(()) => match s.commit() {
            Ok(()) => Ok(()),
            Err(e) => {
                s.abort();
                Err(store_sw(e))
            }
        },
        Err(sw) => {
            s.abort();
            Err(sw)
        }
    }
}
