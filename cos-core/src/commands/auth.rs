//! GET CHALLENGE, EXTERNAL / INTERNAL AUTHENTICATE, VERIFY and CHANGE / RELOAD PIN.
//!
//! Invariants: every secret comparison goes through [`keystore::consume_then_verify`] (try
//! counter committed before the compare, compare in constant time); the security level changes
//! only after a passed comparison; the challenge serves exactly one command.

use super::select::overflow;
use super::Ctx;
use crate::error::atomically;
use crate::fs;
use crate::keys::{KeyRecord, KeyType, MAX_KEY_LEN};
use crate::keystore::{self, KeyLocation, Verification};
use crate::security::Challenge;
use crate::types::Level;
use cos_apdu::{Command, Ne, Response, Sw};
use cos_crypto::{ct_eq, Key};

/// GET CHALLENGE (00 84 00 00 Le): 4, 8 or 16 random bytes, kept for the next command.
pub fn get_challenge(k: &mut Ctx<'_>, cmd: &Command<'_>, rsp: &mut Response<'_>) -> Result<Sw, Sw> {
    if cmd.p1() != 0 || cmd.p2() != 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    if !cmd.data().is_empty() {
        return Err(Sw::WRONG_LENGTH);
    }
    let n = match cmd.ne() {
        Ne::Short(n @ (4 | 8 | 16)) => usize::from(n),
        Ne::Extended(n @ (4 | 8 | 16)) => n as usize,
        _ => return Err(Sw::WRONG_LENGTH),
    };
    let mut r = [0u8; 16];
    let r = r.get_mut(..n).ok_or(Sw::WRONG_LENGTH)?;
    k.rng.fill(r);
    rsp.extend(r).map_err(overflow)?;
    k.session.security.set_challenge(Challenge::new(r));
    Ok(Sw::SUCCESS)
}

/// A key of the current DF's key file.
fn current_key(k: &Ctx<'_>, types: &[KeyType], id: u8) -> Result<(KeyLocation, KeyRecord), Sw> {
    let kf = keystore::key_file_of(k.store, k.header.slots, k.session.current_df)?;
    keystore::find(k.store, &kf, types, id)?.ok_or(Sw::REFERENCED_DATA_NOT_FOUND)
}

/// A passed EXTERNAL AUTHENTICATE or VERIFY sets the security register to the key's next
/// state; then the answer of [`failed`]. One copy for both commands.
#[inline(never)]
fn granted(k: &mut Ctx<'_>, v: Verification, level: Level) -> Result<Sw, Sw> {
    if v == Verification::Passed {
        k.session.security.set_level(level);
    }
    failed(v)
}

#[inline(never)]
fn failed(v: Verification) -> Result<Sw, Sw> {
    match v {
        Verification::Passed => Ok(Sw::SUCCESS),
        // 63Cx counts tries down; a key without a counter answers 6300 (ISO/IEC 7816-4 §5.1.3:
        // "no information given"), never 63C0, which would read as blocked.
        Verification::Failed { remaining: Some(n) } => Err(Sw::retries_left(n)),
        Verification::Failed { remaining: None } => Err(Sw::WARNING_NVM_CHANGED),
    }
}

/// EXTERNAL AUTHENTICATE (00 82 00 key-id Lc cryptogram): the terminal proves it holds the key by
/// encrypting the card's challenge (right-padded with zeros to one block).
pub fn external_authenticate(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    if cmd.p1() != 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    let challenge = k.challenge.take();
    let (at, key) = current_key(k, &[KeyType::ExternalAuth], cmd.p2())?;
    k.check_right(k.session.current_df, key.use_right)?;
    let block = key.algorithm.block_size();
    if cmd.data().len() != block {
        return Err(Sw::WRONG_LENGTH);
    }
    let challenge = challenge.ok_or(Sw::REFERENCE_DATA_NOT_USABLE)?;
    let verdict = keystore::consume_then_verify(k.store, at, &key, &mut |key| {
        let Ok(ck) = key.crypto_key() else {
            return false;
        };
        let mut expect = challenge.padded(block);
        let ok = match expect.get_mut(..block) {
            Some(b) => ck.encrypt_block(b).is_ok() && ct_eq(b, cmd.data()),
            None => false,
        };
        zeroize::Zeroize::zeroize(&mut expect);
        ok
    })?;
    granted(k, verdict, key.next_level())
}

