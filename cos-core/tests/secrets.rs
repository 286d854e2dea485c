//! Secret hygiene (`docs/reliability.md`, "Secrets"): every type that holds key material, a PIN
//! or a session key wipes itself when dropped, and secret comparisons go through the
//! constant-time `ct_eq`. The wipe-on-drop property is checked at compile time (a type that lost
//! its `ZeroizeOnDrop` stops this file from building); explicit wipes are checked at run time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use cos_core::commands::Payload;
use cos_core::crypto::{ct_eq, Algorithm, Key};
use cos_core::keys::KeyRecord;
use cos_core::security::Challenge;
use zeroize::{Zeroize, ZeroizeOnDrop};

fn wiped_on_drop<T: ZeroizeOnDrop>() {}

#[test]
fn secret_holders_wipe_themselves_on_drop() {
    // Stored keys and PINs as read from a key file, every cipher / session / TAC key, and the
    // card challenge (the IV of line protection).
    wiped_on_drop::<KeyRecord>();
    wiped_on_drop::<Key>();
    wiped_on_drop::<Challenge>();
    // A command payload (WRITE KEY's key value after SM decryption) has a wiping Drop.
    assert!(std::mem::needs_drop::<Payload>());
}

#[test]
fn an_explicit_wipe_leaves_nothing_usable() {
    let mut pin =
        KeyRecord::parse_write_key(0, &[0x3A, 0xF0, 0xEF, 0x01, 0x33, 0x12, 0x34, 0x56]).unwrap();
    assert_eq!(pin.value(), &[0x12, 0x34, 0x56]);
    pin.zeroize();
    assert!(pin.value().is_empty(), "no PIN digits left");
    let mut key = Key::new(Algorithm::Sm4, &[0x5A; 16]).unwrap();
    key.zeroize();
    assert_eq!(key.len(), 0);
    assert!(
        key.encrypt_block(&mut [0u8; 16]).is_err(),
        "a wiped key cannot be used"
    );
}

#[test]
fn ct_eq_compares_every_byte_and_the_length() {
    let mac = [0x12, 0x34, 0x56, 0x78];
    assert!(ct_eq(&mac, &mac));
    for i in 0..4 {
        for bit in 0..8 {
            let mut other = mac;
            other[i] ^= 1 << bit;
            assert!(!ct_eq(&mac, &other), "byte {i} bit {bit}");
        }
    }
    assert!(!ct_eq(&mac, &mac[..3]));
    // The MAC type compares through it too.
    let k = Key::new(Algorithm::Tdes, &[0x11; 16]).unwrap();
    let a = k.mac(&[0; 8], &[b"abc"]).unwrap();
    let b = k.mac(&[0; 8], &[b"abd"]).unwrap();
    assert!(a == a && a != b);
}
