//! APDU-level transport: response chaining with `61xx` + GET RESPONSE, and command chaining.
//!
//! Responsibility: the one place (design notes §6) where raw C-APDUs become [`Command`]s for the
//! kernel and handler results become R-APDUs, so the device firmware and the simulator behave
//! identically. It owns two RAM buffers and nothing else: a pending response and a chain
//! reassembly buffer. Both are volatile by design: [`Transport::reset`] (power-on, warm reset)
//! empties them.
//!
//! Rules, in the order [`Transport::transmit`] applies them:
//!
//! 1. A C-APDU that does not parse is answered with the parse error (6700, 6E00, 6D00); any
//!    chain in progress is abandoned and any pending response dropped.
//! 2. While a chain is in progress, the next command must carry the same CLA (chaining bit
//!    aside), INS, P1 and P2 (ISO/IEC 7816-4 §5.1.1.1); anything else, GET RESPONSE included, is
//!    answered `LAST_COMMAND_OF_CHAIN_EXPECTED` (6883) and abandons the chain. Fragments with the
//!    chaining bit are buffered and answered 9000 (their Le, if any, is ignored); the last one
//!    (bit clear) passes the reassembled command on, with its own Le. Reassembled data beyond [`MAX_COMMAND_DATA`] is refused with
//!    `WRONG_LENGTH` (6700), never truncated.
//! 3. GET RESPONSE (interindustry class, INS `C0`, ISO/IEC 7816-4 §7.6.1) serves the pending
//!    response. P1-P2 other than `0000` → `INCORRECT_P1P2` (6A86); a data field or no Le →
//!    `WRONG_LENGTH` (6700); both keep the pending response. With nothing pending (or a pending
//!    response from another logical channel, which is then dropped) →
//!    `CONDITIONS_NOT_SATISFIED` (6985): GET RESPONSE is only meaningful right after a `61xx`.
//!    A chained GET RESPONSE is refused with `COMMAND_CHAINING_NOT_SUPPORTED` (6884).
//! 4. Any other command first drops the pending response (OpenSC behaviour), then runs the
//!    handler. `Ok(sw)` keeps the handler's data; `Err(sw)` discards it. A handler that returns
//!    `Ok` with an error SW has its data discarded too, and a handler's own `61xx` is treated as
//!    9000, because `61xx` belongs to this layer.
//! 5. Data longer than what may be sent now is split: the first part goes out with
//!    `61xx` (xx = bytes still pending, `00` meaning 256 or more) and the rest waits for GET
//!    RESPONSE; the last part carries the handler's status word (9000 or a warning). "What may be
//!    sent now" is min(Ne, `out.len()` − 2), and, when Ne is absent, nothing under T=0 (the
//!    case-4 situation, ISO/IEC 7816-3 §12.2.4) or up to 256 bytes under T=1 / T=CL
//!    ([`Protocol`]). With an extended Ne the card may answer up to Ne bytes at once, but never
//!    more than `out` holds.
//!
//! `out` should hold 258 bytes (256 data + SW) so that a short Le is always honoured in one
//! R-APDU; a smaller `out` only means more `61xx` rounds. With fewer than 2 bytes there is no
//! room even for a status word: nothing is processed and `transmit` returns 0.

use heapless::Vec;

use crate::command::Command;
use crate::ins::Ins;
use crate::response::Response;
use crate::sw::Sw;

/// Limit on reassembled chained command data.
///
/// The largest command data our applets take is a 255-byte record or binary chunk wrapped in
/// secure messaging (padding up to 8 bytes, a 4-byte MAC, and for ISO SM the `87`/`8E` TLV
/// headers), which needs more than one short APDU; 512 covers it with room to spare while keeping
/// the two transport buffers at 1 KiB of the card's RAM.
pub const MAX_COMMAND_DATA: usize = 512;

/// Limit on response data buffered for GET RESPONSE.
///
/// Large enough for a full 256-byte READ BINARY/RECORD answer wrapped in secure messaging, or a
/// 256-byte answer plus its FCI-style TLV framing; same RAM argument as [`MAX_COMMAND_DATA`].
pub const MAX_RESPONSE_DATA: usize = 512;

/// Room for a whole short-Le response in one R-APDU: 256 data bytes plus SW1 SW2.
pub const RECOMMENDED_OUT_LEN: usize = 258;

