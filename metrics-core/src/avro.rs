//! Avro binary encoding primitives and Avro name rules, shared by the derive's generated code.
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

/// Is `name` a valid Avro name (`[A-Za-z_][A-Za-z0-9_]*`)?
///
/// `const` so the derive can check names at compile time too.
pub const fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let ok = b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit());
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

/// Is `name` a valid Avro full name or namespace: dot-separated valid names?
pub fn is_valid_fullname(name: &str) -> bool {
    !name.is_empty() && name.split('.').all(is_valid_name)
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

    #[test]
    fn avro_names_follow_the_spec() {
        for ok in ["a", "_", "query", "Query_2", "_x9"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a.b", "é", "a b"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        assert!(is_valid_fullname("lsst.square.metrics.events"));
        assert!(!is_valid_fullname("lsst..events"));
        assert!(!is_valid_fullname("lsst.my-app"));
        assert!(!is_valid_fullname(""));
    }
}
