//! The application's own commands, parsed from a kernel [`Command`].
//!
//! Types encode the specification's restrictions (class, P1-P2, secure messaging present);
//! handlers in [`crate::applet`] encode our policy (rights, MAC, business rules). Everything else —
//! SELECT, READ / UPDATE RECORD, READ / UPDATE BINARY, VERIFY, CHANGE / RELOAD PIN, GET CHALLENGE,
//! EXTERNAL / INTERNAL AUTHENTICATE — is the kernel's and never reaches the applet.

use crate::element::Tag;
use cos_core::apdu::{Command, Ins, Sw};

/// INS of SETTLE (proprietary class, always with a line-protection MAC: `84 4C 00 00`).
pub const INS_SETTLE: Ins = Ins(0x4C);

/// A command for this applet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiCommand {
    /// GET DATA `00 CA 00 tag Le`: one data element by its tag.
    GetData {
        /// The element asked for.
        tag: Tag,
    },
    /// SETTLE `84 4C 00 00 Lc settlement ‖ MAC Le`: record a settlement in the medical-insurance
    /// DF (the data is checked by the handler, after the MAC).
    Settle,
}

impl TryFrom<&Command<'_>> for SiCommand {
    type Error = Sw;

    fn try_from(cmd: &Command<'_>) -> Result<Self, Sw> {
        let cla = cmd.cla();
        match (cla.is_proprietary(), cmd.ins()) {
            (false, Ins::GET_DATA) => {
                if cla.has_sm() {
                    return Err(Sw::SECURE_MESSAGING_NOT_SUPPORTED);
                }
                if cmd.p1() != 0 || cmd.p2() == 0x00 || cmd.p2() == 0xFF {
                    return Err(Sw::INCORRECT_P1P2);
                }
                if !cmd.data().is_empty() {
                    return Err(Sw::WRONG_LENGTH);
                }
                Ok(SiCommand::GetData { tag: Tag(cmd.p2()) })
            }
            (true, INS_SETTLE) => {
                // A settlement stripped of its MAC is refused like any plain write to a
                // line-protected file.
                if !cla.has_sm() {
                    return Err(Sw::SECURITY_STATUS_NOT_SATISFIED);
                }
                if cmd.p1p2() != 0 {
                    return Err(Sw::INCORRECT_P1P2);
                }
                Ok(SiCommand::Settle)
            }
            _ => Err(Sw::INS_NOT_SUPPORTED),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Result<SiCommand, Sw> {
        SiCommand::try_from(&Command::parse(b).unwrap())
    }

    #[test]
    fn parsing() {
        assert_eq!(
            parse(&[0x00, 0xCA, 0x00, 0x09, 0x00]),
            Ok(SiCommand::GetData { tag: Tag::NAME })
        );
        assert_eq!(
            parse(&[0x00, 0xCA, 0x01, 0x09, 0x00]),
            Err(Sw::INCORRECT_P1P2)
        );
        assert_eq!(
            parse(&[0x00, 0xCA, 0x00, 0x00, 0x00]),
            Err(Sw::INCORRECT_P1P2)
        );
        assert_eq!(
            parse(&[0x00, 0xCA, 0x00, 0x09, 0x01, 0x00, 0x00]),
            Err(Sw::WRONG_LENGTH)
        );
        assert_eq!(
            parse(&[0x04, 0xCA, 0x00, 0x09, 0x00]),
            Err(Sw::SECURE_MESSAGING_NOT_SUPPORTED)
        );
        assert_eq!(
            parse(&[0x84, 0x4C, 0x00, 0x00, 0x04, 1, 2, 3, 4]),
            Ok(SiCommand::Settle)
        );
        assert_eq!(
            parse(&[0x80, 0x4C, 0x00, 0x00, 0x04, 1, 2, 3, 4]),
            Err(Sw::SECURITY_STATUS_NOT_SATISFIED)
        );
        assert_eq!(
            parse(&[0x84, 0x4C, 0x00, 0x01, 0x04, 1, 2, 3, 4]),
            Err(Sw::INCORRECT_P1P2)
        );
        assert_eq!(parse(&[0x00, 0x4C, 0x00, 0x00]), Err(Sw::INS_NOT_SUPPORTED));
        assert_eq!(
            parse(&[0x80, 0xCA, 0x00, 0x09, 0x00]),
            Err(Sw::INS_NOT_SUPPORTED)
        );
    }
}
