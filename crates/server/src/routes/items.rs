//! `GET /api/items/{id}` (cache-aside) and `POST /api/items/{id}` (write, then invalidate).

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use std::time::Duration;

use crate::body;
use crate::error::ApiError;
use crate::keys::Key;
use crate::metrics::Route;
use crate::routes::{cache_aside, counted};
use crate::state::AppState;

pub use crate::body::MAX_BODY_BYTES;

/// How long a write body may take to arrive in full (nginx's `client_body_timeout` default).
const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// The item id from the path. Ids are Postgres `int4`: a non-integer is a client error (400);
/// an integer that cannot be an id (≤ 0 or beyond `int4`) simply names no item (404).
fn item_id(path: Result<Path<String>, PathRejection>) -> Result<i32, ApiError> {
    let Path(raw) = path.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let wide: i128 = raw
        .parse()
        .map_err(|_| ApiError::bad_request(format!("item id must be an integer, got {raw:?}")))?;
    match i32::try_from(wide) {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::not_found(format!("no item with id {raw}"))),
    }
}

pub async fn get_item(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let response = match item_id(path) {
        Ok(id) => item_response(&app, id).await,
        Err(err) => err.into_response(),
    };
    counted(&app, Route::ItemGet, response)
}

pub(crate) async fn item_response(app: &AppState, id: i32) -> Response {
    let db = app.db.clone();
    cache_aside(
        app,
        Key::Item(id),
        app.item_ttl,
        || async move { Ok(db.item(id).await?.map(|row| row.to_json())) },
        || format!("no item with id {id}"),
    )
    .await
}

/// The body of a write: `{"name": string, "price": int, "quantity": int}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemUpdate {
    pub name: String,
    pub price: i32,
    pub quantity: i32,
}

/// Parses a write body. Property names are matched case-insensitively (like the reference's
/// System.Text.Json setting), surrounding whitespace such as the benchmark's trailing newline
/// is fine, other properties are ignored. Every error names the field.
pub fn parse_update(body: &[u8]) -> Result<ItemUpdate, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("request body is not valid JSON: {err}")))?;
    let Value::Object(object) = value else {
        return Err(ApiError::bad_request(
            "request body must be a JSON object with `name`, `price` and `quantity`",
        ));
    };
    let field = |name: &str| -> Result<&Value, ApiError> {
        let mut found = object.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
        let (_, value) = found
            .next()
            .ok_or_else(|| ApiError::bad_request(format!("missing field `{name}`")))?;
        if found.next().is_some() {
            return Err(ApiError::bad_request(format!(
                "field `{name}` is given more than once"
            )));
        }
        Ok(value)
    };
    let int = |name: &str| -> Result<i32, ApiError> {
        field(name)?
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "field `{name}` must be an integer between {} and {}",
                    i32::MIN,
                    i32::MAX
                ))
            })
    };
    let name = field("name")?
        .as_str()
        .ok_or_else(|| ApiError::bad_request("field `name` must be a string"))?;
    if name.contains('\0') {
        // Postgres text cannot hold NUL; refuse it here instead of failing the UPDATE.
        return Err(ApiError::bad_request(
            "field `name` must not contain NUL characters",
        ));
    }
    Ok(ItemUpdate {
        name: name.to_string(),
        price: int("price")?,
        quantity: int("quantity")?,
    })
}

async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    body::read_limited(body, declared, MAX_BODY_BYTES, BODY_TIMEOUT)
        .await
        .map_err(ApiError::from)
}

pub async fn post_item(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let response = match write_item(&app, path, &headers, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => err.into_response(),
    };
    counted(&app, Route::ItemPost, response)
}

/// UPDATE, then invalidate (L1 + generation, Redis `DEL`, backplane `PUBLISH`), then 204.
async fn write_item(
    app: &AppState,
    path: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), ApiError> {
    let id = item_id(path)?;
    let body = read_body(headers, body).await?;
    let update = parse_update(&body)?;
    let changed = app
        .db
        .update_item(id, &update.name, update.price, update.quantity)
        .await?;
    if changed == 0 {
        return Err(ApiError::not_found(format!("no item with id {id}")));
    }
    app.cache.invalidate(&Key::Item(id)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_benchmark_body_and_variants() {
        let expected = ItemUpdate {
            name: "bench-updated".into(),
            price: 250,
            quantity: 10,
        };
        let body = b"{\"name\":\"bench-updated\",\"price\":250,\"quantity\":10}\n";
        assert_eq!(parse_update(body).unwrap(), expected);
        let shouting = b"{\"NAME\":\"bench-updated\",\"Price\":250,\"quantity\":10,\"x\":1}";
        assert_eq!(parse_update(shouting).unwrap(), expected);
    }

    #[test]
    fn errors_name_the_field() {
        for (body, needle) in [
            (&b"{\"price\":1,\"quantity\":2}"[..], "`name`"),
            (b"{\"name\":\"a\",\"quantity\":2}", "`price`"),
            (
                b"{\"name\":\"a\",\"price\":\"1\",\"quantity\":2}",
                "`price`",
            ),
            (b"{\"name\":\"a\",\"price\":1.5,\"quantity\":2}", "`price`"),
            (
                b"{\"name\":\"a\",\"price\":1,\"quantity\":3000000000}",
                "`quantity`",
            ),
            (b"{\"name\":7,\"price\":1,\"quantity\":2}", "`name`"),
            (
                b"{\"name\":\"a\",\"NAME\":\"b\",\"price\":1,\"quantity\":2}",
                "`name`",
            ),
            (b"{\"name\":\"a\\u0000\",\"price\":1,\"quantity\":2}", "NUL"),
            (b"[1,2]", "JSON object"),
            (b"null", "JSON object"),
            (b"{\"name\":", "not valid JSON"),
            (b"", "not valid JSON"),
        ] {
            let err = parse_update(body).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
            assert!(
                err.message.contains(needle),
                "{}: {}",
                String::from_utf8_lossy(body),
                err.message
            );
        }
    }

    #[test]
    fn ids() {
        let ok = |s: &str| item_id(Ok(Path(s.to_string())));
        assert_eq!(ok("7").unwrap(), 7);
        assert_eq!(ok("abc").unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(ok("1.5").unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(ok("0").unwrap_err().status, StatusCode::NOT_FOUND);
        assert_eq!(ok("-3").unwrap_err().status, StatusCode::NOT_FOUND);
        assert_eq!(ok("99999999999").unwrap_err().status, StatusCode::NOT_FOUND);
        assert_eq!(
            ok("9999999999999999999999999999999999999999")
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
    }
}
