//! The frame around every metadata image: magic, format version, kind, payload length,
//! the protobuf payload and a crc32c of everything before it. Pure functions on bytes;
//! the file name is added by the caller (ImageError).

use std::fmt;

/// First bytes of every metadata image file.
pub const MAGIC: [u8; 8] = *b"STASISIM";
/// The only frame/schema version this stasis reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// magic + version + kind + payload length.
const HEADER_LEN: usize = 8 + 4 + 4 + 8;
const CHECKSUM_LEN: usize = 4;
const FRAME_OVERHEAD: usize = HEADER_LEN + CHECKSUM_LEN;

/// Which top-level message an image file holds; stored in the frame so a renamed or
/// swapped file is caught before its payload is misread as another message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ImageKind {
    Inventory = 1,
    Task = 2,
    Mm = 3,
    FdTable = 4,
    Files = 5,
}

impl ImageKind {
    pub const ALL: [ImageKind; 5] = [
        ImageKind::Inventory,
        ImageKind::Task,
        ImageKind::Mm,
        ImageKind::FdTable,
        ImageKind::Files,
    ];

    pub fn from_u32(value: u32) -> Option<ImageKind> {
        ImageKind::ALL
            .into_iter()
            .find(|kind| *kind as u32 == value)
    }

    /// The schema message this kind holds, as users see it in errors.
    pub fn message_name(self) -> &'static str {
        match self {
            ImageKind::Inventory => "Inventory",
            ImageKind::Task => "TaskImage",
            ImageKind::Mm => "MmImage",
            ImageKind::FdTable => "FdTableImage",
            ImageKind::Files => "FilesImage",
        }
    }
}

impl fmt::Display for ImageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message_name(), *self as u32)
    }
}

/// A kind number read from disk, which may be one this stasis does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawKind(pub u32);

impl fmt::Display for RawKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match ImageKind::from_u32(self.0) {
            Some(kind) => kind.fmt(f),
            None => write!(f, "unknown kind {}", self.0),
        }
    }
}

/// Why bytes are not a valid image frame. Checked in this order, so the first problem a
/// reader meets is the one reported.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error(
        "file is {len} bytes, shorter than the smallest possible image ({FRAME_OVERHEAD} bytes)"
    )]
    TooShort { len: usize },
    #[error("starts with {found:02x?} instead of the magic \"STASISIM\"")]
    BadMagic { found: [u8; 8] },
    #[error("image format version {found}, but this stasis reads only version {supported}")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("expected a {expected} image, found {found}")]
    WrongKind { expected: ImageKind, found: RawKind },
    #[error("{found}: this stasis does not know that kind of image")]
    UnknownKind { found: RawKind },
    #[error("truncated: header announces {declared} payload bytes, only {available} present")]
    Truncated { declared: u64, available: u64 },
    #[error("{extra} unexpected bytes after the payload ({declared} bytes announced)")]
    TrailingBytes { declared: u64, extra: u64 },
    #[error("checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("payload does not decode as {kind}: {source}")]
    Decode {
        kind: ImageKind,
        source: prost::DecodeError,
    },
}

impl FrameError {
    /// What the user can do about it; appended to the message by ImageError.
    pub fn advice(&self) -> &'static str {
        match self {
            FrameError::BadMagic { .. } => "this file is not a stasis image",
            FrameError::UnsupportedVersion { .. } | FrameError::UnknownKind { .. } => {
                "it was written by another stasis version; use that version to read it"
            }
            FrameError::WrongKind { .. } => {
                "the file was renamed or replaced; the dump is damaged, take a new one"
            }
            FrameError::TooShort { .. }
            | FrameError::Truncated { .. }
            | FrameError::TrailingBytes { .. }
            | FrameError::ChecksumMismatch { .. }
            | FrameError::Decode { .. } => "the image is corrupt, take a new dump",
        }
    }
}

