//! The purse's commands, parsed once from the APDU into typed requests.
//!
//! Responsibility: turn a [`Command`] into a [`PurseCommand`] or the status word that says why it
//! is malformed. *Types encode the spec's restrictions; handlers encode our policy*: everything
//! JR/T 0025 Part 2 fixes about a command (CLA, P1-P2, Lc, which purse may run it) is checked here,
//! so a handler only ever sees a well-formed request; balances, counters, keys and the security
//! status are the handlers' business.
//!
//! Error precedence: unknown INS `6D00`, then CLA (`6882` for secure messaging, `6E00` otherwise),
//! then P1-P2 `6A86`, then Lc `6700`. Le is not checked: the transport hands out what the terminal
//! asked for (T=0 `61xx` when Le is short or absent).

use crate::types::{
    Amount, Atc, DateTime, DebitKind, KeyIndex, Mac4, OverdrawLimit, PurseKind, TerminalId,
    TransactionType, Ttc,
};
use cos_core::apdu::{Command, Ins, Sw};

/// INITIALIZE FOR LOAD / PURCHASE / CASH WITHDRAW / CAPP PURCHASE / UNLOAD / UPDATE.
pub const INS_INITIALIZE: Ins = Ins(0x50);
/// CREDIT FOR LOAD.
pub const INS_CREDIT_FOR_LOAD: Ins = Ins(0x52);
/// DEBIT FOR PURCHASE / CASH WITHDRAW / CAPP PURCHASE (P1 01) and DEBIT FOR UNLOAD (P1 03).
pub const INS_DEBIT: Ins = Ins(0x54);
/// UPDATE OVERDRAW LIMIT.
pub const INS_UPDATE_OVERDRAW_LIMIT: Ins = Ins(0x58);
/// GET TRANSACTION PROVE.
pub const INS_GET_TRANSACTION_PROVE: Ins = Ins(0x5A);
/// GET BALANCE.
pub const INS_GET_BALANCE: Ins = Ins(0x5C);

/// Whether `ins` is one of the purse's instructions (CLA not considered).
pub const fn is_purse_ins(ins: Ins) -> bool {
    matches!(ins.0, 0x50 | 0x52 | 0x54 | 0x58 | 0x5A | 0x5C)
}

/// The data of INITIALIZE FOR LOAD / PURCHASE / UNLOAD: key index (1), amount (4), terminal (6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitRequest {
    /// Key set to use.
    pub key_index: KeyIndex,
    /// Transaction amount.
    pub amount: Amount,
    /// Terminal identifier.
    pub terminal: TerminalId,
}

/// The data of DEBIT FOR PURCHASE: TTC (4), date (4), time (3), MAC1 (4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DebitRequest {
    /// Terminal transaction counter.
    pub ttc: Ttc,
    /// Transaction date and time.
    pub date_time: DateTime,
    /// The terminal's (PSAM's) MAC1.
    pub mac1: Mac4,
}

/// The data of CREDIT FOR LOAD and DEBIT FOR UNLOAD: date (4), time (3), MAC2 (4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompleteRequest {
    /// Transaction date and time.
    pub date_time: DateTime,
    /// The issuer host's MAC2.
    pub mac2: Mac4,
}

/// The data of UPDATE OVERDRAW LIMIT: new limit (3), date (4), time (3), MAC2 (4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateRequest {
    /// The new overdraw limit.
    pub new_limit: OverdrawLimit,
    /// Transaction date and time.
    pub date_time: DateTime,
    /// The issuer host's MAC2.
    pub mac2: Mac4,
}

