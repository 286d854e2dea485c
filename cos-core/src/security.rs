//! The security status: what the holder and the terminal have proved since power-on.
//!
//! Responsibility and invariants: RAM only (never persisted), owned by the kernel, and cleared by
//! the kernel at power-on, warm reset and every change of current DF, so no applet can forget to
//! clear it. It holds the MF's level (which FMCOS rights with `X = 0` test from any DF), the current
//! DF's level, and the challenge of the last GET CHALLENGE, which lives for exactly one command.

use crate::types::{AccessRight, Level};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Longest challenge GET CHALLENGE hands out (one SM4/AES block).
pub const MAX_CHALLENGE: usize = 16;

/// A card challenge (GET CHALLENGE), wiped when dropped.
#[derive(Clone, Zeroize, PartialEq, Eq)]
pub struct Challenge {
    bytes: [u8; MAX_CHALLENGE],
    len: u8,
}

/// Wipes on drop through one out-of-line call (the derived drop was inlined at every use).
impl Drop for Challenge {
    #[inline(never)]
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for Challenge {}

impl core::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Challenge({} bytes)", self.len)
    }
}

impl Challenge {
    /// A challenge from random bytes (at most [`MAX_CHALLENGE`], longer input is cut).
    pub fn new(random: &[u8]) -> Challenge {
        let mut bytes = [0u8; MAX_CHALLENGE];
        let n = random.len().min(MAX_CHALLENGE);
        for (d, s) in bytes.iter_mut().zip(random.iter()).take(n) {
            *d = *s;
        }
        Challenge {
            bytes,
            len: n as u8,
        }
    }

    /// The random bytes as handed out.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The challenge right-padded with zeros to `block` bytes: the IV of line protection and the
    /// plaintext of EXTERNAL AUTHENTICATE (FMCOS: 4 random bytes ‖ 00 00 00 00).
    pub fn padded(&self, block: usize) -> [u8; MAX_CHALLENGE] {
        let mut out = [0u8; MAX_CHALLENGE];
        let n = usize::from(self.len).min(block);
        for (d, s) in out.iter_mut().zip(self.bytes.iter()).take(n) {
            *d = *s;
        }
        out
    }
}

/// Security levels reached since power-on, and the pending challenge.
#[derive(Clone, Debug, Default)]
pub struct SecurityStatus {
    mf: Level,
    df: Level,
    in_mf: bool,
    challenge: Option<Challenge>,
}

impl SecurityStatus {
    /// The power-on status: nothing proved, current DF the MF.
    pub fn new() -> Self {
        SecurityStatus {
            mf: Level::ZERO,
            df: Level::ZERO,
            in_mf: true,
            challenge: None,
        }
    }

    /// The current DF changed: a DF's level starts at zero each time it is entered. The MF's level
    /// belongs to the whole session (FMCOS rights `0Y` test it from any DF), so going back to the
    /// MF finds it as it was; only power-on and reset clear it.
    pub fn enter_df(&mut self, is_mf: bool) {
        self.in_mf = is_mf;
        self.df = if is_mf { self.mf } else { Level::ZERO };
    }

    /// The MF's level.
    pub fn mf_level(&self) -> Level {
        self.mf
    }

    /// The current DF's level.
    pub fn df_level(&self) -> Level {
        self.df
    }

    /// VERIFY or EXTERNAL AUTHENTICATE succeeded: the register takes the key's next state.
    pub fn set_level(&mut self, level: Level) {
        self.df = level;
        if self.in_mf {
            self.mf = level;
        }
    }

    /// Whether an access right is met now.
    #[inline(never)]
    pub fn satisfies(&self, right: AccessRight) -> bool {
        right.satisfied_by(self.mf_level(), self.df)
    }

    /// Store a fresh challenge (GET CHALLENGE).
    pub fn set_challenge(&mut self, c: Challenge) {
        self.challenge = Some(c);
    }

    /// Take the challenge: it serves exactly one command after GET CHALLENGE.
    pub fn take_challenge(&mut self) -> Option<Challenge> {
        self.challenge.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_df_changes() {
        let mut s = SecurityStatus::new();
        s.set_level(Level::new(0xF));
        assert_eq!(s.mf_level(), Level::new(0xF));
        s.enter_df(false);
        assert_eq!(s.df_level(), Level::ZERO);
        assert_eq!(s.mf_level(), Level::new(0xF), "MF level carries into a DF");
        assert!(s.satisfies(AccessRight(0x0F)));
        assert!(!s.satisfies(AccessRight(0x11)));
        s.set_level(Level::new(1));
        assert!(s.satisfies(AccessRight(0x11)));
        assert_eq!(s.mf_level(), Level::new(0xF));
        s.enter_df(true);
        assert_eq!(
            s.mf_level(),
            Level::new(0xF),
            "the MF level lasts the session"
        );
        assert_eq!(s.df_level(), Level::new(0xF));
        s.enter_df(false);
        assert_eq!(
            s.df_level(),
            Level::ZERO,
            "a DF's level restarts at every entry"
        );
    }

    #[test]
    fn challenge_lives_one_command() {
        let mut s = SecurityStatus::new();
        s.set_challenge(Challenge::new(&[1, 2, 3, 4]));
        let c = s.take_challenge();
        assert_eq!(c.as_ref().map(|c| c.as_bytes().len()), Some(4));
        assert_eq!(
            c.map(|c| c.padded(8)),
            Some([1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        );
        assert!(s.take_challenge().is_none());
    }
}
