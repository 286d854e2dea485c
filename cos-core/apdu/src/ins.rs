//! The instruction byte (INS).
//!
//! Responsibility: a plain newtype with named consts, so there is one representation per value
//! (no `Select` variant next to an `Unknown(0xA4)`), plus names for traces. Applets add their own
//! consts; the ones here are those the kernel dispatches: ISO/IEC 7816-4 §7 and the FMCOS-class
//! personalisation commands sent with the proprietary class (`80`/`84`).

/// An instruction code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ins(pub u8);

impl Ins {
    /// SELECT (ISO/IEC 7816-4 §7.1.1).
    pub const SELECT: Ins = Ins(0xA4);
    /// READ BINARY (ISO/IEC 7816-4 §7.2.3).
    pub const READ_BINARY: Ins = Ins(0xB0);
    /// WRITE BINARY (ISO/IEC 7816-4 §7.2.4).
    pub const WRITE_BINARY: Ins = Ins(0xD0);
    /// UPDATE BINARY (ISO/IEC 7816-4 §7.2.5).
    pub const UPDATE_BINARY: Ins = Ins(0xD6);
    /// ERASE BINARY (ISO/IEC 7816-4 §7.2.7); the same value is FMCOS ERASE DF with CLA `80`.
    pub const ERASE_BINARY: Ins = Ins(0x0E);
    /// READ RECORD (ISO/IEC 7816-4 §7.3.3).
    pub const READ_RECORD: Ins = Ins(0xB2);
    /// WRITE RECORD (ISO/IEC 7816-4 §7.3.4).
    pub const WRITE_RECORD: Ins = Ins(0xD2);
    /// UPDATE RECORD (ISO/IEC 7816-4 §7.3.5).
    pub const UPDATE_RECORD: Ins = Ins(0xDC);
    /// APPEND RECORD (ISO/IEC 7816-4 §7.3.6).
    pub const APPEND_RECORD: Ins = Ins(0xE2);
    /// GET DATA (ISO/IEC 7816-4 §7.4.2); PBOC also uses it with CLA `80`.
    pub const GET_DATA: Ins = Ins(0xCA);
    /// VERIFY (ISO/IEC 7816-4 §7.5.6).
    pub const VERIFY: Ins = Ins(0x20);
    /// CHANGE REFERENCE DATA (ISO/IEC 7816-4 §7.5.7).
    pub const CHANGE_REFERENCE_DATA: Ins = Ins(0x24);
    /// RESET RETRY COUNTER (ISO/IEC 7816-4 §7.5.10).
    pub const RESET_RETRY_COUNTER: Ins = Ins(0x2C);
    /// EXTERNAL AUTHENTICATE (ISO/IEC 7816-4 §7.5.4).
    pub const EXTERNAL_AUTHENTICATE: Ins = Ins(0x82);
    /// GET CHALLENGE (ISO/IEC 7816-4 §7.5.3).
    pub const GET_CHALLENGE: Ins = Ins(0x84);
    /// INTERNAL AUTHENTICATE (ISO/IEC 7816-4 §7.5.2).
    pub const INTERNAL_AUTHENTICATE: Ins = Ins(0x88);
    /// GET RESPONSE (ISO/IEC 7816-4 §7.6.1); served by the transport, never by handlers.
    pub const GET_RESPONSE: Ins = Ins(0xC0);
    /// MANAGE CHANNEL (ISO/IEC 7816-4 §7.1.2).
    pub const MANAGE_CHANNEL: Ins = Ins(0x70);

