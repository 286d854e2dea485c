//! The kernel: power-up, the command loop and dispatch.
//!
//! Responsibility: own the store, the transport state and the session; run recovery before the
//! first APDU; route each command to a kernel handler or to the applet of the current ADF; apply
//! the life-cycle gates (terminated card, blocked application, including the DFs inside a blocked
//! application) before any handler runs.
//! Invariants: no APDU panics; a command that answers an error changed nothing (every handler
//! writes in one transaction after all its checks); power-on and warm reset start from fresh RAM
//! state (selection, security status, transport buffers, applet RAM).

use crate::applet::{Applet, Cx};
use crate::commands::{admin, auth, data, select, Ctx, Session};
use crate::error::{atomically, store_sw};
use crate::fs::{self, CardHeader, DfState, FileEntry, FileKind, Rights, Slot, MF_SLOT};
use crate::keys::KeyRecord;
use crate::keystore;
use crate::lifecycle::CardState;
use crate::rng::Rng;
use crate::types::AccessRight;
use cos_apdu::{Command, Fid, Ins, Response, Sw, Transport};
use cos_nvm::{JournalKey, MountError, Nvm, Storage, Store, StoreError};

/// The answer to reset: T=0 and T=1 offered; historical bytes in compact-TLV (ISO/IEC 7816-4
/// §8.1.1): card capabilities `73 00 00 40` (extended Lc/Le supported) and card issuer data
/// `54 'CCOS'`; TCK last.
pub const ATR: [u8; 15] = with_tck([
    0x3B, 0x8A, 0x80, 0x01, // TS, T0 (TD1 present, 10 historical bytes), TD1 (T=0), TD2 (T=1)
    0x80, 0x73, 0x00, 0x00, 0x40, 0x54, b'C', b'C', b'O', b'S', // historical bytes
    0x00, // TCK, computed below
]);

/// ISO/IEC 7816-3 §8.2.5: TCK makes the XOR of T0..TCK zero (required when T=1 is offered).
const fn with_tck(mut a: [u8; 15]) -> [u8; 15] {
    let mut tck = 0u8;
    let mut i = 1;
    #[allow(clippy::indexing_slicing)]
    // const fn over a fixed array: bounds are checked at compile time
    while i < 14 {
        tck ^= a[i];
        i += 1;
    }
    a[14] = tck;
    a
}

/// Factory settings for a blank chip.
#[derive(Clone, Debug)]
pub struct FormatConfig<'a> {
    /// Pages reserved for the journal (a transaction may use at most half of them).
    pub journal_pages: u16,
    /// File-table slots: the most files the card can ever hold.
    pub table_slots: u8,
    /// DF name of the MF.
    pub mf_name: &'a [u8],
    /// The transport key (external authentication key 00 of the MF, 3DES, next state F),
    /// which meets the factory MF's create and erase rights (`0F`).
    pub transport_key: [u8; 16],
    /// The transport code (PIN 00 of the MF, next state F, 10 tries): the same rights through a
    /// static VERIFY, so that a personalisation script can be replayed by tools that cannot
    /// compute a cryptogram (`scriptor` on a real reader).
    pub transport_code: [u8; 8],
}

impl Default for FormatConfig<'_> {
    fn default() -> Self {
        FormatConfig {
            journal_pages: 16,
            table_slots: 64,
            mf_name: b"1PAY.SYS.DDF01",
            transport_key: [0xFF; 16],
            transport_code: [0xFF; 8],
        }
    }
}

/// Why a card could not be formatted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// The storage layer refused.
    Store(StoreError),
    /// A setting does not fit the device (status word says which check).
    Config(Sw),
}

/// The card kernel over a device `N` and a random source `R`.
pub struct Kernel<N: Nvm, R: Rng> {
    store: Store<N>,
    rng: R,
    transport: Transport,
    session: Session,
}

