//! A small Dockerfile reader and linter — enough to keep our three Dockerfiles honest on a
//! machine without a Docker engine.
//!
//! [`Dockerfile::parse`] turns the text into stages of instructions (line continuations,
//! comments, parser directives, `--flags`, JSON and shell forms). [`Dockerfile::lint`] then
//! checks a build the way BuildKit would run it: `ARG`s in scope (global ones only in `FROM`
//! unless re-declared in the stage, build args from the compose file override defaults), every
//! `COPY`/`ADD` source present in the build context and not dropped by its `.dockerignore`,
//! `COPY --from` naming an earlier stage, every base image pinned to a tag or digest, and the
//! final image carrying `EXPOSE`, a `HEALTHCHECK`, a command, and a non-root `USER`.
//!
//! Not supported (reported as errors, not silently skipped): heredocs and the `escape`
//! directive.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::dockerignore::{escapes_root, has_glob, split_clean, DockerIgnore, Pattern};

const KEYWORDS: [&str; 18] = [
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// One instruction: `KEYWORD --flag=value ... arguments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of the keyword.
    pub line: usize,
    /// Upper-case keyword.
    pub keyword: String,
    /// Leading `--name[=value]` flags (for FROM, RUN, COPY, ADD, HEALTHCHECK).
    pub flags: Vec<(String, Option<String>)>,
    /// The arguments after the flags, continuation lines joined.
    pub rest: String,
}

impl Instruction {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// The arguments as words: the JSON array form when the text is one, else split on
    /// whitespace.
    pub fn words(&self) -> Vec<String> {
        json_array(&self.rest)
            .unwrap_or_else(|| self.rest.split_whitespace().map(String::from).collect())
    }
}

/// A `FROM` and the instructions after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub from: Instruction,
    /// The image reference as written (before `ARG` substitution).
    pub image: String,
    /// `AS name`, lower-cased as Docker does.
    pub name: Option<String>,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// `ARG`s before the first `FROM`.
    pub global_args: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

/// A syntax problem that stops parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// What one build sends to the builder: the context folder, its ignore rules, build args.
#[derive(Debug, Clone)]
pub struct BuildContext {
    pub dir: PathBuf,
    pub ignore: DockerIgnore,
    pub build_args: BTreeMap<String, String>,
}

impl BuildContext {
    /// The context `dir` with the ignore file that applies to `dockerfile`.
    pub fn new(dir: &Path, dockerfile: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            dir: dir.to_path_buf(),
            ignore: DockerIgnore::for_build(dir, dockerfile)?,
            build_args: BTreeMap::new(),
        })
    }
}

/// A `COPY`/`ADD` source resolved inside the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedFile {
    pub line: usize,
    /// Relative to the context.
    pub source: String,
    pub destination: String,
    pub stage: usize,
}

/// What [`Dockerfile::lint`] learned besides findings.
#[derive(Debug, Clone, Default)]
pub struct LintReport {
    pub findings: Vec<Finding>,
    /// Sources copied from the context (after substitution), in order.
    pub copies: Vec<CopiedFile>,
    /// The final stage's base image, substituted.
    pub final_base: Option<String>,
}

