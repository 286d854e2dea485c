//! Card profiles: a TOML description of one card — type, holder, test master keys, the MF and the
//! applications with their files, contents and keys — from which `perso` derives the APDU script.
//!
//! Parsing reports errors with the field path (`app[1].file[3].size`), both for TOML type errors
//! and for our own checks (hex, lengths, key references, card-type rules).

use crate::hostcrypto::{HostAlg, HostKey};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A profile error: where, and what.
#[derive(Debug, thiserror::Error)]
#[error("profile {file}: {path}: {message}")]
pub struct ProfileError {
    /// The profile file (or `<string>`).
    pub file: String,
    /// Field path inside the profile.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Card types of the founding documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardType {
    /// Full citizen card: social security and everything else.
    Citizen,
    /// New-resident card: the same functions for a non-registered resident.
    NewResident,
    /// City pass: rides and payments, no social-insurance application.
    CityPass,
}

impl CardType {
    /// Code written on the card (`${card.type_code}`).
    pub fn code(self) -> u8 {
        match self {
            CardType::Citizen => 0x01,
            CardType::NewResident => 0x02,
            CardType::CityPass => 0x03,
        }
    }
}

/// `[card]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSection {
    /// Card type.
    #[serde(rename = "type")]
    pub card_type: CardType,
    /// Application serial number, 10 bytes hex; its last 8 bytes diversify the keys.
    pub asn: String,
    /// Factory transport code (8 bytes hex) that opens the blank chip.
    #[serde(default = "default_transport_code")]
    pub transport_code: String,
    /// Issue and expiry dates (`YYYYMMDD`), available as `${card.issue_date}` / `${card.expiry_date}`.
    #[serde(default)]
    pub issue_date: Option<String>,
    /// Expiry date.
    #[serde(default)]
    pub expiry_date: Option<String>,
}

fn default_transport_code() -> String {
    "FFFFFFFFFFFFFFFF".into()
}

/// A master key (issuer / PSAM side). **Profiles ship test keys only.**
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterKey {
    /// Algorithm.
    pub alg: HostAlg,
    /// Value, hex.
    pub value: String,
    /// What it is for (documentation only).
    #[serde(default)]
    pub description: Option<String>,
}

/// The MF section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfSection {
    /// DF name.
    #[serde(default = "default_mf_name")]
    pub name: String,
    /// Create right.
    #[serde(default = "right_issuer")]
    pub create: String,
    /// Erase right.
    #[serde(default = "right_issuer")]
    pub erase: String,
    /// Files directly under the MF.
    #[serde(default, rename = "file")]
    pub files: Vec<FileSpec>,
    /// Keys of the MF.
    #[serde(default, rename = "key")]
    pub keys: Vec<KeySpec>,
}

fn default_mf_name() -> String {
    "1PAY.SYS.DDF01".into()
}
fn right_issuer() -> String {
    "0F".into()
}
fn right_free() -> String {
    "F0".into()
}

/// An application (ADF).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// Name (`social-insurance`, `e-purse`, `transit`, `library`, or any for other areas).
    pub name: String,
    /// FID of the ADF.
    pub fid: String,
    /// DF name (AID), hex; or `name_text` for a text DF name.
    #[serde(default)]
    pub aid: Option<String>,
    /// DF name as text (GBK), e.g. `sx1.sh.社会保障`.
    #[serde(default)]
    pub name_text: Option<String>,
    /// Space quota in bytes.
    pub space: u16,
    /// Create right.
    #[serde(default = "right_issuer")]
    pub create: String,
    /// Erase right.
    #[serde(default = "right_issuer")]
    pub erase: String,
    /// Files.
    #[serde(default, rename = "file")]
    pub files: Vec<FileSpec>,
    /// Keys.
    #[serde(default, rename = "key")]
    pub keys: Vec<KeySpec>,
    /// DFs inside this one (`[[app.df]]`, each with its own files, keys and DFs), created after
    /// this DF's files and keys, their space taken from this DF's quota.
    #[serde(default, rename = "df")]
    pub dfs: Vec<AppSpec>,
}

/// File structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileType {
    /// Transparent.
    Binary,
    /// Linear fixed.
    Fixed,
    /// Linear variable.
    Variable,
    /// Cyclic.
    Cyclic,
    /// Internal (purse) EF.
    Internal,
}

/// Write protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Protection {
    /// Plain writes.
    #[default]
    None,
    /// Line-protection MAC.
    Mac,
    /// Encrypted and MAC'd.
    EncMac,
}

