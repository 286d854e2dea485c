//! The vector file format (`docs/conformance.md`): TOML files of `[[vector]]` and `[[kat]]`
//! entries, parsed into [`VectorFile`]s with every template, pattern, expression and status word
//! checked up front, and high-level steps (`select`, `verify`, `external_auth`, `secured`, `load`,
//! `purchase`) expanded into the raw APDU steps they stand for.
//!
//! Every error names the file, the line of the vector's `id`, the vector, the step and the field.

// A parse error is returned once per malformed file, on a cold path: its size does not matter,
// its fields (file, line, vector, step, field) are the point.
#![allow(clippy::result_large_err)]

use super::expr::{self, parse_check, Check, Expr};
use super::sw;
use super::template::{PatPiece, Pattern, Piece, Template};
use cos_core::apdu::Protocol;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// A parsed vector file.
#[derive(Clone, Debug)]
pub struct VectorFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its title.
    pub title: Option<String>,
    /// The specification it checks.
    pub spec: Option<String>,
    /// The profile of the card the vectors expect.
    pub profile: ProfileRef,
    /// File-level variables (in dependency order).
    pub vars: Vec<(String, Expr)>,
    /// The vectors and KATs in file order.
    pub vectors: Vec<Vector>,
}

/// Which profile a file's card is personalised from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileRef {
    /// The built-in `profiles/citizen-card.toml`.
    Builtin,
    /// A profile file.
    File(PathBuf),
}

/// What card a vector starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setup {
    /// A card personalised from the profile and issued (the default). On a reader: the card in
    /// the reader, after a cold reset.
    Personalised,
    /// The profile's personalisation without its final ACTIVATE FILE (structure still open).
    Unissued,
    /// A factory-fresh chip (pre-personalised, the profile's transport code).
    Factory,
    /// A card image file.
    Image(PathBuf),
    /// The card the previous vector left, as it is (no reset).
    Continue,
    /// No card: a KAT of the host reference model.
    NoCard,
    /// A `scriptor` script: a factory chip in-process, the reader's card as it is on a reader.
    Script,
}

/// What a vector is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `[[vector]]`: APDU exchanges with a card.
    Card,
    /// `[[kat]]`: a known answer of the host reference model.
    Kat,
    /// A `scriptor` file: every APDU must answer 9000.
    Script,
}

/// One vector.
#[derive(Clone, Debug)]
pub struct Vector {
    /// Unique id within the file.
    pub id: String,
    /// What it shows.
    pub title: String,
    /// The spec clause it checks.
    pub clause: String,
    /// Line of its `id` in the file.
    pub line: usize,
    /// The card it starts from.
    pub setup: Setup,
    /// Leaves the card in a state later vectors cannot rely on: run only on fresh cards.
    pub destructive: bool,
    /// A known card bug: the vector is expected to fail, for this reason.
    pub expected_failure: Option<String>,
    /// Runs only on the in-process simulator, for this reason (e.g. APDUs a PC/SC stack refuses).
    pub in_process_only: Option<String>,
    /// Vector variables (in dependency order).
    pub vars: Vec<(String, Expr)>,
    /// The raw steps (high-level steps expanded).
    pub steps: Vec<Step>,
    /// What it is.
    pub kind: Kind,
}

impl Vector {
    /// Whether the vector switches the reader protocol (in-process only).
    pub fn needs_protocol_switch(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.action, Action::Protocol(_)))
    }
}

/// One raw step.
#[derive(Clone, Debug)]
pub struct Step {
    /// 1-based number of the step as written in the vector.
    pub number: usize,
    /// For an expanded high-level step: (part, parts).
    pub part: Option<(usize, usize)>,
    /// The high-level step it came from (`external_auth card_key('card_master')`), if any.
    pub origin: Option<String>,
    /// What it does.
    pub action: Action,
    /// Variables bound before the action (in dependency order).
    pub lets: Vec<(String, Expr)>,
    /// What the answer must be.
    pub expect: Expect,
    /// Comparisons after the answer.
    pub checks: Vec<Check>,
    /// Send it this many times, each answer checked.
    pub repeat: u32,
    /// A note shown with failures.
    pub note: Option<String>,
}

/// What a step does.
#[derive(Clone, Debug)]
pub enum Action {
    /// Send an APDU.
    Send(Template),
    /// Reset the card; the answer is the ATR.
    Reset {
        /// Power off and on (cold) rather than a warm reset.
        cold: bool,
    },
    /// Switch the reader protocol (in-process only).
    Protocol(Protocol),
    /// Compute an expression (KATs); the answer is its bytes.
    Compute(Expr),
}

/// What part of a response a capture takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureSpec {
    /// `a..b`, `a..`, `..b` over the data.
    Range(Option<usize>, Option<usize>),
    /// `n`: one byte of the data.
    Byte(usize),
    /// `tag 9F0C`: the value of a BER-TLV data object anywhere in the data.
    Tag(u16),
    /// `sw`: the status word.
    Sw,
    /// `data`: all of the data.
    Data,
}

/// The expectations of a step.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    /// The whole answer (data ‖ SW; for resets the ATR, for KATs the computed bytes).
    pub full: Option<Pattern>,
    /// The data without the SW.
    pub data: Option<Pattern>,
    /// The status word, and how it was written.
    pub sw: Option<(Pattern, String)>,
    /// Exact data length.
    pub len: Option<usize>,
    /// The data must differ from this (fresh randoms).
    pub differs: Option<Expr>,
    /// Captures into variables.
    pub captures: Vec<(String, CaptureSpec)>,
    /// Follow `61xx` with GET RESPONSE (the answer is then the concatenation).
    pub follow: bool,
}

/// A malformed vector file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// The file.
    pub file: String,
    /// Line, when known.
    pub line: Option<usize>,
    /// The vector's id.
    pub vector: Option<String>,
    /// 1-based step number.
    pub step: Option<usize>,
    /// The field.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        write!(f, ":")?;
        if let Some(v) = &self.vector {
            write!(f, " vector `{v}`")?;
        }
        if let Some(s) = self.step {
            write!(f, " step {s}")?;
        }
        if let Some(fd) = &self.field {
            write!(f, " `{fd}`")?;
        }
        if self.vector.is_some() || self.step.is_some() || self.field.is_some() {
            write!(f, ":")?;
        }
        write!(f, " {}", self.message)
    }
}

