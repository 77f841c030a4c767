//! Checking one build of a parsed Dockerfile: `ARG` scopes and substitution, `COPY`/`ADD`
//! sources against the build context and its ignore file, stage references, pinned base
//! images, and what the final image must declare.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::super::dockerignore::{escapes_root, has_glob, split_clean, DockerIgnore, Pattern};
use super::syntax::{env_pairs, unquote, Dockerfile, Instruction, Stage};

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

#[cfg(test)]
mod tests {
    use super::*;

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
