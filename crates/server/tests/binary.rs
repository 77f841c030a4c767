//! The `server` binary: configuration problems stop it before it listens, with a message that
//! names the problem; a good configuration listens at once and stops cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn server() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.env_clear()
        .env(
            "DATABASE_URL",
            "postgres://bench:bench@127.0.0.1:9/benchmark",
        )
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

fn free_port() -> u16 {
    stack::ports::free_port().unwrap()
}

fn refuses(cmd: &mut Command, needle: &str) {
    let port = free_port();
    let out = cmd
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .env("ADMIN_LISTEN", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(needle),
        "stderr does not mention {needle:?}: {stderr}"
    );
    assert!(!stderr.contains("listening"), "it listened first: {stderr}");
}

#[test]
fn bad_configuration_exits_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("dataset.json");
    std::fs::write(
        &dataset,
        datagen::dataset::to_json(&datagen::dataset::generate()),
    )
    .unwrap();
    let ds = dataset.to_str().unwrap();

    refuses(
        server().env("DATASET_PATH", ds).env("ITEM_TTL_MS", "5000"),
        "ITEM_TTL_MS",
    );
    refuses(
        server().env("DATASET_PATH", ds).env("USER_TTL_MS", "60000"),
        "USER_TTL_MS",
    );
    refuses(
        server()
            .env("DATASET_PATH", ds)
            .env("SERVER_WORKERS", "many"),
        "SERVER_WORKERS",
    );
    refuses(
        server().env_remove("DATABASE_URL").env("DATASET_PATH", ds),
        "DATABASE_URL",
    );
    refuses(
        server()
            .env("DATASET_PATH", ds)
            .env("REDIS_URL", "redis://[bad"),
        "REDIS_URL",
    );
    let missing = dir.path().join("missing.json");
    refuses(server().env("DATASET_PATH", &missing), "missing.json");
    let malformed = dir.path().join("malformed.json");
    std::fs::write(&malformed, "[{\"id\": 1}]").unwrap();
    refuses(server().env("DATASET_PATH", &malformed), "malformed.json");
}

#[test]
fn listens_immediately_without_postgres_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("dataset.json");
    std::fs::write(
        &dataset,
        datagen::dataset::to_json(&datagen::dataset::generate()),
    )
    .unwrap();
    let port = free_port();
    let mut child = server()
        .env("DATASET_PATH", &dataset)
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .env("ADMIN_LISTEN", format!("127.0.0.1:{}", free_port()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut answered = None;
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream
                .write_all(
                    b"GET /baseline11?a=1&b=1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                )
                .unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).unwrap();
            answered = Some(reply);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let reply = answered.expect("the server never listened");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("\r\n\r\n2"), "{reply}");
    // SAFETY: signalling our own, not yet reaped, child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}
