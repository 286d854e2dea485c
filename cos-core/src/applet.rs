//! The kernel ↔ applet boundary.
//!
//! Responsibility: the one narrow trait an application implements ([`Applet`]) and the context
//! ([`Cx`]) through which it uses kernel services: the files of *its own* ADF (never another
//! application's), the keys of its key file, the security status, random numbers and atomic
//! transactions.
//!
//! Rules (the kernel enforces them, applets rely on them):
//! * The kernel owns SELECT, GET RESPONSE, chaining, Le handling and every ISO/FMCOS command of
//!   `docs/commands.md`; an applet sees only the commands the kernel does not implement, while its
//!   ADF is current (selecting any other DF, even one below the ADF, deselects it).
//! * Switching applications calls the old applet's [`Applet::deselect`] and then the new one's
//!   [`Applet::select`]; selecting the same ADF again calls `select` with [`Selection::Reselect`].
//! * Power loss is never announced. Applets keep only RAM state that may vanish at any moment;
//!   the kernel calls [`Applet::power_on`] at every power-up and warm reset before any command.
//! * The security status is the kernel's and is cleared on DF change and reset.
//! * An applet's errors are status words chosen at its command boundary.

use crate::error::{atomically, commit_df_state, store_sw};
use crate::fs::{self, record, DfState, FileEntry, FileKind, Slot};
use crate::keys::{KeyRecord, KeyType};
use crate::keystore::{self, TryRestore, Verification};
use crate::lifecycle::CardState;
use crate::rng::Rng;
use crate::security::{Challenge, SecurityStatus};
use crate::types::AccessRight;
use core::cell::OnceCell;
use cos_apdu::{Command, Fid, Response, Sw};
use cos_nvm::Storage;

/// Whether `select` is a first selection or a re-selection of the current application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Another DF (or nothing) was current before.
    First,
    /// The application was already selected.
    Reselect,
}

/// An application on the card.
pub trait Applet {
    /// The DF name (AID) of the ADF this applet serves.
    fn aid(&self) -> &[u8];

    /// Power-up or warm reset: drop all RAM state.
    fn power_on(&mut self);

    /// The applet's ADF became current. Write proprietary FCI data objects into `fci` (they go
    /// inside the FCI's `A5` template). An error cancels the selection.
    fn select(
        &mut self,
        cx: &mut Cx<'_>,
        selection: Selection,
        fci: &mut Response<'_>,
    ) -> Result<(), Sw>;

    /// Another application is being selected.
    fn deselect(&mut self);

    /// A command the kernel does not implement. `Ok(sw)` is a success or warning with the data
    /// written to `rsp`; `Err(sw)` an error. Unknown commands answer `Err(Sw::INS_NOT_SUPPORTED)`.
    fn process(
        &mut self,
        cx: &mut Cx<'_>,
        cmd: &Command<'_>,
        rsp: &mut Response<'_>,
    ) -> Result<Sw, Sw>;

    /// Whether the command may run while the application is temporarily blocked (APPLICATION
    /// BLOCK). The default lets nothing through; the kernel then answers 6985.
    fn runs_when_blocked(&self, _cmd: &Command<'_>) -> bool {
        false
    }
}

/// A file of the applet's ADF, as found by [`Cx::file`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRef {
    slot: Slot,
}

/// Kernel services for one applet call.
// `repr(C)` with the fields [`Tx`] has first, in its order: the file checks both contexts make
// compile to identical code, which the linker folds into one copy.
#[repr(C)]
pub struct Cx<'k> {
    pub(crate) store: &'k mut dyn Storage,
    pub(crate) adf: Slot,
    pub(crate) slots: u8,
    pub(crate) card_state: CardState,
    pub(crate) security: &'k mut SecurityStatus,
    pub(crate) rng: &'k mut dyn Rng,
    pub(crate) command_seq: u32,
    pub(crate) challenge: Option<Challenge>,
    /// The try counter a passed [`Cx::verify_with_key`] restores: written inside the applet's next
    /// [`Cx::transaction`], else when the context is dropped at the end of the call.
    pub(crate) restore: Option<TryRestore>,
    /// The ADF's key file, found once per applet call (a table scan): nothing an applet can do
    /// moves it (its transactions write only data files), and the context lives for one call, so
    /// nothing is kept across commands.
    pub(crate) key_file: OnceCell<FileEntry>,
}

/// A restore still pending when the applet call ends is committed on its own. Its error (only a
/// failing store) cannot be reported from here and is not needed: the counter then simply stays
/// consumed, the safe side.
impl Drop for Cx<'_> {
    fn drop(&mut self) {
        let _ = self.flush_restore();
    }
}

impl<'k> Cx<'k> {
    /// Commit a pending try-counter restore in its own transaction.
    fn flush_restore(&mut self) -> Result<(), Sw> {
        match self.restore.take() {
            Some(r) => r.commit(self.store),
            None => Ok(()),
        }
    }