/// Frames `msg` as an image of `kind`.
pub fn encode_image<M: prost::Message>(kind: ImageKind, msg: &M) -> Vec<u8> {
    let payload = msg.encode_to_vec();
    let mut out = Vec::with_capacity(FRAME_OVERHEAD + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(kind as u32).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks the frame of an image that must be of `kind` and decodes its payload.
pub fn decode_image<M: prost::Message + Default>(
    kind: ImageKind,
    bytes: &[u8],
) -> Result<M, FrameError> {
    let header = read_header(bytes)?;
    if header.kind != RawKind(kind as u32) {
        return Err(FrameError::WrongKind {
            expected: kind,
            found: header.kind,
        });
    }
    let payload = checked_payload(bytes, header)?;
    M::decode(payload).map_err(|source| FrameError::Decode { kind, source })
}

/// Checks the frame of an image of any known kind; returns the kind and the payload.
pub(crate) fn unframe(bytes: &[u8]) -> Result<(ImageKind, &[u8]), FrameError> {
    let header = read_header(bytes)?;
    let kind =
        ImageKind::from_u32(header.kind.0).ok_or(FrameError::UnknownKind { found: header.kind })?;
    Ok((kind, checked_payload(bytes, header)?))
}

#[derive(Clone, Copy)]
struct Header {
    kind: RawKind,
    payload_len: u64,
}

fn read_header(bytes: &[u8]) -> Result<Header, FrameError> {
    let too_short = || FrameError::TooShort { len: bytes.len() };
    if bytes.len() < FRAME_OVERHEAD {
        return Err(too_short());
    }
    let magic: [u8; 8] = take(bytes, 0).ok_or_else(too_short)?;
    if magic != MAGIC {
        return Err(FrameError::BadMagic { found: magic });
    }
    let version = u32::from_le_bytes(take(bytes, 8).ok_or_else(too_short)?);
    if version != FORMAT_VERSION {
        return Err(FrameError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let kind = RawKind(u32::from_le_bytes(take(bytes, 12).ok_or_else(too_short)?));
    let payload_len = u64::from_le_bytes(take(bytes, 16).ok_or_else(too_short)?);
    Ok(Header { kind, payload_len })
}

/// Checks length and checksum; returns the payload.
fn checked_payload(bytes: &[u8], header: Header) -> Result<&[u8], FrameError> {
    // read_header guaranteed bytes.len() >= FRAME_OVERHEAD.
    let available = bytes.len().saturating_sub(FRAME_OVERHEAD) as u64;
    let declared = header.payload_len;
    if declared > available {
        return Err(FrameError::Truncated {
            declared,
            available,
        });
    }
    if declared < available {
        return Err(FrameError::TrailingBytes {
            declared,
            extra: available - declared,
        });
    }
    let too_short = || FrameError::TooShort { len: bytes.len() };
    let checksum_at = bytes
        .len()
        .checked_sub(CHECKSUM_LEN)
        .ok_or_else(too_short)?;
    let stored = u32::from_le_bytes(take(bytes, checksum_at).ok_or_else(too_short)?);
    let covered = bytes.get(..checksum_at).unwrap_or_default();
    let computed = crc32c::crc32c(covered);
    if stored != computed {
        return Err(FrameError::ChecksumMismatch { stored, computed });
    }
    Ok(bytes.get(HEADER_LEN..checksum_at).unwrap_or_default())
}

/// `N` bytes at `offset`, or None past the end.
fn take<const N: usize>(bytes: &[u8], offset: usize) -> Option<[u8; N]> {
    bytes.get(offset..offset.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;

    fn sample_task() -> pb::TaskImage {
        pb::TaskImage {
            pid: 4121,
            ppid: 1,
            comm: "redis-server".into(),
            threads: vec![pb::ThreadState {
                tid: 4121,
                regs: Some(pb::GeneralRegisters {
                    rip: 0x7f00_dead_beef,
                    rsp: 0x7ffc_0000_1000,
                    ..Default::default()
                }),
                xsave: vec![1, 2, 3, 0xff],
                ..Default::default()
            }],
            cwd: "/".into(),
            ..Default::default()
        }
    }

    #[test]
    fn round_trip() {
        let task = sample_task();
        let bytes = encode_image(ImageKind::Task, &task);
        assert_eq!(&bytes[..8], b"STASISIM");
        let back: pb::TaskImage = decode_image(ImageKind::Task, &bytes).unwrap();
        assert_eq!(back, task);
    }

    #[test]
    fn round_trip_empty_message() {
        let bytes = encode_image(ImageKind::Files, &pb::FilesImage::default());
        assert_eq!(bytes.len(), FRAME_OVERHEAD);
        let back: pb::FilesImage = decode_image(ImageKind::Files, &bytes).unwrap();
        assert_eq!(back, pb::FilesImage::default());
    }

    #[test]
    fn bad_magic() {
        let mut bytes = encode_image(ImageKind::Task, &sample_task());
        bytes[0] = b'X';
        let err = decode_image::<pb::TaskImage>(ImageKind::Task, &bytes).unwrap_err();
        assert!(matches!(err, FrameError::BadMagic { .. }), "{err}");
    }

    #[test]
    fn wrong_version_names_both_versions() {
        let mut bytes = encode_image(ImageKind::Task, &sample_task());
        bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
        let err = decode_image::<pb::TaskImage>(ImageKind::Task, &bytes).unwrap_err();
        assert!(matches!(
            err,
            FrameError::UnsupportedVersion {
                found: 7,
                supported: 1
            }
        ));
        let text = err.to_string();
        assert!(text.contains('7') && text.contains('1'), "{text}");
    }

    #[test]
    fn wrong_kind_names_both_kinds() {
        let bytes = encode_image(ImageKind::Mm, &pb::MmImage::default());
        let err = decode_image::<pb::TaskImage>(ImageKind::Task, &bytes).unwrap_err();
        assert!(matches!(
            err,
            FrameError::WrongKind {
                expected: ImageKind::Task,
                found: RawKind(3)
            }
        ));
        let text = err.to_string();
        assert!(
            text.contains("TaskImage") && text.contains("MmImage"),
            "{text}"
        );
    }

    #[test]
    fn unknown_kind_in_unframe() {
        let mut bytes = encode_image(ImageKind::Mm, &pb::MmImage::default());
        bytes[12..16].copy_from_slice(&99u32.to_le_bytes());
        let err = unframe(&bytes).unwrap_err();
        assert!(matches!(
            err,
            FrameError::UnknownKind { found: RawKind(99) }
        ));
    }

    #[test]
    fn truncated_at_every_length() {
        let bytes = encode_image(ImageKind::Task, &sample_task());
        for len in 0..bytes.len() {
            let err = decode_image::<pb::TaskImage>(ImageKind::Task, &bytes[..len]).unwrap_err();
            if len < FRAME_OVERHEAD {
                assert!(
                    matches!(err, FrameError::TooShort { .. }),
                    "len {len}: {err}"
                );
            } else {
                assert!(
                    matches!(err, FrameError::Truncated { .. }),
                    "len {len}: {err}"
                );
            }
        }
    }

    #[test]
    fn trailing_garbage() {
        let mut bytes = encode_image(ImageKind::Task, &sample_task());
        bytes.extend_from_slice(b"garbage");
        let err = decode_image::<pb::TaskImage>(ImageKind::Task, &bytes).unwrap_err();
        assert!(
            matches!(err, FrameError::TrailingBytes { extra: 7, .. }),
            "{err}"
        );
    }

    #[test]
    fn every_flipped_byte_is_an_error() {
        let bytes = encode_image(ImageKind::Task, &sample_task());
        for position in 0..bytes.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[position] ^= mask;
                let result = decode_image::<pb::TaskImage>(ImageKind::Task, &damaged);
                assert!(
                    result.is_err(),
                    "flip 0x{mask:02x} at byte {position} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn checksum_mismatch_reports_both_values() {
        let mut bytes = encode_image(ImageKind::Task, &sample_task());
        let last = bytes.len() - 1;
        bytes[last] ^= 0x10;
        let err = decode_image::<pb::TaskImage>(ImageKind::Task, &bytes).unwrap_err();
        assert!(matches!(err, FrameError::ChecksumMismatch { .. }), "{err}");
        assert!(err.to_string().contains("stored 0x"), "{err}");
    }

    #[test]
    fn undecodable_payload_with_valid_checksum() {
        // A payload that is not protobuf but is framed correctly: the decoder must fail cleanly.
        let payload = [0xffu8; 5];
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(ImageKind::Task as u32).to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&payload);
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        let err = decode_image::<pb::TaskImage>(ImageKind::Task, &bytes).unwrap_err();
        assert!(matches!(err, FrameError::Decode { .. }), "{err}");
    }

    #[test]
    fn huge_declared_length_does_not_panic() {
        let mut bytes = encode_image(ImageKind::Task, &sample_task());
        bytes[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        let err = decode_image::<pb::TaskImage>(ImageKind::Task, &bytes).unwrap_err();
        assert!(matches!(err, FrameError::Truncated { .. }), "{err}");
    }
}
