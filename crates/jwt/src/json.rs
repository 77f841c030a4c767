//! Just enough JSON for JOSE headers and claim sets, on top of `serde_json`'s parser.
//!
//! A header or claim set is read as one JSON object, keeping only the few members the verifier
//! needs and skipping the rest without building a `Value` tree (that would cost allocations
//! for every token). Each kept member is captured as a [`Scalar`] whatever its JSON type, so
//! that a wrongly typed `exp` is reported as such instead of looking absent: treating "exp is a
//! string" as "no exp" is the CVE-2026-25537 class of bug this design rules out.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A JSON value reduced to what a claim check needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    /// A string, borrowed from the input when it has no escapes.
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// `null`, a boolean, an array or an object.
    Other,
}

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

/// The members of one JSON object that a caller asked for by name (`N` of them), each seen at
/// most once. A repeated wanted member is recorded, not silently resolved: two `exp` values
/// mean two parsers could disagree about the token, so the verifier rejects it.
#[derive(Debug)]
pub(crate) struct Picked<'a, const N: usize> {
    pub values: [Option<Scalar<'a>>; N],
    pub duplicate: Option<&'static str>,
}

/// Parses `json` as exactly one object (surrounding whitespace allowed, nothing else) and picks
/// the members named in `names`. `None` means "not a JSON object".
pub(crate) fn pick_members<'a, const N: usize>(
    json: &'a str,
    names: &'static [&'static str; N],
) -> Option<Picked<'a, N>> {
    match compact::pick_members(json, names) {
        Some(picked) => Some(picked),
        None => pick_members_general(json, names),
    }
}

/// The general path: `serde_json`'s parser, for any JSON whatsoever.
fn pick_members_general<'a, const N: usize>(
    json: &'a str,
    names: &'static [&'static str; N],
) -> Option<Picked<'a, N>> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let picked = deserializer.deserialize_map(PickVisitor { names }).ok()?;
    deserializer.end().ok()?;
    Some(picked)
}

struct PickVisitor<const N: usize> {
    names: &'static [&'static str; N],
}

impl<'de, const N: usize> Visitor<'de> for PickVisitor<N> {
    type Value = Picked<'de, N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut picked = Picked {
            values: std::array::from_fn(|_| None),
            duplicate: None,
        };
        while let Some(key) = map.next_key_seed(KeySeed { names: self.names })? {
            match key {
                Some(index) => {
                    let value = map.next_value::<Scalar<'de>>()?;
                    let slot = &mut picked.values[index];
                    if slot.is_some() {
                        picked.duplicate.get_or_insert(self.names[index]);
                    }
                    *slot = Some(value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(picked)
    }
}

/// Resolves an object key to the index of a wanted name, without allocating for keys that
/// are borrowed from the input (keys with escapes arrive as a transient `&str`).
struct KeySeed<const N: usize> {
    names: &'static [&'static str; N],
}

impl<'de, const N: usize> de::DeserializeSeed<'de> for KeySeed<N> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for KeySeed<N> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.names.iter().position(|name| *name == key))
    }
}

/// A fast path for what JWT libraries actually emit: one compact, flat object.
///
/// It understands a strict subset of JSON — no whitespace; keys and string values without
/// escapes; non-negative integers of at most 18 digits; `true`, `false`, `null` — and answers
/// `None` ("not sure") for anything else, which then goes to `serde_json`. So it never decides
/// a rejection, and whatever it accepts, `serde_json` accepts with the same result (checked by
/// a property test). A 50-byte claim set costs a few hundred instructions here against ~1,400
/// through serde's generic machinery.
mod compact {
    use std::borrow::Cow;

    use super::{Picked, Scalar};

    /// Digits that always fit a `u64`.
    const MAX_DIGITS: usize = 18;

