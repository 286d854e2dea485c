//! The kernel's command handlers, one module per command family (`docs/commands.md`).
//!
//! Responsibility of this module: the per-command context ([`Ctx`]) and the checks every family
//! shares: access rights against the security status, and secure-messaging unwrapping.

pub mod admin;
pub mod area;
pub mod auth;
pub mod data;
pub mod select;

use crate::fs::{self, CardHeader, Slot};
use crate::keys::KeyType;
use crate::keystore;
use crate::rng::Rng;
use crate::security::{Challenge, SecurityStatus};
use crate::sm;
use crate::types::{AccessRight, Level};
use cos_apdu::{Command, Sw};
use cos_nvm::Storage;
use heapless::Vec;

/// Largest command payload after secure-messaging unwrapping.
pub const MAX_PAYLOAD: usize = 512;

/// Volatile selection state, rebuilt at every power-on and warm reset.
#[derive(Debug, Clone)]
pub struct Session {
    /// Current DF.
    pub current_df: Slot,
    /// Current EF, if any.
    pub current_ef: Option<Slot>,
    /// Current record of the current EF (logical number).
    pub current_record: Option<u8>,
    /// What has been proved.
    pub security: SecurityStatus,
    /// Index of the bound applet in the applet list.
    pub applet: Option<usize>,
    /// DF matched by the last SELECT by name (for "next occurrence").
    pub last_name_match: Option<Slot>,
    /// Commands processed since power-on.
    pub seq: u32,
}

impl Session {
    /// The power-on session: MF current, nothing proved.
    pub fn new() -> Self {
        Session {
            current_df: fs::MF_SLOT,
            current_ef: None,
            current_record: None,
            security: SecurityStatus::new(),
            applet: None,
            last_name_match: None,
            seq: 0,
        }
    }
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

/// Everything a kernel command handler may touch.
pub struct Ctx<'a> {
    /// The journalled store.
    pub store: &'a mut dyn Storage,
    /// The card header read at the start of this command.
    pub header: CardHeader,
    /// Volatile state.
    pub session: &'a mut Session,
    /// Random source.
    pub rng: &'a mut dyn Rng,
    /// The challenge of the GET CHALLENGE just before this command, if any.
    pub challenge: Option<Challenge>,
}

/// A command payload, after MAC verification (and decryption) when secure messaging was used.
/// It may carry key values or PINs (WRITE KEY), so it is wiped when dropped.
pub struct Payload {
    /// The data.
    pub data: Vec<u8, MAX_PAYLOAD>,
    /// The command carried a valid line-protection MAC.
    pub secured: bool,
}

impl Drop for Payload {
    #[inline(never)]
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(self.data.as_mut_slice());
    }
}

impl Ctx<'_> {
    /// Whether access rights of `df` are enforced: always after issue, and before issue once the
    /// DF has a key file (FMCOS: "the key file is created first; until it exists rights are not
    /// enforced"); always inside an application area (`docs/areas.md`).
    pub fn rights_enforced(&self, df: Slot) -> Result<bool, Sw> {
        if self.header.state.rights_enforced_without_key_file() || self.in_area(df)? {
            return Ok(true);
        }
        Ok(fs::key_file(self.store, self.header.slots, df)?.is_some())
    }

    /// Whether `df` is an application area or lies inside one. Out of line (measured).
    #[inline(never)]
    pub fn in_area(&self, df: Slot) -> Result<bool, Sw> {
        Ok(fs::area_of(self.store, self.header.slots, df)?.is_some())
    }

    /// 6982 unless `right` is met (or not enforced in `df`). Inside an application area the MF's
    /// level counts as zero: an `0Y` right there names a level only the issuer can reach, and the
    /// issuer holds no power inside an area it granted (`docs/areas.md`, ADR 0003), so only the
    /// area's own levels (`XY`, X ≠ 0) can be met.
    pub fn check_right(&self, df: Slot, right: AccessRight) -> Result<(), Sw> {
        let sec = &self.session.security;
        let met = if self.in_area(df)? {
            right.satisfied_by(Level::ZERO, sec.df_level())
        } else {
            !self.rights_enforced(df)? || sec.satisfies(right)
        };
        if met {
            Ok(())
        } else {
            Err(Sw::SECURITY_STATUS_NOT_SATISFIED)
        }
    }

    /// A command that carries no data: at most a MAC (checked like any payload, `require`
    /// refusing a plain command), else 6700. Out of line: one copy for ERASE DF, ACTIVATE FILE and
    /// the issuer's block commands, and the payload buffer's frame is gone before their commit.
    #[inline(never)]
    pub fn no_data(&mut self, cmd: &Command<'_>, require: bool) -> Result<(), Sw> {
        if self.payload(cmd, require, false)?.data.is_empty() {
            Ok(())
        } else {
            Err(Sw::WRONG_LENGTH)
        }
    }

    /// The command data, checked (and, with `decrypt`, decrypted) when the CLA announces secure
    /// messaging; plain otherwise. `require` refuses a plain command with 6982 (SM stripping).
    pub fn payload(
        &mut self,
        cmd: &Command<'_>,
        require: bool,
        decrypt: bool,
    ) -> Result<Payload, Sw> {
        // One answer built in place on every path: a second 512-byte payload in this frame sat
        // on the chip's deepest stack path (docs/performance.md).
        let mut out = Payload {
            data: Vec::new(),
            secured: false,
        };
        if !cmd.cla().has_sm() {
            if require {
                return Err(Sw::SECURITY_STATUS_NOT_SATISFIED);
            }
            out.data
                .extend_from_slice(cmd.data())
                .map_err(|_| Sw::WRONG_LENGTH)?;
            return Ok(out);
        }
        let challenge = self.challenge.take().ok_or(Sw::REFERENCE_DATA_NOT_USABLE)?;
        // No room for a MAC: nothing to check, so no try of the line key is spent (6987).
        if cmd.data().len() < sm::MAC_LEN {
            return Err(Sw::SM_DATA_OBJECTS_MISSING);
        }
        let slots = self.header.slots;
        let df = self.session.current_df;
        let kf = fs::key_file(self.store, slots, df)?
            .map(|(_, e)| e)
            .ok_or(Sw::SECURE_MESSAGING_NOT_SUPPORTED)?;
        let (_, key) = keystore::first_of(self.store, &kf, KeyType::LineProtection)?
            .ok_or(Sw::SECURE_MESSAGING_NOT_SUPPORTED)?;
        // A wrong line MAC spends no try: anyone can send one (a read with SM needs no right), so
        // counting them would let a stranger lock the issuer out for good. Guessing gains nothing
        // either: each MAC is bound to a fresh one-command challenge (2^-32 per attempt). A key
        // written with no tries left (or blocked by the issuer's WRITE KEY) is still refused.
        if key.tries.is_blocked() {
            return Err(Sw::AUTH_METHOD_BLOCKED);
        }
        let body = sm::verify_mac(cmd, &key, &challenge)?;
        // The plaintext is decrypted straight into the answer (no second buffer).
        out.secured = true;
        if decrypt {
            // The encryption key, else the line key itself (borrowed, not cloned).
            let found = keystore::first_of(self.store, &kf, KeyType::Encryption)?;
            let enc = found.as_ref().map_or(&key, |(_, k)| k);
            sm::decrypt_into(enc, body, &mut out.data)?;
        } else {
            out.data
                .extend_from_slice(body)
                .map_err(|_| Sw::WRONG_LENGTH)?;
        }
        Ok(out)
    }
}
