//! The HTTP contract of HttpArena's auth sidecar, one request at a time.
//!
//! | request                         | response                                   |
//! |---------------------------------|--------------------------------------------|
//! | `GET /_auth`, valid Bearer JWT  | `200`, empty body, `X-User-Id: <sub>`       |
//! | `GET /_auth`, anything else     | `401`, empty body                           |
//! | `GET /_health`                  | `200`, empty body                           |
//! | other method on those two paths | `405` with `Allow: GET, HEAD`               |
//! | any other path                  | `404`                                       |
//!
//! `HEAD` is answered like `GET` (status and headers, no body), as the upstream axum sidecar
//! does. The handler is synchronous and allocation-light: a verification is ~0.3 µs, far less
//! than what a task switch would cost, so nothing here is `async`.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ALLOW, AUTHORIZATION};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::Empty;

/// The header carrying the verified subject, which the edge forwards to the app server.
pub static X_USER_ID: HeaderName = HeaderName::from_static(contract::headers::USER_ID);

const ALLOWED_METHODS: HeaderValue = HeaderValue::from_static("GET, HEAD");

/// Every response has an empty body.
pub type AuthResponse = Response<Empty<Bytes>>;

/// The sidecar as a hyper service. Cheap to clone (one `Arc`), one clone per connection.
#[derive(Debug, Clone)]
pub struct AuthService {
    verifier: Arc<jwt::Verifier>,
}

impl AuthService {
    pub fn new(verifier: jwt::Verifier) -> Self {
        Self {
            verifier: Arc::new(verifier),
        }
    }

    /// Routes one request. Takes only the parts it reads, so it works for any body type.
    pub fn respond(&self, method: &Method, path: &str, headers: &HeaderMap) -> AuthResponse {
        match path {
            "/_auth" if is_get_or_head(method) => self.authenticate(headers),
            "/_health" if is_get_or_head(method) => status(StatusCode::OK),
            "/_auth" | "/_health" => {
                let mut response = status(StatusCode::METHOD_NOT_ALLOWED);
                response.headers_mut().insert(ALLOW, ALLOWED_METHODS);
                response
            }
            _ => status(StatusCode::NOT_FOUND),
        }
    }

    fn authenticate(&self, headers: &HeaderMap) -> AuthResponse {
        match self.subject(headers) {
            Ok(subject) => {
                let mut response = status(StatusCode::OK);
                response.headers_mut().insert(X_USER_ID.clone(), subject);
                response
            }
            Err(reason) => {
                // Debug, not warn: under attack or misconfiguration this fires per request.
                tracing::debug!(%reason, "rejected /_auth request");
                status(StatusCode::UNAUTHORIZED)
            }
        }
    }

    fn subject(&self, headers: &HeaderMap) -> Result<HeaderValue, Rejection> {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let authorization = values.next().map_or(&b""[..], HeaderValue::as_bytes);
        // Two Authorization headers make "which one was checked" ambiguous between us and
        // whatever sits in front; refuse rather than pick one.
        if values.next().is_some() {
            return Err(Rejection::RepeatedAuthorization);
        }
        let subject = self.verifier.verify(authorization)?;
        // `Bytes::from(String)` takes the allocation over, so the id is not copied again.
        HeaderValue::from_maybe_shared(Bytes::from(subject.into_string()))
            .map_err(|_| Rejection::SubjectNotAHeaderValue)
    }
}

impl<B> hyper::service::Service<Request<B>> for AuthService {
    type Response = AuthResponse;
    type Error = Infallible;
    type Future = Ready<Result<AuthResponse, Infallible>>;

    fn call(&self, request: Request<B>) -> Self::Future {
        ready(Ok(self.respond(
            request.method(),
            request.uri().path(),
            request.headers(),
        )))
    }
}

/// Why `/_auth` answered 401 (for the debug log).
#[derive(Debug, thiserror::Error)]
enum Rejection {
    #[error(transparent)]
    Token(#[from] jwt::VerifyError),
    #[error("more than one Authorization header")]
    RepeatedAuthorization,
    // `jwt` only returns header-safe subjects; kept so a future change there cannot panic here.
    #[error("subject is not a valid header value")]
    SubjectNotAHeaderValue,
}

fn is_get_or_head(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

fn status(code: StatusCode) -> AuthResponse {
    let mut response = Response::new(Empty::new());
    *response.status_mut() = code;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"unit-test-secret";

    fn service() -> AuthService {
        AuthService::new(jwt::Verifier::new(SECRET))
    }

    fn token(sub: &str) -> String {
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), sub.into());
        claims.insert("exp".into(), 4_000_000_000u64.into());
        format!("Bearer {}", jwt::sign(&claims, SECRET))
    }

    fn headers(authorization: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in authorization {
            headers.append(AUTHORIZATION, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn valid_token_answers_200_with_the_subject() {
        let response = service().respond(&Method::GET, "/_auth", &headers(&[&token("42")]));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[&X_USER_ID], "42");
        let head = service().respond(&Method::HEAD, "/_auth", &headers(&[&token("7")]));
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(head.headers()[&X_USER_ID], "7");
    }

    #[test]
    fn anything_else_on_auth_answers_401_without_a_subject() {
        let valid = token("42");
        for authorization in [
            vec![],
            vec!["Bearer x.y.z"],
            vec![valid.as_str(), valid.as_str()],
        ] {
            let response = service().respond(&Method::GET, "/_auth", &headers(&authorization));
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{authorization:?}"
            );
            assert!(response.headers().get(&X_USER_ID).is_none());
        }
    }

    #[test]
    fn routes_health_404_and_405() {
        let none = HeaderMap::new();
        assert_eq!(
            service().respond(&Method::GET, "/_health", &none).status(),
            StatusCode::OK
        );
        assert_eq!(
            service().respond(&Method::GET, "/", &none).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            service().respond(&Method::GET, "/_auth/x", &none).status(),
            StatusCode::NOT_FOUND
        );
        for (method, path) in [(Method::POST, "/_auth"), (Method::DELETE, "/_health")] {
            let response = service().respond(&method, path, &none);
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(response.headers()[ALLOW], "GET, HEAD");
        }
    }
}
