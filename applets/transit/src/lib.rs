//! # transit: the transit application of the citizen card
//!
//! JT/T 978 (the Ministry of Transport interoperable transit card, AID `A000000632010105`) and
//! CJ/T 166 (city one-card) on the citizen-card COS kernel. Like JT/T 978 cards, the transit ADF
//! carries **its own PBOC electronic purse** (EF `0002`, log EF `18`, keys by key index): the
//! [`Transit`] applet embeds an [`e_purse::EPurse`] bound to the transit AID and adds
//!
//! * the **composite (CAPP) purchase**: INITIALIZE FOR CAPP PURCHASE `80 50 03 02`, UPDATE CAPP
//!   DATA CACHE `80 DC`, DEBIT `80 54 01 00` with transaction type `09`; the cached composite
//!   record(s) of EF `1A`, the balance, the offline ATC, the `18` record and the `1E` trip-log
//!   record commit in one storage transaction after MAC1 verifies;
//! * what keyless interoperable readers expect: the FCI `6F { 84 AID, A5 { 9F08 version,
//!   9F0C EF 15 } }`, GET BALANCE `80 5C P1 02 04` with P1 `00`–`03`;
//! * [`Ppse`]: the `2PAY.SYS.DDF01` directory that lists the transit application for phones.
//!
//! Modules: [`records`] (layouts of the composite header and the trip log), [`command`] (APDU →
//! [`TransitCommand`]), [`transit`] (the applet), [`ppse`] (the directory applet).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod command;
pub mod ppse;
pub mod records;
pub mod transit;

pub use command::{BalanceItem, CacheRequest, RecordRef, TransitCommand, COMPOSITE_SFI};
pub use ppse::{Ppse, PPSE_NAME};
pub use records::{
    CityCode, CompositeHeader, Institution, Location, LockFlag, RecordTag, TripEvent, TripRecord,
    COMPOSITE_HEADER_LEN, MAX_COMPOSITE_RECORD, TRIP_RECORD_LEN,
};
pub use transit::{Transit, DEFAULT_AID, ISSUER_SFI, MAX_CACHED_RECORDS, TRIP_LOG_SFI};
