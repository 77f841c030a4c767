//! wrk for the component benchmarks (`bench authsvc`, `bench server`): running it pinned to a
//! load CPU, reading its report, and the figures derived around a run — the CPU time the
//! server under test spent, and medians over runs.
//!
//! Requests/s mostly measures the CPU share the server got when other work competes for the
//! machine; CPU time per request (from `/proc/<pid>/task/*/schedstat`) stays meaningful, so
//! every measured run carries both.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};

/// One wrk invocation: always a single thread (`-t1`), so the load generator needs one core.
#[derive(Debug, Clone)]
pub struct Wrk<'a> {
    url: &'a str,
    connections: u32,
    seconds: u64,
    load_cpu: Option<usize>,
    headers: Vec<&'a str>,
    script: Option<&'a Path>,
    latency_distribution: bool,
    timeout_secs: Option<u64>,
}

impl<'a> Wrk<'a> {
    /// `wrk -t1 -c<connections> -d<seconds>s <url>`, unpinned, no extra options.
    pub fn new(url: &'a str, connections: u32, seconds: u64) -> Self {
        Self {
            url,
            connections,
            seconds,
            load_cpu: None,
            headers: Vec::new(),
            script: None,
            latency_distribution: false,
            timeout_secs: None,
        }
    }

    /// Runs wrk under `taskset -c <cpu>`.
    pub fn pinned_to(mut self, cpu: usize) -> Self {
        self.load_cpu = Some(cpu);
        self
    }

    /// Adds a request header (`-H "Name: value"`).
    pub fn header(mut self, header: &'a str) -> Self {
        self.headers.push(header);
        self
    }

    /// A Lua script (`-s`) that builds the requests.
    pub fn script(mut self, script: &'a Path) -> Self {
        self.script = Some(script);
        self
    }

    /// Asks for the latency percentiles (`--latency`); without it p50/p99 stay NaN.
    pub fn latency_distribution(mut self) -> Self {
        self.latency_distribution = true;
        self
    }

    /// Per-request timeout (`--timeout`, whole seconds: wrk takes no smaller unit); wrk's
    /// default is 2 s.
    pub fn timeout_secs(mut self, seconds: u64) -> Self {
        self.timeout_secs = Some(seconds);
        self
    }

    /// The command line this invocation runs.
    pub fn command(&self) -> Command {
        let mut cmd = match self.load_cpu {
            Some(cpu) => {
                let mut taskset = Command::new("taskset");
                taskset.arg("-c").arg(cpu.to_string()).arg("wrk");
                taskset
            }
            None => Command::new("wrk"),
        };
        cmd.arg("-t1")
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.seconds));
        if self.latency_distribution {
            cmd.arg("--latency");
        }
        if let Some(seconds) = self.timeout_secs {
            cmd.arg("--timeout").arg(format!("{seconds}s"));
        }
        for header in &self.headers {
            cmd.arg("-H").arg(header);
        }
        if let Some(script) = self.script {
            cmd.arg("-s").arg(script);
        }
        cmd.arg(self.url);
        cmd
    }

    /// Runs wrk and parses its report (the server CPU fields stay `None`).
    pub fn run(&self) -> anyhow::Result<WrkRun> {
        let output = self.command().output().context("running wrk")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "wrk failed ({}): {stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        parse_wrk(&stdout).with_context(|| format!("unexpected wrk output:\n{stdout}"))
    }

    /// Runs wrk against the server process `server_pid` and fills in its CPU figures.
    ///
    /// Both CPU readings are taken while the server is idle (before and after the run):
    /// schedstat is only brought up to date when a task leaves the CPU, so a reading taken
    /// while the server spins under load would lag.
    pub fn run_against(&self, server_pid: u32) -> anyhow::Result<WrkRun> {
        let before = process_cpu_time(server_pid);
        let mut run = self.run()?;
        let after = process_cpu_time(server_pid);
        if let (Some(before), Some(after)) = (before, after) {
            let cpu_us = after.saturating_sub(before).as_secs_f64() * 1e6;
            run.server_cpu_us_per_request = Some(cpu_us / run.requests as f64);
            run.server_busy = Some(cpu_us / run.duration_us);
        }
        Ok(run)
    }
}

