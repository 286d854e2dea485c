//! Post-issuance application areas on the host side (`docs/areas.md`): the **area profile**
//! (a service unit's area: DF name, quota, initial key, its keys, files and initial records), and
//! the APDU scripts of each party — the issuer's grant and revocation, the service unit's
//! hand-over — run live against a simulated card or written out for a real reader.
//!
//! Every script needs challenge–response (the issuer's external authentication, secure messaging
//! under MF, initial and area keys), so it cannot be a static `scriptor` list. It is generated as a
//! **conformance-vector file** (`docs/conformance.md`): its `external_auth` and `secured` steps
//! compute cryptograms and MACs over the card's fresh challenge with the host reference model, and
//! its first steps read the card's ASN (EF 0005 of the MF) so that the diversified keys are the
//! card's own. The very text that is written out is what runs here: `cos-sim replay FILE --reader
//! NAME --destructive` runs it on a card in a reader, `--card IMAGE` on an image (read only).
//!
//! The scripts carry master keys (TEST keys in the shipped profiles): a real issuer or service unit
//! runs them from its own key store (HSM / SAM); see `docs/areas.md`.

use crate::card::SimCard;
use crate::hostcrypto::{HostAlg, HostKey};
use crate::perso;
use crate::profile::{hex1, hex2, AppSpec, FileType, KeySpec, Profile, ProfileError, Protection};
use crate::vectors::expr::Vars;
use crate::vectors::format;
use crate::vectors::reader::{Reader, ReaderError};
use crate::vectors::runner::run_steps;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Offset of the ASN in EF 0005 of the MF (card type ‖ ASN ‖ dates, as the citizen-card profile
/// writes it), and the READ BINARY that fetches type and ASN.
const READ_CARD_INFO: &str = "00B0 8500 0B";
/// The diversification input: the last 8 bytes of the 10-byte ASN.
const ASN8_CAPTURE: &str = "3..11";

/// The initial area key the issuer installs with the grant (`[area.initial_key]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitialKey {
    /// Master key name (`[keys.NAME]`), shared by the issuer and the service unit.
    pub master: String,
    /// Diversify by the card's ASN (default true).
    #[serde(default = "yes")]
    pub diversify: bool,
    /// Use right (default `F0`).
    #[serde(default = "free", rename = "use")]
    pub use_right: String,
    /// Change right (default `F0`: whoever proves the key by its MAC replaces it).
    #[serde(default = "free")]
    pub change: String,
    /// Try counter (default `33`).
    #[serde(default = "tries")]
    pub tries: String,
}

fn yes() -> bool {
    true
}
fn free() -> String {
    "F0".into()
}
fn tries() -> String {
    "33".into()
}

/// `[issuer]`: which of the card profile's MF keys the issuer uses.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IssuerSection {
    /// Id of the MF's external-authentication key (default 0: the card master key).
    #[serde(default)]
    pub auth_key: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    issuer: IssuerSection,
    area: toml::Table,
    #[serde(default)]
    keys: toml::Table,
    #[serde(default)]
    resident: toml::Table,
    #[serde(default)]
    params: toml::Table,
}

/// An area profile: what the issuer grants and what the service unit puts in it.
#[derive(Debug)]
pub struct AreaProfile {
    /// The profile file (for messages).
    pub file: String,
    /// What it is.
    pub description: Option<String>,
    /// The issuer's keys to use.
    pub issuer: IssuerSection,
    /// Size of the area's key file in bytes (`key_file`, default 24 per `[[area.key]]`).
    pub key_file: u16,
    /// The key file's add right (`add`, default `F0`: the area key's MAC is the gate).
    pub add: u8,
    /// The initial area key.
    pub initial: InitialKey,
    /// The rest as a card profile: `[keys]`, `[resident]` as the holder (`${resident.*}`),
    /// `[params]`, and the area as its only application (`app[0]`: name, fid, aid, space, rights,
    /// files, keys).
    pub view: Profile,
}

fn perr(file: &str, path: &str, message: impl Into<String>) -> ProfileError {
    ProfileError {
        file: file.into(),
        path: path.into(),
        message: message.into(),
    }
}

