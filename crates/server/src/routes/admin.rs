//! The admin router (`ADMIN_LISTEN`): `/metrics` and `/healthz`. Bound to loopback by
//! default and never proxied by the edge.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::exposition;
use crate::state::AppState;

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(app)
}

async fn metrics_page(State(app): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(exposition::CONTENT_TYPE),
        )],
        exposition::render(&app),
    )
        .into_response()
}
