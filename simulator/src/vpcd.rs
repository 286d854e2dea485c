//! The PC/SC bridge: the simulated card in a real reader stack, through vsmartcard's `vpcd`.
//!
//! `vpcd` is a reader driver inside `pcscd`. It **listens** on TCP port 35963 (reader
//! "Virtual PCD 00 00"); a virtual card **connects** to it. Every message, both ways, is a 2-byte
//! big-endian length followed by that many bytes. From the reader, a 1-byte message is a control
//! event (`00` power off, `01` power on, `02` reset, `04` "send your ATR") and anything longer is a
//! C-APDU; the card answers `04` with its ATR and every C-APDU with its R-APDU, and answers nothing
//! else.
//!
//! The bridge is a thin adapter: frames ↔ [`SimCard`] calls. It has no chaining or GET RESPONSE
//! logic of its own, so PC/SC sees exactly what the in-process tests see. What it adds is what a
//! reader slot and a long-running process need:
//!
//! * the ATR is answered from a cache (pcscd asks for it about twice a second to see whether the
//!   card is still there), never by touching the card or the image;
//! * power off/on and reset go to [`SimCard::power_off`] / [`SimCard::power_on`] /
//!   [`SimCard::reset`], so RAM state (selection, security status, applet state) is lost as on a
//!   real card; when the reader goes away the card loses power too;
//! * the image is saved (crash-safe) after any event that programmed the chip, found by
//!   [`SimCard::programs`], so read-only APDUs cost no disk I/O;
//! * no card-side problem ends the bridge: a bad frame is logged and skipped, an APDU the card
//!   could not answer gets `6F 00`, a panic inside the card is caught and the card reloaded from
//!   its last saved image (as after a power cut before the command);
//! * the connection retries until pcscd is up and reconnects when it restarts, with backoff and
//!   bounded logging;
//! * `TCP_NODELAY` and (Linux) `TCP_QUICKACK` before every read: vpcd 3.3 sends the length and the
//!   APDU in two `send()` calls, so with Nagle on its side and delayed ACKs on ours every APDU
//!   would wait about 40 ms (see `docs/pcsc.md` for the measurements).

use crate::card::{CardRng, SimCard};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where vpcd listens by default (slot 0, reader "Virtual PCD 00 00").
pub const DEFAULT_ADDR: &str = "127.0.0.1:35963";

/// Control byte: power off.
pub const CTRL_POWER_OFF: u8 = 0x00;
/// Control byte: power on.
pub const CTRL_POWER_ON: u8 = 0x01;
/// Control byte: reset.
pub const CTRL_RESET: u8 = 0x02;
/// Control byte: send the ATR.
pub const CTRL_ATR: u8 = 0x04;

/// The answer to an APDU the card could not answer (no precise diagnosis).
pub const SW_NO_ANSWER: [u8; 2] = [0x6F, 0x00];

/// One message from vpcd, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// `00`: the reader cuts the power.
    PowerOff,
    /// `01`: the reader powers the card.
    PowerOn,
    /// `02`: the reader resets the card.
    Reset,
    /// `04`: the reader asks for the ATR (also its presence poll).
    GetAtr,
    /// A C-APDU (any message longer than one byte).
    Apdu(&'a [u8]),
    /// A 1-byte message that is no known control event.
    Unknown(u8),
    /// A message of length 0 (never sent by vpcd).
    Empty,
}

impl<'a> Request<'a> {
    /// Decode a message's payload (the bytes after the length).
    pub fn decode(payload: &'a [u8]) -> Request<'a> {
        match payload {
            [] => Request::Empty,
            [CTRL_POWER_OFF] => Request::PowerOff,
            [CTRL_POWER_ON] => Request::PowerOn,
            [CTRL_RESET] => Request::Reset,
            [CTRL_ATR] => Request::GetAtr,
            [b] => Request::Unknown(*b),
            apdu => Request::Apdu(apdu),
        }
    }
}

/// A frame that cannot be sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a vpcd message holds at most 65535 bytes, not {0}")]
pub struct FrameTooLong(pub usize);

/// One frame: the 2-byte big-endian length, then the payload.
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>, FrameTooLong> {
    let n = u16::try_from(payload.len()).map_err(|_| FrameTooLong(payload.len()))?;
    let mut f = Vec::with_capacity(payload.len() + 2);
    f.extend_from_slice(&n.to_be_bytes());
    f.extend_from_slice(payload);
    Ok(f)
}

/// Write one frame in a single `write` (header and payload together, so no Nagle split).
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let f = encode_frame(payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    w.write_all(&f)?;
    w.flush()
}

/// Read one frame into `buf`. `Ok(false)`: the peer closed the connection between frames;
/// a connection closed inside a frame is an `UnexpectedEof` error.
pub fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    read_frame_with(r, buf, || {})
}

