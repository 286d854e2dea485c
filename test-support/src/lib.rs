//! One integration-test harness for the kernel and the applets: a formatted card in RAM driven
//! by APDUs ([`Card`]), hex and APDU helpers, and the host side of the PBOC purse crypto
//! ([`purse`]). Each crate's `tests/common/mod.rs` keeps only its own profile (applets, keys,
//! personalisation) on top of this.
//!
//! The host crypto uses the RustCrypto ciphers directly, never `cos-crypto`, so that it stays an
//! oracle independent of the card's code.
// Test support: a failed unwrap, expectation or index is a failed test, reported with its place.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod card;
pub mod purse;

pub use card::{
    assert_same_image, formatted_nvm, Card, Nvm, MASTER_KEY, PAGE, SIZE, TRANSPORT_KEY,
};
pub use purse::cat;

/// Bytes from hex; white space is ignored (`"00A4 0400"`).
pub fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(s).unwrap()
}

/// A 4-byte big-endian field.
pub fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().unwrap())
}

/// A 3-byte big-endian field.
pub fn be24(b: &[u8]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

/// Declares a harness's own card type: a newtype around [`Card`] that derefs to it, so that the
/// harness adds its profile's methods (and may shadow a shared one with its own signature) while
/// every shared method stays callable as before.
///
/// ```
/// use cos_core::SeededRng;
///
/// cos_test_support::card_newtype!(pub struct Card(SeededRng));
///
/// impl Card {
///     pub fn blank() -> Card {
///         Card(cos_test_support::Card::blank(SeededRng::new(1), Vec::new()))
///     }
/// }
///
/// let mut c = Card::blank();
/// assert_eq!(c.sw("00A4 0000 02 3F00"), 0x9000);
/// ```
#[macro_export]
macro_rules! card_newtype {
    ($(#[$meta:meta])* $vis:vis struct $name:ident($rng:ty)$(;)?) => {
        $(#[$meta])*
        $vis struct $name(pub $crate::Card<$rng>);

        impl ::core::ops::Deref for $name {
            type Target = $crate::Card<$rng>;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl ::core::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }
    };
}
