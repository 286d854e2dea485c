//! Host-side cryptography for the reference terminals, written from the specifications with the
//! RustCrypto crates directly. It deliberately shares no code with the card's `cos-crypto`, so a
//! terminal that agrees with the card is independent evidence, not the card checking itself.
//!
//! * ISO/IEC 9797-1 padding method 2; MAC algorithm 3 (retail MAC) for 16-byte 3DES keys,
//!   algorithm 1 for 8-byte DES keys; SM4-CBC-MAC; AES-CMAC (RFC 4493) over `iv ‖ data` when the
//!   IV is not zero (our documented AES extension).
//! * JR/T 0025 key diversification, session keys and the TAC key.

#![allow(clippy::expect_used)] // key and block lengths are checked by HostKey::new and the callers

use cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};

/// Algorithm of a host key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostAlg {
    /// DES / 2-key 3DES.
    #[serde(rename = "3des")]
    Tdes,
    /// SM4.
    Sm4,
    /// AES-128.
    Aes,
}

impl HostAlg {
    /// The PBOC algorithm identifier.
    pub fn id(self) -> u8 {
        match self {
            HostAlg::Tdes => 0x00,
            HostAlg::Sm4 => 0x04,
            HostAlg::Aes => 0x10,
        }
    }
    /// Block size.
    pub fn block(self) -> usize {
        match self {
            HostAlg::Tdes => 8,
            _ => 16,
        }
    }
}

/// A host key: algorithm and bytes (8 or 16).
#[derive(Clone, PartialEq, Eq)]
pub struct HostKey {
    /// Algorithm.
    pub alg: HostAlg,
    /// Key bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostKey({:?}, {} bytes)", self.alg, self.bytes.len())
    }
}

/// Errors: a key of the wrong length for its algorithm.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a {alg:?} key must be {want}, not {got} bytes")]
pub struct KeyLengthError {
    alg: HostAlg,
    want: &'static str,
    got: usize,
}

impl HostKey {
    /// A key, length-checked.
    pub fn new(alg: HostAlg, bytes: &[u8]) -> Result<HostKey, KeyLengthError> {
        let ok = match alg {
            HostAlg::Tdes => bytes.len() == 8 || bytes.len() == 16,
            _ => bytes.len() == 16,
        };
        if !ok {
            return Err(KeyLengthError {
                alg,
                want: if alg == HostAlg::Tdes {
                    "8 or 16"
                } else {
                    "16"
                },
                got: bytes.len(),
            });
        }
        Ok(HostKey {
            alg,
            bytes: bytes.to_vec(),
        })
    }

    /// Encrypt one block (length = block size).
    pub fn encrypt(&self, block: &mut [u8]) {
        match (self.alg, self.bytes.len()) {
            (HostAlg::Tdes, 8) => des_enc(&self.bytes, block),
            (HostAlg::Tdes, _) => {
                let c = des::TdesEde2::new_from_slice(&self.bytes).expect("16-byte key");
                c.encrypt_block(block.try_into().expect("8-byte block"));
            }
            (HostAlg::Sm4, _) => {
                let c = sm4::Sm4::new_from_slice(&self.bytes).expect("16-byte key");
                c.encrypt_block(block.try_into().expect("16-byte block"));
            }
            (HostAlg::Aes, _) => {
                let c = aes::Aes128::new_from_slice(&self.bytes).expect("16-byte key");
                c.encrypt_block(block.try_into().expect("16-byte block"));
            }
        }
    }

    /// Decrypt one block.
    pub fn decrypt(&self, block: &mut [u8]) {
        match (self.alg, self.bytes.len()) {
            (HostAlg::Tdes, 8) => {
                let c = des::Des::new_from_slice(&self.bytes).expect("8-byte key");
                c.decrypt_block(block.try_into().expect("8-byte block"));
            }
            (HostAlg::Tdes, _) => {
                let c = des::TdesEde2::new_from_slice(&self.bytes).expect("16-byte key");
                c.decrypt_block(block.try_into().expect("8-byte block"));
            }
            (HostAlg::Sm4, _) => {
                let c = sm4::Sm4::new_from_slice(&self.bytes).expect("16-byte key");
                c.decrypt_block(block.try_into().expect("16-byte block"));
            }
            (HostAlg::Aes, _) => {
                let c = aes::Aes128::new_from_slice(&self.bytes).expect("16-byte key");
                c.decrypt_block(block.try_into().expect("16-byte block"));
            }
        }
    }

    /// ECB-encrypt `data` padded with method 2 (`Ld ‖ data ‖ 80 00…` is the caller's job).
    pub fn encrypt_ecb(&self, data: &mut [u8]) {
        for b in data.chunks_mut(self.alg.block()) {
            self.encrypt(b);
        }
    }

    /// The 4-byte MAC of the card's MAC algorithm for this key (see the module doc).
    pub fn mac4(&self, iv: &[u8], data: &[u8]) -> [u8; 4] {
        let full = self.mac(iv, data);
        [full[0], full[1], full[2], full[3]]
    }

