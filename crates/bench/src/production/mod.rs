//! The production-stack benchmark, as HttpArena runs it: the stack up and validated, then per
//! connection count `--runs` runs of two parallel h2load processes (reads and writes), the best
//! run by rps kept. Around every run it samples `/proc` for the CPU and memory of each service
//! and scrapes the server's and the edge's counters, so the report explains the score.
//!
//! Differences from HttpArena, all deliberate: latency percentiles come from h2load's
//! per-request log (HttpArena prints the mean and calls it p99); template counts are measured
//! (HttpArena splits the 2xx total 30/10/50/10); Postgres and the load generator are measured
//! too. Like HttpArena, the four services (not Postgres) are restarted before each connection
//! count, there is no warm-up, and runs are 2 s apart so 1 s TTLs expire between them.

mod edge_status;
mod loadgen;
mod segments;
mod variants;

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use clap::Args;
use stack::postgres::Durability;
use stack::profile::Profile;
use stack::supervise::{self, UpOptions};
use stack::Home;
use stack::{Service, Sidecar, StackState};

use crate::h2load::{self, Invocation, Summary};
use crate::metrics::Scrape;
use crate::procstat::Sampler;
use crate::report;
use crate::results::{
    CacheHierarchy, Costs, RunResult, TemplateCounts, Unfinished, UsageReport, WorkCounts, LOADGEN,
    POSTGRES, STACK_SERVICES,
};
use crate::static_bytes::{self, StaticBytes};
use stack::Project;
use validate::{self, Target};

use edge_status::EdgeStatus;
use loadgen::{
    describe_failures, first_line, log_latency, unfinished_advice, HTTPARENA_LOADGEN_TIMEOUT_S,
};
use variants::{variants, Authsvc, Variant};

// What `prodstack chaos` runs the same load with.
pub use loadgen::{resolve_h2load, wait_all, Exit, LoadGenerator};
pub use variants::{cpu_plan, CpuPlan};

#[derive(Debug, Clone, Args)]
pub struct ProductionBenchArgs {
    /// Connection counts of the reads instance, run in sequence.
    #[arg(long, value_delimiter = ',', default_value = "256,1024")]
    pub connections: Vec<u32>,
    /// Duration of each run (h2load `-D`), e.g. `5s` or `10m`.
    #[arg(long, default_value = "5s", value_parser = parse_seconds)]
    pub duration: u32,
    /// Runs per connection count; the best by rps is kept, all are shown.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// h2load threads of the reads instance (default: the CPUs of the load generator).
    #[arg(long)]
    pub threads: Option<u32>,
    /// CPUs for h2load (taskset). Default: the upper half of this machine's CPUs; the stack
    /// gets the rest, as HttpArena splits its 128 CPUs 64/64.
    #[arg(long)]
    pub loadgen_cpus: Option<String>,
    /// Stack profile (production or tuned).
    #[arg(long, default_value = "production")]
    pub profile: Profile,
    /// Pin services: `edge=…,authsvc=…,server=…,cache=…` (default: the stack's CPUs shared).
    #[arg(long)]
    pub cpus: Option<String>,
    /// The auth sidecar behind nginx: `shared` (default: HttpArena's shared authsvc, built
    /// from ../shared/httparena/frameworks/_shared/authsvc, which is what an entry runs and is
    /// scored with) or `ours` (crates/authsvc).
    #[arg(long, value_name = "shared|ours", default_value_t = Sidecar::Shared)]
    pub authsvc: Sidecar,
    /// Run this authsvc binary instead (overrides --authsvc).
    #[arg(long)]
    pub authsvc_bin: Option<PathBuf>,
    /// Benchmark the stack that is already running (never restarted or stopped).
    #[arg(long)]
    pub attach: bool,
    /// Add N to every port (run beside other services).
    #[arg(long, default_value_t = 0)]
    pub ports_offset: u16,
    /// App-server instances behind nginx (`up --servers`); the Rust edge variants run one.
    #[arg(long, default_value_t = 1)]
    pub servers: u8,
    /// Variants to compare with the same load, interleaved run by run: `production`, `tuned`,
    /// `engine-proxy`, `engine-fused` (our Rust edge; append `+NAME=VALUE` settings to try
    /// edge knobs, e.g. `engine-fused+EDGE_RUNTIME=multi-thread`), `authsvc=PATH` entries
    /// for other authsvc binaries, or `server=PATH` entries for other app-server builds
    /// (e.g. one built with `--features mimalloc`). A profile's `+NAME=VALUE` settings are
    /// nginx knobs, or app-server environment when NAME starts with `SERVER_`.
    #[arg(long, value_delimiter = ',')]
    pub compare: Vec<String>,
    /// Write the results in HttpArena's JSON format (plus a nested `prodstack` object).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a Markdown report (and an SVG chart beside it).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// The `framework` name in the JSON.
    #[arg(long, default_value = "prodstack")]
    pub framework: String,
    /// Pause between runs (HttpArena sleeps 2 s).
    #[arg(long, default_value = "2s", value_parser = parse_seconds)]
    pub pause: u32,
    /// The load generator: `h2load` on PATH, or the path of another h2load build.
    #[arg(long, default_value = "h2load")]
    pub h2load: PathBuf,
    /// Postgres durability when the benchmark starts it: `process-crash` (default: fsync off,
    /// synchronous commits, as HttpArena's Postgres on tmpfs) or `full` (fsync on).
    #[arg(long, default_value_t = Durability::ProcessCrash)]
    pub pg_durability: Durability,
    /// The memory check of long runs (a soak, e.g. `--duration 10m --runs 1`): after this
    /// warm-up (default 60 s) each service's private RSS may grow by at most 5 % by the end of
    /// the run (exit 1 otherwise). Judged on runs at least the warm-up + 2 windows long (each
    /// window min(60 s, warm-up): 180 s by default); a run too short is reported when the
    /// warm-up was given.
    #[arg(long, value_parser = parse_seconds)]
    pub soak_warmup: Option<u32>,
    /// Kill an h2load still running this long after it started; its run then counts nothing.
    /// Default: HttpArena's `timeout 45`, or the h2load's duration + 40 s when longer (a run
    /// over 30 s is a series of h2load pairs, each with its own timeout).
    #[arg(long, value_parser = parse_seconds)]
    pub loadgen_timeout: Option<u32>,
}

