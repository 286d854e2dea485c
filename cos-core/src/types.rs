//! Small typed values shared by the kernel modules: access rights and security levels.

/// A security level of the FMCOS security-status register (0..=15), set by VERIFY and EXTERNAL
/// AUTHENTICATE to the "next state" of the PIN or key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Level(u8);

impl Level {
    /// The power-on level.
    pub const ZERO: Level = Level(0);
    /// A level from a nibble (the high nibble is ignored).
    pub const fn new(v: u8) -> Level {
        Level(v & 0x0F)
    }
    /// The raw value.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// FMCOS access-right byte `XY` (our reading, recorded in `docs/commands.md`):
/// * `X = 0`: the MF's security level must be ≥ `Y` (issuer rights that hold in every DF);
/// * otherwise the current DF's level must lie in `[Y, X]`.
///
/// So `F0` (and `00`) are free and `EF` (`Y > X`) can never be met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessRight(pub u8);

impl AccessRight {
    /// Always satisfied.
    pub const FREE: AccessRight = AccessRight(0xF0);
    /// Never satisfied.
    pub const NEVER: AccessRight = AccessRight(0xEF);

    /// Whether the right is met by the given levels.
    #[inline(never)]
    pub const fn satisfied_by(self, mf: Level, df: Level) -> bool {
        let x = self.0 >> 4;
        let y = self.0 & 0x0F;
        if x == 0 {
            mf.0 >= y
        } else {
            y <= df.0 && df.0 <= x
        }
    }

    /// Whether no level can ever meet it.
    pub const fn is_never(self) -> bool {
        let x = self.0 >> 4;
        x != 0 && (self.0 & 0x0F) > x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_rights_over_all_levels() {
        for raw in 0..=255u8 {
            let ar = AccessRight(raw);
            let (x, y) = (raw >> 4, raw & 0xF);
            for mf in 0..16 {
                for df in 0..16 {
                    let want = if x == 0 {
                        mf >= y
                    } else {
                        (y..=x).contains(&df)
                    };
                    assert_eq!(
                        ar.satisfied_by(Level::new(mf), Level::new(df)),
                        want,
                        "{raw:02X} {mf} {df}"
                    );
                }
            }
        }
        assert!(AccessRight::FREE.satisfied_by(Level::ZERO, Level::ZERO));
        assert!(AccessRight(0x00).satisfied_by(Level::ZERO, Level::ZERO));
        assert!(AccessRight::NEVER.is_never());
        assert!(!AccessRight::FREE.is_never());
        assert!(!AccessRight(0x0F).is_never());
    }
}