/// INTERNAL AUTHENTICATE (00 88 P1 key-id Lc data): the card proves itself. P1 00 encrypts,
/// 01 decrypts (data a whole number of blocks), 02 answers a 4-byte MAC (zero IV).
///
/// Only internal-authentication keys (`30`) serve it, never TAC keys (`34`): with an SM4, AES or
/// single-DES DTK the TAC key is the DTK itself, so a MAC (or an ECB encryption, which chains
/// into one) under the DTK over chosen data would be a valid TAC for a purchase that never
/// happened (`docs/reliability.md`).
pub fn internal_authenticate(
    k: &mut Ctx<'_>,
    cmd: &Command<'_>,
    rsp: &mut Response<'_>,
) -> Result<Sw, Sw> {
    let (_, key) = current_key(k, &[KeyType::InternalAuth], cmd.p2())?;
    k.check_right(k.session.current_df, key.use_right)?;
    let ck = key.crypto_key()?;
    let data = cmd.data();
    let block = ck.algorithm().block_size();
    match cmd.p1() {
        0x00 | 0x01 => {
            if data.is_empty() || !data.len().is_multiple_of(block) || data.len() > 256 {
                return Err(Sw::WRONG_LENGTH);
            }
            let mut buf = [0u8; 256];
            let out = buf.get_mut(..data.len()).ok_or(Sw::WRONG_LENGTH)?;
            out.copy_from_slice(data);
            let r = if cmd.p1() == 0 {
                ck.encrypt_ecb(out)
            } else {
                ck.decrypt_ecb(out)
            };
            r.map_err(|_| Sw::WRONG_LENGTH)?;
            rsp.extend(out).map_err(overflow)?;
        }
        0x02 => {
            if data.is_empty() {
                return Err(Sw::WRONG_LENGTH);
            }
            let mac = ck.mac_zero_iv(&[data]).map_err(|_| Sw::WRONG_LENGTH)?;
            rsp.extend(&mac.first4()).map_err(overflow)?;
        }
        _ => return Err(Sw::INCORRECT_P1P2),
    }
    Ok(Sw::SUCCESS)
}

/// Constant-time PIN comparison: both values are compared as fixed-size, zero-padded blocks and
/// the length check is folded in without an early exit.
fn pin_matches(stored: &[u8], given: &[u8]) -> bool {
    let mut a = [0u8; MAX_KEY_LEN];
    let mut b = [0u8; MAX_KEY_LEN];
    for (d, s) in a.iter_mut().zip(stored) {
        *d = *s;
    }
    for (d, s) in b.iter_mut().zip(given) {
        *d = *s;
    }
    let same_len = ct_eq(&[stored.len() as u8], &[given.len() as u8]);
    let same = ct_eq(&a, &b);
    zeroize::Zeroize::zeroize(&mut a);
    zeroize::Zeroize::zeroize(&mut b);
    same_len & same
}

/// A PIN value as PBOC sends it: 2..=8 bytes of BCD digits, right-padded with F nibbles.
fn valid_pin(p: &[u8]) -> bool {
    (2..=8).contains(&p.len())
        && p.iter()
            .flat_map(|b| [b >> 4, b & 0x0F])
            .all(|n| n <= 9 || n == 0xF)
}

