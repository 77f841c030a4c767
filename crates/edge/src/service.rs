//! One request through the edge, the same routing as the nginx edges:
//!
//! | path | answer |
//! |---|---|
//! | `/static/*` | from memory ([`crate::static_files`]); `GET`/`HEAD` only |
//! | `/public/*` | the app server ([`crate::upstream`]), no authentication |
//! | `/api/*` | `Authorization: Bearer` verified here (strict HS256, [`jwt`]); `401` JSON on failure, else the app server with `X-User-Id` set from the token |
//! | anything else | `404` JSON |
//!
//! Any client `X-User-Id` (and `X-Edge-Secret`) is removed before a request reaches the app
//! server; only a verified token puts `X-User-Id` back, and the edge adds its own
//! `X-Edge-Secret` when one is configured. The edge's own answers are JSON `{"error": …}` with the same texts as
//! the nginx configuration's named locations.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{
    HeaderName, HeaderValue, ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER,
};
use hyper::http::{Method, Request, Response, StatusCode};

use crate::metrics::{Class, Metrics};
use crate::static_files::StaticFiles;
use crate::upstream::{Upstream, UpstreamError};

pub const X_USER_ID: HeaderName = HeaderName::from_static(contract::headers::USER_ID);
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Everything one worker needs to answer requests; cloned per worker (the verifier's HMAC
/// state and the upstream pool are per worker, the files and counters shared).
#[derive(Clone)]
pub struct EdgeService {
    pub statics: Arc<StaticFiles>,
    pub verifier: jwt::Verifier,
    pub upstream: Upstream,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
    pub body_timeout: std::time::Duration,
    /// Request header bytes as HTTP/2 counts them; beyond this, 431 JSON.
    pub max_header_bytes: usize,
    /// Added to every forwarded request (the app server requires it when it has one too).
    pub edge_secret: Option<server::edge_proof::EdgeSecret>,
}

impl EdgeService {
    pub async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        // The header limit is ours (the protocols' own, twice as high, are only a backstop),
        // so an oversized head gets the same JSON 431 over HTTP/2 and HTTP/1.1.
        if header_list_size(request.headers()) > self.max_header_bytes {
            let response = json_error(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                &format!(
                    "request header fields too large ({} KiB at most)",
                    self.max_header_bytes / 1024
                ),
            );
            return self.after_body(request, response).await;
        }
        let path = request.uri().path();
        if let Some(name) = path.strip_prefix("/static/") {
            self.metrics.request(Class::Static);
            let response = self.serve_static(&request, name);
            return self.after_body(request, response).await;
        }
        if path.starts_with("/public/") {
            self.metrics.request(Class::Public);
            return self.forward(request, None).await;
        }
        if path.starts_with("/api/") {
            self.metrics.request(Class::Api);
            let subject = request
                .headers()
                .get(AUTHORIZATION)
                .ok_or(jwt::VerifyError::MissingAuthorization)
                .and_then(|value| self.verifier.verify(value.as_bytes()))
                .and_then(|subject| {
                    HeaderValue::from_str(subject.as_str())
                        .map_err(|_| jwt::VerifyError::SubjectUnsafe)
                });
            return match subject {
                Ok(subject) => self.forward(request, Some(subject)).await,
                Err(reason) => {
                    tracing::debug!(%reason, "401");
                    self.metrics.unauthorized();
                    let response = json_error(StatusCode::UNAUTHORIZED, "unauthorized");
                    self.after_body(request, response).await
                }
            };
        }
        self.metrics.request(Class::Other);
        let response = json_error(StatusCode::NOT_FOUND, "not found");
        self.after_body(request, response).await
    }

    /// Reads (and drops) what is left of the request body before answering without it
    /// ([`server::body::drain`], bounded in bytes and time). Answering while the client still
    /// sends makes HTTP/2 reset the stream, and clients such as curl report that reset instead
    /// of our 401 (nginx discards the body the same way). Bodiless requests (every GET) pass
    /// straight through.
    async fn after_body(
        &self,
        request: Request<Incoming>,
        response: Response<Body>,
    ) -> Response<Body> {
        let mut body = request.into_body();
        server::body::drain(&mut body).await;
        response
    }

    fn serve_static(&self, request: &Request<Incoming>, name: &str) -> Response<Body> {
        let method = request.method();
        if method != Method::GET && method != Method::HEAD {
            let mut response = json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed: static files answer GET and HEAD",
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match self.statics.answer(method, name, request.headers()) {
            Some(answer) => {
                let mut response = Response::new(Body::from(answer.body));
                *response.status_mut() = answer.status;
                *response.headers_mut() = answer.headers;
                response
            }
            None => json_error(StatusCode::NOT_FOUND, "not found"),
        }
    }

    async fn forward(
        &self,
        request: Request<Incoming>,
        user: Option<HeaderValue>,
    ) -> Response<Body> {
        let (mut parts, body) = request.into_parts();
        parts.headers.remove(X_USER_ID);
        if let Some(user) = user {
            parts.headers.insert(X_USER_ID, user);
        }
        // Only the edge speaks for the edge: a client's value never passes.
        parts.headers.remove(server::edge_proof::HEADER);
        if let Some(secret) = &self.edge_secret {
            parts
                .headers
                .insert(server::edge_proof::HEADER, secret.header_value());
        }
        // The body is read here, within the app server's limit, before anything is forwarded
        // (as nginx buffers it): an oversize one is refused with 413 JSON after being drained,
        // so the client gets the answer and the app never sees it. Every GET has no body.
        let body = if hyper::body::Body::is_end_stream(&body) {
            Body::empty()
        } else {
            let declared = parts
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            match server::body::read_limited(body, declared, self.max_body_bytes, self.body_timeout)
                .await
            {
                Ok(bytes) => Body::from(bytes),
                Err(err) => return json_error(err.status(), &err.to_string()),
            }
        };
        match self.upstream.send(Request::from_parts(parts, body)).await {
            Ok(response) => response,
            Err(err) => {
                self.metrics.upstream_error();
                tracing::warn!(%err, "upstream request failed");
                match err {
                    UpstreamError::Unavailable(_) => {
                        let mut response = json_error(
                            StatusCode::BAD_GATEWAY,
                            "bad gateway: the app server is unavailable",
                        );
                        response
                            .headers_mut()
                            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                        response
                    }
                    UpstreamError::Timeout(_) => json_error(
                        StatusCode::GATEWAY_TIMEOUT,
                        "gateway timeout: the app server did not answer in time",
                    ),
                }
            }
        }
    }
}

/// Header bytes as HTTP/2 counts a header list: name + value + 32 per field (RFC 9113
/// §6.5.2).
pub fn header_list_size(headers: &hyper::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

/// `{"error": message}` with `status`.
pub fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json_string(message);
    let mut response = Response::new(Body::from(Bytes::from(format!("{{\"error\":{body}}}"))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, APPLICATION_JSON);
    response
}

/// A JSON string literal for `text` (our messages are ASCII; escape what JSON requires).
fn serde_json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_json() {
        let text = serde_json_string("a \"quoted\" \\ line\n");
        assert_eq!(text, r#""a \"quoted\" \\ line\u000a""#);
    }
}