    /// FMCOS CREATE FILE (`80 E0`); ISO/IEC 7816-9 uses the same value for its CREATE FILE.
    pub const CREATE_FILE: Ins = Ins(0xE0);
    /// FMCOS WRITE KEY (`80|84 D4`).
    pub const WRITE_KEY: Ins = Ins(0xD4);
    /// FMCOS ERASE DF (`80 0E`): same value as ISO ERASE BINARY, told apart by the class.
    pub const ERASE_DF: Ins = Ins(0x0E);
    /// FMCOS/PBOC CHANGE PIN (`80 5E`, P1 `01`; P1 `00` is RELOAD PIN).
    pub const CHANGE_PIN: Ins = Ins(0x5E);
    /// FMCOS/PBOC CARD BLOCK (`84 16`).
    pub const CARD_BLOCK: Ins = Ins(0x16);
    /// FMCOS/PBOC APPLICATION UNBLOCK (`84 18`).
    pub const APPLICATION_UNBLOCK: Ins = Ins(0x18);
    /// FMCOS/PBOC APPLICATION BLOCK (`84 1E`).
    pub const APPLICATION_BLOCK: Ins = Ins(0x1E);

    /// ISO/IEC 7816-4 §5.1.2: `6X` and `9X` are invalid, because under T=0 (ISO/IEC 7816-3)
    /// they would be confused with the SW1 procedure bytes.
    pub const fn is_valid(self) -> bool {
        !matches!(self.0 & 0xF0, 0x60 | 0x90)
    }

    /// The command's name for traces. With `proprietary` (CLA b8 set) the FMCOS/PBOC meaning
    /// wins where it differs from ISO (e.g. `0E` is ERASE DF, not ERASE BINARY); values nobody
    /// here defines give `"UNKNOWN"`.
    pub fn name(self, proprietary: bool) -> &'static str {
        if proprietary {
            if let Some(name) = self.proprietary_name() {
                return name;
            }
        }
        self.interindustry_name().unwrap_or("UNKNOWN")
    }

    /// FMCOS personalisation and PBOC e-purse commands (JR/T 0025 Part 2), class `80`/`84`.
    fn proprietary_name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0E => "ERASE DF",
            0x16 => "CARD BLOCK",
            0x18 => "APPLICATION UNBLOCK",
            0x1E => "APPLICATION BLOCK",
            0x24 => "PIN UNBLOCK",
            0x50 => "INITIALIZE",
            0x52 => "CREDIT FOR LOAD",
            0x54 => "DEBIT",
            0x58 => "UPDATE OVERDRAW LIMIT",
            0x5A => "GET TRANSACTION PROOF",
            0x5C => "GET BALANCE",
            0x5E => "CHANGE PIN",
            0xD4 => "WRITE KEY",
            0xE0 => "CREATE FILE",
            _ => return None,
        })
    }

    /// ISO/IEC 7816-4 §7 (and the ISO/IEC 7816-9 file management commands).
    fn interindustry_name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x04 => "DEACTIVATE FILE",
            0x0C => "ERASE RECORD",
            0x0E | 0x0F => "ERASE BINARY",
            0x20 | 0x21 => "VERIFY",
            0x22 => "MANAGE SECURITY ENVIRONMENT",
            0x24 => "CHANGE REFERENCE DATA",
            0x26 => "DISABLE VERIFICATION REQUIREMENT",
            0x28 => "ENABLE VERIFICATION REQUIREMENT",
            0x2A => "PERFORM SECURITY OPERATION",
            0x2C => "RESET RETRY COUNTER",
            0x44 => "ACTIVATE FILE",
            0x46 => "GENERATE ASYMMETRIC KEY PAIR",
            0x70 => "MANAGE CHANNEL",
            0x82 => "EXTERNAL AUTHENTICATE",
            0x84 => "GET CHALLENGE",
            0x86 | 0x87 => "GENERAL AUTHENTICATE",
            0x88 => "INTERNAL AUTHENTICATE",
            0xA0 | 0xA1 => "SEARCH BINARY",
            0xA2 => "SEARCH RECORD",
            0xA4 => "SELECT",
            0xB0 | 0xB1 => "READ BINARY",
            0xB2 | 0xB3 => "READ RECORD",
            0xC0 => "GET RESPONSE",
            0xC2 | 0xC3 => "ENVELOPE",
            0xCA | 0xCB => "GET DATA",
            0xD0 | 0xD1 => "WRITE BINARY",
            0xD2 => "WRITE RECORD",
            0xD6 | 0xD7 => "UPDATE BINARY",
            0xDA | 0xDB => "PUT DATA",
            0xDC | 0xDD => "UPDATE RECORD",
            0xE0 => "CREATE FILE",
            0xE2 => "APPEND RECORD",
            0xE4 => "DELETE FILE",
            0xE6 => "TERMINATE DF",
            0xE8 => "TERMINATE EF",
            0xFE => "TERMINATE CARD USAGE",
            _ => return None,
        })
    }
}