    /// Sequence number of the current command since power-on. PBOC's "DEBIT only straight after
    /// INITIALIZE" is `seq == init_seq + 1`: any command in between breaks the pair.
    pub fn command_seq(&self) -> u32 {
        self.command_seq
    }

    /// Card life-cycle state.
    pub fn card_state(&self) -> CardState {
        self.card_state
    }

    /// Life-cycle state of the applet's ADF.
    pub fn df_state(&self) -> Result<DfState, Sw> {
        Ok(fs::entry(self.store, self.adf)?.state)
    }

    /// Block the application (e.g. the purse after too many wrong MACs); committed at once.
    pub fn block_application(&mut self, permanent: bool) -> Result<(), Sw> {
        let st = if permanent {
            DfState::Terminated
        } else {
            DfState::Blocked
        };
        let adf = self.adf;
        commit_df_state(self.store, adf, st)
    }

    /// Security status (levels reached by VERIFY / EXTERNAL AUTHENTICATE).
    pub fn security(&self) -> &SecurityStatus {
        self.security
    }

    /// Whether an access right is met now.
    pub fn satisfies(&self, right: AccessRight) -> bool {
        self.security.satisfies(right)
    }

    /// Random bytes.
    pub fn random(&mut self, buf: &mut [u8]) {
        self.rng.fill(buf);
    }

    /// An EF directly under the applet's ADF, by short identifier.
    pub fn file_by_sfi(&self, sfi: u8) -> Result<FileRef, Sw> {
        fs::child_by_sfi(self.store, self.slots, self.adf, sfi)?
            .map(|(slot, _)| FileRef { slot })
            .ok_or(Sw::FILE_NOT_FOUND)
    }

    /// An EF directly under the applet's ADF, by FID.
    pub fn file(&self, fid: Fid) -> Result<FileRef, Sw> {
        match fs::child_by_fid(self.store, self.slots, self.adf, fid)? {
            Some((slot, e)) if !e.kind.is_df() => Ok(FileRef { slot }),
            _ => Err(Sw::FILE_NOT_FOUND),
        }
    }

    /// The stored entry of a file (kind, size, records).
    pub fn entry(&self, f: FileRef) -> Result<FileEntry, Sw> {
        let e = fs::entry(self.store, f.slot)?;
        if Slot(e.parent) != self.adf {
            return Err(Sw::FILE_NOT_FOUND);
        }
        Ok(e)
    }

    /// The challenge of a GET CHALLENGE sent just before this command (it is spent on reading).
    pub fn take_challenge(&mut self) -> Option<Challenge> {
        self.challenge.take()
    }

