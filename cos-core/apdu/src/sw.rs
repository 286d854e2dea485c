//! Status words (SW1-SW2), the two trailer bytes of every response APDU.
//!
//! Responsibility: one open newtype, [`Sw`], able to hold every one of the 65,536 values, with
//! exactly one representation per value, so that `u16 → Sw → bytes → Sw → u16` is the identity.
//! Well-known values are `pub const`s named after ISO/IEC 7816-4 §5.1.3 (Tables 5 and 6) and after
//! the JR/T 0025 (PBOC) e-purse table; they work as `match` patterns. Names and descriptions come
//! from a single table generated together with the consts, so the two cannot drift apart.

use core::fmt;

/// A status word: SW1 in the high byte, SW2 in the low byte.
///
/// Open by design (ISO/IEC 7816-4 §5.1.3 leaves much of the space to applications), so there is no
/// catch-all variant and no lossy conversion: every `u16` is a valid `Sw` and converts back unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sw(pub u16);

/// Declares the named status words once: the consts and the name/description table come from the
/// same list, so a const cannot exist without its name, nor a name with a different value.
macro_rules! status_words {
    ($( $name:ident = $value:literal, $desc:literal, $cite:literal; )*) => {
        impl Sw {
            $(
                #[doc = concat!("`", stringify!($value), "`: ", $desc, " (", $cite, ").")]
                pub const $name: Sw = Sw($value);
            )*
        }

        /// `(status word, const name, description)` for every fixed named value.
        const TABLE: &[(Sw, &str, &str)] = &[ $( (Sw::$name, stringify!($name), $desc), )* ];
    };
}

