//! Token minting, for tests, data generation and benchmarks (the stack itself only verifies).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac;

use crate::verifier::keyed_hmac;

/// The header every token minted here carries.
pub const HS256_HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Mints an HS256 JWT: `base64url(header) . base64url(claims) . base64url(HMAC-SHA256)`,
/// unpadded, no trailing newline. The header is [`HS256_HEADER_JSON`]; the claims are
/// serialized compactly, in the map's iteration order.
pub fn sign(claims: &serde_json::Map<String, serde_json::Value>, secret: &[u8]) -> String {
    // Serializing a `Map` of `Value`s cannot fail (keys are strings, numbers are finite), so
    // `to_string` of the `Value::Object` is used: it is infallible by construction.
    let payload = serde_json::Value::Object(claims.clone()).to_string();
    sign_payload(payload.as_bytes(), secret)
}

/// Mints an HS256 JWT over raw claim-set bytes, which need not be valid JSON. Tests use it to
/// build correctly signed tokens whose payload must still be rejected.
pub fn sign_payload(payload: &[u8], secret: &[u8]) -> String {
    let mut token = URL_SAFE_NO_PAD.encode(HS256_HEADER_JSON);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    sign_segments(token, secret)
}

/// Appends `.signature` to an already encoded `header.payload`, signing those exact bytes.
/// Tests use it to build signed tokens with unusual headers or encodings.
pub fn sign_segments(mut signing_input: String, secret: &[u8]) -> String {
    let mut mac = keyed_hmac(secret);
    mac.update(signing_input.as_bytes());
    signing_input.push('.');
    URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut signing_input);
    signing_input
}
