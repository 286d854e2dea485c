//! Message authentication codes: ISO/IEC 9797-1 CBC-MACs with padding method 2, AES-CMAC, and the
//! constant-time comparison used to check them.
//!
//! Responsibility: compute the MAC that PBOC transactions (MAC1, MAC2, TAC) and secure messaging use, streaming
//! over several input parts so that callers never concatenate into a buffer. Invariants: padding method 2
//! always appends `80` (so the empty message is one block); the IV is exactly one block; the result carries
//! the full last block and callers truncate it (PBOC and FMCOS send the leftmost 4 bytes, [`Mac::first4`]).

use core::fmt;

use aes::Aes128;
use cmac::{Cmac, KeyInit as _, Mac as _};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::engine::{des_decrypt, Engine};
use crate::{Algorithm, CryptoError, Key, MAX_BLOCK_SIZE};

/// A MAC value: one cipher block (8 bytes for DES/3DES, 16 for SM4/AES).
///
/// Equality is constant-time (it goes through [`ct_eq`]), so comparing a computed MAC with a received one
/// leaks nothing through timing.
#[derive(Clone, Copy)]
pub struct Mac {
    bytes: [u8; MAX_BLOCK_SIZE],
    len: usize,
}

impl Mac {
    /// Copies one final CBC/CMAC block (at most [`MAX_BLOCK_SIZE`] bytes, extra bytes are ignored).
    fn from_block(block: &[u8]) -> Self {
        let mut mac = Self {
            bytes: [0; MAX_BLOCK_SIZE],
            len: block.len().min(MAX_BLOCK_SIZE),
        };
        mac.bytes
            .iter_mut()
            .zip(block)
            .for_each(|(dst, src)| *dst = *src);
        mac
    }

    /// The whole MAC block.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }

    /// The leftmost 4 bytes: the MAC1 / MAC2 / TAC / secure-messaging MAC that JR/T 0025 and FMCOS transmit.
    pub fn first4(&self) -> [u8; 4] {
        let [a, b, c, d, ..] = self.bytes;
        [a, b, c, d]
    }
}

impl PartialEq for Mac {
    /// Constant-time comparison of the MAC blocks.
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.as_bytes(), other.as_bytes())
    }
}

impl Eq for Mac {}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mac(")?;
        self.as_bytes()
            .iter()
            .try_for_each(|b| write!(f, "{b:02X}"))?;
        f.write_str(")")
    }
}

/// Constant-time equality of two byte strings (`subtle`); `false` when the lengths differ (the length itself
/// is not secret). Use it for every MAC, TAC, cryptogram and PIN comparison.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// Streaming CBC-MAC state: the chaining value and how many bytes of the current block have been absorbed.
/// The chaining value is XORed with the input in place, so no block buffer is needed.
struct CbcMac<'e> {
    /// Borrowed, not owned: an expanded key schedule is hundreds of bytes, and moving it into the
    /// state cost more instructions on the chip than the MAC's cipher rounds of a short message.
    engine: &'e Engine,
    state: [u8; MAX_BLOCK_SIZE],
    fill: usize,
}

impl Drop for CbcMac<'_> {
    /// Intermediate CBC values are wiped like every other cryptographic temporary.
    #[inline(never)]
    fn drop(&mut self) {
        self.state.zeroize();
    }
}

impl<'e> CbcMac<'e> {
    /// Starts a CBC-MAC under `engine` with initial chaining value `iv`, which must be exactly one block.
    fn new(engine: &'e Engine, iv: &[u8]) -> Result<Self, CryptoError> {
        if iv.len() != engine.block_size() {
            return Err(CryptoError::DataLength);
        }
        let mut state = [0; MAX_BLOCK_SIZE];
        state.iter_mut().zip(iv).for_each(|(s, v)| *s = *v);
        Ok(Self {
            engine,
            state,
            fill: 0,
        })
    }

    /// The chaining value (one block).
    fn block(&mut self) -> Result<&mut [u8], CryptoError> {
        let bs = self.engine.block_size();
        self.state.get_mut(..bs).ok_or(CryptoError::DataLength)
    }