impl AreaProfile {
    /// Parse area-profile text; `file` names it in errors (paths as `area.file[1].size`).
    pub fn parse(file: &str, text: &str) -> Result<AreaProfile, ProfileError> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| perr(file, "(syntax)", e.to_string().trim().replace('\n', " ")))?;
        let mut raw: Raw = serde_path_to_error::deserialize(de)
            .map_err(|e| perr(file, &e.path().to_string(), e.inner().message()))?;
        let take = |t: &mut toml::Table, k: &str| t.remove(k);
        let key_file = take(&mut raw.area, "key_file");
        let add = take(&mut raw.area, "add");
        let initial = take(&mut raw.area, "initial_key").ok_or_else(|| {
            perr(
                file,
                "area.initial_key",
                "missing: the key the issuer installs",
            )
        })?;
        let initial: InitialKey = initial
            .try_into()
            .map_err(|e: toml::de::Error| perr(file, "area.initial_key", e.message()))?;
        // The rest is a card profile with the area as its only application.
        let mut view = toml::Table::new();
        let mut card = toml::Table::new();
        card.insert("type".into(), "citizen".into());
        card.insert("asn".into(), "00000000000000000000".into());
        view.insert("card".into(), card.into());
        view.insert("holder".into(), raw.resident.into());
        view.insert("keys".into(), raw.keys.into());
        view.insert("params".into(), raw.params.into());
        view.insert("mf".into(), toml::Table::new().into());
        view.insert(
            "app".into(),
            toml::Value::Array(vec![toml::Value::Table(raw.area)]),
        );
        let text = toml::to_string(&view)
            .map_err(|e| perr(file, "(area)", e.to_string()))?
            .replace("${resident.", "${holder.");
        let view = Profile::parse(file, &text).map_err(|e| ProfileError {
            path: e
                .path
                .replacen("app[0]", "area", 1)
                .replacen("holder", "resident", 1),
            ..e
        })?;
        let nkeys = view.apps.first().map_or(0, |a| a.keys.len());
        let key_file = match key_file {
            None => u16::try_from(24 * nkeys.max(1)).unwrap_or(u16::MAX),
            Some(v) => v
                .as_integer()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| perr(file, "area.key_file", "a size in bytes"))?,
        };
        let add = match add {
            None => 0xF0,
            Some(v) => v
                .as_str()
                .and_then(hex1)
                .ok_or_else(|| perr(file, "area.add", "must be one byte hex"))?,
        };
        let p = AreaProfile {
            file: file.into(),
            description: raw.description,
            issuer: raw.issuer,
            key_file,
            add,
            initial,
            view,
        };
        p.check()?;
        Ok(p)
    }

    /// Read and parse an area-profile file.
    pub fn load(path: &Path) -> Result<AreaProfile, ProfileError> {
        let file = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| perr(&file, "(file)", e.to_string()))?;
        AreaProfile::parse(&file, &text)
    }

    fn check(&self) -> Result<(), ProfileError> {
        let f = self.file.as_str();
        let a = self.spec();
        if !a.dfs.is_empty() {
            return Err(perr(
                f,
                "area.df",
                "DFs inside the area are created by the service unit later, not by the hand-over",
            ));
        }
        for (path, r) in [
            ("area.create", a.create.as_str()),
            ("area.erase", a.erase.as_str()),
            ("area.initial_key.use", self.initial.use_right.as_str()),
            ("area.initial_key.change", self.initial.change.as_str()),
        ] {
            let b = hex1(r).ok_or_else(|| perr(f, path, "must be one byte hex"))?;
            if !fits_area(b) {
                return Err(perr(
                    f,
                    path,
                    "an area's rights never name the MF's level (0Y)",
                ));
            }
        }
        if !fits_area(self.add) {
            return Err(perr(
                f,
                "area.add",
                "an area's rights never name the MF's level (0Y)",
            ));
        }
        hex1(&self.initial.tries)
            .ok_or_else(|| perr(f, "area.initial_key.tries", "must be one byte hex"))?;
        if self.view.master_key(&self.initial.master).is_none() {
            return Err(perr(
                f,
                "area.initial_key.master",
                format!("no master key `{}` in [keys]", self.initial.master),
            ));
        }
        if usize::from(self.key_file) < 24 * a.keys.len().max(1) {
            return Err(perr(
                f,
                "area.key_file",
                format!("{} keys need {} bytes", a.keys.len(), 24 * a.keys.len()),
            ));
        }
        match a.keys.first() {
            Some(k) if k.key_type == "line-protection" && k.id == 0 => {}
            _ => {
                return Err(perr(
                    f,
                    "area.key[0]",
                    "must be the line-protection key 00: writing it is the hand-over",
                ))
            }
        }
        let mut seen = BTreeSet::new();
        for (i, k) in a.keys.iter().enumerate() {
            if !seen.insert((k.key_type.clone(), k.id)) {
                return Err(perr(
                    f,
                    &format!("area.key[{i}]"),
                    "the same type and id twice",
                ));
            }
            for (what, r) in [("use", &k.use_right), ("change", &k.change)] {
                if !hex1(r).is_some_and(fits_area) {
                    return Err(perr(
                        f,
                        &format!("area.key[{i}].{what}"),
                        "an area's rights never name the MF's level (0Y)",
                    ));
                }
            }
        }
        for (i, file) in a.files.iter().enumerate() {
            for (what, r) in [("read", &file.read), ("write", &file.write)] {
                if !hex1(r).is_some_and(fits_area) {
                    return Err(perr(
                        f,
                        &format!("area.file[{i}].{what}"),
                        "an area's rights never name the MF's level (0Y)",
                    ));
                }
            }
        }
        let files: u32 = a.files.iter().map(file_size).sum();
        if u32::from(self.key_file) + files > u32::from(a.space) {
            return Err(perr(
                f,
                "area.space",
                format!(
                    "{} bytes of key file and files do not fit {}",
                    u32::from(self.key_file) + files,
                    a.space
                ),
            ));
        }
        Ok(())
    }

    /// The area as an application spec (name, FID, DF name, quota, rights, files, keys).
    pub fn spec(&self) -> &AppSpec {
        // `parse` always builds exactly one application.
        &self.view.apps[0]
    }

    /// The area's DF name.
    pub fn df_name(&self) -> Vec<u8> {
        perso::df_name(self.spec())
    }

    /// The area's FID.
    pub fn fid(&self) -> u16 {
        hex2(&self.spec().fid).unwrap_or(0)
    }

    /// A key entry of the area by type name and id.
    pub fn key(&self, key_type: &str, id: u8) -> Option<&KeySpec> {
        self.spec()
            .keys
            .iter()
            .find(|k| k.key_type == key_type && k.id == id)
    }

    /// The card key a key entry holds, diversified for `asn8` (terminals).
    pub fn card_key(&self, k: &KeySpec, asn8: &[u8; 8]) -> Option<HostKey> {
        let m = self.view.master_key(k.master.as_deref()?)?;
        Some(if k.diversify {
            crate::hostcrypto::diversify(&m, asn8)
        } else {
            m
        })
    }

    /// An integer parameter (`[params]`).
    pub fn param(&self, name: &str) -> Option<i64> {
        self.view.params.get(name).and_then(toml::Value::as_integer)
    }

    /// A text parameter (`[params]`).
    pub fn param_str(&self, name: &str) -> Option<&str> {
        self.view.params.get(name).and_then(toml::Value::as_str)
    }
}