/// How the reader carries APDUs, which decides what a command without Le may get back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// T=0 (contact, character protocol): a case-4 command reaches the card without Le, so
    /// response data always waits for GET RESPONSE (`61xx`, ISO/IEC 7816-3 §12.2.4).
    #[default]
    T0,
    /// T=1 or contactless T=CL (ISO/IEC 14443-4): the whole APDU reaches the card, and many
    /// readers (transit gates, phones) send SELECT without Le yet expect the FCI with `9000`; a
    /// command without Le may then get up to 256 bytes at once.
    T1,
}

/// The transport state of one card session.
#[derive(Debug)]
pub struct Transport {
    /// Response bytes not yet sent; `pending[pending_offset..]` is what GET RESPONSE serves.
    pending: Vec<u8, MAX_RESPONSE_DATA>,
    pending_offset: usize,
    /// Status word to send with the last part of the pending response.
    pending_sw: Sw,
    /// Logical channel the pending response belongs to.
    pending_channel: u8,
    /// Data of the chain fragments received so far.
    chain: Vec<u8, MAX_COMMAND_DATA>,
    /// Header (CLA without chaining bit, INS, P1, P2) of the chain in progress, if any.
    chain_header: Option<[u8; 4]>,
    /// The reader's protocol (kept across resets: it belongs to the interface, not the session).
    protocol: Protocol,
}

impl Default for Transport {
    fn default() -> Self {
        Transport::new()
    }
}

impl Transport {
    /// Fresh state, as after power-on.
    pub const fn new() -> Self {
        Transport {
            pending: Vec::new(),
            pending_offset: 0,
            pending_sw: Sw::SUCCESS,
            pending_channel: 0,
            chain: Vec::new(),
            chain_header: None,
            protocol: Protocol::T0,
        }
    }

    /// Select the reader protocol (see [`Protocol`]).
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
    }

    /// The reader protocol in use.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Power-on or warm reset: forgets any pending response and any chain in progress
    /// (design notes §6: every reset starts from fresh RAM state).
    pub fn reset(&mut self) {
        self.drop_pending();
        self.abort_chain();
    }

    /// A response is waiting for GET RESPONSE.
    pub fn has_pending_response(&self) -> bool {
        self.pending_offset < self.pending.len()
    }

    /// A command chain is being reassembled.
    pub fn is_chaining(&self) -> bool {
        self.chain_header.is_some()
    }

    /// Processes one C-APDU and writes the R-APDU (data ‖ SW1 SW2) into `out`, returning its
    /// length. `handler` runs the command: `Ok(sw)` for success or warning with the data it wrote,
    /// `Err(sw)` for an error (its data is discarded). See the module docs for the exact rules.
    /// Never panics.
    pub fn transmit<F>(&mut self, capdu: &[u8], out: &mut [u8], handler: F) -> usize
    where
        F: FnOnce(&Command<'_>, &mut Response<'_>) -> Result<Sw, Sw>,
    {
        if out.len() < 2 {
            return 0;
        }
        let cmd = match Command::parse(capdu) {
            Ok(cmd) => cmd,
            Err(sw) => {
                self.drop_pending();
                self.abort_chain();
                return write_sw(out, 0, sw);
            }
        };

        if let Some(header) = self.chain_header {
            self.drop_pending();
            if chain_header(&cmd) != header {
                self.abort_chain();
                return write_sw(out, 0, Sw::LAST_COMMAND_OF_CHAIN_EXPECTED);
            }
            if self.chain.extend_from_slice(cmd.data()).is_err() {
                self.abort_chain();
                return write_sw(out, 0, Sw::WRONG_LENGTH);
            }
            if cmd.cla().is_chained() {
                return write_sw(out, 0, Sw::SUCCESS);
            }
            let full = cmd.with_data(&self.chain);
            let n = run(
                &mut self.pending,
                &mut self.pending_offset,
                &mut self.pending_sw,
                &mut self.pending_channel,
                &full,
                self.protocol,
                out,
                handler,
            );
            self.abort_chain();
            return n;
        }

        if cmd.cla().is_chained() {
            self.drop_pending();
            if is_get_response(&cmd) {
                return write_sw(out, 0, Sw::COMMAND_CHAINING_NOT_SUPPORTED);
            }
            if self.chain.extend_from_slice(cmd.data()).is_err() {
                self.abort_chain();
                return write_sw(out, 0, Sw::WRONG_LENGTH);
            }
            self.chain_header = Some(chain_header(&cmd));
            return write_sw(out, 0, Sw::SUCCESS);
        }

        if is_get_response(&cmd) {
            return self.get_response(&cmd, out);
        }

        self.drop_pending();
        run(
            &mut self.pending,
            &mut self.pending_offset,
            &mut self.pending_sw,
            &mut self.pending_channel,
            &cmd,
            self.protocol,
            out,
            handler,
        )
    }

    /// GET RESPONSE (ISO/IEC 7816-4 §7.6.1), rule 3 of the module docs.
    fn get_response(&mut self, cmd: &Command<'_>, out: &mut [u8]) -> usize {
        if cmd.p1p2() != 0 {
            return write_sw(out, 0, Sw::INCORRECT_P1P2);
        }
        if !cmd.data().is_empty() || cmd.ne().is_absent() {
            return write_sw(out, 0, Sw::WRONG_LENGTH);
        }
        if !self.has_pending_response() || cmd.cla().channel() != self.pending_channel {
            self.drop_pending();
            return write_sw(out, 0, Sw::CONDITIONS_NOT_SATISFIED);
        }
        let limit = cmd.ne().max_len();
        send_pending(
            &mut self.pending,
            &mut self.pending_offset,
            self.pending_sw,
            limit,
            out,
        )
    }

    // Out of line: six paths each had a copy (measured on the chip build).
    #[inline(never)]
    fn drop_pending(&mut self) {
        self.pending.clear();
        self.pending_offset = 0;
        self.pending_sw = Sw::SUCCESS;
    }

    // Out of line: seven error paths each had a copy (measured on the chip build).
    #[inline(never)]
    fn abort_chain(&mut self) {
        // Chained data may carry a PIN or key values (WRITE KEY before issue): wiped, not just
        // forgotten.
        zeroize::Zeroize::zeroize(self.chain.as_mut_slice());
        self.chain.clear();
        self.chain_header = None;
    }
}

