//! `prodstack docker-engine up|down|env|status` and `prodstack docker-test`: the Docker path,
//! run for real (the engine itself is the `docker` crate).
//!
//! `docker-test` brings every shipped compose file up against a real engine, validates it,
//! and takes it down, timing each image's cold build (`--no-cache`) and warm build (after a
//! source edit); then it builds a temporary HttpArena tree from `../shared/httparena/` plus
//! our export and runs HttpArena's own `scripts/validate.sh` in it, which must end with 0
//! failures. Everything runs from a snapshot of the checkout under `.prodstack/docker/test/`,
//! so the timing edits never touch the working tree.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand, ValueEnum};
use docker::adapt::{Adaptation, Host};
use docker::engine::{self, Engine, Options};
use docker::stand_ins::{self, Outcome};
use docker::DockerHome;

use bench::report::{table, thousands};
use deploy::export::{self, Category, ExportOptions};
use stack::Project;
use validate::{self, Target};

#[derive(Debug, Args)]
pub struct DockerEngineArgs {
    #[command(subcommand)]
    pub action: EngineAction,
}

#[derive(Debug, Subcommand)]
pub enum EngineAction {
    /// Use the host's engine or start a private one, with the stand-in base images it needs.
    Up,
    /// Stop the private engine (by pid), and whatever it left running or mounted.
    Down,
    /// Print the DOCKER_HOST and DOCKER_CONFIG lines for a shell (`eval "$(… env)"`).
    Env,
    /// Whether a private engine runs, and where.
    Status,
}

