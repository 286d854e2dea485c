//! Data elements: the SIMPLE-TLV items the social-security files hold, their tags and codings.
//!
//! Responsibility: parse and write SIMPLE-TLV (ISO/IEC 7816-4 §5.2.1: a tag byte `01`–`FE`, a
//! length byte `00`–`FE` or `FF` followed by two length bytes, then the value), and describe every
//! data element of this application (tag, file, coding, length) in one table, [`ELEMENTS`], that the
//! card, the profile and the host terminals share.
//!
//! Invariants: parsing never panics and never reads past its input; a tag byte `00` or `FF` where a
//! tag is expected ends a stream (the unused, zero- or `FF`-filled tail of a transparent file).
//!
//! Codings (MOHRSS social security card specification, file structure and data items V2.0, as
//! best known): `an` text left-aligned and right-padded with `00`; `cn` decimal digits in BCD,
//! left-aligned and right-padded with `F`; GBK text as `an`; `b` binary.

use crate::layout::Area;

/// A data-element tag (one SIMPLE-TLV tag byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(pub u8);

impl Tag {
    /// `01` card identification code (卡识别码), an 32.
    pub const CARD_IDENTIFICATION_CODE: Tag = Tag(0x01);
    /// `02` card type (卡的类别), b 1: `01` citizen, `02` new resident, `03` city pass.
    pub const CARD_TYPE: Tag = Tag(0x02);
    /// `03` specification version (规范版本), an 4 (`3.00`).
    pub const SPECIFICATION_VERSION: Tag = Tag(0x03);
    /// `04` issuing (initialising) organisation code (初始化机构编号), an 12.
    pub const ISSUING_ORGANISATION: Tag = Tag(0x04);
    /// `05` issue date (发卡日期), cn 8 (`YYYYMMDD`).
    pub const ISSUE_DATE: Tag = Tag(0x05);
    /// `06` expiry date (卡有效期), cn 8.
    pub const EXPIRY_DATE: Tag = Tag(0x06);
    /// `07` card number (卡号), an 9.
    pub const CARD_NUMBER: Tag = Tag(0x07);
    /// `08` social-security number (社会保障号码), an 18.
    pub const SOCIAL_SECURITY_NUMBER: Tag = Tag(0x08);
    /// `09` name (姓名), GBK an 30.
    pub const NAME: Tag = Tag(0x09);
    /// `0A` sex (性别), an 1 (GB/T 2261.1: `1` male, `2` female).
    pub const SEX: Tag = Tag(0x0A);
    /// `0B` ethnicity (民族), an 2 (GB 3304).
    pub const ETHNICITY: Tag = Tag(0x0B);
    /// `0C` birthplace (出生地), GBK an 20.
    pub const BIRTHPLACE: Tag = Tag(0x0C);
    /// `0D` date of birth (出生日期), cn 8.
    pub const DATE_OF_BIRTH: Tag = Tag(0x0D);
    /// `0F` photo (照片), b: a JPEG image (3-byte SIMPLE-TLV length).
    pub const PHOTO: Tag = Tag(0x0F);
    /// `10` employer code (单位编号), an 12.
    pub const EMPLOYER_CODE: Tag = Tag(0x10);
    /// `11` employer name (单位名称), GBK an 40.
    pub const EMPLOYER_NAME: Tag = Tag(0x11);
    /// `12` personnel category (人员类别), an 2 (`11` employed, `21` retired, `31` unemployed, `41` resident).
    pub const PERSONNEL_CATEGORY: Tag = Tag(0x12);
    /// `13` insurance types (参保险种), an 10: one `0`/`1` per scheme (pension, civil-service
    /// pension, enterprise annuity, unemployment, basic medical, serious illness, civil-service
    /// medical subsidy, supplementary medical, work injury, maternity).
    pub const INSURANCE_TYPES: Tag = Tag(0x13);
    /// `14` date first insured (首次参保日期), cn 8.
    pub const FIRST_INSURED: Tag = Tag(0x14);
    /// `20` insured region (参保地行政区划代码), cn 6.
    pub const INSURED_REGION: Tag = Tag(0x20);
    /// `21` medical insurance category (医保类别), an 1 (`1` employees, `2` urban and rural residents).
    pub const MEDICAL_CATEGORY: Tag = Tag(0x21);
    /// `22` insured status (参保状态), an 1 (`1` insured, `2` suspended, `3` terminated).
    pub const INSURED_STATUS: Tag = Tag(0x22);
    /// `23` designated medical institution (定点医疗机构编号), cn 12.
    pub const DESIGNATED_INSTITUTION: Tag = Tag(0x23);
    /// `24` medical account number (医保个人账户号), an 20.
    pub const MEDICAL_ACCOUNT_NUMBER: Tag = Tag(0x24);
    /// `30` account summary (年度结算累计), b 29: computed by the card from its internal account
    /// file, see [`crate::layout::AccountSummary`]. Served by GET DATA only.
    pub const ACCOUNT_SUMMARY: Tag = Tag(0x30);
}