/// [`read_frame`], calling `before_read` before each blocking read (header, then payload).
fn read_frame_with(
    r: &mut impl Read,
    buf: &mut Vec<u8>,
    mut before_read: impl FnMut(),
) -> io::Result<bool> {
    let mut hdr = [0u8; 2];
    before_read();
    let got = read_full(r, &mut hdr)?;
    if got == 0 {
        return Ok(false);
    }
    if got < hdr.len() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed inside a frame header",
        ));
    }
    let n = usize::from(u16::from_be_bytes(hdr));
    buf.clear();
    buf.resize(n, 0);
    if n > 0 {
        before_read();
        if read_full(r, buf)? < n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed inside a {n}-byte frame"),
            ));
        }
    }
    Ok(true)
}

/// Fill `buf` unless the stream ends first; returns how many bytes were read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let Some(rest) = buf.get_mut(got..) else {
            break;
        };
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Logs at most one line per `every` for a repeating condition, counting what it held back.
struct Throttle {
    every: Duration,
    last: Option<Instant>,
    held: u64,
}

impl Throttle {
    fn new(every: Duration) -> Throttle {
        Throttle {
            every,
            last: None,
            held: 0,
        }
    }

    /// `Some(suppressed count)` when a line may be logged now.
    fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(t) if now.duration_since(t) < self.every => {
                self.held += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held))
            }
        }
    }

    fn clear(&mut self) {
        self.last = None;
        self.held = 0;
    }
}

fn log(msg: &str) {
    eprintln!("cos-sim vpcd: {msg}");
}

/// What a bridge has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// C-APDUs answered.
    pub apdus: u64,
    /// ATR requests answered.
    pub atr_requests: u64,
    /// Power-on, power-off and reset events.
    pub power_events: u64,
    /// Image saves.
    pub saves: u64,
    /// Image saves that failed.
    pub save_errors: u64,
    /// Frames skipped as malformed.
    pub bad_frames: u64,
    /// Panics caught inside the card.
    pub card_panics: u64,
    /// Connections to vpcd made.
    pub connections: u64,
}

/// The adapter between vpcd messages and one [`SimCard`].
pub struct Bridge {
    card: SimCard,
    image: Option<PathBuf>,
    atr: Vec<u8>,
    saved_programs: u64,
    trace: bool,
    stats: Stats,
    save_log: Throttle,
}

impl Bridge {
    /// A bridge for `card`, persisted to `image` after every state change (none: in memory only).
    /// The card starts unpowered, as a card just put into a reader.
    pub fn new(mut card: SimCard, image: Option<PathBuf>) -> Bridge {
        card.set_tracing(false);
        let atr = match card.reset() {
            Ok(a) => a,
            Err(_) => cos_core::ATR.to_vec(),
        };
        card.power_off();
        let mut b = Bridge {
            saved_programs: card.programs(),
            card,
            image,
            atr,
            trace: false,
            stats: Stats::default(),
            save_log: Throttle::new(Duration::from_secs(60)),
        };
        b.save_if_changed();
        b
    }

    /// Open a card image and serve it (saved back to the same file).
    pub fn open(image: &Path) -> Result<Bridge, crate::SimError> {
        let card = SimCard::open(image, CardRng::Os)?;
        Ok(Bridge::new(card, Some(image.to_path_buf())))
    }

    /// Print every APDU exchange, decoded, on stderr.
    pub fn set_trace(&mut self, on: bool) {
        self.trace = on;
        self.card.set_tracing(on);
    }

