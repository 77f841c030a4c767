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

//! [`syntax`] owns the reader and the Dockerfile's types; [`lint`] owns the checks of a build.

mod lint;
mod syntax;

pub use lint::{check_pinned, substitute, BuildContext, CopiedFile, Finding, LintReport};
pub use syntax::{Dockerfile, Instruction, ParseError, Stage};
