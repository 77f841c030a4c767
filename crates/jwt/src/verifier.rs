//! [`Verifier`]: one `Authorization` header value in, the verified subject (or the reason for
//! rejection) out.
//!
//! The order of the checks is the security argument, cheapest and most hostile first:
//! 1. size cap and exact `Bearer ` prefix, before any decoding;
//! 2. exactly three non-empty dot-separated segments;
//! 3. header pins HS256 (fast byte comparison for the usual headers);
//! 4. signature: strict base64url, exactly 32 bytes, HMAC-SHA256 over the received
//!    `header.payload` bytes, compared in constant time;
//! 5. only then is the payload decoded and its claims examined.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::base64url;
use crate::claims::{self, Subject, TimePolicy};
use crate::error::{Segment, VerifyError};
use crate::header;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The exact, case-sensitive scheme prefix (one space), as HttpArena's authsvc requires.
pub const BEARER_PREFIX: &[u8] = b"Bearer ";

/// Largest accepted token (the part after `Bearer `), in bytes. HS256 tokens with a handful of
/// claims are a few hundred bytes; the cap bounds the work done for a hostile header.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// An HMAC-SHA256 tag is 32 bytes.
const SIGNATURE_LEN: usize = 32;

/// Claim sets up to this size are decoded on the stack; larger ones (rare) use the heap.
const STACK_PAYLOAD: usize = 512;

/// A strict HS256 verifier with its key schedule computed once.
///
/// `Hmac<Sha256>` holds the inner and outer SHA-256 states already absorbed with the padded
/// key, so cloning it per token skips two of the five compression rounds a fresh keying
/// needs for a typical token (~30 % of the HMAC cost).
#[derive(Clone)]
pub struct Verifier {
    keyed: HmacSha256,
    leeway_secs: u64,
    require_exp: bool,
}

impl std::fmt::Debug for Verifier {
    // The keyed state is derived from the secret, so it is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("leeway_secs", &self.leeway_secs)
            .field("require_exp", &self.require_exp)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for tokens signed with `secret`: no leeway, `exp` required.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            keyed: keyed_hmac(secret),
            leeway_secs: 0,
            require_exp: true,
        }
    }

    /// Clock skew tolerated on `exp` and `nbf` (whole seconds; default zero).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway_secs = leeway.as_secs();
        self
    }

    /// Whether a token without `exp` is rejected (default `true`). A present `exp` is always
    /// checked, and must always be a number.
    pub fn with_exp_required(mut self, required: bool) -> Self {
        self.require_exp = required;
        self
    }

    pub fn leeway(&self) -> Duration {
        Duration::from_secs(self.leeway_secs)
    }

    pub fn exp_required(&self) -> bool {
        self.require_exp
    }

    /// Verifies a whole `Authorization` header value against the system clock.
    pub fn verify(&self, authorization: &[u8]) -> Result<Subject, VerifyError> {
        self.verify_at(authorization, unix_now())
    }

    /// Verifies a whole `Authorization` header value as if the time were `now_unix_secs`.
    pub fn verify_at(
        &self,
        authorization: &[u8],
        now_unix_secs: u64,
    ) -> Result<Subject, VerifyError> {
        let token = bearer_token(authorization)?;
        let Segments {
            header: header_b64,
            payload: payload_b64,
            signature: signature_b64,
        } = split_segments(token)?;
        header::check(header_b64)?;

        // The signing input is the received `header.payload` bytes, never a re-encoding.
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        self.check_signature(signing_input, signature_b64)?;

        let mut stack = [0u8; STACK_PAYLOAD];
        let mut heap = Vec::new();
        let out: &mut [u8] = match base64url::decoded_len(payload_b64.len()) {
            Some(len) if len > STACK_PAYLOAD => {
                heap.resize(len, 0);
                &mut heap
            }
            _ => &mut stack,
        };
        let len = base64url::decode_into(payload_b64, out)
            .map_err(|_| VerifyError::InvalidBase64(Segment::Payload))?;
        let json = std::str::from_utf8(&out[..len]).map_err(|_| VerifyError::PayloadNotUtf8)?;
        claims::check(
            json,
            TimePolicy {
                now_unix_secs,
                leeway_secs: self.leeway_secs,
                require_exp: self.require_exp,
            },
        )
    }

    fn check_signature(
        &self,
        signing_input: &[u8],
        signature_b64: &[u8],
    ) -> Result<(), VerifyError> {
        // Anything that could decode to more than 32 bytes is reported by its length without
        // being decoded; a buffer of 33 still lets padding or bad bytes be named as such.
        let mut signature = [0u8; SIGNATURE_LEN + 1];
        let decoded = match base64url::decoded_len(signature_b64.len()) {
            Some(len) if len > signature.len() => Err(VerifyError::SignatureLength { len }),
            _ => base64url::decode_into(signature_b64, &mut signature)
                .map_err(|_| VerifyError::InvalidBase64(Segment::Signature)),
        };
        let len = decoded.map_err(|err| {
            // A dot in the signature segment is really a fourth segment (see `split_segments`).
            match signature_b64.iter().filter(|b| **b == b'.').count() {
                0 => err,
                dots => VerifyError::WrongSegmentCount { found: 3 + dots },
            }
        })?;
        if len != SIGNATURE_LEN {
            return Err(VerifyError::SignatureLength { len });
        }
        let mut mac = self.keyed.clone();
        mac.update(signing_input);
        // `verify_slice` compares in constant time (`subtle`), so timing reveals nothing about
        // how many leading bytes of a forged tag were right.
        mac.verify_slice(&signature[..SIGNATURE_LEN])
            .map_err(|_| VerifyError::BadSignature)
    }
}