    /// The ATR the bridge answers.
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// The card.
    pub fn card(&self) -> &SimCard {
        &self.card
    }

    /// The card, for direct access (tests).
    pub fn card_mut(&mut self) -> &mut SimCard {
        &mut self.card
    }

    /// The card, bridge dropped.
    pub fn into_card(self) -> SimCard {
        self.card
    }

    /// What the bridge has done so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Handle one message payload from vpcd; `Some(reply)` is to be sent back as one frame.
    pub fn handle(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        match Request::decode(payload) {
            Request::GetAtr => {
                self.stats.atr_requests += 1;
                Some(self.atr.clone())
            }
            Request::PowerOff => {
                self.stats.power_events += 1;
                self.guarded(|c| {
                    c.power_off();
                    None::<()>
                });
                None
            }
            Request::PowerOn => {
                self.stats.power_events += 1;
                // A cold start: whatever the reader thought, the card goes through power-off.
                if let Some(atr) = self.guarded(|c| {
                    c.power_off();
                    Some(c.power_on())
                }) {
                    self.power_result(atr);
                }
                self.save_if_changed();
                None
            }
            Request::Reset => {
                self.stats.power_events += 1;
                if let Some(atr) = self.guarded(|c| Some(c.reset())) {
                    self.power_result(atr);
                }
                self.save_if_changed();
                None
            }
            Request::Apdu(apdu) => {
                self.stats.apdus += 1;
                let r = self.guarded(|c| Some(c.transmit(apdu))).unwrap_or_default();
                if self.trace {
                    for t in self.card.take_trace() {
                        eprintln!("{t}");
                    }
                }
                self.save_if_changed();
                if r.len() < 2 {
                    log(&format!(
                        "the card gave no answer to {}; answering 6F00",
                        hex::encode_upper(apdu)
                    ));
                    return Some(SW_NO_ANSWER.to_vec());
                }
                if r.len() > usize::from(u16::MAX) {
                    log("the card's answer does not fit a vpcd message; answering 6F00");
                    return Some(SW_NO_ANSWER.to_vec());
                }
                Some(r)
            }
            Request::Unknown(b) => {
                self.stats.bad_frames += 1;
                log(&format!("ignoring unknown control message {b:02X}"));
                None
            }
            Request::Empty => {
                self.stats.bad_frames += 1;
                log("ignoring an empty message");
                None
            }
        }
    }

    fn power_result(&mut self, r: Result<Vec<u8>, crate::SimError>) {
        match r {
            Ok(atr) => self.atr = atr,
            Err(e) => log(&format!("the card did not power up: {e}")),
        }
    }

    /// Run `f` on the card; a panic inside is caught, logged, and the card reloaded from its last
    /// saved image (or just powered off when it has none): `None` then.
    fn guarded<R>(&mut self, f: impl FnOnce(&mut SimCard) -> Option<R>) -> Option<R> {
        let card = &mut self.card;
        match catch_unwind(AssertUnwindSafe(|| f(card))) {
            Ok(r) => r,
            Err(_) => {
                self.stats.card_panics += 1;
                self.recover_from_panic();
                None
            }
        }
    }

    fn recover_from_panic(&mut self) {
        // The card's RAM state, maybe even its chip content, is whatever the panic left: the
        // last saved image is the last known-good state (as after a power cut before the
        // command). Never save the panicked card over it.
        let reloaded = self.image.as_deref().map(|p| SimCard::open(p, CardRng::Os));
        match reloaded {
            Some(Ok(mut card)) => {
                log("the card panicked; reloaded it from its image (the command had no effect)");
                card.set_tracing(self.trace);
                card.power_off();
                self.card = card;
            }
            Some(Err(e)) => {
                log(&format!(
                    "the card panicked and its image does not reload ({e}); keeping it powered off"
                ));
                let _ = catch_unwind(AssertUnwindSafe(|| self.card.power_off()));
            }
            None => {
                log("the card panicked; powered it off");
                let _ = catch_unwind(AssertUnwindSafe(|| self.card.power_off()));
            }
        }
        self.saved_programs = self.card.programs();
    }

