//! `prodstack docker-engine up|down|env|status`: flags and printing over the `docker` crate,
//! which owns the engine (`prodstack docker-test` is the `docker-test` crate).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use docker::engine::{self, Engine, Options};
use docker::stand_ins::{self};
use docker::DockerHome;

use stack::Project;

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
                say(&format!("{image}: {outcome}"));
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
