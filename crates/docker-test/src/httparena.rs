//! The HttpArena part of `docker-test`: a temporary HttpArena tree (its own files from
//! `../shared/httparena/` plus our export) in which HttpArena's `scripts/validate.sh` runs
//! against the exported entry and must end with 0 failures.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use docker::secs;

use deploy::export::{self, Category, ExportOptions};

use crate::args::Part;
use crate::run::{ImageTiming, Run};
use crate::snapshot::{copy_dir, make_writable};

impl Run<'_> {
    /// A temporary HttpArena tree with our export, and HttpArena's own validate.sh on it.
    pub(crate) fn httparena_part(&mut self, part: Part) -> anyhow::Result<String> {
        let (name, category) = match part {
            Part::HttparenaTuned => ("prodstack-tuned", Category::Tuned),
            _ => ("prodstack", Category::Production),
        };
        let shared = self.project.project_root.join("../shared/httparena");
        if !shared.join("scripts/validate.sh").is_file() {
            bail!(
                "HttpArena's files are not at {} (its scripts/validate.sh is needed)",
                shared.display()
            );
        }
        let tree = self
            .home
            .root
            .join("test")
            .join(format!("httparena-{}", category.as_str()));
        let _ = std::fs::remove_dir_all(&tree);
        copy_dir(&shared, &tree)?;
        make_writable(&tree)?;
        // HttpArena keeps its Postgres seed out of git: generate it from its own dataset.
        let seed_home = self.home.root.join("test").join("seed-home");
        let mut options = datagen::Options::new(&seed_home);
        options.from = Some(tree.clone());
        datagen::generate(&options).context("generating HttpArena's pgdb-seed.sql")?;
        std::fs::copy(
            seed_home.join("data/pgdb-seed.sql"),
            tree.join("data/pgdb-seed.sql"),
        )
        .context("placing pgdb-seed.sql in the HttpArena tree")?;
        export::export(
            &self.project.project_root,
            &ExportOptions {
                name: name.into(),
                out: tree.clone(),
                category,
                force: true,
            },
        )?;
        // Cold, as on HttpArena's host: no build cache from the compose parts.
        let _ = self
            .engine
            .docker()
            .args(["builder", "prune", "-af"])
            .output();
        eprintln!(
            "docker-test: {}: HttpArena's scripts/validate.sh {name} (VALIDATE_TIMEOUT={})",
            part.name(),
            self.args.validate_timeout
        );
        let mut cmd = Command::new("bash");
        cmd.envs(self.engine.env());
        cmd.arg("scripts/validate.sh")
            .arg(name)
            .current_dir(&tree)
            .env("VALIDATE_TIMEOUT", self.args.validate_timeout.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group: validate.sh leaves its watchdog's `sleep` running (holding
        // the output pipe) when it exits, so the group is ended once the script is.
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: setpgid in the child before exec.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::setpgid(0, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let began = Instant::now();
        let mut child = cmd.spawn().context("running scripts/validate.sh")?;
        let (lines_tx, lines) = std::sync::mpsc::channel::<(bool, String)>();
        for (is_err, pipe) in [
            (
                false,
                child
                    .stdout
                    .take()
                    .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            ),
            (
                true,
                child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            ),
        ] {
            let tx = lines_tx.clone();
            std::thread::spawn(move || {
                if let Some(pipe) = pipe {
                    for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                        if tx.send((is_err, line)).is_err() {
                            return;
                        }
                    }
                }
            });
        }
        drop(lines_tx);
        let mut build_began = None;
        let mut build_took = None;
        let mut result_line = None;
        let mut log = String::new();
        let mut stderr_lines = Vec::new();
        let mut exited: Option<(std::process::ExitStatus, Instant)> = None;
        loop {
            match lines.recv_timeout(Duration::from_millis(200)) {
                Ok((true, line)) => stderr_lines.push(line),
                Ok((false, line)) => {
                    if line.contains("Building and starting compose stack") {
                        build_began = Some(Instant::now());
                    }
                    if line.contains("Waiting for production-stack HTTPS port") {
                        build_took = build_began.map(|b| b.elapsed());
                    }
                    if line.starts_with("=== Results:") {
                        result_line = Some(line.clone());
                    }
                    if line.contains("PASS") || line.contains("FAIL") || line.starts_with("===") {
                        eprintln!("   validate.sh: {line}");
                    }
                    log.push_str(&line);
                    log.push('\n');
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
            if exited.is_none() {
                if let Some(status) = child.try_wait().context("waiting for validate.sh")? {
                    exited = Some((status, Instant::now()));
                }
            }
            // Once the script is gone, what is still holding its output is its leftovers.
            if exited.is_some_and(|(_, at)| at.elapsed() > Duration::from_secs(2)) {
                break;
            }
        }
        let pgid = child.id() as i32;
        // SAFETY: signalling the process group this command created.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let status = match exited {
            Some((status, _)) => status,
            None => child.wait().context("waiting for validate.sh")?,
        };
        let took = began.elapsed();
        std::fs::write(
            self.home
                .root
                .join("test")
                .join(format!("validate-{name}.log")),
            format!("{log}\n--- stderr ---\n{}", stderr_lines.join("\n")),
        )?;
        let summary = result_line.unwrap_or_else(|| "no result line".into());
        let failed = summary
            .split(',')
            .nth(1)
            .and_then(|p| p.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok());
        if !status.success() || failed != Some(0) {
            bail!(
                "validate.sh {name}: {summary} ({status}); its output is in validate-{name}.log:\n{}",
                log.lines()
                    .filter(|l| l.contains("FAIL"))
                    .take(10)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        if let Some(took) = build_took {
            self.timings.push(ImageTiming {
                image: format!("HttpArena {name} (compose up --build in validate.sh)"),
                cold: Some(took),
                warm: None,
                size: None,
            });
        }
        Ok(format!(
            "{} in {} (build and start: {})",
            summary.trim_matches('=').trim(),
            secs(took),
            build_took.map(secs).unwrap_or_else(|| "?".into())
        ))
    }
}
