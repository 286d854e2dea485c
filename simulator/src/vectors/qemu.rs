//! The emulated chip: the Cortex-M3 firmware (`simulator/firmware`) running in
//! `qemu-system-arm -M lm3s6965evb`, behind the [`Reader`] trait, so the same vectors replay
//! against the bare-metal build (`cos-sim replay … --qemu FIRMWARE.elf`).
//!
//! QEMU runs as a child process with UART0 on its standard input and output; the two sides
//! exchange the binary frames of the firmware's line protocol (`simulator/firmware/src/main.rs`):
//! `type ‖ length (2) ‖ payload`. Every answer carries the **cost** of the frame on the chip:
//! the instructions it executed (exact: QEMU runs with `-icount`, see `docs/performance.md`) and
//! the EEPROM page programs it issued; [`Qemu::costs`] keeps them per APDU.
//!
//! Every read has a deadline ([`Qemu::timeout`]): a firmware that hangs or faults makes the reader
//! fail (and kills QEMU) instead of blocking the run.

use super::reader::{Reader, ReaderError};
use std::cell::RefCell;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

/// The emulator binary (override with the environment variable `COS_QEMU`).
pub const QEMU: &str = "qemu-system-arm";
/// `-icount shift`: 2^4 ns of virtual time per instruction. Any shift of 3 or more gives exact
/// counts with the firmware's 5 ns SysTick; the value only changes the virtual clock rate.
pub const ICOUNT_SHIFT: u32 = 4;
/// Default deadline for one answer (an emulated personalisation command takes milliseconds).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// What one frame cost on the chip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Cortex-M3 instructions executed (exact under `-icount`).
    pub instructions: u64,
    /// EEPROM page programs issued.
    pub programs: u32,
    /// Deepest stack the frame used (bytes, the firmware's main frame included).
    pub stack: u32,
}

/// One APDU's cost, as logged by the reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandCost {
    /// The C-APDU.
    pub apdu: Vec<u8>,
    /// The status word answered.
    pub sw: u16,
    /// Its cost.
    pub cost: Cost,
}

/// A shared log of per-APDU costs (the runner owns the reader; the caller keeps this handle).
pub type CostLog = Rc<RefCell<Vec<CommandCost>>>;

/// The firmware's `S` frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirmwareStats {
    /// Deepest stack use of the last frame (bytes), from the painted stack.
    pub stack_peak: u32,
    /// Size of the stack region (bytes).
    pub stack_size: u32,
    /// EEPROM pages holding data (neither all `FF` nor all `00`).
    pub nvm_pages_used: u32,
    /// Page programs since boot.
    pub programs: u32,
}

/// The firmware in QEMU.
pub struct Qemu {
    child: Child,
    stdin: ChildStdin,
    frames: Receiver<Result<(u8, Vec<u8>), String>>,
    firmware: PathBuf,
    /// Deadline for one answer.
    pub timeout: Duration,
    /// Seed of the next power-on's RNG (the firmware has no TRNG: the host provides entropy).
    seed: Option<u64>,
    powers: u64,
    log: CostLog,
    last: Option<Cost>,
    /// Whether the chip was virgin at boot.
    pub virgin: bool,
    /// The meter's calibration from the hello frame: instructions, their ticks, empty ticks.
    calibration: (u64, u64, u64),
}

fn io(e: impl std::fmt::Display) -> ReaderError {
    ReaderError::Io(e.to_string())
}

