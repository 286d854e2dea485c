//! Card image files: the simulated chip's EEPROM on disk.
//!
//! Format (version 1, integers big-endian):
//! `"CCOSIMG\0"` (8) | version u16 | page size u16 | capacity u32 | CRC-32 of the payload u32 | payload.
//! Saving is crash-safe: the image is written to a temporary file in the same directory, synced,
//! renamed over the old one and the directory synced, so a killed process leaves the old image or
//! the new one. Loading names the file in every error and never panics.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Magic at the start of every image file.
pub const IMAGE_MAGIC: [u8; 8] = *b"CCOSIMG\0";
/// Current image format version.
pub const IMAGE_VERSION: u16 = 1;
/// Bytes before the payload.
pub const IMAGE_HEADER: usize = 20;

/// Why an image could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No such file.
    #[error(
        "card image {path}: no such file (create one with `cos-sim personalise --out {path}`)"
    )]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// Shorter than its header says.
    #[error("card image {path}: truncated ({got} bytes, expected {expected})")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes present.
        got: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// Not a card image at all.
    #[error("card image {path}: not a citizen-card COS image (bad magic)")]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// Written by a newer or unknown format.
    #[error("card image {path}: unsupported image format version {version} (this build reads {IMAGE_VERSION})")]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u16,
    },
    /// Geometry this simulator cannot host.
    #[error("card image {path}: unsupported geometry (page size {page_size}, capacity {capacity}; this build simulates {expected_capacity} bytes)")]
    Geometry {
        /// The file.
        path: PathBuf,
        /// Page size found.
        page_size: u16,
        /// Capacity found.
        capacity: u32,
        /// Capacity this build simulates.
        expected_capacity: usize,
    },
    /// Payload checksum mismatch.
    #[error("card image {path}: corrupted (checksum mismatch)")]
    Corrupted {
        /// The file.
        path: PathBuf,
    },
    /// The chip content is not a mountable card (virgin or corrupt store).
    #[error("card image {path}: the card's storage does not mount ({reason})")]
    Unmountable {
        /// The file.
        path: PathBuf,
        /// What the store said.
        reason: String,
    },
    /// Any I/O failure.
    #[error("card image {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Decoded image: geometry and the chip bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// EEPROM page size.
    pub page_size: u16,
    /// The chip content.
    pub bytes: Vec<u8>,
}

impl Image {
    /// Serialise with header and checksum.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(IMAGE_HEADER + self.bytes.len());
        out.extend_from_slice(&IMAGE_MAGIC);
        out.extend_from_slice(&IMAGE_VERSION.to_be_bytes());
        out.extend_from_slice(&self.page_size.to_be_bytes());
        out.extend_from_slice(&(self.bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(&crc32fast::hash(&self.bytes).to_be_bytes());
        out.extend_from_slice(&self.bytes);
        out
    }

    /// Parse image bytes read from `path` (named in errors).
    pub fn decode(path: &Path, data: &[u8]) -> Result<Image, ImageError> {
        let path = path.to_path_buf();
        let Some(header) = data.get(..IMAGE_HEADER) else {
            if data.len() >= 8 && data.get(..8) != Some(&IMAGE_MAGIC[..]) {
                return Err(ImageError::Foreign { path });
            }
            return Err(ImageError::Truncated {
                path,
                got: data.len(),
                expected: IMAGE_HEADER,
            });
        };
        let field = |r: std::ops::Range<usize>| header.get(r).unwrap_or(&[]).to_vec();
        if field(0..8) != IMAGE_MAGIC {
            return Err(ImageError::Foreign { path });
        }
        let be16 = |v: Vec<u8>| u16::from_be_bytes([v[0], v[1]]);
        let be32 = |v: Vec<u8>| u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
        let version = be16(field(8..10));
        if version != IMAGE_VERSION {
            return Err(ImageError::Version { path, version });
        }
        let page_size = be16(field(10..12));
        let capacity = be32(field(12..16));
        let crc = be32(field(16..20));
        let expected = IMAGE_HEADER + capacity as usize;
        if data.len() < expected {
            return Err(ImageError::Truncated {
                path,
                got: data.len(),
                expected,
            });
        }
        let payload = &data[IMAGE_HEADER..expected];
        if crc32fast::hash(payload) != crc || data.len() != expected {
            return Err(ImageError::Corrupted { path });
        }
        Ok(Image {
            page_size,
            bytes: payload.to_vec(),
        })
    }

    /// Read and decode an image file.
    pub fn load(path: &Path) -> Result<Image, ImageError> {
        let data = fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ImageError::Missing {
                path: path.to_path_buf(),
            },
            _ => ImageError::Io {
                path: path.to_path_buf(),
                source: e,
            },
        })?;
        Image::decode(path, &data)
    }

    /// Save crash-safely: temporary file, fsync, rename, fsync of the directory.
    pub fn save(&self, path: &Path) -> Result<(), ImageError> {
        let io = |source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "card.img".into());
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&self.encode())?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, path)?;
            // Make the rename itself durable.
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Image {
        Image {
            page_size: 64,
            bytes: (0..256u32).map(|i| i as u8).collect(),
        }
    }

    #[test]
    fn round_trip_and_every_error() {
        let p = Path::new("x.img");
        let img = sample();
        let enc = img.encode();
        assert_eq!(Image::decode(p, &enc).unwrap(), img);
        assert!(matches!(
            Image::decode(p, &enc[..10]),
            Err(ImageError::Truncated { .. })
        ));
        assert!(matches!(
            Image::decode(p, &enc[..100]),
            Err(ImageError::Truncated { .. })
        ));
        let mut bad = enc.clone();
        bad[0] = b'X';
        assert!(matches!(
            Image::decode(p, &bad),
            Err(ImageError::Foreign { .. })
        ));
        let mut bad = enc.clone();
        bad[9] = 9;
        assert!(matches!(
            Image::decode(p, &bad),
            Err(ImageError::Version { version: 9, .. })
        ));
        let mut bad = enc.clone();
        bad[100] ^= 1;
        assert!(matches!(
            Image::decode(p, &bad),
            Err(ImageError::Corrupted { .. })
        ));
        let mut long = enc.clone();
        long.push(0);
        assert!(matches!(
            Image::decode(p, &long),
            Err(ImageError::Corrupted { .. })
        ));
        assert!(matches!(
            Image::decode(p, b"hello world, this is text"),
            Err(ImageError::Foreign { .. })
        ));
        let msg = Image::decode(Path::new("/tmp/card.img"), &enc[..5])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/tmp/card.img"), "{msg}");
    }

    #[test]
    fn save_is_atomic_and_loadable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("card.img");
        assert!(matches!(Image::load(&p), Err(ImageError::Missing { .. })));
        sample().save(&p).unwrap();
        assert_eq!(Image::load(&p).unwrap(), sample());
        // No temporary file left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