/// Bytes a file takes from the quota.
fn file_size(f: &crate::profile::FileSpec) -> u32 {
    match f.file_type {
        FileType::Fixed => u32::from(f.records.unwrap_or(1)) * u32::from(f.record_len.unwrap_or(1)),
        // A cyclic record carries a one-byte mark (docs/nvm-format.md).
        FileType::Cyclic => {
            u32::from(f.records.unwrap_or(1)) * (u32::from(f.record_len.unwrap_or(1)) + 1)
        }
        FileType::Internal => u32::from(f.size.unwrap_or(24).min(255)),
        _ => u32::from(f.size.unwrap_or(0)),
    }
}

/// The kernel's rule: an area's rights never have the MF-level form `0Y` with Y > 0.
fn fits_area(r: u8) -> bool {
    r >> 4 != 0 || r == 0
}

// ------------------------------------------------------------------------------- expressions

/// The vector-expression of a master key (`tdes(0x…)`, `sm4(0x…)`, `aes(0x…)`).
fn key_literal(k: &HostKey) -> String {
    let f = match k.alg {
        HostAlg::Tdes => "tdes",
        HostAlg::Sm4 => "sm4",
        HostAlg::Aes => "aes",
    };
    format!("{f}(0x{})", hex::encode_upper(&k.bytes))
}

