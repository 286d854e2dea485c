//! # cos-core: the citizen-card COS kernel
//!
//! A `no_std`, heap-free smart-card operating system kernel: the ISO/IEC 7816-4 file system kept
//! in tear-safe persistent storage, FMCOS-compatible personalisation commands, the security status
//! (PINs, keys, external/internal authentication, line protection), the card life cycle, and the
//! narrow [`applet::Applet`] boundary through which applications (e-purse, transit, social
//! insurance, library) use kernel services. The kernel knows nothing of any applet.
//!
//! Layers (`docs/architecture.md`):
//! * [`cos_apdu`]: bytes ↔ typed commands, status words, T=0 response chaining;
//! * [`cos_crypto`]: 3DES / SM4 / AES, ISO 9797-1 MACs, AES-CMAC, PBOC key derivation;
//! * [`cos_nvm`]: the NVM device trait and the journalled, tear-safe store;
//! * this crate: file system, keys, security, secure messaging, dispatch.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod applet;
pub mod commands;
pub mod error;
pub mod fs;
pub mod kernel;
pub mod keys;
pub mod keystore;
pub mod lifecycle;
pub mod rng;
pub mod security;
pub mod sm;
pub mod types;

pub use applet::{Applet, Cx, FileRef, Selection, Tx};
pub use cos_apdu as apdu;
pub use cos_crypto as crypto;
pub use cos_nvm as nvm;
pub use kernel::{FormatConfig, FormatError, Kernel, ATR};
pub use lifecycle::CardState;
pub use rng::{Rng, SeededRng};

// The README's code sample is compiled and run as a doctest.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
