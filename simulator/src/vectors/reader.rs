//! One card behind many readers (`shared/design-notes.md` §7): the vectors talk to a [`Reader`],
//! and the same file runs against the in-process simulator ([`InProcess`]) or any PC/SC reader
//! (`Pcsc`, cargo feature `pcsc`, which links libpcsclite).
//!
//! A reader moves bytes and power events only: no GET RESPONSE, no chaining, no retries, so every
//! reader shows the vectors exactly what the card answered.

use crate::card::SimCard;

/// A reader-level failure (not a status word: those are answers).
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    /// The card gave no answer (in-process: it lost power during the command).
    #[error("no answer: the card lost power")]
    NoAnswer,
    /// The reader or its driver failed.
    #[error("reader: {0}")]
    Io(String),
}

/// A card reader with a card in it.
pub trait Reader {
    /// What it is, for reports (`in-process simulator`, the PC/SC reader name).
    fn name(&self) -> String;
    /// Send one C-APDU, return the R-APDU (data ‖ SW1 SW2).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError>;
    /// Warm reset; returns the ATR.
    fn reset(&mut self) -> Result<Vec<u8>, ReaderError>;
    /// Power off and on (cold reset); returns the ATR. Readers that cannot cut the power reset.
    fn power_cycle(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.reset()
    }
    /// The simulated card behind this reader, when there is one (protocol switches).
    fn sim(&mut self) -> Option<&mut SimCard> {
        None
    }
    /// What the card side can report about itself after a run (the emulated chip: its stack
    /// region, EEPROM pages in use and page programs), if anything.
    fn diagnostics(&mut self) -> Option<String> {
        None
    }
}

/// The simulator in the same process.
pub struct InProcess {
    /// The card.
    pub card: SimCard,
}

impl InProcess {
    /// A reader holding `card` (its APDU trace is switched off: the runner keeps its own).
    pub fn new(mut card: SimCard) -> InProcess {
        card.set_tracing(false);
        InProcess { card }
    }
}

impl Reader for InProcess {
    fn name(&self) -> String {
        "in-process simulator".into()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let r = self.card.transmit(apdu);
        if r.is_empty() {
            return Err(ReaderError::NoAnswer);
        }
        Ok(r)
    }

    fn reset(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.card
            .reset()
            .map_err(|e| ReaderError::Io(e.to_string()))
    }

    fn power_cycle(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.card.power_off();
        self.card
            .power_on()
            .map_err(|e| ReaderError::Io(e.to_string()))
    }

    fn sim(&mut self) -> Option<&mut SimCard> {
        Some(&mut self.card)
    }
}

#[cfg(feature = "pcsc")]
pub use self::pcsc_reader::{list_readers, Pcsc};

#[cfg(feature = "pcsc")]
mod pcsc_reader {
    use super::{Reader, ReaderError};
    use std::ffi::CString;

    fn io(what: &str, e: pcsc::Error) -> ReaderError {
        ReaderError::Io(format!("{what}: {e}"))
    }

    /// The names of the PC/SC readers pcscd knows.
    pub fn list_readers() -> Result<Vec<String>, ReaderError> {
        let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(|e| io("pcscd", e))?;
        let names = match ctx.list_readers_owned() {
            Ok(n) => n,
            Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
            Err(e) => return Err(io("listing readers", e)),
        };
        Ok(names
            .into_iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect())
    }

    /// A PC/SC reader (through pcscd: a real reader, or `vpcd` serving the simulator).
    pub struct Pcsc {
        // Declared before the context: the card handle is released first.
        card: pcsc::Card,
        _ctx: pcsc::Context,
        reader: String,
    }

    impl Pcsc {
        /// Connect to the reader called `name`, or to the only reader whose name contains it.
        pub fn connect(name: &str) -> Result<Pcsc, ReaderError> {
            let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(|e| io("pcscd", e))?;
            let names: Vec<CString> = match ctx.list_readers_owned() {
                Ok(n) => n,
                Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
                Err(e) => return Err(io("listing readers", e)),
            };
            let all: Vec<String> = names
                .iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            let pick = match all.iter().position(|n| n == name) {
                Some(i) => i,
                None => {
                    let hits: Vec<usize> =
                        (0..all.len()).filter(|&i| all[i].contains(name)).collect();
                    match hits.as_slice() {
                        [i] => *i,
                        [] => {
                            return Err(ReaderError::Io(format!(
                                "no reader `{name}` (readers: {})",
                                if all.is_empty() {
                                    "none".into()
                                } else {
                                    all.join(", ")
                                }
                            )))
                        }
                        _ => {
                            return Err(ReaderError::Io(format!(
                                "`{name}` names several readers: {}",
                                hits.iter()
                                    .map(|&i| all[i].as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )))
                        }
                    }
                }
            };
            let card = ctx
                .connect(
                    &names[pick],
                    pcsc::ShareMode::Exclusive,
                    pcsc::Protocols::ANY,
                )
                .map_err(|e| io(&format!("connecting to `{}`", all[pick]), e))?;
            Ok(Pcsc {
                card,
                _ctx: ctx,
                reader: all[pick].clone(),
            })
        }

        fn reconnect(&mut self, how: pcsc::Disposition) -> Result<Vec<u8>, ReaderError> {
            self.card
                .reconnect(pcsc::ShareMode::Exclusive, pcsc::Protocols::ANY, how)
                .map_err(|e| io("reset", e))?;
            // SCardStatus, not the ATR attribute: every driver (vpcd included) answers it.
            self.card
                .status2_owned()
                .map(|s| s.atr().to_vec())
                .map_err(|e| io("reading the ATR", e))
        }
    }

    impl Reader for Pcsc {
        fn name(&self) -> String {
            format!("PC/SC reader `{}`", self.reader)
        }

        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
            let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
            let r = self
                .card
                .transmit(apdu, &mut buf)
                .map_err(|e| io("transmit", e))?;
            if r.len() < 2 {
                return Err(ReaderError::NoAnswer);
            }
            Ok(r.to_vec())
        }

        fn reset(&mut self) -> Result<Vec<u8>, ReaderError> {
            self.reconnect(pcsc::Disposition::ResetCard)
        }

        fn power_cycle(&mut self) -> Result<Vec<u8>, ReaderError> {
            self.reconnect(pcsc::Disposition::UnpowerCard)
        }
    }
}
