//! Header names that cross a service boundary, lower-case as HTTP/2 sends them.

/// The authenticated user: set by authsvc's `/_auth` answer, copied onto the request by the
/// edge (which removes any value the client sent), read by the app server.
pub const USER_ID: &str = "x-user-id";
/// The edge's proof that a request came through it: a per-deployment secret the edge sets
/// (replacing any client value) and the app server requires on every app route.
pub const EDGE_SECRET: &str = "x-edge-secret";
