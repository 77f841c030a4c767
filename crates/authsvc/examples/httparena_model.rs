//! A model of HttpArena's shared `authsvc` sidecar, for `prodstack bench authsvc` to compare
//! against. Written from the sidecar's documented behaviour, not from its source:
//!
//! - axum (0.8 here; upstream uses 0.7 with the same `http1` + `tokio` features), default
//!   multi-thread tokio runtime sized to the visible CPUs;
//! - `GET /_auth`: exact `Bearer ` prefix, split the rest on `.` into at most 3 parts, decode
//!   part 3 as unpadded base64url, HMAC-SHA256 **keyed per request** over `part1.part2`,
//!   constant-time compare, decode part 2, require UTF-8, then find `"sub":` by plain text
//!   search (a quoted value runs to the next `"`, a bare one to the first `,`, `}` or space);
//!   200 + `x-user-id`, else 401; `exp` is never checked;
//! - `GET /_health` → 200; other paths 404; other methods 405 (axum's defaults);
//! - env `JWT_SECRET` (default the public bench secret) and `AUTHSVC_LISTEN` (default
//!   `0.0.0.0:9090`).
//!
//! It uses `hmac` 0.13 / `sha2` 0.11 (the workspace pins) where upstream uses 0.12 / 0.10,
//! which are ~10 % slower per MAC; the model is therefore, if anything, a little fast.
//!
//! Run: `cargo run --release -p authsvc --example httparena_model`

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const DEFAULT_SECRET: &str = "httparena-bench-secret-do-not-use-in-production";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let secret: Arc<[u8]> = std::env::var("JWT_SECRET")
        .unwrap_or_else(|_| DEFAULT_SECRET.to_owned())
        .into_bytes()
        .into();
    let listen: SocketAddr = std::env::var("AUTHSVC_LISTEN")
        .unwrap_or_else(|_| "0.0.0.0:9090".to_owned())
        .parse()
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;

    let app = Router::new()
        .route("/_auth", get(auth))
        .route("/_health", get(|| async { StatusCode::OK }))
        .with_state(secret);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("httparena_model listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}

async fn auth(State(secret): State<Arc<[u8]>>, headers: HeaderMap) -> Response {
    match subject(&secret, &headers) {
        Some(sub) => (StatusCode::OK, [("x-user-id", sub)]).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

fn subject(secret: &[u8], headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    let mut parts = token.splitn(3, '.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);

    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).ok()?;
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature).ok()?;

    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let rest = &claims[claims.find("\"sub\":")? + "\"sub\":".len()..];
    let sub = match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => &rest[..rest.find([',', '}', ' ']).unwrap_or(rest.len())],
    };
    Some(sub.to_owned())
}
