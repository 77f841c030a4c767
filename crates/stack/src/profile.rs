//! The two configurations of the same four-service stack, named as HttpArena names its
//! categories: `production` keeps the reference settings, `tuned` changes documented knobs
//! (nginx, Redis threads, pools). Every knob that differs is listed where it is set (the nginx
//! template's header comment, [`crate::supervise`] for Redis) and in `docs/`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// HttpArena's reference settings (what its Production category runs).
    #[default]
    Production,
    /// Same shape, documented tuning of the edge, cache and pools.
    Tuned,
}

impl Profile {
    pub const ALL: [Profile; 2] = [Profile::Production, Profile::Tuned];

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Production => "production",
            Profile::Tuned => "tuned",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "production" => Ok(Profile::Production),
            "tuned" => Ok(Profile::Tuned),
            other => Err(format!(
                "unknown profile `{other}` (expected `production` or `tuned`)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_both_profiles() {
        for profile in Profile::ALL {
            assert_eq!(profile.as_str().parse::<Profile>().unwrap(), profile);
        }
        let err = "Tuned".parse::<Profile>().unwrap_err();
        assert!(err.contains("unknown profile `Tuned`"), "{err}");
    }
}