    /// The full MAC block.
    pub fn mac(&self, iv: &[u8], data: &[u8]) -> Vec<u8> {
        if self.alg == HostAlg::Aes {
            use cmac::{Cmac, Mac};
            let mut m =
                <Cmac<aes::Aes128> as KeyInit>::new_from_slice(&self.bytes).expect("16-byte key");
            if iv.iter().any(|&b| b != 0) {
                m.update(iv);
            }
            m.update(data);
            return m.finalize().into_bytes().to_vec();
        }
        let bs = self.alg.block();
        let mut msg = data.to_vec();
        msg.push(0x80);
        while !msg.len().is_multiple_of(bs) {
            msg.push(0);
        }
        let mut state: Vec<u8> = iv.to_vec();
        state.resize(bs, 0);
        let retail = self.alg == HostAlg::Tdes && self.bytes.len() == 16;
        let blocks: Vec<&[u8]> = msg.chunks(bs).collect();
        for (i, b) in blocks.iter().enumerate() {
            for (s, x) in state.iter_mut().zip(b.iter()) {
                *s ^= x;
            }
            let last = i + 1 == blocks.len();
            if retail && !last {
                des_enc(&self.bytes[..8], &mut state);
            } else {
                self.encrypt(&mut state);
            }
        }
        state
    }
}

fn des_enc(key: &[u8], block: &mut [u8]) {
    let c = des::Des::new_from_slice(key).expect("8-byte key");
    c.encrypt_block(block.try_into().expect("8-byte block"));
}

/// JR/T 0025 diversification of a master key by 8 bytes (the last 8 of the ASN):
/// 3DES `E(d) ‖ E(!d)`, SM4/AES `E(d ‖ !d)`.
pub fn diversify(master: &HostKey, d: &[u8; 8]) -> HostKey {
    let not: Vec<u8> = d.iter().map(|b| !b).collect();
    match master.alg {
        HostAlg::Tdes => {
            let mut l = d.to_vec();
            let mut r = not;
            master.encrypt(&mut l);
            master.encrypt(&mut r);
            l.extend_from_slice(&r);
            HostKey {
                alg: HostAlg::Tdes,
                bytes: l,
            }
        }
        alg => {
            let mut b = d.to_vec();
            b.extend_from_slice(&not);
            master.encrypt(&mut b);
            HostKey { alg, bytes: b }
        }
    }
}

/// JR/T 0025 session (process) key from 8 input bytes: 3DES → single-DES key `E(input)`;
/// SM4/AES → `E(input ‖ 80 00…)` (our documented SM4/AES choice).
pub fn session_key(key: &HostKey, input: &[u8; 8]) -> HostKey {
    let mut b = input.to_vec();
    if key.alg != HostAlg::Tdes {
        b.push(0x80);
        b.resize(16, 0);
    }
    key.encrypt(&mut b);
    HostKey {
        alg: key.alg,
        bytes: b,
    }
}

/// TAC key: 3DES `DTK_L xor DTK_R` (single DES); SM4/AES the DTK itself.
pub fn tac_key(dtk: &HostKey) -> HostKey {
    match dtk.alg {
        HostAlg::Tdes if dtk.bytes.len() == 16 => HostKey {
            alg: HostAlg::Tdes,
            bytes: dtk.bytes[..8]
                .iter()
                .zip(&dtk.bytes[8..])
                .map(|(a, b)| a ^ b)
                .collect(),
        },
        _ => dtk.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// The worked examples of the PBOC digest (`shared/spec/pboc-purse.md`), recomputed with
    /// OpenSSL by their authors: independent of both this module and the card.
    #[test]
    fn pboc_worked_examples() {
        let dlk = HostKey::new(HostAlg::Tdes, &h("11223344556677888877665544332211")).unwrap();
        let ses = session_key(&dlk, &h("1122334400008000").try_into().unwrap());
        assert_eq!(ses.bytes, h("9B1D924E05595603"));
        let z = [0u8; 8];
        assert_eq!(
            ses.mac4(&z, &h("000000000000100001001122334455")).to_vec(),
            h("2988AE5A")
        );
        assert_eq!(
            ses.mac4(&z, &h("000010000100112233445520111221214822"))
                .to_vec(),
            h("3A845BF0")
        );
        let sesp = session_key(&dlk, &h("1122334400000001").try_into().unwrap());
        assert_eq!(sesp.bytes, h("003238ABC57659DD"));
        assert_eq!(
            sesp.mac4(&z, &h("000010000600112233445520120229135100"))
                .to_vec(),
            h("F15CAB75")
        );
        assert_eq!(sesp.mac4(&z, &h("00001000")).to_vec(), h("56988A13"));
        let d = diversify(&dlk, &h("0000000000000001").try_into().unwrap());
        assert_eq!(d.bytes, h("6B3C059DBA64295091C3F108689C120A"));
    }

    /// GB/T 32907-2016 example 1 and RFC 4493 example 2.
    #[test]
    fn standard_vectors() {
        let k = HostKey::new(HostAlg::Sm4, &h("0123456789abcdeffedcba9876543210")).unwrap();
        let mut b = h("0123456789abcdeffedcba9876543210");
        k.encrypt(&mut b);
        assert_eq!(b, h("681edf34d206965e86b3e94f536e4246"));
        let a = HostKey::new(HostAlg::Aes, &h("2b7e151628aed2a6abf7158809cf4f3c")).unwrap();
        assert_eq!(
            a.mac(&[0; 16], &h("6bc1bee22e409f96e93d7e117393172a")),
            h("070a16b46b4d4144f79bdd9dd04a287c")
        );
    }
}
