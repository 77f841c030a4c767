//! Reading compose fields the rules need: mounts, environment (list or map, `${VAR}`
//! references), `depends_on` health conditions, build sections (linted against their
//! Dockerfile and context), and describing values in messages.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

use super::dockerfile::{self, BuildContext, Dockerfile};

use super::findings::Findings;

/// A bind mount in either compose syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

pub(super) fn mounts_or_report(name: &str, service: &Value, out: &mut Findings) -> Vec<Mount> {
    let mounts = match mounts(service) {
        Ok(mounts) => mounts,
        Err(err) => {
            out.service(name, "volumes", err);
            return Vec::new();
        }
    };
    for mount in &mounts {
        let from_harness =
            var_ref(&mount.source).is_some_and(|(var, _)| var == "CERTS_DIR" || var == "DATA_DIR");
        let host_path = mount.source.starts_with('/')
            || mount.source.starts_with('.')
            || mount.source.starts_with('~')
            || mount.source.starts_with('$');
        if host_path && !from_harness {
            out.service(
                name,
                "volumes",
                format!(
                    "`{}` is a hard-coded host path; mount from ${{CERTS_DIR}} or ${{DATA_DIR}}",
                    mount.source
                ),
            );
        }
    }
    mounts
}

/// Compose `volumes` as mounts (short `SRC:DST[:MODE]` and long syntax).
pub fn mounts(service: &Value) -> Result<Vec<Mount>, String> {
    let Some(volumes) = service.get("volumes") else {
        return Ok(Vec::new());
    };
    let Some(list) = volumes.as_sequence() else {
        return Err("must be a list".into());
    };
    let mut out = Vec::new();
    for entry in list {
        if let Some(spec) = entry.as_str() {
            let parts = split_outside_braces(spec, ':');
            let (source, target, mode) = match parts.as_slice() {
                [s, t] => (s.clone(), t.clone(), String::new()),
                [s, t, m] => (s.clone(), t.clone(), m.clone()),
                _ => return Err(format!("`{spec}` is not SOURCE:TARGET[:MODE]")),
            };
            out.push(Mount {
                source,
                target,
                read_only: mode.split(',').any(|o| o == "ro"),
            });
        } else if entry.is_mapping() {
            let source = entry.get("source").and_then(scalar).unwrap_or_default();
            let target = entry.get("target").and_then(scalar).unwrap_or_default();
            let read_only = entry.get("read_only").and_then(Value::as_bool) == Some(true);
            out.push(Mount {
                source,
                target,
                read_only,
            });
        } else {
            return Err("entries must be strings or maps".into());
        }
    }
    Ok(out)
}

/// Requires `${VAR}<rest>` mounted read-only at `target`.
pub(super) fn require_mount(
    name: &str,
    mounts: &[Mount],
    var: &str,
    rest: &str,
    target: &str,
    out: &mut Findings,
) {
    let wanted = format!("${{{var}}}{rest}:{target}:ro");
    match mounts.iter().find(|m| m.target == target) {
        None => out.service(name, "volumes", format!("missing `{wanted}`")),
        Some(mount) => {
            let source_ok = var_ref(&mount.source).is_some_and(|(v, r)| v == var && r == rest);
            if !source_ok {
                out.service(
                    name,
                    "volumes",
                    format!(
                        "{} is mounted from `{}`; expected `{wanted}`",
                        target, mount.source
                    ),
                );
            } else if !mount.read_only {
                out.service(
                    name,
                    "volumes",
                    format!("{target} must be read-only (`:ro`)"),
                );
            }
        }
    }
}

/// `${NAME}`, `${NAME:?message}`, `${NAME:-default}` at the start of `text`: the name and
/// what follows the closing brace.
pub fn var_ref(text: &str) -> Option<(String, String)> {
    let inner = text.strip_prefix("${")?;
    let close = inner.find('}')?;
    let name: String = inner[..close]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then(|| (name, inner[close + 1..].to_string()))
}

pub(super) fn split_outside_braces(text: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut previous = '\0';
    for c in text.chars() {
        match c {
            '{' if previous == '$' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            c if c == separator && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                previous = c;
                continue;
            }
            _ => {}
        }
        current.push(c);
        previous = c;
    }
    parts.push(current);
    parts
}

pub(super) fn environment_or_report(
    name: &str,
    service: &Value,
    out: &mut Findings,
) -> BTreeMap<String, Option<String>> {
    match environment(service) {
        Ok(env) => env,
        Err(err) => {
            out.service(name, "environment", err);
            BTreeMap::new()
        }
    }
}

/// Compose `environment` as a map (list `KEY=VALUE` / `KEY`, or map form).
pub fn environment(service: &Value) -> Result<BTreeMap<String, Option<String>>, String> {
    let mut env = BTreeMap::new();
    match service.get("environment") {
        None => {}
        Some(Value::Sequence(list)) => {
            for entry in list {
                let text = scalar(entry).ok_or("list entries must be KEY=VALUE strings")?;
                match text.split_once('=') {
                    Some((k, v)) => env.insert(k.to_string(), Some(v.to_string())),
                    None => env.insert(text, None),
                };
            }
        }
        Some(Value::Mapping(map)) => {
            for (k, v) in map {
                let key = scalar(k).ok_or("keys must be strings")?;
                env.insert(key, scalar(v));
            }
        }
        Some(_) => return Err("must be a list or a map".into()),
    }
    Ok(env)
}

