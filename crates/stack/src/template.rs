//! The config renderer: `{{name}}` is replaced by the parameter `name`, and nothing else
//! happens (no template engine). A placeholder without a parameter, a parameter without a
//! placeholder, an unclosed `{{`, or a value that could change the config's structure (`;`,
//! braces, quotes, `#`, `$`, line breaks) is an error, so a typo in the template or in the code
//! fails loudly at render time instead of producing a config that silently lacks a setting.
//! A *line parameter* ([`render_with_lines`]) holds a list: the template line holding its
//! placeholder is written once per element (nginx's `server` line per upstream instance).
//! [`crate::nginx`] renders the edge config with it.

use std::collections::BTreeMap;
use std::fmt;

/// Everything wrong with one rendering, one problem per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError(pub Vec<Problem>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    UnknownPlaceholder {
        name: String,
        line: usize,
    },
    Unterminated {
        line: usize,
    },
    BadName {
        text: String,
        line: usize,
    },
    UnusedParameter {
        name: String,
    },
    BadValue {
        name: String,
        value: String,
        reason: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::UnknownPlaceholder { name, line } => {
                write!(f, "line {line}: unknown placeholder {{{{{name}}}}} (no such parameter)")
            }
            Problem::Unterminated { line } => write!(f, "line {line}: `{{{{` without a closing `}}}}`"),
            Problem::BadName { text, line } => write!(
                f,
                "line {line}: {{{{{text}}}}} is not a placeholder (names are lowercase letters, digits and `_`)"
            ),
            Problem::UnusedParameter { name } => {
                write!(f, "parameter `{name}` is not used by the template")
            }
            Problem::BadValue {
                name,
                value,
                reason,
            } => write!(f, "parameter `{name}` = {value:?}: {reason}"),
        }
    }
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RenderError {}

/// Replaces every `{{name}}` of `template` with `vars[name]`, strictly (see the module docs).
pub fn render(
    template: &str,
    vars: &BTreeMap<&str, String>,
) -> std::result::Result<String, RenderError> {
    render_with_lines(template, vars, &BTreeMap::new())
}

/// [`render`], where a line holding `{{name}}` of a line parameter `lines[name]` is written
/// once per element, the placeholder replaced by it (no element: the line is left out).
pub fn render_with_lines(
    template: &str,
    vars: &BTreeMap<&str, String>,
    lines: &BTreeMap<&str, Vec<String>>,
) -> std::result::Result<String, RenderError> {
    let mut problems = Vec::new();
    let values = vars.iter();
    let elements = lines
        .iter()
        .flat_map(|(name, values)| values.iter().map(move |value| (name, value)));
    for (name, value) in values.chain(elements) {
        if let Some(reason) = unsafe_value_reason(value) {
            problems.push(Problem::BadValue {
                name: name.to_string(),
                value: value.clone(),
                reason: reason.to_string(),
            });
        }
    }
    let mut used = std::collections::BTreeSet::new();
    let mut out = String::with_capacity(template.len() + 1024);
    let mut expanded = Vec::new();
    for (index, line) in template.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        let repeated = lines
            .iter()
            .find(|(name, _)| line.contains(&format!("{{{{{name}}}}}")));
        expanded.clear();
        match repeated {
            Some((name, values)) => {
                used.insert(*name);
                let placeholder = format!("{{{{{name}}}}}");
                expanded.extend(values.iter().map(|value| line.replace(&placeholder, value)));
            }
            None => expanded.push(line.to_string()),
        }
        for line in &expanded {
            substitute(line, line_no, vars, &mut used, &mut out, &mut problems);
        }
    }
    for name in vars.keys().chain(lines.keys()) {
        if !used.contains(name) {
            problems.push(Problem::UnusedParameter {
                name: name.to_string(),
            });
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(RenderError(problems))
    }
}

/// Writes `line` (number `line_no` of the template) to `out` with its placeholders replaced.
fn substitute<'a>(
    line: &str,
    line_no: usize,
    vars: &'a BTreeMap<&str, String>,
    used: &mut std::collections::BTreeSet<&'a str>,
    out: &mut String,
    problems: &mut Vec<Problem>,
) {
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            problems.push(Problem::Unterminated { line: line_no });
            rest = after;
            break;
        };
        let name = &after[..end];
        if !is_placeholder_name(name) {
            problems.push(Problem::BadName {
                text: name.to_string(),
                line: line_no,
            });
        } else if let Some((&known, value)) = vars.get_key_value(name) {
            used.insert(known);
            out.push_str(value);
        } else {
            problems.push(Problem::UnknownPlaceholder {
                name: name.to_string(),
                line: line_no,
            });
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
}

fn is_placeholder_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Why `value` could change the structure of the config around it, if it could.
fn unsafe_value_reason(value: &str) -> Option<&'static str> {
    if value.chars().any(char::is_control) {
        return Some("line breaks and control characters are not allowed");
    }
    if value.contains([';', '{', '}', '#', '"', '\'', '$', '\\']) {
        return Some("nginx syntax characters (; { } # quotes $ \\) are not allowed");
    }
    None
}
