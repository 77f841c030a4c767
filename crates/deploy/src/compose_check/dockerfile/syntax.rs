//! Reading a Dockerfile: logical lines (continuations, comments, parser directives), each
//! instruction's keyword, `--flags` and arguments, stages, and the JSON and shell word forms
//! the instructions use.

use std::fmt;
use std::path::Path;

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
}

/// `ENV a=1 b="two words"` or the legacy `ENV a 1`.
pub(super) fn env_pairs(rest: &str) -> Vec<(String, String)> {
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

pub(super) fn unquote(text: &str) -> String {
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
}