    /// Read body bytes of a transparent or internal EF.
    pub fn read(&self, f: FileRef, offset: u32, buf: &mut [u8]) -> Result<(), Sw> {
        let e = self.entry(f)?;
        if !matches!(e.kind, FileKind::Transparent | FileKind::Internal) {
            return Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE);
        }
        fs::read_body(self.store, &e, offset, buf)
    }

    /// Read logical record `n` of a record EF; returns the record length.
    pub fn read_record(
        &self,
        f: FileRef,
        n: u8,
        buf: &mut [u8; record::MAX_RECORD],
    ) -> Result<usize, Sw> {
        let e = self.entry(f)?;
        record::read(self.store, &e, n, buf)
    }

    /// Number of records that exist in a record EF.
    pub fn record_count(&self, f: FileRef) -> Result<u8, Sw> {
        let e = self.entry(f)?;
        record::count(self.store, &e)
    }

    /// The ADF's key file (6A88 when it has none).
    fn key_file(&self) -> Result<&FileEntry, Sw> {
        // Borrowed from the cache, not copied out of it at every use.
        if let Some(kf) = self.key_file.get() {
            return Ok(kf);
        }
        let kf = keystore::key_file_of(self.store, self.slots, self.adf)?;
        Ok(self.key_file.get_or_init(|| kf))
    }

    /// A key of the ADF's key file (6A88 when absent).
    pub fn key(&self, ty: KeyType, id: u8) -> Result<KeyRecord, Sw> {
        let kf = self.key_file()?;
        keystore::find(self.store, kf, &[ty], id)?
            .map(|(_, k)| k)
            .ok_or(Sw::REFERENCED_DATA_NOT_FOUND)
    }

    /// Check a secret under a key's try counter: the counter is decremented in NVM — committed —
    /// *before* `check` runs (see [`keystore::consume_then_check`]). After a pass the counter is
    /// restored in the applet's next [`Cx::transaction`] (its completing write: no commit of its
    /// own), or, if none follows, when this call to the applet ends. A power cut before that
    /// leaves the try consumed.
    ///
    /// The check is a `dyn` (run once): one copy of this code for every applet, and no generic
    /// wrapper inlined at each call.
    #[inline(never)]
    pub fn verify_with_key(
        &mut self,
        ty: KeyType,
        id: u8,
        check: &mut dyn FnMut(&KeyRecord) -> bool,
    ) -> Result<Verification, Sw> {
        self.flush_restore()?;
        let kf = self.key_file()?;
        let (at, key) =
            keystore::find(self.store, kf, &[ty], id)?.ok_or(Sw::REFERENCED_DATA_NOT_FOUND)?;
        let (verdict, restore) = keystore::consume_then_check(self.store, at, &key, check)?;
        self.restore = restore;
        Ok(verdict)
    }

    /// Check the command's line-protection MAC (secure messaging exactly as the kernel checks
    /// it) under the line key `id` and its try counter ([`Cx::verify_with_key`]): `6882` when
    /// the ADF has no such key, `6988` for a wrong MAC (a try spent). One copy for every applet
    /// that takes MAC'd commands.
    pub fn verify_line_mac(
        &mut self,
        cmd: &Command<'_>,
        id: u8,
        challenge: &Challenge,
    ) -> Result<(), Sw> {
        let verdict = self
            .verify_with_key(KeyType::LineProtection, id, &mut |key| {
                crate::sm::verify_mac(cmd, key, challenge).is_ok()
            })
            .map_err(|sw| match sw {
                Sw::REFERENCED_DATA_NOT_FOUND => Sw::SECURE_MESSAGING_NOT_SUPPORTED,
                other => other,
            })?;
        match verdict {
            Verification::Passed => Ok(()),
            Verification::Failed { .. } => Err(Sw::SM_DATA_OBJECTS_INCORRECT),
        }
    }

    /// Run `f` as one atomic transaction over the ADF's files: all its writes or none, even
    /// across a power cut at any point. A try counter restore pending from
    /// [`Cx::verify_with_key`] is written in the same transaction.
    pub fn transaction<R>(
        &mut self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<R, Sw>,
    ) -> Result<R, Sw> {
        let adf = self.adf;
        let slots = self.slots;
        let restore = self.restore;
        let r = atomically(self.store, |s| {
            let mut tx = Tx {
                store: s,
                adf,
                slots,
            };
            let out = f(&mut tx)?;
            if let Some(r) = restore {
                r.write(tx.store)?;
            }
            Ok(out)
        });
        if r.is_ok() {
            self.restore = None;
        }
        r
    }

    /// Program operations the store has issued so far (for benchmarks).
    pub fn programs(&self) -> u64 {
        self.store.programs()
    }
}

/// Writes inside an applet transaction, limited to the applet's ADF.
#[repr(C)]
pub struct Tx<'t> {
    store: &'t mut dyn Storage,
    adf: Slot,
    slots: u8,
}

impl Tx<'_> {
    fn entry(&self, f: FileRef) -> Result<FileEntry, Sw> {
        let e = fs::entry(self.store, f.slot)?;
        if Slot(e.parent) != self.adf {
            return Err(Sw::FILE_NOT_FOUND);
        }
        Ok(e)
    }

    /// Read body bytes of a transparent or internal EF (seeing this transaction's own writes).
    pub fn read(&self, f: FileRef, offset: u32, buf: &mut [u8]) -> Result<(), Sw> {
        let e = self.entry(f)?;
        if !matches!(e.kind, FileKind::Transparent | FileKind::Internal) {
            return Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE);
        }
        fs::read_body(self.store, &e, offset, buf)
    }

    /// Write body bytes of a transparent or internal EF.
    pub fn write(&mut self, f: FileRef, offset: u32, data: &[u8]) -> Result<(), Sw> {
        let e = self.entry(f)?;
        if !matches!(e.kind, FileKind::Transparent | FileKind::Internal) {
            return Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE);
        }
        fs::write_body(self.store, &e, offset, data)
    }

    /// Append a record (cyclic files: becomes record 1).
    pub fn append_record(&mut self, f: FileRef, data: &[u8]) -> Result<u8, Sw> {
        let e = self.entry(f)?;
        record::append(self.store, f.slot, &e, data)
    }

    /// Overwrite logical record `n`.
    pub fn update_record(&mut self, f: FileRef, n: u8, data: &[u8]) -> Result<(), Sw> {
        let e = self.entry(f)?;
        record::update(self.store, &e, n, data)
    }

    /// Read logical record `n` (seeing this transaction's writes).
    pub fn read_record(
        &self,
        f: FileRef,
        n: u8,
        buf: &mut [u8; record::MAX_RECORD],
    ) -> Result<usize, Sw> {
        let e = self.entry(f)?;
        record::read(self.store, &e, n, buf)
    }

    /// Slots in the file table (for diagnostics).
    pub fn table_slots(&self) -> u8 {
        self.slots
    }
}

/// Map a storage error for applets that talk to the store through other paths.
pub fn storage_sw(e: cos_nvm::StoreError) -> Sw {
    store_sw(e)
}
