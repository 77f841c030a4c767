//! Proof that a request came through our edge. The app server trusts `X-User-Id` (the edge
//! sets it from a verified token), so a client that reaches the app port directly could claim
//! any user. Two defences, both on by default under `prodstack up`:
//!
//! 1. The app port listens on loopback (`LISTEN=127.0.0.1:8080`); the edges run on the same
//!    host, and HttpArena's probe asks `localhost:8080`.
//! 2. With `EDGE_SECRET` set, every app route requires `X-Edge-Secret: <secret>`, compared
//!    in constant time; a request without it gets `401` JSON and reaches no handler. Both
//!    edges add the header (nginx with `proxy_set_header`, ours in-process or on its proxied
//!    hop) and drop any value a client sent. The health probes (`/healthz`, `/readyz`,
//!    `/baseline11`) stay open: they trust nothing and reveal nothing.
//!
//! This is what makes a non-loopback `LISTEN` (an edge on another host) safe; the server
//! warns at start when it listens beyond loopback without a secret.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use subtle::ConstantTimeEq;

/// The header the edge proves itself with.
pub const HEADER: HeaderName = HeaderName::from_static(contract::headers::EDGE_SECRET);

/// Shortest secret accepted: 128 bits of hex.
pub const MIN_LEN: usize = 32;

/// The shared secret. Its `Debug` never shows it.
#[derive(Clone)]
pub struct EdgeSecret {
    bytes: Arc<[u8]>,
    header: HeaderValue,
}

impl std::fmt::Debug for EdgeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EdgeSecret({} bytes)", self.bytes.len())
    }
}

impl EdgeSecret {
    /// At least [`MIN_LEN`] visible ASCII characters (it travels in a header).
    pub fn new(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() < MIN_LEN {
            return Err(format!(
                "must be at least {MIN_LEN} characters (e.g. 32 random bytes as hex)"
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be visible ASCII without spaces (it is sent as a header)".into());
        }
        let mut header = HeaderValue::from_str(text).map_err(|e| e.to_string())?;
        header.set_sensitive(true);
        Ok(Self {
            bytes: Arc::from(text.as_bytes()),
            header,
        })
    }

    /// The value the edge sends.
    pub fn header_value(&self) -> HeaderValue {
        self.header.clone()
    }

    /// Whether `headers` carry exactly this secret (once), compared in constant time.
    pub fn verify(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(HEADER).iter();
        match (values.next(), values.next()) {
            (Some(value), None) => bool::from(value.as_bytes().ct_eq(&self.bytes)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_exactly_the_secret_once() {
        let secret = EdgeSecret::new(&"a".repeat(32)).unwrap();
        let mut headers = HeaderMap::new();
        assert!(!secret.verify(&headers));
        headers.insert(HEADER, HeaderValue::from_static("aaaa"));
        assert!(!secret.verify(&headers));
        headers.insert(HEADER, secret.header_value());
        assert!(secret.verify(&headers));
        headers.append(HEADER, secret.header_value());
        assert!(!secret.verify(&headers), "two values are refused");
        assert!(!format!("{secret:?}").contains("aaaa"));
    }

    #[test]
    fn short_or_unprintable_secrets_are_refused() {
        assert!(EdgeSecret::new("short").is_err());
        assert!(EdgeSecret::new(&format!("{} x", "a".repeat(32))).is_err());
        assert!(EdgeSecret::new(&format!("{}\u{e9}", "a".repeat(32))).is_err());
    }
}
