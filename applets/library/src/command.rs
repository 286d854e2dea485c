//! The library's commands, parsed once from the APDU into typed requests.
//!
//! Responsibility: turn a [`Command`] into a [`LibraryCommand`] or the status word that says why it
//! is malformed. *Types encode the layout's restrictions; handlers encode our policy*: the CLA,
//! P1-P2, the length and every field (date, barcode) are checked here, so a handler only ever sees
//! a well-formed request; the security level, the MAC and the loan rules are the handlers' business.
//!
//! All three commands are `84 INS 00 00 20 date(4) barcode(16) branch(2) terminal(6) MAC(4) [Le]`.
//!
//! Error precedence: unknown INS `6D00`; then CLA: interindustry `6E00`, proprietary without secure
//! messaging (`80`: the MAC is mandatory) `6982`, an ISO SM indication (`88`, `8C`) `6882`; then
//! P1-P2 `6A86`; then the length (`6700`, also for extended length); then the fields (`6A80`).

use crate::types::{Barcode, BranchId, Date, TerminalId, BARCODE_LEN};
use cos_core::apdu::{Command, Ins, SecureMessaging, Sw};

/// BORROW: put an item on loan.
pub const INS_BORROW: Ins = Ins(0x32);
/// RETURN: take an item off loan.
pub const INS_RETURN: Ins = Ins(0x34);
/// RENEW: extend a loan.
pub const INS_RENEW: Ins = Ins(0x36);

/// Length of the request data (without the MAC).
pub const REQUEST_LEN: usize = 4 + BARCODE_LEN + 2 + 6;
/// Length of the MAC that ends the command data.
pub const MAC_LEN: usize = 4;

/// Whether `ins` is one of the library's instructions (CLA not considered).
pub const fn is_library_ins(ins: Ins) -> bool {
    matches!(ins.0, 0x32 | 0x34 | 0x36)
}

/// The data common to the three commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoanRequest {
    /// Today, as the terminal's clock says.
    pub date: Date,
    /// The item.
    pub barcode: Barcode,
    /// The terminal's branch.
    pub branch: BranchId,
    /// The terminal.
    pub terminal: TerminalId,
}

/// A library command (all CLA `84`: line protection is mandatory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibraryCommand {
    /// BORROW `84 32 00 00 20 request MAC`.
    Borrow(LoanRequest),
    /// RETURN `84 34 00 00 20 request MAC`.
    Return(LoanRequest),
    /// RENEW `84 36 00 00 20 request MAC`.
    Renew(LoanRequest),
}

impl LibraryCommand {
    /// The request data.
    pub const fn request(&self) -> &LoanRequest {
        match self {
            LibraryCommand::Borrow(r) | LibraryCommand::Return(r) | LibraryCommand::Renew(r) => r,
        }
    }
}

fn field<const N: usize>(data: &[u8], at: usize) -> Result<[u8; N], Sw> {
    let end = at.checked_add(N).ok_or(Sw::WRONG_LENGTH)?;
    data.get(at..end)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(Sw::WRONG_LENGTH)
}

impl LoanRequest {
    /// Parse `date(4) ‖ barcode(16) ‖ branch(2) ‖ terminal(6)` (exactly [`REQUEST_LEN`] bytes).
    pub fn parse(data: &[u8]) -> Result<LoanRequest, Sw> {
        if data.len() != REQUEST_LEN {
            return Err(Sw::WRONG_LENGTH);
        }
        Ok(LoanRequest {
            date: Date::from_bcd(field(data, 0)?).ok_or(Sw::WRONG_DATA)?,
            barcode: Barcode::from_field(field(data, 4)?).ok_or(Sw::WRONG_DATA)?,
            branch: BranchId::from_bytes(field(data, 20)?),
            terminal: TerminalId(field(data, 22)?),
        })
    }

    /// The encoding [`LoanRequest::parse`] reads.
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut b = [0u8; REQUEST_LEN];
        crate::types::concat_into(
            &mut b,
            &[
                &self.date.to_bcd(),
                &self.barcode.to_field(),
                &self.branch.to_bytes(),
                &self.terminal.0,
            ],
        );
        b
    }
}