status_words! {
    SUCCESS = 0x9000, "normal processing, no further qualification", "ISO/IEC 7816-4 §5.1.3 Table 5";

    WARNING_NVM_UNCHANGED = 0x6200, "warning, non-volatile memory unchanged, no information given", "ISO/IEC 7816-4 §5.1.3 Table 6";
    DATA_MAY_BE_CORRUPTED = 0x6281, "part of returned data may be corrupted", "ISO/IEC 7816-4 §5.1.3 Table 6";
    END_OF_FILE_REACHED = 0x6282, "end of file or record reached before reading Ne bytes", "ISO/IEC 7816-4 §5.1.3 Table 6";
    SELECTED_FILE_INVALIDATED = 0x6283, "selected file invalidated", "ISO/IEC 7816-4 §5.1.3 Table 6";
    FCI_NOT_FORMATTED = 0x6284, "file control information not formatted according to ISO/IEC 7816-4", "ISO/IEC 7816-4 §5.1.3 Table 6";
    SELECTED_FILE_TERMINATED = 0x6285, "selected file in termination state", "ISO/IEC 7816-4 §5.1.3 Table 6";
    NO_SENSOR_DATA = 0x6286, "no input data available from a sensor on the card", "ISO/IEC 7816-4 §5.1.3 Table 6";
    WARNING_NVM_CHANGED = 0x6300, "warning, non-volatile memory changed, no information given", "ISO/IEC 7816-4 §5.1.3 Table 6";
    FILE_FILLED_UP = 0x6381, "file filled up by the last write", "ISO/IEC 7816-4 §5.1.3 Table 6";

    EXECUTION_ERROR = 0x6400, "execution error, non-volatile memory unchanged", "ISO/IEC 7816-4 §5.1.3 Table 6";
    IMMEDIATE_RESPONSE_REQUIRED = 0x6401, "immediate response required by the card", "ISO/IEC 7816-4 §5.1.3 Table 6";
    ERROR_NVM_CHANGED = 0x6500, "execution error, non-volatile memory changed, no information given", "ISO/IEC 7816-4 §5.1.3 Table 6";
    MEMORY_FAILURE = 0x6581, "memory failure", "ISO/IEC 7816-4 §5.1.3 Table 6";

    WRONG_LENGTH = 0x6700, "wrong length", "ISO/IEC 7816-4 §5.1.3 Table 5";
    CLA_FUNCTION_NOT_SUPPORTED = 0x6800, "functions in CLA not supported, no information given", "ISO/IEC 7816-4 §5.1.3 Table 6";
    LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881, "logical channel not supported", "ISO/IEC 7816-4 §5.1.3 Table 6";
    SECURE_MESSAGING_NOT_SUPPORTED = 0x6882, "secure messaging not supported", "ISO/IEC 7816-4 §5.1.3 Table 6";
    LAST_COMMAND_OF_CHAIN_EXPECTED = 0x6883, "last command of the chain expected", "ISO/IEC 7816-4 §5.1.3 Table 6";
    COMMAND_CHAINING_NOT_SUPPORTED = 0x6884, "command chaining not supported", "ISO/IEC 7816-4 §5.1.3 Table 6";
    COMMAND_NOT_ALLOWED = 0x6900, "command not allowed, no information given", "ISO/IEC 7816-4 §5.1.3 Table 6";
    COMMAND_INCOMPATIBLE_WITH_FILE = 0x6981, "command incompatible with file structure", "ISO/IEC 7816-4 §5.1.3 Table 6";
    SECURITY_STATUS_NOT_SATISFIED = 0x6982, "security status not satisfied", "ISO/IEC 7816-4 §5.1.3 Table 6";
    AUTH_METHOD_BLOCKED = 0x6983, "authentication method blocked", "ISO/IEC 7816-4 §5.1.3 Table 6";
    REFERENCE_DATA_NOT_USABLE = 0x6984, "reference data not usable", "ISO/IEC 7816-4 §5.1.3 Table 6";
    CONDITIONS_NOT_SATISFIED = 0x6985, "conditions of use not satisfied", "ISO/IEC 7816-4 §5.1.3 Table 6";
    COMMAND_NOT_ALLOWED_NO_CURRENT_EF = 0x6986, "command not allowed (no current EF)", "ISO/IEC 7816-4 §5.1.3 Table 6";
    SM_DATA_OBJECTS_MISSING = 0x6987, "expected secure messaging data objects missing", "ISO/IEC 7816-4 §5.1.3 Table 6";
    SM_DATA_OBJECTS_INCORRECT = 0x6988, "incorrect secure messaging data objects", "ISO/IEC 7816-4 §5.1.3 Table 6";
    WRONG_PARAMETERS = 0x6A00, "wrong parameters P1-P2, no information given", "ISO/IEC 7816-4 §5.1.3 Table 6";
    WRONG_DATA = 0x6A80, "incorrect parameters in the command data field", "ISO/IEC 7816-4 §5.1.3 Table 6";
    FUNCTION_NOT_SUPPORTED = 0x6A81, "function not supported", "ISO/IEC 7816-4 §5.1.3 Table 6";
    FILE_NOT_FOUND = 0x6A82, "file or application not found", "ISO/IEC 7816-4 §5.1.3 Table 6";
    RECORD_NOT_FOUND = 0x6A83, "record not found", "ISO/IEC 7816-4 §5.1.3 Table 6";
    NOT_ENOUGH_MEMORY = 0x6A84, "not enough memory space in the file", "ISO/IEC 7816-4 §5.1.3 Table 6";
    NC_INCONSISTENT_WITH_TLV = 0x6A85, "Nc inconsistent with TLV structure", "ISO/IEC 7816-4 §5.1.3 Table 6";
    INCORRECT_P1P2 = 0x6A86, "incorrect parameters P1-P2", "ISO/IEC 7816-4 §5.1.3 Table 6";
    NC_INCONSISTENT_WITH_P1P2 = 0x6A87, "Nc inconsistent with parameters P1-P2", "ISO/IEC 7816-4 §5.1.3 Table 6";
    REFERENCED_DATA_NOT_FOUND = 0x6A88, "referenced data or reference data not found", "ISO/IEC 7816-4 §5.1.3 Table 6";
    FILE_ALREADY_EXISTS = 0x6A89, "file already exists", "ISO/IEC 7816-4 §5.1.3 Table 6";
    DF_NAME_ALREADY_EXISTS = 0x6A8A, "DF name already exists", "ISO/IEC 7816-4 §5.1.3 Table 6";
    WRONG_P1P2 = 0x6B00, "wrong parameters P1-P2", "ISO/IEC 7816-4 §5.1.3 Table 5";
    INS_NOT_SUPPORTED = 0x6D00, "instruction code not supported or invalid", "ISO/IEC 7816-4 §5.1.3 Table 5";
    CLA_NOT_SUPPORTED = 0x6E00, "class not supported", "ISO/IEC 7816-4 §5.1.3 Table 5";
    UNKNOWN = 0x6F00, "no precise diagnosis", "ISO/IEC 7816-4 §5.1.3 Table 5";

    PBOC_MAC_INVALID = 0x9302, "MAC invalid", "JR/T 0025 Part 2, status words";
    PBOC_APPLICATION_LOCKED = 0x9303, "application permanently locked", "JR/T 0025 Part 2, status words";
    PBOC_INSUFFICIENT_FUNDS = 0x9401, "insufficient funds", "JR/T 0025 Part 2, status words";
    PBOC_COUNTER_LIMIT = 0x9402, "transaction counter reached its limit", "JR/T 0025 Part 2, status words";
    PBOC_KEY_INDEX_NOT_SUPPORTED = 0x9403, "key index not supported", "JR/T 0025 Part 2, status words";
    PBOC_NO_TRANSACTION = 0x9406, "required MAC unavailable (no initialised transaction)", "JR/T 0025 Part 2, status words";
}

