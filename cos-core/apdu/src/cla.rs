//! The class byte (CLA): command chaining, secure messaging and logical channel.
//!
//! Responsibility: decide once, at parse time, whether a CLA value is acceptable, and decode its
//! bits for the rest of the kernel. Invariant: a [`Cla`] only exists for a value [`Cla::parse`]
//! accepted, so its accessors never fail.
//!
//! Policy (ISO/IEC 7816-4 §5.1.1, Tables 2 and 3):
//!
//! | range         | reading                                                                   |
//! |---------------|---------------------------------------------------------------------------|
//! | `00`–`1F`     | first interindustry: b5 chaining, b4–b3 SM, b2–b1 channel 0–3             |
//! | `20`–`3F`     | reserved for future use by ISO/IEC JTC 1/SC 17: refused with `6E00`       |
//! | `40`–`7F`     | further interindustry: b6 SM (header not processed), b5 chaining, b4–b1 channel 4–19 |
//! | `80`–`FE`     | proprietary, read like the first range (PBOC/FMCOS use `80`, and `84` = proprietary SM) |
//! | `FF`          | invalid (ISO/IEC 7816-3 reserves it for PPS): refused with `6E00`         |
//!
//! In the proprietary range b7–b6 are ignored: GlobalPlatform-style and FMCOS cards only give
//! meaning to the low five bits, and refusing e.g. `A0` or `C0` would break nothing we need.

use core::fmt;

use crate::sw::Sw;

/// Secure messaging indication of the class byte (ISO/IEC 7816-4 §5.1.1 Table 2, §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecureMessaging {
    /// No SM or no indication.
    None,
    /// Proprietary SM format: PBOC/FMCOS line protection uses it (`04`, `84`).
    Proprietary,
    /// SM according to ISO/IEC 7816-4 §6, command header not processed (not authenticated).
    HeaderNotAuthenticated,
    /// SM according to ISO/IEC 7816-4 §6, command header authenticated.
    HeaderAuthenticated,
}

/// Chaining control, bit b5 in every range we accept (ISO/IEC 7816-4 §5.1.1.1).
const CHAINING_BIT: u8 = 0x10;

/// A validated class byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cla {
    raw: u8,
}

impl Cla {
    /// `00`: interindustry, basic channel, no SM, last or only command of a chain.
    pub const INTERINDUSTRY: Cla = Cla { raw: 0x00 };
    /// `80`: the proprietary class PBOC and FMCOS use for their own instructions.
    pub const PROPRIETARY: Cla = Cla { raw: 0x80 };

    /// ISO/IEC 7816-4 §5.1.1: accepts the interindustry ranges `00`–`1F` and `40`–`7F` and the
    /// proprietary range `80`–`FE`; `20`–`3F` (reserved for future use) and `FF` (invalid per
    /// ISO/IEC 7816-3) give `CLA_NOT_SUPPORTED` (`6E00`). See the module docs for the bit layout.
    pub const fn parse(raw: u8) -> Result<Cla, Sw> {
        match raw {
            0x20..=0x3F | 0xFF => Err(Sw::CLA_NOT_SUPPORTED),
            _ => Ok(Cla { raw }),
        }
    }

    /// The byte as received.
    pub const fn raw(self) -> u8 {
        self.raw
    }

    /// Bit b8 set: the proprietary class (ISO/IEC 7816-4 §5.1.1), where the INS values are the
    /// issuer's (FMCOS, PBOC) rather than ISO's.
    pub const fn is_proprietary(self) -> bool {
        self.raw & 0x80 != 0
    }

    /// The further interindustry range `40`–`7F` (ISO/IEC 7816-4 §5.1.1 Table 3).
    const fn is_further_interindustry(self) -> bool {
        self.raw & 0xC0 == 0x40
    }

    /// The SM indication (ISO/IEC 7816-4 §5.1.1 Tables 2 and 3).
    #[inline(never)]
    pub const fn secure_messaging(self) -> SecureMessaging {
        if self.is_further_interindustry() {
            // Table 3 has a single SM bit, b6, meaning "SM according to §6, header not processed".
            if self.raw & 0x20 != 0 {
                SecureMessaging::HeaderNotAuthenticated
            } else {
                SecureMessaging::None
            }
        } else {
            match (self.raw >> 2) & 0x03 {
                0 => SecureMessaging::None,
                1 => SecureMessaging::Proprietary,
                2 => SecureMessaging::HeaderNotAuthenticated,
                _ => SecureMessaging::HeaderAuthenticated,
            }
        }
    }

    /// Any kind of secure messaging indicated.
    pub const fn has_sm(self) -> bool {
        !matches!(self.secure_messaging(), SecureMessaging::None)
    }

    /// The logical channel number, 0–3 in the first range and 4–19 in the further range
    /// (ISO/IEC 7816-4 §5.1.1.2).
    pub const fn channel(self) -> u8 {
        if self.is_further_interindustry() {
            (self.raw & 0x0F) + 4
        } else {
            self.raw & 0x03
        }
    }

    /// "Not the last command of a chain" (ISO/IEC 7816-4 §5.1.1.1).
    pub const fn is_chained(self) -> bool {
        self.raw & CHAINING_BIT != 0
    }

    /// The same class with the chaining bit cleared: what the reassembled command carries, and
    /// what two fragments of one chain must agree on.
    pub const fn without_chaining(self) -> Cla {
        Cla {
            raw: self.raw & !CHAINING_BIT,
        }
    }
}