    /// Save the image if the chip was programmed since the last save.
    fn save_if_changed(&mut self) {
        let now = self.card.programs();
        if now == self.saved_programs {
            return;
        }
        let Some(path) = self.image.as_deref() else {
            self.saved_programs = now;
            return;
        };
        match self.card.save(path) {
            Ok(()) => {
                self.stats.saves += 1;
                self.saved_programs = now;
            }
            Err(e) => {
                // Keep serving (and retry at the next change): the in-memory card is intact.
                self.stats.save_errors += 1;
                if let Some(held) = self.save_log.allow() {
                    log(&format!(
                        "could not save the image: {e} ({held} more failures not shown)"
                    ));
                }
            }
        }
    }

    /// The reader went away: a card pulled out of a reader loses its power.
    pub fn card_removed(&mut self) {
        self.guarded(|c| {
            c.power_off();
            None::<()>
        });
        self.save_if_changed();
    }

    /// Serve one connection to vpcd until it closes (`Ok`) or fails.
    pub fn serve(&mut self, stream: &TcpStream, tune: bool) -> io::Result<()> {
        if tune {
            stream.set_nodelay(true)?;
        }
        let mut buf = Vec::with_capacity(512);
        loop {
            let more = read_frame_with(&mut &*stream, &mut buf, || {
                if tune {
                    quickack(stream);
                }
            })?;
            if !more {
                return Ok(());
            }
            if let Some(reply) = self.handle(&buf) {
                write_frame(&mut &*stream, &reply)?;
            }
        }
    }
}

/// Acknowledge received data at once instead of delaying the ACK (Linux resets this flag by
/// itself, so it is set again before every read). Elsewhere a no-op.
#[cfg(target_os = "linux")]
fn quickack(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn quickack(_stream: &TcpStream) {}

/// How [`run`] connects.
#[derive(Clone, Debug)]
pub struct Options {
    /// vpcd's address.
    pub addr: String,
    /// First retry delay after a failed connection.
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Set `TCP_NODELAY` and `TCP_QUICKACK` (off only to measure the stall they avoid).
    pub tune: bool,
    /// Repeat "still waiting" at most this often.
    pub log_every: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            addr: DEFAULT_ADDR.into(),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            tune: true,
            log_every: Duration::from_secs(60),
        }
    }
}

/// A stop request for [`run`], from a signal handler or another thread.
#[derive(Default)]
pub struct Shutdown {
    state: Mutex<ShutdownState>,
    wake: Condvar,
}

#[derive(Default)]
struct ShutdownState {
    requested: bool,
    stream: Option<TcpStream>,
}

