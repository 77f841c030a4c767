//! Which files of a Docker build context reach the builder: `.dockerignore` rules, and the
//! glob matching that both those rules and `COPY` sources use.
//!
//! Docker's semantics, reduced to what a build context needs: patterns are paths relative to
//! the context root (a leading `/` is ignored); `*` and `?` match within one path segment,
//! `[...]` a character class, `**` any number of segments; a rule that matches a folder also
//! matches everything inside it; `!` re-includes; the LAST matching rule wins. BuildKit reads
//! `<Dockerfile>.dockerignore` next to the Dockerfile instead of the context's
//! `.dockerignore` when it exists — which is how an HttpArena export keeps HttpArena's whole
//! repository (its build context) from being sent to the builder.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The rules of one ignore file (none: everything is sent).
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    origin: Option<PathBuf>,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    segments: Vec<String>,
    include: bool,
}

impl DockerIgnore {
    /// The ignore file that applies to a build of `dockerfile` in `context`.
    pub fn for_build(context: &Path, dockerfile: &Path) -> anyhow::Result<Self> {
        let beside = dockerfile.with_file_name(format!(
            "{}.dockerignore",
            dockerfile
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        for candidate in [beside, context.join(".dockerignore")] {
            if candidate.is_file() {
                let text = std::fs::read_to_string(&candidate)
                    .with_context(|| format!("reading {}", candidate.display()))?;
                let mut ignore = Self::parse(&text);
                ignore.origin = Some(candidate);
                return Ok(ignore);
            }
        }
        Ok(Self::default())
    }

    pub fn parse(text: &str) -> Self {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| {
                let (include, pattern) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, line),
                };
                let segments = split_clean(pattern);
                (!segments.is_empty()).then_some(Rule { segments, include })
            })
            .collect();
        Self {
            origin: None,
            rules,
        }
    }

    /// The file the rules came from, if any.
    pub fn origin(&self) -> Option<&Path> {
        self.origin.as_deref()
    }

    /// Whether `relative` (a path inside the context, `/`-separated) is left out of the build.
    pub fn is_excluded(&self, relative: &str) -> bool {
        let path = split_clean(relative);
        if path.is_empty() {
            return false;
        }
        let mut excluded = false;
        for rule in &self.rules {
            // A rule matches the path itself or any folder above it.
            let matched = (1..=path.len()).any(|len| match_segments(&rule.segments, &path[..len]));
            if matched {
                excluded = !rule.include;
            }
        }
        excluded
    }
}

/// `a/./b//c/` → `["a", "b", "c"]`; `..` pops (never above the root).
pub fn split_clean(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other.to_string()),
        }
    }
    out
}

/// Whether `path` escapes its root through `..` (e.g. `../x`, `a/../../x`).
pub fn escapes_root(path: &str) -> bool {
    let mut depth: i64 = 0;
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// Whether a pattern (already split into segments, `**` allowed) matches a whole path.
pub fn match_segments(pattern: &[String], path: &[String]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((segment, path_rest)) => {
                glob_segment(first.as_bytes(), segment.as_bytes())
                    && match_segments(rest, path_rest)
            }
            None => false,
        },
    }
}

/// Shell-style matching of one path segment: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`/`[^x]`, `\x`.
pub fn glob_segment(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.first() {
        None => text.is_empty(),
        Some(b'*') => (0..=text.len()).any(|skip| glob_segment(&pattern[1..], &text[skip..])),
        Some(b'?') => !text.is_empty() && glob_segment(&pattern[1..], &text[1..]),
        Some(b'[') => {
            let Some((&c, text_rest)) = text.split_first() else {
                return false;
            };
            match class_matches(&pattern[1..], c) {
                Some((matched, pattern_rest)) => matched && glob_segment(pattern_rest, text_rest),
                // An unclosed `[` is a literal.
                None => c == b'[' && glob_segment(&pattern[1..], text_rest),
            }
        }
        Some(b'\\') if pattern.len() > 1 => {
            text.first() == Some(&pattern[1]) && glob_segment(&pattern[2..], &text[1..])
        }
        Some(&p) => text.first() == Some(&p) && glob_segment(&pattern[1..], &text[1..]),
    }
}

/// Matches `c` against the class whose body starts at `body` (just after `[`); returns whether
/// it matched and the pattern after the closing `]`, or `None` when the class is unclosed.
fn class_matches(body: &[u8], c: u8) -> Option<(bool, &[u8])> {
    let (negated, mut i) = match body.first() {
        Some(b'!') | Some(b'^') => (true, 1),
        _ => (false, 0),
    };
    let mut matched = false;
    let mut first = true;
    while i < body.len() {
        if body[i] == b']' && !first {
            return Some((matched != negated, &body[i + 1..]));
        }
        first = false;
        let lo = body[i];
        if i + 2 < body.len() && body[i + 1] == b'-' && body[i + 2] != b']' {
            if (lo..=body[i + 2]).contains(&c) {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

/// Whether `text` contains glob metacharacters.
pub fn has_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        split_clean(p)
    }

    #[test]
    fn segment_globs() {
        assert!(glob_segment(b"*.rs", b"main.rs"));
        assert!(!glob_segment(b"*.rs", b"main.rsx"));
        assert!(glob_segment(b"ma?n.rs", b"main.rs"));
        assert!(glob_segment(b"[a-c]x", b"bx"));
        assert!(!glob_segment(b"[!a-c]x", b"bx"));
        assert!(glob_segment(b"[!a-c]x", b"dx"));
        assert!(glob_segment(b"\\*", b"*"));
        assert!(!glob_segment(b"\\*", b"a"));
        assert!(glob_segment(b"[x", b"[x"));
    }

    #[test]
    fn double_star_spans_folders() {
        assert!(match_segments(&segs("**/*.swp"), &segs("a/b/c.swp")));
        assert!(match_segments(&segs("**/*.swp"), &segs("c.swp")));
        assert!(!match_segments(&segs("a/*"), &segs("a/b/c")));
    }

    #[test]
    fn last_rule_wins_and_folders_cover_their_contents() {
        let ignore =
            DockerIgnore::parse("# comment\n*\n!frameworks/mine/\nframeworks/mine/target\n");
        assert!(ignore.is_excluded("README.md"));
        assert!(ignore.is_excluded("frameworks/other/Dockerfile"));
        assert!(!ignore.is_excluded("frameworks/mine/Dockerfile"));
        assert!(!ignore.is_excluded("frameworks/mine/crates/server/src/main.rs"));
        assert!(ignore.is_excluded("frameworks/mine/target/release/server"));
        // The folder itself is excluded by `*` but re-included by the exception.
        assert!(!ignore.is_excluded("frameworks/mine"));
    }

    #[test]
    fn checkout_ignore_file_keeps_build_output_out() {
        let ignore = DockerIgnore::parse("target/\n.prodstack/\n**/*.swp\n");
        assert!(ignore.is_excluded("target/debug/server"));
        assert!(ignore.is_excluded(".prodstack/data/dataset.json"));
        assert!(ignore.is_excluded("crates/x/.main.rs.swp"));
        assert!(!ignore.is_excluded("crates/server/src/main.rs"));
        assert!(!ignore.is_excluded("Cargo.lock"));
    }

    #[test]
    fn root_escapes_are_detected() {
        assert!(escapes_root("../x"));
        assert!(escapes_root("a/../../x"));
        assert!(!escapes_root("a/../x"));
        assert!(!escapes_root("./x/."));
    }
}
