//! # cos-sim: the citizen-card COS on a host
//!
//! The whole card in-process ([`card::SimCard`]): the `cos-core` kernel and every applet over a RAM
//! EEPROM, saved as a crash-safe image file, with tearing injection at any page program and a
//! decoded APDU trace. Around it: personalisation from TOML profiles, reference terminals that
//! compute the host side of every transaction with RustCrypto (never with card code), and the
//! `cos-sim` command line.
//!
//! The simulator adds only what a host has: files, a clock, terminals, sockets.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Host tool, not card code: slicing with bounds established just before is fine here.
#![allow(clippy::indexing_slicing)]

pub mod applets;
pub mod area;
pub mod budgets;
pub mod card;
pub mod demo;
pub mod fuzzing;
pub mod hostcrypto;
pub mod image;
pub mod info;
pub mod perso;
pub mod profile;
pub mod snapshot;
pub mod terminals;
pub mod trace;
pub mod vectors;
pub mod vpcd;

pub use card::{CardRng, SimCard, SimError};
pub use image::{Image, ImageError};
