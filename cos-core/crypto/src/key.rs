//! Secret keys and raw block encryption (single block and ECB).
//!
//! Responsibility: hold key bytes of a validated length for one [`Algorithm`], wipe them when the key is
//! dropped or explicitly zeroized, never reveal them through `Debug`, and encrypt/decrypt whole blocks.
//! Invariant: `len` is 0 (after zeroize) or a length valid for `alg` (8 or 16 for 3DES, 16 otherwise), and
//! `bytes[len..]` is all zero.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::engine::Engine;
use crate::{Algorithm, CryptoError, MAX_KEY_LEN};

/// Secret key, wiped on drop.
///
/// [`Algorithm::Tdes`] accepts 8 bytes (single DES) or 16 bytes (2-key 3DES EDE, `K_L ‖ K_R`);
/// [`Algorithm::Sm4`] and [`Algorithm::Aes`] accept 16 bytes. DES parity bits are ignored, as the cards do.
/// After [`Zeroize::zeroize`] the key is empty and every operation with it fails with
/// [`CryptoError::KeyLength`].
#[derive(Clone, Zeroize)]
pub struct Key {
    #[zeroize(skip)]
    alg: Algorithm,
    bytes: [u8; MAX_KEY_LEN],
    len: usize,
}

/// Wipes on drop through one out-of-line call (the derived drop was inlined at every use).
impl Drop for Key {
    #[inline(never)]
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for Key {}

impl fmt::Debug for Key {
    /// Shows the algorithm and length only: key bytes must never reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("algorithm", &self.alg)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Copies `bytes` into a new key after checking the length against `alg`.
    ///
    /// # Errors
    /// [`CryptoError::KeyLength`] if the length is not 8 or 16 for 3DES, or not 16 for SM4 / AES.
    pub fn new(alg: Algorithm, bytes: &[u8]) -> Result<Self, CryptoError> {
        let valid = match alg {
            Algorithm::Tdes => matches!(bytes.len(), 8 | 16),
            Algorithm::Sm4 | Algorithm::Aes => bytes.len() == 16,
        };
        if !valid {
            return Err(CryptoError::KeyLength);
        }
        let mut key = Self {
            alg,
            bytes: [0; MAX_KEY_LEN],
            len: bytes.len(),
        };
        key.bytes
            .iter_mut()
            .zip(bytes)
            .for_each(|(dst, src)| *dst = *src);
        Ok(key)
    }

    /// The cipher family this key belongs to.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Key length in bytes (8 or 16; 0 after [`Zeroize::zeroize`]).
    #[allow(clippy::len_without_is_empty)] // a live key is never empty; only a wiped one is
    pub fn len(&self) -> usize {
        self.len
    }

    /// The raw key bytes. **Sensitive**: only for persisting the key in NVM or handing it to the simulator;
    /// never log them, and wipe any copy.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// The keyed cipher for this key (an 8-byte 3DES key is single DES).
    pub(crate) fn engine(&self) -> Result<Engine, CryptoError> {
        Engine::new(self.alg, self.as_bytes())
    }

    /// Encrypts one block in place.
    ///
    /// # Errors
    /// [`CryptoError::DataLength`] unless `block.len()` equals the block size; [`CryptoError::KeyLength`]
    /// for a zeroized key.
    pub fn encrypt_block(&self, block: &mut [u8]) -> Result<(), CryptoError> {
        self.engine()?.encrypt(block)
    }

    /// Decrypts one block in place.
    ///
    /// # Errors
    /// As for [`Key::encrypt_block`].
    pub fn decrypt_block(&self, block: &mut [u8]) -> Result<(), CryptoError> {
        self.engine()?.decrypt(block)
    }

    /// Encrypts `data` in place in ECB mode, without padding (the caller pads, e.g. the secure-messaging
    /// `Ld ‖ data ‖ 80 00…` block). Empty data is allowed and left unchanged.
    ///
    /// # Errors
    /// [`CryptoError::DataLength`] unless `data.len()` is a multiple of the block size (nothing is changed
    /// then); [`CryptoError::KeyLength`] for a zeroized key.
    pub fn encrypt_ecb(&self, data: &mut [u8]) -> Result<(), CryptoError> {
        let engine = self.engine()?;
        let bs = engine.block_size();
        if !data.len().is_multiple_of(bs) {
            return Err(CryptoError::DataLength);
        }
        data.chunks_exact_mut(bs)
            .try_for_each(|block| engine.encrypt(block))
    }