/// The card key of `master` as an expression over the captured `asn8`.
fn card_key_expr(master: &HostKey, diversify: bool) -> String {
    if diversify {
        format!("diversify({}, asn8)", key_literal(master))
    } else {
        key_literal(master)
    }
}

fn master_expr(p: &Profile, k: &KeySpec, path: &str) -> Result<(String, HostAlg), String> {
    let name = k
        .master
        .as_deref()
        .ok_or(format!("{path}: no master key"))?;
    let m = p
        .master_key(name)
        .ok_or(format!("{path}: no master key `{name}`"))?;
    Ok((card_key_expr(&m, k.diversify), m.alg))
}

/// WRITE KEY data of a key entry as a template, its value `${key_bytes(var)}`.
fn write_key_template(k: &KeySpec, var: &str, alg: HostAlg) -> Result<String, String> {
    let code = perso::key_type_code(&k.key_type).ok_or("unknown key type")?;
    let use_r = hex1(&k.use_right).unwrap_or(0xF0);
    let change = hex1(&k.change).unwrap_or(0xF0);
    let tries = k.tries.as_deref().and_then(hex1);
    let value = format!("${{key_bytes({var})}}");
    let alg_tail = if alg == HostAlg::Tdes {
        String::new()
    } else {
        format!(" {:02X}", alg.id())
    };
    Ok(match code {
        0x3A => {
            let mut digits = k.value.clone().unwrap_or_default();
            if digits.len() % 2 == 1 {
                digits.push('F');
            }
            format!(
                "3A {use_r:02X} EF {:02X} {:02X} {digits}",
                k.next_state.unwrap_or(1),
                tries.unwrap_or(0x33)
            )
        }
        0x30 | 0x34 | 0x3C | 0x3D | 0x3E | 0x3F => format!(
            "{code:02X} {use_r:02X} {change:02X} {:02X} {:02X} {value}{}",
            k.version.unwrap_or(1),
            alg.id(),
            tries.map(|t| format!(" {t:02X}")).unwrap_or_default()
        ),
        0x39 => format!(
            "39 {use_r:02X} {change:02X} {:02X} {:02X} {value}{alg_tail}",
            k.next_state.unwrap_or(1),
            tries.unwrap_or(0x33)
        ),
        _ => format!(
            "{code:02X} {use_r:02X} {change:02X} FF {:02X} {value}{alg_tail}",
            tries.unwrap_or(0x33)
        ),
    })
}

// ------------------------------------------------------------------------------- vector text

/// A vector file under construction.
struct Doc {
    steps: Vec<toml::Table>,
}

impl Doc {
    fn new() -> Doc {
        Doc { steps: Vec::new() }
    }

    fn step(&mut self, kind: &str, value: &str, note: &str) -> &mut toml::Table {
        let mut t = toml::Table::new();
        t.insert(kind.into(), value.into());
        if !note.is_empty() {
            t.insert("note".into(), note.into());
        }
        self.steps.push(t);
        // Just pushed.
        let n = self.steps.len() - 1;
        &mut self.steps[n]
    }

    /// SELECT MF and read the card's ASN into `asn8`.
    fn card_asn(&mut self) {
        self.step("send", "00A4 000C 02 3F00", "SELECT MF");
        let t = self.step(
            "send",
            READ_CARD_INFO,
            "the card's ASN (EF 0005 of the MF): every key is diversified by its last 8 bytes",
        );
        let mut cap = toml::Table::new();
        cap.insert("asn8".into(), ASN8_CAPTURE.into());
        t.insert("capture".into(), cap.into());
    }

