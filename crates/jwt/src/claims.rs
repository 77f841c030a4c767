//! The registered claims the verifier acts on (RFC 7519 §4.1): `sub`, `exp` and `nbf`. They
//! are only looked at after the signature matched, so nothing here ever sees forged input.

use std::borrow::Cow;
use std::fmt;

use crate::error::VerifyError;
use crate::json::{pick_members, Scalar};

/// The authenticated subject: the token's `sub`, as text that is safe to put in an HTTP header
/// value (HttpArena's edge forwards it as `X-User-Id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject(String);

impl Subject {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Subject {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Subject> for String {
    fn from(subject: Subject) -> Self {
        subject.0
    }
}

/// How the time claims are judged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimePolicy {
    pub now_unix_secs: u64,
    pub leeway_secs: u64,
    pub require_exp: bool,
}

/// Checks the claim set (already known to be UTF-8) and returns its subject.
pub(crate) fn check(json: &str, policy: TimePolicy) -> Result<Subject, VerifyError> {
    const NAMES: &[&str; 3] = &["sub", "exp", "nbf"];
    let picked = pick_members(json, NAMES).ok_or(VerifyError::MalformedPayload)?;
    if let Some(name) = picked.duplicate {
        return Err(VerifyError::DuplicateClaim(name));
    }
    let [sub, exp, nbf] = picked.values;

    let now = i128::from(policy.now_unix_secs);
    let leeway = i128::from(policy.leeway_secs);
    match exp {
        None if policy.require_exp => return Err(VerifyError::MissingExpiry),
        None => {}
        // RFC 7519 §4.1.4: the current time must be before `exp`.
        Some(exp) => match NumericDate::from_scalar(&exp).ok_or(VerifyError::ExpiryNotNumeric)? {
            date if date.is_after(now - leeway) => {}
            _ => return Err(VerifyError::Expired),
        },
    }
    if let Some(nbf) = nbf {
        // RFC 7519 §4.1.5: the current time must be at or after `nbf`.
        if NumericDate::from_scalar(&nbf)
            .ok_or(VerifyError::NotBeforeNotNumeric)?
            .is_after(now + leeway)
        {
            return Err(VerifyError::NotYetValid);
        }
    }
    subject(sub.ok_or(VerifyError::MissingSubject)?)
}

fn subject(sub: Scalar<'_>) -> Result<Subject, VerifyError> {
    match sub {
        Scalar::Str(text) => {
            if text.is_empty() {
                return Err(VerifyError::EmptySubject);
            }
            if !is_header_safe(&text) {
                return Err(VerifyError::SubjectUnsafe);
            }
            Ok(Subject(Cow::into_owned(text)))
        }
        Scalar::Int(n) => Ok(Subject(n.to_string())),
        Scalar::UInt(n) => Ok(Subject(n.to_string())),
        Scalar::Float(_) | Scalar::Other => Err(VerifyError::SubjectWrongType),
    }
}

/// RFC 9110 §5.5 field-value content restricted to ASCII: visible characters, with single
/// spaces allowed inside but not at either end (a proxy would trim those, changing the id).
/// This rules out CR, LF, NUL, every other control and all non-ASCII text.
fn is_header_safe(text: &str) -> bool {
    let bytes = text.as_bytes();
    let visible = |b: &u8| (0x21..=0x7E).contains(b);
    bytes.first().is_some_and(visible)
        && bytes.last().is_some_and(visible)
        && bytes.iter().all(|b| *b == b' ' || visible(b))
}

/// A JSON number of seconds since the epoch (RFC 7519 "NumericDate"), which may be fractional.
#[derive(Debug, Clone, Copy)]
enum NumericDate {
    Whole(i128),
    Fractional(f64),
}

impl NumericDate {
    /// Only JSON numbers qualify: a string, boolean, null or container is not a date.
    fn from_scalar(value: &Scalar<'_>) -> Option<Self> {
        match *value {
            Scalar::Int(n) => Some(Self::Whole(i128::from(n))),
            Scalar::UInt(n) => Some(Self::Whole(i128::from(n))),
            Scalar::Float(f) => Some(Self::Fractional(f)),
            Scalar::Str(_) | Scalar::Other => None,
        }
    }

