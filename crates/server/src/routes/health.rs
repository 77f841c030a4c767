//! `/healthz` (the process is up and listening) and `/readyz` (Postgres answers).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::metrics::Route;
use crate::routes::counted;
use crate::state::AppState;

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

pub async fn healthz(State(app): State<AppState>) -> Response {
    let response = (
        [(header::CONTENT_TYPE, APPLICATION_JSON)],
        "{\"status\":\"ok\"}",
    )
        .into_response();
    counted(&app, Route::Healthz, response)
}

pub async fn readyz(State(app): State<AppState>) -> Response {
    let response = readyz_response(&app).await;
    counted(&app, Route::Readyz, response)
}

pub(crate) async fn readyz_response(app: &AppState) -> Response {
    let redis = match app.cache.l2() {
        None => "disabled",
        Some(l2) if l2.ping().await => "up",
        Some(_) => "down",
    };
    if app.db.ping().await {
        let body = serde_json::json!({"status": "ready", "postgres": "up", "redis": redis});
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, APPLICATION_JSON)],
            body.to_string(),
        )
            .into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: Postgres is unreachable (redis: {redis})"),
        )
        .into_response()
    }
}