/// SW1 of "SW2 bytes still available" (ISO/IEC 7816-4 §5.1.3 Table 5).
const SW1_BYTES_AVAILABLE: u8 = 0x61;
/// SW1 of "wrong Le field; SW2 gives the exact length" (ISO/IEC 7816-4 §5.1.3 Table 5).
const SW1_WRONG_LE: u8 = 0x6C;
/// SW1-SW2 high nibble of "counter from 0 to 15 encoded by x" (ISO/IEC 7816-4 §5.1.3 Table 6).
const RETRIES_LEFT_BASE: u16 = 0x63C0;

impl Sw {
    /// `61xx`: the command succeeded and `n` response bytes are waiting for GET RESPONSE;
    /// `n = 0` means 256 or more (ISO/IEC 7816-4 §5.1.3 Table 5).
    pub const fn bytes_available(n: u8) -> Sw {
        Sw(u16::from_be_bytes([SW1_BYTES_AVAILABLE, n]))
    }

    /// `6Cxx`: wrong Le, `n` is the exact number of available bytes, so the terminal can resend
    /// (ISO/IEC 7816-4 §5.1.3 Table 5). Handlers return it; the transport only passes it through.
    pub const fn wrong_le(n: u8) -> Sw {
        Sw(u16::from_be_bytes([SW1_WRONG_LE, n]))
    }

    /// `63Cx`: verification failed, `n` tries remain; `n` is clamped to 15 because only a nibble is
    /// available (ISO/IEC 7816-4 §5.1.3 Table 6).
    pub const fn retries_left(n: u8) -> Sw {
        let n = if n > 15 { 15 } else { n };
        Sw(RETRIES_LEFT_BASE | n as u16)
    }

    /// SW1, the high byte.
    pub const fn sw1(self) -> u8 {
        self.to_bytes()[0]
    }

    /// SW2, the low byte.
    pub const fn sw2(self) -> u8 {
        self.to_bytes()[1]
    }

    /// The trailer as transmitted: SW1 then SW2.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// The inverse of [`Sw::to_bytes`], for every input.
    pub const fn from_bytes(b: [u8; 2]) -> Sw {
        Sw(u16::from_be_bytes(b))
    }

    /// `9000` or `61xx`: ISO/IEC 7816-4 §5.1.3 Table 5 calls both "normal processing".
    pub const fn is_success(self) -> bool {
        self.0 == 0x9000 || self.sw1() == SW1_BYTES_AVAILABLE
    }

    /// `62xx` or `63xx`: "warning processing" (ISO/IEC 7816-4 §5.1.3 Table 5); response data may be
    /// present, unlike with errors.
    pub const fn is_warning(self) -> bool {
        matches!(self.sw1(), 0x62 | 0x63)
    }

    /// Everything that is neither success nor warning, including proprietary values such as the
    /// PBOC `93xx`/`94xx` errors; exactly one of the three predicates holds for every value.
    pub const fn is_error(self) -> bool {
        !self.is_success() && !self.is_warning()
    }

    /// For `63Cx`, the remaining tries `x`.
    pub const fn retries(self) -> Option<u8> {
        if self.0 & 0xFFF0 == RETRIES_LEFT_BASE {
            Some(self.sw2() & 0x0F)
        } else {
            None
        }
    }

