//! Behaviour of `jwt::Verifier` on whole `Authorization` header values: the HttpArena token,
//! then one test per rejection reason, then a mutation property test.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt::{Segment, Verifier, VerifyError};
use proptest::prelude::*;

const SECRET: &[u8] = b"httparena-bench-secret-do-not-use-in-production";
/// A fixed "now" well before every `exp` used below.
const NOW: u64 = 1_800_000_000;
const HS256_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

fn verifier() -> Verifier {
    Verifier::new(SECRET)
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

/// A token signed with `SECRET` over the given claim-set text.
fn token_with_payload(payload: &str) -> String {
    jwt::sign_payload(payload.as_bytes(), SECRET)
}

fn valid_token() -> String {
    token_with_payload(r#"{"sub":"42","name":"Alice Chen","exp":1807902621}"#)
}

/// A token whose header is the given JSON, correctly signed with `SECRET`.
fn token_with_header(header_json: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(r#"{"sub":"42","exp":1807902621}"#)
    );
    jwt::sign_segments(input, SECRET)
}

fn verify(header_value: &[u8]) -> Result<String, VerifyError> {
    verifier().verify_at(header_value, NOW).map(String::from)
}

#[test]
fn httparena_fixture_token_verifies_to_sub_42() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/httparena/data/jwt-token.txt"
    );
    let Ok(token) = std::fs::read_to_string(fixture) else {
        println!("skipped: HttpArena fixtures not present at {fixture}");
        return;
    };
    assert_eq!(token.len(), 147, "the fixture has no trailing newline");
    // Pinned before the token's exp (1807902621 = 2027-04-16 19:10:21 UTC), so this test does
    // not start failing on that date.
    let before_exp = 1_807_902_620;
    assert_eq!(
        verifier()
            .verify_at(&bearer(&token), before_exp)
            .map(String::from),
        Ok("42".to_string())
    );
    assert_eq!(
        verifier().verify_at(&bearer(&token), 1_807_902_621),
        Err(VerifyError::Expired)
    );
}

#[test]
fn minted_token_verifies_and_matches_the_documented_shape() {
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), "42".into());
    claims.insert("exp".into(), 1_807_902_621u64.into());
    let token = jwt::sign(&claims, SECRET);
    assert!(token.starts_with(&format!("{HS256_HEADER}.")));
    assert!(!token.contains('=') && !token.ends_with('\n'));
    assert_eq!(token.split('.').count(), 3);
    assert_eq!(verify(&bearer(&token)), Ok("42".into()));
}