/// How an element's value is coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    /// ASCII letters and digits, right-padded with `00`.
    An,
    /// GBK text, right-padded with `00`.
    Gbk,
    /// BCD digits, right-padded with `F`.
    Cn,
    /// Binary.
    B,
}

/// Where an element lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// The DF.
    pub area: Area,
    /// Short identifier of the EF under that DF.
    pub sfi: u8,
}

/// One data element of the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElementDef {
    /// Its tag.
    pub tag: Tag,
    /// English name.
    pub name: &'static str,
    /// Name in the specification (Chinese).
    pub name_zh: &'static str,
    /// Value coding.
    pub coding: Coding,
    /// Value length in bytes (for `Cn`: digits / 2). `0` for variable (the photo).
    pub len: u16,
    /// File that holds it.
    pub location: Location,
}

const fn def(
    tag: Tag,
    name: &'static str,
    name_zh: &'static str,
    coding: Coding,
    len: u16,
    area: Area,
    sfi: u8,
) -> ElementDef {
    ElementDef {
        tag,
        name,
        name_zh,
        coding,
        len,
        location: Location { area, sfi },
    }
}

/// Every data element of the application, in file and record order.
pub const ELEMENTS: &[ElementDef] = &[
    def(
        Tag::CARD_IDENTIFICATION_CODE,
        "card identification code",
        "卡识别码",
        Coding::An,
        32,
        Area::Directory,
        0x05,
    ),
    def(
        Tag::CARD_TYPE,
        "card type",
        "卡的类别",
        Coding::B,
        1,
        Area::Directory,
        0x05,
    ),
    def(
        Tag::SPECIFICATION_VERSION,
        "specification version",
        "规范版本",
        Coding::An,
        4,
        Area::Directory,
        0x05,
    ),
    def(
        Tag::ISSUING_ORGANISATION,
        "issuing organisation",
        "初始化机构编号",
        Coding::An,
        12,
        Area::Directory,
        0x05,
    ),
    def(
        Tag::ISSUE_DATE,
        "issue date",
        "发卡日期",
        Coding::Cn,
        4,
        Area::Directory,
        0x05,
    ),
    def(
        Tag::EXPIRY_DATE,
        "expiry date",
        "卡有效期",
        Coding::Cn,
        4,
        Area::Directory,
        0x05,
    ),
    def(
        Tag::CARD_NUMBER,
        "card number",
        "卡号",
        Coding::An,
        9,
        Area::Directory,
        0x05,
    ),
    def(
        Tag::SOCIAL_SECURITY_NUMBER,
        "social-security number",
        "社会保障号码",
        Coding::An,
        18,
        Area::Directory,
        0x06,
    ),
    def(
        Tag::NAME,
        "name",
        "姓名",
        Coding::Gbk,
        30,
        Area::Directory,
        0x06,
    ),
    def(
        Tag::SEX,
        "sex",
        "性别",
        Coding::An,
        1,
        Area::Directory,
        0x06,
    ),
    def(
        Tag::ETHNICITY,
        "ethnicity",
        "民族",
        Coding::An,
        2,
        Area::Directory,
        0x06,
    ),
    def(
        Tag::BIRTHPLACE,
        "birthplace",
        "出生地",
        Coding::Gbk,
        20,
        Area::Directory,
        0x06,
    ),
    def(
        Tag::DATE_OF_BIRTH,
        "date of birth",
        "出生日期",
        Coding::Cn,
        4,
        Area::Directory,
        0x06,
    ),
    def(
        Tag::PHOTO,
        "photo",
        "照片",
        Coding::B,
        0,
        Area::Directory,
        0x08,
    ),
    def(
        Tag::EMPLOYER_CODE,
        "employer code",
        "单位编号",
        Coding::An,
        12,
        Area::Directory,
        0x09,
    ),
    def(
        Tag::EMPLOYER_NAME,
        "employer name",
        "单位名称",
        Coding::Gbk,
        40,
        Area::Directory,
        0x09,
    ),
    def(
        Tag::PERSONNEL_CATEGORY,
        "personnel category",
        "人员类别",
        Coding::An,
        2,
        Area::Directory,
        0x09,
    ),
    def(
        Tag::INSURANCE_TYPES,
        "insurance types",
        "参保险种",
        Coding::An,
        10,
        Area::Directory,
        0x09,
    ),
    def(
        Tag::FIRST_INSURED,
        "first insured",
        "首次参保日期",
        Coding::Cn,
        4,
        Area::Directory,
        0x09,
    ),
    def(
        Tag::INSURED_REGION,
        "insured region",
        "参保地",
        Coding::Cn,
        3,
        Area::Medical,
        0x05,
    ),
    def(
        Tag::MEDICAL_CATEGORY,
        "medical insurance category",
        "医保类别",
        Coding::An,
        1,
        Area::Medical,
        0x05,
    ),
    def(
        Tag::INSURED_STATUS,
        "insured status",
        "参保状态",
        Coding::An,
        1,
        Area::Medical,
        0x05,
    ),
    def(
        Tag::DESIGNATED_INSTITUTION,
        "designated institution",
        "定点医疗机构编号",
        Coding::Cn,
        6,
        Area::Medical,
        0x05,
    ),
    def(
        Tag::MEDICAL_ACCOUNT_NUMBER,
        "medical account number",
        "医保个人账户号",
        Coding::An,
        20,
        Area::Medical,
        0x05,
    ),
    def(
        Tag::ACCOUNT_SUMMARY,
        "account summary",
        "年度结算累计",
        Coding::B,
        crate::layout::ACCOUNT_SUMMARY_LEN as u16,
        Area::Medical,
        0x06,
    ),
];

