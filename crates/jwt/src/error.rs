//! Why a token was rejected. One variant per reason, so logs and tests can tell them apart;
//! none of them carries token bytes, so logging an error never echoes attacker input.

/// The part of a compact JWS a decoding error was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Header,
    Payload,
    Signature,
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Segment::Header => "header",
            Segment::Payload => "payload",
            Segment::Signature => "signature",
        })
    }
}

/// A rejected `Authorization` header value. Every variant means "answer 401".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    // --- framing, checked before any decoding ---
    #[error("token is {len} bytes, more than the {max}-byte limit")]
    TokenTooLarge { len: usize, max: usize },
    #[error("authorization header is empty")]
    MissingAuthorization,
    #[error("authorization header does not start with the exact prefix `Bearer `")]
    NotBearer,
    #[error("token has {found} dot-separated segments, expected 3")]
    WrongSegmentCount { found: usize },
    #[error("token has an empty {0} segment")]
    EmptySegment(Segment),
    #[error("{0} segment is not strict unpadded base64url")]
    InvalidBase64(Segment),

    // --- JOSE header ---
    #[error("header is not UTF-8")]
    HeaderNotUtf8,
    #[error("header is not a JSON object")]
    MalformedHeader,
    #[error("header is larger than any HS256 header needs to be")]
    HeaderTooLarge,
    #[error("header repeats the `{0}` parameter")]
    DuplicateHeaderParameter(&'static str),
    #[error("header has no `alg`")]
    MissingAlgorithm,
    #[error("header `alg` is not HS256")]
    UnsupportedAlgorithm,
    #[error("header `typ` is present and not JWT")]
    UnsupportedType,
    #[error("header has a `crit` parameter, which this verifier does not understand")]
    CriticalHeader,

    // --- signature ---
    #[error("signature decodes to {len} bytes, expected 32")]
    SignatureLength { len: usize },
    #[error("signature does not match")]
    BadSignature,

    // --- claims, only examined after the signature matched ---
    #[error("payload is not UTF-8")]
    PayloadNotUtf8,
    #[error("payload is not a JSON object")]
    MalformedPayload,
    #[error("payload repeats the `{0}` claim")]
    DuplicateClaim(&'static str),
    #[error("`sub` claim is missing")]
    MissingSubject,
    #[error("`sub` claim is empty")]
    EmptySubject,
    #[error("`sub` claim is neither a string nor an integer")]
    SubjectWrongType,
    #[error("`sub` claim has characters that are unsafe in an HTTP header value")]
    SubjectUnsafe,
    #[error("`exp` claim is missing")]
    MissingExpiry,
    #[error("`exp` claim is not a number")]
    ExpiryNotNumeric,
    #[error("token expired")]
    Expired,
    #[error("`nbf` claim is not a number")]
    NotBeforeNotNumeric,
    #[error("token is not valid yet (`nbf` is in the future)")]
    NotYetValid,
}
