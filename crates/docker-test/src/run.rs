//! One `docker-test` run's state and the compose-file parts: `docker compose` with the
//! stack's variables, commands logged to the run's log, Postgres up and down, each compose
//! file built (timed cold and warm), brought up, validated and taken down, and the summary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use docker::adapt::{Adaptation, Host};
use docker::engine::Engine;
use docker::stand_ins::Outcome;
use docker::{secs, DockerHome};

use bench::report::{table, thousands};
use deploy::export::Category;
use stack::Project;
use validate::{self, Target};

use crate::args::{DockerTestArgs, Part};

/// What one image's builds took.
pub(crate) struct ImageTiming {
    pub(crate) image: String,
    pub(crate) cold: Option<Duration>,
    pub(crate) warm: Option<Duration>,
    pub(crate) size: Option<u64>,
}

/// The run's shared state.
pub(crate) struct Run<'a> {
    pub(crate) project: &'a Project,
    pub(crate) engine: Engine,
    pub(crate) home: DockerHome,
    /// The snapshot of the checkout the compose files build from.
    pub(crate) src: PathBuf,
    pub(crate) certs: PathBuf,
    pub(crate) data: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) timings: Vec<ImageTiming>,
    /// Dockerfile + args already cold-built in this run (an image shared by two files is
    /// timed once).
    pub(crate) timed: Vec<String>,
    pub(crate) results: Vec<(String, bool, String)>,
    pub(crate) args: &'a DockerTestArgs,
}

