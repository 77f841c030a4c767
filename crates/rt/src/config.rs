//! The error a service returns for an environment it refuses, naming the variable, the value
//! it was given and why it is refused; a typo stops the process at start with that line
//! instead of surfacing later as every request failing.

use std::str::FromStr;

/// A refused environment variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    /// The variable's name.
    pub var: &'static str,
    /// What it was set to (`""` when it is required and unset; never a secret's value).
    pub value: String,
    /// Why it is refused, and what would be accepted.
    pub reason: String,
}

impl ConfigError {
    /// `var` set to `value` is refused for `reason`.
    pub fn invalid(var: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self {
            var,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// `var` is required and unset; `hint` says what to set it to.
    pub fn missing(var: &'static str, hint: &str) -> Self {
        Self::invalid(var, "", format!("required, and not set: {hint}"))
    }
}

/// Parses `value` of `var` with `FromStr`, keeping the parser's own reason.
pub fn parse<T>(var: &'static str, value: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|err: T::Err| ConfigError::invalid(var, value, err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_the_variable_the_value_and_the_reason() {
        assert_eq!(parse::<u16>("PORT", " 8080 "), Ok(8080));
        let err = parse::<u16>("PORT", "80000").unwrap_err();
        assert_eq!(err.var, "PORT");
        assert_eq!(err.value, "80000");
        assert_eq!(
            err.to_string(),
            "PORT=\"80000\" is invalid: number too large to fit in target type"
        );
        let missing = ConfigError::missing("DATABASE_URL", "set it to postgres://…");
        assert_eq!(
            missing.to_string(),
            "DATABASE_URL=\"\" is invalid: required, and not set: set it to postgres://…"
        );
    }
}