    /// The const name (`"SECURITY_STATUS_NOT_SATISFIED"`), or for the parameterised ranges
    /// `"BYTES_AVAILABLE"`, `"WRONG_LE"`, `"RETRIES_LEFT"`; `None` for unnamed values.
    pub fn name(self) -> Option<&'static str> {
        self.lookup().map(|(name, _)| name)
    }

    /// The meaning in words, after ISO/IEC 7816-4 §5.1.3 (or JR/T 0025), for traces;
    /// `"unknown status"` for unnamed values.
    pub fn description(self) -> &'static str {
        self.lookup().map_or("unknown status", |(_, desc)| desc)
    }

    fn lookup(self) -> Option<(&'static str, &'static str)> {
        if self.sw1() == SW1_BYTES_AVAILABLE {
            return Some(("BYTES_AVAILABLE", "response bytes still available"));
        }
        if self.sw1() == SW1_WRONG_LE {
            return Some(("WRONG_LE", "wrong Le field, SW2 gives the exact length"));
        }
        if self.retries().is_some() {
            return Some(("RETRIES_LEFT", "verification failed, x tries left"));
        }
        TABLE
            .iter()
            .find(|(sw, _, _)| *sw == self)
            .map(|&(_, name, desc)| (name, desc))
    }
}

impl fmt::Debug for Sw {
    /// `Sw(6982 SECURITY_STATUS_NOT_SATISFIED)`, or `Sw(1234)` for unnamed values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "Sw({:04X} {})", self.0, name),
            None => write!(f, "Sw({:04X})", self.0),
        }
    }
}

impl fmt::Display for Sw {
    /// Four upper-case hex digits, as in traces and specifications: `6982`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl From<u16> for Sw {
    fn from(v: u16) -> Sw {
        Sw(v)
    }
}

impl From<Sw> for u16 {
    fn from(sw: Sw) -> u16 {
        sw.0
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
    use std::collections::HashSet;
    use std::format;

    #[test]
    fn every_value_round_trips_and_is_classified_once() {
        for v in 0..=u16::MAX {
            let sw = Sw::from(v);
            assert_eq!(u16::from(sw), v);
            assert_eq!(Sw::from_bytes(sw.to_bytes()), sw);
            assert_eq!(sw.to_bytes(), [(v >> 8) as u8, v as u8]);
            assert_eq!(u16::from_be_bytes([sw.sw1(), sw.sw2()]), v);
            let _ = sw.name();
            assert!(!sw.description().is_empty());
            // Independent expectation straight from ISO/IEC 7816-4 Table 5.
            let sw1 = (v >> 8) as u8;
            let success = v == 0x9000 || sw1 == 0x61;
            let warning = sw1 == 0x62 || sw1 == 0x63;
            assert_eq!(sw.is_success(), success, "{v:04X}");
            assert_eq!(sw.is_warning(), warning, "{v:04X}");
            assert_eq!(sw.is_error(), !success && !warning, "{v:04X}");
            let count = [sw.is_success(), sw.is_warning(), sw.is_error()]
                .iter()
                .filter(|b| **b)
                .count();
            assert_eq!(count, 1);
            assert_eq!(format!("{sw}"), format!("{v:04X}"));
        }
    }

    #[test]
    fn table_has_unique_values_and_names() {
        let values: HashSet<u16> = TABLE.iter().map(|(sw, _, _)| sw.0).collect();
        let names: HashSet<&str> = TABLE.iter().map(|(_, n, _)| *n).collect();
        assert_eq!(values.len(), TABLE.len());
        assert_eq!(names.len(), TABLE.len());
        for (sw, name, desc) in TABLE {
            assert_eq!(sw.name(), Some(*name));
            assert_eq!(sw.description(), *desc);
            // The parameterised ranges are not in the fixed table.
            assert!(sw.sw1() != 0x61 && sw.sw1() != 0x6C && sw.retries().is_none());
        }
    }

    #[test]
    fn named_values_match_iso_table() {
        let expected: &[(Sw, u16)] = &[
            (Sw::SUCCESS, 0x9000),
            (Sw::DATA_MAY_BE_CORRUPTED, 0x6281),
            (Sw::END_OF_FILE_REACHED, 0x6282),
            (Sw::SELECTED_FILE_INVALIDATED, 0x6283),
            (Sw::MEMORY_FAILURE, 0x6581),
            (Sw::WRONG_LENGTH, 0x6700),
            (Sw::LOGICAL_CHANNEL_NOT_SUPPORTED, 0x6881),
            (Sw::SECURE_MESSAGING_NOT_SUPPORTED, 0x6882),
            (Sw::LAST_COMMAND_OF_CHAIN_EXPECTED, 0x6883),
            (Sw::COMMAND_CHAINING_NOT_SUPPORTED, 0x6884),
            (Sw::COMMAND_INCOMPATIBLE_WITH_FILE, 0x6981),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, 0x6982),
            (Sw::AUTH_METHOD_BLOCKED, 0x6983),
            (Sw::REFERENCE_DATA_NOT_USABLE, 0x6984),
            (Sw::CONDITIONS_NOT_SATISFIED, 0x6985),
            (Sw::COMMAND_NOT_ALLOWED_NO_CURRENT_EF, 0x6986),
            (Sw::SM_DATA_OBJECTS_MISSING, 0x6987),
            (Sw::SM_DATA_OBJECTS_INCORRECT, 0x6988),
            (Sw::WRONG_DATA, 0x6A80),
            (Sw::FUNCTION_NOT_SUPPORTED, 0x6A81),
            (Sw::FILE_NOT_FOUND, 0x6A82),
            (Sw::RECORD_NOT_FOUND, 0x6A83),
            (Sw::NOT_ENOUGH_MEMORY, 0x6A84),
            (Sw::NC_INCONSISTENT_WITH_TLV, 0x6A85),
            (Sw::INCORRECT_P1P2, 0x6A86),
            (Sw::NC_INCONSISTENT_WITH_P1P2, 0x6A87),
            (Sw::REFERENCED_DATA_NOT_FOUND, 0x6A88),
            (Sw::FILE_ALREADY_EXISTS, 0x6A89),
            (Sw::DF_NAME_ALREADY_EXISTS, 0x6A8A),
            (Sw::WRONG_P1P2, 0x6B00),
            (Sw::INS_NOT_SUPPORTED, 0x6D00),
            (Sw::CLA_NOT_SUPPORTED, 0x6E00),
            (Sw::UNKNOWN, 0x6F00),
            (Sw::PBOC_MAC_INVALID, 0x9302),
            (Sw::PBOC_APPLICATION_LOCKED, 0x9303),
            (Sw::PBOC_INSUFFICIENT_FUNDS, 0x9401),
            (Sw::PBOC_COUNTER_LIMIT, 0x9402),
            (Sw::PBOC_KEY_INDEX_NOT_SUPPORTED, 0x9403),
            (Sw::PBOC_NO_TRANSACTION, 0x9406),
        ];
        for (sw, v) in expected {
            assert_eq!(sw.0, *v);
            assert!(sw.name().is_some());
        }
    }