impl Dockerfile {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the Dockerfile {}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut global_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for instruction in logical_lines(text)? {
            let instruction = split_instruction(instruction)?;
            match (instruction.keyword.as_str(), stages.last_mut()) {
                ("FROM", _) => {
                    let words: Vec<&str> = instruction.rest.split_whitespace().collect();
                    let (image, name) = match words.as_slice() {
                        [image] => (image.to_string(), None),
                        [image, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                            (image.to_string(), Some(name.to_ascii_lowercase()))
                        }
                        _ => {
                            return Err(ParseError {
                                line: instruction.line,
                                message: format!(
                                    "expected `FROM image [AS name]`, found `FROM {}`",
                                    instruction.rest
                                ),
                            })
                        }
                    };
                    stages.push(Stage {
                        from: instruction,
                        image,
                        name,
                        instructions: Vec::new(),
                    });
                }
                ("ARG", None) => global_args.push(instruction),
                (_, None) => {
                    return Err(ParseError {
                        line: instruction.line,
                        message: format!(
                            "{} before the first FROM (only ARG may come first)",
                            instruction.keyword
                        ),
                    })
                }
                (_, Some(stage)) => stage.instructions.push(instruction),
            }
        }
        if stages.is_empty() {
            return Err(ParseError {
                line: 1,
                message: "no FROM instruction".into(),
            });
        }
        Ok(Self {
            global_args,
            stages,
        })
    }

    /// Checks a build of this Dockerfile in `context` (see the module docs).
    pub fn lint(&self, context: &BuildContext) -> LintReport {
        let mut report = LintReport::default();
        let mut findings = Vec::new();

        // Global ARGs: usable in FROM lines; stages see them only when re-declared.
        let mut global = BTreeMap::new();
        for arg in &self.global_args {
            declare_arg(arg, &mut global, &BTreeMap::new(), context, &mut findings);
        }

        let mut stage_names: Vec<Option<String>> = Vec::new();
        for (index, stage) in self.stages.iter().enumerate() {
            let image = substitute(&stage.image, &global);
            let from_stage = stage_names
                .iter()
                .any(|n| n.as_deref() == Some(image.as_str()));
            if !from_stage {
                if let Err(why) = check_pinned(&image) {
                    findings.push(Finding {
                        line: Some(stage.from.line),
                        message: format!("base image `{image}` {why}"),
                    });
                }
            }
            if let Some(name) = &stage.name {
                if stage_names.iter().any(|n| n.as_ref() == Some(name)) {
                    findings.push(Finding {
                        line: Some(stage.from.line),
                        message: format!("stage name `{name}` is used twice"),
                    });
                }
            }

            let mut vars: BTreeMap<String, String> = BTreeMap::new();
            for instruction in &stage.instructions {
                match instruction.keyword.as_str() {
                    "ARG" => declare_arg(instruction, &mut vars, &global, context, &mut findings),
                    "ENV" => {
                        for (key, value) in env_pairs(&instruction.rest) {
                            let value = substitute(&value, &vars);
                            vars.insert(key, value);
                        }
                    }
                    "COPY" | "ADD" => self.lint_copy(
                        instruction,
                        index,
                        &stage_names,
                        &vars,
                        context,
                        &mut report.copies,
                        &mut findings,
                    ),
                    "MAINTAINER" => findings.push(Finding {
                        line: Some(instruction.line),
                        message: "MAINTAINER is deprecated; use a LABEL".into(),
                    }),
                    _ => {}
                }
            }
            stage_names.push(stage.name.clone());
            if index + 1 == self.stages.len() {
                report.final_base = Some(image.clone());
                lint_final_stage(stage, &image, &vars, &mut findings);
            }
        }
        report.findings = findings;
        report
    }

    #[allow(clippy::too_many_arguments)]
    fn lint_copy(
        &self,
        instruction: &Instruction,
        stage: usize,
        earlier_stages: &[Option<String>],
        vars: &BTreeMap<String, String>,
        context: &BuildContext,
        copies: &mut Vec<CopiedFile>,
        findings: &mut Vec<Finding>,
    ) {
        let line = Some(instruction.line);
        let words = instruction.words();
        if words.len() < 2 {
            findings.push(Finding {
                line,
                message: format!(
                    "{} needs at least a source and a destination",
                    instruction.keyword
                ),
            });
            return;
        }
        let (sources, destination) = words.split_at(words.len() - 1);
        let destination = substitute(&destination[0], vars);

        if let Some(from) = instruction.flag("from") {
            let from = substitute(from, vars).to_ascii_lowercase();
            let by_name = earlier_stages
                .iter()
                .any(|n| n.as_deref() == Some(from.as_str()));
            let by_index = from.parse::<usize>().is_ok_and(|i| i < stage);
            if !by_name && !by_index {
                if let Err(why) = check_pinned(&from) {
                    findings.push(Finding {
                        line,
                        message: format!(
                            "COPY --from={from}: not an earlier stage, and as an image it {why}"
                        ),
                    });
                }
            }
            return;
        }

        for source in sources {
            let source = substitute(source, vars);
            if instruction.keyword == "ADD"
                && (source.contains("://") || source.starts_with("git@"))
            {
                findings.push(Finding {
                    line,
                    message: format!("ADD {source}: remote sources are not reproducible"),
                });
                continue;
            }
            if escapes_root(source.trim_start_matches('/')) {
                findings.push(Finding {
                    line,
                    message: format!(
                        "{} source `{source}` leaves the build context",
                        instruction.keyword
                    ),
                });
                continue;
            }
            let relative = split_clean(&source).join("/");
            let matches = if has_glob(&relative) {
                expand_glob(&context.dir, &relative)
            } else if relative.is_empty() || context.dir.join(&relative).exists() {
                vec![relative.clone()]
            } else {
                Vec::new()
            };
            if matches.is_empty() {
                findings.push(Finding {
                    line,
                    message: format!(
                        "{} source `{source}` does not exist in the build context {}",
                        instruction.keyword,
                        context.dir.display()
                    ),
                });
                continue;
            }
            let kept: Vec<&String> = matches
                .iter()
                .filter(|m| !context.ignore.is_excluded(m))
                .collect();
            if kept.is_empty() {
                findings.push(Finding {
                    line,
                    message: format!(
                        "{} source `{source}` is excluded from the build context by {}",
                        instruction.keyword,
                        context
                            .ignore
                            .origin()
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| ".dockerignore".into())
                    ),
                });
                continue;
            }
            for m in kept {
                copies.push(CopiedFile {
                    line: instruction.line,
                    source: m.clone(),
                    destination: destination.clone(),
                    stage,
                });
            }
        }
    }
}

