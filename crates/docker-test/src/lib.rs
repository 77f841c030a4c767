//! `prodstack docker-test`: the Docker path, run for real against an engine (the engine
//! itself is the `docker` crate).
//!
//! It brings every shipped compose file up against a real engine, validates it, and takes it
//! down, timing each image's cold build (`--no-cache`) and warm build (after a source edit)
//! ([`run`]); then it builds a temporary HttpArena tree from `../shared/httparena/` plus our
//! export and runs HttpArena's own `scripts/validate.sh` in it, which must end with 0 failures
//! ([`httparena`]). Everything runs from a snapshot of the checkout under
//! `.prodstack/docker/test/` ([`snapshot`]), so the timing edits never touch the working tree.

mod args;
mod httparena;
mod run;
mod snapshot;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context as _};
use docker::engine::{self, Engine, Options};
use docker::stand_ins;
use docker::DockerHome;
use stack::Project;

pub use args::{DockerTestArgs, Part};
use run::Run;
use snapshot::{copy_dir, set_mode, snapshot};

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
        say(&format!("{image}: {outcome}"));
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
