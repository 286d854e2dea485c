//! Reference terminals: the host side of every transaction, written from the specifications.
//!
//! Each terminal holds the issuer's (PSAM's) master keys from the profile, diversifies them for the
//! card in front of it by the ASN the card reports, computes MACs with [`crate::hostcrypto`]
//! (RustCrypto, no card code), verifies what the card returns (MAC2, TAC …) and reports any
//! mismatch or refusal as an error.

pub mod door;
pub mod hospital;
pub mod library;
pub mod purse;
pub mod transit;

/// Find a (possibly nested) BER-TLV data object in an FCI or template, host side (the card's own
/// TLV code is not used by terminals).
pub fn find_tag(data: &[u8], wanted: u16) -> Option<&[u8]> {
    let mut i = 0;
    while i < data.len() {
        let first = *data.get(i)?;
        let (tag, tl) = if first & 0x1F == 0x1F {
            (u16::from_be_bytes([first, *data.get(i + 1)?]), 2)
        } else {
            (u16::from(first), 1)
        };
        i += tl;
        let (len, ll) = match *data.get(i)? {
            0x81 => (usize::from(*data.get(i + 1)?), 2),
            0x82 => (
                usize::from(u16::from_be_bytes([*data.get(i + 1)?, *data.get(i + 2)?])),
                3,
            ),
            l if l < 0x80 => (usize::from(l), 1),
            _ => return None,
        };
        i += ll;
        let value = data.get(i..i + len)?;
        if tag == wanted {
            return Some(value);
        }
        let constructed = (if tag > 0xFF {
            (tag >> 8) as u8
        } else {
            tag as u8
        }) & 0x20
            != 0;
        if constructed {
            if let Some(v) = find_tag(value, wanted) {
                return Some(v);
            }
        }
        i += len;
    }
    None
}