impl Shutdown {
    /// A fresh, unrequested stop.
    pub fn new() -> Arc<Shutdown> {
        Arc::new(Shutdown::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ShutdownState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ask [`run`] to stop: it finishes the message in hand (and its save), then returns.
    pub fn request(&self) {
        let mut s = self.lock();
        s.requested = true;
        if let Some(st) = s.stream.take() {
            let _ = st.shutdown(std::net::Shutdown::Both);
        }
        self.wake.notify_all();
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.lock().requested
    }

    /// Remember the live connection (to unblock its read on a stop); false if a stop came first.
    fn attach(&self, stream: &TcpStream) -> bool {
        let mut s = self.lock();
        if s.requested {
            return false;
        }
        s.stream = stream.try_clone().ok();
        true
    }

    fn detach(&self) {
        self.lock().stream = None;
    }

    /// Sleep for `d` unless a stop comes first; true if it did.
    fn sleep(&self, d: Duration) -> bool {
        let s = self.lock();
        let (s, _) = self
            .wake
            .wait_timeout_while(s, d, |s| !s.requested)
            .unwrap_or_else(PoisonError::into_inner);
        s.requested
    }
}

fn connect(addr: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address");
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, Duration::from_secs(2)) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Attach the bridge's card to vpcd at `opts.addr` until `shutdown` is requested: connect
/// (retrying with backoff while pcscd is not up), serve, and reconnect whenever the connection
/// ends (pcscd restarted). Every connection end powers the card off.
pub fn run(bridge: &mut Bridge, opts: &Options, shutdown: &Shutdown) {
    let mut backoff = opts.backoff_min;
    let mut waiting = Throttle::new(opts.log_every);
    let mut waiting_since: Option<Instant> = None;
    while !shutdown.is_requested() {
        match connect(&opts.addr) {
            Ok(stream) => {
                if !shutdown.attach(&stream) {
                    break;
                }
                bridge.stats.connections += 1;
                waiting.clear();
                waiting_since = None;
                log(&format!(
                    "card attached to vpcd at {} (ATR {})",
                    opts.addr,
                    hex::encode_upper(&bridge.atr)
                ));
                let started = Instant::now();
                let before = bridge.stats;
                let end = bridge.serve(&stream, opts.tune);
                shutdown.detach();
                bridge.card_removed();
                let s = bridge.stats;
                let how = match &end {
                    _ if shutdown.is_requested() => "stopping".to_string(),
                    Ok(()) => "vpcd closed the connection".to_string(),
                    Err(e) => format!("connection lost: {e}"),
                };
                log(&format!(
                    "card detached ({how}) after {} APDUs, {} saves",
                    s.apdus - before.apdus,
                    s.saves - before.saves
                ));
                // A connection that ends at once over and over (a reader that closes on us)
                // must not spin: back off unless the session lasted a while.
                if started.elapsed() >= Duration::from_secs(1) {
                    backoff = opts.backoff_min;
                    continue;
                }
            }
            Err(e) => {
                let since = *waiting_since.get_or_insert_with(Instant::now);
                if let Some(held) = waiting.allow() {
                    log(&format!(
                        "waiting for vpcd at {} ({e}; is pcscd running with vsmartcard-vpcd?) \
                         for {}s, {held} attempts not shown",
                        opts.addr,
                        since.elapsed().as_secs()
                    ));
                }
            }
        }
        if shutdown.sleep(backoff) {
            break;
        }
        backoff = (backoff * 2).min(opts.backoff_max);
    }
}

/// `cos-sim vpcd`: serve a card image to vpcd until SIGINT or SIGTERM.
pub fn cli(image: &Path, addr: &str, trace: bool) -> anyhow::Result<()> {
    let mut bridge = Bridge::open(image)?;
    bridge.set_trace(trace);
    let shutdown = Shutdown::new();
    on_signals(&shutdown)?;
    let opts = Options {
        addr: addr.to_string(),
        // Only to measure the stall the tuning avoids (docs/pcsc.md).
        tune: std::env::var_os("COS_VPCD_NO_TCP_TUNING").is_none(),
        ..Options::default()
    };
    log(&format!(
        "serving {} to vpcd at {addr} (stop with Ctrl-C){}",
        image.display(),
        if opts.tune {
            ""
        } else {
            "; TCP_NODELAY/TCP_QUICKACK off"
        }
    ));
    run(&mut bridge, &opts, &shutdown);
    // Every change was saved when it happened; this is only a last safety net.
    bridge.save_if_changed();
    let s = bridge.stats();
    log(&format!(
        "stopped: {} connections, {} APDUs, {} saves ({} failed)",
        s.connections, s.apdus, s.saves, s.save_errors
    ));
    if s.save_errors > 0 && bridge.saved_programs != bridge.card.programs() {
        anyhow::bail!("the last changes could not be saved to {}", image.display());
    }
    Ok(())
}

#[cfg(unix)]
fn on_signals(shutdown: &Arc<Shutdown>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let sd = Arc::clone(shutdown);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                log(&format!("signal {sig}: stopping"));
                sd.request();
            }
        })?;
    Ok(())
}

