//! [`Ppse`]: the proximity payment system environment `2PAY.SYS.DDF01`, as phone and gate readers
//! select it before the transit application.
//!
//! Responsibility: answer SELECT of the PPSE DF with the directory EMV-style readers parse,
//! `6F { 84 "2PAY.SYS.DDF01", A5 { BF0C { 61 {…} 61 {…} } } }`. The directory entries are not
//! built into the card: they are the records of the DF's EF SFI `01` (written at personalisation,
//! one `61 { 4F AID, 50 label, [87 priority] }` template per record, in the order readers should
//! see them — the transit application, labelled `MOT_T_EP`, last). The DF is an ordinary DF under
//! the MF; the MF keeps its contact PSE name `1PAY.SYS.DDF01`.
//!
//! Invariants: the applet writes nothing and keeps no state; records that are not one whole `61`
//! template are skipped, so a half-personalised directory never breaks the FCI.

use cos_core::apdu::{Aid, Command, Response, Sw};
use cos_core::fs::record::MAX_RECORD;
use cos_core::{Applet, Cx, Selection};

/// The PPSE DF name, `2PAY.SYS.DDF01`.
pub const PPSE_NAME: Aid = Aid::from_static(b"2PAY.SYS.DDF01");
/// SFI of the directory EF inside the PPSE DF.
pub const DIRECTORY_SFI: u8 = 0x01;
/// FCI issuer discretionary data template that holds the directory entries.
pub const FCI_DIRECTORY_TAG: u16 = 0xBF0C;
/// Tag of one directory entry (application template).
pub const DIRECTORY_ENTRY_TAG: u8 = 0x61;

/// The PPSE directory applet.
#[derive(Debug)]
pub struct Ppse {
    name: Aid,
}

impl Default for Ppse {
    fn default() -> Self {
        Ppse { name: PPSE_NAME }
    }
}

impl Ppse {
    /// A directory applet bound to the DF named `name` (normally [`PPSE_NAME`]).
    pub const fn new(name: Aid) -> Ppse {
        Ppse { name }
    }
}

/// Whether `rec` is exactly one `61` template with a one-byte length.
fn is_entry(rec: &[u8]) -> bool {
    match rec {
        [DIRECTORY_ENTRY_TAG, len, rest @ ..] => *len < 0x80 && usize::from(*len) == rest.len(),
        _ => false,
    }
}

impl Applet for Ppse {
    fn aid(&self) -> &[u8] {
        self.name.as_bytes()
    }

    fn power_on(&mut self) {}

    fn select(
        &mut self,
        cx: &mut Cx<'_>,
        _selection: Selection,
        fci: &mut Response<'_>,
    ) -> Result<(), Sw> {
        let Ok(dir) = cx.file_by_sfi(DIRECTORY_SFI) else {
            return Ok(());
        };
        if !cx.entry(dir)?.kind.is_record() {
            return Ok(());
        }
        let count = cx.record_count(dir)?;
        let mark = fci.begin_tlv(FCI_DIRECTORY_TAG).map_err(|_| Sw::UNKNOWN)?;
        let mut buf = [0u8; MAX_RECORD];
        for n in 1..=count {
            let len = cx.read_record(dir, n, &mut buf)?;
            let rec = buf.get(..len).unwrap_or_default();
            if is_entry(rec) {
                fci.extend(rec).map_err(|_| Sw::UNKNOWN)?;
            }
        }
        fci.end_tlv(mark).map_err(|_| Sw::UNKNOWN)
    }

    fn deselect(&mut self) {}

    /// The PPSE has no commands of its own (READ RECORD of the directory is the kernel's).
    fn process(
        &mut self,
        _cx: &mut Cx<'_>,
        _cmd: &Command<'_>,
        _rsp: &mut Response<'_>,
    ) -> Result<Sw, Sw> {
        Err(Sw::INS_NOT_SUPPORTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries() {
        assert!(is_entry(&[0x61, 0x03, 0x4F, 0x01, 0xA0]));
        assert!(!is_entry(&[0x61, 0x04, 0x4F, 0x01, 0xA0]));
        assert!(!is_entry(&[0x70, 0x03, 0x4F, 0x01, 0xA0]));
        assert!(!is_entry(&[0x00; 8]));
        assert!(!is_entry(&[]));
        assert_eq!(PPSE_NAME.as_bytes(), b"2PAY.SYS.DDF01");
    }
}
