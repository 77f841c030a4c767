//! `redis-server`, configured like HttpArena's cache entrypoint: no RDB snapshots, no AOF, no
//! maxmemory, protected mode off, threaded I/O.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::error::{IoContext, Result};
use crate::process::run_checked;

/// Settings for one Redis server.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub port: u16,
    pub bind: String,
    /// HttpArena runs 4 I/O threads with threaded reads; 1 turns threading off.
    pub io_threads: u32,
}

impl RedisSettings {
    pub fn new(port: u16) -> Self {
        Self {
            port,
            bind: "127.0.0.1".into(),
            io_threads: 1,
        }
    }
}

/// The `redis-server` command. `dir` is its working folder (it writes nothing there with
/// persistence off, but Redis insists on one).
pub fn server_command(settings: &RedisSettings, dir: &Path) -> Command {
    let mut cmd = Command::new("redis-server");
    cmd.arg("--port")
        .arg(settings.port.to_string())
        // One argument per address (`bind` may hold several, space-separated).
        .arg("--bind")
        .args(settings.bind.split_whitespace())
        .args(["--protected-mode", "no"])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .args(["--daemonize", "no"])
        .arg("--dir")
        .arg(dir);
    if settings.io_threads > 1 {
        cmd.arg("--io-threads")
            .arg(settings.io_threads.to_string())
            .args(["--io-threads-do-reads", "yes"]);
    }
    cmd
}

/// Sends `PING` and expects `+PONG`.
pub fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// Commands Redis has processed since it started (`INFO stats`, `total_commands_processed`);
/// `None` when it does not answer within 5 s.
pub fn commands_processed(port: u16) -> Option<u64> {
    let output = Command::new("timeout")
        .args(["5", "redis-cli", "-p"])
        .arg(port.to_string())
        .args(["INFO", "stats"])
        .output()
        .ok()?;
    parse_commands_processed(&String::from_utf8_lossy(&output.stdout))
}

fn parse_commands_processed(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|line| line.trim().strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Pipes a seed file into `redis-cli`, exactly as HttpArena's cache entrypoint does.
pub fn seed(port: u16, seed_file: &Path) -> Result<()> {
    let file = File::open(seed_file).io_context(|| format!("opening {}", seed_file.display()))?;
    run_checked(
        Command::new("redis-cli")
            .arg("-p")
            .arg(port.to_string())
            .stdin(file),
        &format!("seeding Redis from {}", seed_file.display()),
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_command_count_from_info() {
        let info = "# Stats\r\ntotal_connections_received:3\r\ntotal_commands_processed:1234\r\n";
        assert_eq!(parse_commands_processed(info), Some(1234));
        assert_eq!(parse_commands_processed("# Stats\r\n"), None);
    }
}
