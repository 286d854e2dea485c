//! Key-file records: typed keys and PINs as the kernel stores them.
//!
//! Responsibility: the 24-byte record format and the parsing of FMCOS WRITE KEY data into it.
//! A key file's body is an array of records; a free record has type byte 00. Key material is
//! wiped from RAM copies on drop (`zeroize`).

use crate::types::{AccessRight, Level};
use cos_apdu::Sw;
use cos_crypto::{Algorithm, Key};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Size of one stored key record.
pub const KEY_RECORD_SIZE: usize = 24;
/// Longest key value (2-key 3DES, SM4, AES-128).
pub const MAX_KEY_LEN: usize = 16;
/// Offset of the try-counter byte inside a record (written alone by the try-counter helpers).
pub const TRIES_OFFSET: usize = 6;

/// Key types, numbered as FMCOS WRITE KEY does (`docs/commands.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// Internal authentication key (`30`).
    InternalAuth,
    /// TAC key (`34`): the purse's transaction certificates only, never INTERNAL AUTHENTICATE.
    Tac,
    /// Data encryption key for secure messaging (`35`).
    Encryption,
    /// Line-protection (application maintenance) MAC key (`36`).
    LineProtection,
    /// PIN unblock key (`37`).
    PinUnblock,
    /// PIN reload key (`38`).
    PinReload,
    /// External authentication key (`39`).
    ExternalAuth,
    /// Personal identification number (`3A`).
    Pin,
    /// Overdraw-limit update key (`3C`).
    Overdraw,
    /// Unload key (`3D`).
    Unload,
    /// Purchase key (`3E`).
    Purchase,
    /// Load key (`3F`).
    Load,
}

impl KeyType {
    /// FMCOS type byte.
    pub const fn code(self) -> u8 {
        match self {
            KeyType::InternalAuth => 0x30,
            KeyType::Tac => 0x34,
            KeyType::Encryption => 0x35,
            KeyType::LineProtection => 0x36,
            KeyType::PinUnblock => 0x37,
            KeyType::PinReload => 0x38,
            KeyType::ExternalAuth => 0x39,
            KeyType::Pin => 0x3A,
            KeyType::Overdraw => 0x3C,
            KeyType::Unload => 0x3D,
            KeyType::Purchase => 0x3E,
            KeyType::Load => 0x3F,
        }
    }

    /// Parse a type byte.
    pub const fn from_code(b: u8) -> Option<KeyType> {
        Some(match b {
            0x30 => KeyType::InternalAuth,
            0x34 => KeyType::Tac,
            0x35 => KeyType::Encryption,
            0x36 => KeyType::LineProtection,
            0x37 => KeyType::PinUnblock,
            0x38 => KeyType::PinReload,
            0x39 => KeyType::ExternalAuth,
            0x3A => KeyType::Pin,
            0x3C => KeyType::Overdraw,
            0x3D => KeyType::Unload,
            0x3E => KeyType::Purchase,
            0x3F => KeyType::Load,
            _ => return None,
        })
    }

    /// Purse-family keys carry a version and algorithm byte in the FMCOS layout.
    pub const fn is_purse_family(self) -> bool {
        matches!(
            self,
            KeyType::Purchase
                | KeyType::Load
                | KeyType::Tac
                | KeyType::Unload
                | KeyType::Overdraw
                | KeyType::InternalAuth
        )
    }
}

/// Try counter: maximum and remaining tries in one byte (`33` = 3 of 3). A maximum of 0 means
/// the key is not try-limited (purse keys written without a counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TryCounter(pub u8);

impl TryCounter {
    /// Maximum tries.
    pub const fn max(self) -> u8 {
        self.0 >> 4
    }
    /// Tries left.
    pub const fn remaining(self) -> u8 {
        self.0 & 0x0F
    }
    /// Unlimited counters never block.
    pub const fn is_limited(self) -> bool {
        self.max() != 0
    }
    /// Blocked: limited and no tries left.
    pub const fn is_blocked(self) -> bool {
        self.is_limited() && self.remaining() == 0
    }
    /// One try consumed.
    pub const fn decremented(self) -> TryCounter {
        if self.is_limited() && self.remaining() > 0 {
            TryCounter(self.0 - 1)
        } else {
            self
        }
    }
    /// Reset to the maximum.
    pub const fn reset(self) -> TryCounter {
        TryCounter((self.0 & 0xF0) | (self.0 >> 4))
    }
}

