//! The JOSE header check: the algorithm is pinned to HS256 (RFC 8725 §3.1), whatever the token
//! claims, so `none`, other HMAC sizes and RS→HS key confusion are all rejected up front.
//!
//! Nearly every real token carries one of a handful of byte-identical headers, so the fast path
//! compares the encoded segment against those. Anything else takes the general path, which
//! decodes and parses the header; both accept exactly the same set of headers (the fast-path
//! list is checked against the general path in the tests).

use crate::base64url;
use crate::error::{Segment, VerifyError};
use crate::json::{pick_members, Scalar};

/// Encoded headers accepted without decoding: `{"alg":"HS256","typ":"JWT"}` (what every common
/// library emits), the same with the members swapped, and `{"alg":"HS256"}`.
pub(crate) const KNOWN_HS256_HEADERS: [&[u8]; 3] = [
    b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
    b"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9",
    b"eyJhbGciOiJIUzI1NiJ9",
];

/// A header larger than this is not something any JWT library emits; refusing it bounds the
/// work an attacker can make the general path do before the signature is checked.
const MAX_HEADER_JSON: usize = 1024;

/// Accepts the encoded header segment if it pins HS256.
pub(crate) fn check(segment: &[u8]) -> Result<(), VerifyError> {
    if KNOWN_HS256_HEADERS.contains(&segment) {
        return Ok(());
    }
    check_general(segment)
}

/// Decodes and parses the header: a JSON object whose `alg` is the string `HS256`, whose `typ`,
/// if present, is the string `JWT`, with no `crit` and no repeated member among those three.
pub(crate) fn check_general(segment: &[u8]) -> Result<(), VerifyError> {
    let mut buf = [0u8; MAX_HEADER_JSON];
    let len = base64url::decode_into(segment, &mut buf).map_err(|err| match err {
        base64url::Base64Error::OutputTooSmall => VerifyError::HeaderTooLarge,
        _ => VerifyError::InvalidBase64(Segment::Header),
    })?;
    let json = std::str::from_utf8(&buf[..len]).map_err(|_| VerifyError::HeaderNotUtf8)?;

    const NAMES: &[&str; 3] = &["alg", "typ", "crit"];
    let picked = pick_members(json, NAMES).ok_or(VerifyError::MalformedHeader)?;
    if let Some(name) = picked.duplicate {
        return Err(VerifyError::DuplicateHeaderParameter(name));
    }
    let [alg, typ, crit] = &picked.values;
    // RFC 7515 §4.1.11: a recipient must reject `crit` naming extensions it does not
    // understand, and this verifier understands none.
    if crit.is_some() {
        return Err(VerifyError::CriticalHeader);
    }
    match alg {
        None => return Err(VerifyError::MissingAlgorithm),
        Some(Scalar::Str(alg)) if alg == "HS256" => {}
        Some(_) => return Err(VerifyError::UnsupportedAlgorithm),
    }
    match typ {
        None => {}
        Some(Scalar::Str(typ)) if typ == "JWT" => {}
        Some(_) => return Err(VerifyError::UnsupportedType),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn encode(json: &str) -> Vec<u8> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json)
            .into_bytes()
    }

    #[test]
    fn fast_path_headers_are_exactly_what_the_general_path_accepts() {
        let expected = [
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"typ":"JWT","alg":"HS256"}"#,
            r#"{"alg":"HS256"}"#,
        ];
        for (known, json) in KNOWN_HS256_HEADERS.iter().zip(expected) {
            assert_eq!(*known, encode(json).as_slice(), "{json}");
            assert_eq!(check_general(known), Ok(()), "{json}");
        }
    }

    #[test]
    fn general_path_accepts_other_spellings_of_hs256() {
        for json in [
            r#"{ "alg" : "HS256" , "typ" : "JWT" }"#,
            r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#,
            r#"{"alg":"HS\u0032\u0035\u0036"}"#,
        ] {
            assert_eq!(check(&encode(json)), Ok(()), "{json}");
        }
    }

    #[test]
    fn rejects_every_other_algorithm() {
        let cases = [
            (
                r#"{"alg":"none","typ":"JWT"}"#,
                VerifyError::UnsupportedAlgorithm,
            ),
            (
                r#"{"alg":"HS512","typ":"JWT"}"#,
                VerifyError::UnsupportedAlgorithm,
            ),
            (
                r#"{"alg":"RS256","typ":"JWT"}"#,
                VerifyError::UnsupportedAlgorithm,
            ),
            (
                r#"{"alg":"hs256","typ":"JWT"}"#,
                VerifyError::UnsupportedAlgorithm,
            ),
            (r#"{"alg":"HS256 "}"#, VerifyError::UnsupportedAlgorithm),
            (r#"{"alg":["HS256"]}"#, VerifyError::UnsupportedAlgorithm),
            (r#"{"alg":null}"#, VerifyError::UnsupportedAlgorithm),
            (r#"{"typ":"JWT"}"#, VerifyError::MissingAlgorithm),
            (r#"{}"#, VerifyError::MissingAlgorithm),
        ];
        for (json, expected) in cases {
            assert_eq!(check(&encode(json)), Err(expected), "{json}");
        }
    }

    #[test]
    fn rejects_bad_typ_crit_duplicates_and_non_objects() {
        let cases = [
            (
                r#"{"alg":"HS256","typ":"JWS"}"#,
                VerifyError::UnsupportedType,
            ),
            (r#"{"alg":"HS256","typ":1}"#, VerifyError::UnsupportedType),
            (
                r#"{"alg":"HS256","crit":["exp"]}"#,
                VerifyError::CriticalHeader,
            ),
            (r#"{"alg":"HS256","crit":[]}"#, VerifyError::CriticalHeader),
            (
                r#"{"alg":"HS256","alg":"HS256"}"#,
                VerifyError::DuplicateHeaderParameter("alg"),
            ),
            (
                r#"{"alg":"none","alg":"HS256"}"#,
                VerifyError::DuplicateHeaderParameter("alg"),
            ),
            (r#"["HS256"]"#, VerifyError::MalformedHeader),
            (r#"{"alg":"HS256"} x"#, VerifyError::MalformedHeader),
        ];
        for (json, expected) in cases {
            assert_eq!(check(&encode(json)), Err(expected), "{json}");
        }
    }

    #[test]
    fn rejects_undecodable_headers() {
        let mut padded = encode(r#"{"alg":"HS256"}"#);
        padded.extend_from_slice(b"==");
        assert_eq!(
            check(&padded),
            Err(VerifyError::InvalidBase64(Segment::Header))
        );
        assert_eq!(
            check(&encode("\u{0}\u{1}")[..1]),
            Err(VerifyError::InvalidBase64(Segment::Header))
        );
        let not_utf8 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xFF, 0xFE, b'{']);
        assert_eq!(check(not_utf8.as_bytes()), Err(VerifyError::HeaderNotUtf8));
        let huge = encode(&format!(r#"{{"alg":"HS256","x":"{}"}}"#, "a".repeat(2000)));
        assert_eq!(check(&huge), Err(VerifyError::HeaderTooLarge));
    }
}