impl std::error::Error for FormatError {}

// ------------------------------------------------------------------------------------- raw TOML

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    spec: Option<String>,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    setup: Option<String>,
    #[serde(default)]
    vars: toml::Table,
    #[serde(default)]
    vector: Vec<toml::Value>,
    #[serde(default)]
    kat: Vec<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVector {
    id: String,
    title: String,
    clause: String,
    #[serde(default)]
    setup: Option<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    destructive: bool,
    #[serde(default)]
    expected_failure: Option<String>,
    #[serde(default)]
    in_process_only: Option<String>,
    #[serde(default)]
    vars: toml::Table,
    #[serde(default)]
    step: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKat {
    id: String,
    title: String,
    clause: String,
    compute: String,
    expect: String,
    #[serde(default)]
    vars: toml::Table,
}

#[derive(Deserialize, Default)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStep {
    // kinds
    send: Option<String>,
    reset: Option<String>,
    protocol: Option<String>,
    select: Option<String>,
    verify: Option<String>,
    external_auth: Option<String>,
    secured: Option<String>,
    load: Option<String>,
    purchase: Option<String>,
    // high-level parameters
    id: Option<u8>,
    body: Option<String>,
    key: Option<String>,
    enc: Option<String>,
    le: Option<String>,
    amount: Option<toml::Value>,
    key_index: Option<u8>,
    terminal: Option<toml::Value>,
    date: Option<toml::Value>,
    time: Option<toml::Value>,
    ttc: Option<toml::Value>,
    tac: Option<String>,
    // common
    note: Option<String>,
    #[serde(rename = "let", default)]
    lets: toml::Table,
    expect: Option<String>,
    data: Option<String>,
    sw: Option<String>,
    len: Option<usize>,
    differs: Option<String>,
    #[serde(default)]
    capture: BTreeMap<String, String>,
    #[serde(default)]
    check: OneOrMany,
    follow: Option<bool>,
    repeat: Option<u32>,
}

const KINDS: &[&str] = &[
    "send",
    "reset",
    "protocol",
    "select",
    "verify",
    "external_auth",
    "secured",
    "load",
    "purchase",
];

// ----------------------------------------------------------------------------------- parsing

struct Ctx {
    file: String,
    vector: Option<String>,
    line: Option<usize>,
    step: Option<usize>,
}

impl Ctx {
    fn err(&self, field: Option<&str>, message: impl Into<String>) -> FormatError {
        FormatError {
            file: self.file.clone(),
            line: self.line,
            vector: self.vector.clone(),
            step: self.step,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }
}

/// The 1-based line where `id = "<id>"` is written.
fn line_of_id(text: &str, id: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.starts_with("id")
                && t[2..].trim_start().starts_with('=')
                && (t.contains(&format!("\"{id}\"")) || t.contains(&format!("'{id}'")))
        })
        .map(|i| i + 1)
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |t| t.matches('\n').count() + 1)
}

