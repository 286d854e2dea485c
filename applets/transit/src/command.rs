//! The transit front-end's commands, parsed once from the APDU.
//!
//! Responsibility: tell the transit application's own commands (INITIALIZE FOR CAPP PURCHASE,
//! UPDATE CAPP DATA CACHE, DEBIT, the GET BALANCE variants `P1 = 01..03`) from the PBOC purse's,
//! which go to [`e_purse::EPurse`] unchanged. Everything the command's bytes fix (CLA, P1-P2, Lc)
//! is checked here; records, keys and the purse are the handlers' business.
//!
//! Error precedence as in the purse: unknown INS `6D00`, then CLA (`6882` secure messaging, `6E00`
//! not proprietary), then P1-P2 `6A86`, then Lc `6700`. Le is not checked.

use crate::records::{RecordTag, MAX_COMPOSITE_RECORD};
use cos_core::apdu::{Command, Ins, Sw};
use e_purse::{DebitKind, DebitRequest, InitRequest, PurseCommand, PurseKind};

/// UPDATE CAPP DATA CACHE (JT/T 978; CLA `80`).
pub const INS_UPDATE_CAPP_DATA_CACHE: Ins = Ins(0xDC);
/// GET BALANCE (JR/T 0025; the transit variants use P1 `01`–`03`).
pub const INS_GET_BALANCE: Ins = Ins(0x5C);
/// INITIALIZE (purse family).
pub const INS_INITIALIZE: Ins = Ins(0x50);
/// DEBIT (purse family).
pub const INS_DEBIT: Ins = Ins(0x54);
/// SFI of the composite (CAPP) file, the only file UPDATE CAPP DATA CACHE addresses.
pub const COMPOSITE_SFI: u8 = 0x1A;

/// How UPDATE CAPP DATA CACHE names its record (P2 b3–b1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordRef {
    /// Mode `000`: P1 is the record's tag (JT/T 978 practice).
    Tag(RecordTag),
    /// Mode `100`: P1 is the record number.
    Number(u8),
}

/// The data of UPDATE CAPP DATA CACHE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheRequest<'a> {
    /// Which record of EF `1A`.
    pub target: RecordRef,
    /// The whole new record.
    pub data: &'a [u8],
}

/// What GET BALANCE `80 5C P1 02 04` answers (see `docs/transit.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BalanceItem {
    /// P1 `01`: the overdraw limit (zero for a purse whose limit was never raised).
    OverdrawLimit,
    /// P1 `02`: credit in use (how far own funds are below zero).
    CreditInUse,
    /// P1 `03`: own funds (balance minus limit, zero while credit is in use).
    OwnFunds,
}

/// A command of the transit application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitCommand<'a> {
    /// INITIALIZE FOR CAPP PURCHASE `80 50 03 02 0B`.
    InitializeCapp(InitRequest),
    /// UPDATE CAPP DATA CACHE `80 DC P1 P2 Lc record`.
    UpdateCappCache(CacheRequest<'a>),
    /// DEBIT FOR (CAPP) PURCHASE `80 54 01 00 0F`: a CAPP's when one is pending, else the purse's.
    Debit(DebitRequest),
    /// GET BALANCE `80 5C 01..03 02 04`.
    GetBalance(BalanceItem),
    /// Anything else: the PBOC purse's command (or its refusal).
    Purse,
}