/// One EF.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// FID (hex); its low 5 bits are the SFI.
    pub fid: String,
    /// What it is (documentation).
    #[serde(default)]
    pub description: Option<String>,
    /// Structure.
    #[serde(rename = "type")]
    pub file_type: FileType,
    /// Size (binary, variable, internal).
    #[serde(default)]
    pub size: Option<u16>,
    /// Record count (fixed, cyclic).
    #[serde(default)]
    pub records: Option<u8>,
    /// Record length (fixed, cyclic).
    #[serde(default)]
    pub record_len: Option<u8>,
    /// Read right (hex byte).
    #[serde(default = "right_free")]
    pub read: String,
    /// Write right.
    #[serde(default = "right_free")]
    pub write: String,
    /// Write protection.
    #[serde(default)]
    pub protection: Protection,
    /// Initial content of a binary / internal file.
    #[serde(default)]
    pub content: Vec<ContentItem>,
    /// Internal (purse) files: the SFI of the transaction log that goes with it (hex).
    #[serde(default)]
    pub log_sfi: Option<String>,
    /// Initial records (each a hex string with `${…}` substitutions).
    #[serde(default, rename = "record")]
    pub record_values: Vec<String>,
}

/// A piece of file content.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentItem {
    /// Hex bytes (with `${card.asn}`-style substitutions of hex variables).
    #[serde(default)]
    pub hex: Option<String>,
    /// Text (with `${holder.name}`-style substitutions).
    #[serde(default)]
    pub text: Option<String>,
    /// Text encoding: `gbk` (default) or `ascii`.
    #[serde(default)]
    pub encoding: Option<String>,
    /// BCD digits (with substitutions), left-padded with 0 to `len`.
    #[serde(default)]
    pub bcd: Option<String>,
    /// Fixed length (text is padded with `pad`, BCD with leading zeros).
    #[serde(default)]
    pub len: Option<usize>,
    /// Pad byte for text (default `00`).
    #[serde(default)]
    pub pad: Option<String>,
    /// Data-element tag (one byte hex): the item is written as SIMPLE-TLV `tag ‖ length ‖ value`
    /// (ISO/IEC 7816-4 §5.2.1; length `FF hh ll` from 255 bytes on).
    #[serde(default)]
    pub tag: Option<String>,
}

/// A key or PIN to write.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// Key type (`external-auth`, `internal-auth`, `pin`, `purchase`, `load`, `tac`, `unload`,
    /// `overdraw`, `line-protection`, `encryption`, `pin-unblock`, `pin-reload`).
    #[serde(rename = "type")]
    pub key_type: String,
    /// Key id (index).
    pub id: u8,
    /// Master key name (`[keys.NAME]`); not for PINs.
    #[serde(default)]
    pub master: Option<String>,
    /// Diversify the master key by the card's ASN (default true).
    #[serde(default = "yes")]
    pub diversify: bool,
    /// PIN digits (PINs only).
    #[serde(default)]
    pub value: Option<String>,
    /// Key version (purse keys).
    #[serde(default)]
    pub version: Option<u8>,
    /// Next security state (authentication keys, PINs).
    #[serde(default)]
    pub next_state: Option<u8>,
    /// Try counter byte, hex (`33`).
    #[serde(default)]
    pub tries: Option<String>,
    /// Use right.
    #[serde(default = "right_free", rename = "use")]
    pub use_right: String,
    /// Change right.
    #[serde(default = "right_free")]
    pub change: String,
}

fn yes() -> bool {
    true
}

/// A whole profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// What the profile is.
    #[serde(default)]
    pub description: Option<String>,
    /// Card facts.
    pub card: CardSection,
    /// Holder data (free-form strings, available as `${holder.KEY}`).
    #[serde(default)]
    pub holder: BTreeMap<String, String>,
    /// Master keys by name.
    #[serde(default)]
    pub keys: BTreeMap<String, MasterKey>,
    /// Application parameters (free-form, for terminals and applets: purse limits, fares …).
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    /// The MF.
    pub mf: MfSection,
    /// Applications.
    #[serde(default, rename = "app")]
    pub apps: Vec<AppSpec>,
}

impl Profile {
    /// Parse profile text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Profile, ProfileError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ProfileError {
            file: file.into(),
            path: "(syntax)".into(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let p: Profile = serde_path_to_error::deserialize(de).map_err(|e| ProfileError {
            file: file.into(),
            path: e.path().to_string(),
            message: e.inner().message().to_string(),
        })?;
        p.check(file)?;
        Ok(p)
    }

