//! Line protection (FMCOS secure messaging) on CLA 04 / 84 / 0C.
//!
//! Responsibility: check the 4-byte MAC that ends the command data and, for encrypted commands,
//! recover the plaintext. The MAC is computed over `CLA INS P1 P2 Lc ‖ data` (Lc counting the MAC
//! bytes, data without them), padded with ISO/IEC 9797-1 method 2, chained from IV = the last
//! challenge right-padded with zeros to the block size, under the DF's line-protection key (the
//! key's algorithm picks 3DES retail MAC, SM4 CBC-MAC or AES-CMAC). Encrypted data is
//! `E(Ld ‖ plaintext ‖ 80 00…)` in ECB under the DF's encryption key (type 35), or the
//! line-protection key when the DF has none. The MAC is checked first, in constant time, and the
//! challenge is spent whatever the outcome.

use crate::keys::KeyRecord;
use crate::security::Challenge;
use cos_apdu::{Command, Sw};
use cos_crypto::ct_eq;
use heapless::{Vec, VecView};

/// Longest plaintext secure messaging can carry (short APDU: 255 − 4 MAC bytes).
pub const MAX_SM_DATA: usize = 251;

/// Length of the line-protection MAC.
pub const MAC_LEN: usize = 4;

/// Split `data ‖ MAC` and check the MAC. Returns the protected data (still encrypted if it was).
pub fn verify_mac<'a>(
    cmd: &Command<'a>,
    key: &KeyRecord,
    challenge: &Challenge,
) -> Result<&'a [u8], Sw> {
    let data = cmd.data();
    if cmd.is_extended() {
        return Err(Sw::SM_DATA_OBJECTS_INCORRECT);
    }
    let split = data
        .len()
        .checked_sub(MAC_LEN)
        .ok_or(Sw::SM_DATA_OBJECTS_MISSING)?;
    let (body, mac) = data.split_at(split);
    let lc = u8::try_from(data.len()).map_err(|_| Sw::WRONG_LENGTH)?;
    let k = key.crypto_key()?;
    let block = k.algorithm().block_size();
    let iv = challenge.padded(block);
    let iv = iv.get(..block).ok_or(Sw::SM_DATA_OBJECTS_INCORRECT)?;
    let header = cmd.header();
    let expected = k
        .mac(iv, &[&header, &[lc], body])
        .map_err(|_| Sw::SM_DATA_OBJECTS_INCORRECT)?;
    if ct_eq(&expected.first4(), mac) {
        Ok(body)
    } else {
        Err(Sw::SM_DATA_OBJECTS_INCORRECT)
    }
}

/// Decrypt `Ld ‖ plaintext ‖ 80 00…` and return the plaintext.
pub fn decrypt(key: &KeyRecord, enc: &[u8]) -> Result<Vec<u8, MAX_SM_DATA>, Sw> {
    let mut out = Vec::new();
    decrypt_into(key, enc, &mut out)?;
    Ok(out)
}

/// [`decrypt`] into `out` (emptied first), in place: the cryptogram is copied into `out`,
/// decrypted there and the plaintext moved to its front, so no second buffer lives on the stack
/// (the chip's deepest stack path is a WRITE KEY with encrypted key data). On any error `out` is
/// left empty; every byte past the plaintext is wiped.
pub fn decrypt_into<const N: usize>(
    key: &KeyRecord,
    enc: &[u8],
    out: &mut Vec<u8, N>,
) -> Result<(), Sw> {
    decrypt_view(key, enc, out.as_mut_view())
}

/// [`decrypt_into`] for any capacity (one copy of the code for every buffer size).
fn decrypt_view(key: &KeyRecord, enc: &[u8], out: &mut VecView<u8>) -> Result<(), Sw> {
    let k = key.crypto_key()?;
    out.clear();
    out.extend_from_slice(enc)
        .map_err(|_| Sw::SM_DATA_OBJECTS_INCORRECT)?;
    let plain_len = k
        .decrypt_ecb(out)
        .map_err(|_| Sw::SM_DATA_OBJECTS_INCORRECT)
        .and_then(|()| {
            let (&ld, rest) = out.split_first().ok_or(Sw::SM_DATA_OBJECTS_INCORRECT)?;
            let ld = usize::from(ld);
            let pad = rest.get(ld..).ok_or(Sw::SM_DATA_OBJECTS_INCORRECT)?;
            // Padding method 2, and no more than one block of it.
            let ok = pad.first() == Some(&0x80)
                && pad.iter().skip(1).all(|&b| b == 0)
                && pad.len() <= k.algorithm().block_size()
                && ld <= MAX_SM_DATA;
            if ok {
                Ok(ld)
            } else {
                Err(Sw::SM_DATA_OBJECTS_INCORRECT)
            }
        });
    match plain_len {
        Ok(ld) => {
            out.copy_within(1..=ld, 0);
            if let Some(tail) = out.get_mut(ld..) {
                zeroize::Zeroize::zeroize(tail);
            }
            out.truncate(ld);
            Ok(())
        }
        Err(sw) => {
            zeroize::Zeroize::zeroize(out.as_mut_slice());
            out.clear();
            Err(sw)
        }
    }
}
