//! APDU types for the citizen-card COS: status words, class and instruction bytes, command
//! parsing, response writing, BER-TLV, typed identifiers and the APDU-level transport
//! (`61xx`/GET RESPONSE and command chaining).
//!
//! Everything here is `no_std`, allocation-free and panic-free: malformed input always maps to a
//! status word. Section numbers cite ISO/IEC 7816-4:2005 and ISO/IEC 7816-3:2006; PBOC values
//! cite JR/T 0025.
//!
//! ```
//! use cos_apdu::{Command, Ins, Response, Sw, Transport};
//!
//! let mut transport = Transport::new();
//! let mut out = [0u8; 258];
//! // SELECT the MF by FID, asking for the FCI (Le 00).
//! let n = transport.transmit(&[0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00, 0x00], &mut out, |cmd, resp| {
//!     if cmd.ins() != Ins::SELECT {
//!         return Err(Sw::INS_NOT_SUPPORTED);
//!     }
//!     resp.tlv(0x6F, &[0x84, 0x02, 0x3F, 0x00]).map_err(|_| Sw::WRONG_LENGTH)?;
//!     Ok(Sw::SUCCESS)
//! });
//! assert_eq!(&out[..n], &[0x6F, 0x04, 0x84, 0x02, 0x3F, 0x00, 0x90, 0x00]);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod cla;
pub mod command;
pub mod ids;
pub mod ins;
pub mod response;
pub mod sw;
pub mod tlv;
pub mod transport;

pub use cla::{Cla, SecureMessaging};
pub use command::{Case, Command, Ne};
pub use ids::{Aid, AidCategory, Fid, RecordNumber, Sfi};
pub use ins::Ins;
pub use response::{Overflow, Response, TlvMark};
pub use sw::Sw;
pub use tlv::{tlv_iter, TlvError, TlvIter};
pub use transport::{Protocol, Transport, MAX_COMMAND_DATA, MAX_RESPONSE_DATA};