impl Qemu {
    /// Boot `firmware` in QEMU and wait for its hello frame. `seed` makes the card's random
    /// numbers reproducible (default: the host's entropy at every power-on).
    pub fn launch(firmware: &Path, seed: Option<u64>) -> Result<Qemu, ReaderError> {
        if !firmware.is_file() {
            return Err(io(format!(
                "no firmware at {} (build it: cd simulator/firmware && cargo build --release)",
                firmware.display()
            )));
        }
        let bin = std::env::var("COS_QEMU").unwrap_or_else(|_| QEMU.to_string());
        let mut child = Command::new(&bin)
            .args(["-M", "lm3s6965evb", "-display", "none", "-monitor", "none"])
            .args(["-serial", "stdio"])
            .arg("-icount")
            .arg(format!("shift={ICOUNT_SHIFT}"))
            .arg("-kernel")
            .arg(firmware)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                io(format!(
                    "starting {bin}: {e} (apt-get install qemu-system-arm)"
                ))
            })?;
        let (Some(stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(io("no pipes to QEMU"));
        };
        let (tx, frames) = mpsc::channel();
        std::thread::spawn(move || loop {
            let mut head = [0u8; 3];
            let r = stdout.read_exact(&mut head).and_then(|_| {
                let mut p = vec![0u8; usize::from(u16::from_be_bytes([head[1], head[2]]))];
                stdout.read_exact(&mut p).map(|_| p)
            });
            let stop = r.is_err();
            if tx
                .send(r.map(|p| (head[0], p)).map_err(|e| e.to_string()))
                .is_err()
                || stop
            {
                return;
            }
        });
        let mut q = Qemu {
            child,
            stdin,
            frames,
            firmware: firmware.to_path_buf(),
            timeout: DEFAULT_TIMEOUT,
            seed,
            powers: 0,
            log: CostLog::default(),
            last: None,
            virgin: false,
            calibration: (1, 1, 0),
        };
        let (ty, hello) = q.frame()?;
        if ty != b'H' || hello.len() < 27 || &hello[..7] != b"CCOS-FW" {
            return Err(io(format!(
                "unexpected hello from the firmware: {}",
                hex::encode_upper(&hello)
            )));
        }
        q.virgin = hello[14] != 0;
        let w = |i: usize| {
            u64::from(u32::from_be_bytes([
                hello[i],
                hello[i + 1],
                hello[i + 2],
                hello[i + 3],
            ]))
        };
        let (insns, ticks, empty) = (w(15), w(19), w(23));
        if insns == 0 || ticks <= empty {
            return Err(io(format!(
                "the firmware's instruction meter does not run (calibration: {insns} instructions in {ticks} ticks); QEMU must run with -icount"
            )));
        }
        q.calibration = (insns, ticks - empty, empty);
        Ok(q)
    }

    fn frame(&mut self) -> Result<(u8, Vec<u8>), ReaderError> {
        match self.frames.recv_timeout(self.timeout) {
            Ok(Ok(f)) => Ok(f),
            Ok(Err(e)) => Err(io(format!("QEMU closed the line: {e}"))),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                Err(io(format!(
                    "the firmware did not answer within {:?} (hung or faulted)",
                    self.timeout
                )))
            }
            Err(RecvTimeoutError::Disconnected) => Err(io("QEMU exited")),
        }
    }

    /// Send one frame, return the answer; `R` answers are split into cost and payload.
    fn call(&mut self, ty: u8, payload: &[u8]) -> Result<(Cost, Vec<u8>), ReaderError> {
        let len = u16::try_from(payload.len()).map_err(|_| io("frame too long"))?;
        let mut f = Vec::with_capacity(3 + payload.len());
        f.push(ty);
        f.extend_from_slice(&len.to_be_bytes());
        f.extend_from_slice(payload);
        self.stdin
            .write_all(&f)
            .and_then(|_| self.stdin.flush())
            .map_err(|e| io(format!("writing to QEMU: {e}")))?;
        let (rt, body) = self.frame()?;
        match rt {
            b'R' if body.len() >= 16 => {
                let ticks = u64::from_be_bytes(body[..8].try_into().unwrap_or_default());
                let (insns, per, empty) = self.calibration;
                let cost = Cost {
                    // Exact under -icount: ticks are a fixed multiple of instructions.
                    instructions: (u128::from(ticks.saturating_sub(empty)) * u128::from(insns)
                        + u128::from(per / 2))
                    .checked_div(u128::from(per))
                    .map_or(0, |v| v as u64),
                    programs: u32::from_be_bytes(body[8..12].try_into().unwrap_or_default()),
                    stack: u32::from_be_bytes(body[12..16].try_into().unwrap_or_default()),
                };
                self.last = Some(cost);
                Ok((cost, body[16..].to_vec()))
            }
            b'E' => Err(io(format!(
                "firmware: {}",
                String::from_utf8_lossy(&body).into_owned()
            ))),
            b'S' => Ok((Cost::default(), body)),
            _ => Err(io(format!("unexpected frame `{}`", rt as char))),
        }
    }

    /// Format the chip as the chip maker delivers it (blank, pre-personalised, with this transport
    /// code); the card is off afterwards.
    /// The journal key's seed comes from the host's random source (or the fixed seed).
    pub fn format(&mut self, transport_code: [u8; 8]) -> Result<Cost, ReaderError> {
        let key_seed = match self.seed {
            Some(s) => s ^ 0x4A4B_4559_5345_4544, // "JKEYSEED": a stream apart from power-on seeds
            None => {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b).map_err(io)?;
                u64::from_ne_bytes(b)
            }
        };
        let mut payload = transport_code.to_vec();
        payload.extend_from_slice(&key_seed.to_be_bytes());
        self.call(b'F', &payload).map(|(c, _)| c)
    }

    /// Power on (cold); returns the ATR.
    pub fn power_on(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.powers += 1;
        let seed = match self.seed {
            Some(s) => s.wrapping_add(self.powers),
            None => {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b).map_err(io)?;
                u64::from_ne_bytes(b)
            }
        };
        self.call(b'P', &seed.to_be_bytes()).map(|(_, atr)| atr)
    }

    /// The firmware's statistics (stack peak, programs, calibration).
    pub fn stats(&mut self) -> Result<FirmwareStats, ReaderError> {
        let (_, s) = self.call(b'S', &[])?;
        let w = |i: usize| -> u32 {
            s.get(i..i + 4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_be_bytes)
        };
        if s.len() < 16 {
            return Err(io("short statistics frame"));
        }
        Ok(FirmwareStats {
            stack_peak: w(0),
            stack_size: w(4),
            nvm_pages_used: w(8),
            programs: w(12),
        })
    }

    /// The per-APDU cost log (shared: keep a clone before handing the reader to a runner).
    pub fn costs(&self) -> CostLog {
        self.log.clone()
    }

    /// The cost of the last frame.
    pub fn last_cost(&self) -> Option<Cost> {
        self.last
    }

    /// Run a personalisation script on the card (powered on first); every step must answer its
    /// status word. Returns the number of APDUs and their total cost.
    pub fn personalise(&mut self, script: &crate::perso::Script) -> Result<(usize, Cost), String> {
        self.power_on().map_err(|e| e.to_string())?;
        let mut total = Cost::default();
        for (i, st) in script.steps.iter().enumerate() {
            let r = self.transmit(&st.apdu).map_err(|e| e.to_string())?;
            let n = r.len();
            let sw = u16::from_be_bytes([r[n - 2], r[n - 1]]);
            if sw != st.expect {
                return Err(format!(
                    "personalisation step {} ({}): {} answered {sw:04X}, expected {:04X}",
                    i + 1,
                    st.comment,
                    hex::encode_upper(&st.apdu),
                    st.expect
                ));
            }
            if let Some(c) = self.last {
                total.instructions += c.instructions;
                total.programs += c.programs;
                total.stack = total.stack.max(c.stack);
            }
        }
        Ok((script.steps.len(), total))
    }
}