    #[test]
    fn parameterised_constructors() {
        assert_eq!(Sw::bytes_available(0x2C), Sw(0x612C));
        assert_eq!(Sw::bytes_available(0), Sw(0x6100));
        assert_eq!(Sw::wrong_le(0x10), Sw(0x6C10));
        assert_eq!(Sw::retries_left(3), Sw(0x63C3));
        assert_eq!(Sw::retries_left(15), Sw(0x63CF));
        assert_eq!(Sw::retries_left(200), Sw(0x63CF));
        assert_eq!(Sw::retries_left(0), Sw(0x63C0));
        assert_eq!(Sw(0x63C2).retries(), Some(2));
        assert_eq!(Sw(0x6300).retries(), None);
        assert_eq!(Sw(0x61FF).name(), Some("BYTES_AVAILABLE"));
        assert_eq!(Sw(0x6C01).name(), Some("WRONG_LE"));
        assert_eq!(Sw(0x63C7).name(), Some("RETRIES_LEFT"));
        assert!(Sw::bytes_available(7).is_success());
        assert!(Sw::retries_left(1).is_warning());
        assert!(Sw::wrong_le(1).is_error());
    }

    #[test]
    fn debug_and_display() {
        assert_eq!(
            format!("{:?}", Sw::SECURITY_STATUS_NOT_SATISFIED),
            "Sw(6982 SECURITY_STATUS_NOT_SATISFIED)"
        );
        assert_eq!(format!("{:?}", Sw(0x1234)), "Sw(1234)");
        assert_eq!(format!("{:?}", Sw(0x612C)), "Sw(612C BYTES_AVAILABLE)");
        assert_eq!(format!("{}", Sw::WRONG_DATA), "6A80");
        assert_eq!(
            Sw::SECURITY_STATUS_NOT_SATISFIED.description(),
            "security status not satisfied"
        );
        assert_eq!(Sw(0x1234).description(), "unknown status");
    }

    #[test]
    fn consts_are_match_patterns() {
        let classify = |sw: Sw| match sw {
            Sw::SUCCESS => 0,
            Sw::WRONG_LENGTH => 1,
            _ => 2,
        };
        assert_eq!(classify(Sw(0x9000)), 0);
        assert_eq!(classify(Sw(0x6700)), 1);
        assert_eq!(classify(Sw(0x6701)), 2);
    }
}