/// `ARG NAME[=default]`: the value is the build arg when given, else the default, else (for
/// a re-declared global) the global value.
fn declare_arg(
    instruction: &Instruction,
    scope: &mut BTreeMap<String, String>,
    global: &BTreeMap<String, String>,
    context: &BuildContext,
    findings: &mut Vec<Finding>,
) {
    for word in instruction.rest.split_whitespace() {
        let (name, default) = match word.split_once('=') {
            Some((name, default)) => (name, Some(unquote(default))),
            None => (word, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            findings.push(Finding {
                line: Some(instruction.line),
                message: format!("ARG `{word}` is not a valid argument name"),
            });
            continue;
        }
        let value = context
            .build_args
            .get(name)
            .cloned()
            .or_else(|| default.map(|d| substitute(&d, scope)))
            .or_else(|| global.get(name).cloned())
            .unwrap_or_default();
        scope.insert(name.to_string(), value);
    }
}

fn lint_final_stage(
    stage: &Stage,
    image: &str,
    vars: &BTreeMap<String, String>,
    findings: &mut Vec<Finding>,
) {
    let has = |keyword: &str| stage.instructions.iter().any(|i| i.keyword == keyword);
    let last = |keyword: &str| {
        stage
            .instructions
            .iter()
            .rev()
            .find(|i| i.keyword == keyword)
    };
    let line = Some(stage.from.line);
    if !has("EXPOSE") {
        findings.push(Finding {
            line,
            message: "the final image has no EXPOSE".into(),
        });
    }
    match last("HEALTHCHECK") {
        None => findings.push(Finding {
            line,
            message: "the final image has no HEALTHCHECK".into(),
        }),
        Some(h) if h.rest.trim().eq_ignore_ascii_case("none") => findings.push(Finding {
            line: Some(h.line),
            message: "HEALTHCHECK NONE disables the health check".into(),
        }),
        Some(h) => {
            let rest = h.rest.trim_start();
            if !rest.to_ascii_uppercase().starts_with("CMD") {
                findings.push(Finding {
                    line: Some(h.line),
                    message: "HEALTHCHECK needs `CMD ...`".into(),
                });
            }
        }
    }
    if !has("CMD") && !has("ENTRYPOINT") {
        findings.push(Finding {
            line,
            message: "the final image has neither CMD nor ENTRYPOINT".into(),
        });
    }
    // The official nginx image runs its master as root by design (it reads the TLS key, then
    // serves every request from workers running as the `user` of nginx.conf); everything else
    // must drop root itself.
    let nginx_master = image.starts_with("nginx:") || image.starts_with("nginx@");
    match last("USER") {
        None if nginx_master => {}
        None => findings.push(Finding {
            line,
            message: "the final image runs as root (no USER)".into(),
        }),
        Some(user) => {
            let who = substitute(user.rest.trim(), vars);
            let account = who.split(':').next().unwrap_or("");
            if account == "root" || account == "0" || account.is_empty() {
                findings.push(Finding {
                    line: Some(user.line),
                    message: format!("USER {who} is root"),
                });
            }
        }
    }
}

/// `Ok` when `image` names a fixed tag or digest (not `latest`, not untagged).
pub fn check_pinned(image: &str) -> Result<(), &'static str> {
    if image == "scratch" {
        return Ok(());
    }
    if image.is_empty() {
        return Err("is empty (an ARG without a value?)");
    }
    if image.contains('$') {
        return Err("still contains an unresolved variable");
    }
    if image.contains('@') {
        return Ok(());
    }
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    match last_segment.split_once(':') {
        None => Err("has no tag (it would float to `latest`)"),
        Some((_, "latest")) => Err("is pinned to `latest`, which floats"),
        Some((_, "")) => Err("has an empty tag"),
        Some(_) => Ok(()),
    }
}

