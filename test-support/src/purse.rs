//! The host-side reference terminal's crypto: issuer key diversification, PBOC session keys, MACs
//! and TACs, written from `shared/spec/pboc-purse.md` with the RustCrypto block ciphers and CMAC
//! used **directly** — never `cos-crypto` — so that it is an oracle independent of the card's code.

use cipher::{BlockCipherEncrypt, KeyInit};

/// A purse key's algorithm, with the PBOC algorithm id the card reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    /// `00`: DES / 2-key 3DES, 8-byte blocks.
    Tdes,
    /// `04`: SM4, 16-byte blocks.
    Sm4,
    /// `10`: AES-128 with AES-CMAC (the project's extension).
    Aes,
}

impl Alg {
    /// Every algorithm, in key-index order of the standard test card.
    pub const ALL: [Alg; 3] = [Alg::Tdes, Alg::Sm4, Alg::Aes];

    /// The PBOC algorithm id the card reports.
    pub fn id(self) -> u8 {
        match self {
            Alg::Tdes => 0x00,
            Alg::Sm4 => 0x04,
            Alg::Aes => 0x10,
        }
    }

    /// The cipher's block size in bytes.
    pub fn block(self) -> usize {
        match self {
            Alg::Tdes => 8,
            Alg::Sm4 | Alg::Aes => 16,
        }
    }
}

fn enc_with<C: BlockCipherEncrypt + KeyInit>(key: &[u8], block: &mut [u8]) {
    let c = C::new_from_slice(key).unwrap();
    let b: &mut cipher::Block<C> = block.try_into().unwrap();
    c.encrypt_block(b);
}

/// ECB-encrypt one block: DES for an 8-byte 3DES key, 2-key 3DES EDE for 16 bytes.
pub fn encrypt_block(alg: Alg, key: &[u8], block: &mut [u8]) {
    match (alg, key.len()) {
        (Alg::Tdes, 8) => enc_with::<des::Des>(key, block),
        (Alg::Tdes, 16) => enc_with::<des::TdesEde2>(key, block),
        (Alg::Sm4, 16) => enc_with::<sm4::Sm4>(key, block),
        (Alg::Aes, 16) => enc_with::<aes::Aes128>(key, block),
        other => panic!("no cipher for {other:?}"),
    }
}

/// Issuer-side diversification of master key `mk` with ASN8:
/// 3DES `E(MK, d) ‖ E(MK, NOT d)`; SM4/AES `E(MK, d ‖ NOT d)`.
pub fn diversify(alg: Alg, mk: &[u8], asn8: &[u8; 8]) -> Vec<u8> {
    let not: Vec<u8> = asn8.iter().map(|b| !b).collect();
    match alg {
        Alg::Tdes => {
            let mut l = asn8.to_vec();
            let mut r = not;
            encrypt_block(alg, mk, &mut l);
            encrypt_block(alg, mk, &mut r);
            [l, r].concat()
        }
        _ => {
            let mut b = [asn8.to_vec(), not].concat();
            encrypt_block(alg, mk, &mut b);
            b
        }
    }
}

/// Session key from 8 input bytes: 3DES `E(K, input)` (an 8-byte DES key); SM4/AES
/// `E(K, input ‖ 80 00 00 00 00 00 00 00)` (the project's documented padding choice).
pub fn session_key(alg: Alg, key: &[u8], input: &[u8; 8]) -> Vec<u8> {
    let mut b = input.to_vec();
    if alg != Alg::Tdes {
        b.push(0x80);
        b.resize(16, 0);
    }
    encrypt_block(alg, key, &mut b);
    b
}

/// ISO/IEC 9797-1 padding method 2.
pub fn pad(data: &[u8], block: usize) -> Vec<u8> {
    let mut d = data.to_vec();
    d.push(0x80);
    while !d.len().is_multiple_of(block) {
        d.push(0);
    }
    d
}

/// The PBOC MAC (leftmost 4 bytes), zero IV:
/// * 3DES 8-byte key: DES CBC-MAC; 16-byte key: retail MAC (DES CBC under K_L, last block 3DES);
/// * SM4: SM4 CBC-MAC; padding method 2 for both;
/// * AES: AES-CMAC (RFC 4493) over the data, no padding of ours.
pub fn mac(alg: Alg, key: &[u8], data: &[u8]) -> [u8; 4] {
    let full = match alg {
        Alg::Aes => {
            use cmac::Mac as _;
            let mut m = <cmac::Cmac<aes::Aes128> as cmac::KeyInit>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        _ => {
            let bs = alg.block();
            let padded = pad(data, bs);
            let (chain_key, last_key) = if alg == Alg::Tdes && key.len() == 16 {
                (&key[..8], Some(key))
            } else {
                (key, None)
            };
            let mut h = vec![0u8; bs];
            let blocks: Vec<&[u8]> = padded.chunks(bs).collect();
            for (i, blk) in blocks.iter().enumerate() {
                for (x, y) in h.iter_mut().zip(blk.iter()) {
                    *x ^= *y;
                }
                let is_last = i + 1 == blocks.len();
                match (is_last, last_key) {
                    (true, Some(k16)) => encrypt_block(alg, k16, &mut h),
                    _ => encrypt_block(alg, chain_key, &mut h),
                }
            }
            h
        }
    };
    full[..4].try_into().unwrap()
}

/// The TAC key: `DTK_L XOR DTK_R` for a 16-byte 3DES DTK, else the DTK itself.
pub fn tac_key(alg: Alg, dtk: &[u8]) -> Vec<u8> {
    if alg == Alg::Tdes && dtk.len() == 16 {
        dtk[..8].iter().zip(&dtk[8..]).map(|(a, b)| a ^ b).collect()
    } else {
        dtk.to_vec()
    }
}

/// The TAC of `data` under DTK.
pub fn tac(alg: Alg, dtk: &[u8], data: &[u8]) -> [u8; 4] {
    mac(alg, &tac_key(alg, dtk), data)
}

/// Concatenate parts (MAC inputs are written as lists of fields).
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}