/// VERIFY (00 20 00 pin-id Lc PIN). Without data it reports the tries left (63Cx) or 6983.
/// The PIN's use right must be met first (6982), as for every other key.
pub fn verify(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    if cmd.p1() != 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    let (at, pin) = current_key(k, &[KeyType::Pin], cmd.p2())?;
    k.check_right(k.session.current_df, pin.use_right)?;
    let given = cmd.data();
    if given.is_empty() {
        return if pin.tries.is_blocked() {
            Err(Sw::AUTH_METHOD_BLOCKED)
        } else {
            Err(Sw::retries_left(pin.tries.remaining()))
        };
    }
    if !(2..=8).contains(&given.len()) {
        return Err(Sw::WRONG_LENGTH);
    }
    let verdict =
        keystore::consume_then_verify(k.store, at, &pin, &mut |p| pin_matches(p.value(), given))?;
    granted(k, verdict, pin.next_level())
}

/// CHANGE PIN (80 5E 01 pin-id: old ‖ FF ‖ new) and RELOAD PIN (80 5E 00 pin-id: new ‖ MAC, the
/// MAC under the DF's PIN-reload key over the new PIN with a zero IV, JR/T 0025). CHANGE PIN
/// verifies the old PIN, so the PIN's use right applies as for VERIFY; RELOAD PIN is governed by
/// the reload key's use right instead.
pub fn change_pin(k: &mut Ctx<'_>, cmd: &Command<'_>) -> Result<Sw, Sw> {
    let (at, pin) = current_key(k, &[KeyType::Pin], cmd.p2())?;
    let data = cmd.data();
    // Both modes end in the same write of the new value (one copy of it).
    let new = match cmd.p1() {
        0x01 => {
            k.check_right(k.session.current_df, pin.use_right)?;
            let sep = data.iter().position(|&b| b == 0xFF).ok_or(Sw::WRONG_DATA)?;
            let (old, rest) = data.split_at(sep);
            let new = rest.get(1..).unwrap_or(&[]);
            if !valid_pin(old) || !valid_pin(new) {
                return Err(Sw::WRONG_LENGTH);
            }
            let verdict = keystore::consume_then_verify(k.store, at, &pin, &mut |p| {
                pin_matches(p.value(), old)
            })?;
            if let Verification::Failed { .. } = verdict {
                return failed(verdict);
            }
            new
        }
        0x00 => {
            let split = data.len().checked_sub(4).ok_or(Sw::WRONG_LENGTH)?;
            let (new, mac) = data.split_at(split);
            if !valid_pin(new) {
                return Err(Sw::WRONG_LENGTH);
            }
            let kf = keystore::key_file_of(k.store, k.header.slots, k.session.current_df)?;
            let (rat, reload) = keystore::first_of(k.store, &kf, KeyType::PinReload)?
                .ok_or(Sw::REFERENCED_DATA_NOT_FOUND)?;
            k.check_right(k.session.current_df, reload.use_right)?;
            let verdict = keystore::consume_then_verify(k.store, rat, &reload, &mut |r| {
                let Ok(key) = r.crypto_key() else {
                    return false;
                };
                mac_matches(&key, new, mac)
            })?;
            if let Verification::Failed { .. } = verdict {
                return Err(Sw::SM_DATA_OBJECTS_INCORRECT);
            }
            new
        }
        _ => return Err(Sw::INCORRECT_P1P2),
    };
    let updated = pin.with_value(new)?;
    atomically(k.store, |s| keystore::write(s, at, &updated))?;
    Ok(Sw::SUCCESS)
}

fn mac_matches(key: &Key, data: &[u8], mac: &[u8]) -> bool {
    match key.mac_zero_iv(&[data]) {
        Ok(m) => ct_eq(&m.first4(), mac),
        Err(_) => false,
    }
}

/// The DF the current command's key lookups use (for callers outside this module).
pub fn current_df_has_keys(k: &Ctx<'_>) -> Result<bool, Sw> {
    Ok(fs::key_file(k.store, k.header.slots, k.session.current_df)?.is_some())
}