impl Default for ProductionBenchArgs {
    fn default() -> Self {
        Self {
            connections: vec![256, 1024],
            duration: 5,
            runs: 3,
            threads: None,
            loadgen_cpus: None,
            profile: Profile::Production,
            cpus: None,
            authsvc: Sidecar::Shared,
            authsvc_bin: None,
            attach: false,
            ports_offset: 0,
            servers: 1,
            compare: Vec::new(),
            json: None,
            markdown: None,
            framework: "prodstack".into(),
            pause: 2,
            h2load: PathBuf::from("h2load"),
            loadgen_timeout: None,
            soak_warmup: None,
            pg_durability: Durability::ProcessCrash,
        }
    }
}

/// The warm-up of the memory check when `--soak-warmup` is not given: the first minute, in
/// which caches, pools and buffers fill.
pub const DEFAULT_SOAK_WARMUP_S: u32 = 60;

/// Whole seconds, as h2load's `-D` writes them: `5`, `5s` or `10m`.
pub fn parse_seconds(text: &str) -> Result<u32, String> {
    let trimmed = text.trim();
    let (number, unit) = match trimmed.strip_suffix('m') {
        Some(minutes) => (minutes, 60),
        None => (trimmed.strip_suffix('s').unwrap_or(trimmed), 1),
    };
    number
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}`: expected whole seconds or minutes such as 5s or 10m"))
}

pub fn run(project: &Project, args: ProductionBenchArgs) -> anyhow::Result<ExitCode> {
    ensure!(
        stack::process::find_on_path("curl").is_some(),
        "`curl` is not installed (./prodstack installs it: Debian package curl)"
    );
    let h2load = resolve_h2load(&args.h2load)?;
    if let Some(timeout) = args.loadgen_timeout {
        let longest = segments::longest_segment_s(args.duration);
        ensure!(
            timeout > longest,
            "--loadgen-timeout {timeout}s must be longer than the longest h2load of the run ({longest}s)"
        );
    }
    let home = &project.home;
    if !args.attach && !supervise::missing_data(home).is_empty() {
        eprintln!("prodstack bench: generating the data first (prodstack data)");
        let mut options = datagen::Options::new(home.root());
        options.progress = true;
        datagen::generate(&options).context("generating the stack's data")?;
    }
    let variants = variants(&args)?;
    let plan = cpu_plan(&args)?;
    let threads = args
        .threads
        .unwrap_or_else(|| plan.loadgen.as_ref().map(|l| l.len() as u32).unwrap_or(1))
        .max(1);
    println!(
        "CPU split: stack on {} (edge {}, authsvc {}, server {}, cache {}; postgres unpinned), load generator on {} · h2load -t {threads}",
        plan.stack,
        plan.split.edge,
        plan.split.authsvc,
        plan.split.server,
        plan.split.cache,
        plan.loadgen.as_ref().map(|l| l.to_string()).unwrap_or_else(|| "any CPU".into()),
    );

    let mut bench = Bench {
        project,
        args: &args,
        plan,
        threads,
        h2load,
        loadgen_timeout: args.loadgen_timeout,
        running: None,
        started_here: false,
        static_bytes: Vec::new(),
        postgres: String::new(),
        shared_authsvc: None,
    };
    let outcome = bench.run_all(&variants);
    let teardown = bench.teardown();
    let runs = outcome?;
    teardown?;

    println!("{}", report::terminal(&runs));
    if let Some(cmp) = report::comparison(&runs) {
        println!("comparison (same load, interleaved runs):\n{cmp}");
    }
    println!("{}", bench.static_bytes_table());
    println!("postgres: {}\n", bench.postgres);
    if let Some(advice) = unfinished_advice(&runs, &bench.h2load) {
        println!("{advice}");
    }
    let json = report::httparena_json(&runs, &args.framework)?;
    if let Some(path) = &args.json {
        std::fs::write(path, &json).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    save_result(home, &json);
    if let Some(path) = &args.markdown {
        let charts = report::write_markdown(path, &runs, &bench.describe(&variants))?;
        let charts: Vec<String> = charts.iter().map(|c| c.display().to_string()).collect();
        println!("wrote {} (+ {})", path.display(), charts.join(", "));
    }
    // The exit status is the stack's: non-2xx or unanswered requests in a run that counts. A
    // run whose load generator did not finish is reported (above) but says nothing about the
    // stack.
    let failed = runs
        .iter()
        .any(|r| r.status(4) + r.status(5) + r.unanswered() > 0);
    // ... and its memory: a service that kept growing after the warm-up of a long run.
    let grew: Vec<String> = runs.iter().filter_map(report::soak_failure).collect();
    for line in &grew {
        eprintln!("prodstack bench: {line}");
    }
    let failed = failed || !grew.is_empty();
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

struct Bench<'a> {
    project: &'a Project,
    args: &'a ProductionBenchArgs,
    plan: CpuPlan,
    threads: u32,
    /// The h2load program.
    h2load: LoadGenerator,
    /// How long one h2load may run before it is killed (`--loadgen-timeout`); `None`: see
    /// [`Bench::loadgen_timeout`].
    loadgen_timeout: Option<u32>,
    /// The variant the stack currently runs.
    running: Option<String>,
    /// Whether this benchmark brought the stack up (and so must take it down).
    started_here: bool,
    /// Static bytes per read cycle, measured once per variant after validation.
    static_bytes: Vec<(String, StaticBytes)>,
    /// The running Postgres' durability settings, as it reports them.
    postgres: String,
    /// HttpArena's shared authsvc, once built for a variant that runs it: the binary, or why
    /// its sources were not found (the variant then runs ours, and says so).
    shared_authsvc: Option<Result<PathBuf, String>>,
}

impl Bench<'_> {
    fn home(&self) -> &Home {
        &self.project.home
    }

    fn static_bytes_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .static_bytes
            .iter()
            .map(|(variant, bytes)| {
                vec![
                    variant.clone(),
                    report::thousands(bytes.per_cycle()),
                    bytes.encodings(),
                ]
            })
            .collect();
        format!(
            "static bytes per read cycle (Accept-Encoding: {}):\n{}",
            static_bytes::READS_ACCEPT_ENCODING,
            report::table(&["variant", "bytes/cycle", "encodings served"], &rows)
        )
    }

    fn describe(&self, variants: &[Variant]) -> String {
        let bytes = self
            .static_bytes
            .iter()
            .map(|(variant, b)| {
                format!(
                    "{variant} {} B ({})",
                    report::thousands(b.per_cycle()),
                    b.encodings()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        format!(
            "{} Static bytes per read cycle: {bytes}.",
            self.describe_setup(variants)
        )
    }

    fn describe_setup(&self, variants: &[Variant]) -> String {
        format!(
            "Variants: {}. Connections: {:?}, {} run(s) of {} s each, h2load -t {}. Stack CPUs {} (edge {}, authsvc {}, server {}{}, cache {}; postgres unpinned); load generator CPUs {}. Machine: {} CPUs. Postgres: {}.",
            variants
                .iter()
                .map(|v| format!("{} (authsvc: {})", v.name, self.authsvc_ran(v)))
                .collect::<Vec<_>>()
                .join(", "),
            self.args.connections,
            self.args.runs,
            self.args.duration,
            self.threads,
            self.plan.stack,
            self.plan.split.edge,
            self.plan.split.authsvc,
            self.plan.split.server,
            match self.args.servers {
                1 => String::new(),
                n => format!(" shared by {n} server instances behind nginx"),
            },
            self.plan.split.cache,
            self.plan.loadgen.as_ref().map(|l| l.to_string()).unwrap_or_else(|| "any".into()),
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            self.postgres,
        )
    }

    /// Every (connections, run, variant) in HttpArena's order, variants interleaved.
    fn run_all(&mut self, variants: &[Variant]) -> anyhow::Result<Vec<RunResult>> {
        let mut results = Vec::new();
        for &connections in &self.args.connections {
            ensure!(connections >= 1, "--connections must be at least 1");
            for run in 1..=self.args.runs {
                for variant in variants {
                    let fresh = run == 1 || variants.len() > 1;
                    self.prepare(variant, fresh)?;
                    if !results.is_empty() {
                        std::thread::sleep(Duration::from_secs(self.args.pause as u64));
                    }
                    let result = self.one_run(variant, connections, run)?;
                    eprintln!(
                        "   {} · {}c · run {}: {} rps ({} non-2xx, {} unanswered)",
                        variant.name,
                        connections,
                        run,
                        report::thousands(result.rps()),
                        result.status(3) + result.status(4) + result.status(5),
                        result.unanswered()
                    );
                    results.push(result);
                }
            }
        }
        Ok(results)
    }

    /// Makes sure the stack runs `variant`, freshly started when `fresh` (HttpArena restarts
    /// its four containers per connection count), and that it passes validation.
    fn prepare(&mut self, variant: &Variant, fresh: bool) -> anyhow::Result<()> {
        if self.args.attach {
            if self.running.is_none() {
                StackState::load(self.home())
                    .context("--attach: no running stack (prodstack up)")?;
                self.validate()?;
                self.measure_static_bytes(variant)?;
                self.running = Some(variant.name.clone());
            }
            return Ok(());
        }
        if !fresh && self.running.as_deref() == Some(variant.name.as_str()) {
            return Ok(());
        }
        let someone_elses = StackState::load_if_present(self.home())?.is_some_and(|state| {
            state
                .services
                .iter()
                .any(|s| s.liveness() == stack::process::Liveness::Running)
        });
        if someone_elses && !self.started_here {
            bail!(
                "a stack is already running in {} (prodstack down, or bench --attach to use it)",
                self.home().root().display()
            );
        }
        self.stop_services_keep_postgres()?;
        let mut opts = UpOptions::new(&self.project.project_root)?;
        opts.profile = variant.profile;
        opts.edge = variant.edge;
        opts.edge_env = variant.edge_env.clone();
        opts.nginx_knobs = variant.nginx_knobs.clone();
        opts.ports_offset = self.args.ports_offset;
        // The Rust edge proxies to one app server.
        opts.servers = if variant.edge.is_rust() {
            1
        } else {
            self.args.servers
        };
        opts.check_servers()?;
        opts.cpus = self.plan.split.clone();
        opts.authsvc_bin = self.authsvc_bin(&variant.authsvc)?;
        opts.server_bin = variant.server_bin.clone();
        opts.server_env = variant.server_env.clone();
        opts.pg_durability = self.args.pg_durability;
        // A benchmark must not paper over a crash: a service that dies fails the run.
        opts.supervise = false;
        eprintln!("== bringing the stack up: {}", variant.name);
        let report = supervise::up(self.home(), &opts, &mut |line| eprintln!("   {line}"))?;
        self.started_here = true;
        eprintln!("   up in {:.1} s", report.elapsed.as_secs_f64());
        self.running = Some(variant.name.clone());
        self.validate()?;
        self.measure_static_bytes(variant)
    }

    /// The binary `up` runs as authsvc (`None`: ours, or none for the Rust edge); HttpArena's
    /// shared one is built on first use.
    fn authsvc_bin(&mut self, authsvc: &Authsvc) -> anyhow::Result<Option<PathBuf>> {
        Ok(match authsvc {
            Authsvc::Sidecar(Sidecar::Ours) | Authsvc::InProcess | Authsvc::Attached => None,
            Authsvc::Bin(path) => Some(path.clone()),
            Authsvc::Sidecar(Sidecar::Shared) => {
                if self.shared_authsvc.is_none() {
                    let built = match stack::sidecar::build_shared(self.project, &mut |line| {
                        eprintln!("   {line}")
                    }) {
                        Ok(binary) => Ok(binary),
                        // Without HttpArena's sources (a checkout without ../shared/httparena)
                        // the benchmark still runs, with ours, and every report says so.
                        Err(err @ stack::Error::Missing { .. }) => {
                            eprintln!(
                                "   !! running our authsvc instead of HttpArena's shared one: {err}"
                            );
                            Err(err.to_string())
                        }
                        Err(err) => return Err(err.into()),
                    };
                    self.shared_authsvc = Some(built);
                }
                self.shared_authsvc.clone().and_then(Result::ok)
            }
        })
    }

    /// How the reports name the sidecar `variant` ran.
    fn authsvc_ran(&self, variant: &Variant) -> String {
        match (&variant.authsvc, &self.shared_authsvc) {
            (Authsvc::Sidecar(Sidecar::Shared), Some(Err(why))) => format!(
                "{} instead of HttpArena's shared authsvc, whose sources were not found ({why})",
                Sidecar::Ours.describe()
            ),
            (authsvc, _) => authsvc.describe(),
        }
    }

    /// Once per variant: what one cycle of the reads list's static requests weighs.
    fn measure_static_bytes(&mut self, variant: &Variant) -> anyhow::Result<()> {
        if self.static_bytes.iter().any(|(v, _)| *v == variant.name) {
            return Ok(());
        }
        let (target, _) = self.target()?;
        let scratch = self.home().run_dir().join("bench");
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        let requests = requests_for(self.home(), &scratch, &target.base_url)?;
        let bytes = static_bytes::measure(
            &requests.join(datagen::requests::READS_FILE),
            &target.base_url,
        )
        .context("measuring the static bytes per read cycle")?;
        eprintln!(
            "   static bytes per read cycle: {} ({})",
            report::thousands(bytes.per_cycle()),
            bytes.encodings()
        );
        self.static_bytes.push((variant.name.clone(), bytes));
        Ok(())
    }

    /// Stops edge, server, authsvc and cache (not Postgres, which HttpArena keeps running
    /// across connection counts), so the next `up` starts them fresh.
    fn stop_services_keep_postgres(&mut self) -> anyhow::Result<()> {
        supervise::stop_services(
            self.home(),
            &[
                Service::Edge,
                Service::SERVER,
                Service::Authsvc,
                Service::Cache,
            ],
            &mut |_| {},
        )?;
        Ok(())
    }

    fn target(&self) -> anyhow::Result<(Target, StackState)> {
        let state = StackState::load(self.home())?;
        let token = std::fs::read_to_string(self.home().token_path())
            .with_context(|| format!("reading {}", self.home().token_path().display()))?
            .trim()
            .to_string();
        Ok((
            Target {
                base_url: state.edge_url(),
                token,
                database_url: stack::postgres::database_url(state.ports.postgres),
                dataset: self.home().dataset_path(),
            },
            state,
        ))
    }

    fn validate(&mut self) -> anyhow::Result<()> {
        let (target, _) = self.target()?;
        eprintln!(
            "== validating {} (a stack that fails is not benchmarked)",
            target.base_url
        );
        let results = validate::run_checks(&target, true, |_| {});
        let failures: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
        if failures.is_empty() {
            let postgres = postgres_durability(&target.database_url);
            if postgres != self.postgres {
                eprintln!("   postgres: {postgres}");
                self.postgres = postgres;
            }
            eprintln!("   all {} checks passed", results.len());
            return Ok(());
        }
        for failure in &failures {
            validate::print_result(failure);
        }
        bail!(
            "the stack failed {} of {} validation checks; refusing to benchmark it",
            failures.len(),
            results.len()
        )
    }

    fn teardown(&mut self) -> anyhow::Result<()> {
        if !self.started_here {
            return Ok(());
        }
        self.started_here = false;
        eprintln!("== tearing down the stack this benchmark started");
        supervise::down(self.home(), &mut |line| eprintln!("   {line}"))?;
        Ok(())
    }

    /// How long an h2load of `seconds` may run before it is killed: `--loadgen-timeout`, or
    /// HttpArena's `timeout 45`, or `seconds` + 40 s when that is longer.
    fn loadgen_timeout(&self, seconds: u32) -> Duration {
        let limit = self
            .loadgen_timeout
            .unwrap_or(HTTPARENA_LOADGEN_TIMEOUT_S.max(seconds + 40));
        Duration::from_secs(u64::from(limit))
    }

    /// Runs the reads and writes instances side by side until both exit (or are killed at the
    /// load generator's timeout): their summaries, and each one that did not finish.
    fn load_pair(
        &self,
        pair: &[&Invocation; 2],
        loadgen_pids: &Mutex<Vec<u32>>,
        scratch: &Path,
        label: &str,
    ) -> anyhow::Result<(Summary, Summary, Vec<Unfinished>)> {
        let cpus = self.plan.loadgen.as_ref().map(|c| c.to_string());
        let mut children = Vec::new();
        for invocation in pair {
            let _ = std::fs::remove_file(&invocation.log_file);
            let out = scratch.join(format!("{}.out", invocation.label));
            let child = invocation
                .command(&self.h2load.program, cpus.as_deref())
                .stdin(Stdio::null())
                .stdout(
                    std::fs::File::create(&out)
                        .with_context(|| format!("creating {}", out.display()))?,
                )
                .stderr(Stdio::null())
                .spawn()
                .context("starting h2load")?;
            loadgen_pids.lock().map(|mut p| p.push(child.id())).ok();
            children.push((*invocation, child, out));
        }
        let seconds = pair[0].duration_s;
        let timeout = self.loadgen_timeout(seconds);
        let exits = wait_all(&mut children, timeout, label, seconds)?;
        let mut summaries = Vec::new();
        let mut unfinished = Vec::new();
        for ((invocation, _, out), exit) in children.iter().zip(exits) {
            let text = std::fs::read_to_string(out).unwrap_or_default();
            let summary = match (&exit, Summary::parse(&text)) {
                (Exit::Finished(_), Ok(summary)) => summary,
                (_, parsed) => {
                    let reason = match exit {
                        Exit::Finished(status) => format!(
                            "exited with {status} and printed no summary ({}; output in {})",
                            parsed
                                .err()
                                .map(|e| first_line(&e.to_string()))
                                .unwrap_or_default(),
                            out.display()
                        ),
                        Exit::Killed { .. } => {
                            format!("did not exit within {} s and was killed", timeout.as_secs())
                        }
                    };
                    let log = std::fs::read_to_string(&invocation.log_file).unwrap_or_default();
                    let logged = h2load::Logged::of(&h2load::parse_log(&log).0);
                    unfinished.push(Unfinished {
                        instance: invocation.label.to_string(),
                        reason,
                        open_connections: exit.open_connections(),
                        logged,
                        logged_rps: logged.status_2xx / seconds.max(1) as u64,
                    });
                    Summary::default()
                }
            };
            summaries.push(summary);
        }
        let writes = summaries.pop().unwrap_or_default();
        let reads = summaries.pop().unwrap_or_default();
        Ok((reads, writes, unfinished))
    }

    fn one_run(&self, variant: &Variant, connections: u32, run: u32) -> anyhow::Result<RunResult> {
        let (target, state) = self.target()?;
        let home = self.home();
        let scratch = home.run_dir().join("bench");
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        let requests = requests_for(home, &scratch, &target.base_url)?;
        let duration = self.args.duration;
        let metrics_urls = state.server_metrics_urls();
        let edge_status = EdgeStatus::for_state(&state);
        let before = Scrape::fetch_all(&metrics_urls)
            .context("reading the server's metrics before the run")?;
        let edge_before = edge_status.requests();
        let redis_before = stack::redis::commands_processed(state.ports.cache);

        let loadgen_pids: Arc<Mutex<Vec<u32>>> = Arc::default();
        let groups = service_groups(&state, Arc::clone(&loadgen_pids));
        let sampler = Sampler::start(groups, Duration::from_millis(200));
        let started = Instant::now();
        let label = format!(
            "{} · {}c · run {}/{}",
            variant.name, connections, run, self.args.runs
        );
        // One h2load pair, or back-to-back segments for a long run (segments.rs says why).
        let segmented = duration > segments::SINGLE_RUN_MAX_S;
        segments::remove_segment_logs(&scratch);
        let (mut reads_parts, mut writes_parts) = (Vec::new(), Vec::new());
        let (mut reads_logs, mut writes_logs) = (Vec::new(), Vec::new());
        let mut unfinished = Vec::new();
        let mut threads = 1;
        let (mut done, mut rate) = (0, None);
        loop {
            let seconds = segments::next_segment_s(duration, done, rate);
            if seconds == 0 {
                break;
            }
            let suffix = if segmented {
                format!("-{}", reads_parts.len() + 1)
            } else {
                String::new()
            };
            let reads = Invocation::reads(
                &requests,
                &target.token,
                connections,
                self.threads,
                seconds,
                scratch.join(format!("reads{suffix}.log")),
            );
            let writes = Invocation::writes(
                &requests,
                &target.token,
                connections,
                seconds,
                scratch.join(format!("writes{suffix}.log")),
            );
            let segment_label = if segmented {
                format!("{label} · {done}-{} of {duration} s", done + seconds)
            } else {
                label.clone()
            };
            let (r, w, stuck) =
                self.load_pair(&[&reads, &writes], &loadgen_pids, &scratch, &segment_label)?;
            let per_connection = |summary: &Summary, invocation: &Invocation| {
                summary.requests_total as f64
                    / (f64::from(invocation.connections) * f64::from(seconds))
            };
            rate = Some(per_connection(&r, &reads).max(per_connection(&w, &writes)));
            threads = reads.threads;
            reads_parts.push(r);
            writes_parts.push(w);
            reads_logs.push(reads.log_file);
            writes_logs.push(writes.log_file);
            done += seconds;
            // A hung load generator ends the run: the rest would wait out its timeout again.
            let hung = !stuck.is_empty();
            unfinished.extend(stuck);
            if hung {
                break;
            }
        }
        let elapsed = started.elapsed();
        let sampled = sampler.finish();
        let warmup = self.args.soak_warmup.unwrap_or(DEFAULT_SOAK_WARMUP_S);
        let judged: Vec<&str> = STACK_SERVICES.iter().copied().chain([POSTGRES]).collect();
        // A run whose load generator hung counts nothing, its memory included: the curve would
        // cover the minutes it waited without load.
        let soak = if unfinished.is_empty() {
            sampled.rss_curve.soak(warmup, &judged)
        } else {
            None
        };
        if soak.is_none() && unfinished.is_empty() && self.args.soak_warmup.is_some() {
            eprintln!(
                "   {label}: no memory verdict: the run is too short for a {warmup} s warm-up and two windows after it"
            );
        }
        let after = Scrape::fetch_all(&metrics_urls)
            .context("reading the server's metrics after the run")?;
        let edge_after = edge_status.requests();
        let redis_after = stack::redis::commands_processed(state.ports.cache);
        let reads_summary = Summary::combine(&reads_parts, done);
        let writes_summary = Summary::combine(&writes_parts, done);
        let delta = after.delta(&before);
        let edge_requests = match (edge_before, edge_after) {
            (Some(b), Some(a)) => Some(a - b),
            _ => None,
        };
        let failures = describe_failures(&delta, &reads_logs, &writes_logs, &state);
        let answered = |s: &Summary| s.status_2xx + s.status_3xx + s.status_4xx + s.status_5xx;
        let work = WorkCounts {
            client_requests: answered(&reads_summary) + answered(&writes_summary),
            redis_commands: match (redis_before, redis_after) {
                // INFO itself is one command.
                (Some(b), Some(a)) => Some(a.saturating_sub(b).saturating_sub(1)),
                _ => None,
            },
            ..WorkCounts::from_server(&delta)
        };
        let usage: Vec<UsageReport> = sampled.usage.iter().map(UsageReport::from).collect();
        Ok(RunResult {
            variant: variant.name.clone(),
            authsvc: self.authsvc_ran(variant),
            connections,
            run,
            threads,
            // The seconds of load that ran: less than asked when a hung h2load ended the run.
            duration_s: done,
            reads_latency: log_latency(&reads_logs),
            writes_latency: log_latency(&writes_logs),
            reads: reads_summary,
            writes: writes_summary,
            costs: Costs::measure(&usage, &work),
            usage,
            cache: CacheHierarchy::from_delta(
                &delta,
                elapsed.as_secs_f64().min(duration as f64).max(1e-9),
            ),
            templates: TemplateCounts::measure(&delta, edge_requests),
            failures,
            unfinished,
            postgres: self.postgres.clone(),
            rss_curve: sampled.rss_curve,
            soak,
        })
    }
}

/// Keeps every result under `results/` (`bench-<unix time>.json`) and the newest as
/// `bench-latest.json`, which `prodstack plan` reads by default. Best effort: the report was
/// printed already.
fn save_result(home: &Home, json: &str) {
    let dir = home.results_dir();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let path = dir.join(format!("bench-{stamp}-{}.json", std::process::id()));
    let saved = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, json))
        .and_then(|()| std::fs::write(dir.join(contract::LATEST_BENCH_RESULT), json));
    match saved {
        Ok(()) => println!(
            "result saved to {} (and {})",
            path.display(),
            contract::LATEST_BENCH_RESULT
        ),
        Err(err) => tracing::warn!(%err, path = %path.display(), "could not save the result"),
    }
}

/// The request lists point at `https://localhost:8443`; with offset ports the benchmark uses
/// copies for the real edge URL, written once (the small writes list tells which URL a copy
/// has).
pub fn requests_for(home: &Home, scratch: &Path, base_url: &str) -> anyhow::Result<PathBuf> {
    if base_url == datagen::requests::DEFAULT_BASE_URL {
        return Ok(home.requests_dir());
    }
    let dir = scratch.join("requests");
    let current = std::fs::read_to_string(dir.join(datagen::requests::WRITES_FILE));
    if current.is_ok_and(|text| text == datagen::requests::writes(base_url))
        && dir.join(datagen::requests::READS_FILE).is_file()
    {
        return Ok(dir);
    }
    datagen::requests::write(&dir, base_url)
        .context("writing request lists for the edge's port")?;
    Ok(dir)
}

