//! Reference terminals: the host side of every transaction, written from the specifications.
//!
//! Each terminal holds the issuer's (PSAM's) master keys from the profile, diversifies them for the
//! card in front of it by the ASN the card reports, computes MACs with [`crate::hostcrypto`]
//! (RustCrypto, no card code), verifies what the card returns (MAC2, TAC …) and reports any
//! mismatch or refusal as an error.

pub mod hospital;
pub mod library;
pub mod purse;
pub mod transit;
