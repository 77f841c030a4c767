//! The HTTP routes. Each handler answers every input itself — extractors that could reject a
//! request are taken as `Result`s — so every client mistake gets a JSON error body and every
//! response is counted under its route.

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::metrics::Route;
use crate::state::AppState;

pub mod admin;
pub mod health;
pub mod items;
pub mod me;
pub mod public;

/// The public router (`LISTEN`).
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/public/baseline", get(public::baseline))
        .route("/baseline11", get(public::baseline11))
        .route("/public/json/{count}", get(public::json))
        .route(
            "/api/items/{id}",
            get(items::get_item).post(items::post_item),
        )
        .route("/api/me", get(me::me))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(unmatched)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

async fn unmatched(State(app): State<AppState>, method: Method, uri: Uri) -> Response {
    let err = ApiError::not_found(format!("no route for {method} {}", uri.path()));
    app.metrics.record(Route::Unmatched, err.status);
    err.into_response()
}

async fn method_not_allowed(State(app): State<AppState>, method: Method, uri: Uri) -> Response {
    let err = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on {}", uri.path()),
    );
    app.metrics.record(Route::Unmatched, err.status);
    err.into_response()
}

/// Counts `response` under `route` and returns it.
pub(crate) fn counted(app: &AppState, route: Route, response: Response) -> Response {
    app.metrics.record(route, response.status());
    response
}