impl Run<'_> {
    pub(crate) fn record(&mut self, part: Part, outcome: anyhow::Result<String>) {
        match outcome {
            Ok(detail) => {
                eprintln!("docker-test: {} passed: {detail}", part.name());
                self.results.push((part.name().into(), true, detail));
            }
            Err(err) => {
                eprintln!("docker-test: {} FAILED: {err:#}", part.name());
                self.results
                    .push((part.name().into(), false, format!("{err:#}")));
            }
        }
    }

    /// `docker compose` with the stack's variables and this engine.
    pub(crate) fn compose(&self, file: &Path, project: &str) -> Command {
        let mut cmd = self.engine.docker();
        cmd.arg("compose")
            .arg("-f")
            .arg(file)
            .args(["-p", project])
            .env("CERTS_DIR", &self.certs)
            .env("DATA_DIR", &self.data)
            .current_dir(file.parent().unwrap_or(Path::new(".")));
        cmd
    }

    /// Runs `cmd`, its output appended to the run's log; fails with the log's tail.
    pub(crate) fn checked(&self, mut cmd: Command, what: &str) -> anyhow::Result<Duration> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let began = Instant::now();
        let status = cmd
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .status()
            .with_context(|| format!("running {what}"))?;
        if !status.success() {
            bail!(
                "{what} failed ({status}); the end of {}:\n{}",
                self.log.display(),
                stack::process::tail(&self.log, 25)
            );
        }
        Ok(began.elapsed())
    }

    pub(crate) fn postgres(&self, up: bool) -> anyhow::Result<()> {
        let file = self.src.join("deploy/compose.postgres.yml");
        let mut cmd = self.compose(&file, "prodstack-dt-postgres");
        if up {
            eprintln!("docker-test: Postgres (deploy/compose.postgres.yml)");
            cmd.args(["up", "-d", "--wait"]);
        } else {
            cmd.args(["down", "--remove-orphans"]);
        }
        self.checked(cmd, "the Postgres compose file").map(|_| ())
    }

    /// Builds (timed), brings up, validates and takes down one compose file.
    pub(crate) fn compose_part(&mut self, part: Part) -> anyhow::Result<String> {
        let (file, category) = match part {
            Part::ComposeProduction => {
                ("deploy/compose.production-stack.yml", Category::Production)
            }
            Part::ComposeTuned => ("deploy/compose.tuned.yml", Category::Tuned),
            _ => ("deploy/compose.engine.yml", Category::Engine),
        };
        let file = self.src.join(file);
        let project = format!("prodstack-dt-{}", category.as_str());
        let host = Host::current().map_err(anyhow::Error::msg)?;
        let adaptation = Adaptation::for_files(&[&file], &host).map_err(anyhow::Error::msg)?;
        let override_file = self
            .home
            .root
            .join("test")
            .join(format!("{project}.override.yml"));
        if !adaptation.is_empty() {
            std::fs::write(&override_file, &adaptation.yaml)?;
            for change in &adaptation.changes {
                eprintln!("docker-test: {} on this host: {change}", part.name());
            }
        }
        let with_override = |cmd: &mut Command| {
            if !adaptation.is_empty() {
                cmd.arg("-f").arg(&override_file);
            }
        };
        if !self.args.no_build_timing {
            for (service, dockerfile, edited) in images(category) {
                // The same Dockerfile and input (production and tuned share the server and
                // authsvc images) is timed once.
                let key = format!("{dockerfile} {edited}");
                if self.timed.contains(&key) {
                    continue;
                }
                self.timed.push(key);
                eprintln!(
                    "docker-test: {}: cold build of {service} (--no-cache)",
                    part.name()
                );
                let mut cold = self.compose(&file, &project);
                cold.args(["build", "--no-cache", service]);
                let cold = self.checked(cold, &format!("cold build of {service}"))?;
                append_comment(&self.src.join(edited))?;
                eprintln!(
                    "docker-test: {}: warm build of {service} (after editing {edited})",
                    part.name()
                );
                let mut warm = self.compose(&file, &project);
                warm.args(["build", service]);
                let warm = self.checked(warm, &format!("warm build of {service}"))?;
                let image = format!("{project}-{service}");
                self.timings.push(ImageTiming {
                    size: image_size(&self.engine, &image),
                    image,
                    cold: Some(cold),
                    warm: Some(warm),
                });
            }
        }
        let mut up = self.compose(&file, &project);
        with_override(&mut up);
        up.args(["up", "--build", "--wait", "-d"]);
        let up_took = self.checked(up, &format!("docker compose up ({})", part.name()));
        let outcome = up_took.and_then(|took| {
            let token = std::fs::read_to_string(self.project.home.token_path())?
                .trim()
                .to_string();
            let target = Target {
                base_url: "https://localhost:8443".into(),
                token,
                database_url: stack::postgres::database_url(5432),
                dataset: self.project.home.dataset_path(),
            };
            let results = validate::run_checks(&target, true, |_| {});
            let failed: Vec<String> = results
                .iter()
                .filter(|r| !r.passed())
                .map(|r| {
                    format!(
                        "{}: {}",
                        r.name,
                        r.outcome.as_ref().err().cloned().unwrap_or_default()
                    )
                })
                .collect();
            if !failed.is_empty() {
                bail!(
                    "{} of {} checks failed:\n  {}",
                    failed.len(),
                    results.len(),
                    failed.join("\n  ")
                );
            }
            Ok(format!(
                "{}/{} checks passed (up --build --wait in {})",
                results.len(),
                results.len(),
                secs(took)
            ))
        });
        let mut down = self.compose(&file, &project);
        // --volumes: the tuned stack's socket volume would otherwise stay behind.
        down.args(["down", "--remove-orphans", "--volumes"]);
        let down = self.checked(down, &format!("docker compose down ({})", part.name()));
        let detail = outcome?;
        down?;
        Ok(detail)
    }
    pub(crate) fn summary(&self, stand_ins: &[(&str, Outcome)], took: Duration) -> String {
        let mut out = format!(
            "\ndocker-test against Docker {} ({}): stand-ins {}\n\n",
            self.engine.version,
            if self.engine.private {
                "a private engine"
            } else {
                "the host's engine"
            },
            stand_ins
                .iter()
                .map(|(image, o)| format!("{image} {}", o))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !self.timings.is_empty() {
            let rows: Vec<Vec<String>> = self
                .timings
                .iter()
                .map(|t| {
                    vec![
                        t.image.clone(),
                        t.cold.map(secs).unwrap_or_default(),
                        t.warm.map(secs).unwrap_or_default(),
                        t.size
                            .map(|s| format!("{} MB", thousands(s / 1_000_000)))
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            out.push_str(&table(
                &["image", "cold build", "warm build (source edit)", "size"],
                &rows,
            ));
            out.push('\n');
        }
        let rows: Vec<Vec<String>> = self
            .results
            .iter()
            .map(|(part, ok, detail)| {
                vec![
                    part.clone(),
                    if *ok { "PASS".into() } else { "FAIL".into() },
                    detail.lines().next().unwrap_or_default().to_string(),
                ]
            })
            .collect();
        out.push_str(&table(&["part", "result", "detail"], &rows));
        out.push_str(&format!("\ntotal: {}\n", secs(took)));
        out
    }
}

/// The services of a compose file that we build, their Dockerfile, and a source file whose
/// edit exercises the warm build.
pub(crate) fn images(category: Category) -> Vec<(&'static str, &'static str, &'static str)> {
    match category {
        Category::Engine => vec![(
            "edge",
            "deploy/docker/engine.Dockerfile",
            "crates/edge/src/lib.rs",
        )],
        Category::Production | Category::Tuned => {
            let nginx_conf = if category == Category::Tuned {
                "deploy/docker/nginx.tuned.conf"
            } else {
                "deploy/docker/nginx.production.conf"
            };
            vec![
                (
                    "server",
                    "deploy/docker/server.Dockerfile",
                    "crates/server/src/lib.rs",
                ),
                (
                    "authsvc",
                    "deploy/docker/authsvc.Dockerfile",
                    "crates/authsvc/src/lib.rs",
                ),
                ("edge", "deploy/docker/edge.Dockerfile", nginx_conf),
            ]
        }
    }
}

pub(crate) fn append_comment(path: &Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    let comment = if path.extension().is_some_and(|e| e == "rs") {
        "\n// docker-test: a source edit for the warm build\n"
    } else {
        "\n# docker-test: an edit for the warm build\n"
    };
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(comment.as_bytes()))
        .with_context(|| format!("editing {}", path.display()))
}

pub(crate) fn image_size(engine: &Engine, image: &str) -> Option<u64> {
    let out = engine
        .docker()
        .args(["image", "inspect", "--format", "{{.Size}}", image])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
