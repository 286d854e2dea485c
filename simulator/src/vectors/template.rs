//! Byte templates (what a step sends) and response patterns (what it expects), and the matcher.
//!
//! A **template** is hex (spaces free), `${expr}` pieces, and `[ … ]` groups that stand for
//! `Lc ‖ …`: the runner counts the bytes (one Lc byte up to 255, `00 hi lo` beyond; an empty
//! group sends nothing). `80 50 00 02 [01 ${u32(amount)} ${terminal}] 10`.
//!
//! A **pattern** is hex with nibble wildcards (`6?`, `??`, `..`), `{n}` (any n bytes), `{any}` or
//! `*` (any number of bytes), captures `{name:n}` / `{name:*}` that bind what they cover, and
//! `${expr}` pieces that must match the bytes the expression computes — evaluated while matching,
//! so they may use captures made earlier in the same pattern
//! (`{rnd:4} ${mac(k, rnd ‖ 0x01)} 9000`).
//!
//! The matcher backtracks over the variable-length pieces and reports the **furthest** position it
//! reached, so a mismatch is explained at the first byte that cannot be matched.

use super::expr::{self, eval_bytes, Expr, Layer, Scope};
use std::fmt;

/// One piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Literal bytes.
    Bytes(Vec<u8>),
    /// A computed field.
    Expr(Expr),
    /// `[ … ]`: Lc followed by the group's bytes.
    Lc(Vec<Piece>),
}

/// A byte template.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Template {
    /// The pieces in order.
    pub pieces: Vec<Piece>,
}

/// One piece of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatPiece {
    /// A byte; bits where `mask` is 0 are free.
    Byte {
        /// Expected bits.
        value: u8,
        /// Which bits are compared.
        mask: u8,
    },
    /// Any number of bytes.
    Any,
    /// Exactly this many bytes, any value.
    Skip(usize),
    /// Bind the bytes covered (`None`: any length).
    Capture(String, Option<usize>),
    /// Bytes computed by an expression.
    Expr(Expr),
}

/// A response pattern.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Pattern {
    /// The pieces in order.
    pub pieces: Vec<PatPiece>,
}

/// Where a template or pattern could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

fn serr(column: usize, message: impl Into<String>) -> SyntaxError {
    SyntaxError {
        column: column + 1,
        message: message.into(),
    }
}

/// Read `${ … }` starting at `i` (pointing at `$`); returns the expression and the index after `}`.
fn read_expr(chars: &[char], i: usize) -> Result<(Expr, usize), SyntaxError> {
    let start = i + 2;
    let mut depth = 0usize;
    let mut j = start;
    let mut quoted = false;
    loop {
        match chars.get(j) {
            None => return Err(serr(i, "unclosed `${`")),
            Some('\'') => quoted = !quoted,
            Some('{') if !quoted => depth += 1,
            Some('}') if !quoted && depth == 0 => break,
            Some('}') if !quoted => depth -= 1,
            _ => {}
        }
        j += 1;
    }
    let text: String = chars[start..j].iter().collect();
    let e = expr::parse(&text).map_err(|e| serr(start + e.column - 1, e.message))?;
    Ok((e, j + 1))
}

fn hexval(c: char) -> Option<u8> {
    c.to_digit(16).map(|d| d as u8)
}