impl<N: Nvm, R: Rng> Kernel<N, R> {
    /// Format a blank device as the chip maker delivers it: MF (rights `0F`/`0F`) with a key
    /// file holding the transport key and the transport code, life cycle pre-personalised.
    ///
    /// `rng` is the chip's random source: it chooses the [`JournalKey`] that keys the journal's
    /// record checks for the card's life (so terminal-chosen bytes can never pass for a record).
    pub fn format(nvm: N, cfg: &FormatConfig<'_>, rng: &mut R) -> Result<N, FormatError> {
        let mut key = JournalKey([0; cos_nvm::JOURNAL_KEY_LEN]);
        rng.fill(&mut key.0);
        let mut store = Store::format(nvm, cfg.journal_pages, key).map_err(FormatError::Store)?;
        let cap = store.capacity();
        let table_end = fs::table_end(cfg.table_slots);
        let kf_size = (2 * crate::keys::KEY_RECORD_SIZE) as u16;
        if cfg.table_slots < 2
            || cfg.mf_name.is_empty()
            || cfg.mf_name.len() > fs::entry::MAX_DF_NAME
        {
            return Err(FormatError::Config(Sw::WRONG_DATA));
        }
        let mf_size = u16::try_from(cap.saturating_sub(table_end).min(0xFFFF))
            .map_err(|_| FormatError::Config(Sw::NOT_ENOUGH_MEMORY))?;
        let mf_offset =
            u16::try_from(table_end).map_err(|_| FormatError::Config(Sw::NOT_ENOUGH_MEMORY))?;
        if mf_size < kf_size {
            return Err(FormatError::Config(Sw::NOT_ENOUGH_MEMORY));
        }
        let mut name = [0u8; fs::entry::MAX_DF_NAME];
        for (d, s) in name.iter_mut().zip(cfg.mf_name) {
            *d = *s;
        }
        let mf = FileEntry {
            kind: FileKind::Master,
            parent: 0,
            fid: Fid::MF,
            sfi: 0,
            state: DfState::Active,
            rights: Rights {
                first: AccessRight(0x0F),
                second: AccessRight(0x0F),
            },
            protection: fs::LineProtection::None,
            offset: mf_offset,
            size: mf_size,
            state_word: kf_size,
            record_count: 0,
            record_len: 0,
            name,
            name_len: cfg.mf_name.len() as u8,
            area: fs::AreaFlags::NONE,
        };
        let kf = FileEntry::key_file(0, mf_offset, kf_size, AccessRight(0x0F));
        let mut tk = [0u8; 21];
        tk[..5].copy_from_slice(&[0x39, 0xF0, 0xF0, 0x0F, 0x33]);
        tk[5..].copy_from_slice(&cfg.transport_key);
        let key = KeyRecord::parse_write_key(0x00, &tk).map_err(FormatError::Config)?;
        zeroize::Zeroize::zeroize(&mut tk);
        let mut tc = [0u8; 13];
        tc[..5].copy_from_slice(&[0x3A, 0xF0, 0xEF, 0x0F, 0xAA]);
        tc[5..].copy_from_slice(&cfg.transport_code);
        let code = KeyRecord::parse_write_key(0x00, &tc).map_err(FormatError::Config)?;
        zeroize::Zeroize::zeroize(&mut tc);
        let header = CardHeader {
            state: CardState::PrePersonalised,
            slots: cfg.table_slots,
        };
        atomically(&mut store, |s| {
            fs::write_header(s, header)?;
            fs::write_entry(s, MF_SLOT, &mf)?;
            fs::write_entry(s, Slot(1), &kf)?;
            // The transport key, then the transport code, each in the next free record.
            for r in [&key, &code] {
                let at = keystore::free_location(s, &kf)?.ok_or(Sw::NOT_ENOUGH_MEMORY)?;
                keystore::write(s, at, r)?;
            }
            Ok(())
        })
        .map_err(FormatError::Config)?;
        Ok(store.into_nvm())
    }

    /// Power the card up: mount the store (recovery runs first) and start a fresh session.
    pub fn power_on(
        nvm: N,
        rng: R,
        applets: &mut [&mut dyn Applet],
    ) -> Result<Self, (MountError, N, R)> {
        let store = match Store::mount(nvm) {
            Ok(s) => s,
            Err((e, nvm)) => return Err((e, nvm, rng)),
        };
        for a in applets.iter_mut() {
            a.power_on();
        }
        Ok(Kernel {
            store,
            rng,
            transport: Transport::new(),
            session: Session::new(),
        })
    }

