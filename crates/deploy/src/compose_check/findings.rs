//! What a check found: one [`Violation`] per broken rule (file, service, field, message), the
//! [`Findings`] a check collects them in, and the [`Checked`] result of one file.

use std::fmt;
use std::path::{Path, PathBuf};

use super::shape::Shape;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub file: PathBuf,
    /// `None` for file-level rules (service count, CPU total, meta.json).
    pub service: Option<String>,
    /// The compose field (`cpuset`, `ulimits.nofile`, `build`, ...).
    pub field: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.service {
            Some(service) => write!(
                f,
                "{}: service `{service}`: {}: {}",
                self.file.display(),
                self.field,
                self.message
            ),
            None => write!(
                f,
                "{}: {}: {}",
                self.file.display(),
                self.field,
                self.message
            ),
        }
    }
}

/// The outcome of checking one path.
#[derive(Debug, Clone)]
pub struct Checked {
    pub violations: Vec<Violation>,
    /// What was checked, for the "ok" line.
    pub summary: String,
    /// The stack's shape; `None` for the Postgres file and unreadable input.
    pub shape: Option<Shape>,
}

/// Collects violations for one file.
pub(super) struct Findings {
    pub(super) file: PathBuf,
    pub(super) violations: Vec<Violation>,
}

impl Findings {
    pub(super) fn new(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            violations: Vec::new(),
        }
    }

    pub(super) fn file(&mut self, field: &str, message: String) {
        self.violations.push(Violation {
            file: self.file.clone(),
            service: None,
            field: field.into(),
            message,
        });
    }

    pub(super) fn service(&mut self, service: &str, field: &str, message: String) {
        self.violations.push(Violation {
            file: self.file.clone(),
            service: Some(service.into()),
            field: field.into(),
            message,
        });
    }

    pub(super) fn finish(self, summary: String, shape: Option<Shape>) -> Checked {
        Checked {
            violations: self.violations,
            summary,
            shape,
        }
    }
}