/// A purse command (JR/T 0025 Part 2 §§ of the ED/EP command set; all CLA `80`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurseCommand {
    /// GET BALANCE `80 5C 00 P2 04`.
    GetBalance {
        /// ED or EP.
        purse: PurseKind,
    },
    /// INITIALIZE FOR LOAD `80 50 00 P2 0B`.
    InitializeLoad {
        /// ED or EP.
        purse: PurseKind,
        /// Key index, amount, terminal.
        req: InitRequest,
    },
    /// CREDIT FOR LOAD `80 52 00 00 0B`.
    CreditForLoad(CompleteRequest),
    /// INITIALIZE FOR PURCHASE `80 50 01 P2 0B`, CASH WITHDRAW `80 50 02 01 0B`, CAPP PURCHASE
    /// `80 50 03 02 0B`.
    InitializeDebit {
        /// Purchase, cash withdrawal or CAPP purchase.
        kind: DebitKind,
        /// ED or EP (cash withdrawal: ED only; CAPP: EP only).
        purse: PurseKind,
        /// Key index, amount, terminal.
        req: InitRequest,
    },
    /// DEBIT FOR PURCHASE / CASH WITHDRAW / CAPP PURCHASE `80 54 01 00 0F`.
    Debit(DebitRequest),
    /// INITIALIZE FOR UNLOAD `80 50 05 01 0B` (ED only).
    InitializeUnload {
        /// Key index, amount, terminal.
        req: InitRequest,
    },
    /// DEBIT FOR UNLOAD `80 54 03 00 0B`.
    DebitForUnload(CompleteRequest),
    /// INITIALIZE FOR UPDATE `80 50 04 01 07` (ED only).
    InitializeUpdate {
        /// Key set to use.
        key_index: KeyIndex,
        /// Terminal identifier.
        terminal: TerminalId,
    },
    /// UPDATE OVERDRAW LIMIT `80 58 00 00 0E` (the digest's `0F` does not match its own 14-byte
    /// data field: new limit 3, date 4, time 3, MAC2 4).
    UpdateOverdrawLimit(UpdateRequest),
    /// GET TRANSACTION PROVE `80 5A 00 type 02`.
    GetTransactionProve {
        /// Type of the transaction asked about.
        transaction: TransactionType,
        /// Its counter *after* the transaction (see `docs/e-purse.md`).
        atc: Atc,
    },
}

/// A fixed-size field of the command data.
fn field<const N: usize>(data: &[u8], at: usize) -> Result<[u8; N], Sw> {
    let end = at.checked_add(N).ok_or(Sw::WRONG_LENGTH)?;
    data.get(at..end)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(Sw::WRONG_LENGTH)
}

fn exact_len<'a>(cmd: &Command<'a>, n: usize) -> Result<&'a [u8], Sw> {
    let d = cmd.data();
    if d.len() == n {
        Ok(d)
    } else {
        Err(Sw::WRONG_LENGTH)
    }
}

fn p1p2(cmd: &Command<'_>, p1: u8, p2: u8) -> Result<(), Sw> {
    if cmd.p1() == p1 && cmd.p2() == p2 {
        Ok(())
    } else {
        Err(Sw::INCORRECT_P1P2)
    }
}

#[inline(never)]
fn purse(p2: u8) -> Result<PurseKind, Sw> {
    PurseKind::from_p2(p2).ok_or(Sw::INCORRECT_P1P2)
}

fn init_request(cmd: &Command<'_>) -> Result<InitRequest, Sw> {
    let d = exact_len(cmd, 11)?;
    let [key_index] = field::<1>(d, 0)?;
    Ok(InitRequest {
        key_index: KeyIndex(key_index),
        amount: Amount::from_bytes(field(d, 1)?),
        terminal: TerminalId(field(d, 5)?),
    })
}

fn date_time(d: &[u8], at: usize) -> Result<DateTime, Sw> {
    Ok(DateTime {
        date: field(d, at)?,
        time: field(d, at + 4)?,
    })
}

fn complete_request(cmd: &Command<'_>) -> Result<CompleteRequest, Sw> {
    let d = exact_len(cmd, 11)?;
    Ok(CompleteRequest {
        date_time: date_time(d, 0)?,
        mac2: Mac4(field(d, 7)?),
    })
}

impl TryFrom<&Command<'_>> for PurseCommand {
    type Error = Sw;

    fn try_from(cmd: &Command<'_>) -> Result<Self, Sw> {
        let ins = cmd.ins();
        if !is_purse_ins(ins) {
            return Err(Sw::INS_NOT_SUPPORTED);
        }
        let cla = cmd.cla();
        if cla.has_sm() {
            return Err(Sw::SECURE_MESSAGING_NOT_SUPPORTED);
        }
        if !cla.is_proprietary() {
            return Err(Sw::CLA_NOT_SUPPORTED);
        }
        match ins {
            INS_GET_BALANCE => {
                if cmd.p1() != 0 {
                    return Err(Sw::INCORRECT_P1P2);
                }
                let purse = purse(cmd.p2())?;
                exact_len(cmd, 0)?;
                Ok(PurseCommand::GetBalance { purse })
            }
            INS_INITIALIZE => parse_initialize(cmd),
            INS_CREDIT_FOR_LOAD => {
                p1p2(cmd, 0, 0)?;
                Ok(PurseCommand::CreditForLoad(complete_request(cmd)?))
            }
            INS_DEBIT => match (cmd.p1(), cmd.p2()) {
                (0x01, 0x00) => {
                    let d = exact_len(cmd, 15)?;
                    Ok(PurseCommand::Debit(DebitRequest {
                        ttc: Ttc(field(d, 0)?),
                        date_time: date_time(d, 4)?,
                        mac1: Mac4(field(d, 11)?),
                    }))
                }
                (0x03, 0x00) => Ok(PurseCommand::DebitForUnload(complete_request(cmd)?)),
                _ => Err(Sw::INCORRECT_P1P2),
            },
            INS_UPDATE_OVERDRAW_LIMIT => {
                p1p2(cmd, 0, 0)?;
                let d = exact_len(cmd, 14)?;
                let limit = OverdrawLimit::from_bytes(field(d, 0)?);
                Ok(PurseCommand::UpdateOverdrawLimit(UpdateRequest {
                    new_limit: limit,
                    date_time: date_time(d, 3)?,
                    mac2: Mac4(field(d, 10)?),
                }))
            }
            INS_GET_TRANSACTION_PROVE => {
                if cmd.p1() != 0 {
                    return Err(Sw::INCORRECT_P1P2);
                }
                let transaction = TransactionType::from_code(cmd.p2()).ok_or(Sw::INCORRECT_P1P2)?;
                let d = exact_len(cmd, 2)?;
                Ok(PurseCommand::GetTransactionProve {
                    transaction,
                    atc: Atc::from_bytes(field(d, 0)?),
                })
            }
            _ => Err(Sw::INS_NOT_SUPPORTED),
        }
    }
}

