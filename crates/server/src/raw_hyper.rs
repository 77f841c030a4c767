//! A raw hyper front end for the hot routes — the measuring stick for axum's own cost.
//!
//! The issue asks to justify the framework with a measurement: `SERVER_HTTP=raw-hyper` serves
//! `/healthz`, `/readyz`, `/public/baseline`, `GET /api/items/{id}` and `/api/me` with a hand-written `service_fn`
//! that calls the *same* response code as the axum handlers (same App, same L1), so a wrk run
//! against each front end isolates axum's routing and extractor overhead. Everything else gets
//! a 404. Not meant for production use; `prodstack bench server` runs it.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{Method, Request, Response};
use axum::response::IntoResponse;
use hyper::service::service_fn;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::metrics::Route;
use crate::routes::counted;
use crate::routes::items::item_response;
use crate::routes::public::baseline_response;
use crate::state::AppState;

async fn handle(app: AppState, request: Request<hyper::body::Incoming>) -> Response<Body> {
    let path = request.uri().path();
    if request.method() != Method::GET {
        return ApiError::not_found("raw-hyper mode serves GET only").into_response();
    }
    if path == "/healthz" {
        let response = (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            "{\"status\":\"ok\"}",
        )
            .into_response();
        return counted(&app, Route::Healthz, response);
    }
    if path == "/readyz" {
        let response = crate::routes::health::readyz_response(&app).await;
        return counted(&app, Route::Readyz, response);
    }
    if path == "/public/baseline" {
        let response = baseline_response(request.uri().query());
        return counted(&app, Route::PublicBaseline, response);
    }
    if let Some(id) = path.strip_prefix("/api/items/") {
        let response = match id.parse::<i32>() {
            Ok(id) if id > 0 => item_response(&app, id).await,
            _ => ApiError::bad_request("item id must be a positive integer").into_response(),
        };
        return counted(&app, Route::ItemGet, response);
    }
    if path == "/api/me" {
        let response = match crate::routes::me::user_id(request.headers()) {
            Ok(id) => crate::routes::me::user_response(&app, id).await,
            Err(err) => err.into_response(),
        };
        return counted(&app, Route::Me, response);
    }
    ApiError::not_found(format!("no route for {path} in raw-hyper mode")).into_response()
}

/// Serves the hot routes on `listener` with a plain `service_fn` until shutdown.
pub async fn serve(
    listener: crate::accept::Listener,
    app: AppState,
    shutdown: watch::Receiver<bool>,
) {
    crate::accept::accept_loop(listener, shutdown, move || {
        let app = app.clone();
        service_fn(move |request| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(handle(app, request).await) }
        })
    })
    .await;
}