/// What one wrk run reported, plus the server's CPU figures when measured with
/// [`Wrk::run_against`].
#[derive(Debug, Clone, PartialEq)]
pub struct WrkRun {
    pub requests_per_sec: f64,
    pub requests: u64,
    pub non_2xx: u64,
    pub socket_errors: u64,
    pub latency_avg_us: f64,
    /// NaN unless the run asked for [`Wrk::latency_distribution`].
    pub latency_p50_us: f64,
    pub latency_p99_us: f64,
    /// Wall time of the run as wrk reports it.
    pub duration_us: f64,
    /// Server CPU time per request during the run, all threads (`None` when /proc could not
    /// be read). Unlike req/s it barely moves when other work shares the machine.
    pub server_cpu_us_per_request: Option<f64>,
    /// Share of one CPU the server used during the run. Well below 1.0 means the load
    /// generator, not the server, set the pace.
    pub server_busy: Option<f64>,
}

impl WrkRun {
    /// Server CPU µs per request, NaN when it was not measured (so it drops out of a table
    /// visibly instead of reading as zero).
    pub fn cpu_us_per_request(&self) -> f64 {
        self.server_cpu_us_per_request.unwrap_or(f64::NAN)
    }
}

/// Parses wrk's text report.
pub fn parse_wrk(output: &str) -> anyhow::Result<WrkRun> {
    let mut run = WrkRun {
        requests_per_sec: f64::NAN,
        requests: 0,
        non_2xx: 0,
        socket_errors: 0,
        latency_avg_us: f64::NAN,
        latency_p50_us: f64::NAN,
        latency_p99_us: f64::NAN,
        duration_us: f64::NAN,
        server_cpu_us_per_request: None,
        server_busy: None,
    };
    for line in output.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["Requests/sec:", value] => run.requests_per_sec = value.parse()?,
            // "Latency  avg stdev max +/-stdev" (not the "Latency Distribution" title).
            ["Latency", avg, _, _, _] => run.latency_avg_us = parse_duration_us(avg)?,
            ["50%", value] => run.latency_p50_us = parse_duration_us(value)?,
            ["99%", value] => run.latency_p99_us = parse_duration_us(value)?,
            // "1600123 requests in 10.00s, 120.00MB read"
            [count, "requests", "in", duration, ..] => {
                run.requests = count.parse()?;
                run.duration_us = parse_duration_us(duration.trim_end_matches(','))?;
            }
            ["Non-2xx", "or", "3xx", "responses:", count] => run.non_2xx = count.parse()?,
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 0, write 0, timeout 0"
                run.socket_errors = rest
                    .iter()
                    .filter_map(|field| field.trim_end_matches(',').parse::<u64>().ok())
                    .sum();
            }
            _ => {}
        }
    }
    if run.requests_per_sec.is_nan()
        || run.latency_avg_us.is_nan()
        || run.duration_us.is_nan()
        || run.requests == 0
    {
        bail!("no Requests/sec, Latency or request count");
    }
    Ok(run)
}

/// wrk prints durations as `123.45us`, `1.23ms`, `1.02s` or `1.5m`.
pub fn parse_duration_us(text: &str) -> anyhow::Result<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000_000.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000.0)
    } else {
        bail!("unknown duration {text:?}")
    };
    Ok(number
        .parse::<f64>()
        .with_context(|| format!("duration {text:?}"))?
        * scale)
}

/// The median (the mean of the two middle values for an even count); NaN when empty.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n.is_multiple_of(2) => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        n => values[n / 2],
    }
}