    /// Absorbs `data`: XOR into the chaining value, encrypt at every full block.
    fn update(&mut self, mut data: &[u8]) -> Result<(), CryptoError> {
        let bs = self.engine.block_size();
        while !data.is_empty() {
            let room = bs.saturating_sub(self.fill);
            let (now, later) = data.split_at(room.min(data.len()));
            let dst = self
                .state
                .get_mut(self.fill..bs)
                .ok_or(CryptoError::DataLength)?;
            dst.iter_mut().zip(now).for_each(|(s, d)| *s ^= *d);
            self.fill = self.fill.saturating_add(now.len());
            data = later;
            if self.fill == bs {
                let engine = self.engine;
                let block = self.state.get_mut(..bs).ok_or(CryptoError::DataLength)?;
                engine.encrypt(block)?;
                self.fill = 0;
            }
        }
        Ok(())
    }

    /// ISO/IEC 9797-1 padding method 2: absorb `80` and then zeros up to the block boundary (XOR with zero is
    /// a no-op, so only the `80` byte is applied), and encrypt the last block.
    fn finish(&mut self) -> Result<(), CryptoError> {
        self.update(&[0x80])?;
        if self.fill != 0 {
            let engine = self.engine;
            let bs = engine.block_size();
            let block = self.state.get_mut(..bs).ok_or(CryptoError::DataLength)?;
            engine.encrypt(block)?;
            self.fill = 0;
        }
        Ok(())
    }
}

/// Runs a padded CBC-MAC over all `parts` and returns the final block.
fn cbc_mac<'e>(engine: &'e Engine, iv: &[u8], parts: &[&[u8]]) -> Result<CbcMac<'e>, CryptoError> {
    let mut cbc = CbcMac::new(engine, iv)?;
    parts.iter().try_for_each(|part| cbc.update(part))?;
    cbc.finish()?;
    Ok(cbc)
}

/// ISO/IEC 9797-1 MAC algorithm 1 (plain CBC-MAC, no output transformation) with padding method 2, under the
/// key's own cipher: single DES for an 8-byte 3DES key, full 2-key 3DES EDE on every block for a 16-byte
/// one, SM4 (the SM4-edition PBOC MAC) or AES.
///
/// # Errors
/// [`CryptoError::DataLength`] unless `iv` is exactly one block; [`CryptoError::KeyLength`] for a zeroized
/// key.
pub fn mac_iso9797_alg1(key: &Key, iv: &[u8], parts: &[&[u8]]) -> Result<Mac, CryptoError> {
    let engine = key.engine()?;
    let mut cbc = cbc_mac(&engine, iv, parts)?;
    Ok(Mac::from_block(cbc.block()?))
}

/// ISO/IEC 9797-1 MAC algorithm 3, the "retail MAC" (ANSI X9.19) that JR/T 0025 uses with 16-byte 3DES keys:
/// CBC with single DES under `K_L`, then the output transformation `DES_K_L(DES⁻¹_K_R(H))`, which equals
/// 3DES on the last block. Padding method 2.
///
/// # Errors
/// [`CryptoError::KeyLength`] unless `key` is a 16-byte [`Algorithm::Tdes`] key;
/// [`CryptoError::DataLength`] unless `iv` is 8 bytes.
pub fn mac_iso9797_alg3(key: &Key, iv: &[u8], parts: &[&[u8]]) -> Result<Mac, CryptoError> {
    if key.algorithm() != Algorithm::Tdes || key.len() != 16 {
        return Err(CryptoError::KeyLength);
    }
    let (left, right) = key
        .as_bytes()
        .split_first_chunk::<8>()
        .ok_or(CryptoError::KeyLength)?;
    // One single-DES schedule for K_L serves the CBC and the final encryption; K_R's is a bare
    // DES schedule (a whole `Engine` is sized for AES and 3DES: hundreds of bytes more stack).
    let left = Engine::des(left)?;
    let mut cbc = cbc_mac(&left, iv, parts)?;
    let block = cbc.block()?;
    des_decrypt(right, block)?;
    left.encrypt(block)?;
    Ok(Mac::from_block(block))
}

/// AES-CMAC (NIST SP 800-38B, RFC 4493) over the concatenation of `prefix` and `parts`; CMAC does its own
/// padding and subkey tweak, so padding method 2 is not applied.
fn cmac(key: &Key, prefix: &[u8], parts: &[&[u8]]) -> Result<Mac, CryptoError> {
    if key.algorithm() != Algorithm::Aes {
        return Err(CryptoError::KeyLength);
    }
    let mut mac =
        <Cmac<Aes128>>::new_from_slice(key.as_bytes()).map_err(|_| CryptoError::KeyLength)?;
    mac.update(prefix);
    parts.iter().for_each(|part| mac.update(part));
    Ok(Mac::from_block(&mac.finalize().into_bytes()))
}