/// The definition of a tag.
pub fn definition(tag: Tag) -> Option<&'static ElementDef> {
    ELEMENTS.iter().find(|d| d.tag == tag)
}

/// Why bytes are not a SIMPLE-TLV element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementError {
    /// The input ends inside the length field or the value.
    Truncated,
    /// Tag `00` or `FF` where an element was required.
    InvalidTag,
    /// The output buffer is too small.
    BufferTooSmall,
}

/// One data element, borrowed from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Element<'a> {
    /// Tag.
    pub tag: Tag,
    /// Value.
    pub value: &'a [u8],
}

/// Parse the element at the start of `data`; returns it and the bytes after it.
pub fn parse(data: &[u8]) -> Result<(Element<'_>, &[u8]), ElementError> {
    let (&tag, rest) = data.split_first().ok_or(ElementError::Truncated)?;
    if tag == 0x00 || tag == 0xFF {
        return Err(ElementError::InvalidTag);
    }
    let (&l0, rest) = rest.split_first().ok_or(ElementError::Truncated)?;
    let (len, rest) = if l0 == 0xFF {
        match rest {
            [hi, lo, tail @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), tail),
            _ => return Err(ElementError::Truncated),
        }
    } else {
        (usize::from(l0), rest)
    };
    if rest.len() < len {
        return Err(ElementError::Truncated);
    }
    let (value, rest) = rest.split_at(len);
    Ok((
        Element {
            tag: Tag(tag),
            value,
        },
        rest,
    ))
}

/// The elements of a stream (a record, or a transparent file's body). The stream ends at its end
/// or at a tag byte `00` / `FF` (unused space).
pub fn elements(data: &[u8]) -> Elements<'_> {
    Elements { rest: data }
}

/// Iterator over a SIMPLE-TLV stream; yields an error once and then stops.
#[derive(Clone, Debug)]
pub struct Elements<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Element<'a>, ElementError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.rest.first() {
            None | Some(0x00) | Some(0xFF) => None,
            Some(_) => match parse(self.rest) {
                Ok((e, rest)) => {
                    self.rest = rest;
                    Some(Ok(e))
                }
                Err(err) => {
                    self.rest = &[];
                    Some(Err(err))
                }
            },
        }
    }
}

/// The value of the first element with `tag` in a stream.
pub fn find(data: &[u8], tag: Tag) -> Result<Option<&[u8]>, ElementError> {
    for e in elements(data) {
        let e = e?;
        if e.tag == tag {
            return Ok(Some(e.value));
        }
    }
    Ok(None)
}

/// Length of the tag and length fields for a value of `len` bytes.
pub const fn header_len(len: usize) -> usize {
    if len < 0xFF {
        2
    } else {
        4
    }
}

/// Write `tag ‖ length ‖ value` into `out`; returns the bytes written.
pub fn write(tag: Tag, value: &[u8], out: &mut [u8]) -> Result<usize, ElementError> {
    if tag.0 == 0x00 || tag.0 == 0xFF {
        return Err(ElementError::InvalidTag);
    }
    let len = u16::try_from(value.len()).map_err(|_| ElementError::BufferTooSmall)?;
    let h = header_len(value.len());
    let total = h + value.len();
    let dst = out.get_mut(..total).ok_or(ElementError::BufferTooSmall)?;
    let (head, body) = dst.split_at_mut(h);
    match head {
        [t, l] => {
            *t = tag.0;
            *l = len as u8;
        }
        [t, ff, hi, lo] => {
            let [a, b] = len.to_be_bytes();
            *t = tag.0;
            *ff = 0xFF;
            *hi = a;
            *lo = b;
        }
        _ => return Err(ElementError::BufferTooSmall),
    }
    body.copy_from_slice(value);
    Ok(total)
}