    fn lets(&mut self, at: usize, lets: &[(String, String)]) {
        let mut l = toml::Table::new();
        for (k, v) in lets {
            l.insert(k.clone(), v.as_str().into());
        }
        if let Some(t) = self.steps.get_mut(at) {
            t.insert("let".into(), l.into());
        }
    }

    fn secured(&mut self, header: &str, body: &str, key: &str, enc: Option<&str>, note: &str) {
        let t = self.step("secured", header, note);
        if !body.is_empty() {
            t.insert("body".into(), body.into());
        }
        t.insert("key".into(), key.into());
        if let Some(e) = enc {
            t.insert("enc".into(), e.into());
        }
    }

    fn finish(self, header: &str, title: &str, id: &str, clause: &str) -> String {
        let mut v = toml::Table::new();
        v.insert("id".into(), id.into());
        v.insert("title".into(), title.into());
        v.insert("clause".into(), clause.into());
        v.insert("destructive".into(), true.into());
        v.insert(
            "step".into(),
            toml::Value::Array(self.steps.into_iter().map(toml::Value::Table).collect()),
        );
        let mut doc = toml::Table::new();
        doc.insert("title".into(), title.into());
        doc.insert("spec".into(), "docs/areas.md".into());
        doc.insert(
            "vector".into(),
            toml::Value::Array(vec![toml::Value::Table(v)]),
        );
        let body = toml::to_string(&doc).unwrap_or_default();
        format!("{header}{body}")
    }
}

fn comment_header(lines: &[&str]) -> String {
    let mut s = String::new();
    for l in lines {
        s.push_str("# ");
        s.push_str(l);
        s.push('\n');
    }
    s.push('\n');
    s
}

/// The issuer's keys at the MF, from the card's profile: (authentication key id, its expression,
/// the MF's line-protection key expression).
fn issuer_keys(area: &AreaProfile, issuer: &Profile) -> Result<(u8, String, String), String> {
    let id = area.issuer.auth_key;
    let auth = issuer
        .mf
        .keys
        .iter()
        .find(|k| k.key_type == "external-auth" && k.id == id)
        .ok_or(format!(
            "the issuer profile has no MF external-authentication key {id:02X}"
        ))?;
    let line = issuer
        .mf
        .keys
        .iter()
        .find(|k| k.key_type == "line-protection")
        .ok_or("the issuer profile has no MF line-protection key")?;
    let (a, _) = master_expr(issuer, auth, "mf.key (external-auth)")?;
    let (l, _) = master_expr(issuer, line, "mf.key (line-protection)")?;
    Ok((id, a, l))
}

fn hex_upper(b: &[u8]) -> String {
    hex::encode_upper(b)
}

/// The issuer's grant: authenticate at the MF, then CREATE FILE `B8` with the area's DF name,
/// quota, rights, key file and the initial area key encrypted under the MF's line key.
pub fn grant_script(area: &AreaProfile, issuer: &Profile) -> Result<String, String> {
    let a = area.spec();
    let (auth_id, auth, line) = issuer_keys(area, issuer)?;
    let initial = area
        .view
        .master_key(&area.initial.master)
        .ok_or("no initial master key")?;
    let k0 = card_key_expr(&initial, area.initial.diversify);
    let name = area.df_name();
    let alg_tail = if initial.alg == HostAlg::Tdes {
        String::new()
    } else {
        format!(" ‖ 0x{:02X}", initial.alg.id())
    };
    let key_data = format!(
        "0x36{}{}FF{} ‖ key_bytes({k0}){alg_tail}",
        area.initial.use_right.to_uppercase(),
        area.initial.change.to_uppercase(),
        area.initial.tries.to_uppercase()
    );
    let body = format!(
        "B8 {:04X} {} {} 95 {:04X} {:02X} {:02X} {} ${{sm_enc({line}, {key_data})}}",
        a.space,
        a.create.to_uppercase(),
        a.erase.to_uppercase(),
        area.key_file,
        area.add,
        name.len(),
        hex_upper(&name)
    );
    let mut d = Doc::new();
    d.card_asn();
    d.step(
        "external_auth",
        &auth,
        "the issuer authenticates at the MF: its level meets the MF's create right",
    )
    .insert("id".into(), i64::from(auth_id).into());
    d.secured(
        &format!("84 E0 {:04X}", area.fid()),
        &body,
        &line,
        None,
        "CREATE FILE B8: the area, its key file and the initial area key, in one transaction",
    );
    let title = format!(
        "grant of the application area `{}` ({}): the issuer",
        a.name,
        crate::info::display_name(&name)
    );
    Ok(d.finish(
        &comment_header(&[
            &format!("Grant of the application area `{}`: the issuer's APDU script.", a.name),
            "Generated by `cos-sim area grant` (docs/areas.md). Challenge-response inside: run it with",
            "`cos-sim replay FILE --reader NAME --destructive` (or `--card IMAGE` to try it on an image).",
            "It holds the issuer's master keys and the initial area key: TEST keys only.",
        ]),
        &title,
        "grant",
        "docs/areas.md Grant",
    ))
}

