//! The facts every prodstack crate shares, and shares with HttpArena's production-stack test:
//! the environment variables each service reads ([`env`]), the ports each listens on
//! ([`ports`]), the headers that cross a service boundary ([`headers`]), the records the data
//! generator writes and the app server reads ([`rows`]), and the benchmark's secret and user.
//!
//! It depends on nothing but serde (for [`rows`]), so that every other crate (the services, the supervisor,
//! the deployment renderer and its checker, the benchmark) can name these facts instead of
//! spelling them: a renamed variable is a compile error where it is read, set, rendered into a
//! compose file or checked in one, not a service that silently ignores its setting.

pub mod env;
pub mod headers;
pub mod ports;
pub mod rows;

/// HttpArena's public benchmark secret: the HMAC-SHA256 key its shared authsvc uses when
/// `JWT_SECRET` is unset, and the one its validation's token is signed with. Every service
/// that verifies tokens defaults to it and warns when it runs with it.
pub const BENCH_SECRET: &str = "httparena-bench-secret-do-not-use-in-production";

/// The benchmark user: the `users` row `/api/me` answers with for the benchmark token.
pub const BENCH_USER_ID: i32 = 42;
/// The benchmark token's `sub` claim: [`BENCH_USER_ID`] as text.
pub const BENCH_USER_SUBJECT: &str = "42";
/// The benchmark user's display name (the token's `name` claim and `users.name`).
pub const BENCH_USER_NAME: &str = "Alice Chen";

/// The newest `prodstack bench` result under `$PRODSTACK_HOME/results/`: the bench writes it,
/// `prodstack plan` reads it by default.
pub const LATEST_BENCH_RESULT: &str = "bench-latest.json";

#[cfg(test)]
mod tests {
    #[test]
    fn the_token_subject_names_the_benchmark_user() {
        assert_eq!(super::BENCH_USER_SUBJECT, super::BENCH_USER_ID.to_string());
    }
}