/// CPU time consumed so far by every thread of `pid` (`/proc/<pid>/task/*/schedstat`, whose
/// first field is nanoseconds on a CPU). `None` when /proc is unavailable or the process is
/// gone.
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total_ns = 0u64;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        total_ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK_OUTPUT: &str = "Running 10s test @ http://127.0.0.1:40000/_auth
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   402.12us  100.00us   5.00ms   90.00%
    Req/Sec   160.00k     5.00k  170.00k    80.00%
  Latency Distribution
     50%  390.00us
     75%  420.00us
     90%  450.00us
     99%    1.20ms
  1600123 requests in 10.00s, 120.00MB read
  Non-2xx or 3xx responses: 5
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec: 160012.30
Transfer/sec:     12.00MB
";

    #[test]
    fn parses_a_wrk_report() {
        let run = parse_wrk(WRK_OUTPUT).unwrap();
        assert_eq!(
            run,
            WrkRun {
                requests_per_sec: 160012.30,
                requests: 1_600_123,
                non_2xx: 5,
                socket_errors: 3,
                latency_avg_us: 402.12,
                latency_p50_us: 390.0,
                latency_p99_us: 1200.0,
                duration_us: 10_000_000.0,
                server_cpu_us_per_request: None,
                server_busy: None,
            }
        );
    }

    #[test]
    fn parses_wrk_output_without_the_latency_distribution() {
        let out = "Running 4s test @ http://127.0.0.1:1/healthz\n  1 threads and 64 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   512.00us  100.00us   2.00ms   90.00%\n    Req/Sec    60.00k     1.00k   62.00k    80.00%\n  240000 requests in 4.00s, 30.00MB read\n  Non-2xx or 3xx responses: 3\n  Socket errors: connect 0, read 1, write 0, timeout 2\nRequests/sec:  60000.00\nTransfer/sec:      7.50MB\n";
        let run = parse_wrk(out).unwrap();
        assert_eq!(run.requests, 240_000);
        assert_eq!(run.non_2xx, 3);
        assert_eq!(run.socket_errors, 3);
        assert!((run.requests_per_sec - 60000.0).abs() < 1e-9);
        assert!((run.latency_avg_us - 512.0).abs() < 1e-9);
        assert!(parse_wrk("garbage").is_err());
    }

    #[test]
    fn refuses_output_without_figures() {
        assert!(parse_wrk("unable to connect to 127.0.0.1:1 Connection refused").is_err());
    }

    #[test]
    fn converts_wrk_durations() {
        assert_eq!(parse_duration_us("12.5us").unwrap(), 12.5);
        assert_eq!(parse_duration_us("1.5ms").unwrap(), 1500.0);
        assert_eq!(parse_duration_us("2.00s").unwrap(), 2_000_000.0);
        assert!(parse_duration_us("3h").is_err());
    }

    #[test]
    fn builds_the_command_line() {
        let args = |wrk: &Wrk| -> Vec<String> {
            let cmd = wrk.command();
            std::iter::once(cmd.get_program())
                .chain(cmd.get_args())
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect()
        };
        let plain = Wrk::new("http://127.0.0.1:1/", 8, 2);
        assert_eq!(
            args(&plain),
            ["wrk", "-t1", "-c8", "-d2s", "http://127.0.0.1:1/"]
        );
        let full = Wrk::new("http://127.0.0.1:1/_auth", 64, 10)
            .pinned_to(1)
            .latency_distribution()
            .timeout_secs(10)
            .header("Authorization: Bearer t")
            .header("X-User-Id: 42")
            .script(Path::new("/tmp/sweep.lua"));
        assert_eq!(
            args(&full),
            [
                "taskset",
                "-c",
                "1",
                "wrk",
                "-t1",
                "-c64",
                "-d10s",
                "--latency",
                "--timeout",
                "10s",
                "-H",
                "Authorization: Bearer t",
                "-H",
                "X-User-Id: 42",
                "-s",
                "/tmp/sweep.lua",
                "http://127.0.0.1:1/_auth",
            ]
        );
    }

    #[test]
    fn reads_the_cpu_time_of_a_process() {
        // A separate busy process: this test binary's own threads come and go, and a thread
        // that exits takes its CPU time out of the sum. Tied to this process so that a failed
        // assertion cannot leave it spinning.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "while :; do :; done"]);
        let mut busy = stack::testing::spawn_tied_to_process(cmd, libc::SIGKILL).unwrap();
        let before = process_cpu_time(busy.id());
        std::thread::sleep(Duration::from_millis(300));
        let after = process_cpu_time(busy.id());
        stack::process::terminate(&mut busy, libc::SIGTERM, Duration::from_secs(10));
        let before = before.expect("/proc is mounted");
        let after = after.unwrap();
        assert!(after > before, "{before:?} -> {after:?}");
        assert!(process_cpu_time(u32::MAX).is_none());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