impl TryFrom<&Command<'_>> for LibraryCommand {
    type Error = Sw;

    fn try_from(cmd: &Command<'_>) -> Result<Self, Sw> {
        let ins = cmd.ins();
        if !is_library_ins(ins) {
            return Err(Sw::INS_NOT_SUPPORTED);
        }
        let cla = cmd.cla();
        if !cla.is_proprietary() {
            return Err(Sw::CLA_NOT_SUPPORTED);
        }
        match cla.secure_messaging() {
            SecureMessaging::Proprietary => {}
            SecureMessaging::None => return Err(Sw::SECURITY_STATUS_NOT_SATISFIED),
            _ => return Err(Sw::SECURE_MESSAGING_NOT_SUPPORTED),
        }
        if cmd.p1() != 0 || cmd.p2() != 0 {
            return Err(Sw::INCORRECT_P1P2);
        }
        if cmd.is_extended() {
            return Err(Sw::WRONG_LENGTH);
        }
        let data = cmd.data();
        let body = data
            .len()
            .checked_sub(MAC_LEN)
            .and_then(|n| data.get(..n))
            .ok_or(Sw::WRONG_LENGTH)?;
        let req = LoanRequest::parse(body)?;
        Ok(match ins {
            INS_BORROW => LibraryCommand::Borrow(req),
            INS_RETURN => LibraryCommand::Return(req),
            _ => LibraryCommand::Renew(req),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn request() -> LoanRequest {
        LoanRequest {
            date: Date::new(2026, 3, 1).unwrap(),
            barcode: Barcode::from_text(b"31234001234567").unwrap(),
            branch: BranchId(2),
            terminal: TerminalId([0x11, 0x22, 0x33, 0x44, 0x55, 0x66]),
        }
    }

    fn apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: bool) -> Vec<u8> {
        let mut a = vec![cla, ins, p1, p2, data.len() as u8];
        a.extend_from_slice(data);
        if le {
            a.push(0);
        }
        a
    }

    fn parse(bytes: &[u8]) -> Result<LibraryCommand, Sw> {
        let cmd = Command::parse(bytes).unwrap();
        LibraryCommand::try_from(&cmd)
    }

    fn data() -> Vec<u8> {
        let mut d = request().encode().to_vec();
        d.extend_from_slice(&[0xAA; 4]);
        d
    }

    #[test]
    fn the_three_commands_parse() {
        let d = data();
        assert_eq!(
            parse(&apdu(0x84, 0x32, 0, 0, &d, true)),
            Ok(LibraryCommand::Borrow(request()))
        );
        assert_eq!(
            parse(&apdu(0x84, 0x34, 0, 0, &d, false)),
            Ok(LibraryCommand::Return(request()))
        );
        let renew = parse(&apdu(0x84, 0x36, 0, 0, &d, true)).unwrap();
        assert_eq!(renew, LibraryCommand::Renew(request()));
        assert_eq!(renew.request(), &request());
        assert_eq!(LoanRequest::parse(&request().encode()), Ok(request()));
    }

    #[test]
    fn errors_in_precedence_order() {
        let d = data();
        assert_eq!(
            parse(&apdu(0x84, 0x38, 0, 0, &d, true)),
            Err(Sw::INS_NOT_SUPPORTED)
        );
        assert_eq!(
            parse(&apdu(0x00, 0x32, 0, 0, &d, true)),
            Err(Sw::CLA_NOT_SUPPORTED)
        );
        assert_eq!(
            parse(&apdu(0x04, 0x32, 1, 0, &d, true)),
            Err(Sw::CLA_NOT_SUPPORTED)
        );
        assert_eq!(
            parse(&apdu(0x80, 0x32, 1, 0, &d[..3], true)),
            Err(Sw::SECURITY_STATUS_NOT_SATISFIED),
            "plain CLA: the MAC is mandatory"
        );
        assert_eq!(
            parse(&apdu(0x8C, 0x32, 0, 0, &d, true)),
            Err(Sw::SECURE_MESSAGING_NOT_SUPPORTED)
        );
        assert_eq!(
            parse(&apdu(0x84, 0x32, 0, 1, &d, true)),
            Err(Sw::INCORRECT_P1P2)
        );
        assert_eq!(
            parse(&apdu(0x84, 0x32, 0, 0, &d[..31], true)),
            Err(Sw::WRONG_LENGTH)
        );
        assert_eq!(
            parse(&apdu(0x84, 0x32, 0, 0, &d[..3], true)),
            Err(Sw::WRONG_LENGTH)
        );
        assert_eq!(parse(&[0x84, 0x32, 0, 0]), Err(Sw::WRONG_LENGTH));
        let mut ext = vec![0x84, 0x32, 0, 0, 0, 0, 32];
        ext.extend_from_slice(&d);
        assert_eq!(parse(&ext), Err(Sw::WRONG_LENGTH), "extended length");
        let mut bad_date = d.clone();
        bad_date[2] = 0x13;
        assert_eq!(
            parse(&apdu(0x84, 0x32, 0, 0, &bad_date, true)),
            Err(Sw::WRONG_DATA)
        );
        let mut bad_code = d.clone();
        bad_code[4] = 0;
        assert_eq!(
            parse(&apdu(0x84, 0x32, 0, 0, &bad_code, true)),
            Err(Sw::WRONG_DATA)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_apdus_never_panic(bytes in proptest::collection::vec(any::<u8>(), 4..64)) {
            if let Ok(cmd) = Command::parse(&bytes) {
                let _ = LibraryCommand::try_from(&cmd);
            }
        }

        #[test]
        fn well_formed_requests_round_trip(
            y in 1900u16..=9999, m in 1u8..=12, d in 1u8..=28,
            code in "[!-~]{1,16}", branch in any::<u16>(), terminal in any::<[u8; 6]>(),
        ) {
            let r = LoanRequest {
                date: Date::new(y, m, d).unwrap(),
                barcode: Barcode::from_text(code.as_bytes()).unwrap(),
                branch: BranchId(branch),
                terminal: TerminalId(terminal),
            };
            prop_assert_eq!(LoanRequest::parse(&r.encode()), Ok(r));
        }
    }
}