    /// Whether this date is strictly later than `instant` (whole seconds since the epoch).
    fn is_after(self, instant: i128) -> bool {
        match self {
            Self::Whole(date) => date > instant,
            // Every instant we compare against is far below 2^53, so the cast is exact.
            Self::Fractional(date) => date > instant as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn policy() -> TimePolicy {
        TimePolicy {
            now_unix_secs: NOW,
            leeway_secs: 0,
            require_exp: true,
        }
    }

    fn check_json(json: &str) -> Result<String, VerifyError> {
        check(json, policy()).map(Subject::into_string)
    }

    #[test]
    fn accepts_string_and_integer_subjects() {
        assert_eq!(
            check_json(r#"{"sub":"42","exp":1700000001}"#),
            Ok("42".into())
        );
        assert_eq!(
            check_json(r#"{"sub":42,"exp":1700000001}"#),
            Ok("42".into())
        );
        assert_eq!(
            check_json(r#"{"sub":-7,"exp":1700000001}"#),
            Ok("-7".into())
        );
        assert_eq!(
            check_json(r#"{"sub":"Alice Chen","exp":1700000001}"#),
            Ok("Alice Chen".into())
        );
        assert_eq!(
            check_json(r#"{"sub":"\u0034\u0032","exp":1700000001}"#),
            Ok("42".into())
        );
    }

    #[test]
    fn rejects_unusable_subjects() {
        let cases = [
            (r#"{"exp":1700000001}"#, VerifyError::MissingSubject),
            (r#"{"sub":"","exp":1700000001}"#, VerifyError::EmptySubject),
            (
                r#"{"sub":{},"exp":1700000001}"#,
                VerifyError::SubjectWrongType,
            ),
            (
                r#"{"sub":null,"exp":1700000001}"#,
                VerifyError::SubjectWrongType,
            ),
            (
                r#"{"sub":4.2,"exp":1700000001}"#,
                VerifyError::SubjectWrongType,
            ),
            (
                r#"{"sub":"4\r\nX-Admin: 1","exp":1700000001}"#,
                VerifyError::SubjectUnsafe,
            ),
            (
                r#"{"sub":"4\u00002","exp":1700000001}"#,
                VerifyError::SubjectUnsafe,
            ),
            (
                r#"{"sub":"4\t2","exp":1700000001}"#,
                VerifyError::SubjectUnsafe,
            ),
            (
                r#"{"sub":" 42","exp":1700000001}"#,
                VerifyError::SubjectUnsafe,
            ),
            (
                r#"{"sub":"42 ","exp":1700000001}"#,
                VerifyError::SubjectUnsafe,
            ),
            (
                r#"{"sub":"né","exp":1700000001}"#,
                VerifyError::SubjectUnsafe,
            ),
            (
                r#"{"sub":"1","sub":"2","exp":1700000001}"#,
                VerifyError::DuplicateClaim("sub"),
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(check_json(json), Err(expected), "{json}");
        }
    }

    #[test]
    fn exp_must_be_a_future_number() {
        assert_eq!(
            check_json(r#"{"sub":"1","exp":1700000000}"#),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            check_json(r#"{"sub":"1","exp":1699999999.5}"#),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            check_json(r#"{"sub":"1","exp":1700000000.5}"#),
            Ok("1".into())
        );
        assert_eq!(
            check_json(r#"{"sub":"1","exp":-1}"#),
            Err(VerifyError::Expired)
        );
        for exp in [r#""1800000000""#, "null", "true", "[1800000000]", "{}"] {
            let json = format!(r#"{{"sub":"1","exp":{exp}}}"#);
            assert_eq!(
                check_json(&json),
                Err(VerifyError::ExpiryNotNumeric),
                "{json}"
            );
        }
        assert_eq!(
            check_json(r#"{"sub":"1"}"#),
            Err(VerifyError::MissingExpiry)
        );
        let optional = TimePolicy {
            require_exp: false,
            ..policy()
        };
        assert_eq!(
            check(r#"{"sub":"1"}"#, optional).map(String::from),
            Ok("1".into())
        );
        assert_eq!(
            check(r#"{"sub":"1","exp":"x"}"#, optional),
            Err(VerifyError::ExpiryNotNumeric),
            "an optional exp must still be a number when present"
        );
    }

    #[test]
    fn nbf_when_present_must_be_a_past_number() {
        assert_eq!(
            check_json(r#"{"sub":"1","exp":1800000000,"nbf":1700000000}"#),
            Ok("1".into())
        );
        assert_eq!(
            check_json(r#"{"sub":"1","exp":1800000000,"nbf":1700000001}"#),
            Err(VerifyError::NotYetValid)
        );
        assert_eq!(
            check_json(r#"{"sub":"1","exp":1800000000,"nbf":"0"}"#),
            Err(VerifyError::NotBeforeNotNumeric)
        );
    }

    #[test]
    fn leeway_widens_both_windows() {
        let lenient = TimePolicy {
            leeway_secs: 30,
            ..policy()
        };
        let ok = |json: &str| check(json, lenient).map(String::from);
        assert_eq!(ok(r#"{"sub":"1","exp":1699999971}"#), Ok("1".into()));
        assert_eq!(
            ok(r#"{"sub":"1","exp":1699999970}"#),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            ok(r#"{"sub":"1","exp":1800000000,"nbf":1700000030}"#),
            Ok("1".into())
        );
        assert_eq!(
            ok(r#"{"sub":"1","exp":1800000000,"nbf":1700000031}"#),
            Err(VerifyError::NotYetValid)
        );
    }

    #[test]
    fn huge_dates_do_not_overflow() {
        assert_eq!(
            check_json(r#"{"sub":"1","exp":18446744073709551615}"#),
            Ok("1".into())
        );
        assert_eq!(check_json(r#"{"sub":"1","exp":1e300}"#), Ok("1".into()));
        assert_eq!(
            check_json(r#"{"sub":"1","exp":-9223372036854775808}"#),
            Err(VerifyError::Expired)
        );
        let max_leeway = TimePolicy {
            leeway_secs: u64::MAX,
            ..policy()
        };
        assert!(check(r#"{"sub":"1","exp":0,"nbf":1e300}"#, max_leeway).is_err());
    }

    #[test]
    fn rejects_non_object_claim_sets() {
        for json in ["[]", "\"sub\"", "", r#"{"sub":"1","exp":1800000000}x"#] {
            assert_eq!(
                check_json(json),
                Err(VerifyError::MalformedPayload),
                "{json:?}"
            );
        }
    }
}