impl Template {
    /// Parse a template.
    pub fn parse(src: &str) -> Result<Template, SyntaxError> {
        let chars: Vec<char> = src.chars().collect();
        let mut stack: Vec<(usize, Vec<Piece>)> = vec![(0, Vec::new())];
        let mut i = 0;
        let push_byte = |pieces: &mut Vec<Piece>, b: u8| match pieces.last_mut() {
            Some(Piece::Bytes(v)) => v.push(b),
            _ => pieces.push(Piece::Bytes(vec![b])),
        };
        while i < chars.len() {
            let c = chars[i];
            let top = &mut stack.last_mut().ok_or_else(|| serr(i, "internal"))?.1;
            match c {
                c if c.is_whitespace() => i += 1,
                '$' if chars.get(i + 1) == Some(&'{') => {
                    let (e, next) = read_expr(&chars, i)?;
                    top.push(Piece::Expr(e));
                    i = next;
                }
                '[' => {
                    if stack.len() > 1 {
                        return Err(serr(i, "`[` groups do not nest"));
                    }
                    stack.push((i, Vec::new()));
                    i += 1;
                }
                ']' => {
                    if stack.len() < 2 {
                        return Err(serr(i, "`]` without `[`"));
                    }
                    let (_, inner) = stack.pop().ok_or_else(|| serr(i, "internal"))?;
                    stack
                        .last_mut()
                        .ok_or_else(|| serr(i, "internal"))?
                        .1
                        .push(Piece::Lc(inner));
                    i += 1;
                }
                c if c.is_ascii_hexdigit() => {
                    let start = i;
                    let mut run = Vec::new();
                    while let Some(&d) = chars.get(i) {
                        match hexval(d) {
                            Some(v) => run.push(v),
                            None => break,
                        }
                        i += 1;
                    }
                    if run.len() % 2 == 1 {
                        let t: String = chars[start..i].iter().collect();
                        return Err(serr(
                            start,
                            format!("`{t}` has an odd number of hex digits"),
                        ));
                    }
                    for p in run.chunks(2) {
                        push_byte(top, (p[0] << 4) | p[1]);
                    }
                }
                other => {
                    return Err(serr(
                        i,
                        format!("unexpected `{other}` (hex, `${{expr}}` and `[ ]` only)"),
                    ))
                }
            }
        }
        if stack.len() > 1 {
            return Err(serr(stack[1].0, "unclosed `[`"));
        }
        Ok(Template {
            pieces: stack.pop().map(|s| s.1).unwrap_or_default(),
        })
    }

    /// The bytes, with every expression evaluated.
    pub fn render(&self, scope: &dyn Scope) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        render_into(&self.pieces, scope, &mut out)?;
        Ok(out)
    }
}

fn render_into(pieces: &[Piece], scope: &dyn Scope, out: &mut Vec<u8>) -> Result<(), String> {
    for p in pieces {
        match p {
            Piece::Bytes(b) => out.extend_from_slice(b),
            Piece::Expr(e) => out.extend(eval_bytes(e, scope)?),
            Piece::Lc(inner) => {
                let mut body = Vec::new();
                render_into(inner, scope, &mut body)?;
                match body.len() {
                    0 => {}
                    n @ 1..=255 => out.push(n as u8),
                    n @ 256..=65535 => out.extend_from_slice(&[0, (n >> 8) as u8, n as u8]),
                    n => return Err(format!("{n} bytes are too long for one APDU")),
                }
                out.extend(body);
            }
        }
    }
    Ok(())
}

fn fmt_pieces(pieces: &[Piece], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            write!(f, " ")?;
        }
        match p {
            Piece::Bytes(b) => write!(f, "{}", hex::encode_upper(b))?,
            Piece::Expr(e) => write!(f, "${{{e}}}")?,
            Piece::Lc(inner) => {
                write!(f, "[")?;
                fmt_pieces(inner, f)?;
                write!(f, "]")?;
            }
        }
    }
    Ok(())
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_pieces(&self.pieces, f)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.pieces.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            match p {
                PatPiece::Byte { value, mask } => {
                    for shift in [4u8, 0] {
                        if (mask >> shift) & 0xF == 0 {
                            write!(f, "?")?;
                        } else {
                            write!(f, "{:X}", (value >> shift) & 0xF)?;
                        }
                    }
                }
                PatPiece::Any => write!(f, "*")?,
                PatPiece::Skip(n) => write!(f, "{{{n}}}")?,
                PatPiece::Capture(n, Some(len)) => write!(f, "{{{n}:{len}}}")?,
                PatPiece::Capture(n, None) => write!(f, "{{{n}:*}}")?,
                PatPiece::Expr(e) => write!(f, "${{{e}}}")?,
            }
        }
        Ok(())
    }
}

fn is_pat_digit(c: char) -> bool {
    c.is_ascii_hexdigit() || c == '?' || c == '.'
}

