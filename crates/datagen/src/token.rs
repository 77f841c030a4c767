//! `data/jwt-token.txt`: the bearer token the load and the validation send to `/api/*`.
//!
//! Same shape as HttpArena's: HS256, claims `{"sub":"42","name":"Alice Chen","exp":…}` in that
//! order, no trailing newline, signed with `JWT_SECRET` (HttpArena's default when unset). It is
//! minted with a one-year lifetime and re-minted when it would expire within a week or was not
//! signed with the current secret, so a long-lived home never hands out a dead token.

use std::time::{SystemTime, UNIX_EPOCH};

/// Subject and display name of the benchmark user (`users` row 42).
pub const SUBJECT: &str = contract::BENCH_USER_SUBJECT;
pub const NAME: &str = contract::BENCH_USER_NAME;

/// A minted token is valid this long.
pub const LIFETIME_SECS: u64 = 365 * 24 * 60 * 60;

/// A token that expires sooner than this is replaced even without `--force`.
pub const REFRESH_WINDOW_SECS: u64 = 7 * 24 * 60 * 60;

/// `$JWT_SECRET` when set and non-empty, otherwise HttpArena's [`contract::BENCH_SECRET`].
pub fn secret_from_env() -> String {
    std::env::var(contract::env::JWT_SECRET)
        .ok()
        .filter(|secret| !secret.is_empty())
        .unwrap_or_else(|| contract::BENCH_SECRET.to_owned())
}

/// Seconds since the Unix epoch.
pub fn now_unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// The claim set, compact and in HttpArena's order: `{"sub":"42","name":"Alice Chen","exp":N}`.
///
/// Written out rather than built as a `serde_json::Map`: without serde_json's `preserve_order`
/// feature a map sorts its keys, and turning that feature on here would silently change
/// key order for every crate built together with this one.
pub fn claims_json(exp: u64) -> String {
    format!(r#"{{"sub":"{SUBJECT}","name":"{NAME}","exp":{exp}}}"#)
}

/// A token for user 42 that expires [`LIFETIME_SECS`] after `now`.
pub fn mint(secret: &[u8], now: u64) -> String {
    jwt::sign_payload(claims_json(now + LIFETIME_SECS).as_bytes(), secret)
}

/// Why an existing token can or cannot be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// Verifies with the secret, names user 42, and stays valid for more than a week.
    Usable,
    /// Verifies, but has expired or expires within [`REFRESH_WINDOW_SECS`].
    ExpiresSoon,
    /// Not a token this secret signed for user 42 (another secret, other claims, garbage).
    Unusable(String),
}

/// Checks a token read from disk against `secret` at time `now`, with the same strict
/// verifier the stack uses ([`jwt::Verifier`]).
pub fn check(token: &str, secret: &[u8], now: u64) -> TokenCheck {
    let verifier = jwt::Verifier::new(secret);
    let authorization = format!("Bearer {token}");
    match verifier.verify_at(authorization.as_bytes(), now) {
        Ok(subject) if subject.as_str() != SUBJECT => {
            TokenCheck::Unusable(format!("its subject is {subject}, not {SUBJECT}"))
        }
        Ok(_) => match verifier.verify_at(authorization.as_bytes(), now + REFRESH_WINDOW_SECS) {
            Ok(_) => TokenCheck::Usable,
            Err(jwt::VerifyError::Expired) => TokenCheck::ExpiresSoon,
            Err(err) => TokenCheck::Unusable(err.to_string()),
        },
        Err(jwt::VerifyError::Expired) => TokenCheck::ExpiresSoon,
        Err(jwt::VerifyError::BadSignature) => TokenCheck::Unusable(format!(
            "it is not signed with the current {}",
            contract::env::JWT_SECRET
        )),
        Err(err) => TokenCheck::Unusable(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_checked_by_secret_subject_and_expiry() {
        let now = 1_800_000_000;
        let token = mint(b"s3cret", now);
        assert!(!token.ends_with('\n'));
        assert_eq!(check(&token, b"s3cret", now), TokenCheck::Usable);
        assert!(matches!(
            check(&token, b"other", now),
            TokenCheck::Unusable(_)
        ));
        let later = now + LIFETIME_SECS - REFRESH_WINDOW_SECS;
        assert!(matches!(
            check(&token, b"s3cret", later),
            TokenCheck::ExpiresSoon
        ));
        assert_eq!(
            check(&token, b"s3cret", now + 2 * LIFETIME_SECS),
            TokenCheck::ExpiresSoon
        );
        let stranger = jwt::sign_payload(br#"{"sub":"7","exp":1900000000}"#, b"s3cret");
        assert!(matches!(
            check(&stranger, b"s3cret", now),
            TokenCheck::Unusable(why) if why.contains("not 42")
        ));
        assert!(matches!(
            check("garbage", b"s3cret", now),
            TokenCheck::Unusable(_)
        ));
    }

    #[test]
    fn claims_keep_httparenas_order_and_parse_as_json() {
        let json = claims_json(7);
        assert_eq!(json, r#"{"sub":"42","name":"Alice Chen","exp":7}"#);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["sub"], "42");
        assert_eq!(parsed["exp"], 7);
    }
}
