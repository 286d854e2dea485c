//! Algorithm identifiers and the crate's error type.
//!
//! Responsibility: the mapping between [`Algorithm`] and the one-byte algorithm id that PBOC INITIALIZE
//! responses and WRITE KEY data carry, and each algorithm's block size. These are pure `const fn`s so the
//! kernel can use them in tables.

use core::fmt;

/// Largest block size of any supported cipher (SM4 and AES-128), in bytes.
pub const MAX_BLOCK_SIZE: usize = 16;

/// Largest key length of any supported cipher (2-key 3DES, SM4, AES-128), in bytes.
pub const MAX_KEY_LEN: usize = 16;

/// Block cipher family of a key: it fixes the block size, the MAC algorithm and the PBOC derivations.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Algorithm {
    /// DES with an 8-byte key, or 2-key triple DES (EDE) with a 16-byte key; 8-byte blocks.
    Tdes,
    /// SM4 (GB/T 32907-2016); 16-byte keys and blocks.
    Sm4,
    /// AES-128 (FIPS 197); 16-byte keys and blocks. Our documented extension to PBOC.
    Aes,
}

impl Algorithm {
    /// JR/T 0025 part 2 (PBOC) algorithm id, as returned by INITIALIZE FOR LOAD / PURCHASE:
    /// `00` 3DES, `04` SM4, and `10` for AES, which is our documented extension (PBOC defines no AES id).
    pub const fn id(self) -> u8 {
        match self {
            Self::Tdes => 0x00,
            Self::Sm4 => 0x04,
            Self::Aes => 0x10,
        }
    }

    /// Inverse of [`Algorithm::id`]; `None` for an id we do not implement.
    #[inline(never)]
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            0x00 => Some(Self::Tdes),
            0x04 => Some(Self::Sm4),
            0x10 => Some(Self::Aes),
            _ => None,
        }
    }

    /// Cipher block size in bytes: 8 for DES/3DES, 16 for SM4 and AES. Also the MAC's padding unit and IV size.
    pub const fn block_size(self) -> usize {
        match self {
            Self::Tdes => 8,
            Self::Sm4 | Self::Aes => 16,
        }
    }
}

/// Why a cryptographic operation was refused. The kernel maps it to a status word at the command boundary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CryptoError {
    /// The key's length does not suit its algorithm, or the key's algorithm/length cannot do the requested
    /// operation (e.g. MAC algorithm 3 with a key that is not 16-byte 3DES, AES-CMAC with a non-AES key).
    KeyLength,
    /// A data length is wrong: a block that is not exactly one block, ECB data that is not a whole number of
    /// blocks, or an IV that is not exactly one block.
    DataLength,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KeyLength => "key length or algorithm not valid for this operation",
            Self::DataLength => "data or IV length not valid for this operation",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_ids_are_rejected() {
        for alg in [Algorithm::Tdes, Algorithm::Sm4, Algorithm::Aes] {
            assert_eq!(Algorithm::from_id(alg.id()), Some(alg));
        }
        for id in 0..=u8::MAX {
            if !matches!(id, 0x00 | 0x04 | 0x10) {
                assert_eq!(Algorithm::from_id(id), None);
            }
        }
    }

    #[test]
    fn block_sizes() {
        assert_eq!(Algorithm::Tdes.block_size(), 8);
        assert_eq!(Algorithm::Sm4.block_size(), 16);
        assert_eq!(Algorithm::Aes.block_size(), 16);
        assert!(Algorithm::Aes.block_size() <= MAX_BLOCK_SIZE);
    }
}