/// One stored key or PIN, as read from the key file (wiped on drop).
#[derive(Clone, Zeroize)]
pub struct KeyRecord {
    #[zeroize(skip)]
    /// Key type.
    pub key_type: KeyType,
    /// Key identifier (index) within its type.
    pub id: u8,
    #[zeroize(skip)]
    /// Right needed to use the key.
    pub use_right: AccessRight,
    #[zeroize(skip)]
    /// Right needed to change the key with WRITE KEY.
    pub change_right: AccessRight,
    /// Key version (purse keys) or next security state (authentication keys, PINs).
    pub param: u8,
    #[zeroize(skip)]
    /// Algorithm of the key (PINs: 3DES, unused).
    pub algorithm: Algorithm,
    #[zeroize(skip)]
    /// Try counter.
    pub tries: TryCounter,
    len: u8,
    value: [u8; MAX_KEY_LEN],
}

/// Wipes on drop through one out-of-line call (the derived drop was inlined at every use).
impl Drop for KeyRecord {
    #[inline(never)]
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for KeyRecord {}

impl core::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("type", &self.key_type)
            .field("id", &self.id)
            .field("param", &self.param)
            .field("algorithm", &self.algorithm)
            .field("tries", &self.tries)
            .finish_non_exhaustive()
    }
}