#[test]
fn valid_token_verifies_with_the_system_clock() {
    // exp ~ year 2096: valid for the lifetime of this code.
    let token = token_with_payload(r#"{"sub":"7","exp":4000000000}"#);
    assert_eq!(
        verifier().verify(&bearer(&token)).map(String::from),
        Ok("7".into())
    );
}

#[test]
fn valid_token_with_integer_sub() {
    let token = token_with_payload(r#"{"sub":42,"exp":1807902621}"#);
    assert_eq!(verify(&bearer(&token)), Ok("42".into()));
}

// --- signature ---

#[test]
fn rejects_tampered_payload() {
    let token = valid_token();
    let (header, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged_payload =
        URL_SAFE_NO_PAD.encode(r#"{"sub":"1","name":"Alice Chen","exp":1807902621}"#);
    let forged = format!("{header}.{forged_payload}.{signature}");
    assert_eq!(verify(&bearer(&forged)), Err(VerifyError::BadSignature));
}

#[test]
fn rejects_tampered_signature() {
    let token = valid_token();
    // Flip one whole sextet in the middle of the signature (keeps the encoding canonical).
    let mut bytes = token.into_bytes();
    let middle = bytes.len() - 20;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        verify(&[b"Bearer ".as_slice(), &bytes].concat()),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn rejects_signature_of_another_secret() {
    let token = jwt::sign_payload(br#"{"sub":"42","exp":1807902621}"#, b"another-secret");
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::BadSignature));
}

#[test]
fn rejects_signature_of_wrong_length() {
    let token = valid_token();
    let short = &token[..token.len() - 3];
    assert_eq!(
        verify(&bearer(short)),
        Err(VerifyError::SignatureLength { len: 30 })
    );
    let long = format!("{token}AAAA");
    assert_eq!(
        verify(&bearer(&long)),
        Err(VerifyError::SignatureLength { len: 35 })
    );
}

// --- algorithm pinning ---

#[test]
fn rejects_alg_none() {
    // Even with an empty-looking "signature" replaced by a well-formed one.
    let token = token_with_header(r#"{"alg":"none","typ":"JWT"}"#);
    assert_eq!(
        verify(&bearer(&token)),
        Err(VerifyError::UnsupportedAlgorithm)
    );
    let unsigned = format!("{}.e30.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
    assert_eq!(
        verify(&bearer(&unsigned)),
        Err(VerifyError::EmptySegment(Segment::Signature))
    );
}

#[test]
fn rejects_alg_hs512() {
    let token = token_with_header(r#"{"alg":"HS512","typ":"JWT"}"#);
    assert_eq!(
        verify(&bearer(&token)),
        Err(VerifyError::UnsupportedAlgorithm)
    );
}

#[test]
fn rejects_alg_rs256() {
    let token = token_with_header(r#"{"alg":"RS256","typ":"JWT"}"#);
    assert_eq!(
        verify(&bearer(&token)),
        Err(VerifyError::UnsupportedAlgorithm)
    );
}

#[test]
fn rejects_alg_lowercase_hs256() {
    let token = token_with_header(r#"{"alg":"hs256","typ":"JWT"}"#);
    assert_eq!(
        verify(&bearer(&token)),
        Err(VerifyError::UnsupportedAlgorithm)
    );
}

#[test]
fn rejects_missing_alg() {
    let token = token_with_header(r#"{"typ":"JWT"}"#);
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::MissingAlgorithm));
}

#[test]
fn rejects_crit_header() {
    let token = token_with_header(r#"{"alg":"HS256","typ":"JWT","crit":["b64"],"b64":false}"#);
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::CriticalHeader));
}

#[test]
fn rejects_typ_other_than_jwt() {
    let token = token_with_header(r#"{"alg":"HS256","typ":"at+jwt"}"#);
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::UnsupportedType));
}

#[test]
fn accepts_uncommon_but_valid_hs256_header() {
    let token = token_with_header(r#"{"kid":"k1","alg":"HS256"}"#);
    assert_eq!(verify(&bearer(&token)), Ok("42".into()));
}

// --- base64url strictness (each token correctly signed over its exact bytes) ---

#[test]
fn rejects_padded_payload() {
    let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"42","exp":1807902621}"#);
    assert_ne!(
        payload.len() % 4,
        0,
        "the payload needs padding for this test"
    );
    let padded = format!("{payload}{}", "=".repeat(4 - payload.len() % 4));
    let token = jwt::sign_segments(format!("{HS256_HEADER}.{padded}"), SECRET);
    assert_eq!(
        verify(&bearer(&token)),
        Err(VerifyError::InvalidBase64(Segment::Payload))
    );
}

#[test]
fn rejects_padded_signature() {
    let token = format!("{}=", valid_token());
    assert_eq!(
        verify(&bearer(&token)),
        Err(VerifyError::InvalidBase64(Segment::Signature))
    );
}

#[test]
fn rejects_padded_header() {
    let token = jwt::sign_segments(format!("{HS256_HEADER}=.e30"), SECRET);
    assert_eq!(
        verify(&bearer(&token)),
        Err(VerifyError::InvalidBase64(Segment::Header))
    );
}

#[test]
fn rejects_non_alphabet_base64() {
    // Standard-alphabet characters '+' and '/' are not base64url.
    let payload = URL_SAFE_NO_PAD
        .encode(r#"{"sub":"42","exp":1807902621,"x":"~~~"}"#)
        .replace('-', "+")
        .replace('_', "/");
    assert!(payload.contains('+') || payload.contains('/'));
    let token = jwt::sign_segments(format!("{HS256_HEADER}.{payload}"), SECRET);
    assert_eq!(
        verify(&bearer(&token)),
        Err(VerifyError::InvalidBase64(Segment::Payload))
    );

    let token = valid_token();
    let with_space = format!("{} ", token);
    assert_eq!(
        verify(&bearer(&with_space)),
        Err(VerifyError::InvalidBase64(Segment::Signature))
    );
}

#[test]
fn rejects_non_canonical_trailing_bits() {
    let token = valid_token();
    // The signature's last character carries 2 unused bits; setting one keeps the decoded
    // bytes identical, so only the canonical-encoding rule can catch it.
    let last = token.as_bytes()[token.len() - 1];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.iter().position(|c| *c == last).unwrap();
    assert_eq!(index & 0b11, 0);
    let mut forged = token.into_bytes();
    *forged.last_mut().unwrap() = alphabet[index | 1];
    assert_eq!(
        verify(&[b"Bearer ".as_slice(), &forged].concat()),
        Err(VerifyError::InvalidBase64(Segment::Signature))
    );
}

// --- framing ---

#[test]
fn rejects_two_segments() {
    let token = valid_token();
    let two = &token[..token.rfind('.').unwrap()];
    assert_eq!(
        verify(&bearer(two)),
        Err(VerifyError::WrongSegmentCount { found: 2 })
    );
}

#[test]
fn rejects_four_segments() {
    let four = format!("{}.AAAA", valid_token());
    assert_eq!(
        verify(&bearer(&four)),
        Err(VerifyError::WrongSegmentCount { found: 4 })
    );
}

#[test]
fn rejects_empty_segments() {
    let token = valid_token();
    let parts: Vec<&str> = token.split('.').collect();
    let cases = [
        (format!(".{}.{}", parts[1], parts[2]), Segment::Header),
        (format!("{}..{}", parts[0], parts[2]), Segment::Payload),
        (format!("{}.{}.", parts[0], parts[1]), Segment::Signature),
    ];
    for (token, segment) in cases {
        assert_eq!(
            verify(&bearer(&token)),
            Err(VerifyError::EmptySegment(segment)),
            "{token}"
        );
    }
    assert_eq!(
        verify(b"Bearer .."),
        Err(VerifyError::EmptySegment(Segment::Header))
    );
}

#[test]
fn rejects_lowercase_bearer() {
    let value = format!("bearer {}", valid_token());
    assert_eq!(verify(value.as_bytes()), Err(VerifyError::NotBearer));
}

#[test]
fn rejects_double_space_after_bearer() {
    let value = format!("Bearer  {}", valid_token());
    // The extra space lands in the header segment, which is then not base64url.
    assert_eq!(
        verify(value.as_bytes()),
        Err(VerifyError::InvalidBase64(Segment::Header))
    );
}

#[test]
fn rejects_other_schemes_and_bare_tokens() {
    let token = valid_token();
    assert_eq!(verify(token.as_bytes()), Err(VerifyError::NotBearer));
    assert_eq!(
        verify(format!("Basic {token}").as_bytes()),
        Err(VerifyError::NotBearer)
    );
    assert_eq!(
        verify(format!("Bearer\t{token}").as_bytes()),
        Err(VerifyError::NotBearer)
    );
    assert_eq!(verify(b"Bearer"), Err(VerifyError::NotBearer));
}

#[test]
fn rejects_missing_header_value() {
    assert_eq!(verify(b""), Err(VerifyError::MissingAuthorization));
}

#[test]
fn rejects_empty_token_after_prefix() {
    assert_eq!(
        verify(b"Bearer "),
        Err(VerifyError::WrongSegmentCount { found: 1 })
    );
}

#[test]
fn rejects_token_of_8_kib_plus_one_before_decoding() {
    // 8193 bytes of something that is not even a token: only the size check can reject it
    // with this error, proving it runs first.
    let oversize = format!("Bearer {}", "!".repeat(jwt::MAX_TOKEN_LEN + 1));
    assert_eq!(
        verify(oversize.as_bytes()),
        Err(VerifyError::TokenTooLarge {
            len: 8193,
            max: 8192
        })
    );
    let at_limit = format!("Bearer {}", "!".repeat(jwt::MAX_TOKEN_LEN));
    assert_eq!(
        verify(at_limit.as_bytes()),
        Err(VerifyError::WrongSegmentCount { found: 1 })
    );
}

#[test]
fn large_but_allowed_claim_sets_verify() {
    // Bigger than the verifier's stack buffer, below the size cap: takes the heap path.
    let payload = format!(
        r#"{{"sub":"42","exp":1807902621,"pad":"{}"}}"#,
        "x".repeat(3000)
    );
    let token = token_with_payload(&payload);
    assert!(token.len() < jwt::MAX_TOKEN_LEN);
    assert_eq!(verify(&bearer(&token)), Ok("42".into()));
}

// --- claims ---

#[test]
fn rejects_expired_token() {
    let token = token_with_payload(r#"{"sub":"42","exp":1799999999}"#);
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::Expired));
    let at_exp = token_with_payload(r#"{"sub":"42","exp":1800000000}"#);
    assert_eq!(verify(&bearer(&at_exp)), Err(VerifyError::Expired));
}

#[test]
fn leeway_accepts_recently_expired_token() {
    let token = token_with_payload(r#"{"sub":"42","exp":1799999990}"#);
    let lenient = verifier().with_leeway(std::time::Duration::from_secs(30));
    assert_eq!(
        lenient.verify_at(&bearer(&token), NOW).map(String::from),
        Ok("42".into())
    );
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::Expired));
}

#[test]
fn rejects_nbf_in_the_future() {
    let token = token_with_payload(r#"{"sub":"42","exp":1900000000,"nbf":1800000001}"#);
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::NotYetValid));
}

#[test]
fn accepts_nbf_in_the_past() {
    let token = token_with_payload(r#"{"sub":"42","exp":1900000000,"nbf":1800000000}"#);
    assert_eq!(verify(&bearer(&token)), Ok("42".into()));
}

#[test]
fn rejects_exp_as_a_string() {
    let token = token_with_payload(r#"{"sub":"42","exp":"1900000000"}"#);
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::ExpiryNotNumeric));
}

#[test]
fn rejects_nbf_as_a_string() {
    let token = token_with_payload(r#"{"sub":"42","exp":1900000000,"nbf":"0"}"#);
    assert_eq!(
        verify(&bearer(&token)),
        Err(VerifyError::NotBeforeNotNumeric)
    );
}

#[test]
fn rejects_missing_exp_unless_configured_optional() {
    let token = token_with_payload(r#"{"sub":"42"}"#);
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::MissingExpiry));
    let optional = verifier().with_exp_required(false);
    assert!(!optional.exp_required());
    assert_eq!(
        optional.verify_at(&bearer(&token), NOW).map(String::from),
        Ok("42".into())
    );
}

#[test]
fn rejects_sub_missing() {
    let token = token_with_payload(r#"{"name":"Alice Chen","exp":1900000000}"#);
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::MissingSubject));
}

#[test]
fn rejects_sub_empty() {
    let token = token_with_payload(r#"{"sub":"","exp":1900000000}"#);
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::EmptySubject));
}

#[test]
fn rejects_sub_object() {
    let token = token_with_payload(r#"{"sub":{"id":42},"exp":1900000000}"#);
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::SubjectWrongType));
}

#[test]
fn rejects_sub_with_cr_lf() {
    let token = token_with_payload(r#"{"sub":"42\r\nX-Admin: true","exp":1900000000}"#);
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::SubjectUnsafe));
}

#[test]
fn rejects_duplicate_claims() {
    let token = token_with_payload(r#"{"sub":"1","sub":"42","exp":1900000000}"#);
    assert_eq!(
        verify(&bearer(&token)),
        Err(VerifyError::DuplicateClaim("sub"))
    );
}

#[test]
fn rejects_non_utf8_payload() {
    let token = jwt::sign_payload(b"{\"sub\":\"4\xFF\",\"exp\":1900000000}", SECRET);
    assert_eq!(verify(&bearer(&token)), Err(VerifyError::PayloadNotUtf8));
}

#[test]
fn rejects_non_json_payload() {
    for payload in [
        "not json",
        "[\"sub\"]",
        r#"{"sub":"42","exp":1900000000} trailing"#,
    ] {
        let token = token_with_payload(payload);
        assert_eq!(
            verify(&bearer(&token)),
            Err(VerifyError::MalformedPayload),
            "{payload}"
        );
    }
}

// --- property: mutations of a valid token never verify and never panic ---

#[derive(Debug, Clone)]
enum Mutation {
    FlipBits { at: usize, mask: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
    Truncate { len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Positions are taken modulo the current length when applied.
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::FlipBits { at, mask }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Delete { at }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
    ]
}

fn apply(value: &mut Vec<u8>, mutation: &Mutation) {
    match *mutation {
        Mutation::FlipBits { at, mask } if !value.is_empty() => {
            let at = at % value.len();
            value[at] ^= mask;
        }
        Mutation::Insert { at, byte } => {
            let at = at % (value.len() + 1);
            value.insert(at, byte);
        }
        Mutation::Delete { at } if !value.is_empty() => {
            let at = at % value.len();
            value.remove(at);
        }
        Mutation::Truncate { len } if !value.is_empty() => {
            value.truncate(len % value.len());
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn mutated_tokens_never_verify(mutations in proptest::collection::vec(mutation(), 1..4)) {
        let original = bearer(&valid_token());
        let mut value = original.clone();
        for mutation in &mutations {
            apply(&mut value, mutation);
        }
        // A mutation sequence can cancel itself out (insert then delete the same byte, or flip
        // the same bits twice); only a changed value must be rejected.
        if value != original {
            let outcome = verifier().verify_at(&value, NOW);
            prop_assert!(outcome.is_err(), "mutated value verified: {:?}", String::from_utf8_lossy(&value));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(value in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut prefixed = b"Bearer ".to_vec();
        prefixed.extend_from_slice(&value);
        prop_assert!(verifier().verify_at(&prefixed, NOW).is_err());
        let _ = verifier().verify_at(&value, NOW);
    }
}
