//! Card life cycle (ISO/IEC 7816-4 §5.3.3.2 LCS values) and what each state permits.
//!
//! * **pre-personalised** (LCS 01, creation): as delivered by the chip maker; the MF key file holds
//!   the transport key, whose next state meets the MF's create/erase rights.
//! * **personalised** (LCS 03, initialisation): entered by the first CREATE FILE; the issuer builds
//!   the structure and writes keys with plain or secured commands.
//! * **issued** (LCS 05, operational): entered by ACTIVATE FILE on the MF. The structure is frozen:
//!   CREATE FILE, ERASE DF and WRITE KEY need secure messaging (issuer key) on top of their rights,
//!   and access rights are enforced even in a DF that has no key file.
//! * **terminated** (LCS 0F): after CARD BLOCK. Every command answers 6A81.

/// The card's life-cycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CardState {
    /// Delivered by the chip maker, transport key in place.
    PrePersonalised,
    /// Being personalised by the issuer.
    Personalised,
    /// In the holder's hands.
    Issued,
    /// Blocked for good by CARD BLOCK.
    Terminated,
}

impl CardState {
    /// Stored LCS byte.
    pub const fn lcs(self) -> u8 {
        match self {
            CardState::PrePersonalised => 0x01,
            CardState::Personalised => 0x03,
            CardState::Issued => 0x05,
            CardState::Terminated => 0x0F,
        }
    }

    /// Decode a stored LCS byte.
    pub const fn from_lcs(b: u8) -> Option<CardState> {
        Some(match b {
            0x01 => CardState::PrePersonalised,
            0x03 => CardState::Personalised,
            0x05 => CardState::Issued,
            0x0F => CardState::Terminated,
            _ => return None,
        })
    }

    /// Structural commands (CREATE FILE, ERASE DF, WRITE KEY) must come with secure messaging.
    pub const fn structure_needs_sm(self) -> bool {
        matches!(self, CardState::Issued)
    }

    /// A DF without a key file enforces no rights only before issue.
    pub const fn rights_enforced_without_key_file(self) -> bool {
        matches!(self, CardState::Issued | CardState::Terminated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcs_round_trip() {
        for s in [
            CardState::PrePersonalised,
            CardState::Personalised,
            CardState::Issued,
            CardState::Terminated,
        ] {
            assert_eq!(CardState::from_lcs(s.lcs()), Some(s));
        }
        assert_eq!(CardState::from_lcs(0x00), None);
    }
}
