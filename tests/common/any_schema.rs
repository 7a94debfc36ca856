//! Avro record schemas of every shape, grown from a seed of bytes: each byte picks the
//! next type, so a proptest's random bytes or a fuzzer's input both explore schemas (the
//! fuzz targets include this file too). Named types get unique names.
#![allow(dead_code)]

/// Reads choices from the seed; zeros once it is used up.
struct Seed<'a> {
    bytes: &'a [u8],
    at: usize,
    names: usize,
}

impl Seed<'_> {
    fn next(&mut self) -> usize {
        let byte = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        usize::from(byte)
    }

    fn name(&mut self, prefix: &str) -> String {
        self.names += 1;
        format!("{prefix}{}", self.names)
    }
}

/// A record schema grown from `seed`, and how many seed bytes it used.
pub fn schema_from_seed(seed: &[u8]) -> (String, usize) {
    let mut seed = Seed {
        bytes: seed,
        at: 0,
        names: 0,
    };
    let schema = record(&mut seed, 0);
    (schema, seed.at.min(seed.bytes.len()))
}

fn record(seed: &mut Seed<'_>, depth: usize) -> String {
    let name = seed.name("R");
    let fields: Vec<String> = (0..1 + seed.next() % 5)
        .map(|i| format!(r#"{{"name":"f{i}","type":{}}}"#, any(seed, depth + 1)))
        .collect();
    format!(
        r#"{{"type":"record","name":"{name}","namespace":"fuzz.ns","fields":[{}]}}"#,
        fields.join(",")
    )
}

/// Leaf types: primitives and logical types.
const LEAVES: usize = 21;

fn leaf(seed: &mut Seed<'_>, choice: usize) -> String {
    let logical =
        |base: &str, logical: &str| format!(r#"{{"type":"{base}","logicalType":"{logical}"}}"#);
    match choice {
        0 => r#""null""#.into(),
        1 => r#""boolean""#.into(),
        2 => r#""int""#.into(),
        3 => r#""long""#.into(),
        4 => r#""float""#.into(),
        5 => r#""double""#.into(),
        6 => r#""bytes""#.into(),
        7 => r#""string""#.into(),
        8 => logical("string", "uuid"),
        9 => logical("int", "date"),
        10 => logical("int", "time-millis"),
        11 => logical("long", "time-micros"),
        12 => logical("long", "timestamp-millis"),
        13 => logical("long", "timestamp-micros"),
        14 => logical("long", "timestamp-nanos"),
        15 => logical("long", "local-timestamp-millis"),
        16 => {
            let precision = 1 + seed.next() % 30;
            let scale = seed.next() % (precision + 1);
            format!(
                r#"{{"type":"bytes","logicalType":"decimal","precision":{precision},"scale":{scale}}}"#
            )
        }
        17 => {
            let name = seed.name("F");
            format!(
                r#"{{"type":"fixed","name":"{name}","size":{}}}"#,
                seed.next() % 9
            )
        }
        18 => {
            let name = seed.name("D");
            format!(r#"{{"type":"fixed","name":"{name}","size":12,"logicalType":"duration"}}"#)
        }
        19 => {
            let name = seed.name("E");
            let symbols: Vec<String> = (0..1 + seed.next() % 4)
                .map(|i| format!(r#""S{i}""#))
                .collect();
            format!(
                r#"{{"type":"enum","name":"{name}","symbols":[{}]}}"#,
                symbols.join(",")
            )
        }
        _ => logical("double", "dataclasses-avroschema-timedelta"),
    }
}

fn any(seed: &mut Seed<'_>, depth: usize) -> String {
    let choices = if depth >= 4 { LEAVES } else { LEAVES + 4 };
    match seed.next() % choices {
        choice if choice < LEAVES => leaf(seed, choice),
        21 => format!(r#"{{"type":"array","items":{}}}"#, any(seed, depth + 1)),
        22 => format!(r#"{{"type":"map","values":{}}}"#, any(seed, depth + 1)),
        23 => {
            // ["null", T] with T neither null nor a union.
            let inner = match seed.next() % (LEAVES + 2) {
                0 => leaf(seed, 7),
                choice if choice < LEAVES => leaf(seed, choice),
                LEAVES => format!(r#"{{"type":"array","items":{}}}"#, any(seed, depth + 1)),
                _ => record(seed, depth + 1),
            };
            format!(r#"["null",{inner}]"#)
        }
        _ => record(seed, depth + 1),
    }
}
