//! `prodstack test`: the one command that proves the checkout works. It runs rustfmt, clippy
//! and every test of the workspace, then ends with the test runner's summary line.
//!
//! The integration tests start real Postgres, Redis and nginx processes and our own binaries;
//! the binaries are built first (dev profile) and found through `PRODSTACK_BIN_DIR`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context as _};
use clap::Args;

use stack::Project;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Skip the rustfmt and clippy steps (tests only).
    #[arg(long)]
    pub no_lint: bool,
    /// Extra arguments for the test runner (a test name filter, for example).
    #[arg(trailing_var_arg = true)]
    pub runner_args: Vec<String>,
}

pub fn run(project: &Project, args: TestArgs) -> anyhow::Result<ExitCode> {
    let root = &project.project_root;
    if !args.no_lint {
        step(root, "rustfmt", &["fmt", "--all", "--", "--check"])?;
        step(
            root,
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )?;
    }
    step(
        root,
        "build test binaries",
        &["build", "--workspace", "--bins"],
    )?;
    let bin_dir = target_dir(root).join("debug");
    let tests_passed = if has_nextest(root) {
        run_nextest(root, &bin_dir, &args.runner_args)?
    } else {
        run_cargo_test(root, &bin_dir, &args.runner_args)?
    };
    Ok(if tests_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

fn step(root: &Path, name: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("==> {name}: cargo {}", args.join(" "));
    let status = cargo(root)
        .args(args)
        .status()
        .with_context(|| format!("running cargo for {name}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn has_nextest(root: &Path) -> bool {
    cargo(root)
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// nextest prints its own one-line summary (`Summary [..] N tests run: N passed ...`) last.
fn run_nextest(root: &Path, bin_dir: &Path, extra: &[String]) -> anyhow::Result<bool> {
    eprintln!("==> tests: cargo nextest run --workspace");
    let status = cargo(root)
        .args(["nextest", "run", "--workspace", "--no-fail-fast"])
        .args(extra)
        .env("PRODSTACK_BIN_DIR", bin_dir)
        .status()
        .context("running cargo nextest")?;
    Ok(status.success())
}

/// Plain `cargo test` prints one `test result:` line per test binary; this adds them up so the
/// run still ends with a single summary line.
fn run_cargo_test(root: &Path, bin_dir: &Path, extra: &[String]) -> anyhow::Result<bool> {
    eprintln!("==> tests: cargo test --workspace (cargo-nextest not installed)");
    let mut child = cargo(root)
        .args(["test", "--workspace", "--no-fail-fast"])
        .args(extra)
        .env("PRODSTACK_BIN_DIR", bin_dir)
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let stdout = child.stdout.take().context("cargo test has no stdout")?;
    let mut totals = TestTotals::default();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo test output")?;
        println!("{line}");
        totals.add_line(&line);
    }
    let status = child.wait().context("waiting for cargo test")?;
    println!(
        "Summary: {} tests run: {} passed, {} failed, {} ignored ({} test binaries)",
        totals.passed + totals.failed,
        totals.passed,
        totals.failed,
        totals.ignored,
        totals.binaries
    );
    Ok(status.success() && totals.failed == 0)
}

/// Running totals over the `test result: ok. 3 passed; 0 failed; 1 ignored; ...` lines.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TestTotals {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    pub binaries: u64,
}

impl TestTotals {
    pub fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        self.binaries += 1;
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(count)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(count) = count.parse::<u64>() else {
                continue;
            };
            match label {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                "ignored" => self.ignored += count,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_up_cargo_test_result_lines() {
        let mut totals = TestTotals::default();
        totals.add_line("test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s");
        totals.add_line("running 3 tests");
        totals.add_line(
            "test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        assert_eq!(
            totals,
            TestTotals {
                passed: 14,
                failed: 1,
                ignored: 1,
                binaries: 2
            }
        );
    }
}