/// What two fragments of one chain must agree on.
fn chain_header(cmd: &Command<'_>) -> [u8; 4] {
    [
        cmd.cla().without_chaining().raw(),
        cmd.ins().0,
        cmd.p1(),
        cmd.p2(),
    ]
}

/// GET RESPONSE is an interindustry command; with a proprietary class `C0` is the issuer's.
fn is_get_response(cmd: &Command<'_>) -> bool {
    cmd.ins() == Ins::GET_RESPONSE && !cmd.cla().is_proprietary()
}

/// Runs the handler with the (cleared) pending buffer as its response buffer, then sends
/// (rules 4 and 5). Takes the fields separately so that `cmd` may borrow the chain buffer.
#[allow(clippy::too_many_arguments)] // split borrows of one struct, see above
fn run<F>(
    pending: &mut Vec<u8, MAX_RESPONSE_DATA>,
    pending_offset: &mut usize,
    pending_sw: &mut Sw,
    pending_channel: &mut u8,
    cmd: &Command<'_>,
    protocol: Protocol,
    out: &mut [u8],
    handler: F,
) -> usize
where
    F: FnOnce(&Command<'_>, &mut Response<'_>) -> Result<Sw, Sw>,
{
    *pending_offset = 0;
    let result = {
        let mut resp = Response::new(pending.as_mut_view());
        handler(cmd, &mut resp)
    };
    let sw = match result {
        Ok(sw) if sw.is_error() => {
            pending.clear();
            sw
        }
        Ok(sw) if sw.is_success() => Sw::SUCCESS,
        Ok(sw) => sw,
        Err(sw) => {
            pending.clear();
            sw
        }
    };
    *pending_sw = sw;
    *pending_channel = cmd.cla().channel();
    let limit = match (cmd.ne().is_absent(), protocol) {
        (true, Protocol::T1) => 256,
        _ => cmd.ne().max_len(),
    };
    send_pending(pending, pending_offset, sw, limit, out)
}

/// Sends up to `limit` pending bytes (and never more than `out` holds); `61xx` if some remain,
/// else `final_sw`, after which the pending buffer is empty.
fn send_pending(
    pending: &mut Vec<u8, MAX_RESPONSE_DATA>,
    pending_offset: &mut usize,
    final_sw: Sw,
    limit: usize,
    out: &mut [u8],
) -> usize {
    let available = pending.get(*pending_offset..).unwrap_or_default();
    let room = out.len().saturating_sub(2);
    let n = available.len().min(limit).min(room);
    let mut written = 0;
    for (d, s) in out.iter_mut().zip(available.iter().take(n)) {
        *d = *s;
        written += 1;
    }
    let remaining = available.len().saturating_sub(written);
    if remaining == 0 {
        pending.clear();
        *pending_offset = 0;
        write_sw(out, written, final_sw)
    } else {
        *pending_offset += written;
        // 256 or more remaining is encoded as 00 (ISO/IEC 7816-4 §5.1.3 Table 5).
        let xx = u8::try_from(remaining).unwrap_or(0);
        write_sw(out, written, Sw::bytes_available(xx))
    }
}