pub(super) fn require_depends_healthy(
    name: &str,
    service: &Value,
    needs: &[&str],
    out: &mut Findings,
) {
    let depends = service.get("depends_on");
    for need in needs {
        let condition = match depends {
            Some(Value::Mapping(_)) => depends
                .and_then(|d| d.get(*need))
                .map(|d| d.get("condition").and_then(scalar).unwrap_or_default()),
            Some(Value::Sequence(list)) => list
                .iter()
                .any(|v| scalar(v).as_deref() == Some(*need))
                .then(String::new),
            _ => None,
        };
        match condition.as_deref() {
            Some("service_healthy") => {}
            Some(_) => out.service(
                name,
                "depends_on",
                format!("`{need}` without `condition: service_healthy` only orders start-up; HttpArena's checks start as soon as the edge answers"),
            ),
            None => out.service(
                name,
                "depends_on",
                format!("missing `{need}: {{condition: service_healthy}}`: HttpArena's checks start as soon as the edge answers"),
            ),
        }
    }
}

/// A build's Dockerfile, read and linted against its context.
pub(super) struct BuildReport {
    pub(super) context: BuildContext,
    pub(super) lint: dockerfile::LintReport,
}

pub(super) fn lint_build(
    name: &str,
    build: &Value,
    compose_dir: &Path,
    out: &mut Findings,
) -> Option<BuildReport> {
    let Some(context) = build_field(build, "context") else {
        out.service(name, "build", "no build context".into());
        return None;
    };
    let context_dir = compose_dir.join(&context);
    if !context_dir.is_dir() {
        out.service(
            name,
            "build.context",
            format!("`{context}` ({}) is not a folder", context_dir.display()),
        );
        return None;
    }
    let dockerfile_rel = build_field(build, "dockerfile").unwrap_or_else(|| "Dockerfile".into());
    let dockerfile_path = context_dir.join(&dockerfile_rel);
    if !dockerfile_path.is_file() {
        out.service(
            name,
            "build.dockerfile",
            format!(
                "`{dockerfile_rel}` does not exist in the context ({})",
                dockerfile_path.display()
            ),
        );
        return None;
    }
    let parsed = match Dockerfile::load(&dockerfile_path) {
        Ok(parsed) => parsed,
        Err(err) => {
            out.service(name, "build.dockerfile", format!("{err:#}"));
            return None;
        }
    };
    let mut ctx = match BuildContext::new(&context_dir, &dockerfile_path) {
        Ok(ctx) => ctx,
        Err(err) => {
            out.service(name, "build.context", format!("{err:#}"));
            return None;
        }
    };
    match build_args(build) {
        Ok(args) => ctx.build_args = args,
        Err(err) => out.service(name, "build.args", err),
    }
    let lint = parsed.lint(&ctx);
    for finding in &lint.findings {
        out.service(
            name,
            "build.dockerfile",
            format!("{} {finding}", dockerfile_path.display()),
        );
    }
    Some(BuildReport { context: ctx, lint })
}

pub(super) fn build_field(build: &Value, key: &str) -> Option<String> {
    match build {
        Value::String(context) if key == "context" => Some(context.clone()),
        Value::Mapping(_) => build.get(key).and_then(scalar),
        _ => None,
    }
}

pub(super) fn build_args(build: &Value) -> Result<BTreeMap<String, String>, String> {
    let mut args = BTreeMap::new();
    match build.get("args") {
        None => {}
        Some(Value::Mapping(map)) => {
            for (k, v) in map {
                args.insert(
                    scalar(k).ok_or("argument names must be strings")?,
                    scalar(v).unwrap_or_default(),
                );
            }
        }
        Some(Value::Sequence(list)) => {
            for entry in list {
                let text = scalar(entry).ok_or("list entries must be KEY=VALUE strings")?;
                let (k, v) = text.split_once('=').unwrap_or((&text, ""));
                args.insert(k.to_string(), v.to_string());
            }
        }
        Some(_) => return Err("must be a map or a list".into()),
    }
    Ok(args)
}

/// A compose command (`test`, `entrypoint`, `command`): list form or a string split on spaces.
pub(super) fn command_words(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(list) => list.iter().filter_map(scalar).collect(),
        other => scalar(other)
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
    }
}

/// A YAML scalar as text.
pub(super) fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `../_shared/authsvc/` → `../_shared/authsvc`; `./x` → `x`.
pub(super) fn normalize_dir(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
    if trimmed.is_empty() {
        ".".into()
    } else {
        trimmed.to_string()
    }
}

pub(super) fn describe(value: Option<&Value>) -> String {
    match value {
        None => "nothing".into(),
        Some(v) => match scalar(v) {
            Some(s) => format!("`{s}`"),
            None => serde_yaml::to_string(v)
                .map(|s| format!("`{}`", s.trim().replace('\n', ", ")))
                .unwrap_or_else(|_| "an unreadable value".into()),
        },
    }
}

pub(super) fn describe_str(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("`{v}`"),
        None => "missing".into(),
    }
}
