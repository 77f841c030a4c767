//! `/public/baseline`, `/baseline11` and `/public/json/{count}`: no auth, no cache.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::metrics::Route;
use crate::routes::counted;
use crate::state::AppState;

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// `GET /public/baseline?a=&b=`: the decimal sum, computed per request.
pub async fn baseline(State(app): State<AppState>, RawQuery(query): RawQuery) -> Response {
    counted(
        &app,
        Route::PublicBaseline,
        baseline_response(query.as_deref()),
    )
}

/// `GET /baseline11`: HttpArena's readiness probe (`?a=1&b=1`); same answer as the baseline.
pub async fn baseline11(State(app): State<AppState>, RawQuery(query): RawQuery) -> Response {
    counted(&app, Route::Baseline11, baseline_response(query.as_deref()))
}

pub(crate) fn baseline_response(query: Option<&str>) -> Response {
    match sum_query(query) {
        Ok(sum) => ([(header::CONTENT_TYPE, TEXT_PLAIN)], sum.to_string()).into_response(),
        Err(err) => err.into_response(),
    }
}

/// The first value of `name` in a raw query string.
pub fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// Parses `a` and `b` as 64-bit integers and adds them. Values are plain decimal digits with
/// an optional sign; anything else (including percent-encoded text) is refused.
pub fn sum_query(query: Option<&str>) -> Result<i64, ApiError> {
    let operand = |name: &str| -> Result<i64, ApiError> {
        let raw = query_param(query, name)
            .ok_or_else(|| ApiError::bad_request(format!("query parameter `{name}` is missing")))?;
        raw.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "query parameter `{name}` must be a 64-bit integer, got {raw:?}"
            ))
        })
    };
    let (a, b) = (operand("a")?, operand("b")?);
    a.checked_add(b)
        .ok_or_else(|| ApiError::bad_request(format!("{a} + {b} overflows a 64-bit integer")))
}

/// `GET /public/json/{count}[?m=]`: the first `count` (0–50) dataset items with `total`.
pub async fn json(
    State(app): State<AppState>,
    count: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let response = match json_body(&app, count, query.as_deref()) {
        Ok(body) => ([(header::CONTENT_TYPE, APPLICATION_JSON)], body).into_response(),
        Err(err) => err.into_response(),
    };
    counted(&app, Route::PublicJson, response)
}

fn json_body(
    app: &AppState,
    count: Result<Path<String>, PathRejection>,
    query: Option<&str>,
) -> Result<Vec<u8>, ApiError> {
    let Path(raw) = count.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let count: i64 = raw
        .parse()
        .map_err(|_| ApiError::bad_request(format!("count must be an integer, got {raw:?}")))?;
    // Like the reference: a missing or non-integer `m` means 1.
    let m = query_param(query, "m")
        .and_then(|m| m.parse::<i64>().ok())
        .unwrap_or(1);
    app.dataset.priced_json(count, m).map_err(|overflow| {
        ApiError::bad_request(format!(
            "total of item {} overflows a 64-bit integer with m={m}",
            overflow.id
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_refuses() {
        assert_eq!(sum_query(Some("a=13&b=42")).unwrap(), 55);
        assert_eq!(sum_query(Some("b=-5&a=2&a=9")).unwrap(), -3);
        for bad in [
            None,
            Some("a=1"),
            Some("a=x&b=1"),
            Some("a=1&b=1.5"),
            Some("a=&b=2"),
        ] {
            let err = sum_query(bad).unwrap_err();
            assert_eq!(err.status, 400, "{bad:?}");
        }
        let err = sum_query(Some(&format!("a={}&b=1", i64::MAX))).unwrap_err();
        assert!(err.message.contains("overflows"), "{}", err.message);
        assert!(sum_query(Some("a=1")).unwrap_err().message.contains("`b`"));
    }
}
