//! The Confluent wire format: a magic byte `0x00`, the schema id as a big-endian `u32`,
//! then the Avro body. Used by the producer and the consumer alike.

/// The Confluent wire format's magic byte.
pub const MAGIC_BYTE: u8 = 0;

/// Length of the frame header.
pub const HEADER_LEN: usize = 5;

/// The frame header for `schema_id`.
///
/// ```
/// assert_eq!(metrics_kafka::framing::header(258), [0, 0, 0, 1, 2]);
/// ```
pub fn header(schema_id: u32) -> [u8; HEADER_LEN] {
    let id = schema_id.to_be_bytes();
    [MAGIC_BYTE, id[0], id[1], id[2], id[3]]
}

/// Why a message is not a Confluent frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The first byte is not the magic byte.
    #[error("magic byte is {0:#04x}, expected 0x00")]
    MagicByte(u8),
    /// Fewer bytes than the header needs.
    #[error("{0} bytes is shorter than the 5-byte header")]
    TooShort(usize),
}

/// Splits a frame into its schema id and Avro body.
///
/// ```
/// use metrics_kafka::framing::{split, FrameError};
///
/// assert_eq!(split(&[0, 0, 0, 0, 7, 0xAA]), Ok((7, &[0xAA][..])));
/// assert_eq!(split(&[1, 0, 0, 0, 7]), Err(FrameError::MagicByte(1)));
/// ```
pub fn split(frame: &[u8]) -> Result<(u32, &[u8]), FrameError> {
    match frame {
        [MAGIC_BYTE, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        [first, ..] if *first != MAGIC_BYTE => Err(FrameError::MagicByte(*first)),
        _ => Err(FrameError::TooShort(frame.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_split_round_trip() {
        let mut frame = header(0xDEAD_BEEF).to_vec();
        frame.extend_from_slice(b"body");
        assert_eq!(split(&frame), Ok((0xDEAD_BEEF, &b"body"[..])));
    }

    #[test]
    fn short_and_foreign_frames_are_refused() {
        assert_eq!(split(&[]), Err(FrameError::TooShort(0)));
        assert_eq!(split(&[0, 0, 0]), Err(FrameError::TooShort(3)));
        assert_eq!(split(&[b'{', 0, 0, 0, 0]), Err(FrameError::MagicByte(b'{')));
        assert_eq!(
            FrameError::MagicByte(0x7b).to_string(),
            "magic byte is 0x7b, expected 0x00"
        );
    }
}
