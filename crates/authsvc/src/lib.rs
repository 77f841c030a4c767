//! Auth sidecar: GET /_auth verifies a Bearer HS256 JWT and answers X-User-Id.