impl fmt::Debug for Cla {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cla({:02X})", self.raw)
    }
}

impl TryFrom<u8> for Cla {
    type Error = Sw;
    fn try_from(raw: u8) -> Result<Cla, Sw> {
        Cla::parse(raw)
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
    use std::vec::Vec;

    /// The expected decoding of all 256 CLA values, written as a 16 × 16 grid (row = high nibble,
    /// column = low nibble) from ISO/IEC 7816-4 Tables 2 and 3 by hand, independently of the code.
    /// Each cell: SM (`N` none, `P` proprietary, `H` header not authenticated, `A` header
    /// authenticated), two-digit channel, `+` chained / `-` last; `xxxx` = refused with 6E00.
    const GRID: [&str; 16] = [
        "N00- N01- N02- N03- P00- P01- P02- P03- H00- H01- H02- H03- A00- A01- A02- A03-",
        "N00+ N01+ N02+ N03+ P00+ P01+ P02+ P03+ H00+ H01+ H02+ H03+ A00+ A01+ A02+ A03+",
        "xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx",
        "xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx xxxx",
        "N04- N05- N06- N07- N08- N09- N10- N11- N12- N13- N14- N15- N16- N17- N18- N19-",
        "N04+ N05+ N06+ N07+ N08+ N09+ N10+ N11+ N12+ N13+ N14+ N15+ N16+ N17+ N18+ N19+",
        "H04- H05- H06- H07- H08- H09- H10- H11- H12- H13- H14- H15- H16- H17- H18- H19-",
        "H04+ H05+ H06+ H07+ H08+ H09+ H10+ H11+ H12+ H13+ H14+ H15+ H16+ H17+ H18+ H19+",
        "N00- N01- N02- N03- P00- P01- P02- P03- H00- H01- H02- H03- A00- A01- A02- A03-",
        "N00+ N01+ N02+ N03+ P00+ P01+ P02+ P03+ H00+ H01+ H02+ H03+ A00+ A01+ A02+ A03+",
        "N00- N01- N02- N03- P00- P01- P02- P03- H00- H01- H02- H03- A00- A01- A02- A03-",
        "N00+ N01+ N02+ N03+ P00+ P01+ P02+ P03+ H00+ H01+ H02+ H03+ A00+ A01+ A02+ A03+",
        "N00- N01- N02- N03- P00- P01- P02- P03- H00- H01- H02- H03- A00- A01- A02- A03-",
        "N00+ N01+ N02+ N03+ P00+ P01+ P02+ P03+ H00+ H01+ H02+ H03+ A00+ A01+ A02+ A03+",
        "N00- N01- N02- N03- P00- P01- P02- P03- H00- H01- H02- H03- A00- A01- A02- A03-",
        "N00+ N01+ N02+ N03+ P00+ P01+ P02+ P03+ H00+ H01+ H02+ H03+ A00+ A01+ A02+ A03+ xxxx",
    ];

    #[test]
    fn full_256_entry_table() {
        let mut checked = 0;
        for (row, line) in GRID.iter().enumerate() {
            let cells: Vec<&str> = line.split_whitespace().collect();
            // The last row has a 17th cell: FF overrides F-row column F.
            for col in 0..16 {
                let raw = (row * 16 + col) as u8;
                let cell = if raw == 0xFF { cells[16] } else { cells[col] };
                let parsed = Cla::parse(raw);
                if cell == "xxxx" {
                    assert_eq!(parsed, Err(Sw::CLA_NOT_SUPPORTED), "{raw:02X}");
                    checked += 1;
                    continue;
                }
                let cla = parsed.unwrap_or_else(|e| panic!("{raw:02X}: {e:?}"));
                let sm = match &cell[0..1] {
                    "N" => SecureMessaging::None,
                    "P" => SecureMessaging::Proprietary,
                    "H" => SecureMessaging::HeaderNotAuthenticated,
                    "A" => SecureMessaging::HeaderAuthenticated,
                    other => panic!("bad cell {other}"),
                };
                let channel: u8 = cell[1..3].parse().unwrap();
                let chained = &cell[3..4] == "+";
                assert_eq!(cla.raw(), raw);
                assert_eq!(cla.secure_messaging(), sm, "{raw:02X}");
                assert_eq!(cla.has_sm(), sm != SecureMessaging::None, "{raw:02X}");
                assert_eq!(cla.channel(), channel, "{raw:02X}");
                assert_eq!(cla.is_chained(), chained, "{raw:02X}");
                assert_eq!(cla.is_proprietary(), row >= 8, "{raw:02X}");
                let plain = cla.without_chaining();
                assert!(!plain.is_chained());
                assert_eq!(plain.channel(), channel);
                assert_eq!(plain.secure_messaging(), sm);
                assert_eq!(plain.raw(), raw & !0x10);
                checked += 1;
            }
        }
        assert_eq!(checked, 256);
    }

    #[test]
    fn pboc_classes() {
        let c80 = Cla::parse(0x80).unwrap();
        assert!(c80.is_proprietary() && !c80.has_sm() && c80.channel() == 0);
        let c84 = Cla::parse(0x84).unwrap();
        assert_eq!(c84.secure_messaging(), SecureMessaging::Proprietary);
        let c04 = Cla::parse(0x04).unwrap();
        assert!(!c04.is_proprietary() && c04.has_sm());
        assert_eq!(Cla::try_from(0xFF), Err(Sw::CLA_NOT_SUPPORTED));
        assert_eq!(std::format!("{:?}", c84), "Cla(84)");
    }
}
