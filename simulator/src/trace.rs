//! A readable trace of every APDU: command name, header fields, data, and the status word's
//! meaning, so a developer can follow a transaction without a protocol analyser.

use cos_core::apdu::{Cla, Command, Ins, Sw};
use std::fmt;

/// One exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEntry {
    /// The C-APDU as sent.
    pub command: Vec<u8>,
    /// The R-APDU (empty: the card lost power).
    pub response: Vec<u8>,
}

/// The command's name as the card's command set calls it.
pub fn command_name(apdu: &[u8]) -> &'static str {
    let (Some(&cla), Some(&ins)) = (apdu.first(), apdu.get(1)) else {
        return "(too short)";
    };
    match Cla::parse(cla) {
        Ok(c) => Ins(ins).name(c.is_proprietary()),
        Err(_) => "(invalid CLA)",
    }
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = command_name(&self.command);
        match Command::parse(&self.command) {
            Ok(c) => {
                write!(
                    f,
                    "> {name:<28} {:02X} {:02X} {:02X} {:02X}",
                    c.cla().raw(),
                    c.ins().0,
                    c.p1(),
                    c.p2()
                )?;
                if !c.data().is_empty() {
                    write!(f, " Lc={} {}", c.data().len(), hex::encode_upper(c.data()))?;
                }
                if !c.ne().is_absent() {
                    write!(f, " Le={}", c.ne().max_len())?;
                }
            }
            Err(_) => write!(f, "> {name:<28} {}", hex::encode_upper(&self.command))?,
        }
        writeln!(f)?;
        match self.response.len().checked_sub(2) {
            None => write!(f, "< (no answer: power lost)"),
            Some(n) => {
                let (data, sw) = self.response.split_at(n);
                let sw = Sw::from_bytes([sw[0], sw[1]]);
                if !data.is_empty() {
                    write!(f, "< {} ", hex::encode_upper(data))?;
                } else {
                    write!(f, "< ")?;
                }
                write!(f, "{sw} {}", sw.description())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_names_fields_and_status() {
        let e = TraceEntry {
            command: vec![0x00, 0xA4, 0x04, 0x00, 0x02, 0x3F, 0x00, 0x00],
            response: vec![0x6A, 0x82],
        };
        let s = e.to_string();
        assert!(s.contains("SELECT"), "{s}");
        assert!(s.contains("Lc=2 3F00"), "{s}");
        assert!(s.contains("6A82"), "{s}");
        assert!(s.to_lowercase().contains("not found"), "{s}");
        let lost = TraceEntry {
            command: vec![0x80, 0x54, 0x01, 0x00],
            response: vec![],
        };
        assert!(lost.to_string().contains("power lost"));
    }
}
