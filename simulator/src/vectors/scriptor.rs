//! `scriptor` (pcsc-tools) scripts as vectors: `#` comments, `reset`, one APDU per line in hex
//! (spaces free), `exit`/`quit` to stop. Every APDU must answer `9000` — the contract of the
//! personalisation scripts `cos-sim personalise --script` writes — so a script is one vector whose
//! steps are its lines, run on a factory chip in-process (or the reader's card as it is).

use super::format::{Action, Expect, Kind, ProfileRef, Setup, Step, Vector, VectorFile};
use super::template::{Piece, Template};
use std::path::Path;

/// Parse a script; errors name the file and line.
pub fn parse(path: &Path, text: &str) -> Result<VectorFile, String> {
    let mut steps = Vec::new();
    let mut title = None;
    let mut comment: Option<String> = None;
    let ok = super::sw::resolve("9000")?;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(c) = t.strip_prefix('#') {
            if title.is_none() && n == 0 {
                title = Some(c.trim().to_string());
            }
            comment = Some(c.trim().to_string());
            continue;
        }
        if t.is_empty() {
            continue;
        }
        let lower = t.to_ascii_lowercase();
        if lower == "exit" || lower == "quit" {
            break;
        }
        let action = if lower == "reset" {
            Action::Reset { cold: false }
        } else {
            let clean: String = t.chars().filter(|c| !c.is_whitespace()).collect();
            let apdu = hex::decode(&clean).map_err(|e| {
                format!(
                    "{}:{}: not an APDU in hex ({e}): {t}",
                    path.display(),
                    n + 1
                )
            })?;
            if apdu.len() < 4 {
                return Err(format!(
                    "{}:{}: an APDU has at least 4 bytes: {t}",
                    path.display(),
                    n + 1
                ));
            }
            Action::Send(Template {
                pieces: vec![Piece::Bytes(apdu)],
            })
        };
        let expect = match action {
            Action::Send(_) => Expect {
                sw: Some((ok.clone(), "9000".into())),
                ..Expect::default()
            },
            _ => Expect::default(),
        };
        steps.push(Step {
            number: n + 1,
            part: None,
            origin: Some(format!(
                "line {}{}",
                n + 1,
                match comment.take() {
                    Some(c) => format!(": {c}"),
                    None => String::new(),
                }
            )),
            action,
            lets: Vec::new(),
            expect,
            checks: Vec::new(),
            repeat: 1,
            note: None,
        });
    }
    if !steps.iter().any(|s| matches!(s.action, Action::Send(_))) {
        return Err(format!("{}: no APDU in the script", path.display()));
    }
    let id = path
        .file_stem()
        .map_or("script".into(), |s| s.to_string_lossy().into_owned());
    Ok(VectorFile {
        path: path.to_path_buf(),
        title: title.clone(),
        spec: None,
        profile: ProfileRef::Builtin,
        vars: Vec::new(),
        vectors: vec![Vector {
            id,
            title: title.unwrap_or_else(|| "scriptor script".into()),
            clause: "scriptor script: every APDU answers 9000".into(),
            line: 1,
            setup: Setup::Script,
            // A script given to replay is run wherever it is sent, on purpose.
            destructive: false,
            expected_failure: None,
            in_process_only: None,
            vars: Vec::new(),
            steps,
            kind: Kind::Script,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_reset_and_errors() {
        let f = parse(
            Path::new("p.apdu"),
            "# perso\nreset\n# SELECT MF\n00 A4 00 0C 02 3F 00\n\n00200000 08 FFFFFFFFFFFFFFFF\nexit\n00\n",
        )
        .unwrap();
        let v = &f.vectors[0];
        assert_eq!((v.id.as_str(), v.title.as_str()), ("p", "perso"));
        assert_eq!(v.steps.len(), 3);
        assert_eq!(v.steps[1].origin.as_deref(), Some("line 4: SELECT MF"));
        assert!(matches!(v.steps[0].action, Action::Reset { cold: false }));
        let e = parse(Path::new("p.apdu"), "00 A4 0\n").unwrap_err();
        assert!(e.starts_with("p.apdu:1: not an APDU"), "{e}");
        assert!(parse(Path::new("p.apdu"), "00A40000\n").is_ok());
        assert!(parse(Path::new("p.apdu"), "00A4 00\n").is_err());
        assert!(parse(Path::new("p.apdu"), "# nothing\nreset\n").is_err());
    }
}