    /// Power the card down: all RAM state is gone, the device and RNG are handed back.
    pub fn power_off(self) -> (N, R) {
        (self.store.into_nvm(), self.rng)
    }

    /// Warm reset: fresh RAM state, NVM untouched (recovery already ran at power-on).
    pub fn reset(&mut self, applets: &mut [&mut dyn Applet]) {
        self.transport.reset();
        self.session = Session::new();
        for a in applets.iter_mut() {
            a.power_on();
        }
    }

    /// The reader's protocol: T=0 keeps response data of a command without Le for GET RESPONSE,
    /// T=1 / contactless answers it at once (see [`cos_apdu::Protocol`]).
    pub fn set_protocol(&mut self, protocol: cos_apdu::Protocol) {
        self.transport.set_protocol(protocol);
    }

    /// The answer to reset.
    pub fn atr(&self) -> &'static [u8] {
        &ATR
    }

    /// The journalled store (read access for the simulator and diagnostics).
    pub fn store(&self) -> &Store<N> {
        &self.store
    }

    /// The journalled store, mutably (tearing injection in the simulator).
    pub fn store_mut(&mut self) -> &mut Store<N> {
        &mut self.store
    }

    /// Process one C-APDU and write the R-APDU into `out` (≥ 258 bytes); returns its length.
    pub fn transmit(
        &mut self,
        capdu: &[u8],
        out: &mut [u8],
        applets: &mut [&mut dyn Applet],
    ) -> usize {
        let Kernel {
            store,
            rng,
            transport,
            session,
        } = self;
        transport.transmit(capdu, out, |cmd, rsp| {
            session.seq = session.seq.wrapping_add(1);
            dispatch(store, rng, session, applets, cmd, rsp)
        })
    }
}

/// Kernel commands with an interindustry CLA.
fn is_kernel_iso(ins: Ins) -> bool {
    matches!(
        ins,
        Ins::SELECT
            | Ins::READ_BINARY
            | Ins::UPDATE_BINARY
            | Ins::WRITE_BINARY
            | Ins::READ_RECORD
            | Ins::UPDATE_RECORD
            | Ins::APPEND_RECORD
            | Ins::GET_CHALLENGE
            | Ins::EXTERNAL_AUTHENTICATE
            | Ins::INTERNAL_AUTHENTICATE
            | Ins::VERIFY
            | Ins(0x44)
    )
}

/// Kernel commands with a proprietary CLA (FMCOS 80/84).
fn is_kernel_proprietary(ins: Ins) -> bool {
    matches!(
        ins,
        Ins::CREATE_FILE
            | Ins::WRITE_KEY
            | Ins::ERASE_DF
            | Ins::CHANGE_PIN
            | Ins::CARD_BLOCK
            | Ins::APPLICATION_UNBLOCK
            | Ins::APPLICATION_BLOCK
    )
}

/// Commands allowed in a temporarily blocked application (PBOC: reads, authentication and the
/// issuer's unblock).
fn allowed_when_blocked(ins: Ins, proprietary: bool) -> bool {
    if proprietary {
        matches!(
            ins,
            Ins::APPLICATION_UNBLOCK | Ins::APPLICATION_BLOCK | Ins::CARD_BLOCK
        )
    } else {
        matches!(
            ins,
            Ins::SELECT
                | Ins::READ_BINARY
                | Ins::READ_RECORD
                | Ins::GET_CHALLENGE
                | Ins::EXTERNAL_AUTHENTICATE
        )
    }
}