impl<'a> TryFrom<&Command<'a>> for TransitCommand<'a> {
    type Error = Sw;

    fn try_from(cmd: &Command<'a>) -> Result<Self, Sw> {
        let cla = cmd.cla();
        match cmd.ins() {
            INS_UPDATE_CAPP_DATA_CACHE => {
                if cla.has_sm() {
                    return Err(Sw::SECURE_MESSAGING_NOT_SUPPORTED);
                }
                if !cla.is_proprietary() {
                    return Err(Sw::CLA_NOT_SUPPORTED);
                }
                let sfi = cmd.p2() >> 3;
                let target = match (sfi, cmd.p2() & 0x07, RecordTag::new(cmd.p1())) {
                    (COMPOSITE_SFI, 0b000, Some(tag)) => RecordRef::Tag(tag),
                    (COMPOSITE_SFI, 0b100, Some(_)) => RecordRef::Number(cmd.p1()),
                    _ => return Err(Sw::INCORRECT_P1P2),
                };
                let data = cmd.data();
                if data.is_empty() || data.len() > MAX_COMPOSITE_RECORD {
                    return Err(Sw::WRONG_LENGTH);
                }
                Ok(TransitCommand::UpdateCappCache(CacheRequest {
                    target,
                    data,
                }))
            }
            INS_GET_BALANCE if (0x01..=0x03).contains(&cmd.p1()) => {
                if cla.has_sm() {
                    return Err(Sw::SECURE_MESSAGING_NOT_SUPPORTED);
                }
                if !cla.is_proprietary() {
                    return Err(Sw::CLA_NOT_SUPPORTED);
                }
                if cmd.p2() != PurseKind::Wallet.p2() {
                    return Err(Sw::INCORRECT_P1P2);
                }
                if !cmd.data().is_empty() {
                    return Err(Sw::WRONG_LENGTH);
                }
                Ok(TransitCommand::GetBalance(match cmd.p1() {
                    0x01 => BalanceItem::OverdrawLimit,
                    0x02 => BalanceItem::CreditInUse,
                    _ => BalanceItem::OwnFunds,
                }))
            }
            // INITIALIZE P1 03 and DEBIT P1 01 share one call of the purse's parser.
            INS_INITIALIZE | INS_DEBIT
                if matches!(
                    (cmd.ins(), cmd.p1()),
                    (INS_INITIALIZE, 0x03) | (INS_DEBIT, 0x01)
                ) =>
            {
                match PurseCommand::try_from(cmd)? {
                    PurseCommand::InitializeDebit {
                        kind: DebitKind::CappPurchase,
                        req,
                        ..
                    } => Ok(TransitCommand::InitializeCapp(req)),
                    PurseCommand::Debit(req) => Ok(TransitCommand::Debit(req)),
                    _ => Err(Sw::INCORRECT_P1P2),
                }
            }
            _ => Ok(TransitCommand::Purse),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use super::*;
    use e_purse::{Amount, KeyIndex, TerminalId};
    use std::format;
    use std::string::ToString;
    use std::vec::Vec;

    fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    fn parse(s: &str) -> Result<TransitCommand<'static>, Sw> {
        let bytes: &'static [u8] = std::boxed::Box::leak(hex(s).into_boxed_slice());
        let cmd = Command::parse(bytes).unwrap();
        TransitCommand::try_from(&cmd)
    }

    #[test]
    fn initialize_for_capp() {
        assert_eq!(
            parse("80500302 0B 01 000001F4 112233445566 0F"),
            Ok(TransitCommand::InitializeCapp(InitRequest {
                key_index: KeyIndex(1),
                amount: Amount(500),
                terminal: TerminalId([0x11, 0x22, 0x33, 0x44, 0x55, 0x66]),
            }))
        );
        // CAPP is EP only; wrong Lc; secure messaging; wrong class.
        assert_eq!(
            parse("80500301 0B 01 000001F4 112233445566"),
            Err(Sw::INCORRECT_P1P2)
        );
        assert_eq!(
            parse("80500302 0A 01 000001F4 1122334455"),
            Err(Sw::WRONG_LENGTH)
        );
        assert_eq!(
            parse("84500302 0B 01 000001F4 112233445566"),
            Err(Sw::SECURE_MESSAGING_NOT_SUPPORTED)
        );
        assert_eq!(
            parse("00500302 0B 01 000001F4 112233445566"),
            Err(Sw::CLA_NOT_SUPPORTED)
        );
        // Other INITIALIZEs are the purse's.
        assert_eq!(
            parse("80500102 0B 01 000001F4 112233445566"),
            Ok(TransitCommand::Purse)
        );
    }

    #[test]
    fn update_capp_data_cache() {
        let rec = "0140".to_string() + &"00".repeat(62);
        match parse(&format!("80DC 01 D0 40 {rec}")).unwrap() {
            TransitCommand::UpdateCappCache(c) => {
                assert_eq!(c.target, RecordRef::Tag(RecordTag::METRO));
                assert_eq!(c.data.len(), 64);
            }
            other => panic!("{other:?}"),
        }
        match parse(&format!("80DC 02 D4 40 {rec}")).unwrap() {
            TransitCommand::UpdateCappCache(c) => assert_eq!(c.target, RecordRef::Number(2)),
            other => panic!("{other:?}"),
        }
        // Tag / record 0, another SFI, another mode.
        for p1p2 in ["00D0", "00D4", "01C0", "01D1", "01D2", "01D7", "0104"] {
            assert_eq!(
                parse(&format!("80DC {p1p2} 40 {rec}")),
                Err(Sw::INCORRECT_P1P2),
                "{p1p2}"
            );
        }
        assert_eq!(parse("80DC 01D0"), Err(Sw::WRONG_LENGTH));
        let long = "00".repeat(129);
        assert_eq!(
            parse(&format!("80DC 01D0 81 {long}")),
            Err(Sw::WRONG_LENGTH)
        );
        assert_eq!(
            parse(&format!("84DC 01D0 40 {rec}")),
            Err(Sw::SECURE_MESSAGING_NOT_SUPPORTED)
        );
        // Interindustry classes never get here (00 DC is the kernel's UPDATE RECORD).
        let cmd = Command::parse(&[0x40, 0xDC, 0x01, 0xD0, 0x01, 0x01]).unwrap();
        assert_eq!(TransitCommand::try_from(&cmd), Err(Sw::CLA_NOT_SUPPORTED));
    }

    #[test]
    fn debit_and_balance_variants() {
        assert!(matches!(
            parse("80540100 0F 00000001 20260301 083000 11223344 08"),
            Ok(TransitCommand::Debit(_))
        ));
        assert_eq!(
            parse("80540100 0E 00000001 20260301 083000 112233"),
            Err(Sw::WRONG_LENGTH)
        );
        // DEBIT FOR UNLOAD is the purse's.
        assert_eq!(
            parse("80540300 0B 20260301 083000 11223344"),
            Ok(TransitCommand::Purse)
        );
        assert_eq!(
            parse("805C0102 04"),
            Ok(TransitCommand::GetBalance(BalanceItem::OverdrawLimit))
        );
        assert_eq!(
            parse("805C0202 04"),
            Ok(TransitCommand::GetBalance(BalanceItem::CreditInUse))
        );
        assert_eq!(
            parse("805C0302 04"),
            Ok(TransitCommand::GetBalance(BalanceItem::OwnFunds))
        );
        assert_eq!(parse("805C0101 04"), Err(Sw::INCORRECT_P1P2));
        assert_eq!(parse("805C0102 01 00"), Err(Sw::WRONG_LENGTH));
        assert_eq!(
            parse("845C0102 04"),
            Err(Sw::SECURE_MESSAGING_NOT_SUPPORTED)
        );
        // P1 00 and unknown P1 are the purse's (it answers or refuses them).
        assert_eq!(parse("805C0002 04"), Ok(TransitCommand::Purse));
        assert_eq!(parse("805C0402 04"), Ok(TransitCommand::Purse));
        assert_eq!(parse("80CA9F7F00"), Ok(TransitCommand::Purse));
    }
}