/// Root pids of every service, Postgres and the load generator (evaluated at each sample);
/// every app-server instance counts in the one `server` group.
fn service_groups(
    state: &StackState,
    loadgen: Arc<Mutex<Vec<u32>>>,
) -> super::procstat::GroupSource {
    let mut services: Vec<(String, Vec<u32>)> = Vec::new();
    for s in &state.services {
        let name = if s.service == Service::Postgres {
            POSTGRES
        } else {
            s.service.kind_str()
        };
        match services.iter_mut().find(|(group, _)| group == name) {
            Some((_, pids)) => pids.push(s.pid()),
            None => services.push((name.to_string(), vec![s.pid()])),
        }
    }
    Box::new(move || {
        let mut groups = services.clone();
        groups.push((
            LOADGEN.to_string(),
            loadgen.lock().map(|p| p.clone()).unwrap_or_default(),
        ));
        groups
    })
}

/// What the running Postgres' acknowledged commits survive, from its own settings.
fn postgres_durability(database_url: &str) -> String {
    let setting = |name: &str| -> String {
        stack::postgres::PgBin::find()
            .ok()
            .and_then(|bin| {
                std::process::Command::new(bin.tool("psql"))
                    .args(["-X", "-At", "-d", database_url, "-c"])
                    .arg(format!("SHOW {name}"))
                    .env("PGCONNECT_TIMEOUT", "5")
                    .output()
                    .ok()
            })
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "?".into())
    };
    let (fsync, commit) = (setting("fsync"), setting("synchronous_commit"));
    let meaning = match (fsync.as_str(), commit.as_str()) {
        ("on", "on") => "acknowledged writes survive a Postgres or machine crash",
        ("off", "on") => {
            "acknowledged writes survive a Postgres crash, not a machine crash (as HttpArena's Postgres on tmpfs)"
        }
        (_, "off") => "acknowledged writes can be lost when Postgres crashes",
        _ => "durability unknown",
    };
    format!("fsync={fsync}, synchronous_commit={commit}: {meaning}")
}

