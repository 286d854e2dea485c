//! Status words in vector files: a symbolic name resolving to a `cos_core::apdu::Sw` const
//! (`SECURITY_STATUS_NOT_SATISFIED`), a parameterised one (`RETRIES_LEFT(2)`, `BYTES_AVAILABLE`),
//! or four hex digits with nibble wildcards (`6982`, `63C?`).

use super::expr::did_you_mean;
use super::template::{PatPiece, Pattern};
use cos_core::apdu::Sw;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Every fixed named status word, by const name.
fn names() -> &'static BTreeMap<&'static str, u16> {
    static NAMES: OnceLock<BTreeMap<&'static str, u16>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut m = BTreeMap::new();
        for v in 0..=u16::MAX {
            if let Some(n) = Sw(v).name() {
                if !PARAMETERISED.iter().any(|p| p.0 == n) {
                    m.insert(n, v);
                }
            }
        }
        m
    })
}

/// The parameterised ranges: name, SW1, mask of SW2's variable part.
const PARAMETERISED: &[(&str, u16, u16)] = &[
    ("BYTES_AVAILABLE", 0x6100, 0x00FF),
    ("WRONG_LE", 0x6C00, 0x00FF),
    ("RETRIES_LEFT", 0x63C0, 0x000F),
];

fn pattern(value: u16, free: u16) -> Pattern {
    let [v1, v2] = value.to_be_bytes();
    let [f1, f2] = free.to_be_bytes();
    Pattern {
        pieces: vec![
            PatPiece::Byte {
                value: v1,
                mask: !f1,
            },
            PatPiece::Byte {
                value: v2,
                mask: !f2,
            },
        ],
    }
}

/// Resolve a status-word expectation to a two-byte pattern.
pub fn resolve(s: &str) -> Result<Pattern, String> {
    let t = s.trim();
    if t.len() == 4
        && t.chars()
            .all(|c| c.is_ascii_hexdigit() || c == '?' || c == '.')
    {
        return Pattern::parse(t).map_err(|e| e.message);
    }
    if let Some(&v) = names().get(t) {
        return Ok(pattern(v, 0));
    }
    let (name, arg) = match t.split_once('(') {
        Some((n, rest)) => {
            let a = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("`{t}`: missing `)`"))?;
            let a: u16 = a
                .trim()
                .parse()
                .map_err(|_| format!("`{t}`: the argument must be a number"))?;
            (n.trim(), Some(a))
        }
        None => (t, None),
    };
    if let Some(&(_, base, free)) = PARAMETERISED.iter().find(|p| p.0 == name) {
        return Ok(match arg {
            None => pattern(base, free),
            Some(a) if a <= free => pattern(base | a, 0),
            Some(a) => return Err(format!("`{t}`: {a} is out of range (0..={free})")),
        });
    }
    Err(format!(
        "unknown status word `{t}`: give 4 hex digits (`6982`, `63C?`) or a cos_core::apdu::Sw name{}",
        did_you_mean(
            name,
            names()
                .keys()
                .copied()
                .chain(PARAMETERISED.iter().map(|p| p.0))
        )
    ))
}

/// `6982 SECURITY_STATUS_NOT_SATISFIED (security status not satisfied)`.
pub fn describe(sw: u16) -> String {
    let s = Sw(sw);
    match s.name() {
        Some(n) => format!("{sw:04X} {n} ({})", s.description()),
        None => format!("{sw:04X} (unnamed)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::expr::Vars;

    fn ok(p: &Pattern, sw: u16) -> bool {
        let v = Vars {
            vars: Default::default(),
            profile: None,
        };
        p.matches(&sw.to_be_bytes(), &v).unwrap().is_ok()
    }

    #[test]
    fn names_hex_and_ranges() {
        assert!(ok(
            &resolve("SECURITY_STATUS_NOT_SATISFIED").unwrap(),
            0x6982
        ));
        assert!(ok(&resolve("PBOC_MAC_INVALID").unwrap(), 0x9302));
        assert!(ok(&resolve("SUCCESS").unwrap(), 0x9000));
        assert!(ok(&resolve("6982").unwrap(), 0x6982));
        let r = resolve("63C?").unwrap();
        assert!(ok(&r, 0x63C2) && !ok(&r, 0x6983));
        let r = resolve("RETRIES_LEFT").unwrap();
        assert!(ok(&r, 0x63C0) && ok(&r, 0x63CF) && !ok(&r, 0x6300));
        assert!(ok(&resolve("RETRIES_LEFT(2)").unwrap(), 0x63C2));
        assert!(!ok(&resolve("RETRIES_LEFT(2)").unwrap(), 0x63C1));
        assert!(ok(&resolve("WRONG_LE(16)").unwrap(), 0x6C10));
        assert!(ok(&resolve("BYTES_AVAILABLE").unwrap(), 0x6114));
    }

    #[test]
    fn unknown_names_suggest() {
        let e = resolve("SECURITY_STATUS_NOT_SATISFIE").unwrap_err();
        assert!(
            e.contains("did you mean `SECURITY_STATUS_NOT_SATISFIED`"),
            "{e}"
        );
        assert!(resolve("RETRIES_LEFT(16)").is_err());
        assert!(resolve("RETRIES_LEFT(x)").is_err());
        assert!(resolve("69").is_err());
    }

    #[test]
    fn description() {
        assert_eq!(
            describe(0x6A82),
            "6A82 FILE_NOT_FOUND (file or application not found)"
        );
        assert!(describe(0x1234).contains("unnamed"));
    }
}