impl Reader for Qemu {
    fn name(&self) -> String {
        format!(
            "emulated Cortex-M3 (QEMU lm3s6965evb, {})",
            self.firmware.display()
        )
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let (cost, r) = self.call(b'A', apdu)?;
        if r.len() < 2 {
            return Err(ReaderError::NoAnswer);
        }
        self.log.borrow_mut().push(CommandCost {
            apdu: apdu.to_vec(),
            sw: u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]]),
            cost,
        });
        Ok(r)
    }

    fn reset(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.call(b'W', &[]).map(|(_, atr)| atr)
    }

    fn power_cycle(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.power_on()
    }

    fn diagnostics(&mut self) -> Option<String> {
        self.stats().ok().map(|s| s.to_string())
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Display for FirmwareStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "firmware: stack region {} bytes, {} EEPROM pages in use, {} page programs since boot",
            self.stack_size, self.nvm_pages_used, self.programs
        )
    }
}

/// The label a cost table groups an APDU under: its name and `CLA INS P1` (P1 tells PBOC's
/// INITIALIZE FOR LOAD / PURCHASE / CAPP apart).
pub fn cost_label(apdu: &[u8]) -> String {
    let head: Vec<String> = apdu.iter().take(3).map(|b| format!("{b:02X}")).collect();
    format!("{} {}", head.join(" "), crate::trace::command_name(apdu))
}

/// A table of the logged costs per command: count, instructions (min / median / max) and page
/// programs (min / max), successful answers only.
pub fn cost_table(log: &[CommandCost]) -> String {
    use std::collections::BTreeMap;
    let mut by: BTreeMap<String, Vec<Cost>> = BTreeMap::new();
    for c in log.iter().filter(|c| c.sw == 0x9000 || c.sw >> 8 == 0x61) {
        by.entry(cost_label(&c.apdu)).or_default().push(c.cost);
    }
    let mut s = format!(
        "{:<44} {:>5} {:>10} {:>10} {:>10} {:>9} {:>6}\n",
        "command (successful answers)", "n", "insn min", "median", "max", "programs", "stack"
    );
    for (label, mut v) in by {
        v.sort_by_key(|c| c.instructions);
        let p_min = v.iter().map(|c| c.programs).min().unwrap_or(0);
        let p_max = v.iter().map(|c| c.programs).max().unwrap_or(0);
        let stack = v.iter().map(|c| c.stack).max().unwrap_or(0);
        // How often each program count occurred, when it varies ("4×21 5×6").
        let mut hist: BTreeMap<u32, usize> = BTreeMap::new();
        for c in &v {
            *hist.entry(c.programs).or_default() += 1;
        }
        let spread = if hist.len() > 1 {
            hist.iter()
                .map(|(p, n)| format!("{p}×{n}"))
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            String::new()
        };
        s.push_str(&format!(
            "{:<44} {:>5} {:>10} {:>10} {:>10} {:>9} {:>6} {}\n",
            label,
            v.len(),
            v[0].instructions,
            v[v.len() / 2].instructions,
            v[v.len() - 1].instructions,
            if p_min == p_max {
                p_min.to_string()
            } else {
                format!("{p_min}–{p_max}")
            },
            stack,
            spread
        ));
    }
    s
}
