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
//!
//! The glob matching itself is `globset`'s: `literal_separator`, so `*` stops at `/`;
//! backslash escapes; an unclosed `[` is a literal `[`; braces are literal (globset's `{a,b}`
//! alternates are not Docker's).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use globset::{GlobBuilder, GlobMatcher};

/// The rules of one ignore file (none: everything is sent).
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    origin: Option<PathBuf>,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: Pattern,
    include: bool,
}

/// One glob over `/`-separated paths: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`/`[^x]`, `\\x`, and
/// `**` for any number of whole segments.
#[derive(Debug, Clone)]
pub enum Pattern {
    Glob(GlobMatcher),
    /// What globset cannot parse matches only itself.
    Literal(String),
}

impl Pattern {
    pub fn new(pattern: &str) -> Self {
        // Docker (Go's `filepath.Match`) has no `{a,b}` alternates: braces are literal.
        let escaped = pattern.replace('{', "\\{").replace('}', "\\}");
        match GlobBuilder::new(&escaped)
            .literal_separator(true)
            .backslash_escape(true)
            .allow_unclosed_class(true)
            .build()
        {
            Ok(glob) => Self::Glob(glob.compile_matcher()),
            Err(_) => Self::Literal(pattern.to_string()),
        }
    }

    /// Whether the pattern matches the whole of `path`.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Self::Glob(matcher) => matcher.is_match(path),
            Self::Literal(text) => text == path,
        }
    }
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
                (!segments.is_empty()).then(|| Rule {
                    pattern: Pattern::new(&segments.join("/")),
                    include,
                })
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
        // The path itself and every folder above it: a rule that matches a folder covers it.
        let prefixes: Vec<String> = (1..=path.len()).map(|len| path[..len].join("/")).collect();
        let mut excluded = false;
        for rule in &self.rules {
            if prefixes.iter().any(|prefix| rule.pattern.matches(prefix)) {
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

/// Whether `text` contains glob metacharacters.
pub fn has_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str, path: &str) -> bool {
        Pattern::new(pattern).matches(path)
    }

    #[test]
    fn segment_globs() {
        assert!(glob("*.rs", "main.rs"));
        assert!(!glob("*.rs", "main.rsx"));
        assert!(glob("ma?n.rs", "main.rs"));
        assert!(glob("[a-c]x", "bx"));
        assert!(!glob("[!a-c]x", "bx"));
        assert!(glob("[!a-c]x", "dx"));
        assert!(glob("[^a-c]x", "dx"));
        assert!(glob("\\*", "*"));
        assert!(!glob("\\*", "a"));
        // An unclosed class is a literal `[`; braces are literal too.
        assert!(glob("[x", "[x"));
        assert!(!glob("[x", "x"));
        assert!(glob("[x*", "[xy"));
        assert!(glob("{a,b}.rs", "{a,b}.rs"));
        assert!(!glob("{a,b}.rs", "a.rs"));
    }

    #[test]
    fn double_star_spans_folders_and_single_stars_do_not() {
        assert!(glob("**/*.swp", "a/b/c.swp"));
        assert!(glob("**/*.swp", "c.swp"));
        assert!(glob("a/**/z", "a/b/c/z"));
        assert!(!glob("a/*", "a/b/c"));
        assert!(!glob("*.rs", "src/main.rs"));
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