/// The service unit's hand-over: replace the initial key with its own line-protection key (WRITE
/// KEY encrypted and MAC'd under the initial key), add its other keys, authenticate with the key
/// that meets the area's create right, create its files and write their initial content.
pub fn handover_script(area: &AreaProfile) -> Result<String, String> {
    let a = area.spec();
    let p = &area.view;
    let initial = p
        .master_key(&area.initial.master)
        .ok_or("no initial master key")?;
    let mut lets = vec![(
        "k0".to_string(),
        card_key_expr(&initial, area.initial.diversify),
    )];
    let mut vars = Vec::new();
    for (i, k) in a.keys.iter().enumerate() {
        let var = format!("key{i}");
        if k.key_type != "pin" {
            let (e, alg) = master_expr(p, k, &format!("area.key[{i}]"))?;
            lets.push((var.clone(), e));
            vars.push((var, alg));
        } else {
            vars.push((var, HostAlg::Tdes));
        }
    }
    let mut d = Doc::new();
    d.card_asn();
    let at = d.steps.len();
    d.step(
        "select",
        &hex_upper(&area.df_name()),
        "SELECT the area by name",
    );
    d.lets(at, &lets);
    // The hand-over, then the other keys under the new line key (and the encryption key once
    // written: WRITE KEY data is encrypted under the DF's `35` key when it has one).
    let line = "key0".to_string();
    let mut enc = line.clone();
    for (i, k) in a.keys.iter().enumerate() {
        let (var, alg) = &vars[i];
        let body = write_key_template(k, var, *alg)?;
        if i == 0 {
            d.secured(
                "84 D4 36 00",
                &body,
                "k0",
                Some("k0"),
                "the hand-over: WRITE KEY replaces the initial area key (encrypted and MAC'd under it)",
            );
        } else {
            d.secured(
                &format!("84 D4 01 {:02X}", k.id),
                &body,
                &line,
                Some(&enc),
                &format!("WRITE KEY {} {:02X}", k.key_type, k.id),
            );
        }
        if k.key_type == "encryption" {
            enc = var.clone();
        }
    }
    // The level that meets the area's create right, from one of its external-auth keys.
    let create = hex1(&a.create).unwrap_or(0xF0);
    let (x, y) = (create >> 4, create & 0x0F);
    if x != 0 && !(y == 0 && x == 0xF) {
        let (i, k) = a
            .keys
            .iter()
            .enumerate()
            .find(|(_, k)| {
                k.key_type == "external-auth" && k.next_state.is_some_and(|n| (y..=x).contains(&n))
            })
            .ok_or(format!(
                "no external-auth key of the area reaches its create right {create:02X}"
            ))?;
        d.step(
            "external_auth",
            &vars[i].0,
            &format!(
                "the service unit's key {:02X}: the area's create right",
                k.id
            ),
        )
        .insert("id".into(), i64::from(k.id).into());
    }
    for (j, f) in a.files.iter().enumerate() {
        let fid = hex2(&f.fid).ok_or("bad fid")?;
        let what = f.description.clone().unwrap_or_default();
        d.secured(
            &format!("84 E0 {fid:04X}"),
            &hex_upper(&perso::create_ef_data(f)),
            &line,
            None,
            &format!("CREATE FILE {fid:04X} {what}"),
        );
        let items = perso::render_items(p, &f.content)
            .map_err(|(i, m)| format!("area.file[{j}].content[{i}]: {m}"))?;
        let record_file = matches!(
            f.file_type,
            FileType::Fixed | FileType::Variable | FileType::Cyclic
        );
        let (content, mut records) = if record_file {
            (Vec::new(), items)
        } else {
            (items.concat(), Vec::new())
        };
        for r in &f.record_values {
            records.push(
                perso::substitute_hex(p, r).map_err(|m| format!("area.file[{j}].record: {m}"))?,
            );
        }
        let sfi = (fid & 0x1F) as u8;
        let protected = f.protection != Protection::None;
        let enc_for = |f: &crate::profile::FileSpec| {
            (f.protection == Protection::EncMac).then_some(enc.as_str())
        };
        for (k, chunk) in content.chunks(0x80).enumerate() {
            let off = k * 0x80;
            let (p1, p2) = if off == 0 {
                (0x80 | sfi, 0x00)
            } else {
                ((off >> 8) as u8, off as u8)
            };
            write_step(
                &mut d,
                0xD6,
                p1,
                p2,
                chunk,
                protected,
                &line,
                enc_for(f),
                &format!("UPDATE BINARY {fid:04X} @{off}"),
            );
        }
        for (k, r) in records.iter().enumerate() {
            let (ins, p1, p2) = match f.file_type {
                FileType::Fixed => (0xDC, k as u8 + 1, (sfi << 3) | 0x04),
                _ => (0xE2, 0x00, sfi << 3),
            };
            write_step(
                &mut d,
                ins,
                p1,
                p2,
                r,
                protected,
                &line,
                enc_for(f),
                &format!("record {} of {fid:04X}", k + 1),
            );
        }
    }
    let title = format!(
        "hand-over of the application area `{}` ({}): the service unit",
        a.name,
        crate::info::display_name(&area.df_name())
    );
    Ok(d.finish(
        &comment_header(&[
            &format!("Hand-over of the application area `{}`: the service unit's APDU script.", a.name),
            "Generated by `cos-sim area handover` (docs/areas.md). Challenge-response inside: run it with",
            "`cos-sim replay FILE --reader NAME --destructive` (or `--card IMAGE` to try it on an image).",
            "It holds the initial area key and the service unit's master keys: TEST keys only.",
        ]),
        &title,
        "handover",
        "docs/areas.md Hand-over",
    ))
}