/// The token after the `Bearer ` prefix, size-capped.
fn bearer_token(authorization: &[u8]) -> Result<&[u8], VerifyError> {
    if authorization.is_empty() {
        return Err(VerifyError::MissingAuthorization);
    }
    let token = authorization
        .strip_prefix(BEARER_PREFIX)
        .ok_or(VerifyError::NotBearer)?;
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::TokenTooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    Ok(token)
}

/// The three encoded parts of a compact JWS.
#[derive(Debug, PartialEq, Eq)]
struct Segments<'a> {
    header: &'a [u8],
    payload: &'a [u8],
    signature: &'a [u8],
}

/// Splits a compact JWS at its first two dots; none of the three segments may be empty.
///
/// The signature segment is not searched for a third dot here: a dot is not base64url, so
/// strict decoding rejects it anyway, and [`Verifier::check_signature`] then reports it as the
/// segment-count error it is. That keeps the success path to one scan of header and payload.
fn split_segments(token: &[u8]) -> Result<Segments<'_>, VerifyError> {
    let wrong_count = || VerifyError::WrongSegmentCount {
        found: count_segments(token),
    };
    let header_end = find_dot(token).ok_or_else(wrong_count)?;
    let (header, rest) = (&token[..header_end], &token[header_end + 1..]);
    let payload_end = find_dot(rest).ok_or_else(wrong_count)?;
    let (payload, signature) = (&rest[..payload_end], &rest[payload_end + 1..]);
    for (segment, which) in [
        (header, Segment::Header),
        (payload, Segment::Payload),
        (signature, Segment::Signature),
    ] {
        if segment.is_empty() {
            return Err(VerifyError::EmptySegment(which));
        }
    }
    Ok(Segments {
        header,
        payload,
        signature,
    })
}

fn count_segments(token: &[u8]) -> usize {
    token.split(|b| *b == b'.').count()
}

/// Index of the first `.` in `bytes`, eight bytes per step.
///
/// SWAR ("SIMD within a register"): XOR with `....` turns dots into zero bytes, and
/// `(x - 0x01..) & !x & 0x80..` flags zero bytes. A flag can be spurious only above a real
/// zero byte (borrow propagation), so the lowest flag is always exact.
fn find_dot(bytes: &[u8]) -> Option<usize> {
    const DOTS: u64 = u64::from_ne_bytes([b'.'; 8]);
    const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ DOTS;
        let found = x.wrapping_sub(LOW) & !x & HIGH;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|b| *b == b'.')
        .map(|i| offset + i)
}

pub(crate) fn keyed_hmac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (longer ones are hashed first), so this cannot fail; the
    // match keeps a panic off every path anyway.
    match <HmacSha256 as KeyInit>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of every length"),
    }
}

fn unix_now() -> u64 {
    // A clock before 1970 is a broken host; treating it as the epoch still rejects every token
    // whose `nbf` is set and accepts nothing that has expired relative to the epoch.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_exactly_three_segments() {
        assert_eq!(
            split_segments(b"a.b.c"),
            Ok(Segments {
                header: b"a",
                payload: b"b",
                signature: b"c"
            })
        );
        assert_eq!(
            split_segments(b"a.b"),
            Err(VerifyError::WrongSegmentCount { found: 2 })
        );
        assert_eq!(
            split_segments(b"a.b.c.d"),
            Ok(Segments {
                header: b"a",
                payload: b"b",
                signature: b"c.d"
            }),
            "the signature check classifies the extra dot"
        );
        assert_eq!(
            split_segments(b"abc"),
            Err(VerifyError::WrongSegmentCount { found: 1 })
        );
        assert_eq!(
            split_segments(b".b.c"),
            Err(VerifyError::EmptySegment(Segment::Header))
        );
        assert_eq!(
            split_segments(b"a..c"),
            Err(VerifyError::EmptySegment(Segment::Payload))
        );
        assert_eq!(
            split_segments(b"a.b."),
            Err(VerifyError::EmptySegment(Segment::Signature))
        );
    }

    #[test]
    fn signature_segment_with_dots_counts_as_extra_segments() {
        let verifier = Verifier::new(b"k");
        for (token, found) in [
            ("e30.AAAA.BBBB", 4),
            ("e30.AAAA.", 4),
            ("e30.A.B.C", 5),
            (&format!("e30.{}.x", "A".repeat(100)), 4),
        ] {
            let value = format!(
                "Bearer {}.{token}",
                header::KNOWN_HS256_HEADERS[0].escape_ascii()
            );
            assert_eq!(
                verifier.verify_at(value.as_bytes(), 0),
                Err(VerifyError::WrongSegmentCount { found }),
                "{token}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn find_dot_agrees_with_a_naive_search(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![4 => proptest::prelude::any::<u8>(), 1 => proptest::strategy::Just(b'.')],
                0..80,
            )
        ) {
            proptest::prop_assert_eq!(find_dot(&bytes), bytes.iter().position(|b| *b == b'.'));
        }
    }

    #[test]
    fn debug_output_hides_the_key() {
        let printed = format!("{:?}", Verifier::new(b"super-secret"));
        assert!(
            printed.contains("leeway_secs") && !printed.contains("keyed"),
            "{printed}"
        );
    }
}