/// Every path of `context` matching `pattern` (segments, no `**`).
fn expand_glob(context: &Path, pattern: &str) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, pattern: &[Pattern], out: &mut Vec<String>) {
        let Some((first, rest)) = pattern.split_first() else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            if !first.matches(&name) {
                continue;
            }
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if rest.is_empty() {
                out.push(path);
            } else {
                walk(&dir.join(&name), &path, rest, out);
            }
        }
    }
    let mut out = Vec::new();
    let segments: Vec<Pattern> = split_clean(pattern)
        .iter()
        .map(|segment| Pattern::new(segment))
        .collect();
    walk(context, "", &segments, &mut out);
    out
}

/// `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME:+alternative}`; `\$` is a literal `$`.
/// Unknown names expand to nothing, as in Docker.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\\' && bytes.get(i + 1) == Some(&b'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c != b'$' {
            let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        if bytes.get(i + 1) == Some(&b'{') {
            let Some(close) = text[i + 2..].find('}') else {
                out.push_str(&text[i..]);
                break;
            };
            let inner = &text[i + 2..i + 2 + close];
            let value = match (inner.split_once(":-"), inner.split_once(":+")) {
                (Some((name, default)), _) => vars
                    .get(name)
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_else(|| default.to_string()),
                (None, Some((name, alternative))) => {
                    if vars.get(name).is_some_and(|v| !v.is_empty()) {
                        alternative.to_string()
                    } else {
                        String::new()
                    }
                }
                (None, None) => vars.get(inner).cloned().unwrap_or_default(),
            };
            out.push_str(&value);
            i += close + 3;
            continue;
        }
        let name_len = text[i + 1..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if name_len == 0 {
            out.push('$');
            i += 1;
            continue;
        }
        let name = &text[i + 1..i + 1 + name_len];
        out.push_str(vars.get(name).map(String::as_str).unwrap_or(""));
        i += 1 + name_len;
    }
    out
}

/// `ENV a=1 b="two words"` or the legacy `ENV a 1`.
fn env_pairs(rest: &str) -> Vec<(String, String)> {
    let rest = rest.trim();
    let first = rest.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let mut parts = rest.splitn(2, char::is_whitespace);
        let key = parts.next().unwrap_or("").to_string();
        let value = parts.next().unwrap_or("").trim().to_string();
        return vec![(key, value)];
    }
    shell_words(rest)
        .into_iter()
        .filter_map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Splits on unquoted whitespace and removes the quotes, with POSIX shell rules (`shlex`);
/// a line with an unclosed quote, which Docker refuses, falls back to plain whitespace. One
/// difference from Docker: a word starting with an unquoted `#` begins a comment for shlex;
/// no Dockerfile checked here writes one.
fn shell_words(text: &str) -> Vec<String> {
    shlex::split(text).unwrap_or_else(|| text.split_whitespace().map(str::to_string).collect())
}

fn unquote(text: &str) -> String {
    shell_words(text).into_iter().next().unwrap_or_default()
}

/// The JSON-array form `["a", "b"]`, if `text` is one.
fn json_array(text: &str) -> Option<Vec<String>> {
    let trimmed = text.trim();
    if !trimmed.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(trimmed).ok()
}

/// A logical line: the 1-based line it starts on and its text, continuations joined.
struct LogicalLine {
    line: usize,
    text: String,
}

