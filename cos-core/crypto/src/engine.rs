//! The keyed block-cipher instance behind every operation (crate-internal).
//!
//! Responsibility: pick the RustCrypto cipher that a key's algorithm and length call for, and expose
//! single-block encryption/decryption on byte slices with the length checked instead of asserted.
//! Invariant: an [`Engine`] holds an expanded key schedule, which the cipher crates wipe on drop
//! (their `zeroize` feature is enabled in the workspace).

use cipher::array::{Array, ArraySize};
use cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};

use crate::{Algorithm, CryptoError};

/// A keyed block cipher.
pub(crate) enum Engine {
    /// Single DES (8-byte key).
    Des(des::Des),
    /// 2-key triple DES, EDE (16-byte key).
    Tdes(des::TdesEde2),
    /// SM4 (GB/T 32907-2016).
    Sm4(sm4::Sm4),
    /// AES-128 (FIPS 197).
    Aes(aes::Aes128),
}

/// Builds a RustCrypto cipher from a key slice, reporting a wrong length as [`CryptoError::KeyLength`].
fn init<C: KeyInit>(key: &[u8]) -> Result<C, CryptoError> {
    C::new_from_slice(key).map_err(|_| CryptoError::KeyLength)
}

/// Views `block` as exactly one cipher block, or reports [`CryptoError::DataLength`].
fn as_block<N: ArraySize>(block: &mut [u8]) -> Result<&mut Array<u8, N>, CryptoError> {
    <&mut Array<u8, N>>::try_from(block).map_err(|_| CryptoError::DataLength)
}

impl Engine {
    /// The cipher for `alg` keyed with `key`: for [`Algorithm::Tdes`], 8 bytes select single DES and 16 bytes
    /// 2-key 3DES EDE.
    pub(crate) fn new(alg: Algorithm, key: &[u8]) -> Result<Self, CryptoError> {
        match (alg, key.len()) {
            (Algorithm::Tdes, 8) => Self::des(key),
            (Algorithm::Tdes, _) => Self::tdes(key),
            (Algorithm::Sm4, _) => Self::sm4(key),
            (Algorithm::Aes, _) => Self::aes(key),
        }
    }

    // One constructor per cipher, never inlined into one another: a single frame holding a
    // temporary of every cipher's schedule was the deepest point of the chip's stack.

    #[inline(never)]
    fn tdes(key: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self::Tdes(init(key)?))
    }

    #[inline(never)]
    fn sm4(key: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self::Sm4(init(key)?))
    }

    #[inline(never)]
    fn aes(key: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self::Aes(init(key)?))
    }

    /// Single DES under `key` (8 bytes), whatever algorithm the bytes came from: the building block of
    /// ISO/IEC 9797-1 MAC algorithm 3.
    #[inline(never)]
    pub(crate) fn des(key: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self::Des(init(key)?))
    }

    /// Block size in bytes.
    pub(crate) fn block_size(&self) -> usize {
        match self {
            Self::Des(_) | Self::Tdes(_) => 8,
            Self::Sm4(_) | Self::Aes(_) => 16,
        }
    }

    /// Encrypts one block in place; `block` must be exactly one block long.
    pub(crate) fn encrypt(&self, block: &mut [u8]) -> Result<(), CryptoError> {
        match self {
            Self::Des(c) => c.encrypt_block(as_block(block)?),
            Self::Tdes(c) => c.encrypt_block(as_block(block)?),
            Self::Sm4(c) => c.encrypt_block(as_block(block)?),
            Self::Aes(c) => c.encrypt_block(as_block(block)?),
        }
        Ok(())
    }

    /// Decrypts one block in place; `block` must be exactly one block long.
    pub(crate) fn decrypt(&self, block: &mut [u8]) -> Result<(), CryptoError> {
        match self {
            Self::Des(c) => c.decrypt_block(as_block(block)?),
            Self::Tdes(c) => c.decrypt_block(as_block(block)?),
            Self::Sm4(c) => c.decrypt_block(as_block(block)?),
            Self::Aes(c) => c.decrypt_block(as_block(block)?),
        }
        Ok(())
    }
}

/// Decrypt one 8-byte block under a single-DES key with a bare `des::Des` schedule (not an
/// [`Engine`], whose size is set by its largest cipher): the output transformation of ISO/IEC
/// 9797-1 MAC algorithm 3. The schedule is wiped on drop like every other.
pub(crate) fn des_decrypt(key: &[u8], block: &mut [u8]) -> Result<(), CryptoError> {
    let des: des::Des = init(key)?;
    des.decrypt_block(as_block(block)?);
    Ok(())
}
