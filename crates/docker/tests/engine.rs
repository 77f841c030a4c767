//! The engine harness against a real private dockerd in a temporary home: it starts, runs a
//! container from the debootstrap stand-in, stops leaving no process and no mount behind, and a
//! second start reuses the stand-in. Also: a missing package is an error that names it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use docker::engine::{self, Engine, Options};
use docker::install::{self, Needed};
use docker::stand_ins::{self, Outcome};
use docker::DockerHome;

/// A home with a short path (the engine's unix socket lives under it).
fn home() -> (tempfile::TempDir, DockerHome) {
    let dir = tempfile::Builder::new()
        .prefix("pdk-")
        .tempdir_in("/tmp")
        .unwrap();
    let home = DockerHome {
        root: dir.path().join("docker"),
    };
    (dir, home)
}

fn options() -> Options {
    let bins = std::env::var_os(stack::bins::BIN_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_BIN_EXE_prodstack-compose-shim"))
                .parent()
                .unwrap()
                .to_path_buf()
        });
    Options {
        install: true,
        private_only: true,
        compose_shim: Some(PathBuf::from(env!("CARGO_BIN_EXE_prodstack-compose-shim"))),
        log_sink: Some(bins.join(stack::logsink::BINARY)).filter(|p| p.is_file()),
    }
}

#[test]
fn a_private_engine_stops_clean_and_a_second_start_reuses_the_stand_in() {
    let (_dir, home) = home();
    let mut say = |line: &str| eprintln!("{line}");
    let engine = Engine::ensure(&home, &options(), &mut say).unwrap();
    assert!(engine.private);
    let pid = engine::running_pid(&home).expect("dockerd runs");
    let built =
        stand_ins::ensure(&engine, &home, &["debian:bookworm-slim"], true, &mut say).unwrap();
    assert!(
        matches!(built[0].1, Outcome::Built(_) | Outcome::Real),
        "{built:?}"
    );
    // A running container: overlay mounts, a containerd shim, a network namespace.
    let run = engine
        .docker()
        .args([
            "run",
            "-d",
            "--network",
            "host",
            "debian:bookworm-slim",
            "sleep",
            "600",
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let roots = [home.data_root(), home.exec_root()];
    assert!(
        !engine::mounts_under(&roots).is_empty(),
        "the container has mounts"
    );

    let stopped = engine::stop(&home).unwrap();
    assert_eq!(stopped.pid, Some(pid));
    let began = Instant::now();
    while stack::process::is_running(pid) && began.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!stack::process::is_running(pid), "dockerd still runs");
    assert_eq!(
        engine::processes_under(&roots),
        Vec::<u32>::new(),
        "processes left"
    );
    assert_eq!(
        engine::mounts_under(&roots),
        Vec::<PathBuf>::new(),
        "mounts left"
    );
    assert!(engine::running_pid(&home).is_none());

    // Again: the image store survived, and the stand-in of the same definition is reused.
    let engine = Engine::ensure(&home, &options(), &mut say).unwrap();
    let again =
        stand_ins::ensure(&engine, &home, &["debian:bookworm-slim"], true, &mut say).unwrap();
    assert!(
        matches!(again[0].1, Outcome::Reused | Outcome::Real),
        "{again:?}"
    );
    let inspect = engine
        .docker()
        .args([
            "image",
            "inspect",
            "--format",
            "{{index .Config.Labels \"org.prodstack.stand-in\"}}",
            "debian:bookworm-slim",
        ])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    if again[0].1 == Outcome::Reused {
        assert_eq!(
            String::from_utf8_lossy(&inspect.stdout).trim(),
            "debian:bookworm-slim"
        );
    }
    let stopped = engine::stop(&home).unwrap();
    assert!(stopped.pid.is_some());
    assert_eq!(engine::mounts_under(&roots), Vec::<PathBuf>::new());
}

#[test]
fn a_missing_package_is_named_with_how_to_install_it() {
    let needed = [Needed {
        program: "prodstack-no-such-daemon",
        package: "prodstack-no-such-package",
    }];
    let err = install::ensure(&needed, false, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("prodstack-no-such-daemon"), "{err}");
    assert!(
        err.contains("Debian package prodstack-no-such-package"),
        "{err}"
    );
    assert!(
        err.contains("apt-get install -y prodstack-no-such-package"),
        "{err}"
    );
    assert!(err.contains("DOCKER_HOST"), "{err}");
}