#[allow(clippy::too_many_arguments)]
fn write_step(
    d: &mut Doc,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &[u8],
    protected: bool,
    line: &str,
    enc: Option<&str>,
    note: &str,
) {
    if protected {
        d.secured(
            &format!("04 {ins:02X} {p1:02X} {p2:02X}"),
            &hex_upper(data),
            line,
            enc,
            note,
        );
    } else {
        d.step(
            "send",
            &format!("00 {ins:02X} {p1:02X} {p2:02X} [{}]", hex_upper(data)),
            note,
        );
    }
}

/// What the issuer's revocation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// ERASE DF at the MF naming the area: its files go, its quota returns to the MF.
    Erase,
    /// APPLICATION BLOCK at the MF naming the area, until the issuer unblocks it.
    Block,
    /// APPLICATION BLOCK for good.
    BlockPermanently,
    /// APPLICATION UNBLOCK at the MF naming the area (the issuer's own block only).
    Unblock,
}

/// The issuer's revocation script.
pub fn revoke_script(
    area: &AreaProfile,
    issuer: &Profile,
    what: Revocation,
) -> Result<String, String> {
    let a = area.spec();
    let (auth_id, auth, line) = issuer_keys(area, issuer)?;
    let fid = format!("{:04X}", area.fid());
    let mut d = Doc::new();
    d.card_asn();
    let (header, note, id) = match what {
        Revocation::Erase => {
            d.step(
                "external_auth",
                &auth,
                "the issuer authenticates at the MF: its level meets the MF's erase right",
            )
            .insert("id".into(), i64::from(auth_id).into());
            (
                "84 0E 00 00",
                "ERASE DF naming the area: revoked, its space given back to the MF",
                "revoke",
            )
        }
        Revocation::Block => (
            "84 1E 00 00",
            "APPLICATION BLOCK naming the area (until the issuer unblocks it)",
            "block",
        ),
        Revocation::BlockPermanently => (
            "84 1E 00 01",
            "APPLICATION BLOCK naming the area, for good",
            "block-permanently",
        ),
        Revocation::Unblock => (
            "84 18 00 00",
            "APPLICATION UNBLOCK naming the area",
            "unblock",
        ),
    };
    d.secured(header, &fid, &line, None, note);
    let title = format!("{id} of the application area `{}`: the issuer", a.name);
    Ok(d.finish(
        &comment_header(&[
            &format!("Revocation ({id}) of the application area `{}`: the issuer's APDU script.", a.name),
            "Generated by `cos-sim area revoke` (docs/areas.md). After a power cut, run it again: the",
            "card continues an interrupted erase. It holds the issuer's master keys: TEST keys only.",
        ]),
        &title,
        id,
        "docs/areas.md Revocation",
    ))
}

