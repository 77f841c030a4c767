//! `GET /api/me`: the user named by `X-User-Id` (set by the edge from the verified JWT).
//! The server trusts that header and never looks at `Authorization`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::keys::Key;
use crate::metrics::Route;
use crate::routes::{cache_aside, counted};
use crate::state::AppState;

pub const X_USER_ID: &str = contract::headers::USER_ID;

pub(crate) fn user_id(headers: &HeaderMap) -> Result<i32, ApiError> {
    let raw = headers
        .get(X_USER_ID)
        .ok_or_else(|| ApiError::unauthorized("missing X-User-Id header"))?;
    raw.to_str()
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .ok_or_else(|| ApiError::unauthorized("X-User-Id must be an integer user id"))
}

pub async fn me(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let response = match user_id(&headers) {
        Ok(id) => user_response(&app, id).await,
        Err(err) => err.into_response(),
    };
    counted(&app, Route::Me, response)
}

pub(crate) async fn user_response(app: &AppState, id: i32) -> Response {
    let db = app.db.clone();
    cache_aside(
        app,
        Key::User(id),
        app.user_ttl,
        || async move { Ok(db.user(id).await?.map(|row| crate::db::user_json(&row))) },
        || format!("no user with id {id}"),
    )
    .await
}
