//! Strict HS256 JWT verification with a pre-keyed HMAC, and token minting.
//!
//! ```
//! let secret = b"correct horse battery staple";
//! let mut claims = serde_json::Map::new();
//! claims.insert("sub".into(), "42".into());
//! claims.insert("exp".into(), 2_000_000_000u64.into());
//! let header = format!("Bearer {}", jwt::sign(&claims, secret));
//!
//! let verifier = jwt::Verifier::new(secret);
//! assert_eq!(verifier.verify_at(header.as_bytes(), 1_900_000_000).unwrap().as_str(), "42");
//! assert_eq!(
//!     verifier.verify_at(header.as_bytes(), 2_000_000_000),
//!     Err(jwt::VerifyError::Expired),
//! );
//! ```
//!
//! Modules, in the order a token meets them: [`verifier`] (framing, order of checks),
//! `header` (algorithm pinning), `base64url` (strict decoding), `claims` (`sub`/`exp`/`nbf`),
//! and [`sign`](fn@sign) for minting.

mod base64url;
mod claims;
mod error;
mod header;
mod json;
mod sign;
pub mod verifier;

pub use claims::Subject;
pub use error::{Segment, VerifyError};
pub use sign::{sign, sign_payload, sign_segments, HS256_HEADER_JSON};
pub use verifier::{Verifier, BEARER_PREFIX, MAX_TOKEN_LEN};
