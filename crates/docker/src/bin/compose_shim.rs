//! `prodstack-compose-shim --real PLUGIN ARGS…`: the `docker compose` of a prodstack engine's
//! client configuration. For commands that create containers (`up`, `create`, `run`) it reads
//! the `-f` files, and if this host cannot give what they ask for (CPUs it lacks, limits above
//! its hard limits: `docker::adapt`) it adds an override that lowers exactly that, says so on
//! stderr, and runs the real Compose plugin. Everything else goes to the plugin unchanged.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use docker::adapt::{Adaptation, Host};

/// Compose's global options that take a value.
const VALUED: [&str; 10] = [
    "-f",
    "--file",
    "-p",
    "--project-name",
    "--project-directory",
    "--env-file",
    "--profile",
    "--ansi",
    "--progress",
    "--parallel",
];

/// Subcommands that create containers.
const CREATING: [&str; 3] = ["up", "create", "run"];

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let real = match (args.first().map(String::as_str), args.get(1)) {
        (Some("--real"), Some(real)) => PathBuf::from(real),
        _ => {
            eprintln!("usage: prodstack-compose-shim --real PLUGIN ARGS...");
            return ExitCode::from(2);
        }
    };
    args.drain(..2);
    let mut command = Command::new(&real);
    // The CLI calls a plugin as `docker-compose compose ARGS` (or with its metadata query).
    if args.first().map(String::as_str) == Some("compose") {
        if let Some(extra) = adaptation_args(&args[1..]) {
            let at = 1 + extra.0;
            args.splice(at..at, extra.1);
        }
    }
    let err = command.args(&args).exec();
    eprintln!("prodstack-compose-shim: running {}: {err}", real.display());
    ExitCode::from(127)
}

/// Where to insert `-f OVERRIDE` (after the global options) and the arguments to insert.
fn adaptation_args(compose_args: &[String]) -> Option<(usize, Vec<String>)> {
    let mut files = Vec::new();
    let mut i = 0;
    while i < compose_args.len() {
        let arg = &compose_args[i];
        if let Some(value) = arg.strip_prefix("--file=") {
            files.push(PathBuf::from(value));
        } else if VALUED.contains(&arg.as_str()) {
            if arg == "-f" || arg == "--file" {
                files.push(PathBuf::from(compose_args.get(i + 1)?));
            }
            i += 1;
        } else if !arg.starts_with('-') {
            break;
        }
        i += 1;
    }
    let subcommand = compose_args.get(i)?;
    if !CREATING.contains(&subcommand.as_str()) || files.is_empty() {
        return None;
    }
    let host = Host::current().ok()?;
    let refs: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
    let adaptation = match Adaptation::for_files(&refs, &host) {
        Ok(a) if !a.is_empty() => a,
        _ => return None,
    };
    // Named after its content, so repeated runs reuse one file instead of leaving many.
    let digest = {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        adaptation.yaml.hash(&mut hasher);
        hasher.finish()
    };
    let path = std::env::temp_dir().join(format!("prodstack-compose-adapt-{digest:016x}.yml"));
    std::fs::write(&path, &adaptation.yaml).ok()?;
    for change in &adaptation.changes {
        eprintln!("prodstack engine: this host cannot give it, so: {change}");
    }
    Some((i, vec!["-f".into(), path.display().to_string()]))
}
