//! CRC-32 (ISO-HDLC / IEEE 802.3: reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF).
//!
//! Responsibility: detect torn or stale header and journal bytes. A 16-entry table keeps the code small
//! (64 bytes of flash) at a speed that is irrelevant next to NVM programming.
//! Invariant: `Crc32::new().update(a).update(b).finish() == crc32(a ++ b)`, so records can be checked in
//! chunks straight from NVM.

/// Nibble table for the reflected polynomial 0xEDB88320, built at compile time (an index error here would
/// fail the build, not panic at run time).
#[allow(clippy::indexing_slicing)]
const TABLE: [u32; 16] = {
    let mut t = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 4 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Streaming CRC-32 state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Crc32(u32);

impl Crc32 {
    /// Start a new checksum.
    pub(crate) const fn new() -> Self {
        Self(0xFFFF_FFFF)
    }

    /// Feed `data`.
    #[must_use]
    // Out of line: seven callers each had a copy of the loop (measured on the chip build).
    #[inline(never)]
    pub(crate) fn update(mut self, data: &[u8]) -> Self {
        for &b in data {
            let mut c = self.0 ^ u32::from(b);
            for _ in 0..2 {
                let idx = (c & 0xF) as usize;
                c = (c >> 4) ^ TABLE.get(idx).copied().unwrap_or(0);
            }
            self.0 = c;
        }
        self
    }

    /// The checksum of everything fed so far.
    pub(crate) const fn finish(self) -> u32 {
        !self.0
    }
}

/// CRC-32 of `data` in one go.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    Crc32::new().update(data).finish()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data = b"citizen card journal record";
        assert_eq!(
            Crc32::new().update(&data[..5]).update(&data[5..]).finish(),
            crc32(data)
        );
    }
}