/// Writes `sw` at `out[at..at + 2]` and returns the R-APDU length; callers guarantee the room.
#[inline(never)]
fn write_sw(out: &mut [u8], at: usize, sw: Sw) -> usize {
    let dst = out.get_mut(at..).unwrap_or_default();
    let mut written = 0;
    for (d, s) in dst.iter_mut().zip(sw.to_bytes()) {
        *d = s;
        written += 1;
    }
    at + written
}

/// Convenience for tests and the simulator: the status word at the end of an R-APDU.
pub fn response_sw(rapdu: &[u8]) -> Option<Sw> {
    let (_, sw) = rapdu.split_last_chunk::<2>()?;
    Some(Sw::from_bytes(*sw))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use crate::cla::Cla;
    use crate::command::Ne;
    use std::vec;
    use std::vec::Vec as StdVec;

    /// Sends `capdu`, returns (data, sw).
    fn tx<F>(t: &mut Transport, capdu: &[u8], handler: F) -> (StdVec<u8>, Sw)
    where
        F: FnOnce(&Command<'_>, &mut Response<'_>) -> Result<Sw, Sw>,
    {
        let mut out = [0u8; RECOMMENDED_OUT_LEN];
        let n = t.transmit(capdu, &mut out, handler);
        assert!(n >= 2);
        let sw = response_sw(&out[..n]).unwrap();
        (out[..n - 2].to_vec(), sw)
    }

    fn unreachable_handler(_: &Command<'_>, _: &mut Response<'_>) -> Result<Sw, Sw> {
        panic!("handler must not run")
    }

    fn pattern(n: usize) -> StdVec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    fn answer(
        data: StdVec<u8>,
        sw: Sw,
    ) -> impl FnOnce(&Command<'_>, &mut Response<'_>) -> Result<Sw, Sw> {
        move |_: &Command<'_>, r: &mut Response<'_>| {
            r.extend(&data).unwrap();
            Ok(sw)
        }
    }

    #[test]
    fn bytes_available_flow_with_300_bytes() {
        let mut t = Transport::new();
        let data = pattern(300);
        let (d, sw) = tx(
            &mut t,
            &[0x00, 0xB0, 0x00, 0x00, 0x00],
            answer(data.clone(), Sw::SUCCESS),
        );
        assert_eq!(d, data[..256]);
        assert_eq!(sw, Sw(0x612C));
        assert!(t.has_pending_response());
        let (d, sw) = tx(&mut t, &[0x00, 0xC0, 0x00, 0x00, 0x2C], unreachable_handler);
        assert_eq!(d, data[256..]);
        assert_eq!(sw, Sw::SUCCESS);
        assert!(!t.has_pending_response());
        // Nothing pending any more.
        let (d, sw) = tx(&mut t, &[0x00, 0xC0, 0x00, 0x00, 0x00], unreachable_handler);
        assert!(d.is_empty());
        assert_eq!(sw, Sw::CONDITIONS_NOT_SATISFIED);
    }

    #[test]
    fn le_smaller_than_data_and_warning_kept_for_last_part() {
        let mut t = Transport::new();
        let data = pattern(30);
        let (d, sw) = tx(
            &mut t,
            &[0x00, 0xB0, 0x00, 0x00, 0x0A],
            answer(data.clone(), Sw::END_OF_FILE_REACHED),
        );
        assert_eq!(d, data[..10]);
        assert_eq!(sw, Sw::bytes_available(20));
        // GET RESPONSE with a small Le again: more 61xx.
        let (d, sw) = tx(&mut t, &[0x00, 0xC0, 0x00, 0x00, 0x05], unreachable_handler);
        assert_eq!(d, data[10..15]);
        assert_eq!(sw, Sw::bytes_available(15));
        // Le larger than what is left: the rest, with the handler's warning.
        let (d, sw) = tx(&mut t, &[0x00, 0xC0, 0x00, 0x00, 0x00], unreachable_handler);
        assert_eq!(d, data[15..]);
        assert_eq!(sw, Sw::END_OF_FILE_REACHED);
    }

    #[test]
    fn data_fitting_in_le_goes_out_at_once() {
        let mut t = Transport::new();
        let (d, sw) = tx(
            &mut t,
            &[0x00, 0x84, 0x00, 0x00, 0x08],
            answer(pattern(8), Sw::SUCCESS),
        );
        assert_eq!((d, sw), (pattern(8), Sw::SUCCESS));
        assert!(!t.has_pending_response());
        // No data at all.
        let (d, sw) = tx(&mut t, &[0x00, 0x20, 0x00, 0x01, 0x01, 0x31], |_, _| {
            Ok(Sw::SUCCESS)
        });
        assert_eq!((d.len(), sw), (0, Sw::SUCCESS));
    }

    #[test]
    fn ne_absent_with_data_is_t0_case4() {
        let mut t = Transport::new();
        let data = pattern(20);
        let (d, sw) = tx(
            &mut t,
            &[0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x33],
            answer(data.clone(), Sw::SUCCESS),
        );
        assert!(d.is_empty());
        assert_eq!(sw, Sw(0x6114));
        let (d, sw) = tx(&mut t, &[0x00, 0xC0, 0x00, 0x00, 0x14], unreachable_handler);
        assert_eq!((d, sw), (data, Sw::SUCCESS));
    }

    #[test]
    fn t1_answers_a_command_without_le_directly() {
        let mut t = Transport::new();
        t.set_protocol(Protocol::T1);
        let data = pattern(20);
        let (d, sw) = tx(
            &mut t,
            &[0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x33],
            answer(data.clone(), Sw::SUCCESS),
        );
        assert_eq!((d, sw), (data, Sw::SUCCESS));
        // More than 256 bytes still goes through 61xx; reset keeps the protocol.
        let (d, sw) = tx(
            &mut t,
            &[0x80, 0xCA, 0x00, 0x00],
            answer(pattern(300), Sw::SUCCESS),
        );
        assert_eq!((d.len(), sw), (256, Sw(0x612C)));
        t.reset();
        assert_eq!(t.protocol(), Protocol::T1);
        assert!(!t.has_pending_response());
    }

    #[test]
    fn ne_absent_with_256_or_more_bytes_says_6100() {
        let mut t = Transport::new();
        let data = pattern(400);
        let (d, sw) = tx(
            &mut t,
            &[0x80, 0xCA, 0x00, 0x00],
            answer(data.clone(), Sw::SUCCESS),
        );
        assert!(d.is_empty());
        assert_eq!(sw, Sw(0x6100));
        let (d1, sw) = tx(&mut t, &[0x00, 0xC0, 0x00, 0x00, 0x00], unreachable_handler);
        assert_eq!(sw, Sw(0x6190));
        let (d2, sw) = tx(&mut t, &[0x00, 0xC0, 0x00, 0x00, 0x90], unreachable_handler);
        assert_eq!(sw, Sw::SUCCESS);
        assert_eq!([d1, d2].concat(), data);
    }

    #[test]
    fn get_response_errors() {
        let mut t = Transport::new();
        let (_, sw) = tx(&mut t, &[0x00, 0xC0, 0x00, 0x00, 0x10], unreachable_handler);
        assert_eq!(sw, Sw::CONDITIONS_NOT_SATISFIED);
        let (_, sw) = tx(
            &mut t,
            &[0x00, 0xB0, 0x00, 0x00, 0x04],
            answer(pattern(10), Sw::SUCCESS),
        );
        assert_eq!(sw, Sw(0x6106));
        // Wrong P1-P2, data field, missing Le: refused, pending kept.
        let (_, sw) = tx(&mut t, &[0x00, 0xC0, 0x01, 0x00, 0x06], unreachable_handler);
        assert_eq!(sw, Sw::INCORRECT_P1P2);
        let (_, sw) = tx(
            &mut t,
            &[0x00, 0xC0, 0x00, 0x00, 0x01, 0x00],
            unreachable_handler,
        );
        assert_eq!(sw, Sw::WRONG_LENGTH);
        let (_, sw) = tx(&mut t, &[0x00, 0xC0, 0x00, 0x00], unreachable_handler);
        assert_eq!(sw, Sw::WRONG_LENGTH);
        assert!(t.has_pending_response());
        // Chained GET RESPONSE.
        let (_, sw) = tx(&mut t, &[0x10, 0xC0, 0x00, 0x00, 0x06], unreachable_handler);
        assert_eq!(sw, Sw::COMMAND_CHAINING_NOT_SUPPORTED);
        assert!(!t.has_pending_response());
        // GET RESPONSE on another channel than the pending response's.
        let (_, sw) = tx(
            &mut t,
            &[0x00, 0xB0, 0x00, 0x00, 0x04],
            answer(pattern(10), Sw::SUCCESS),
        );
        assert_eq!(sw, Sw(0x6106));
        let (_, sw) = tx(&mut t, &[0x01, 0xC0, 0x00, 0x00, 0x06], unreachable_handler);
        assert_eq!(sw, Sw::CONDITIONS_NOT_SATISFIED);
        assert!(!t.has_pending_response());
    }

    #[test]
    fn proprietary_c0_goes_to_the_handler() {
        let mut t = Transport::new();
        let (_, sw) = tx(&mut t, &[0x80, 0xC0, 0x00, 0x00, 0x04], |cmd, _| {
            assert!(cmd.cla().is_proprietary());
            Err(Sw::INS_NOT_SUPPORTED)
        });
        assert_eq!(sw, Sw::INS_NOT_SUPPORTED);
    }

    #[test]
    fn new_command_drops_pending_response() {
        let mut t = Transport::new();
        let (_, sw) = tx(
            &mut t,
            &[0x00, 0xB0, 0x00, 0x00, 0x04],
            answer(pattern(10), Sw::SUCCESS),
        );
        assert_eq!(sw, Sw(0x6106));
        let (d, sw) = tx(
            &mut t,
            &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00],
            |_, r| {
                assert!(r.is_empty());
                Ok(Sw::SUCCESS)
            },
        );
        assert_eq!((d.len(), sw), (0, Sw::SUCCESS));
        assert!(!t.has_pending_response());
        let (_, sw) = tx(&mut t, &[0x00, 0xC0, 0x00, 0x00, 0x06], unreachable_handler);
        assert_eq!(sw, Sw::CONDITIONS_NOT_SATISFIED);
        // A malformed command drops it too.
        let (_, sw) = tx(
            &mut t,
            &[0x00, 0xB0, 0x00, 0x00, 0x04],
            answer(pattern(10), Sw::SUCCESS),
        );
        assert_eq!(sw, Sw(0x6106));
        let (_, sw) = tx(&mut t, &[0x00, 0xB0, 0x00], unreachable_handler);
        assert_eq!(sw, Sw::WRONG_LENGTH);
        assert!(!t.has_pending_response());
    }

    #[test]
    fn errors_discard_data() {
        let mut t = Transport::new();
        let (d, sw) = tx(&mut t, &[0x00, 0xB0, 0x00, 0x00, 0x00], |_, r| {
            r.extend(&[1, 2, 3]).unwrap();
            Err(Sw::SECURITY_STATUS_NOT_SATISFIED)
        });
        assert_eq!((d.len(), sw), (0, Sw::SECURITY_STATUS_NOT_SATISFIED));
        assert!(!t.has_pending_response());
        // Ok with an error SW is treated the same way.
        let (d, sw) = tx(&mut t, &[0x00, 0xB0, 0x00, 0x00, 0x00], |_, r| {
            r.extend(&[1, 2, 3]).unwrap();
            Ok(Sw::FILE_NOT_FOUND)
        });
        assert_eq!((d.len(), sw), (0, Sw::FILE_NOT_FOUND));
        // 6Cxx passes through untouched.
        let (d, sw) = tx(&mut t, &[0x00, 0xB2, 0x01, 0x0C, 0x05], |_, _| {
            Err(Sw::wrong_le(0x17))
        });
        assert_eq!((d.len(), sw), (0, Sw(0x6C17)));
        // A handler's own 61xx is the transport's business: it becomes 9000.
        let (d, sw) = tx(
            &mut t,
            &[0x00, 0xB0, 0x00, 0x00, 0x00],
            answer(vec![1], Sw(0x6105)),
        );
        assert_eq!((d, sw), (vec![1], Sw::SUCCESS));
        // Warnings keep their data.
        let (d, sw) = tx(
            &mut t,
            &[0x00, 0xB0, 0x00, 0x00, 0x00],
            answer(vec![7, 8], Sw::END_OF_FILE_REACHED),
        );
        assert_eq!((d, sw), (vec![7, 8], Sw::END_OF_FILE_REACHED));
    }

    #[test]
    fn parse_errors_never_reach_the_handler() {
        let mut t = Transport::new();
        for (capdu, expected) in [
            (&[0xFF, 0xA4, 0x00, 0x00][..], Sw::CLA_NOT_SUPPORTED),
            (&[0x00, 0x6F, 0x00, 0x00][..], Sw::INS_NOT_SUPPORTED),
            (&[0x00, 0xA4, 0x00, 0x00, 0x00, 0x00][..], Sw::WRONG_LENGTH),
            (&[][..], Sw::WRONG_LENGTH),
        ] {
            let (_, sw) = tx(&mut t, capdu, unreachable_handler);
            assert_eq!(sw, expected);
        }
    }

    #[test]
    fn chained_commands_reassemble() {
        let mut t = Transport::new();
        let mut first = vec![0x10, 0xD6, 0x00, 0x00, 0xFF];
        first.extend(pattern(255));
        let (d, sw) = tx(&mut t, &first, unreachable_handler);
        assert_eq!((d.len(), sw), (0, Sw::SUCCESS));
        assert!(t.is_chaining());
        let mut second = vec![0x10, 0xD6, 0x00, 0x00, 0x0A];
        second.extend(pattern(10));
        let (_, sw) = tx(&mut t, &second, unreachable_handler);
        assert_eq!(sw, Sw::SUCCESS);
        let last = [0x00, 0xD6, 0x00, 0x00, 0x02, 0xAB, 0xCD, 0x00];
        let (d, sw) = tx(&mut t, &last, |cmd, r| {
            let mut expected = pattern(255);
            expected.extend(pattern(10));
            expected.extend([0xAB, 0xCD]);
            assert_eq!(cmd.data(), &expected[..]);
            assert_eq!(cmd.cla(), Cla::INTERINDUSTRY);
            assert!(!cmd.cla().is_chained());
            assert_eq!(cmd.ins(), Ins::UPDATE_BINARY);
            assert_eq!(cmd.ne().max_len(), 256);
            r.extend(&[0x99]).unwrap();
            Ok(Sw::SUCCESS)
        });
        assert_eq!((d, sw), (vec![0x99], Sw::SUCCESS));
        assert!(!t.is_chaining());
    }

    #[test]
    fn chain_with_mismatched_header_gives_6883() {
        let mut t = Transport::new();
        let (_, sw) = tx(
            &mut t,
            &[0x10, 0xD6, 0x00, 0x00, 0x01, 0x01],
            unreachable_handler,
        );
        assert_eq!(sw, Sw::SUCCESS);
        // Different P2 on the last fragment.
        let (_, sw) = tx(
            &mut t,
            &[0x00, 0xD6, 0x00, 0x01, 0x01, 0x02],
            unreachable_handler,
        );
        assert_eq!(sw, Sw::LAST_COMMAND_OF_CHAIN_EXPECTED);
        assert!(!t.is_chaining());
        // The chain is gone: the same command now runs alone.
        let (_, sw) = tx(&mut t, &[0x00, 0xD6, 0x00, 0x01, 0x01, 0x02], |cmd, _| {
            assert_eq!(cmd.data(), &[0x02]);
            Ok(Sw::SUCCESS)
        });
        assert_eq!(sw, Sw::SUCCESS);
        // Different channel, different INS, GET RESPONSE: all break the chain.
        for intruder in [
            &[0x11, 0xD6, 0x00, 0x00, 0x01, 0x01][..],
            &[0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00][..],
            &[0x00, 0xC0, 0x00, 0x00, 0x00][..],
        ] {
            let (_, sw) = tx(
                &mut t,
                &[0x10, 0xD6, 0x00, 0x00, 0x01, 0x01],
                unreachable_handler,
            );
            assert_eq!(sw, Sw::SUCCESS);
            let (_, sw) = tx(&mut t, intruder, unreachable_handler);
            assert_eq!(sw, Sw::LAST_COMMAND_OF_CHAIN_EXPECTED);
            assert!(!t.is_chaining());
        }
    }

    #[test]
    fn chain_overflow_gives_6700() {
        let mut t = Transport::new();
        let mut frag = vec![0x10, 0xDC, 0x01, 0x04, 0xFF];
        frag.extend(pattern(255));
        assert_eq!(tx(&mut t, &frag, unreachable_handler).1, Sw::SUCCESS);
        assert_eq!(tx(&mut t, &frag, unreachable_handler).1, Sw::SUCCESS);
        // 510 bytes buffered; 3 more exceed MAX_COMMAND_DATA.
        let (_, sw) = tx(
            &mut t,
            &[0x00, 0xDC, 0x01, 0x04, 0x03, 1, 2, 3],
            unreachable_handler,
        );
        assert_eq!(sw, Sw::WRONG_LENGTH);
        assert!(!t.is_chaining());
        // A single first fragment that is already too large.
        let mut big = vec![0x10, 0xDC, 0x01, 0x04, 0x00, 0x02, 0x01];
        big.extend(pattern(513));
        let (_, sw) = tx(&mut t, &big, unreachable_handler);
        assert_eq!(sw, Sw::WRONG_LENGTH);
        assert!(!t.is_chaining());
        // Exactly MAX_COMMAND_DATA is fine.
        assert_eq!(tx(&mut t, &frag, unreachable_handler).1, Sw::SUCCESS);
        assert_eq!(tx(&mut t, &frag, unreachable_handler).1, Sw::SUCCESS);
        let (_, sw) = tx(&mut t, &[0x00, 0xDC, 0x01, 0x04, 0x02, 1, 2], |cmd, _| {
            assert_eq!(cmd.data().len(), MAX_COMMAND_DATA);
            assert!(cmd.is_extended());
            Ok(Sw::SUCCESS)
        });
        assert_eq!(sw, Sw::SUCCESS);
    }

    #[test]
    fn extended_ne_capped_by_out() {
        let mut t = Transport::new();
        let data = pattern(500);
        let mut out = [0u8; 600];
        let n = t.transmit(
            &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00],
            &mut out,
            answer(data.clone(), Sw::SUCCESS),
        );
        assert_eq!(n, 502);
        assert_eq!(&out[..500], &data[..]);
        assert_eq!(response_sw(&out[..n]), Some(Sw::SUCCESS));
        // With the recommended 258-byte buffer the extended answer is split.
        let (d, sw) = tx(
            &mut t,
            &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x01, 0xF4],
            answer(data.clone(), Sw::SUCCESS),
        );
        assert_eq!(d, data[..256]);
        assert_eq!(sw, Sw::bytes_available(244));
    }

    #[test]
    fn small_out_buffers() {
        let mut t = Transport::new();
        let mut out = [0u8; 1];
        assert_eq!(
            t.transmit(
                &[0x00, 0xB0, 0x00, 0x00, 0x00],
                &mut out,
                unreachable_handler
            ),
            0
        );
        let mut out = [0u8; 12];
        let n = t.transmit(
            &[0x00, 0xB0, 0x00, 0x00, 0x00],
            &mut out,
            answer(pattern(25), Sw::SUCCESS),
        );
        assert_eq!(n, 12);
        assert_eq!(&out[..10], &pattern(25)[..10]);
        assert_eq!(response_sw(&out[..n]), Some(Sw::bytes_available(15)));
        let mut out = [0u8; 2];
        let n = t.transmit(
            &[0x00, 0xC0, 0x00, 0x00, 0x0F],
            &mut out,
            unreachable_handler,
        );
        assert_eq!((n, response_sw(&out)), (2, Some(Sw::bytes_available(15))));
    }

    #[test]
    fn response_buffer_limit_reaches_the_handler() {
        let mut t = Transport::new();
        let (_, sw) = tx(&mut t, &[0x00, 0xB0, 0x00, 0x00, 0x00], |_, r| {
            assert_eq!(r.capacity(), MAX_RESPONSE_DATA);
            match r.extend(&[0; MAX_RESPONSE_DATA + 1]) {
                Err(crate::response::Overflow) => Err(Sw::WRONG_LENGTH),
                Ok(()) => Ok(Sw::SUCCESS),
            }
        });
        assert_eq!(sw, Sw::WRONG_LENGTH);
    }

    #[test]
    fn reset_forgets_everything() {
        let mut t = Transport::default();
        tx(
            &mut t,
            &[0x00, 0xB0, 0x00, 0x00, 0x04],
            answer(pattern(10), Sw::SUCCESS),
        );
        assert!(t.has_pending_response());
        t.reset();
        assert!(!t.has_pending_response());
        tx(
            &mut t,
            &[0x10, 0xD6, 0x00, 0x00, 0x01, 0x01],
            unreachable_handler,
        );
        assert!(t.is_chaining());
        t.reset();
        assert!(!t.is_chaining());
        let c = Command::new(
            Cla::INTERINDUSTRY,
            Ins::GET_RESPONSE,
            0,
            0,
            &[],
            Ne::Short(256),
        );
        assert_eq!(c.header(), [0x00, 0xC0, 0x00, 0x00]);
    }

    proptest::proptest! {
        #[test]
        fn transmit_never_panics(
            capdus in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), 1..8),
            response_len in 0usize..600,
            out_len in 0usize..300,
            fail in proptest::prelude::any::<bool>(),
        ) {
            let mut t = Transport::new();
            let mut out = vec![0u8; out_len];
            for capdu in &capdus {
                let n = t.transmit(capdu, &mut out, |_, r| {
                    let _ = r.extend(&pattern(response_len));
                    if fail { Err(Sw::WRONG_DATA) } else { Ok(Sw::SUCCESS) }
                });
                proptest::prop_assert!(n <= out.len());
                proptest::prop_assert!(n >= 2 || out_len < 2);
            }
        }
    }
}
