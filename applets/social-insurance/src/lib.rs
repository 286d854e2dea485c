//! # social-insurance: the social security card (社会保障卡) application
//!
//! The MOHRSS social security card application on the citizen-card COS: the DDF
//! `sx1.sh.社会保障` (card identification, holder information, photo, employment and insurance
//! data) and the medical-insurance DF under it (insured status, the year's account totals, the
//! settlement records hospital terminals write). `docs/social-insurance.md` is the reference:
//! directory, file layouts, data elements, keys, access rules, command sequences, status words.
//!
//! Most of the application is the kernel's generic machinery, configured by the card profile:
//! the files and their access rights, PIN (VERIFY, CHANGE / RELOAD PIN), terminal and card
//! authentication (GET CHALLENGE, EXTERNAL / INTERNAL AUTHENTICATE) and line protection (MAC'd
//! UPDATE RECORD / BINARY). The applet ([`SocialInsurance`], one instance per DF) adds what the
//! kernel cannot: FCI data, GET DATA by element tag, and the atomic SETTLE.
//!
//! Modules: [`element`] (SIMPLE-TLV data elements, the tag table shared with host terminals),
//! [`layout`] (DF names, SFIs, settlement and account layouts), [`command`] (APDU →
//! [`SiCommand`]), [`applet`] (the [`cos_core::Applet`] implementation).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod applet;
pub mod command;
pub mod element;
pub mod layout;

pub use applet::SocialInsurance;
pub use command::{SiCommand, INS_SETTLE};
pub use element::{Element, ElementDef, ElementError, Tag, ELEMENTS};
pub use layout::{
    AccountSummary, Area, DateTime, Fen, Settlement, SettlementRecord, VisitType, DDF_FID,
    DDF_NAME, MEDICAL_AID, MEDICAL_FID,
};