/// AES-CMAC (RFC 4493) of the concatenation of `parts`: the MAC of our AES edition of the purse (an
/// extension; PBOC defines none). CMAC has its own padding, so ISO/IEC 9797-1 padding method 2 is not used.
///
/// # Errors
/// [`CryptoError::KeyLength`] unless `key` is an [`Algorithm::Aes`] key.
pub fn aes_cmac(key: &Key, parts: &[&[u8]]) -> Result<Mac, CryptoError> {
    cmac(key, &[], parts)
}

impl Key {
    /// [`Key::mac`] under the all-zero IV of one block, as PBOC's MAC2 / TAC, PIN reload,
    /// INTERNAL AUTHENTICATE and the insurance receipts use it: one copy of the IV setup for
    /// every caller.
    #[inline(never)]
    pub fn mac_zero_iv(&self, parts: &[&[u8]]) -> Result<Mac, CryptoError> {
        let zero = [0u8; MAX_BLOCK_SIZE];
        let iv = zero
            .get(..self.algorithm().block_size())
            .ok_or(CryptoError::DataLength)?;
        self.mac(iv, parts)
    }

    /// The COS MAC of this key's algorithm over the concatenation of `parts`, chained from `iv`, which must be
    /// exactly one block (PBOC transactions use a zero IV; secure messaging uses the challenge padded with
    /// zeros). The result is one block; transmit [`Mac::first4`].
    ///
    /// - 3DES, 8-byte key: ISO/IEC 9797-1 MAC algorithm 1 with single DES, padding method 2.
    /// - 3DES, 16-byte key: ISO/IEC 9797-1 MAC algorithm 3 (retail MAC), padding method 2 — JR/T 0025 part 2.
    /// - SM4: SM4-CBC-MAC (algorithm 1), padding method 2 to 16 bytes — the SM4 edition of JR/T 0025.
    /// - AES (our extension): AES-CMAC (RFC 4493). An all-zero `iv` is ignored and the CMAC covers the data
    ///   alone; any other `iv` (the secure-messaging challenge) is MAC'd as a first block, i.e. the CMAC covers
    ///   `iv ‖ data`, since CMAC has no IV input of its own. CMAC pads itself, so padding method 2 is not used.
    ///
    /// # Errors
    /// [`CryptoError::DataLength`] unless `iv.len()` equals the block size; [`CryptoError::KeyLength`] for a
    /// zeroized key.
    pub fn mac(&self, iv: &[u8], parts: &[&[u8]]) -> Result<Mac, CryptoError> {
        match (self.algorithm(), self.len()) {
            (Algorithm::Tdes, 16) => mac_iso9797_alg3(self, iv, parts),
            (Algorithm::Aes, _) => {
                if iv.len() != Algorithm::Aes.block_size() {
                    return Err(CryptoError::DataLength);
                }
                let prefix: &[u8] = if iv.iter().all(|&b| b == 0) { &[] } else { iv };
                cmac(self, prefix, parts)
            }
            _ => mac_iso9797_alg1(self, iv, parts),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::testutil::hex;
    use proptest::prelude::*;

    /// "Now is the time for all " — the ISO/IEC 9797-1 annex B message; the vectors use its prefixes.
    const NOW: &[u8; 24] = b"Now is the time for all ";

    /// 2-key 3DES key with unequal halves: K_L = 0123456789ABCDEF, K_R = FEDCBA9876543210.
    fn tdes_key() -> Key {
        Key::new(
            Algorithm::Tdes,
            &hex::<16>("0123456789ABCDEF FEDCBA9876543210"),
        )
        .unwrap()
    }

    // Reference values for the 3DES / DES MAC vectors below, computed with OpenSSL 3.0 on the build machine.
    // Shell setup (pad = ISO/IEC 9797-1 padding method 2, done by hand):
    //   pad() { python3 -c "import sys;d=bytes.fromhex(sys.argv[1])+b'\x80';b=int(sys.argv[2]);d+=b'\0'*(-len(d)%b);print(d.hex())" "$1" "$2"; }
    //   L="-provider legacy -provider default"; K=0123456789ABCDEFFEDCBA9876543210; KL=0123456789ABCDEF; KR=FEDCBA9876543210
    //   D=$(printf 'Now is the time for all ' | head -c $n | xxd -p | tr -d '\n'); P=$(pad "$D" 8)
    // Algorithm 1, 3DES on every block:
    //   echo $P | xxd -r -p | openssl enc -des-ede-cbc -K $K -iv 0000000000000000 -nopad | tail -c 8 | xxd -p
    // Algorithm 1, single DES (8-byte key K_L):
    //   echo $P | xxd -r -p | openssl enc $L -des-cbc -K $KL -iv 0000000000000000 -nopad | tail -c 8 | xxd -p
    // Algorithm 3 (CBC with K_L, then decrypt K_R, encrypt K_L on the last block):
    //   echo $P | xxd -r -p | openssl enc $L -des-cbc -K $KL -iv 0000000000000000 -nopad | tail -c 8 \
    //     | openssl enc $L -d -des-ecb -K $KR -nopad | openssl enc $L -des-ecb -K $KL -nopad | xxd -p
    /// (message length n, alg 1 3DES, alg 1 single DES under K_L, alg 3).
    const TDES_VECTORS: [(usize, &str, &str, &str); 5] = [
        (
            0,
            "f1fbcf2a56d19ba7",
            "caee534c523e1e79",
            "f1fbcf2a56d19ba7",
        ),
        (
            7,
            "72b8e81e1463770b",
            "3a6d499e518fae41",
            "72b8e81e1463770b",
        ),
        (
            8,
            "5d9d8db482b49382",
            "02d106fac9cf78f9",
            "54c077ec710a06cb",
        ),
        (
            9,
            "5c153b91cdd3b331",
            "34484edbff8987c1",
            "e5c7d68be17b3a23",
        ),
        (
            16,
            "827e3ca5bb8e0b04",
            "791c65f2a7390bfa",
            "8dcda518dbb35f4b",
        ),
    ];

    #[test]
    fn iso9797_alg1_and_alg3_openssl_vectors() {
        let key = tdes_key();
        let des = Key::new(Algorithm::Tdes, &hex::<8>("0123456789ABCDEF")).unwrap();
        for (n, alg1, alg1_des, alg3) in TDES_VECTORS {
            let msg = &NOW[..n];
            let iv = [0u8; 8];
            let got1 = mac_iso9797_alg1(&key, &iv, &[msg]).unwrap();
            assert_eq!(got1.as_bytes(), hex::<8>(alg1), "alg1 3DES n={n}");
            let got_des = mac_iso9797_alg1(&des, &iv, &[msg]).unwrap();
            assert_eq!(got_des.as_bytes(), hex::<8>(alg1_des), "alg1 DES n={n}");
            assert_eq!(
                des.mac(&iv, &[msg]).unwrap(),
                got_des,
                "8-byte key MAC is alg 1"
            );
            let got3 = mac_iso9797_alg3(&key, &iv, &[msg]).unwrap();
            assert_eq!(got3.as_bytes(), hex::<8>(alg3), "alg3 n={n}");
            assert_eq!(
                key.mac(&iv, &[msg]).unwrap(),
                got3,
                "16-byte key MAC is alg 3"
            );
        }
    }

    /// Secure-messaging shape: IV = challenge ‖ 00000000, data = APPLICATION BLOCK header.
    ///   P=$(pad 841E000004 8); echo $P | xxd -r -p | openssl enc $L -des-cbc -K $KL -iv 1122334400000000
    ///     -nopad | tail -c 8 | openssl enc $L -d -des-ecb -K $KR -nopad | openssl enc $L -des-ecb -K $KL
    ///     -nopad | xxd -p   → 40d016f4bb821b39
    #[test]
    fn iso9797_alg3_with_challenge_iv() {
        let mac = tdes_key()
            .mac(
                &hex::<8>("1122334400000000"),
                &[&[0x84, 0x1E, 0x00, 0x00], &[0x04]],
            )
            .unwrap();
        assert_eq!(mac.as_bytes(), hex::<8>("40d016f4bb821b39"));
        assert_eq!(mac.first4(), hex::<4>("40d016f4"));
    }

    fn sm4_key() -> Key {
        Key::new(
            Algorithm::Sm4,
            &hex::<16>("0123456789abcdeffedcba9876543210"),
        )
        .unwrap()
    }

    // SM4-CBC-MAC references, OpenSSL 3.0 (SM4 is in the default provider):
    //   SK=0123456789abcdeffedcba9876543210; P=$(pad "$D" 16)
    //   echo $P | xxd -r -p | openssl enc -sm4-cbc -K $SK -iv $IV -nopad | tail -c 16 | xxd -p
    /// (message length n, IV, MAC).
    const SM4_VECTORS: [(usize, &str, &str); 5] = [
        (
            0,
            "00000000000000000000000000000000",
            "8c338e5a27e349beae39214feda97099",
        ),
        (
            15,
            "00000000000000000000000000000000",
            "e9896811e37b44a88de7d3539f4cd66d",
        ),
        (
            16,
            "00000000000000000000000000000000",
            "71d2165193af4e0a32e18e06b93f9d43",
        ),
        (
            20,
            "00000000000000000000000000000000",
            "22a274b1ec5c0f7f33e9f700c17efbae",
        ),
        (
            20,
            "11223344000000000000000000000000",
            "72c27e6781843d3b7f4b0e2bc2a3e1fe",
        ),
    ];

    #[test]
    fn sm4_cbc_mac_openssl_vectors() {
        let key = sm4_key();
        for (n, iv, expected) in SM4_VECTORS {
            let iv = hex::<16>(iv);
            let mac = key.mac(&iv, &[&NOW[..n]]).unwrap();
            assert_eq!(mac.as_bytes(), hex::<16>(expected), "n={n}");
            assert_eq!(mac, mac_iso9797_alg1(&key, &iv, &[&NOW[..n]]).unwrap());
        }
    }

    const RFC4493_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const RFC4493_MSG: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                               30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";

    fn aes_key() -> Key {
        Key::new(Algorithm::Aes, &hex::<16>(RFC4493_KEY)).unwrap()
    }

    /// RFC 4493 section 4, examples 1–4 (also reproduced with
    /// `openssl mac -cipher AES-128-CBC -macopt hexkey:2b7e1516... CMAC`).
    #[test]
    fn aes_cmac_rfc4493_examples() {
        let key = aes_key();
        let msg = hex::<64>(RFC4493_MSG);
        for (len, expected) in [
            (0, "bb1d6929e95937287fa37d129b756746"),
            (16, "070a16b46b4d4144f79bdd9dd04a287c"),
            (40, "dfa66747de9ae63030ca32611497c827"),
            (64, "51f0bebf7e3b9d92fc49741779363cfe"),
        ] {
            let expected = hex::<16>(expected);
            assert_eq!(
                aes_cmac(&key, &[&msg[..len]]).unwrap().as_bytes(),
                expected,
                "len={len}"
            );
            // Zero IV: Key::mac is plain CMAC of the data.
            assert_eq!(
                key.mac(&[0; 16], &[&msg[..len]]).unwrap().as_bytes(),
                expected
            );
            // Split into parts: same CMAC.
            let (a, b) = msg[..len].split_at(len / 3);
            assert_eq!(aes_cmac(&key, &[a, &[], b]).unwrap().as_bytes(), expected);
        }
    }

    /// AES line protection: CMAC over IV ‖ data when the IV (challenge) is not zero.
    ///   IV=11223344000000000000000000000000; LD=04d682000a0102030405060708090a
    ///   echo $IV$LD | xxd -r -p | openssl mac -cipher AES-128-CBC -macopt hexkey:2b7e151628aed2a6abf7158809cf4f3c CMAC
    ///     → 4042C9F89CB6B100062BC8BA183177DD
    #[test]
    fn aes_line_protection_cmac_over_iv_and_data() {
        let iv = hex::<16>("11223344000000000000000000000000");
        let header = [0x04, 0xD6, 0x82, 0x00, 0x0A];
        let data = hex::<10>("0102030405060708090a");
        let mac = aes_key().mac(&iv, &[&header, &data]).unwrap();
        assert_eq!(
            mac.as_bytes(),
            hex::<16>("4042C9F89CB6B100062BC8BA183177DD")
        );
    }

    /// AES CBC-MAC (algorithm 1) for callers that force it:
    ///   P=$(pad 04d682000a0102030405060708090a 16); echo $P | xxd -r -p | openssl enc -aes-128-cbc
    ///     -K 2b7e151628aed2a6abf7158809cf4f3c -iv 00000000000000000000000000000000 -nopad | tail -c 16 | xxd -p
    ///     → edaa159eed26d167d31381a54dd26584
    #[test]
    fn aes_cbc_mac_alg1_openssl_vector() {
        let data = hex::<15>("04d682000a0102030405060708090a");
        let mac = mac_iso9797_alg1(&aes_key(), &[0; 16], &[&data]).unwrap();
        assert_eq!(
            mac.as_bytes(),
            hex::<16>("edaa159eed26d167d31381a54dd26584")
        );
    }

    #[test]
    fn wrong_iv_length_is_data_length() {
        let keys = [
            Key::new(Algorithm::Tdes, &[1; 8]).unwrap(),
            tdes_key(),
            sm4_key(),
            aes_key(),
        ];
        for key in &keys {
            let bs = key.algorithm().block_size();
            for len in (0..=20).filter(|&l| l != bs) {
                let iv = [0u8; 20];
                assert_eq!(
                    key.mac(&iv[..len], &[b"x"]),
                    Err(CryptoError::DataLength),
                    "{key:?} {len}"
                );
                assert_eq!(
                    mac_iso9797_alg1(key, &iv[..len], &[b"x"]),
                    Err(CryptoError::DataLength)
                );
            }
        }
        assert_eq!(
            mac_iso9797_alg3(&tdes_key(), &[0; 16], &[]),
            Err(CryptoError::DataLength)
        );
    }

    #[test]
    fn wrong_key_kind_is_key_length() {
        let des = Key::new(Algorithm::Tdes, &[1; 8]).unwrap();
        assert_eq!(
            mac_iso9797_alg3(&des, &[0; 8], &[]),
            Err(CryptoError::KeyLength)
        );
        assert_eq!(
            mac_iso9797_alg3(&sm4_key(), &[0; 8], &[]),
            Err(CryptoError::KeyLength)
        );
        assert_eq!(aes_cmac(&tdes_key(), &[]), Err(CryptoError::KeyLength));
        assert_eq!(aes_cmac(&sm4_key(), &[]), Err(CryptoError::KeyLength));
        let mut wiped = tdes_key();
        wiped.zeroize();
        assert_eq!(wiped.mac(&[0; 8], &[]), Err(CryptoError::KeyLength));
    }

    #[test]
    fn mac_accessors_and_ct_eq() {
        let mac = Mac::from_block(&hex::<8>("2988AE5A01020304"));
        assert_eq!(mac.first4(), hex::<4>("2988AE5A"));
        assert_eq!(mac.as_bytes().len(), 8);
        assert!(ct_eq(b"abcd", b"abcd"));
        assert!(!ct_eq(b"abcd", b"abce"));
        assert!(!ct_eq(b"abcd", b"abc"));
        assert!(ct_eq(b"", b""));
        assert_ne!(mac, Mac::from_block(&hex::<8>("2988AE5A01020305")));
        assert_ne!(
            mac,
            Mac::from_block(&hex::<16>("2988AE5A010203040000000000000000"))
        );
    }

    fn any_key() -> impl Strategy<Value = Key> {
        (0usize..4, any::<[u8; 16]>()).prop_map(|(kind, bytes)| match kind {
            0 => Key::new(Algorithm::Tdes, &bytes[..8]).unwrap(),
            1 => Key::new(Algorithm::Tdes, &bytes).unwrap(),
            2 => Key::new(Algorithm::Sm4, &bytes).unwrap(),
            _ => Key::new(Algorithm::Aes, &bytes).unwrap(),
        })
    }

    proptest! {
        /// Never panics, whatever the IV length and the parts; an IV of one block always succeeds.
        #[test]
        fn mac_never_panics(
            key in any_key(),
            iv in proptest::collection::vec(any::<u8>(), 0..24),
            data in proptest::collection::vec(any::<u8>(), 0..80),
            cuts in any::<[usize; 3]>(),
        ) {
            let mut cuts = cuts.map(|c| c % (data.len() + 1));
            cuts.sort_unstable();
            let (a, rest) = data.split_at(cuts[0]);
            let (b, rest) = rest.split_at(cuts[1] - cuts[0]);
            let (c, d) = rest.split_at(cuts[2] - cuts[1]);
            let split = key.mac(&iv, &[a, b, c, d]);
            let whole = key.mac(&iv, &[&data]);
            prop_assert_eq!(split, whole, "splitting the input into parts must not change the MAC");
            prop_assert_eq!(whole.is_ok(), iv.len() == key.algorithm().block_size());
            let _ = mac_iso9797_alg1(&key, &iv, &[a, b, c, d]);
            let _ = mac_iso9797_alg3(&key, &iv, &[a, b, c, d]);
            let _ = aes_cmac(&key, &[a, b, c, d]);
        }
    }
}
