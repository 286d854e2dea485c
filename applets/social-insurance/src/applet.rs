//! The applet: FCI data on SELECT, GET DATA by element tag, and SETTLE in the medical DF.
//!
//! Responsibility: what the kernel's generic commands cannot do for this application. The file
//! system, access rights, secure messaging, PIN and authentication commands are the kernel's and
//! are configured by the profile; this applet adds
//! * the FCI proprietary template (`A5`) on SELECT;
//! * GET DATA: a data element by its tag, wherever it lives in the current DF, under the read right
//!   of the file that holds it (the MOHRSS "read by data-item tag" that the kernel's READ RECORD
//!   does not offer);
//! * SETTLE (medical DF only): a settlement record appended to the cyclic log *and* the year's
//!   account totals updated in one atomic transaction, under the account's usage right and a
//!   line-protection MAC, answered with a card receipt MAC.
//!
//! Invariants: the applet keeps no RAM state at all (power loss needs no care); every refusal
//! happens before the one transaction that writes; rights are always checked against the kernel's
//! security status and never cached; MACs are checked through the key's try counter
//! ([`Cx::verify_with_key`], consume-then-verify).

use crate::command::SiCommand;
use crate::element::{self, Tag};
use crate::layout::{
    ddf, medical, AccountSummary, Area, Settlement, SettlementRecord, ACCOUNT_FILE_LEN,
    ACCOUNT_SUMMARY_LEN, SETTLEMENT_RECORD_LEN, SETTLEMENT_REQUEST_LEN,
};
use cos_core::apdu::{Command, Response, Sw};
use cos_core::fs::record::MAX_RECORD;
use cos_core::fs::FileKind;
use cos_core::keys::KeyType;
use cos_core::sm;
use cos_core::types::AccessRight;
use cos_core::{Applet, Cx, FileRef, Selection};

/// `9F08` application version number in the FCI: this applet's command set, `01 00`.
pub const APPLICATION_VERSION: [u8; 2] = [0x01, 0x00];
/// FCI tag of the application version number (EMV `9F08`).
pub const FCI_VERSION_TAG: u16 = 0x9F08;
/// FCI tag of the card number (element `07`).
pub const FCI_CARD_NUMBER_TAG: u16 = 0xC1;
/// FCI tag of the card type (element `02`).
pub const FCI_CARD_TYPE_TAG: u16 = 0xC2;
/// FCI tag of the specification version (element `03`).
pub const FCI_SPEC_VERSION_TAG: u16 = 0xC3;

/// Key identifier of the line-protection key under which SETTLE is MAC'd (the DF's first and
/// only one, the key the kernel uses for its own secure messaging).
pub const LINE_KEY_ID: u8 = 0x00;
/// Key identifier of the internal-authentication key that signs settlement receipts. Its use right
/// should never be met (`EF`), so that INTERNAL AUTHENTICATE cannot turn it into a MAC oracle.
pub const RECEIPT_KEY_ID: u8 = 0x01;
/// Length of SETTLE's answer: settlement number (2) ‖ receipt MAC (4).
pub const SETTLE_RESPONSE_LEN: usize = 6;

/// The social-security application on one of its two DFs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocialInsurance {
    area: Area,
}

impl SocialInsurance {
    /// The applet of the DDF `sx1.sh.社会保障`.
    pub const fn directory() -> SocialInsurance {
        SocialInsurance {
            area: Area::Directory,
        }
    }

    /// The applet of the medical-insurance DF.
    pub const fn medical() -> SocialInsurance {
        SocialInsurance {
            area: Area::Medical,
        }
    }

    /// Which DF this instance serves.
    pub const fn area(&self) -> Area {
        self.area
    }
}

/// Response overflow cannot happen (every answer is far below the buffer): one documented SW.
fn overflow<E>(_: E) -> Sw {
    Sw::UNKNOWN
}

