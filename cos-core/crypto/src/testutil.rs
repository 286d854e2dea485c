//! Test helpers shared by the unit tests: a hex decoder so vectors read as the standards print them, and a
//! fixed-buffer `fmt::Write` (the crate has no allocator, even in tests).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

/// Decodes `s` (hex digits, whitespace ignored) into exactly `N` bytes; panics on malformed input.
pub(crate) fn hex<const N: usize>(s: &str) -> [u8; N] {
    let mut nibbles = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| u8::try_from(c.to_digit(16).expect("hex digit")).unwrap());
    let mut out = [0u8; N];
    for byte in out.iter_mut() {
        *byte =
            (nibbles.next().expect("hex string too short") << 4) | nibbles.next().expect("odd hex");
    }
    assert!(nibbles.next().is_none(), "hex string longer than {N} bytes");
    out
}

/// `fmt::Write` into a fixed buffer.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    used: usize,
}

impl<'a> Writer<'a> {
    /// Writes into `buf` from its start.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, used: 0 }
    }

    /// What has been written so far.
    pub(crate) fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.used]).unwrap()
    }
}

impl core::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.used + s.len();
        self.buf
            .get_mut(self.used..end)
            .ok_or(core::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.used = end;
        Ok(())
    }
}
