//! The HTTP routes. Each handler answers every input itself — extractors that could reject a
//! request are taken as `Result`s — so every client mistake gets a JSON error body and every
//! response is counted under its route.

use std::future::Future;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cache::{Fetched, Layer, Lookup};

use crate::db::DbError;
use crate::error::ApiError;
use crate::keys::Key;
use crate::metrics::Route;
use crate::state::AppState;

pub mod admin;
pub mod health;
pub mod items;
pub mod me;
pub mod public;

/// The public router (`LISTEN`). With an edge secret configured, the app routes require the
/// edge's proof ([`crate::edge_proof`]); the probes never do.
pub fn router(app: AppState) -> Router {
    let mut routes = Router::new()
        .route("/public/baseline", get(public::baseline))
        .route("/public/json/{count}", get(public::json))
        .route(
            "/api/items/{id}",
            get(items::get_item).post(items::post_item),
        )
        .route("/api/me", get(me::me));
    if app.edge_secret.is_some() {
        routes = routes.route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            require_edge_proof,
        ));
    }
    routes
        .route("/baseline11", get(public::baseline11))
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

pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
const HIT: HeaderValue = HeaderValue::from_static("HIT");
const MISS: HeaderValue = HeaderValue::from_static("MISS");

/// A cached JSON body with its `X-Cache` header.
pub fn cached_json(body: Bytes, lookup: Lookup) -> Response {
    let x_cache = if lookup.is_hit() { HIT } else { MISS };
    (
        [(header::CONTENT_TYPE, APPLICATION_JSON), (X_CACHE, x_cache)],
        body,
    )
        .into_response()
}

/// The cache-aside answer for one pre-serialized body: L1, then Redis, then `load` (at most
/// one load per key at a time), cached for `ttl`. `load` finding no row is a 404 with
/// `not_found`'s message; a database failure is a 503/500 from [`ApiError`].
pub(crate) async fn cache_aside<Load, Loading>(
    app: &AppState,
    key: Key,
    ttl: Duration,
    load: Load,
    not_found: impl FnOnce() -> String,
) -> Response
where
    Load: FnOnce() -> Loading,
    Loading: Future<Output = Result<Option<Bytes>, DbError>>,
{
    // The hot path: a fresh L1 copy answers before the loader's future is even built.
    if let Some(body) = app.cache.get_fresh(&key) {
        return cached_json(body, Lookup::Hit(Layer::L1));
    }
    match app.cache.get_or_load(&key, ttl, load).await {
        Ok(Fetched {
            value: Some(body),
            lookup,
        }) => cached_json(body, lookup),
        Ok(Fetched { value: None, .. }) => ApiError::not_found(not_found()).into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// Middleware on the app routes: without the edge's proof, `401` JSON.
pub async fn require_edge_proof(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match &app.edge_secret {
        Some(secret) if !secret.verify(request.headers()) => {
            let err = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized: this port serves the edge only (no valid X-Edge-Secret)",
            );
            app.metrics.record(Route::NoEdgeProof, err.status);
            err.into_response()
        }
        _ => next.run(request).await,
    }
}