/// An EF of the current DF by SFI, or `None` when there is none.
fn optional_file(cx: &Cx<'_>, sfi: u8) -> Result<Option<FileRef>, Sw> {
    match cx.file_by_sfi(sfi) {
        Ok(f) => Ok(Some(f)),
        Err(Sw::FILE_NOT_FOUND) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where an element was found: the record holding it (its length in the buffer) and the read
/// right of its file.
struct Found {
    len: usize,
    read: AccessRight,
}

/// Look for the element `tag` in the record files of `area` (records are whole elements).
fn find_element(
    cx: &Cx<'_>,
    area: Area,
    tag: Tag,
    buf: &mut [u8; MAX_RECORD],
) -> Result<Option<Found>, Sw> {
    for &sfi in area.element_files() {
        let Some(f) = optional_file(cx, sfi)? else {
            continue;
        };
        let e = cx.entry(f)?;
        if e.kind != FileKind::LinearVariable {
            continue;
        }
        if let Some(len) = record_with(cx, f, tag, buf)? {
            return Ok(Some(Found {
                len,
                read: e.rights.first,
            }));
        }
    }
    Ok(None)
}

/// The length of the first record of `f` whose element is tagged `tag` (left in `buf`). One
/// copy of the record scan for GET DATA and the FCI.
fn record_with(
    cx: &Cx<'_>,
    f: FileRef,
    tag: Tag,
    buf: &mut [u8; MAX_RECORD],
) -> Result<Option<usize>, Sw> {
    for n in 1..=cx.record_count(f)? {
        let len = cx.read_record(f, n, buf)?;
        let record = buf.get(..len).ok_or(Sw::UNKNOWN)?;
        if element::parse(record).is_ok_and(|(el, _)| el.tag == tag) {
            return Ok(Some(len));
        }
    }
    Ok(None)
}

/// The account EF (internal, 32 bytes) of the medical DF.
fn account_file(cx: &Cx<'_>) -> Result<(FileRef, AccessRight), Sw> {
    let f = cx.file_by_sfi(medical::ACCOUNT)?;
    let e = cx.entry(f)?;
    if e.kind != FileKind::Internal || usize::from(e.size) < ACCOUNT_FILE_LEN {
        return Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE);
    }
    Ok((f, e.rights.first))
}

fn read_account(cx: &Cx<'_>, f: FileRef) -> Result<AccountSummary, Sw> {
    let mut b = [0u8; ACCOUNT_FILE_LEN];
    cx.read(f, 0, &mut b)?;
    AccountSummary::parse(&b).map_err(|_| Sw::MEMORY_FAILURE)
}

impl SocialInsurance {
    /// `A5` contents: the version, and for the DDF the public identification elements of EF05
    /// when its read right is met (it is free on a standard card).
    fn fci(&self, cx: &mut Cx<'_>, fci: &mut Response<'_>) -> Result<(), Sw> {
        fci.tlv(FCI_VERSION_TAG, &APPLICATION_VERSION)
            .map_err(overflow)?;
        if self.area != Area::Directory {
            return Ok(());
        }
        let Some(f) = optional_file(cx, ddf::CARD_IDENTIFICATION)? else {
            return Ok(());
        };
        let e = cx.entry(f)?;
        if e.kind != FileKind::LinearVariable || !cx.satisfies(e.rights.first) {
            return Ok(());
        }
        let mut buf = [0u8; MAX_RECORD];
        for (tag, fci_tag, text) in [
            (Tag::CARD_NUMBER, FCI_CARD_NUMBER_TAG, true),
            (Tag::CARD_TYPE, FCI_CARD_TYPE_TAG, false),
            (Tag::SPECIFICATION_VERSION, FCI_SPEC_VERSION_TAG, true),
        ] {
            let Some(len) = record_with(cx, f, tag, &mut buf)? else {
                continue;
            };
            let record = buf.get(..len).ok_or(Sw::UNKNOWN)?;
            if let Ok((el, _)) = element::parse(record) {
                let value = if text {
                    element::trim_text(el.value)
                } else {
                    el.value
                };
                fci.tlv(fci_tag, value).map_err(overflow)?;
            }
        }
        Ok(())
    }

    /// GET DATA: the element `tag ‖ len ‖ value`, under its file's read right.
    fn get_data(&self, cx: &mut Cx<'_>, tag: Tag, rsp: &mut Response<'_>) -> Result<Sw, Sw> {
        if self.area == Area::Medical && tag == Tag::ACCOUNT_SUMMARY {
            let (f, usage) = account_file(cx)?;
            if !cx.satisfies(usage) {
                return Err(Sw::SECURITY_STATUS_NOT_SATISFIED);
            }
            let summary = read_account(cx, f)?.encode();
            let mut out = [0u8; ACCOUNT_SUMMARY_LEN + 2];
            let n = element::write(tag, &summary, &mut out).map_err(overflow)?;
            rsp.extend(out.get(..n).ok_or(Sw::UNKNOWN)?)
                .map_err(overflow)?;
            return Ok(Sw::SUCCESS);
        }
        let mut buf = [0u8; MAX_RECORD];
        let found =
            find_element(cx, self.area, tag, &mut buf)?.ok_or(Sw::REFERENCED_DATA_NOT_FOUND)?;
        if !cx.satisfies(found.read) {
            return Err(Sw::SECURITY_STATUS_NOT_SATISFIED);
        }
        rsp.extend(buf.get(..found.len).ok_or(Sw::UNKNOWN)?)
            .map_err(overflow)?;
        Ok(Sw::SUCCESS)
    }

    /// SETTLE: check right, challenge and MAC, validate, then append the record and update the
    /// account in one transaction; answer the settlement number and the receipt MAC.
    fn settle(&self, cx: &mut Cx<'_>, cmd: &Command<'_>, rsp: &mut Response<'_>) -> Result<Sw, Sw> {
        let (account, usage) = account_file(cx)?;
        let log = cx.file_by_sfi(medical::SETTLEMENTS)?;
        let log_entry = cx.entry(log)?;
        if log_entry.kind != FileKind::Cyclic
            || usize::from(log_entry.record_len) != SETTLEMENT_RECORD_LEN
        {
            return Err(Sw::COMMAND_INCOMPATIBLE_WITH_FILE);
        }
        if !cx.satisfies(usage) {
            return Err(Sw::SECURITY_STATUS_NOT_SATISFIED);
        }
        // Secure messaging exactly as the kernel checks it for its own writes.
        let challenge = cx.take_challenge().ok_or(Sw::REFERENCE_DATA_NOT_USABLE)?;
        let data = cmd.data();
        let body_len = data
            .len()
            .checked_sub(sm::MAC_LEN)
            .ok_or(Sw::SM_DATA_OBJECTS_MISSING)?;
        cx.verify_line_mac(cmd, LINE_KEY_ID, &challenge)?;
        if body_len != SETTLEMENT_REQUEST_LEN {
            return Err(Sw::WRONG_LENGTH);
        }
        let body = data.get(..body_len).ok_or(Sw::WRONG_LENGTH)?;
        let settlement = Settlement::parse(body).map_err(|_| Sw::WRONG_DATA)?;
        let next = read_account(cx, account)?
            .settle(&settlement)
            .ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let record = SettlementRecord {
            number: next.counter,
            settlement,
        }
        .encode();
        let receipt = {
            let key = cx
                .key(KeyType::InternalAuth, RECEIPT_KEY_ID)?
                .crypto_key()?;
            key.mac_zero_iv(&[&record])
                .map_err(|_| Sw::UNKNOWN)?
                .first4()
        };
        let summary = next.encode();
        cx.transaction(|tx| {
            tx.append_record(log, &record)?;
            tx.write(account, 0, &summary)
        })?;
        rsp.extend(&next.counter.to_be_bytes()).map_err(overflow)?;
        rsp.extend(&receipt).map_err(overflow)?;
        Ok(Sw::SUCCESS)
    }
}

impl Applet for SocialInsurance {
    fn aid(&self) -> &[u8] {
        self.area.df_name()
    }

    fn power_on(&mut self) {}

    fn select(
        &mut self,
        cx: &mut Cx<'_>,
        _selection: Selection,
        fci: &mut Response<'_>,
    ) -> Result<(), Sw> {
        self.fci(cx, fci)
    }

    fn deselect(&mut self) {}

    fn process(
        &mut self,
        cx: &mut Cx<'_>,
        cmd: &Command<'_>,
        rsp: &mut Response<'_>,
    ) -> Result<Sw, Sw> {
        if cmd.cla().is_proprietary()
            && cmd.ins() == crate::command::INS_SETTLE
            && self.area != Area::Medical
        {
            return Err(Sw::INS_NOT_SUPPORTED);
        }
        match SiCommand::try_from(cmd)? {
            SiCommand::GetData { tag } => self.get_data(cx, tag, rsp),
            SiCommand::Settle => self.settle(cx, cmd, rsp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_serve_their_df() {
        assert_eq!(SocialInsurance::directory().aid(), crate::layout::DDF_NAME);
        assert_eq!(SocialInsurance::medical().aid(), crate::layout::MEDICAL_AID);
        assert_eq!(SocialInsurance::medical().area(), Area::Medical);
        assert_eq!(SETTLE_RESPONSE_LEN, 2 + sm::MAC_LEN);
    }
}