impl From<u8> for Ins {
    fn from(v: u8) -> Ins {
        Ins(v)
    }
}

impl From<Ins> for u8 {
    fn from(ins: Ins) -> u8 {
        ins.0
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    #[test]
    fn validity_of_all_256_values() {
        for v in 0..=255u8 {
            let expected = !(0x60..=0x6F).contains(&v) && !(0x90..=0x9F).contains(&v);
            assert_eq!(Ins(v).is_valid(), expected, "{v:02X}");
            assert!(!Ins(v).name(false).is_empty());
            assert!(!Ins(v).name(true).is_empty());
        }
    }

    #[test]
    fn names_depend_on_class_only_where_they_differ() {
        assert_eq!(Ins::SELECT.name(false), "SELECT");
        assert_eq!(Ins::SELECT.name(true), "SELECT");
        assert_eq!(Ins::ERASE_BINARY.name(false), "ERASE BINARY");
        assert_eq!(Ins::ERASE_DF.name(true), "ERASE DF");
        assert_eq!(Ins::CREATE_FILE.name(true), "CREATE FILE");
        assert_eq!(Ins::WRITE_KEY.name(true), "WRITE KEY");
        assert_eq!(Ins::WRITE_KEY.name(false), "UNKNOWN");
        assert_eq!(Ins::CHANGE_PIN.name(true), "CHANGE PIN");
        assert_eq!(Ins::CARD_BLOCK.name(true), "CARD BLOCK");
        assert_eq!(Ins::APPLICATION_BLOCK.name(true), "APPLICATION BLOCK");
        assert_eq!(Ins::APPLICATION_UNBLOCK.name(true), "APPLICATION UNBLOCK");
        assert_eq!(Ins::GET_RESPONSE.name(false), "GET RESPONSE");
        assert_eq!(Ins(0x01).name(false), "UNKNOWN");
        assert_eq!(u8::from(Ins::from(0xB2)), 0xB2);
    }

    #[test]
    fn every_const_is_a_valid_instruction() {
        for ins in [
            Ins::SELECT,
            Ins::READ_BINARY,
            Ins::WRITE_BINARY,
            Ins::UPDATE_BINARY,
            Ins::ERASE_BINARY,
            Ins::READ_RECORD,
            Ins::WRITE_RECORD,
            Ins::UPDATE_RECORD,
            Ins::APPEND_RECORD,
            Ins::GET_DATA,
            Ins::VERIFY,
            Ins::CHANGE_REFERENCE_DATA,
            Ins::RESET_RETRY_COUNTER,
            Ins::EXTERNAL_AUTHENTICATE,
            Ins::GET_CHALLENGE,
            Ins::INTERNAL_AUTHENTICATE,
            Ins::GET_RESPONSE,
            Ins::MANAGE_CHANNEL,
            Ins::CREATE_FILE,
            Ins::WRITE_KEY,
            Ins::ERASE_DF,
            Ins::CHANGE_PIN,
            Ins::CARD_BLOCK,
            Ins::APPLICATION_UNBLOCK,
            Ins::APPLICATION_BLOCK,
        ] {
            assert!(ins.is_valid(), "{ins:?}");
            assert_ne!(ins.name(true), "UNKNOWN", "{ins:?}");
        }
    }
}
