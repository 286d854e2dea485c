//! Card-side cryptography for the citizen-card COS: the block ciphers (DES / 2-key 3DES, SM4, AES-128), the
//! MACs the card verifies and produces, and the PBOC key derivations.
//!
//! Responsibility: turn key bytes plus data into ciphertext, MACs and derived keys, with no heap, no `unsafe`
//! and no panics. The ciphers and CMAC come from the RustCrypto crates (`des`, `sm4`, `aes`, `cmac`); this
//! crate only adds the COS-specific glue: ISO/IEC 9797-1 padding method 2, CBC-MAC streaming over several
//! parts, the MAC algorithm 3 output transformation and the JR/T 0025 (PBOC) key diversification, session
//! and TAC keys.
//!
//! Invariants:
//! - every secret (a [`Key`], a derived key, every intermediate key buffer and cipher key schedule) is wiped
//!   when it goes out of scope;
//! - every length error is reported as a [`CryptoError`], never as a panic;
//! - MAC comparisons go through [`ct_eq`] (or [`Mac`]'s `PartialEq`, which uses it), in constant time.
//!
//! ```
//! use cos_crypto::{session_key, Algorithm, Key};
//!
//! // JR/T 0025 part 2 load: SESLK = 3DES(DLK, random ‖ online ATC ‖ 80 00), MAC1 under SESLK.
//! let dlk = Key::new(Algorithm::Tdes, &[
//!     0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
//! ])?;
//! let seslk = session_key(&dlk, &[0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x80, 0x00])?;
//! let mac1 = seslk.mac(&[0; 8], &[
//!     &[0x00, 0x00, 0x00, 0x00],                   // old balance
//!     &[0x00, 0x00, 0x10, 0x00],                   // amount
//!     &[0x01],                                     // transaction type (ED load)
//!     &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55],       // terminal id
//! ])?;
//! assert_eq!(mac1.first4(), [0x29, 0x88, 0xAE, 0x5A]);
//! # Ok::<(), cos_crypto::CryptoError>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod algorithm;
mod engine;
mod key;
mod mac;
mod pboc;
#[cfg(test)]
mod testutil;

pub use algorithm::{Algorithm, CryptoError, MAX_BLOCK_SIZE, MAX_KEY_LEN};
pub use key::Key;
pub use mac::{aes_cmac, ct_eq, mac_iso9797_alg1, mac_iso9797_alg3, Mac};
pub use pboc::{diversify, session_key, tac_key};