    /// Read and parse a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
            file: file.clone(),
            path: "(file)".into(),
            message: e.to_string(),
        })?;
        Profile::parse(&file, &text)
    }

    /// The ASN bytes.
    pub fn asn(&self) -> Vec<u8> {
        hex::decode(&self.card.asn).unwrap_or_default()
    }

    /// The diversification input: the last 8 bytes of the ASN.
    pub fn diversification_input(&self) -> [u8; 8] {
        let asn = self.asn();
        let mut d = [0u8; 8];
        if asn.len() >= 8 {
            d.copy_from_slice(&asn[asn.len() - 8..]);
        }
        d
    }

    /// A master key by name.
    pub fn master_key(&self, name: &str) -> Option<HostKey> {
        let k = self.keys.get(name)?;
        HostKey::new(k.alg, &hex::decode(&k.value).ok()?).ok()
    }

    /// The application with this name.
    pub fn app(&self, name: &str) -> Option<&AppSpec> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// Semantic checks, each error with its field path.
    fn check(&self, file: &str) -> Result<(), ProfileError> {
        let err = |path: String, message: String| ProfileError {
            file: file.into(),
            path,
            message,
        };
        let asn = hex::decode(&self.card.asn)
            .map_err(|e| err("card.asn".into(), format!("not hex: {e}")))?;
        if !(8..=10).contains(&asn.len()) {
            return Err(err(
                "card.asn".into(),
                format!("must be 8–10 bytes, is {}", asn.len()),
            ));
        }
        match hex::decode(&self.card.transport_code) {
            Ok(c) if c.len() == 8 => {}
            _ => {
                return Err(err(
                    "card.transport_code".into(),
                    "must be 8 bytes hex".into(),
                ))
            }
        }
        for (name, k) in &self.keys {
            let path = format!("keys.{name}.value");
            let v =
                hex::decode(&k.value).map_err(|e| err(path.clone(), format!("not hex: {e}")))?;
            HostKey::new(k.alg, &v).map_err(|e| err(path, e.to_string()))?;
        }
        if self.card.card_type == CardType::CityPass {
            if let Some(i) = self.apps.iter().position(|a| a.name == "social-insurance") {
                return Err(err(
                    format!("app[{i}].name"),
                    "a city pass carries no social-insurance application".into(),
                ));
            }
        }
        self.check_dfs(file, "app", &self.apps)?;
        self.check_files(file, "mf", &self.mf.files)?;
        self.check_keys(file, "mf", &self.mf.keys)?;
        Ok(())
    }

    /// The DFs `dfs` (applications, or the DFs inside one), `prefix` their path (`app`,
    /// `app[0].df`): FIDs unique among siblings, a DF name each, rights, files, keys, and their
    /// own DFs.
    fn check_dfs(&self, file: &str, prefix: &str, dfs: &[AppSpec]) -> Result<(), ProfileError> {
        let err = |path: String, message: String| ProfileError {
            file: file.into(),
            path,
            message,
        };
        let mut fids = std::collections::BTreeSet::new();
        for (i, a) in dfs.iter().enumerate() {
            let p = format!("{prefix}[{i}]");
            hex2(&a.fid).ok_or_else(|| err(format!("{p}.fid"), "must be 2 bytes hex".into()))?;
            if !fids.insert(a.fid.to_uppercase()) {
                return Err(err(format!("{p}.fid"), "FID used twice".into()));
            }
            match (&a.aid, &a.name_text) {
                (Some(aid), None) => {
                    let b = hex::decode(aid)
                        .map_err(|e| err(format!("{p}.aid"), format!("not hex: {e}")))?;
                    if !(5..=16).contains(&b.len()) {
                        return Err(err(format!("{p}.aid"), "must be 5–16 bytes".into()));
                    }
                }
                (None, Some(t)) => {
                    let (b, _, bad) = encoding_rs::GBK.encode(t);
                    if bad || b.is_empty() || b.len() > 16 {
                        return Err(err(
                            format!("{p}.name_text"),
                            "must encode to 1–16 GBK bytes".into(),
                        ));
                    }
                }
                _ => {
                    return Err(err(
                        p.clone(),
                        "give exactly one of `aid` and `name_text`".into(),
                    ))
                }
            }
            for r in [("create", &a.create), ("erase", &a.erase)] {
                hex1(r.1)
                    .ok_or_else(|| err(format!("{p}.{}", r.0), "must be one byte hex".into()))?;
            }
            self.check_files(file, &p, &a.files)?;
            self.check_keys(file, &p, &a.keys)?;
            self.check_dfs(file, &format!("{p}.df"), &a.dfs)?;
        }
        Ok(())
    }

    fn check_files(
        &self,
        file: &str,
        parent: &str,
        files: &[FileSpec],
    ) -> Result<(), ProfileError> {
        let err = |path: String, message: String| ProfileError {
            file: file.into(),
            path,
            message,
        };
        for (j, f) in files.iter().enumerate() {
            let p = format!("{parent}.file[{j}]");
            hex2(&f.fid).ok_or_else(|| err(format!("{p}.fid"), "must be 2 bytes hex".into()))?;
            for r in [("read", &f.read), ("write", &f.write)] {
                hex1(r.1)
                    .ok_or_else(|| err(format!("{p}.{}", r.0), "must be one byte hex".into()))?;
            }
            match f.file_type {
                FileType::Binary | FileType::Variable | FileType::Internal if f.size.is_none() => {
                    return Err(err(
                        format!("{p}.size"),
                        "required for this file type".into(),
                    ))
                }
                FileType::Internal if f.size > Some(255) => {
                    return Err(err(
                        format!("{p}.size"),
                        "an internal file holds at most 255 bytes".into(),
                    ))
                }
                FileType::Fixed | FileType::Cyclic
                    if f.records.is_none() || f.record_len.is_none() =>
                {
                    return Err(err(
                        format!("{p}.records"),
                        "`records` and `record_len` are required for this file type".into(),
                    ))
                }
                _ => {}
            }
            let items = crate::perso::render_items(self, &f.content)
                .map_err(|(k, m)| err(format!("{p}.content[{k}]"), m))?;
            let used: usize = match f.file_type {
                // In a record file each content item is one record.
                FileType::Variable => items.iter().map(|r| 1 + r.len()).sum(),
                _ => items.iter().map(Vec::len).sum(),
            };
            for (k, r) in items.iter().enumerate() {
                let bad = match (f.file_type, f.record_len) {
                    (FileType::Variable, _) => (r.is_empty() || r.len() > 255)
                        .then(|| format!("a record is 1–255 bytes, this is {}", r.len())),
                    (FileType::Fixed | FileType::Cyclic, Some(len)) => (r.len()
                        != usize::from(len))
                    .then(|| format!("must be {len} bytes, is {}", r.len())),
                    _ => None,
                };
                if let Some(m) = bad {
                    return Err(err(format!("{p}.content[{k}]"), m));
                }
            }
            if let Some(size) = f.size {
                if used > usize::from(size) {
                    return Err(err(
                        format!("{p}.content"),
                        format!("{used} bytes do not fit {size}"),
                    ));
                }
            }
            if let (FileType::Fixed | FileType::Cyclic, Some(n)) = (f.file_type, f.records) {
                if items.len() + f.record_values.len() > usize::from(n) {
                    return Err(err(
                        format!("{p}.content"),
                        format!("more records than the file's {n}"),
                    ));
                }
            }
            for (k, r) in f.record_values.iter().enumerate() {
                let b = crate::perso::substitute_hex(self, r)
                    .map_err(|m| err(format!("{p}.record[{k}]"), m))?;
                if let (FileType::Fixed | FileType::Cyclic, Some(len)) = (f.file_type, f.record_len)
                {
                    if b.len() != usize::from(len) {
                        return Err(err(
                            format!("{p}.record[{k}]"),
                            format!("must be {len} bytes, is {}", b.len()),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_keys(&self, file: &str, parent: &str, keys: &[KeySpec]) -> Result<(), ProfileError> {
        let err = |path: String, message: String| ProfileError {
            file: file.into(),
            path,
            message,
        };
        for (j, k) in keys.iter().enumerate() {
            let p = format!("{parent}.key[{j}]");
            let code = crate::perso::key_type_code(&k.key_type).ok_or_else(|| {
                err(
                    format!("{p}.type"),
                    format!("unknown key type `{}`", k.key_type),
                )
            })?;
            if code == 0x3A {
                let v = k
                    .value
                    .as_deref()
                    .ok_or_else(|| err(format!("{p}.value"), "a PIN needs a value".into()))?;
                if !(4..=16).contains(&v.len()) || !v.chars().all(|c| c.is_ascii_digit()) {
                    return Err(err(
                        format!("{p}.value"),
                        "a PIN is 4–16 decimal digits".into(),
                    ));
                }
            } else {
                let m = k
                    .master
                    .as_deref()
                    .ok_or_else(|| err(format!("{p}.master"), "a key needs a master key".into()))?;
                if self.master_key(m).is_none() {
                    return Err(err(
                        format!("{p}.master"),
                        format!("no master key `{m}` in [keys]"),
                    ));
                }
            }
            if let Some(t) = &k.tries {
                hex1(t).ok_or_else(|| err(format!("{p}.tries"), "must be one byte hex".into()))?;
            }
            for r in [("use", &k.use_right), ("change", &k.change)] {
                hex1(r.1)
                    .ok_or_else(|| err(format!("{p}.{}", r.0), "must be one byte hex".into()))?;
            }
        }
        Ok(())
    }
}

/// One byte from two hex digits.
pub fn hex1(s: &str) -> Option<u8> {
    match hex::decode(s).ok()?.as_slice() {
        [b] => Some(*b),
        _ => None,
    }
}

/// Two bytes from four hex digits.
pub fn hex2(s: &str) -> Option<u16> {
    match hex::decode(s).ok()?.as_slice() {
        [a, b] => Some(u16::from_be_bytes([*a, *b])),
        _ => None,
    }
}
