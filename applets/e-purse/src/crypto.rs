//! Card-side purse cryptography: session keys, MACs and the TAC, for every algorithm edition.
//!
//! Responsibility: assemble the JR/T 0025 Part 2 inputs and call `cos_core::crypto`, whose
//! derivations carry the standards' known-answer tests. Invariants: the IV is always zero and one
//! block long; every derived key is a `cos_crypto::Key`, wiped on drop; a crypto error (a key the
//! kernel should never have stored) maps to `6984` (reference data not usable).
//!
//! * 3DES (algorithm `00`): session key = `3DES(K, input)` (8 bytes, single-DES MACs, ISO 9797-1
//!   algorithm 1, padding method 2); TAC key = `DTK_L XOR DTK_R`.
//! * SM4 (`04`): session key = `SM4(K, input ‖ 80 00 00 00 00 00 00 00)`; SM4-CBC-MAC, padding
//!   method 2; TAC under DTK itself.
//! * AES (`10`, our extension): as SM4 with AES-128, and AES-CMAC (RFC 4493) for every MAC.

use crate::types::{Atc, Mac4, Ttc};
use cos_core::apdu::Sw;
use cos_core::crypto::{self, Key};
use cos_core::keys::KeyRecord;

/// The transaction-constant byte pair `80 00` of the online session-key input.
const ONLINE_SESSION_TAIL: [u8; 2] = [0x80, 0x00];

/// Session-key input of load, unload and overdraw-limit update:
/// `random (4) ‖ online ATC (2) ‖ 80 00` (JR/T 0025 Part 2, SESLK).
pub fn online_input(random: [u8; 4], atc: Atc) -> [u8; 8] {
    let [r0, r1, r2, r3] = random;
    let [a0, a1] = atc.to_bytes();
    let [t0, t1] = ONLINE_SESSION_TAIL;
    [r0, r1, r2, r3, a0, a1, t0, t1]
}

/// Session-key input of a purchase: `random (4) ‖ offline ATC (2) ‖ last 2 bytes of TTC`
/// (JR/T 0025 Part 2, SESPK).
pub fn purchase_input(random: [u8; 4], atc: Atc, ttc: Ttc) -> [u8; 8] {
    let [r0, r1, r2, r3] = random;
    let [a0, a1] = atc.to_bytes();
    let [t0, t1] = ttc.low();
    [r0, r1, r2, r3, a0, a1, t0, t1]
}

fn usable<T>(r: Result<T, crypto::CryptoError>) -> Result<T, Sw> {
    r.map_err(|_| Sw::REFERENCE_DATA_NOT_USABLE)
}

/// The session (process) key of a transaction from its key record.
pub fn session_key(rec: &KeyRecord, input: &[u8; 8]) -> Result<Key, Sw> {
    let key = rec.crypto_key()?;
    usable(crypto::session_key(&key, input))
}

/// The 4-byte MAC of `parts` under `key`, zero IV.
pub fn mac4(key: &Key, parts: &[&[u8]]) -> Result<Mac4, Sw> {
    usable(key.mac_zero_iv(parts)).map(|m| Mac4(m.first4()))
}

/// The TAC of `parts` under the TAC key derived from DTK.
pub fn tac(dtk: &KeyRecord, parts: &[&[u8]]) -> Result<Mac4, Sw> {
    let key = dtk.crypto_key()?;
    let tac_key = usable(crypto::tac_key(&key))?;
    mac4(&tac_key, parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_inputs() {
        assert_eq!(
            online_input([0x11, 0x22, 0x33, 0x44], Atc(0x0102)),
            [0x11, 0x22, 0x33, 0x44, 0x01, 0x02, 0x80, 0x00]
        );
        assert_eq!(
            purchase_input([0x11, 0x22, 0x33, 0x44], Atc(0), Ttc([9, 9, 0, 1])),
            [0x11, 0x22, 0x33, 0x44, 0, 0, 0, 1]
        );
    }
}
