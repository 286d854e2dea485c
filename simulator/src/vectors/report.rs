//! What a run prints: one line per vector, the summary line `N passed, N failed`, and a JUnit
//! XML report for CI dashboards.

use super::runner::{Outcome, Status};
use std::fmt::Write as _;

/// The one-line result of a vector.
pub fn line(o: &Outcome) -> String {
    let name = format!("{}#{}", o.file, o.id);
    match &o.status {
        Status::Pass => format!("PASS  {name}  {}", o.title),
        Status::Fail(m) => format!("FAIL  {name}  {m}"),
        Status::Skip(why) => format!("SKIP  {name}  {why}"),
        Status::ExpectedFailure(why, m) => {
            format!("XFAIL {name}  known card bug ({why}): {m}")
        }
        Status::UnexpectedPass(m) => format!("XPASS {name}  {m}"),
    }
}

/// Counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Passed (expected failures included).
    pub passed: usize,
    /// Failed (unexpected passes included).
    pub failed: usize,
    /// Not run.
    pub skipped: usize,
    /// Of the passed, how many were expected failures.
    pub expected_failures: usize,
}

impl Counts {
    /// Count outcomes.
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Counts {
        let mut c = Counts::default();
        for o in outcomes {
            if o.passed() {
                c.passed += 1;
            }
            if o.failed() {
                c.failed += 1;
            }
            if matches!(o.status, Status::Skip(_)) {
                c.skipped += 1;
            }
            if matches!(o.status, Status::ExpectedFailure(..)) {
                c.expected_failures += 1;
            }
        }
        c
    }

    /// The summary line, exactly `N passed, N failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A JUnit XML report: one `testsuite` per file, one `testcase` per vector.
pub fn junit(outcomes: &[Outcome]) -> String {
    let mut files: Vec<&str> = Vec::new();
    for o in outcomes {
        if !files.contains(&o.file.as_str()) {
            files.push(&o.file);
        }
    }
    let total = Counts::of(outcomes);
    let time: f64 = outcomes.iter().map(|o| o.seconds).sum();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"cos-sim replay\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{time:.3}\">",
        outcomes.len(),
        total.failed,
        total.skipped
    );
    for f in files {
        let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.file == f).collect();
        let c = Counts::of(mine.iter().copied());
        let t: f64 = mine.iter().map(|o| o.seconds).sum();
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{t:.3}\">",
            xml(f),
            mine.len(),
            c.failed,
            c.skipped
        );
        for o in mine {
            let _ = write!(
                s,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
                xml(f),
                xml(&o.id),
                o.seconds
            );
            let detail = || {
                let mut d = String::new();
                for l in &o.transcript {
                    d.push_str(l);
                    d.push('\n');
                }
                d
            };
            match &o.status {
                Status::Pass => {}
                Status::Fail(m) | Status::UnexpectedPass(m) => {
                    let _ = write!(
                        s,
                        "\n      <failure message=\"{}\" type=\"mismatch\">{}</failure>\n    ",
                        xml(m),
                        xml(&format!(
                            "{m}\n\n{}\nchecks: {}\n\n{}",
                            o.title,
                            o.clause,
                            detail()
                        ))
                    );
                }
                Status::Skip(why) => {
                    let _ = write!(s, "\n      <skipped message=\"{}\"/>\n    ", xml(why));
                }
                Status::ExpectedFailure(why, m) => {
                    let _ = write!(
                        s,
                        "\n      <system-out>{}</system-out>\n    ",
                        xml(&format!("expected failure (known card bug: {why}): {m}"))
                    );
                }
            }
            let _ = writeln!(s, "</testcase>");
        }
        let _ = writeln!(s, "  </testsuite>");
    }
    s.push_str("</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::format::Kind;

    fn o(id: &str, status: Status) -> Outcome {
        Outcome {
            file: "iso7816/x.toml".into(),
            id: id.into(),
            title: "T <&>".into(),
            clause: "c".into(),
            kind: Kind::Card,
            status,
            seconds: 0.001,
            transcript: vec!["> 00A4".into(), "< 6A82".into()],
        }
    }

    #[test]
    fn lines_summary_and_junit() {
        let all = vec![
            o("a", Status::Pass),
            o(
                "b",
                Status::Fail("step 1 (…): R-APDU SW1: expected 90, got 6A".into()),
            ),
            o("c", Status::Skip("destructive".into())),
            o("d", Status::ExpectedFailure("bug".into(), "m".into())),
            o("e", Status::UnexpectedPass("fixed".into())),
        ];
        assert_eq!(line(&all[0]), "PASS  iso7816/x.toml#a  T <&>");
        assert!(line(&all[1]).starts_with("FAIL  iso7816/x.toml#b  step 1"));
        let c = Counts::of(&all);
        assert_eq!(c.summary(), "2 passed, 2 failed");
        assert_eq!((c.skipped, c.expected_failures), (1, 1));
        let x = junit(&all);
        assert!(x.contains("<testsuite name=\"iso7816/x.toml\" tests=\"5\" failures=\"2\" errors=\"0\" skipped=\"1\""), "{x}");
        assert!(
            x.contains("<failure message=\"step 1 (…): R-APDU SW1: expected 90, got 6A\""),
            "{x}"
        );
        assert!(x.contains("&gt; 00A4"), "{x}");
        assert!(x.contains("<skipped message=\"destructive\"/>"), "{x}");
        assert!(x.contains("T &lt;&amp;&gt;\nchecks: c"), "{x}");
        assert_eq!(x.matches("<testcase ").count(), 5);
        assert_eq!(x.matches("</testcase>").count(), 5);
    }
}