fn logical_lines(text: &str) -> Result<Vec<LogicalLine>, ParseError> {
    let mut out = Vec::new();
    let mut current: Option<LogicalLine> = None;
    let mut in_directives = true;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let trimmed = raw.trim();
        if in_directives {
            if let Some(directive) = trimmed.strip_prefix('#') {
                if let Some((key, _)) = directive.split_once('=') {
                    let key = key.trim().to_ascii_lowercase();
                    if key == "escape" {
                        return Err(ParseError {
                            line: line_no,
                            message: "the `escape` parser directive is not supported".into(),
                        });
                    }
                    if key == "syntax" || key == "check" {
                        continue;
                    }
                }
            }
            in_directives = false;
        }
        // Comment lines are dropped, even inside a continued instruction (as Docker does).
        if trimmed.starts_with('#') {
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        let (body, continues) = match raw.trim_end().strip_suffix('\\') {
            Some(body) => (body.to_string(), true),
            None => (raw.trim_end().to_string(), false),
        };
        match current.as_mut() {
            Some(open) => {
                open.text.push(' ');
                open.text.push_str(body.trim());
            }
            None => {
                current = Some(LogicalLine {
                    line: line_no,
                    text: body.trim().to_string(),
                })
            }
        }
        if !continues {
            if let Some(done) = current.take() {
                out.push(done);
            }
        }
    }
    if let Some(open) = current {
        return Err(ParseError {
            line: open.line,
            message: "the last instruction ends with a line continuation".into(),
        });
    }
    Ok(out)
}

fn split_instruction(line: LogicalLine) -> Result<Instruction, ParseError> {
    let (keyword, rest) = match line.text.split_once(char::is_whitespace) {
        Some((k, r)) => (k, r.trim()),
        None => (line.text.as_str(), ""),
    };
    let keyword = keyword.to_ascii_uppercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(ParseError {
            line: line.line,
            message: format!("unknown instruction `{keyword}`"),
        });
    }
    if rest.is_empty() {
        return Err(ParseError {
            line: line.line,
            message: format!("{keyword} without arguments"),
        });
    }
    if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") && has_heredoc(rest) {
        return Err(ParseError {
            line: line.line,
            message: "heredocs are not supported by this checker".into(),
        });
    }
    let mut flags = Vec::new();
    let mut rest = rest;
    if matches!(
        keyword.as_str(),
        "FROM" | "RUN" | "COPY" | "ADD" | "HEALTHCHECK"
    ) {
        while let Some(after) = rest.strip_prefix("--") {
            let (word, remaining) = match after.split_once(char::is_whitespace) {
                Some((w, r)) => (w, r.trim_start()),
                None => (after, ""),
            };
            let (name, value) = match word.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (word.to_string(), None),
            };
            flags.push((name, value));
            rest = remaining;
        }
    }
    Ok(Instruction {
        line: line.line,
        keyword,
        flags,
        rest: rest.to_string(),
    })
}