impl Pattern {
    /// Parse a pattern.
    pub fn parse(src: &str) -> Result<Pattern, SyntaxError> {
        let chars: Vec<char> = src.chars().collect();
        let mut pieces = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                c if c.is_whitespace() => i += 1,
                '$' if chars.get(i + 1) == Some(&'{') => {
                    let (e, next) = read_expr(&chars, i)?;
                    pieces.push(PatPiece::Expr(e));
                    i = next;
                }
                '*' => {
                    pieces.push(PatPiece::Any);
                    i += 1;
                }
                '{' => {
                    let end = chars[i..]
                        .iter()
                        .position(|&c| c == '}')
                        .map(|p| p + i)
                        .ok_or_else(|| serr(i, "unclosed `{`"))?;
                    let inner: String = chars[i + 1..end].iter().collect();
                    let inner = inner.trim();
                    let piece = if inner == "any" || inner == "*" {
                        PatPiece::Any
                    } else if let Ok(n) = inner.parse::<usize>() {
                        PatPiece::Skip(n)
                    } else if let Some((name, len)) = inner.split_once(':') {
                        let name = name.trim();
                        if name.is_empty()
                            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                            || name.starts_with(|c: char| c.is_ascii_digit())
                        {
                            return Err(serr(i, format!("`{name}` is not a variable name")));
                        }
                        let len = match len.trim() {
                            "*" | "any" => None,
                            l => Some(l.parse::<usize>().map_err(|_| {
                                serr(i, format!("`{{{inner}}}`: the length must be a number or *"))
                            })?),
                        };
                        PatPiece::Capture(name.to_string(), len)
                    } else {
                        return Err(serr(
                            i,
                            format!(
                                "`{{{inner}}}`: expected {{any}}, {{n}}, {{name:n}} or {{name:*}}"
                            ),
                        ));
                    };
                    pieces.push(piece);
                    i = end + 1;
                }
                c if is_pat_digit(c) => {
                    let start = i;
                    let mut run = Vec::new();
                    while let Some(&d) = chars.get(i) {
                        if !is_pat_digit(d) {
                            break;
                        }
                        run.push(d);
                        i += 1;
                    }
                    if run.len() % 2 == 1 {
                        let t: String = run.iter().collect();
                        return Err(serr(
                            start,
                            format!("`{t}` has an odd number of hex digits"),
                        ));
                    }
                    for p in run.chunks(2) {
                        let mut value = 0u8;
                        let mut mask = 0u8;
                        for &d in p {
                            value <<= 4;
                            mask <<= 4;
                            if let Some(v) = hexval(d) {
                                value |= v;
                                mask |= 0xF;
                            }
                        }
                        pieces.push(PatPiece::Byte { value, mask });
                    }
                }
                other => {
                    return Err(serr(
                        i,
                        format!(
                            "unexpected `{other}` (hex with ?/. wildcards, {{…}}, * and ${{expr}} only)"
                        ),
                    ))
                }
            }
        }
        Ok(Pattern { pieces })
    }

    /// A pattern matching exactly these bytes.
    pub fn exact(bytes: &[u8]) -> Pattern {
        Pattern {
            pieces: bytes
                .iter()
                .map(|&value| PatPiece::Byte { value, mask: 0xFF })
                .collect(),
        }
    }

    /// The fixed number of bytes this pattern covers, if it has no variable-length piece.
    pub fn fixed_len(&self) -> Option<usize> {
        let mut n = 0;
        for p in &self.pieces {
            n += match p {
                PatPiece::Byte { .. } => 1,
                PatPiece::Skip(k) | PatPiece::Capture(_, Some(k)) => *k,
                _ => return None,
            };
        }
        Some(n)
    }

    /// Whether the pattern ends with two literal bytes (an exact status word).
    pub fn trailing_sw(&self) -> Option<u16> {
        match self.pieces.as_slice() {
            [.., PatPiece::Byte {
                value: a,
                mask: 0xFF,
            }, PatPiece::Byte {
                value: b,
                mask: 0xFF,
            }] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }

    /// Match `input`; on success, the captures in pattern order.
    pub fn matches(
        &self,
        input: &[u8],
        scope: &dyn Scope,
    ) -> Result<Result<Captures, Mismatch>, String> {
        let mut caps = Vec::new();
        let mut best = Mismatch {
            offset: 0,
            expected: String::new(),
            got: None,
        };
        let mut rank = None;
        if go(
            &self.pieces,
            input,
            0,
            &mut caps,
            scope,
            &mut best,
            &mut rank,
        )? {
            Ok(Ok(caps))
        } else {
            Ok(Err(best))
        }
    }
}

/// What a match bound: `(name, bytes)` in pattern order.
pub type Captures = Vec<(String, Vec<u8>)>;

/// Why a response does not match: the first offset that could not be matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Byte offset in the matched bytes.
    pub offset: usize,
    /// What was expected there.
    pub expected: String,
    /// The byte found there (`None`: the bytes ended).
    pub got: Option<u8>,
}

/// Keep the failure that got furthest into the pattern (fewest pieces left), then into the bytes.
fn record(
    best: &mut Mismatch,
    rank: &mut Option<(usize, usize)>,
    left: usize,
    offset: usize,
    expected: String,
    got: Option<u8>,
) {
    let better = match *rank {
        None => true,
        Some((l, o)) => left < l || (left == l && offset > o),
    };
    if better {
        *best = Mismatch {
            offset,
            expected,
            got,
        };
        *rank = Some((left, offset));
    }
}

