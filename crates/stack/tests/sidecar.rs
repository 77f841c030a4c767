//! HttpArena's shared authsvc, built from a copy of its sources: the copy is byte for byte,
//! a second build needs no network, the binary answers HttpArena's token, and a missing
//! source folder is an error that names it.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stack::sidecar::{build_shared_from, shared_source, Network};
use stack::{Home, Project};

fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn project(home: &Path) -> Project {
    Project {
        project_root: checkout(),
        home: Home::new(home),
        bin_dir: checkout().join("target/debug"),
    }
}

#[test]
fn a_missing_source_folder_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-httparena/frameworks/_shared/authsvc");
    let err = build_shared_from(
        &project(dir.path()),
        &missing,
        Network::Offline,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("HttpArena's shared authsvc sources"), "{err}");
}

#[test]
fn the_shared_sidecar_builds_offline_from_a_copy_and_answers_httparenas_token() {
    let first = tempfile::tempdir().unwrap();
    let source = shared_source(&project(first.path()));
    if !source.join("src/main.rs").is_file() {
        // The error for this case is the test above; a checkout without HttpArena's files
        // beside it cannot build the sidecar.
        eprintln!(
            "skipping: HttpArena's shared authsvc sources not found at {}",
            source.display()
        );
        return;
    }
    // Fills cargo's cache when it lacks a crate (the only step that may use the network).
    build_shared_from(
        &project(first.path()),
        &source,
        Network::Allowed,
        &mut |_| {},
    )
    .unwrap();

    let home = tempfile::tempdir().unwrap();
    let mut said = Vec::new();
    let binary = build_shared_from(&project(home.path()), &source, Network::Offline, &mut |l| {
        said.push(l.to_string())
    })
    .unwrap();
    assert!(
        said.iter().any(|l| l.contains("shared authsvc")),
        "{said:?}"
    );
    let copied = checkout().join("target/httparena-authsvc/src/src/main.rs");
    assert_eq!(
        std::fs::read(&copied).unwrap(),
        std::fs::read(source.join("src/main.rs")).unwrap(),
        "the copy must be the upstream source byte for byte"
    );

    let port = stack::ports::free_port().unwrap();
    let mut child = Command::new(&binary)
        .env("AUTHSVC_LISTEN", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", contract::BENCH_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let token =
        std::fs::read_to_string(checkout().join("../shared/httparena/data/jwt-token.txt")).unwrap();
    let answer = |auth: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let request = format!(
                    "GET /_auth HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
                );
                stream.write_all(request.as_bytes()).unwrap();
                let mut text = String::new();
                let _ = stream.read_to_string(&mut text);
                return text;
            }
            assert!(Instant::now() < deadline, "the sidecar never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let ok = answer(&format!("Bearer {}", token.trim()));
    let bad = answer("Bearer x.y.z");
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.to_ascii_lowercase().contains("x-user-id: 42"), "{ok}");
    assert!(bad.starts_with("HTTP/1.1 401"), "{bad}");
}