/// INITIALIZE: P1 selects the transaction, P2 the purse; each transaction allows only the purses
/// JR/T 0025 Part 2 defines it for.
fn parse_initialize(cmd: &Command<'_>) -> Result<PurseCommand, Sw> {
    let p = purse(cmd.p2())?;
    let p1 = cmd.p1();
    let debit = match p1 {
        0x01 => Some(DebitKind::Purchase),
        0x02 => Some(DebitKind::CashWithdrawal),
        0x03 => Some(DebitKind::CappPurchase),
        _ => None,
    };
    match (p1, p) {
        (0x04, PurseKind::Deposit) => {
            let d = exact_len(cmd, 7)?;
            let [key_index] = field::<1>(d, 0)?;
            Ok(PurseCommand::InitializeUpdate {
                key_index: KeyIndex(key_index),
                terminal: TerminalId(field(d, 1)?),
            })
        }
        // Load (00), the debits (01..03) and unload (05, ED only) carry the same request: one
        // parse of it.
        (0x00..=0x03, _) | (0x05, PurseKind::Deposit) => {
            if debit.is_some_and(|kind| !kind.allows(p)) {
                return Err(Sw::INCORRECT_P1P2);
            }
            let req = init_request(cmd)?;
            Ok(match debit {
                Some(kind) => PurseCommand::InitializeDebit {
                    kind,
                    purse: p,
                    req,
                },
                None if p1 == 0x00 => PurseCommand::InitializeLoad { purse: p, req },
                None => PurseCommand::InitializeUnload { req },
            })
        }
        _ => Err(Sw::INCORRECT_P1P2),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn parse(bytes: &[u8]) -> Result<PurseCommand, Sw> {
        let cmd = Command::parse(bytes).unwrap();
        PurseCommand::try_from(&cmd)
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2)
            .map(|c| u8::from_str_radix(core::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn initialize_for_load_of_the_worked_example() {
        assert_eq!(
            parse(&hex("805000010B 01 00001000 001122334455 10")),
            Ok(PurseCommand::InitializeLoad {
                purse: PurseKind::Deposit,
                req: InitRequest {
                    key_index: KeyIndex(1),
                    amount: Amount(0x1000),
                    terminal: TerminalId([0, 0x11, 0x22, 0x33, 0x44, 0x55]),
                },
            })
        );
    }

    #[test]
    fn debit_and_credit() {
        assert_eq!(
            parse(&hex("805401000F 00000001 20120229 135100 F15CAB75 08")),
            Ok(PurseCommand::Debit(DebitRequest {
                ttc: Ttc([0, 0, 0, 1]),
                date_time: DateTime {
                    date: [0x20, 0x12, 0x02, 0x29],
                    time: [0x13, 0x51, 0x00],
                },
                mac1: Mac4([0xF1, 0x5C, 0xAB, 0x75]),
            }))
        );
        assert!(matches!(
            parse(&hex("805200000B 20111221 214822 3A845BF0 04")),
            Ok(PurseCommand::CreditForLoad(_))
        ));
        assert!(matches!(
            parse(&hex("805403000B 20111221 214822 3A845BF0 04")),
            Ok(PurseCommand::DebitForUnload(_))
        ));
        assert!(matches!(
            parse(&hex("805800000E 001000 20111221 214822 3A845BF0 04")),
            Ok(PurseCommand::UpdateOverdrawLimit(UpdateRequest {
                new_limit,
                ..
            })) if new_limit == OverdrawLimit::new(0x1000).unwrap()
        ));
    }

    #[test]
    fn initialize_variants_and_purses() {
        let req = "01 00000010 001122334455";
        let ok = |h: &str| parse(&hex(&std::format!("{h} {req}")));
        assert!(matches!(
            ok("805001020B"),
            Ok(PurseCommand::InitializeDebit {
                kind: DebitKind::Purchase,
                purse: PurseKind::Wallet,
                ..
            })
        ));
        assert!(matches!(
            ok("805002010B"),
            Ok(PurseCommand::InitializeDebit {
                kind: DebitKind::CashWithdrawal,
                ..
            })
        ));
        assert!(matches!(
            ok("805003020B"),
            Ok(PurseCommand::InitializeDebit {
                kind: DebitKind::CappPurchase,
                ..
            })
        ));
        assert!(matches!(
            ok("805005010B"),
            Ok(PurseCommand::InitializeUnload { .. })
        ));
        // Cash withdrawal from the EP, CAPP from the ED, unload from the EP: not defined.
        assert_eq!(ok("805002020B"), Err(Sw::INCORRECT_P1P2));
        assert_eq!(ok("805003010B"), Err(Sw::INCORRECT_P1P2));
        assert_eq!(ok("805005020B"), Err(Sw::INCORRECT_P1P2));
        assert_eq!(ok("805000030B"), Err(Sw::INCORRECT_P1P2));
        assert_eq!(ok("805006010B"), Err(Sw::INCORRECT_P1P2));
        assert!(matches!(
            parse(&hex("8050040107 01 001122334455 13")),
            Ok(PurseCommand::InitializeUpdate { .. })
        ));
        assert_eq!(
            parse(&hex("8050040207 01 001122334455")),
            Err(Sw::INCORRECT_P1P2)
        );
    }

    #[test]
    fn malformed_commands() {
        assert_eq!(
            parse(&hex("805C000104")),
            Ok(PurseCommand::GetBalance {
                purse: PurseKind::Deposit
            })
        );
        assert_eq!(parse(&hex("805C000304")), Err(Sw::INCORRECT_P1P2));
        assert_eq!(parse(&hex("805C010104")), Err(Sw::INCORRECT_P1P2));
        assert_eq!(parse(&hex("805C0001 01 00 04")), Err(Sw::WRONG_LENGTH));
        assert_eq!(parse(&hex("005C000104")), Err(Sw::CLA_NOT_SUPPORTED));
        assert_eq!(
            parse(&hex("845C000104")),
            Err(Sw::SECURE_MESSAGING_NOT_SUPPORTED)
        );
        assert_eq!(parse(&hex("8051000104")), Err(Sw::INS_NOT_SUPPORTED));
        assert_eq!(
            parse(&hex("805000010A 01 000010 001122334455")),
            Err(Sw::WRONG_LENGTH)
        );
        assert_eq!(
            parse(&hex("805401000B 20111221 214822 3A845BF0")),
            Err(Sw::WRONG_LENGTH)
        );
        assert_eq!(
            parse(&hex("805402000F 00000001 20120229 135100 F15CAB75")),
            Err(Sw::INCORRECT_P1P2)
        );
        assert_eq!(
            parse(&hex("805201000B 20111221 214822 3A845BF0")),
            Err(Sw::INCORRECT_P1P2)
        );
        assert_eq!(parse(&hex("805A000802 0001")), Err(Sw::INCORRECT_P1P2));
        assert_eq!(parse(&hex("805A000603 000100")), Err(Sw::WRONG_LENGTH));
        assert_eq!(
            parse(&hex("805A000602 0001 08")),
            Ok(PurseCommand::GetTransactionProve {
                transaction: TransactionType::WalletPurchase,
                atc: Atc(1),
            })
        );
    }

    #[test]
    fn parse_never_panics_on_any_header() {
        let data = [0u8; 20];
        for ins in [0x50u8, 0x52, 0x54, 0x58, 0x5A, 0x5C, 0x00] {
            for p1 in 0..=8u8 {
                for p2 in 0..=10u8 {
                    for len in 0..=data.len() {
                        let cmd = Command::new(
                            cos_core::apdu::Cla::PROPRIETARY,
                            Ins(ins),
                            p1,
                            p2,
                            &data[..len],
                            cos_core::apdu::Ne::Absent,
                        );
                        let _ = PurseCommand::try_from(&cmd);
                    }
                }
            }
        }
    }
}
