//! Avro binary encoding primitives, used by the derive's generated encoders and the metadata.
//!
//! The functions write straight into a caller's buffer: they never allocate beyond
//! growing it, which is what keeps the generated encoders allocation-free.

/// Writes an Avro `long`: zig-zag, then a little-endian base-128 varint.
#[inline]
pub fn write_long(buf: &mut Vec<u8>, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    if zigzag < 0x80 {
        // Lengths, small counts, enum indexes, union branches: the common case.
        buf.push(zigzag as u8);
        return;
    }
    while zigzag >= 0x80 {
        buf.push((zigzag as u8) | 0x80);
        zigzag >>= 7;
    }
    buf.push(zigzag as u8);
}

/// Writes an Avro `int` (same wire form as a `long`).
#[inline]
pub fn write_int(buf: &mut Vec<u8>, value: i32) {
    write_long(buf, i64::from(value));
}

/// Writes an Avro `boolean`: one byte, 0 or 1.
#[inline]
pub fn write_bool(buf: &mut Vec<u8>, value: bool) {
    buf.push(u8::from(value));
}

/// Writes an Avro `float`: 4 bytes, little-endian IEEE 754.
#[inline]
pub fn write_float(buf: &mut Vec<u8>, value: f32) {
    buf.extend_from_slice(&value.to_le_bytes());
}

/// Writes an Avro `double`: 8 bytes, little-endian IEEE 754.
#[inline]
pub fn write_double(buf: &mut Vec<u8>, value: f64) {
    buf.extend_from_slice(&value.to_le_bytes());
}

/// Writes an Avro `string`: its UTF-8 length as a `long`, then the bytes.
#[inline]
pub fn write_str(buf: &mut Vec<u8>, value: &str) {
    write_long(buf, value.len() as i64);
    buf.extend_from_slice(value.as_bytes());
}

/// Writes the branch index of an Avro union (`0` for `null` in `["null", T]`).
#[inline]
pub fn write_union_branch(buf: &mut Vec<u8>, branch: i64) {
    write_long(buf, branch);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_bytes(v: i64) -> Vec<u8> {
        let mut buf = Vec::new();
        write_long(&mut buf, v);
        buf
    }

    #[test]
    fn longs_use_zigzag_varints() {
        assert_eq!(long_bytes(0), [0x00]);
        assert_eq!(long_bytes(-1), [0x01]);
        assert_eq!(long_bytes(1), [0x02]);
        assert_eq!(long_bytes(-64), [0x7f]);
        assert_eq!(long_bytes(64), [0x80, 0x01]);
        assert_eq!(long_bytes(i64::MAX).len(), 10);
        assert_eq!(long_bytes(i64::MIN).len(), 10);
    }

    #[test]
    fn strings_are_length_prefixed() {
        let mut buf = Vec::new();
        write_str(&mut buf, "foo");
        assert_eq!(buf, [0x06, b'f', b'o', b'o']);
    }
}