pub fn engine(project: &Project, args: DockerEngineArgs) -> anyhow::Result<ExitCode> {
    let home = DockerHome::new(&project.home);
    let mut say = |line: &str| eprintln!("prodstack docker-engine: {line}");
    match args.action {
        EngineAction::Up => {
            let engine = Engine::ensure(&home, &Options::new(), &mut say)?;
            for (image, outcome) in stand_ins::ensure(&engine, &home, &[], true, &mut say)? {
                say(&format!("{image}: {}", describe(&outcome)));
            }
            print_env(&engine);
        }
        EngineAction::Env => {
            let engine = Engine::ensure(
                &home,
                &Options {
                    install: false,
                    ..Options::new()
                },
                &mut say,
            )?;
            print_env(&engine);
        }
        EngineAction::Status => match engine::running_pid(&home) {
            Some(pid) => println!(
                "private engine: dockerd pid {pid}, DOCKER_HOST=unix://{} (data in {})",
                home.socket().display(),
                home.data_root().display()
            ),
            None => println!("no private engine runs from {}", home.root.display()),
        },
        EngineAction::Down => {
            let stopped = engine::stop(&home)?;
            match stopped.pid {
                Some(pid) => println!(
                    "stopped dockerd (pid {pid}){}; {} leftover process(es) killed, {} mount(s) detached",
                    if stopped.forced { " with SIGKILL" } else { "" },
                    stopped.leftovers,
                    stopped.mounts
                ),
                None => println!("no private engine was running"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_env(engine: &Engine) {
    for (name, value) in engine.env() {
        println!("export {name}={value}");
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Real => "the real image".into(),
        Outcome::Reused => "stand-in (reused)".into(),
        Outcome::Built(took) => format!("stand-in built in {}", secs(*took)),
    }
}

/// One step of `docker-test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// deploy/compose.production-stack.yml
    ComposeProduction,
    /// deploy/compose.tuned.yml
    ComposeTuned,
    /// deploy/compose.engine.yml
    ComposeEngine,
    /// HttpArena's validate.sh on `export-httparena --name prodstack`
    HttparenaProduction,
    /// HttpArena's validate.sh on `export-httparena --name prodstack-tuned --category tuned`
    HttparenaTuned,
}

impl Part {
    const ALL: [Part; 5] = [
        Part::ComposeProduction,
        Part::ComposeTuned,
        Part::ComposeEngine,
        Part::HttparenaProduction,
        Part::HttparenaTuned,
    ];

    fn name(self) -> &'static str {
        match self {
            Part::ComposeProduction => "compose-production",
            Part::ComposeTuned => "compose-tuned",
            Part::ComposeEngine => "compose-engine",
            Part::HttparenaProduction => "httparena-production",
            Part::HttparenaTuned => "httparena-tuned",
        }
    }
}

#[derive(Debug, Args)]
pub struct DockerTestArgs {
    /// What to run (default: every compose file, then HttpArena's validate.sh on both exports).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub parts: Vec<Part>,
    /// Skip the timed cold (`--no-cache`) and warm (after a source edit) builds of each image.
    #[arg(long)]
    pub no_build_timing: bool,
    /// HttpArena's validate.sh watchdog, `VALIDATE_TIMEOUT` (HttpArena's default is 300 s; it
    /// includes the cold build, which takes longer on a 2-CPU machine).
    #[arg(long, default_value_t = 1800)]
    pub validate_timeout: u64,
    /// Leave a private engine this command started running afterwards.
    #[arg(long)]
    pub keep_engine: bool,
}

/// What one image's builds took.
struct ImageTiming {
    image: String,
    cold: Option<Duration>,
    warm: Option<Duration>,
    size: Option<u64>,
}

/// The run's shared state.
struct Run<'a> {
    project: &'a Project,
    engine: Engine,
    home: DockerHome,
    /// The snapshot of the checkout the compose files build from.
    src: PathBuf,
    certs: PathBuf,
    data: PathBuf,
    log: PathBuf,
    timings: Vec<ImageTiming>,
    /// Dockerfile + args already cold-built in this run (an image shared by two files is
    /// timed once).
    timed: Vec<String>,
    results: Vec<(String, bool, String)>,
    args: &'a DockerTestArgs,
}

const PORTS: [u16; 7] = [8443, 8080, 9090, 9091, 9092, 6379, 5432];

pub fn test(project: &Project, args: DockerTestArgs) -> anyhow::Result<ExitCode> {
    let began = Instant::now();
    let parts = if args.parts.is_empty() {
        Part::ALL.to_vec()
    } else {
        args.parts.clone()
    };
    let taken: Vec<String> = PORTS
        .iter()
        .filter(|p| !stack::ports::port_is_free(**p))
        .map(|p| {
            format!(
                "{p} ({})",
                stack::ports::holder(*p)
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "unknown holder".into())
            )
        })
        .collect();
    if !taken.is_empty() {
        bail!(
            "the compose files use the host network and these ports are taken: {} (prodstack down?)",
            taken.join(", ")
        );
    }
    let home = DockerHome::new(&project.home);
    let mut say = |line: &str| eprintln!("docker-test: {line}");
    let was_running = engine::running_pid(&home).is_some();
    let engine = Engine::ensure(&home, &Options::new(), &mut say)?;
    let started_engine = engine.private && !was_running;
    let stand_in_report = stand_ins::ensure(&engine, &home, &[], true, &mut say)?;
    for (image, outcome) in &stand_in_report {
        say(&format!("{image}: {}", describe(outcome)));
    }
    if !stack::supervise::missing_data(&project.home).is_empty() {
        say("generating the data first (prodstack data)");
        let mut options = datagen::Options::new(project.home.root());
        options.progress = true;
        datagen::generate(&options).context("generating the stack's data")?;
    }
    let work = home.root.join("test");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let src = work.join("src");
    snapshot(&project.project_root, &src)?;
    // Our images run as uid 10001; the benchmark's throwaway key must be readable by it.
    let certs = work.join("certs");
    copy_dir(&project.home.certs_dir(), &certs)?;
    set_mode(&certs.join("server.key"), 0o644)?;
    let mut run = Run {
        project,
        engine,
        home,
        src,
        certs,
        data: project.home.data_dir(),
        log: work.join("docker-test.log"),
        timings: Vec::new(),
        timed: Vec::new(),
        results: Vec::new(),
        args: &args,
    };
    let compose_parts: Vec<Part> = parts
        .iter()
        .copied()
        .filter(|p| {
            matches!(
                p,
                Part::ComposeProduction | Part::ComposeTuned | Part::ComposeEngine
            )
        })
        .collect();
    if !compose_parts.is_empty() {
        run.postgres(true)?;
        for part in &compose_parts {
            let outcome = run.compose_part(*part);
            run.record(*part, outcome);
        }
        run.postgres(false)?;
    }
    for part in parts.iter().copied() {
        if matches!(part, Part::HttparenaProduction | Part::HttparenaTuned) {
            let outcome = run.httparena_part(part);
            run.record(part, outcome);
        }
    }
    let _ = run.engine.docker().args(["image", "prune", "-f"]).output();
    let _ = run
        .engine
        .docker()
        .args(["builder", "prune", "-f", "--keep-storage", "12gb"])
        .output();
    let passed = run.results.iter().all(|(_, ok, _)| *ok);
    println!("{}", run.summary(&stand_in_report, began.elapsed()));
    if started_engine && !args.keep_engine && run.engine.private {
        let stopped = engine::stop(&run.home)?;
        eprintln!(
            "docker-test: stopped the private engine; {} leftover process(es) killed, {} mount(s) detached",
            stopped.leftovers, stopped.mounts
        );
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

impl Run<'_> {
    fn record(&mut self, part: Part, outcome: anyhow::Result<String>) {
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
    fn compose(&self, file: &Path, project: &str) -> Command {
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
    fn checked(&self, mut cmd: Command, what: &str) -> anyhow::Result<Duration> {
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

    fn postgres(&self, up: bool) -> anyhow::Result<()> {
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
    fn compose_part(&mut self, part: Part) -> anyhow::Result<String> {
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
        down.args(["down", "--remove-orphans"]);
        let down = self.checked(down, &format!("docker compose down ({})", part.name()));
        let detail = outcome?;
        down?;
        Ok(detail)
    }

    /// A temporary HttpArena tree with our export, and HttpArena's own validate.sh on it.
    fn httparena_part(&mut self, part: Part) -> anyhow::Result<String> {
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

    fn summary(&self, stand_ins: &[(&str, Outcome)], took: Duration) -> String {
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
                .map(|(image, o)| format!("{image} {}", describe(o)))
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
fn images(category: Category) -> Vec<(&'static str, &'static str, &'static str)> {
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

fn append_comment(path: &Path) -> anyhow::Result<()> {
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

fn image_size(engine: &Engine, image: &str) -> Option<u64> {
    let out = engine
        .docker()
        .args(["image", "inspect", "--format", "{{.Size}}", image])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The checkout's tracked files (`git ls-files`), or everything but build output.
fn snapshot(root: &Path, to: &Path) -> anyhow::Result<()> {
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success());
    let files: Vec<PathBuf> = match listed {
        Some(out) => out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            .collect(),
        None => bail!(
            "{} is not a git checkout: docker-test builds from its tracked files",
            root.display()
        ),
    };
    for rel in files {
        let from = root.join(&rel);
        if !from.is_file() {
            continue;
        }
        let dest = to.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&from, &dest).with_context(|| format!("copying {}", rel.display()))?;
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    let status = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .context("running cp")?;
    if !status.success() {
        bail!("copying {} to {}", from.display(), to.display());
    }
    Ok(())
}

fn make_writable(dir: &Path) -> anyhow::Result<()> {
    let status = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(dir)
        .status()
        .context("running chmod")?;
    if !status.success() {
        bail!("making {} writable", dir.display());
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

fn secs(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