fn has_heredoc(text: &str) -> bool {
    text.match_indices("<<").any(|(i, _)| {
        let after = text[i + 2..].trim_start_matches('-');
        let after = after.trim_start_matches(['"', '\'']);
        after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs_follow_shell_quoting_and_the_legacy_form() {
        assert_eq!(
            env_pairs(r#"A=1 B="two words" C='x y' D=a\ b"#),
            [("A", "1"), ("B", "two words"), ("C", "x y"), ("D", "a b")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            env_pairs("PATH /usr/local/bin:/usr/bin"),
            [("PATH".to_string(), "/usr/local/bin:/usr/bin".to_string())]
        );
        assert_eq!(unquote("\"/srv/data\""), "/srv/data");
    }

    fn context(dir: &Path) -> BuildContext {
        BuildContext {
            dir: dir.to_path_buf(),
            ignore: DockerIgnore::default(),
            build_args: BTreeMap::new(),
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_stages_flags_continuations_and_comments() {
        let text = "# syntax=docker/dockerfile:1\n# a comment\nARG SRC=.\nFROM rust:1.95 AS Build\nRUN a \\\n    # inner comment\n    && b\nCOPY --from=build --chmod=0755 /x /y\nFROM debian:bookworm-slim\nCMD [\"/x\", \"y z\"]\n";
        let df = Dockerfile::parse(text).unwrap();
        assert_eq!(df.global_args.len(), 1);
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[0].name.as_deref(), Some("build"));
        let run = &df.stages[0].instructions[0];
        assert_eq!((run.line, run.rest.as_str()), (5, "a && b"));
        let copy = &df.stages[0].instructions[1];
        assert_eq!(copy.flag("from"), Some("build"));
        assert_eq!(copy.flag("chmod"), Some("0755"));
        assert_eq!(copy.words(), ["/x", "/y"]);
        assert_eq!(df.stages[1].instructions[0].words(), ["/x", "y z"]);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = Dockerfile::parse("FROM a:1\nCOPYY x y\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("unknown instruction `COPYY`"), "{err}");
        let err = Dockerfile::parse("RUN x\n").unwrap_err();
        assert!(err.message.contains("before the first FROM"), "{err}");
        let err = Dockerfile::parse("FROM a:1\nRUN x \\\n").unwrap_err();
        assert!(err.message.contains("continuation"), "{err}");
        let err = Dockerfile::parse("FROM a:1\nRUN <<EOF\nx\nEOF\n").unwrap_err();
        assert!(err.message.contains("heredocs"), "{err}");
        assert!(Dockerfile::parse("# only a comment\n").is_err());
    }

    #[test]
    fn substitution_follows_docker() {
        let v = vars(&[("A", "1"), ("E", "")]);
        assert_eq!(
            substitute("$A/${A}/${B:-d}/${E:-d}/${A:+x}/${B:+x}/\\$A", &v),
            "1/1/d/d/x//$A"
        );
    }

    #[test]
    fn pinning_rules() {
        assert!(check_pinned("rust:1.95-bookworm").is_ok());
        assert!(check_pinned("nginx@sha256:abc").is_ok());
        assert!(check_pinned("localhost:5000/img:1").is_ok());
        assert!(check_pinned("localhost:5000/img").is_err());
        assert!(check_pinned("debian").is_err());
        assert!(check_pinned("debian:latest").is_err());
        assert!(check_pinned("scratch").is_ok());
    }

    #[test]
    fn lint_resolves_args_and_checks_sources() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub/deploy")).unwrap();
        std::fs::write(dir.path().join("sub/deploy/probe.sh"), "x").unwrap();
        std::fs::write(dir.path().join("sub/a.rs"), "x").unwrap();
        let text = "ARG SRC=.\nFROM rust:1.95 AS build\nARG SRC\nCOPY ${SRC}/ ./\nCOPY $SRC/*.rs /x/\nFROM debian:bookworm-slim\nARG SRC\nCOPY --from=build /a /a\nCOPY ${SRC}/deploy/probe.sh /p\nCOPY missing.txt /m\nUSER app\nEXPOSE 1\nHEALTHCHECK CMD [\"p\"]\nCMD [\"/a\"]\n";
        let df = Dockerfile::parse(text).unwrap();
        let mut ctx = context(dir.path());
        ctx.build_args.insert("SRC".into(), "sub".into());
        let report = df.lint(&ctx);
        let messages: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(
            messages[0].contains("line 10: COPY source `missing.txt` does not exist"),
            "{messages:?}"
        );
        let sources: Vec<&str> = report.copies.iter().map(|c| c.source.as_str()).collect();
        assert_eq!(sources, ["sub", "sub/a.rs", "sub/deploy/probe.sh"]);
        assert_eq!(report.final_base.as_deref(), Some("debian:bookworm-slim"));

        // Without the build arg the default `.` applies and `./deploy/probe.sh` is missing.
        let report = df.lint(&context(dir.path()));
        assert!(report
            .findings
            .iter()
            .any(|f| f.message.contains("`./deploy/probe.sh` does not exist")));
    }

    #[test]
    fn lint_reports_root_missing_health_and_floating_images() {
        let dir = tempfile::tempdir().unwrap();
        let df = Dockerfile::parse(
            "FROM debian\nCOPY --from=nope /a /a\nCOPY ../outside /o\nUSER root\nCMD [\"x\"]\n",
        )
        .unwrap();
        let messages: Vec<String> = df
            .lint(&context(dir.path()))
            .findings
            .iter()
            .map(|f| f.to_string())
            .collect();
        let expect = [
            "base image `debian` has no tag",
            "COPY --from=nope: not an earlier stage",
            "leaves the build context",
            "no EXPOSE",
            "no HEALTHCHECK",
            "USER root is root",
        ];
        for e in expect {
            assert!(
                messages.iter().any(|m| m.contains(e)),
                "missing {e:?} in {messages:#?}"
            );
        }
        assert_eq!(messages.len(), expect.len(), "{messages:#?}");
    }

    #[test]
    fn ignored_sources_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("target")).unwrap();
        std::fs::write(dir.path().join("target/x"), "x").unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "target/\n").unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "").unwrap();
        let ctx = BuildContext::new(dir.path(), &dir.path().join("Dockerfile")).unwrap();
        let df = Dockerfile::parse(
            "FROM nginx:1.27-alpine\nCOPY target/x /x\nEXPOSE 1\nHEALTHCHECK CMD x\nCMD x\n",
        )
        .unwrap();
        let findings = df.lint(&ctx).findings;
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(findings[0]
            .message
            .contains("excluded from the build context"));
    }
}