#[cfg(not(unix))]
fn on_signals(_shutdown: &Arc<Shutdown>) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn decode_every_message_kind() {
        assert_eq!(Request::decode(&[0x00]), Request::PowerOff);
        assert_eq!(Request::decode(&[0x01]), Request::PowerOn);
        assert_eq!(Request::decode(&[0x02]), Request::Reset);
        assert_eq!(Request::decode(&[0x04]), Request::GetAtr);
        assert_eq!(Request::decode(&[0x03]), Request::Unknown(3));
        assert_eq!(Request::decode(&[0xFF]), Request::Unknown(0xFF));
        assert_eq!(Request::decode(&[]), Request::Empty);
        // Two bytes are no control message: the card judges them (as a malformed APDU).
        assert_eq!(Request::decode(&[0x00, 0x01]), Request::Apdu(&[0x00, 0x01]));
        let select = [0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00];
        assert_eq!(Request::decode(&select), Request::Apdu(&select));
    }

    #[test]
    fn encode_frames() {
        assert_eq!(encode_frame(&[0x04]).unwrap(), [0x00, 0x01, 0x04]);
        assert_eq!(encode_frame(&[]).unwrap(), [0x00, 0x00]);
        let big = vec![0xAB; 0x1234];
        let f = encode_frame(&big).unwrap();
        assert_eq!(&f[..2], &[0x12, 0x34]);
        assert_eq!(&f[2..], &big[..]);
        assert!(encode_frame(&vec![0; 65535]).is_ok());
        assert_eq!(encode_frame(&vec![0; 65536]), Err(FrameTooLong(65536)));
    }

    #[test]
    fn read_frames_and_bad_frames() {
        let mut buf = Vec::new();
        // Two frames back to back, then a clean end.
        let mut r: &[u8] = &[0x00, 0x01, 0x04, 0x00, 0x03, 0xAA, 0xBB, 0xCC];
        assert!(read_frame(&mut r, &mut buf).unwrap());
        assert_eq!(buf, [0x04]);
        assert!(read_frame(&mut r, &mut buf).unwrap());
        assert_eq!(buf, [0xAA, 0xBB, 0xCC]);
        assert!(!read_frame(&mut r, &mut buf).unwrap());
        // An empty frame is a frame.
        let mut r: &[u8] = &[0x00, 0x00];
        assert!(read_frame(&mut r, &mut buf).unwrap());
        assert!(buf.is_empty());
        // Cut inside the header, inside the payload.
        for cut in [&[0x00][..], &[0x00, 0x05, 0x01, 0x02][..]] {
            let mut r = cut;
            let e = read_frame(&mut r, &mut buf).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        }
    }

    /// A reader that hands out one byte per call, as a slow socket may.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn frames_split_across_reads() {
        let bytes = encode_frame(&[1, 2, 3, 4, 5]).unwrap();
        let mut buf = Vec::new();
        assert!(read_frame(&mut Trickle(&bytes), &mut buf).unwrap());
        assert_eq!(buf, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn frames_over_a_socket_pair() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut b, _) = l.accept().unwrap();
        // Header and payload in two writes, as vpcd 3.3 sends them.
        a.write_all(&[0x00, 0x05]).unwrap();
        a.write_all(&[0x00, 0xA4, 0x00, 0x00, 0x00]).unwrap();
        write_frame(&mut a, &[CTRL_ATR]).unwrap();
        let mut buf = Vec::new();
        assert!(read_frame(&mut b, &mut buf).unwrap());
        assert_eq!(
            Request::decode(&buf),
            Request::Apdu(&[0x00, 0xA4, 0x00, 0x00, 0x00])
        );
        assert!(read_frame(&mut b, &mut buf).unwrap());
        assert_eq!(Request::decode(&buf), Request::GetAtr);
        write_frame(&mut b, &[0x90, 0x00]).unwrap();
        assert!(read_frame(&mut a, &mut buf).unwrap());
        assert_eq!(buf, [0x90, 0x00]);
        drop(a);
        assert!(!read_frame(&mut b, &mut buf).unwrap());
    }

    #[test]
    fn throttle_holds_back_and_counts() {
        let mut t = Throttle::new(Duration::from_secs(3600));
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), None);
        assert_eq!(t.allow(), None);
        t.clear();
        assert_eq!(t.allow(), Some(0));
        let mut t = Throttle::new(Duration::ZERO);
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), Some(0));
    }

    #[test]
    fn shutdown_wakes_a_sleeper() {
        let sd = Shutdown::new();
        let sd2 = Arc::clone(&sd);
        let t = std::thread::spawn(move || sd2.sleep(Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(20));
        sd.request();
        assert!(t.join().unwrap());
        assert!(sd.is_requested());
    }
}
