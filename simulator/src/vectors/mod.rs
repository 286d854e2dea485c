//! Conformance test vectors (`test-vectors/`, format in `docs/conformance.md`) and their replay
//! tool, `cos-sim replay`.
//!
//! * [`mod@format`] parses vector files (TOML) and expands high-level steps into raw APDUs;
//!   [`scriptor`] reads `scriptor` scripts (the personalisation scripts) as vectors;
//! * [`template`] holds APDU templates, response patterns and the matcher; [`sw`] the status-word
//!   names; [`expr`] the expressions that compute the terminal side with the independent host
//!   reference model ([`crate::hostcrypto`]);
//! * [`reader`] is the `Reader` trait with the in-process and PC/SC (feature `pcsc`) readers;
//!   [`qemu`] the emulated Cortex-M3 running the firmware (`--qemu`);
//! * [`runner`] runs vectors, [`report`] prints lines, the summary and JUnit XML, [`cli`] is the
//!   subcommand.

pub mod cli;
pub mod expr;
pub mod format;
pub mod qemu;
pub mod reader;
pub mod report;
pub mod runner;
pub mod scriptor;
pub mod sw;
pub mod template;

use runner::{collect, load, Options, Outcome, Runner};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The result of a run.
pub struct Run {
    /// Every vector's outcome, in order.
    pub outcomes: Vec<Outcome>,
    /// Every status word the card answered.
    pub sw_seen: BTreeSet<u16>,
}

/// Load and run vector files or directories (errors: unreadable or malformed files).
pub fn run_paths(paths: &[PathBuf], opts: Options) -> Result<Run, String> {
    let mut loaded = Vec::new();
    for (path, display) in collect(paths)? {
        loaded.push(load(&path, &display)?);
    }
    let mut runner = Runner::new(opts)?;
    let mut outcomes = Vec::new();
    for l in &loaded {
        runner.run_file(l, &mut |o| outcomes.push(o.clone()));
    }
    Ok(Run {
        outcomes,
        sw_seen: runner.sw_seen,
    })
}