/// An `an` / GBK value without its `00` padding.
pub fn trim_text(value: &[u8]) -> &[u8] {
    let end = value.iter().rposition(|&b| b != 0x00).map_or(0, |i| i + 1);
    value.get(..end).unwrap_or(&[])
}

/// The digits of a `cn` value (BCD, `F`-padded) into `out`; returns how many, or `None` when a
/// nibble is neither a digit nor trailing padding.
pub fn cn_digits(value: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut n = 0usize;
    let mut padding = false;
    for nib in value.iter().flat_map(|b| [b >> 4, b & 0x0F]) {
        match nib {
            0..=9 if !padding => {
                *out.get_mut(n)? = b'0' + nib;
                n += 1;
            }
            0x0F => padding = true,
            _ => return None,
        }
    }
    Some(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::{vec, vec::Vec};

    #[test]
    fn short_and_long_forms() {
        let mut b = [0u8; 300];
        let n = write(Tag::NAME, b"ab", &mut b).unwrap();
        assert_eq!(&b[..n], &[0x09, 0x02, b'a', b'b']);
        let v = [0x5Au8; 0x1FF];
        let mut big = [0u8; 0x204];
        let n = write(Tag::PHOTO, &v, &mut big).unwrap();
        assert_eq!(&big[..4], &[0x0F, 0xFF, 0x01, 0xFF]);
        let (e, rest) = parse(&big[..n]).unwrap();
        assert_eq!((e.tag, e.value.len(), rest.len()), (Tag::PHOTO, 0x1FF, 0));
        assert_eq!(write(Tag(0), b"", &mut b), Err(ElementError::InvalidTag));
        assert_eq!(
            write(Tag::NAME, b"abc", &mut [0u8; 4]),
            Err(ElementError::BufferTooSmall)
        );
    }

    #[test]
    fn streams_stop_at_padding_and_report_truncation() {
        let s = [0x01, 0x01, 0xAA, 0x02, 0x00, 0x00, 0x00, 0x05];
        let v: Vec<_> = elements(&s).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(find(&s, Tag(2)).unwrap(), Some(&[][..]));
        assert_eq!(find(&s, Tag(5)).unwrap(), None, "after the padding");
        assert_eq!(parse(&[0x01, 0x05, 1]), Err(ElementError::Truncated));
        assert_eq!(parse(&[0x01, 0xFF, 1]), Err(ElementError::Truncated));
        assert_eq!(parse(&[0xFF, 0x00]), Err(ElementError::InvalidTag));
        assert_eq!(find(&[0x01, 0x09, 0], Tag(3)), Err(ElementError::Truncated));
    }

    #[test]
    fn codings() {
        assert_eq!(trim_text(b"AB\0\0"), b"AB");
        assert_eq!(trim_text(b"\0\0"), b"");
        let mut d = [0u8; 8];
        assert_eq!(cn_digits(&[0x33, 0x04, 0x0F], &mut d), Some(5));
        assert_eq!(&d[..5], b"33040");
        assert_eq!(cn_digits(&[0x3A], &mut d), None);
        assert_eq!(cn_digits(&[0xF3], &mut d), None, "a digit after padding");
    }

    #[test]
    fn the_table_is_consistent() {
        for (i, d) in ELEMENTS.iter().enumerate() {
            assert!(d.tag.0 != 0 && d.tag.0 != 0xFF);
            assert!(
                ELEMENTS[i + 1..].iter().all(|o| o.tag != d.tag),
                "{:?} twice",
                d.tag
            );
            assert_eq!(definition(d.tag), Some(d));
        }
    }

    proptest! {
        #[test]
        fn round_trip(tag in 1u8..0xFF, value in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut b = vec![0u8; 610];
            let n = write(Tag(tag), &value, &mut b).unwrap();
            prop_assert_eq!(n, header_len(value.len()) + value.len());
            let (e, rest) = parse(&b[..n]).unwrap();
            prop_assert_eq!(e.tag, Tag(tag));
            prop_assert_eq!(e.value, &value[..]);
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn parsing_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut consumed = 0usize;
            for e in elements(&data) {
                match e {
                    Ok(e) => consumed += header_len(e.value.len()) + e.value.len(),
                    Err(_) => break,
                }
            }
            prop_assert!(consumed <= data.len());
        }
    }
}