#[cfg(test)]
mod tests {
    use stack::profile::EdgeKind;

    use super::edge_status::parse_stub_status;
    use super::*;

    #[test]
    fn parses_nginx_stub_status() {
        let text = "Active connections: 291 \nserver accepts handled requests\n 16630948 16630948 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n";
        assert_eq!(parse_stub_status(text), Some(31_070_465.0));
        assert_eq!(parse_stub_status("nope"), None);
    }

    #[test]
    fn seconds_parse_like_h2load_durations() {
        assert_eq!(parse_seconds("5s"), Ok(5));
        assert_eq!(parse_seconds("12"), Ok(12));
        assert_eq!(parse_seconds("10m"), Ok(600));
        assert!(parse_seconds("0m").is_err());
        assert!(parse_seconds("0s").is_err());
        assert!(parse_seconds("fast").is_err());
    }

    /// The variants of `--compare` with these specs.
    fn compare(specs: &[&str]) -> anyhow::Result<Vec<Variant>> {
        variants(&ProductionBenchArgs {
            compare: specs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
    }

    #[test]
    fn compare_variants_parse() {
        let v = compare(&["production", "tuned"]).unwrap();
        assert_eq!(
            v.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            ["production", "tuned"]
        );
        let v = compare(&["production", "engine-proxy", "engine-fused"]).unwrap();
        assert_eq!(
            v.iter().map(|v| v.edge).collect::<Vec<_>>(),
            [EdgeKind::Nginx, EdgeKind::RustProxy, EdgeKind::RustFused]
        );
        let v = compare(&["engine-proxy+EDGE_UPSTREAM_CONNECTIONS=16+EDGE_RUNTIME=multi-thread"])
            .unwrap();
        assert_eq!(v[0].edge, EdgeKind::RustProxy);
        assert_eq!(
            v[0].edge_env,
            [
                (
                    contract::env::EDGE_UPSTREAM_CONNECTIONS.to_string(),
                    "16".to_string()
                ),
                (
                    contract::env::EDGE_RUNTIME.to_string(),
                    "multi-thread".to_string()
                )
            ]
        );
        let v = compare(&[
            "production",
            "production+ssl_buffer_size=4k+tls13_ciphersuites=aes128",
        ])
        .unwrap();
        assert_eq!(v[0].name, "production");
        assert!(v[0].nginx_knobs.is_empty());
        assert_eq!(
            v[1].nginx_knobs,
            [
                ("ssl_buffer_size".to_string(), "4k".to_string()),
                ("tls13_ciphersuites".to_string(), "aes128".to_string())
            ]
        );
        // Another server build: a file that exists, named by its spec; ours elsewhere.
        let build = tempfile::NamedTempFile::new().unwrap();
        let spec = format!("server={}", build.path().display());
        let v = compare(&["production", &spec]).unwrap();
        assert_eq!(v[0].server_bin, None);
        assert_eq!(v[1].name, spec);
        assert_eq!(v[1].server_bin.as_deref(), Some(build.path()));
        assert_eq!(v[1].edge, EdgeKind::Nginx);
        let v = compare(&["production+SERVER_HEAP_TRIM_MS=0+ssl_buffer_size=4k"]).unwrap();
        assert_eq!(
            v[0].server_env,
            [("SERVER_HEAP_TRIM_MS".to_string(), "0".to_string())]
        );
        assert_eq!(v[0].nginx_knobs.len(), 1);
        assert_eq!(
            v[0].name,
            "production+SERVER_HEAP_TRIM_MS=0+ssl_buffer_size=4k"
        );
        let v = compare(&[
            "engine-proxy+SERVER_HEAP_TRIM_MS=0+EDGE_RUNTIME=per-core",
            "engine-fused+SERVER_HEAP_TRIM_MS=0",
        ])
        .unwrap();
        let trim_off = [("SERVER_HEAP_TRIM_MS".to_string(), "0".to_string())];
        // Behind the proxy the server is its own process; fused, the edge runs it.
        assert_eq!(v[0].server_env, trim_off);
        assert_eq!(v[0].edge_env.len(), 1);
        assert!(v[1].server_env.is_empty());
        assert_eq!(v[1].edge_env, trim_off);
        let script = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(script.path(), "#!/bin/sh\nexec server\n").unwrap();
        let wrapper = format!("server={}", script.path().display());
        for bad in [
            wrapper.as_str(),
            "production+SERVER_HEAP_TRIM=0",
            "engine-proxy+SERVER_THREADS=2",
            "server=/no/such/server",
            "engine-fused+EDGE_RUNTIME",
            "engine-fused+PATH=/tmp",
            "nginx+EDGE_X=1",
            "production+gzip=on",
            "production+ssl_buffer_size=big",
            "tuned+listen_reuseport",
        ] {
            assert!(compare(&[bad]).is_err(), "{bad}");
        }
        assert!(compare(&["fast"]).is_err());
    }
}