/// Parse a vector file's text; `path` names it in errors and anchors relative paths.
pub fn parse(path: &Path, text: &str) -> Result<VectorFile, FormatError> {
    let file = path.display().to_string();
    let mut cx = Ctx {
        file: file.clone(),
        vector: None,
        line: None,
        step: None,
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| FormatError {
        file: file.clone(),
        line: e.span().map(|s| line_of_offset(text, s.start)),
        vector: None,
        step: None,
        field: None,
        message: format!("TOML syntax: {}", e.message()),
    })?;
    let raw: RawFile = serde_path_to_error::deserialize(toml::Value::Table(table))
        .map_err(|e| cx.err(Some(&e.path().to_string()), e.inner().to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let profile = match raw.profile.as_deref() {
        None | Some("builtin:citizen-card") => ProfileRef::Builtin,
        Some(p) => ProfileRef::File(dir.join(p)),
    };
    let default_setup = match raw.setup.as_deref() {
        None => Setup::Personalised,
        Some(s) => parse_setup(&cx, s, None, dir)?,
    };
    let vars = parse_vars(&cx, "vars", &raw.vars)?;
    let mut vectors = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, v) in raw.vector.into_iter().enumerate() {
        let id = v
            .get("id")
            .and_then(toml::Value::as_str)
            .map(str::to_string);
        cx.vector = Some(id.clone().unwrap_or_else(|| format!("#{}", i + 1)));
        cx.line = id.as_deref().and_then(|id| line_of_id(text, id));
        cx.step = None;
        let rv: RawVector = serde_path_to_error::deserialize(v).map_err(|e| {
            let p = e.path().to_string();
            let (step, field) = split_step_path(&p);
            FormatError {
                step,
                ..cx.err(field.as_deref(), e.inner().to_string())
            }
        })?;
        if !ids.insert(rv.id.clone()) {
            return Err(cx.err(Some("id"), "duplicate vector id in this file"));
        }
        vectors.push(build_vector(&mut cx, rv, &default_setup, dir)?);
    }
    for (i, k) in raw.kat.into_iter().enumerate() {
        let id = k
            .get("id")
            .and_then(toml::Value::as_str)
            .map(str::to_string);
        cx.vector = Some(id.clone().unwrap_or_else(|| format!("kat #{}", i + 1)));
        cx.line = id.as_deref().and_then(|id| line_of_id(text, id));
        cx.step = None;
        let rk: RawKat = serde_path_to_error::deserialize(k)
            .map_err(|e| cx.err(Some(&e.path().to_string()), e.inner().to_string()))?;
        if !ids.insert(rk.id.clone()) {
            return Err(cx.err(Some("id"), "duplicate id in this file"));
        }
        let compute = ex(&cx, "compute", &rk.compute)?;
        let expect =
            Pattern::parse(&rk.expect).map_err(|e| cx.err(Some("expect"), e.to_string()))?;
        let line = cx.line.unwrap_or(0);
        vectors.push(Vector {
            vars: parse_vars(&cx, "vars", &rk.vars)?,
            id: rk.id,
            title: rk.title,
            clause: rk.clause,
            line,
            setup: Setup::NoCard,
            destructive: false,
            expected_failure: None,
            in_process_only: None,
            steps: vec![Step {
                number: 1,
                part: None,
                origin: None,
                action: Action::Compute(compute),
                lets: Vec::new(),
                expect: Expect {
                    full: Some(expect),
                    ..Expect::default()
                },
                checks: Vec::new(),
                repeat: 1,
                note: None,
            }],
            kind: Kind::Kat,
        });
    }
    if vectors.is_empty() {
        cx.vector = None;
        cx.line = None;
        return Err(cx.err(None, "no [[vector]] or [[kat]] in the file"));
    }
    Ok(VectorFile {
        path: path.to_path_buf(),
        title: raw.title,
        spec: raw.spec,
        profile,
        vars,
        vectors,
    })
}

/// `step[2].sw` → (Some(3), Some("sw")); `title` → (None, Some("title")).
fn split_step_path(p: &str) -> (Option<usize>, Option<String>) {
    if let Some(rest) = p.strip_prefix("step[") {
        if let Some((n, field)) = rest.split_once(']') {
            if let Ok(n) = n.parse::<usize>() {
                let field = field.trim_start_matches('.');
                return (Some(n + 1), (!field.is_empty()).then(|| field.to_string()));
            }
        }
    }
    (None, (!p.is_empty() && p != ".").then(|| p.to_string()))
}

fn parse_setup(cx: &Ctx, s: &str, image: Option<&str>, dir: &Path) -> Result<Setup, FormatError> {
    Ok(match (s, image) {
        ("personalised", None) => Setup::Personalised,
        ("unissued", None) => Setup::Unissued,
        ("factory", None) => Setup::Factory,
        ("continue", None) => Setup::Continue,
        ("image", Some(p)) => Setup::Image(dir.join(p)),
        ("image", None) => {
            return Err(cx.err(
                Some("image"),
                "`setup = \"image\"` needs `image = \"path\"`",
            ))
        }
        (_, Some(_)) => {
            return Err(cx.err(
                Some("image"),
                "`image` goes with `setup = \"image\"` (or no setup)",
            ))
        }
        (other, None) => {
            return Err(cx.err(
                Some("setup"),
                format!(
                    "unknown setup `{other}`: personalised, unissued, factory, image, continue{}",
                    expr::did_you_mean(
                        other,
                        ["personalised", "unissued", "factory", "image", "continue"].into_iter()
                    )
                ),
            ))
        }
    })
}

fn value_expr(cx: &Ctx, field: &str, v: &toml::Value) -> Result<Expr, FormatError> {
    match v {
        toml::Value::String(s) => ex(cx, field, s),
        toml::Value::Integer(n) => u64::try_from(*n)
            .map(Expr::Int)
            .map_err(|_| cx.err(Some(field), "a negative number")),
        other => Err(cx.err(
            Some(field),
            format!(
                "expected an expression (string) or a number, found {}",
                other.type_str()
            ),
        )),
    }
}

/// Variables referenced by an expression.
fn free_vars(e: &Expr, out: &mut BTreeSet<String>) {
    match e {
        Expr::Var(v) => {
            out.insert(v.clone());
        }
        Expr::Call(_, args) | Expr::Cat(args) => args.iter().for_each(|a| free_vars(a, out)),
        Expr::Slice(inner, ..) | Expr::Index(inner, _) => free_vars(inner, out),
        Expr::Template(t) => template_vars(&t.pieces, out),
        Expr::Int(_) | Expr::Hex(_) | Expr::Str(_) => {}
    }
}

fn template_vars(pieces: &[Piece], out: &mut BTreeSet<String>) {
    for p in pieces {
        match p {
            Piece::Expr(e) => free_vars(e, out),
            Piece::Lc(inner) => template_vars(inner, out),
            Piece::Bytes(_) => {}
        }
    }
}

/// Parse a table of `name = expr` and order it so that every entry comes after those it uses.
fn parse_vars(
    cx: &Ctx,
    section: &str,
    t: &toml::Table,
) -> Result<Vec<(String, Expr)>, FormatError> {
    let mut pending: Vec<(String, Expr, BTreeSet<String>)> = Vec::new();
    for (k, v) in t {
        let e = value_expr(cx, &format!("{section}.{k}"), v)?;
        let mut deps = BTreeSet::new();
        free_vars(&e, &mut deps);
        deps.retain(|d| d != k && t.contains_key(d));
        pending.push((k.clone(), e, deps));
    }
    let mut done: Vec<(String, Expr)> = Vec::new();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|(_, _, deps)| deps.iter().all(|d| done.iter().any(|x| &x.0 == d)));
        match ready {
            Some(i) => {
                let (k, e, _) = pending.remove(i);
                done.push((k, e));
            }
            None => {
                let names: Vec<&str> = pending.iter().map(|p| p.0.as_str()).collect();
                return Err(cx.err(
                    Some(section),
                    format!(
                        "these entries use each other in a cycle: {}",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(done)
}

fn parse_capture(spec: &str) -> Result<CaptureSpec, String> {
    let s = spec.trim();
    if s == "sw" {
        return Ok(CaptureSpec::Sw);
    }
    if s == "data" || s == "all" {
        return Ok(CaptureSpec::Data);
    }
    if let Some(tag) = s.strip_prefix("tag") {
        let t = tag.trim();
        return u16::from_str_radix(t, 16)
            .ok()
            .filter(|_| matches!(t.len(), 2 | 4))
            .map(CaptureSpec::Tag)
            .ok_or_else(|| format!("`{spec}`: a tag is 2 or 4 hex digits (`tag 9F0C`)"));
    }
    let num = |x: &str| -> Result<Option<usize>, String> {
        let x = x.trim();
        if x.is_empty() {
            Ok(None)
        } else {
            x.parse()
                .map(Some)
                .map_err(|_| format!("`{spec}`: `{x}` is not an offset"))
        }
    };
    if let Some((a, b)) = s.split_once("..") {
        let (a, b) = (num(a)?, num(b)?);
        if let (Some(a), Some(b)) = (a, b) {
            if b < a {
                return Err(format!("`{spec}`: the range ends before it starts"));
            }
        }
        return Ok(CaptureSpec::Range(a, b));
    }
    match num(s)? {
        Some(n) => Ok(CaptureSpec::Byte(n)),
        None => Err(format!(
            "`{spec}`: expected a range `a..b`, an offset, `tag XXXX`, `sw` or `data`"
        )),
    }
}

fn pat(cx: &Ctx, field: &str, s: &str) -> Result<Pattern, FormatError> {
    Pattern::parse(s).map_err(|e| cx.err(Some(field), format!("`{s}`: {e}")))
}

fn tpl(cx: &Ctx, field: &str, s: &str) -> Result<Template, FormatError> {
    Template::parse(s).map_err(|e| cx.err(Some(field), format!("`{s}`: {e}")))
}

/// An expression field written like a template piece (`"${k}"`) means the expression inside.
fn unwrap_piece(s: &str) -> &str {
    let t = s.trim();
    t.strip_prefix("${")
        .and_then(|x| x.strip_suffix('}'))
        .filter(|x| !x.contains("${"))
        .unwrap_or(s)
}

fn ex(cx: &Ctx, field: &str, s: &str) -> Result<Expr, FormatError> {
    expr::parse(unwrap_piece(s)).map_err(|e| cx.err(Some(field), format!("`{s}`: {e}")))
}

fn build_vector(
    cx: &mut Ctx,
    rv: RawVector,
    default_setup: &Setup,
    dir: &Path,
) -> Result<Vector, FormatError> {
    let setup = match (rv.setup.as_deref(), rv.image.as_deref()) {
        (None, None) => default_setup.clone(),
        (None, Some(img)) => Setup::Image(dir.join(img)),
        (Some(s), img) => parse_setup(cx, s, img, dir)?,
    };
    if rv.step.is_empty() {
        return Err(cx.err(Some("step"), "a vector needs at least one step"));
    }
    let vars = parse_vars(cx, "vars", &rv.vars)?;
    let mut steps = Vec::new();
    for (i, rs) in rv.step.into_iter().enumerate() {
        cx.step = Some(i + 1);
        let repeat = rs.repeat.unwrap_or(1).max(1);
        let mut expanded = build_step(cx, i + 1, rs)?;
        if expanded.len() > 1 && repeat > 1 {
            // A repeated high-level step repeats its whole expansion.
            for s in &mut expanded {
                s.repeat = 1;
            }
            let once = expanded.clone();
            for _ in 1..repeat {
                expanded.extend(once.iter().cloned());
            }
        }
        steps.extend(expanded);
    }
    cx.step = None;
    Ok(Vector {
        line: cx.line.unwrap_or(0),
        id: rv.id,
        title: rv.title,
        clause: rv.clause,
        setup,
        destructive: rv.destructive,
        expected_failure: rv.expected_failure,
        in_process_only: rv.in_process_only,
        vars,
        steps,
        kind: Kind::Card,
    })
}

/// The step's common expectations.
fn build_expect(cx: &Ctx, rs: &RawStep) -> Result<Expect, FormatError> {
    let mut captures = Vec::new();
    for (name, spec) in &rs.capture {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(cx.err(Some("capture"), format!("`{name}` is not a variable name")));
        }
        let c = parse_capture(spec).map_err(|m| cx.err(Some(&format!("capture.{name}")), m))?;
        captures.push((name.clone(), c));
    }
    Ok(Expect {
        full: rs
            .expect
            .as_deref()
            .map(|s| pat(cx, "expect", s))
            .transpose()?,
        data: rs.data.as_deref().map(|s| pat(cx, "data", s)).transpose()?,
        sw: rs
            .sw
            .as_deref()
            .map(|s| {
                sw::resolve(s)
                    .map(|p| (p, s.to_string()))
                    .map_err(|m| cx.err(Some("sw"), m))
            })
            .transpose()?,
        len: rs.len,
        differs: rs
            .differs
            .as_deref()
            .map(|s| ex(cx, "differs", s))
            .transpose()?,
        captures,
        follow: rs.follow.unwrap_or(false),
    })
}

fn checks(cx: &Ctx, c: &OneOrMany) -> Result<Vec<Check>, FormatError> {
    let list: Vec<&String> = match c {
        OneOrMany::None => Vec::new(),
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v.iter().collect(),
    };
    list.into_iter()
        .map(|s| parse_check(s).map_err(|e| cx.err(Some("check"), format!("`{s}`: {e}"))))
        .collect()
}

/// A raw step with only the common fields of `rs` (the action given).
fn raw_step(cx: &Ctx, number: usize, action: Action, rs: &RawStep) -> Result<Step, FormatError> {
    let mut expect = build_expect(cx, rs)?;
    if matches!(action, Action::Send(_)) && expect.full.is_none() && expect.sw.is_none() {
        expect.sw = Some((
            sw::resolve("9000").map_err(|m| cx.err(None, m))?,
            "9000".into(),
        ));
    }
    Ok(Step {
        number,
        part: None,
        origin: None,
        action,
        lets: parse_vars(cx, "let", &rs.lets)?,
        expect,
        checks: checks(cx, &rs.check)?,
        repeat: rs.repeat.unwrap_or(1).max(1),
        note: rs.note.clone(),
    })
}

fn fixed(s: &str) -> Result<Pattern, String> {
    Pattern::parse(s).map_err(|e| e.message)
}

/// A helper step of an expansion: sends `t`, expects `full`.
fn helper(number: usize, t: Template, full: Pattern) -> Step {
    Step {
        number,
        part: None,
        origin: None,
        action: Action::Send(t),
        lets: Vec::new(),
        expect: Expect {
            full: Some(full),
            ..Expect::default()
        },
        checks: Vec::new(),
        repeat: 1,
        note: None,
    }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Call(name.into(), args)
}

fn var(n: &str) -> Expr {
    Expr::Var(n.into())
}

fn cat(parts: Vec<Expr>) -> Expr {
    Expr::Cat(parts)
}

fn hexe(b: &[u8]) -> Expr {
    Expr::Hex(b.to_vec())
}

fn bytes(b: &[u8]) -> Piece {
    Piece::Bytes(b.to_vec())
}

/// `amount ‖ type ‖ terminal ‖ date ‖ time`: what MAC1 of a purchase and MAC2 of a load cover
/// (JR/T 0025 Part 2).
fn transaction_fields(typ: &Expr) -> Expr {
    cat(vec![
        var("_amount"),
        typ.clone(),
        var("_terminal"),
        var("_date"),
        var("_time"),
    ])
}

/// The TAC over `fields` under the vector's TAC key.
fn tac_of(fields: Vec<Expr>) -> PatPiece {
    PatPiece::Expr(call(
        "mac",
        vec![call("tac_key", vec![var("_tac_key")]), cat(fields)],
    ))
}

/// The status word `9000`, exactly.
fn sw_ok() -> [PatPiece; 2] {
    [0x90, 0x00].map(|value| PatPiece::Byte { value, mask: 0xFF })
}

/// Fields each step kind accepts besides the common ones.
fn allowed(kind: &str) -> &'static [&'static str] {
    match kind {
        "verify" | "external_auth" => &["id"],
        "secured" => &["body", "key", "enc", "le"],
        "load" => &[
            "amount",
            "key_index",
            "terminal",
            "date",
            "time",
            "key",
            "tac",
        ],
        "purchase" => &[
            "amount",
            "key_index",
            "terminal",
            "date",
            "time",
            "ttc",
            "key",
            "tac",
        ],
        _ => &[],
    }
}

fn present_params(rs: &RawStep) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut add = |b: bool, n: &'static str| {
        if b {
            v.push(n);
        }
    };
    add(rs.id.is_some(), "id");
    add(rs.body.is_some(), "body");
    add(rs.key.is_some(), "key");
    add(rs.enc.is_some(), "enc");
    add(rs.le.is_some(), "le");
    add(rs.amount.is_some(), "amount");
    add(rs.key_index.is_some(), "key_index");
    add(rs.terminal.is_some(), "terminal");
    add(rs.date.is_some(), "date");
    add(rs.time.is_some(), "time");
    add(rs.ttc.is_some(), "ttc");
    add(rs.tac.is_some(), "tac");
    v
}

fn build_step(cx: &Ctx, number: usize, rs: RawStep) -> Result<Vec<Step>, FormatError> {
    let given: Vec<&str> = [
        rs.send.is_some(),
        rs.reset.is_some(),
        rs.protocol.is_some(),
        rs.select.is_some(),
        rs.verify.is_some(),
        rs.external_auth.is_some(),
        rs.secured.is_some(),
        rs.load.is_some(),
        rs.purchase.is_some(),
    ]
    .iter()
    .zip(KINDS)
    .filter(|(b, _)| **b)
    .map(|(_, k)| *k)
    .collect();
    let kind = match given.as_slice() {
        [k] => *k,
        [] => return Err(cx.err(None, format!("a step needs one of: {}", KINDS.join(", ")))),
        more => {
            return Err(cx.err(
                None,
                format!("a step does one thing; this one has {}", more.join(" and ")),
            ))
        }
    };
    for p in present_params(&rs) {
        if !allowed(kind).contains(&p) {
            return Err(cx.err(Some(p), format!("`{p}` does not apply to a `{kind}` step")));
        }
    }
    let e = |m: String| cx.err(None, m);
    match kind {
        "send" => {
            let t = tpl(cx, "send", rs.send.as_deref().unwrap_or_default())?;
            Ok(vec![raw_step(cx, number, Action::Send(t), &rs)?])
        }
        "reset" => {
            let cold = match rs.reset.as_deref() {
                Some("cold") => true,
                Some("warm") => false,
                Some(other) => {
                    return Err(cx.err(
                        Some("reset"),
                        format!("`{other}`: a reset is \"warm\" or \"cold\""),
                    ))
                }
                None => false,
            };
            if rs.sw.is_some() || rs.data.is_some() || rs.len.is_some() || rs.follow.is_some() {
                return Err(cx.err(
                    None,
                    "a reset answers the ATR: check it with `expect` (no `sw`, `data`, `len`, `follow`)",
                ));
            }
            Ok(vec![raw_step(cx, number, Action::Reset { cold }, &rs)?])
        }
        "protocol" => {
            let p = match rs.protocol.as_deref() {
                Some("T0" | "T=0") => Protocol::T0,
                Some("T1" | "T=1" | "T=CL") => Protocol::T1,
                other => {
                    return Err(cx.err(
                        Some("protocol"),
                        format!("`{}`: T0 or T1", other.unwrap_or_default()),
                    ))
                }
            };
            if rs.expect.is_some() || rs.sw.is_some() || rs.data.is_some() {
                return Err(cx.err(None, "a protocol switch has no answer to check"));
            }
            Ok(vec![raw_step(cx, number, Action::Protocol(p), &rs)?])
        }
        "select" => {
            let name = tpl(cx, "select", rs.select.as_deref().unwrap_or_default())?;
            let mut pieces = vec![bytes(&[0x00, 0xA4, 0x04, 0x00]), Piece::Lc(name.pieces)];
            pieces.push(bytes(&[0x00]));
            let mut s = raw_step(cx, number, Action::Send(Template { pieces }), &rs)?;
            s.origin = rs.select.map(|x| format!("select {x}"));
            Ok(vec![s])
        }
        "verify" => {
            let pin = tpl(cx, "verify", rs.verify.as_deref().unwrap_or_default())?;
            let pieces = vec![
                bytes(&[0x00, 0x20, 0x00, rs.id.unwrap_or(0)]),
                Piece::Lc(pin.pieces),
            ];
            let mut s = raw_step(cx, number, Action::Send(Template { pieces }), &rs)?;
            s.origin = rs.verify.map(|x| format!("verify {x}"));
            Ok(vec![s])
        }
        "external_auth" => {
            let src = rs.external_auth.as_deref().unwrap_or_default();
            let key = ex(cx, "external_auth", src)?;
            let id = rs.id.unwrap_or(0);
            let origin = format!("external_auth {src} (key {id:02X})");
            let mut challenge = helper(
                number,
                Template {
                    pieces: vec![bytes(&[0x00, 0x84, 0x00, 0x00, 0x04])],
                },
                fixed("{_challenge:4} 9000").map_err(e)?,
            );
            challenge.lets = vec![("_key".into(), key)];
            let send = Template {
                pieces: vec![
                    bytes(&[0x00, 0x82, 0x00, id]),
                    Piece::Lc(vec![Piece::Expr(call(
                        "ext_auth",
                        vec![var("_key"), var("_challenge")],
                    ))]),
                ],
            };
            let last = raw_step(cx, number, Action::Send(send), &rs)?;
            Ok(finish(vec![challenge, last], &origin))
        }
        "secured" => {
            let hsrc = rs.secured.as_deref().unwrap_or_default();
            let header = tpl(cx, "secured", hsrc)?;
            let key_src = rs
                .key
                .as_deref()
                .ok_or_else(|| cx.err(Some("key"), "a `secured` step needs `key` (the MAC key)"))?;
            let key = ex(cx, "key", key_src)?;
            let body = match rs.body.as_deref() {
                Some(b) => Expr::Template(tpl(cx, "body", b)?),
                None => Expr::Hex(Vec::new()),
            };
            let body = match rs.enc.as_deref() {
                Some(k) => call("sm_enc", vec![ex(cx, "enc", k)?, body]),
                None => body,
            };
            let le = rs.le.as_deref().map(|l| tpl(cx, "le", l)).transpose()?;
            let mut challenge = helper(
                number,
                Template {
                    pieces: vec![bytes(&[0x00, 0x84, 0x00, 0x00, 0x04])],
                },
                fixed("{_challenge:4} 9000").map_err(e)?,
            );
            challenge.lets = vec![("_key".into(), key)];
            let mac_input = cat(vec![
                Expr::Template(header.clone()),
                call(
                    "u8",
                    vec![call(
                        "add",
                        vec![call("len", vec![var("_body")]), Expr::Int(4)],
                    )],
                ),
                var("_body"),
            ]);
            let mut pieces = header.pieces.clone();
            pieces.push(Piece::Lc(vec![
                Piece::Expr(var("_body")),
                Piece::Expr(call(
                    "sm_mac",
                    vec![var("_key"), var("_challenge"), mac_input],
                )),
            ]));
            if let Some(le) = le {
                pieces.extend(le.pieces);
            }
            let mut last = raw_step(cx, number, Action::Send(Template { pieces }), &rs)?;
            let mut lets = vec![("_body".to_string(), body)];
            lets.append(&mut last.lets);
            last.lets = lets;
            Ok(finish(vec![challenge, last], &format!("secured {hsrc}")))
        }
        "load" | "purchase" => pboc(cx, number, kind, rs),
        _ => Err(cx.err(None, "unknown step kind")),
    }
}

/// Number the parts of an expansion and name its origin.
fn finish(mut steps: Vec<Step>, origin: &str) -> Vec<Step> {
    let n = steps.len();
    for (i, s) in steps.iter_mut().enumerate() {
        s.part = Some((i + 1, n));
        s.origin = Some(origin.to_string());
    }
    steps
}

/// `load = "EP"` / `purchase = "ED"`: a whole PBOC transaction, every MAC and the TAC checked.
fn pboc(cx: &Ctx, number: usize, kind: &str, rs: RawStep) -> Result<Vec<Step>, FormatError> {
    let purse = if kind == "load" {
        rs.load.as_deref()
    } else {
        rs.purchase.as_deref()
    }
    .unwrap_or_default();
    let (p2, ty) = match (purse, kind) {
        ("ED", "load") => (0x01u8, 0x01u8),
        ("EP", "load") => (0x02, 0x02),
        ("ED", _) => (0x01, 0x05),
        ("EP", _) => (0x02, 0x06),
        (other, _) => {
            return Err(cx.err(
                Some(kind),
                format!("`{other}`: the purse is \"ED\" (deposit) or \"EP\" (wallet)"),
            ))
        }
    };
    if rs.expect.is_some() || rs.data.is_some() || rs.sw.is_some() || rs.len.is_some() {
        return Err(cx.err(
            None,
            format!("a `{kind}` step must succeed (its MACs and TAC are checked); write refusals as raw `send` steps"),
        ));
    }
    let amount = rs
        .amount
        .as_ref()
        .ok_or_else(|| {
            cx.err(
                Some("amount"),
                format!("a `{kind}` step needs `amount` (fen)"),
            )
        })
        .and_then(|v| value_expr(cx, "amount", v))?;
    let idx = rs.key_index.unwrap_or(1);
    let opt = |v: &Option<toml::Value>, field: &str, default: &str| -> Result<Expr, FormatError> {
        match v {
            Some(v) => value_expr(cx, field, v),
            None => Ok(var(default)),
        }
    };
    let key_type = if kind == "load" { "load" } else { "purchase" };
    let txn_key = match rs.key.as_deref() {
        Some(k) => ex(cx, "key", k)?,
        None => call(
            "purse_key",
            vec![Expr::Str(key_type.into()), Expr::Int(idx.into())],
        ),
    };
    let tac = match rs.tac.as_deref() {
        Some(k) => ex(cx, "tac", k)?,
        None => call(
            "purse_key",
            vec![Expr::Str("tac".into()), Expr::Int(idx.into())],
        ),
    };
    let mut lets = vec![
        ("_amount".to_string(), call("u32", vec![amount])),
        (
            "_terminal".to_string(),
            opt(&rs.terminal, "terminal", "terminal")?,
        ),
        ("_date".to_string(), opt(&rs.date, "date", "date")?),
        ("_time".to_string(), opt(&rs.time, "time", "time")?),
        ("_key".to_string(), txn_key),
        ("_tac_key".to_string(), tac),
    ];
    let init_body = vec![
        bytes(&[idx]),
        Piece::Expr(var("_amount")),
        Piece::Expr(var("_terminal")),
    ];
    let typ = hexe(&[ty]);
    let e = |m: String| cx.err(None, m);
    let mut steps = Vec::new();
    if kind == "load" {
        let ses = call(
            "session_key",
            vec![
                var("_key"),
                cat(vec![var("_rnd"), var("_atc"), hexe(&[0x80, 0x00])]),
            ],
        );
        let mut init = helper(
            number,
            Template {
                pieces: vec![
                    bytes(&[0x80, 0x50, 0x00, p2]),
                    Piece::Lc(init_body),
                    bytes(&[0x10]),
                ],
            },
            Pattern {
                pieces: [
                    fixed("{_balance:4} {_atc:2} {_version:1}")
                        .map_err(e)?
                        .pieces,
                    vec![
                        PatPiece::Expr(call("alg_id", vec![var("_key")])),
                        PatPiece::Capture("_rnd".into(), Some(4)),
                        PatPiece::Expr(call(
                            "mac",
                            vec![
                                ses.clone(),
                                cat(vec![
                                    var("_balance"),
                                    var("_amount"),
                                    typ.clone(),
                                    var("_terminal"),
                                ]),
                            ],
                        )),
                    ],
                    sw_ok().to_vec(),
                ]
                .concat(),
            },
        );
        init.lets = std::mem::take(&mut lets);
        let mac2_input = transaction_fields(&typ);
        let mut credit = helper(
            number,
            Template {
                pieces: vec![
                    bytes(&[0x80, 0x52, 0x00, 0x00]),
                    Piece::Lc(vec![
                        Piece::Expr(var("_date")),
                        Piece::Expr(var("_time")),
                        Piece::Expr(call("mac", vec![var("_ses"), mac2_input])),
                    ]),
                    bytes(&[0x04]),
                ],
            },
            Pattern {
                pieces: [
                    vec![tac_of(vec![
                        call(
                            "u32",
                            vec![call("add", vec![var("_balance"), var("_amount")])],
                        ),
                        var("_atc"),
                        var("_amount"),
                        typ,
                        var("_terminal"),
                        var("_date"),
                        var("_time"),
                    ])],
                    sw_ok().to_vec(),
                ]
                .concat(),
            },
        );
        credit.lets = vec![("_ses".into(), ses)];
        credit.lets.extend(parse_vars(cx, "let", &rs.lets)?);
        credit.checks = checks(cx, &rs.check)?;
        credit.note = rs.note.clone();
        steps.push(init);
        steps.push(credit);
    } else {
        let mut init = helper(
            number,
            Template {
                pieces: vec![
                    bytes(&[0x80, 0x50, 0x01, p2]),
                    Piece::Lc(init_body),
                    bytes(&[0x0F]),
                ],
            },
            Pattern {
                pieces: [
                    fixed("{_balance:4} {_atc:2} {_limit:3} {_version:1}")
                        .map_err(e)?
                        .pieces,
                    vec![PatPiece::Expr(call("alg_id", vec![var("_key")]))],
                    fixed("{_rnd:4} 9000").map_err(e)?.pieces,
                ]
                .concat(),
            },
        );
        init.lets = std::mem::take(&mut lets);
        let ttc = match &rs.ttc {
            Some(v) => call("u32", vec![value_expr(cx, "ttc", v)?]),
            None => call("u32", vec![Expr::Int(1)]),
        };
        let ses = call(
            "session_key",
            vec![
                var("_key"),
                cat(vec![
                    var("_rnd"),
                    var("_atc"),
                    Expr::Slice(Box::new(var("_ttc")), Some(2), Some(4)),
                ]),
            ],
        );
        let mac1_input = transaction_fields(&typ);
        let mut debit = helper(
            number,
            Template {
                pieces: vec![
                    bytes(&[0x80, 0x54, 0x01, 0x00]),
                    Piece::Lc(vec![
                        Piece::Expr(var("_ttc")),
                        Piece::Expr(var("_date")),
                        Piece::Expr(var("_time")),
                        Piece::Expr(call("mac", vec![var("_ses"), mac1_input])),
                    ]),
                    bytes(&[0x08]),
                ],
            },
            Pattern {
                pieces: [
                    vec![
                        tac_of(vec![
                            var("_amount"),
                            typ,
                            var("_terminal"),
                            var("_ttc"),
                            var("_date"),
                            var("_time"),
                        ]),
                        PatPiece::Expr(call("mac", vec![var("_ses"), var("_amount")])),
                    ],
                    sw_ok().to_vec(),
                ]
                .concat(),
            },
        );
        debit.lets = vec![("_ttc".into(), ttc), ("_ses".into(), ses)];
        debit.lets.extend(parse_vars(cx, "let", &rs.lets)?);
        debit.checks = checks(cx, &rs.check)?;
        debit.note = rs.note.clone();
        steps.push(init);
        steps.push(debit);
    }
    let origin = match &rs.amount {
        Some(toml::Value::Integer(n)) => format!("{kind} {purse} {n} (key index {idx:02X})"),
        _ => format!("{kind} {purse} (key index {idx:02X})"),
    };
    Ok(finish(steps, &origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<VectorFile, FormatError> {
        parse(Path::new("t/x.toml"), text)
    }

    const HEAD: &str = "title = \"t\"\n";

    #[test]
    fn a_minimal_file() {
        let f = p(&format!(
            "{HEAD}[[vector]]\nid = \"a\"\ntitle = \"A\"\nclause = \"c\"\nstep = [ {{ send = \"00A4 0000 [3F00]\" }} ]\n"
        ))
        .unwrap();
        assert_eq!(f.vectors.len(), 1);
        let v = &f.vectors[0];
        assert_eq!((v.id.as_str(), v.line), ("a", 3));
        assert_eq!(v.setup, Setup::Personalised);
        assert_eq!(f.profile, ProfileRef::Builtin);
        // No expectation: 9000.
        assert_eq!(v.steps[0].expect.sw.as_ref().unwrap().1, "9000");
    }

    #[test]
    fn errors_name_file_line_vector_step_and_field() {
        let text = format!(
            "{HEAD}\n[[vector]]\nid = \"first\"\ntitle = \"A\"\nclause = \"c\"\n\
             step = [ {{ send = \"00\" }}, {{ send = \"00\", sw = \"SECURITY_STATUS_NOT_SATISFID\" }} ]\n"
        );
        let e = p(&text).unwrap_err();
        assert_eq!(e.line, Some(4));
        assert_eq!(e.vector.as_deref(), Some("first"));
        assert_eq!(e.step, Some(2));
        assert_eq!(e.field.as_deref(), Some("sw"));
        let s = e.to_string();
        assert!(
            s.starts_with("t/x.toml:4: vector `first` step 2 `sw`: unknown status word"),
            "{s}"
        );
        assert!(s.contains("did you mean"), "{s}");
    }

    #[test]
    fn malformed_files() {
        let v = |body: &str| {
            p(&format!(
                "{HEAD}[[vector]]\nid = \"v\"\ntitle = \"T\"\nclause = \"c\"\n{body}\n"
            ))
            .unwrap_err()
            .to_string()
        };
        assert!(v("step = [ { send = \"00A\" } ]").contains("odd number"));
        assert!(v("step = [ { send = \"00\", bogus = 1 } ]").contains("unknown field `bogus`"));
        assert!(v("step = [ { send = \"00\", select = \"A0\" } ]").contains("send and select"));
        assert!(v("step = [ { sw = \"9000\" } ]").contains("a step needs one of"));
        assert!(v("step = [ { send = \"00\", body = \"01\" } ]").contains("`body` does not apply"));
        assert!(v("step = [ { send = \"00\", expect = \"{x}\" } ]").contains("expected {any}"));
        assert!(v("step = [ { send = \"00 ${macc(k)}\" } ]").contains("unknown function `macc`"));
        assert!(
            v("step = [ { send = \"00\", capture = { a = \"x..\" } } ]").contains("not an offset")
        );
        assert!(v("step = [ { send = \"00\", check = \"a\" } ]").contains("a check is"));
        assert!(v("step = [ { reset = \"hot\" } ]").contains("warm\" or \"cold"));
        assert!(v("step = [ { reset = \"warm\", sw = \"9000\" } ]").contains("ATR"));
        assert!(v("step = [ { load = \"XX\", amount = 1 } ]").contains("ED"));
        assert!(v("step = [ { load = \"EP\" } ]").contains("needs `amount`"));
        assert!(
            v("step = [ { load = \"EP\", amount = 1, sw = \"9000\" } ]").contains("must succeed")
        );
        assert!(v("step = [ { secured = \"04D6 9600\" } ]").contains("needs `key`"));
        assert!(v("setup = \"fresh\"\nstep = [ { send = \"00\" } ]").contains("unknown setup"));
        assert!(v("step = []").contains("at least one step"));
        assert!(
            v("vars = { a = \"b\", b = \"a\" }\nstep = [ { send = \"00\" } ]").contains("cycle")
        );
        let e = p("title = \"t\"\n[[vector]]\nid = \"v\"\ntitle = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("vector `v`") && e.contains("`title`"), "{e}");
        let e = p("title = \n").unwrap_err().to_string();
        assert!(e.starts_with("t/x.toml:1: TOML syntax"), "{e}");
        assert!(p(HEAD).unwrap_err().to_string().contains("no [[vector]]"));
        let e = p(&format!(
            "{HEAD}[[vector]]\nid = \"v\"\ntitle = \"T\"\nclause = \"c\"\nstep = [ {{ send = \"00\" }} ]\n\
             [[vector]]\nid = \"v\"\ntitle = \"T\"\nclause = \"c\"\nstep = [ {{ send = \"00\" }} ]\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("duplicate"), "{e}");
    }

    #[test]
    fn vars_are_ordered_by_use() {
        let f = p(&format!(
            "{HEAD}[vars]\nb = \"a ‖ 0x02\"\na = \"0x01\"\nc = 5\n[[vector]]\nid = \"v\"\ntitle = \"T\"\nclause = \"c\"\nstep = [ {{ send = \"00\" }} ]\n"
        ))
        .unwrap();
        let names: Vec<&str> = f.vars.iter().map(|v| v.0.as_str()).collect();
        let (a, b) = (
            names.iter().position(|n| *n == "a").unwrap(),
            names.iter().position(|n| *n == "b").unwrap(),
        );
        assert!(a < b, "{names:?}");
    }

    #[test]
    fn captures() {
        assert_eq!(
            parse_capture("0..4"),
            Ok(CaptureSpec::Range(Some(0), Some(4)))
        );
        assert_eq!(parse_capture("4.."), Ok(CaptureSpec::Range(Some(4), None)));
        assert_eq!(parse_capture("..2"), Ok(CaptureSpec::Range(None, Some(2))));
        assert_eq!(parse_capture("3"), Ok(CaptureSpec::Byte(3)));
        assert_eq!(parse_capture("tag 9F0C"), Ok(CaptureSpec::Tag(0x9F0C)));
        assert_eq!(parse_capture("sw"), Ok(CaptureSpec::Sw));
        assert_eq!(parse_capture("data"), Ok(CaptureSpec::Data));
        assert!(parse_capture("4..2").is_err());
        assert!(parse_capture("tag 9F0").is_err());
    }

    #[test]
    fn kats() {
        let f = p("[[kat]]\nid = \"k\"\ntitle = \"T\"\nclause = \"c\"\ncompute = \"u8(1)\"\nexpect = \"01\"\n")
            .unwrap();
        assert_eq!(f.vectors[0].kind, Kind::Kat);
        assert_eq!(f.vectors[0].setup, Setup::NoCard);
    }
}