fn dispatch(
    store: &mut Store<impl Nvm>,
    rng: &mut dyn Rng,
    session: &mut Session,
    applets: &mut [&mut dyn Applet],
    cmd: &Command<'_>,
    rsp: &mut Response<'_>,
) -> Result<Sw, Sw> {
    let store: &mut dyn Storage = store;
    let header = fs::read_header(store)?;
    if header.state == CardState::Terminated {
        return Err(Sw::FUNCTION_NOT_SUPPORTED);
    }
    if cmd.cla().channel() != 0 {
        return Err(Sw::LOGICAL_CHANNEL_NOT_SUPPORTED);
    }
    // The challenge serves exactly the command after GET CHALLENGE.
    let challenge = session.security.take_challenge();
    let proprietary = cmd.cla().is_proprietary();
    let ins = cmd.ins();
    let kernel_cmd = if proprietary {
        is_kernel_proprietary(ins)
    } else {
        is_kernel_iso(ins)
    };
    let df_state = fs::effective_state(store, header.slots, session.current_df)?;
    match df_state {
        DfState::Terminated if ins != Ins::SELECT || proprietary => {
            return Err(Sw::FUNCTION_NOT_SUPPORTED)
        }
        DfState::Blocked if kernel_cmd && !allowed_when_blocked(ins, proprietary) => {
            return Err(Sw::CONDITIONS_NOT_SATISFIED)
        }
        _ => {}
    }
    let mut k = Ctx {
        store,
        header,
        session,
        rng,
        challenge,
    };
    if !kernel_cmd {
        return to_applet(&mut k, applets, cmd, rsp, df_state);
    }
    if proprietary {
        match ins {
            Ins::CREATE_FILE => admin::create_file(&mut k, cmd),
            Ins::WRITE_KEY => admin::write_key(&mut k, cmd),
            Ins::ERASE_DF => admin::erase_df(&mut k, cmd),
            Ins::CHANGE_PIN => auth::change_pin(&mut k, cmd),
            Ins::CARD_BLOCK => admin::card_block(&mut k, cmd),
            Ins::APPLICATION_UNBLOCK => admin::application_unblock(&mut k, cmd),
            Ins::APPLICATION_BLOCK => admin::application_block(&mut k, cmd),
            _ => Err(Sw::INS_NOT_SUPPORTED),
        }
    } else {
        match ins {
            Ins::SELECT => select::select(&mut k, applets, cmd, rsp),
            Ins::READ_BINARY => data::read_binary(&mut k, cmd, rsp),
            Ins::UPDATE_BINARY => data::write_binary(&mut k, cmd, false),
            Ins::WRITE_BINARY => data::write_binary(&mut k, cmd, true),
            Ins::READ_RECORD => data::read_record(&mut k, cmd, rsp),
            Ins::UPDATE_RECORD => data::update_record(&mut k, cmd),
            Ins::APPEND_RECORD => data::append_record(&mut k, cmd),
            Ins::GET_CHALLENGE => auth::get_challenge(&mut k, cmd, rsp),
            Ins::EXTERNAL_AUTHENTICATE => auth::external_authenticate(&mut k, cmd),
            Ins::INTERNAL_AUTHENTICATE => auth::internal_authenticate(&mut k, cmd, rsp),
            Ins::VERIFY => auth::verify(&mut k, cmd),
            Ins(0x44) => admin::activate(&mut k, cmd),
            _ => Err(Sw::INS_NOT_SUPPORTED),
        }
    }
}

fn to_applet(
    k: &mut Ctx<'_>,
    applets: &mut [&mut dyn Applet],
    cmd: &Command<'_>,
    rsp: &mut Response<'_>,
    df_state: DfState,
) -> Result<Sw, Sw> {
    let Some(applet) = k.session.applet.and_then(|i| applets.get_mut(i)) else {
        return Err(Sw::INS_NOT_SUPPORTED);
    };
    if df_state == DfState::Blocked && !applet.runs_when_blocked(cmd) {
        return Err(Sw::CONDITIONS_NOT_SATISFIED);
    }
    let mut cx = Cx {
        store: &mut *k.store,
        slots: k.header.slots,
        adf: k.session.current_df,
        card_state: k.header.state,
        security: &mut k.session.security,
        rng: &mut *k.rng,
        command_seq: k.session.seq,
        challenge: k.challenge.take(),
        restore: None,
        key_file: core::cell::OnceCell::new(),
    };
    applet.process(&mut cx, cmd, rsp)
}

/// Storage errors seen outside a command (e.g. by the simulator) as status words.
pub fn storage_status(e: StoreError) -> Sw {
    store_sw(e)
}