// ------------------------------------------------------------------------------- running

/// The simulated card lent to the vector runner for one script.
struct Lent<'a>(&'a mut SimCard);

impl Reader for Lent<'_> {
    fn name(&self) -> String {
        "in-process simulator".into()
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let r = self.0.transmit(apdu);
        if r.is_empty() {
            return Err(ReaderError::NoAnswer);
        }
        Ok(r)
    }
    fn reset(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.0.reset().map_err(|e| ReaderError::Io(e.to_string()))
    }
    fn power_cycle(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.0.power_off();
        self.0
            .power_on()
            .map_err(|e| ReaderError::Io(e.to_string()))
    }
    fn sim(&mut self) -> Option<&mut SimCard> {
        Some(self.0)
    }
}

/// What running a script cost.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// APDUs sent.
    pub apdus: usize,
    /// Page programs the card performed.
    pub programs: u64,
    /// The exchanges (`> C-APDU`, `< R-APDU`).
    pub transcript: Vec<String>,
}

/// A script that stopped: where, and the exchanges so far.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ScriptFailed {
    /// The failing step, explained (the card's answer and what was expected).
    pub message: String,
    /// The exchanges up to the failure.
    pub transcript: Vec<String>,
}

/// Run a generated script against the card, as `cos-sim replay` would on a reader.
pub fn run(card: &mut SimCard, display: &str, text: &str) -> Result<Outcome, ScriptFailed> {
    let programs = card.programs();
    let mut out = run_on(&mut Lent(card), display, text)?;
    out.programs = card.programs() - programs;
    Ok(out)
}

/// Run a generated script through any reader (a PC/SC reader, or a test's instrumented one);
/// `programs` is left 0 (only a simulated card counts them).
pub fn run_on(reader: &mut dyn Reader, display: &str, text: &str) -> Result<Outcome, ScriptFailed> {
    let file = format::parse(Path::new(display), text).map_err(|e| ScriptFailed {
        message: e.to_string(),
        transcript: Vec::new(),
    })?;
    let mut transcript = Vec::new();
    let mut sw_seen = BTreeSet::new();
    for v in &file.vectors {
        let mut scope = Vars {
            vars: BTreeMap::new(),
            profile: None,
        };
        if let Err(m) = run_steps(
            Some(&mut *reader),
            &v.steps,
            &mut scope,
            &mut transcript,
            &mut sw_seen,
        ) {
            return Err(ScriptFailed {
                message: format!("{display}: step {m}"),
                transcript,
            });
        }
    }
    let apdus = transcript.iter().filter(|l| l.starts_with("> ")).count();
    Ok(Outcome {
        apdus,
        programs: 0,
        transcript,
    })
}

/// The area's state on a card, read from its file table (no keys needed): `None` when the card
/// holds no area with this FID at the MF.
pub fn state_on(card: &SimCard, area: &AreaProfile) -> Option<String> {
    use cos_core::fs;
    let fid = area.fid();
    card.with_storage(|s| {
        let h = fs::read_header(s).ok()?;
        let (_, e) = fs::child_by_fid(s, h.slots, fs::MF_SLOT, cos_core::apdu::Fid(fid))
            .ok()
            .flatten()?;
        Some(crate::info::area_status(&e))
    })
}
