//! An HttpArena export folder: its compose file and its `meta.json` (a production-stack entry
//! of the shape's category).

use std::path::Path;

use super::fields::describe_str;
use super::findings::{Findings, Violation};
use super::shape::Shape;

/// meta.json and README.md of an export folder.
pub(super) fn check_export_folder(dir: &Path, shape: Option<Shape>) -> Vec<Violation> {
    let mut violations = Vec::new();
    if !dir.join("README.md").is_file() {
        violations.push(Violation {
            file: dir.join("README.md"),
            service: None,
            field: "README.md".into(),
            message: "missing; HttpArena entries describe their stack in README.md".into(),
        });
    }
    // meta.json is checked by check_path for files; for folders do it here.
    violations.extend(check_meta(&dir.join("meta.json"), shape));
    violations
}

/// HttpArena's meta.json of a production-stack entry whose compose file has `shape` (`None`:
/// unknown, any category passes).
pub fn check_meta(path: &Path, shape: Option<Shape>) -> Vec<Violation> {
    let mut out = Findings::new(path);
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            out.file("meta.json", format!("cannot read: {err}"));
            return out.violations;
        }
    };
    let meta: serde_json::Value = match serde_json::from_str(&text) {
        Ok(meta) => meta,
        Err(err) => {
            out.file("meta.json", format!("not valid JSON: {err}"));
            return out.violations;
        }
    };
    let text_field = |key: &str| meta.get(key).and_then(serde_json::Value::as_str);
    for key in ["display_name", "engine", "description", "repo"] {
        if text_field(key).is_none_or(str::is_empty) {
            out.file(key, "missing or empty".into());
        }
    }
    if text_field("language") != Some("Rust") {
        out.file("language", "must be \"Rust\"".into());
    }
    let category = text_field("type");
    match shape {
        None if category.is_some_and(|c| ["production", "tuned", "engine"].contains(&c)) => {}
        None => out.file(
            "type",
            format!(
                "{}; must be \"production\", \"tuned\" or \"engine\"",
                describe_str(category)
            ),
        ),
        Some(shape) if category.is_some_and(|c| shape.categories().contains(&c)) => {}
        Some(Shape::FourServices) => out.file(
            "type",
            format!(
                "{}; a production-stack entry with the shared authsvc is \"production\" or \"tuned\"",
                describe_str(category)
            ),
        ),
        Some(Shape::Engine) => out.file(
            "type",
            format!(
                "{}; an entry whose own engine replaces nginx, authsvc and the server is \"engine\"",
                describe_str(category)
            ),
        ),
    }
    let tests: Vec<&str> = meta
        .get("tests")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    if tests != ["production-stack"] {
        out.file(
            "tests",
            format!(
                "{tests:?}; must be [\"production-stack\"] (the compose file is the whole entry)"
            ),
        );
    }
    if meta.get("enabled").and_then(serde_json::Value::as_bool) != Some(true) {
        out.file("enabled", "must be true".into());
    }
    out.violations
}