impl KeyRecord {
    /// The secret value (PIN digits or key bytes).
    pub fn value(&self) -> &[u8] {
        self.value.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The next security level after a successful VERIFY / EXTERNAL AUTHENTICATE.
    pub const fn next_level(&self) -> Level {
        Level::new(self.param)
    }

    /// The key version (purse keys).
    pub const fn version(&self) -> u8 {
        self.param
    }

    /// A cipher key for the crypto layer.
    pub fn crypto_key(&self) -> Result<Key, Sw> {
        Key::new(self.algorithm, self.value()).map_err(|_| Sw::REFERENCE_DATA_NOT_USABLE)
    }

    /// Encode for storage.
    pub fn encode(&self) -> [u8; KEY_RECORD_SIZE] {
        let mut b = [0u8; KEY_RECORD_SIZE];
        let (head, val) = b.split_at_mut(8);
        head.copy_from_slice(&[
            self.key_type.code(),
            self.id,
            self.use_right.0,
            self.change_right.0,
            self.param,
            self.algorithm.id(),
            self.tries.0,
            self.len,
        ]);
        val.copy_from_slice(&self.value);
        b
    }

    /// Decode a stored record; `None` for a free or unreadable record.
    pub fn decode(b: &[u8; KEY_RECORD_SIZE]) -> Option<KeyRecord> {
        let key_type = KeyType::from_code(b[0])?;
        let algorithm = Algorithm::from_id(b[5])?;
        let len = b[7];
        if usize::from(len) > MAX_KEY_LEN {
            return None;
        }
        let mut value = [0u8; MAX_KEY_LEN];
        value.copy_from_slice(&b[8..24]);
        Some(KeyRecord {
            key_type,
            id: b[1],
            use_right: AccessRight(b[2]),
            change_right: AccessRight(b[3]),
            param: b[4],
            algorithm,
            tries: TryCounter(b[6]),
            len,
            value,
        })
    }

    /// Parse WRITE KEY data (FMCOS 2.0 layouts, `docs/commands.md`) for key `id`.
    ///
    /// * purse family (`30 34 3C 3D 3E 3F`): `type use change version alg key(8|16) [tries]`
    /// * external auth (`39`): `type use change next-state tries key(8|16) [alg]`
    /// * PIN (`3A`): `type use EF next-state tries PIN(2..=8)`
    /// * `35 36 37 38`: `type use change FF tries key(8|16) [alg]`
    ///
    /// The bracketed trailing bytes are our extension (SM4/AES keys, purse-key try counters);
    /// key lengths 8 and 16 make them unambiguous.
    pub fn parse_write_key(id: u8, data: &[u8]) -> Result<KeyRecord, Sw> {
        let (&ty, rest) = data.split_first().ok_or(Sw::WRONG_LENGTH)?;
        let key_type = KeyType::from_code(ty).ok_or(Sw::WRONG_DATA)?;
        let [use_r, change_r, param, fifth, ref body @ ..] = *rest else {
            return Err(Sw::WRONG_LENGTH);
        };
        let (algorithm, tries, value): (Algorithm, u8, &[u8]) = match key_type {
            KeyType::Pin => {
                if !(2..=8).contains(&body.len()) {
                    return Err(Sw::WRONG_LENGTH);
                }
                (Algorithm::Tdes, fifth, body)
            }
            t if t.is_purse_family() => {
                let alg = Algorithm::from_id(fifth).ok_or(Sw::WRONG_DATA)?;
                match split_key(body)? {
                    (k, None) => (alg, 0x00, k),
                    (k, Some(t)) => (alg, t, k),
                }
            }
            _ => match split_key(body)? {
                (k, None) => (Algorithm::Tdes, fifth, k),
                (k, Some(a)) => (Algorithm::from_id(a).ok_or(Sw::WRONG_DATA)?, fifth, k),
            },
        };
        if key_type != KeyType::Pin {
            Key::new(algorithm, value).map_err(|_| Sw::WRONG_DATA)?;
        }
        let tries = TryCounter(tries);
        if tries.remaining() > tries.max() {
            return Err(Sw::WRONG_DATA);
        }
        let mut v = [0u8; MAX_KEY_LEN];
        v.get_mut(..value.len())
            .ok_or(Sw::WRONG_LENGTH)?
            .copy_from_slice(value);
        Ok(KeyRecord {
            key_type,
            id,
            use_right: AccessRight(use_r),
            change_right: AccessRight(change_r),
            param,
            algorithm,
            tries,
            len: value.len() as u8,
            value: v,
        })
    }

    /// The same record with another PIN value (CHANGE / RELOAD PIN) and a full try counter.
    pub fn with_value(&self, value: &[u8]) -> Result<KeyRecord, Sw> {
        let mut r = self.clone();
        if value.len() > MAX_KEY_LEN {
            return Err(Sw::WRONG_LENGTH);
        }
        r.value = [0; MAX_KEY_LEN];
        r.value
            .get_mut(..value.len())
            .ok_or(Sw::WRONG_LENGTH)?
            .copy_from_slice(value);
        r.len = value.len() as u8;
        r.tries = r.tries.reset();
        Ok(r)
    }
}

/// Split a key value of 8 or 16 bytes from an optional single trailing byte.
fn split_key(body: &[u8]) -> Result<(&[u8], Option<u8>), Sw> {
    match body.len() {
        8 | 16 => Ok((body, None)),
        9 | 17 => {
            let (k, t) = body.split_at(body.len() - 1);
            Ok((k, t.first().copied()))
        }
        _ => Err(Sw::WRONG_LENGTH),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn try_counter() {
        let t = TryCounter(0x33);
        assert_eq!(t.decremented(), TryCounter(0x32));
        assert!(TryCounter(0x30).is_blocked());
        assert_eq!(TryCounter(0x30).decremented(), TryCounter(0x30));
        assert_eq!(TryCounter(0x31).reset(), TryCounter(0x33));
        assert!(!TryCounter(0x00).is_blocked());
    }

    #[test]
    fn parse_fmcos_layouts() {
        // external auth: 39 use change next-state tries key16
        let mut d = [0u8; 21];
        d[..5].copy_from_slice(&[0x39, 0xF0, 0xF0, 0xAA, 0x33]);
        d[5..].copy_from_slice(&[0x11; 16]);
        let k = KeyRecord::parse_write_key(0, &d).unwrap();
        assert_eq!(k.key_type, KeyType::ExternalAuth);
        assert_eq!(k.next_level(), Level::new(0x0A));
        assert_eq!(k.tries, TryCounter(0x33));
        assert_eq!(k.algorithm, Algorithm::Tdes);
        // same with trailing SM4 algorithm byte
        let mut d2 = [0u8; 22];
        d2[..21].copy_from_slice(&d);
        d2[21] = 0x04;
        let k = KeyRecord::parse_write_key(0, &d2).unwrap();
        assert_eq!(k.algorithm, Algorithm::Sm4);
        // purchase key: 3E use change version alg key16
        let mut p = [0u8; 21];
        p[..5].copy_from_slice(&[0x3E, 0xF0, 0xF0, 0x02, 0x00]);
        let k = KeyRecord::parse_write_key(1, &p).unwrap();
        assert_eq!((k.version(), k.tries.is_limited()), (2, false));
        // PIN: 3A use EF next tries PIN
        let k = KeyRecord::parse_write_key(0, &[0x3A, 0xF0, 0xEF, 0x01, 0x33, 0x12, 0x34, 0x56])
            .unwrap();
        assert_eq!(k.value(), &[0x12, 0x34, 0x56]);
        let r = KeyRecord::decode(&k.encode()).unwrap();
        assert_eq!(r.value(), k.value());
        // errors
        assert_eq!(
            KeyRecord::parse_write_key(0, &[0x39, 0xF0]).unwrap_err(),
            Sw::WRONG_LENGTH
        );
        assert_eq!(
            KeyRecord::parse_write_key(0, &[0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap_err(),
            Sw::WRONG_DATA
        );
        assert_eq!(
            KeyRecord::parse_write_key(0, &d[..15]).unwrap_err(),
            Sw::WRONG_LENGTH
        );
    }
}