    /// Decrypts `data` in place in ECB mode, without removing padding.
    ///
    /// # Errors
    /// As for [`Key::encrypt_ecb`].
    pub fn decrypt_ecb(&self, data: &mut [u8]) -> Result<(), CryptoError> {
        let engine = self.engine()?;
        let bs = engine.block_size();
        if !data.len().is_multiple_of(bs) {
            return Err(CryptoError::DataLength);
        }
        data.chunks_exact_mut(bs)
            .try_for_each(|block| engine.decrypt(block))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::testutil::{hex, Writer};
    use proptest::prelude::*;

    fn sm4_gbt_key() -> Key {
        Key::new(
            Algorithm::Sm4,
            &hex::<16>("0123456789abcdeffedcba9876543210"),
        )
        .unwrap()
    }

    /// GB/T 32907-2016 appendix A, example 1: key = plaintext.
    #[test]
    fn sm4_gbt32907_example1() {
        let key = sm4_gbt_key();
        let mut block = hex::<16>("0123456789abcdeffedcba9876543210");
        key.encrypt_block(&mut block).unwrap();
        assert_eq!(block, hex::<16>("681edf34d206965e86b3e94f536e4246"));
        key.decrypt_block(&mut block).unwrap();
        assert_eq!(block, hex::<16>("0123456789abcdeffedcba9876543210"));
    }

    /// GB/T 32907-2016 appendix A, example 2: the plaintext encrypted 1 000 000 times.
    /// Slow in debug builds; run it with
    /// `cargo test -p cos-crypto --release -- --ignored sm4_gbt32907_example2`.
    #[test]
    #[ignore = "1 000 000 SM4 encryptions; run in release with --ignored"]
    fn sm4_gbt32907_example2() {
        let key = sm4_gbt_key();
        let mut block = hex::<16>("0123456789abcdeffedcba9876543210");
        for _ in 0..1_000_000 {
            key.encrypt_block(&mut block).unwrap();
        }
        assert_eq!(block, hex::<16>("595298c7c6fd271f0402f804c33d3f66"));
    }

    /// FIPS 197 appendix C.1 (AES-128).
    #[test]
    fn aes_fips197_c1() {
        let key = Key::new(
            Algorithm::Aes,
            &hex::<16>("000102030405060708090a0b0c0d0e0f"),
        )
        .unwrap();
        let mut block = hex::<16>("00112233445566778899aabbccddeeff");
        key.encrypt_block(&mut block).unwrap();
        assert_eq!(block, hex::<16>("69c4e0d86a7b0430d8cdb78070b4c55a"));
        key.decrypt_block(&mut block).unwrap();
        assert_eq!(block, hex::<16>("00112233445566778899aabbccddeeff"));
    }

    /// FIPS 46 / the classic DES example (key 133457799BBCDFF1, "0123456789ABCDEF" → 85E813540F0AB405),
    /// re-checked with `echo 0123456789ABCDEF | xxd -r -p | openssl enc -provider legacy -provider default
    /// -des-ecb -K 133457799BBCDFF1 -nopad | xxd -p`.
    #[test]
    fn single_des_known_answer() {
        let key = Key::new(Algorithm::Tdes, &hex::<8>("133457799BBCDFF1")).unwrap();
        let mut block = hex::<8>("0123456789ABCDEF");
        key.encrypt_block(&mut block).unwrap();
        assert_eq!(block, hex::<8>("85E813540F0AB405"));
    }

    /// 2-key 3DES: `echo 0000000000000001fffffffffffffffe | xxd -r -p | openssl enc -des-ede-ecb
    /// -K 11223344556677888877665544332211 -nopad | xxd -p` → 6b3c059dba642950 91c3f108689c120a.
    #[test]
    fn tdes_ecb_known_answer() {
        let key = Key::new(
            Algorithm::Tdes,
            &hex::<16>("11223344556677888877665544332211"),
        )
        .unwrap();
        let mut data = hex::<16>("0000000000000001fffffffffffffffe");
        key.encrypt_ecb(&mut data).unwrap();
        assert_eq!(data, hex::<16>("6b3c059dba64295091c3f108689c120a"));
        key.decrypt_ecb(&mut data).unwrap();
        assert_eq!(data, hex::<16>("0000000000000001fffffffffffffffe"));
    }

    #[test]
    fn key_lengths_are_checked() {
        for len in 0..=32 {
            let bytes = [0x5Au8; 32];
            let ok = Key::new(Algorithm::Tdes, &bytes[..len]);
            assert_eq!(ok.is_ok(), len == 8 || len == 16, "tdes {len}");
            for alg in [Algorithm::Sm4, Algorithm::Aes] {
                let r = Key::new(alg, &bytes[..len]);
                match r {
                    Ok(k) => assert_eq!((len, k.len(), k.as_bytes()), (16, 16, &bytes[..16])),
                    Err(e) => assert_eq!(e, CryptoError::KeyLength),
                }
            }
        }
    }

    #[test]
    fn block_and_ecb_lengths_are_checked() {
        for (alg, klen) in [
            (Algorithm::Tdes, 8),
            (Algorithm::Tdes, 16),
            (Algorithm::Sm4, 16),
            (Algorithm::Aes, 16),
        ] {
            let key = Key::new(alg, &[0x42; 16][..klen]).unwrap();
            let bs = alg.block_size();
            let mut buf = [0xA5u8; 40];
            for len in 0..=40 {
                let before = buf;
                let block = key.encrypt_block(&mut buf[..len]);
                assert_eq!(block.is_ok(), len == bs, "{alg:?} {len}");
                if len != bs {
                    assert_eq!(block, Err(CryptoError::DataLength));
                    assert_eq!(
                        key.decrypt_block(&mut buf[..len]),
                        Err(CryptoError::DataLength)
                    );
                    assert_eq!(buf, before, "a refused block must stay untouched");
                }
                let ecb = key.encrypt_ecb(&mut buf[..len]);
                if len % bs == 0 {
                    assert!(ecb.is_ok());
                } else {
                    assert_eq!(ecb, Err(CryptoError::DataLength));
                    assert_eq!(
                        key.decrypt_ecb(&mut buf[..len]),
                        Err(CryptoError::DataLength)
                    );
                }
            }
        }
    }

    #[test]
    fn debug_does_not_print_key_bytes() {
        let key = Key::new(Algorithm::Sm4, &[0xAB; 16]).unwrap();
        let mut out = [0u8; 128];
        let mut w = Writer::new(&mut out);
        core::fmt::write(&mut w, format_args!("{key:?}")).unwrap();
        let text = w.as_str();
        assert!(text.contains("Sm4") && text.contains("16"), "{text}");
        assert!(!text.contains("171"), "{text}");
    }

    #[test]
    fn zeroize_clears_the_key() {
        let mut key = Key::new(
            Algorithm::Tdes,
            &hex::<16>("11223344556677888877665544332211"),
        )
        .unwrap();
        key.zeroize();
        assert_eq!(key.bytes, [0u8; MAX_KEY_LEN]);
        assert_eq!(key.len(), 0);
        assert!(key.as_bytes().is_empty());
        assert_eq!(key.algorithm(), Algorithm::Tdes);
        assert_eq!(key.encrypt_block(&mut [0; 8]), Err(CryptoError::KeyLength));
    }

    fn any_key() -> impl Strategy<Value = Key> {
        (
            prop_oneof![
                Just((Algorithm::Tdes, 8usize)),
                Just((Algorithm::Tdes, 16)),
                Just((Algorithm::Sm4, 16)),
                Just((Algorithm::Aes, 16)),
            ],
            any::<[u8; 16]>(),
        )
            .prop_map(|((alg, len), bytes)| Key::new(alg, &bytes[..len]).unwrap())
    }

    proptest! {
        #[test]
        fn ecb_round_trip(key in any_key(), data in any::<[u8; 64]>(), blocks in 0usize..=4) {
            let len = blocks * key.algorithm().block_size();
            let mut buf = data;
            key.encrypt_ecb(&mut buf[..len]).unwrap();
            if len > 0 {
                prop_assert_ne!(&buf[..len], &data[..len]);
            }
            key.decrypt_ecb(&mut buf[..len]).unwrap();
            prop_assert_eq!(buf, data);
        }
    }
}