fn byte_text(value: u8, mask: u8) -> String {
    let mut s = String::new();
    for shift in [4u8, 0] {
        if (mask >> shift) & 0xF == 0 {
            s.push('?');
        } else {
            s.push_str(&format!("{:X}", (value >> shift) & 0xF));
        }
    }
    s
}

fn go(
    pieces: &[PatPiece],
    input: &[u8],
    pos: usize,
    caps: &mut Vec<(String, Vec<u8>)>,
    scope: &dyn Scope,
    best: &mut Mismatch,
    rank: &mut Option<(usize, usize)>,
) -> Result<bool, String> {
    let Some((first, rest)) = pieces.split_first() else {
        if pos == input.len() {
            return Ok(true);
        }
        record(
            best,
            rank,
            0,
            pos,
            "the end of the response".into(),
            input.get(pos).copied(),
        );
        return Ok(false);
    };
    match first {
        PatPiece::Byte { value, mask } => match input.get(pos) {
            Some(&b) if b & mask == value & mask => {
                go(rest, input, pos + 1, caps, scope, best, rank)
            }
            got => {
                record(
                    best,
                    rank,
                    pieces.len(),
                    pos,
                    byte_text(*value, *mask),
                    got.copied(),
                );
                Ok(false)
            }
        },
        PatPiece::Skip(n) => {
            if pos + n <= input.len() {
                go(rest, input, pos + n, caps, scope, best, rank)
            } else {
                record(
                    best,
                    rank,
                    pieces.len(),
                    input.len(),
                    format!("{} more byte(s)", pos + n - input.len()),
                    None,
                );
                Ok(false)
            }
        }
        PatPiece::Capture(name, Some(n)) => {
            if pos + n > input.len() {
                record(
                    best,
                    rank,
                    pieces.len(),
                    input.len(),
                    format!("{} more byte(s) for {{{name}:{n}}}", pos + n - input.len()),
                    None,
                );
                return Ok(false);
            }
            caps.push((name.clone(), input[pos..pos + n].to_vec()));
            if go(rest, input, pos + n, caps, scope, best, rank)? {
                return Ok(true);
            }
            caps.pop();
            Ok(false)
        }
        PatPiece::Any | PatPiece::Capture(_, None) => {
            for end in pos..=input.len() {
                if let PatPiece::Capture(name, None) = first {
                    caps.push((name.clone(), input[pos..end].to_vec()));
                }
                let ok = go(rest, input, end, caps, scope, best, rank)?;
                if ok {
                    return Ok(true);
                }
                if matches!(first, PatPiece::Capture(..)) {
                    caps.pop();
                }
            }
            Ok(false)
        }
        PatPiece::Expr(e) => {
            let want = eval_bytes(
                e,
                &Layer {
                    base: scope,
                    extra: caps,
                },
            )
            .map_err(|m| format!("in ${{{e}}}: {m}"))?;
            for (i, w) in want.iter().enumerate() {
                let got = input.get(pos + i).copied();
                if got != Some(*w) {
                    record(
                        best,
                        rank,
                        pieces.len(),
                        pos + i,
                        format!(
                            "{w:02X} (byte {i} of ${{{e}}} = {})",
                            hex::encode_upper(&want)
                        ),
                        got,
                    );
                    return Ok(false);
                }
            }
            go(rest, input, pos + want.len(), caps, scope, best, rank)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::expr::{Value, Vars};
    use super::*;
    use std::collections::BTreeMap;

    fn scope() -> Vars<'static> {
        let mut v = BTreeMap::new();
        v.insert("aid".into(), Value::Bytes(vec![0xA0, 0x00, 0x01]));
        Vars {
            vars: v,
            profile: None,
        }
    }

    fn m(p: &str, input: &str) -> Result<Vec<(String, Vec<u8>)>, Mismatch> {
        Pattern::parse(p)
            .unwrap()
            .matches(&hex::decode(input).unwrap(), &scope())
            .unwrap()
    }

    #[test]
    fn templates_count_lc() {
        let t = Template::parse("00A4 0400 [${aid}] 00").unwrap();
        assert_eq!(
            t.render(&scope()).unwrap(),
            hex::decode("00A4040003A0000100").unwrap()
        );
        let t = Template::parse("00A4 0000 []").unwrap();
        assert_eq!(
            t.render(&scope()).unwrap(),
            hex::decode("00A40000").unwrap()
        );
        let t = Template::parse("00D6 9500 [${repeat(0x00, 300)}]").unwrap();
        let r = t.render(&scope()).unwrap();
        assert_eq!(&r[4..7], &[0x00, 0x01, 0x2C]);
        assert_eq!(t.to_string(), "00D69500 [${repeat(0x00, 300)}]");
    }

    #[test]
    fn template_errors() {
        assert!(Template::parse("00A").unwrap_err().message.contains("odd"));
        assert!(Template::parse("[[00]]")
            .unwrap_err()
            .message
            .contains("nest"));
        assert!(Template::parse("00]")
            .unwrap_err()
            .message
            .contains("without"));
        let e = Template::parse("00 [01").unwrap_err();
        assert_eq!(e.column, 4);
        assert!(Template::parse("00 ${u8(1)")
            .unwrap_err()
            .message
            .contains("unclosed"));
        assert!(Template::parse("00 zz")
            .unwrap_err()
            .message
            .contains("unexpected `z`"));
        let e = Template::parse("00 ${nope(1)}").unwrap_err();
        assert!(e.message.contains("unknown function"), "{e}");
        assert_eq!(e.column, 6);
    }

    #[test]
    fn exact_wildcards_and_first_difference() {
        assert!(m("6F 12 84 9000", "6F12849000").is_ok());
        assert!(m("6F.. 84 ?? 9000", "6F1284AB9000").is_ok());
        assert!(m("63C?", "63C2").is_ok());
        let e = m("63C?", "6983").unwrap_err();
        assert_eq!(
            (e.offset, e.expected.as_str(), e.got),
            (0, "63", Some(0x69))
        );
        let e = m("6F 12 84 9000", "6F12859000").unwrap_err();
        assert_eq!((e.offset, e.got), (2, Some(0x85)));
        let e = m("6F 12 9000", "6F12").unwrap_err();
        assert_eq!((e.offset, e.got), (2, None));
        let e = m("9000", "AA9000").unwrap_err();
        assert_eq!(e.offset, 0);
        let e = m("9000", "9000AA").unwrap_err();
        assert_eq!(
            (e.offset, e.expected.as_str()),
            (2, "the end of the response")
        );
    }

    #[test]
    fn variable_length_pieces_and_captures() {
        assert!(m("6F {any} 9000", "6F9000").is_ok());
        assert!(m("6F * 9000", "6F0102039000").is_ok());
        assert!(m("{4} 9000", "010203049000").is_ok());
        assert!(m("{4} 9000", "0102039000").is_err());
        let caps = m("{bal:4} {atc:2} {rest:*} 9000", "0000100000017F9000").unwrap();
        assert_eq!(caps[0], ("bal".into(), hex::decode("00001000").unwrap()));
        assert_eq!(caps[1], ("atc".into(), vec![0, 1]));
        assert_eq!(caps[2], ("rest".into(), vec![0x7F]));
        // A capture feeds a later expression of the same pattern.
        assert!(m("{x:2} ${x} 9000", "ABCDABCD9000").is_ok());
        assert!(m("{x:1} ${x ‖ x} 9000", "ABABAB9000").is_ok());
        let e = m("{x:2} ${x} 9000", "ABCDABCE9000").unwrap_err();
        assert_eq!(e.offset, 3);
        assert!(
            e.expected.starts_with("CD (byte 1 of ${x} = ABCD)"),
            "{}",
            e.expected
        );
        // The furthest failure is reported through backtracking.
        let e = m("* 84 09 9000", "6F8409AA9000").unwrap_err();
        assert_eq!(e.offset, 3, "{e:?}");
    }

    #[test]
    fn pattern_errors_and_display() {
        assert!(Pattern::parse("6").unwrap_err().message.contains("odd"));
        assert!(Pattern::parse("{x:y}")
            .unwrap_err()
            .message
            .contains("length"));
        assert!(Pattern::parse("{9x:2}")
            .unwrap_err()
            .message
            .contains("variable"));
        assert!(Pattern::parse("{foo}")
            .unwrap_err()
            .message
            .contains("expected"));
        assert!(Pattern::parse("{4")
            .unwrap_err()
            .message
            .contains("unclosed"));
        let p = Pattern::parse("6F.. {2} {a:3} {b:*} * ${a} 90 00").unwrap();
        assert_eq!(p.to_string(), "6F ?? {2} {a:3} {b:*} * ${a} 90 00");
        assert_eq!(p.trailing_sw(), Some(0x9000));
        assert_eq!(Pattern::parse("01 {3} {x:2}").unwrap().fixed_len(), Some(6));
    }
}
