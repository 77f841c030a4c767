//! The runtime layout, the one choice every service makes the same way: a `current_thread`
//! runtime and its own `SO_REUSEPORT` listener per worker thread (nothing shared between
//! cores; the kernel spreads connections), or one work-stealing multi-thread runtime behind a
//! single listener (idle workers steal from busy ones). Each service reads it from its own
//! variable (`SERVER_RUNTIME`, `AUTHSVC_RUNTIME`, `EDGE_RUNTIME`) and picks its own default.

use std::fmt;
use std::num::NonZeroUsize;
use std::str::FromStr;

/// How a service spreads its work over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeLayout {
    /// `workers` single-thread runtimes, each accepting on its own `SO_REUSEPORT` listener.
    PerCore,
    /// One Tokio multi-thread runtime with `workers` worker threads and one listener.
    MultiThread,
}

impl RuntimeLayout {
    /// The names the environment accepts, as the errors quote them.
    pub const EXPECTED: &'static str = "expected `per-core` or `multi-thread`";
}

impl FromStr for RuntimeLayout {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "per-core" => Ok(Self::PerCore),
            "multi-thread" | "multi" => Ok(Self::MultiThread),
            _ => Err(Self::EXPECTED.into()),
        }
    }
}

impl fmt::Display for RuntimeLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PerCore => "per-core",
            Self::MultiThread => "multi-thread",
        })
    }
}

/// The CPUs this process may run on (its affinity mask, so a cpuset is honoured), at least 1.
pub fn available_cpus() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_typos_are_refused() {
        for layout in [RuntimeLayout::PerCore, RuntimeLayout::MultiThread] {
            assert_eq!(layout.to_string().parse::<RuntimeLayout>(), Ok(layout));
        }
        assert_eq!(" multi ".parse(), Ok(RuntimeLayout::MultiThread));
        assert_eq!(
            "percore".parse::<RuntimeLayout>(),
            Err(RuntimeLayout::EXPECTED.to_string())
        );
    }
}