    pub(super) fn pick_members<'a, const N: usize>(
        json: &'a str,
        names: &'static [&'static str; N],
    ) -> Option<Picked<'a, N>> {
        let bytes = json.as_bytes();
        let mut picked = Picked {
            values: std::array::from_fn(|_| None),
            duplicate: None,
        };
        let mut at = expect(bytes, 0, b'{')?;
        if bytes.get(at) == Some(&b'}') {
            return (at + 1 == bytes.len()).then_some(picked);
        }
        loop {
            let (key, next) = string(json, at)?;
            at = expect(bytes, next, b':')?;
            let (value, next) = value(json, at)?;
            at = next;
            if let Some(index) = names.iter().position(|name| *name == key) {
                let slot = &mut picked.values[index];
                if slot.is_some() {
                    picked.duplicate.get_or_insert(names[index]);
                }
                *slot = Some(value);
            }
            match bytes.get(at) {
                Some(b',') => at += 1,
                Some(b'}') if at + 1 == bytes.len() => return Some(picked),
                _ => return None,
            }
        }
    }

    fn expect(bytes: &[u8], at: usize, byte: u8) -> Option<usize> {
        (bytes.get(at) == Some(&byte)).then_some(at + 1)
    }

    /// A string without escapes starting at `at` (the opening quote): its text and the index
    /// after the closing quote. Control characters are not allowed raw in JSON strings.
    fn string(json: &str, at: usize) -> Option<(&str, usize)> {
        let bytes = json.as_bytes();
        let start = expect(bytes, at, b'"')?;
        let len = bytes[start..]
            .iter()
            .position(|b| *b == b'"' || *b == b'\\' || *b < 0x20)?;
        let end = start + len;
        // Stopped at an escape or a control character: not for the fast path.
        if bytes[end] != b'"' {
            return None;
        }
        // `start` and `end` sit next to ASCII quotes, so both are char boundaries.
        Some((json.get(start..end)?, end + 1))
    }

    fn value(json: &str, at: usize) -> Option<(Scalar<'_>, usize)> {
        let bytes = json.as_bytes();
        match *bytes.get(at)? {
            b'"' => string(json, at).map(|(text, next)| (Scalar::Str(Cow::Borrowed(text)), next)),
            b'0'..=b'9' => {
                let digits = bytes[at..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let end = at + digits;
                // Leading zeros are invalid JSON; fractions, exponents and long numbers are
                // left to serde_json (which has the exact rules for them).
                if digits > MAX_DIGITS
                    || (digits > 1 && bytes[at] == b'0')
                    || matches!(bytes.get(end), Some(b'.' | b'e' | b'E'))
                {
                    return None;
                }
                let number = bytes[at..end]
                    .iter()
                    .fold(0u64, |n, digit| n * 10 + u64::from(digit - b'0'));
                Some((Scalar::UInt(number), end))
            }
            b't' if bytes[at..].starts_with(b"true") => Some((Scalar::Other, at + 4)),
            b'f' if bytes[at..].starts_with(b"false") => Some((Scalar::Other, at + 5)),
            b'n' if bytes[at..].starts_with(b"null") => Some((Scalar::Other, at + 4)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str; 2] = &["sub", "exp"];

    #[test]
    fn picks_wanted_members_of_any_type() {
        let picked = pick_members(
            r#"{"name":"x","exp":"soon","sub":42,"deep":[{"a":[1,2]}]}"#,
            NAMES,
        )
        .unwrap();
        assert_eq!(picked.values[0], Some(Scalar::UInt(42)));
        assert_eq!(picked.values[1], Some(Scalar::Str(Cow::Borrowed("soon"))));
        assert_eq!(picked.duplicate, None);
    }

    #[test]
    fn resolves_escaped_keys_and_values() {
        let picked = pick_members(r#"{"s\u0075b":"a\"b","exp":-1.5}"#, NAMES).unwrap();
        assert_eq!(
            picked.values[0],
            Some(Scalar::Str(Cow::Owned("a\"b".into())))
        );
        assert_eq!(picked.values[1], Some(Scalar::Float(-1.5)));
    }

    #[test]
    fn records_a_repeated_member() {
        let picked = pick_members(r#"{"exp":1,"exp":2}"#, NAMES).unwrap();
        assert_eq!(picked.duplicate, Some("exp"));
    }

    #[test]
    fn rejects_anything_but_one_object() {
        for json in ["[]", "42", "\"x\"", "null", "{} {}", "{", r#"{"a":1,}"#, ""] {
            assert!(pick_members(json, NAMES).is_none(), "{json:?}");
        }
        assert!(pick_members(" {}\n", NAMES).is_some());
    }

    #[test]
    fn compact_path_handles_what_jwt_libraries_emit() {
        let json = r#"{"sub":"42","name":"Alice Chen","exp":1807902621,"admin":false}"#;
        let picked = compact::pick_members(json, NAMES).expect("fast path");
        assert_eq!(picked.values[0], Some(Scalar::Str(Cow::Borrowed("42"))));
        assert_eq!(picked.values[1], Some(Scalar::UInt(1807902621)));
        let dup = compact::pick_members(r#"{"exp":1,"exp":2}"#, NAMES).unwrap();
        assert_eq!(dup.duplicate, Some("exp"));
        assert!(compact::pick_members("{}", NAMES).is_some());
    }

    #[test]
    fn compact_path_defers_everything_else() {
        for json in [
            r#"{ "sub":"42"}"#,
            r#"{"sub":"4\"2"}"#,
            r#"{"sub":-1}"#,
            r#"{"sub":1.5}"#,
            r#"{"sub":1e3}"#,
            r#"{"sub":0123}"#,
            r#"{"sub":1234567890123456789}"#,
            r#"{"sub":[1]}"#,
            r#"{"sub":{}}"#,
            r#"{"sub":"42"} "#,
            r#"{"sub":"42",}"#,
            r#"{"sub":tru}"#,
            "{\"sub\":\"a\u{1}b\"}",
            "[]",
            "",
        ] {
            assert!(compact::pick_members(json, NAMES).is_none(), "{json:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// Whenever the fast path answers, serde_json answers the same. Inputs are drawn from
        /// a small JSON-ish alphabet so that valid objects, near-misses and garbage all occur.
        #[test]
        fn compact_path_never_disagrees_with_serde(json in compact_json_like()) {
            if let Some(fast) = compact::pick_members(&json, NAMES) {
                let general = pick_members_general(&json, NAMES);
                proptest::prop_assert!(general.is_some(), "serde rejects {json:?}");
                let general = general.unwrap();
                proptest::prop_assert_eq!(&fast.values, &general.values, "{:?}", json);
                proptest::prop_assert_eq!(fast.duplicate, general.duplicate, "{:?}", json);
            }
        }
    }

    #[test]
    fn the_equivalence_property_exercises_the_fast_path() {
        use proptest::strategy::{Strategy, ValueTree};
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = compact_json_like();
        let samples = 2000;
        let accepted = (0..samples)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .filter(|json| compact::pick_members(json, NAMES).is_some())
            .count();
        // Both outcomes must be common, or the property above proves little.
        assert!(
            accepted > samples / 10,
            "fast path took only {accepted} of {samples}"
        );
        assert!(
            accepted < samples * 9 / 10,
            "fast path took {accepted} of {samples}"
        );
    }

    /// Objects built from JWT-like members, then possibly damaged by one random edit.
    fn compact_json_like() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("sub".to_string()),
            Just("exp".to_string()),
            Just("name".to_string()),
            "[a-z\\\\\"]{0,4}",
        ];
        let value = prop_oneof![
            "\"[ -~é\\\\\u{1}]{0,6}\"",
            "-?[0-9]{1,20}(\\.[0-9])?(e[0-9])?",
            Just("true".to_string()),
            Just("false".to_string()),
            Just("null".to_string()),
            Just("[1,2]".to_string()),
            Just("{\"a\":1}".to_string()),
        ];
        let object = proptest::collection::vec((key, value), 0..5).prop_map(|members| {
            let body: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            format!("{{{}}}", body.join(","))
        });
        (object, any::<Option<(usize, char)>>()).prop_map(|(mut json, edit)| {
            if let Some((at, c)) = edit {
                let mut at = at % (json.len() + 1);
                while !json.is_char_boundary(at) {
                    at -= 1;
                }
                json.insert(at, c);
            }
            json
        })
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        // Skipped values are walked iteratively by serde_json, so depth costs no stack.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let json = format!(r#"{{"x":{deep},"exp":{deep}}}"#);
        let picked = pick_members(&json, NAMES).unwrap();
        assert_eq!(picked.values[1], Some(Scalar::Other));
        let unbalanced = format!(r#"{{"exp":{}}}"#, "[".repeat(100_000));
        assert!(pick_members(&unbalanced, NAMES).is_none());
    }
}
