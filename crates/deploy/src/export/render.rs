//! The generated deployment text: compose files, the edge's nginx config, and an export's
//! meta.json and README.md.
//!
//! Both the checkout's compose files (`deploy/compose.production-stack.yml`,
//! `deploy/compose.tuned.yml`, `deploy/compose.engine.yml`) and an HttpArena export's
//! `compose.production-stack.yml` come from [`compose`], so the CPU split, limits, mounts,
//! environment and health checks cannot drift between what we run and what we submit; only the
//! build sources differ (our Dockerfiles vs HttpArena's layout and its shared authsvc). The
//! nginx config comes from the one template `prodstack up` also renders ([`edge_conf`]).
//!
//! Two shapes: the four-service stack of the Production and Tuned categories (nginx edge,
//! cache, HttpArena's authsvc, our server; split [`CPU_SPLIT`]), and the Engine category's two
//! services (our fused engine as the edge, and the same cache; split [`ENGINE_CPU_SPLIT`]).

use contract::BENCH_SECRET;
use std::fmt::Write as _;

use anyhow::Context as _;
use stack::nginx::{EdgeParams, Template, Workers};
use stack::{CpuSet, Profile};

use super::Category;

/// Our split of HttpArena's 64 logical CPUs between the four services; the reasoning is in
/// [`SPLIT_REASONING`] (and therefore in every compose file).
pub const CPU_SPLIT: [(&str, &str); 4] = [
    ("edge", "0-18,64-82"),
    ("cache", "19,83"),
    ("authsvc", "20-23,84-87"),
    ("server", "24-31,88-95"),
];

/// Why the split is what it is (compose header comment, README).
pub const SPLIT_REASONING: &str = "\
CPU split. HttpArena's box gives the four services the 64 logical CPUs 0-31,64-95 (the load
generator owns 32-63,96-127); the SMT sibling of CPU N is N+64 and a CCX (one L3) is 4 cores.
Whole SMT pairs, exactly 64 logical CPUs:

  edge     0-18,64-82    19 cores / 38 logical   (CCX 0-3 + 3 cores of CCX 4)
  cache    19,83          1 core  /  2 logical   (the last core of CCX 4)
  authsvc  20-23,84-87    4 cores /  8 logical   (exactly CCX 5)
  server   24-31,88-95    8 cores / 16 logical   (exactly CCX 6-7)

Why. The reference entry (aspnet-minimal + nginx, 228k rps at 256 connections) spent, per
100k rps, 12.2 logical CPUs in the edge, 7.5 in the .NET server, 3.4 in authsvc and 0.14 in
Redis (docker stats: 2773 % / 1711 % / 777 % / 32 %). The edge is the same nginx doing the same
work per request, so its cost carries over; our Rust server is expected to need several times
less CPU per request than .NET, so cores move from the server to the edge (30 -> 38 logical).
authsvc stays at exactly one CCX: the reference saw throughput fall when it grew past 4 cores
(the fifth core sits behind another L3) and ran it at ~97 % of its 8 CPUs, so it caps the stack
near 235k rps whatever the others get; at that rate the edge needs ~29 logical CPUs, and the
other 9 are headroom for TLS handshakes and bursts. The server keeps two whole CCXs (16
logical): at a conservative 2x cheaper than .NET it needs ~9 at 235k rps, and it is the one cost
here that is a forecast rather than a measurement. Processes with shared state (authsvc's and
the server's runtimes, the server's one L1 map) stay inside whole CCXs; nginx workers share
nothing, so the edge takes the CCX it shares with Redis, which is nearly idle (L1 absorbs the
reads). Postgres stays unpinned, as in HttpArena's harness. Re-measure on the 64-CPU box
(`prodstack bench` reports per-service CPU) before changing it.";

/// The engine's split of the same 64 logical CPUs between its two services; the reasoning is
/// in [`ENGINE_SPLIT_REASONING`]. The cache keeps its core of [`CPU_SPLIT`].
pub const ENGINE_CPU_SPLIT: [(&str, &str); 2] =
    [("edge", "0-18,20-31,64-82,84-95"), ("cache", "19,83")];

/// Why the engine's split is what it is (engine compose header comment, engine README).
pub const ENGINE_SPLIT_REASONING: &str = "\
CPU split. HttpArena's box gives the services the 64 logical CPUs 0-31,64-95 (the load
generator owns 32-63,96-127); the SMT sibling of CPU N is N+64 and a CCX (one L3) is 4 cores.
Whole SMT pairs, exactly 64 logical CPUs:

  edge     0-18,20-31,64-82,84-95   31 cores / 62 logical   (every core but the cache's)
  cache    19,83                     1 core  /  2 logical   (the same core as in the 4-service stack)

Why. The engine is one process doing what nginx, authsvc and the server do in three: TLS and
HTTP/2, static files, JWT verification and the app, with no loopback hop between them. In the
four-service stack those three share 62 logical CPUs; here every part of a request runs in the
edge's process, so the edge gets every CPU the cache does not. The cache stays exactly as in
the four-service stack (same image, seed entrypoint, health check and core): the reference
entry's Redis used 0.14 logical CPUs per 100k rps (docker stats: 32 %) because the process-wide
L1 absorbs the reads, so a second core would idle, and leaving it in place means an engine run
and a production run differ only in what serves the requests. EDGE_WORKERS keeps its default,
the CPUs of the cpuset; SERVER_WORKERS=4, since in fused mode the server's runtime only drives
the Postgres and Redis connections (4 pipelined read connections) and the :8080 probe. The edge's cpuset spans all eight CCXs, so its one
L1 map is shared across L3s: one process can only use the box by spanning it, and keeping that
map shared is what makes a write's invalidation reach every reader. This split is reasoned,
not measured: re-measure on the 64-CPU box (`prodstack bench` reports per-service CPU) before
changing it. Postgres stays unpinned, as in HttpArena's harness.";

/// The command that rewrites the checkout's generated deployment files.
pub const REGENERATE: &str = "prodstack export-httparena --write-deploy";

/// The cpuset of `service` in [`CPU_SPLIT`].
pub fn cpuset(service: &str) -> &'static str {
    CPU_SPLIT
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, set)| *set)
        .unwrap_or_default()
}

/// The cpuset of `service` in [`ENGINE_CPU_SPLIT`].
pub fn engine_cpuset(service: &str) -> &'static str {
    ENGINE_CPU_SPLIT
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, set)| *set)
        .unwrap_or_default()
}

/// How many logical CPUs the edge gets: nginx's worker count.
pub fn edge_workers() -> anyhow::Result<usize> {
    let set = CpuSet::parse(cpuset("edge")).map_err(anyhow::Error::msg)?;
    Ok(set.len())
}

/// Where a compose file lives, which decides how it builds its images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `deploy/` of this checkout: our three Dockerfiles, context `..`.
    Checkout,
    /// `frameworks/<name>/` of HttpArena: HttpArena's shared authsvc, our server built with
    /// HttpArena's repository root as the context, the edge from `./edge`.
    HttpArena { name: String },
}

/// The edge's nginx config for the Docker images: the shared template rendered with
/// [`EdgeParams::docker`], one worker per CPU of the edge's cpuset, behind a header that says
/// where it came from.
pub fn edge_conf(
    template: &Template,
    profile: Profile,
    origin_note: &str,
) -> anyhow::Result<String> {
    let workers = edge_workers()?;
    let params = EdgeParams::docker(profile, Workers::Count(workers));
    let body = template
        .render_edge(&params)
        .with_context(|| format!("rendering {} for Docker", template.origin()))?;
    Ok(format!(
        "# GENERATED FILE - do not edit. {origin_note}\n\
         # Rendered from deploy/nginx/nginx.conf.template (the template `prodstack up` renders for\n\
         # native nginx) with stack::nginx::EdgeParams::docker: profile {profile}, {workers} workers =\n\
         # the edge's cpuset ({edge}). `worker_processes auto` would count the host's CPUs, not the\n\
         # container's cpuset (nginx uses sysconf): 128 workers on HttpArena's box.\n\
         #\n{body}",
        edge = cpuset("edge"),
    ))
}

/// A compose file for `target` and `category`: the four-service stack of a profile, or the
/// engine's two services.
pub fn compose(target: &Target, category: Category) -> String {
    match category.profile() {
        Some(profile) => stack_compose(target, profile),
        None => engine_compose(target),
    }
}

/// The four-service stack (nginx edge, cache, authsvc, server) of `profile`.
fn stack_compose(target: &Target, profile: Profile) -> String {
    let mut y = String::new();
    header(&mut y, target, profile);
    y.push_str("services:\n");
    edge(&mut y, target, profile);
    cache(&mut y, target, profile, cpuset("cache"));
    authsvc(&mut y, target);
    server(&mut y, target);
    y
}

/// The Engine-class stack: the fused Rust engine (`edge`) and the cache.
fn engine_compose(target: &Target) -> String {
    let mut y = String::new();
    engine_header(&mut y, target);
    y.push_str("services:\n");
    engine_edge(&mut y, target);
    // Redis exactly as in the production stack, on the same core.
    cache(&mut y, target, Profile::Production, engine_cpuset("cache"));
    // The cache is the last service here: no blank line at the end of the file.
    while y.ends_with("\n\n") {
        y.pop();
    }
    y
}

/// Writes `text` as the file's `#` comment header, followed by a blank line.
fn comment_block(y: &mut String, text: &str) {
    for line in text.trim_end().lines() {
        if line.is_empty() {
            y.push_str("#\n");
        } else {
            let _ = writeln!(y, "# {line}");
        }
    }
    y.push('\n');
}

fn header(y: &mut String, target: &Target, profile: Profile) {
    let mut text = String::new();
    match target {
        Target::Checkout => {
            let file = checkout_compose_file(Category::from(profile));
            let _ = writeln!(
                text,
                "prodstack on Docker Compose: HttpArena's \"production-stack\" shape, {profile} profile.\n\
                 edge (nginx, TLS :8443) -> authsvc (:9090, JWT) -> server (:8080) -> Redis (:6379) / Postgres (:5432)\n\
                 \n\
                 GENERATED FILE - do not edit. `{REGENERATE}` writes it from\n\
                 crates/deploy/src/export/render.rs (the same code that writes HttpArena exports);\n\
                 `cargo test -p cli` fails while it is out of date, and `prodstack compose-check` checks it.\n\
                 \n\
                 Run it from the checkout (Postgres first; see README \"Deploying with Docker Compose\"):\n\
                 \x20 ./prodstack data\n\
                 \x20 DATA_DIR=$PWD/.prodstack/data docker compose -f deploy/compose.postgres.yml up -d --wait\n\
                 \x20 CERTS_DIR=$PWD/.prodstack/certs DATA_DIR=$PWD/.prodstack/data \\\n\
                 \x20   docker compose -f deploy/{file} up --build -d --wait\n\
                 DATABASE_URL defaults to that Postgres (postgres://bench:bench@localhost:5432/benchmark).\n\
                 All services use the host network: ports 8443, 9090, 8080, 9091 and 6379 must be free."
            );
        }
        Target::HttpArena { name } => {
            let _ = writeln!(
                text,
                "{name}: prodstack's Rust server in HttpArena's production-stack ({profile} category).\n\
                 edge (nginx, TLS :8443) -> authsvc (shared, :9090) -> server (:8080) -> Redis (:6379) / Postgres (:5432)\n\
                 \n\
                 Generated by `prodstack export-httparena` (https://github.com/prodstack/prodstack)."
            );
        }
    }
    if profile == Profile::Tuned {
        let _ = writeln!(
            text,
            "\nTuned differs from Production in documented knobs only: the edge's nginx config\n\
             (profile `tuned`; each knob is listed in its header comment){}.\n\
             Same four services, same CPU split.",
            match target {
                Target::Checkout =>
                    ",\nand Redis with one I/O thread per CPU of its cpuset (REDIS_IO_THREADS=2)",
                Target::HttpArena { .. } => "",
            }
        );
    }
    let _ = writeln!(text, "\n{SPLIT_REASONING}");
    comment_block(y, &text);
}

fn engine_header(y: &mut String, target: &Target) {
    let mut text = String::new();
    match target {
        Target::Checkout => {
            let file = checkout_compose_file(Category::Engine);
            let _ = writeln!(
                text,
                "prodstack on Docker Compose: HttpArena's \"production-stack\" as an Engine-class entry.\n\
                 edge (one Rust process: TLS :8443, static files, JWT, the app server on :8080) -> Redis (:6379) / Postgres (:5432)\n\
                 \n\
                 GENERATED FILE - do not edit. `{REGENERATE}` writes it from\n\
                 crates/deploy/src/export/render.rs (the same code that writes HttpArena exports);\n\
                 `cargo test -p cli` fails while it is out of date, and `prodstack compose-check` checks it.\n\
                 \n\
                 Run it from the checkout (Postgres first; see README \"Deploying with Docker Compose\"):\n\
                 \x20 ./prodstack data\n\
                 \x20 chmod 0644 .prodstack/certs/server.key   # the engine runs as uid 10001, not as root\n\
                 \x20 DATA_DIR=$PWD/.prodstack/data docker compose -f deploy/compose.postgres.yml up -d --wait\n\
                 \x20 CERTS_DIR=$PWD/.prodstack/certs DATA_DIR=$PWD/.prodstack/data \\\n\
                 \x20   docker compose -f deploy/{file} up --build -d --wait\n\
                 DATABASE_URL defaults to that Postgres (postgres://bench:bench@localhost:5432/benchmark).\n\
                 All services use the host network: ports 8443, 8080, 9091, 9092 and 6379 must be free."
            );
        }
        Target::HttpArena { name } => {
            let _ = writeln!(
                text,
                "{name}: prodstack's Rust engine in HttpArena's production-stack (engine category).\n\
                 edge (one Rust process: TLS :8443, static files, JWT, the app server on :8080) -> Redis (:6379) / Postgres (:5432)\n\
                 \n\
                 Generated by `prodstack export-httparena` (https://github.com/prodstack/prodstack)."
            );
        }
    }
    let _ = writeln!(
        text,
        "\nTwo services, not four: the engine replaces nginx, authsvc and the server with one\n\
         process (`EDGE_MODE=fused`), which Engine-class entries may do. The process also serves\n\
         the server's routes in plain HTTP/1.1 on :8080, where HttpArena's readiness probe asks\n\
         /baseline11. HttpArena's benchmark prints a warning (not an error) when a\n\
         production-stack project does not run exactly 4 containers.\n\
         \n\
         {ENGINE_SPLIT_REASONING}"
    );
    comment_block(y, &text);
}

/// The checkout's compose file for `category` (relative to `deploy/`).
pub fn checkout_compose_file(category: Category) -> &'static str {
    match category {
        Category::Production => "compose.production-stack.yml",
        Category::Tuned => "compose.tuned.yml",
        Category::Engine => "compose.engine.yml",
    }
}

/// The checkout's generated nginx config for `profile` (relative to the checkout).
pub fn checkout_nginx_conf(profile: Profile) -> String {
    format!("deploy/docker/nginx.{profile}.conf")
}

/// network_mode, cpuset, ulimits, security_opt: identical on every service.
fn pinned(y: &mut String, cpuset: &str) {
    let _ = write!(
        y,
        "    network_mode: host\n\
         \x20   cpuset: \"{cpuset}\"\n\
         \x20   ulimits:\n\
         \x20     memlock: -1\n\
         \x20     nofile:\n\
         \x20       soft: 1048576\n\
         \x20       hard: 1048576\n\
         \x20   security_opt:\n\
         \x20     - seccomp:unconfined\n"
    );
}

/// A health check every 2 s. No `start_interval`: it needs Docker Engine 25, and these files
/// run on Engine 20.10 too (measured: `docker compose up --wait` refuses the key there). A
/// probe every 2 s costs the service a few milliseconds of CPU.
fn healthcheck(y: &mut String, test: &[&str], start_period_s: u32) {
    let words: Vec<String> = test.iter().map(|w| format!("\"{w}\"")).collect();
    let _ = write!(
        y,
        "    healthcheck:\n\
         \x20     test: [{}]\n\
         \x20     interval: 2s\n\
         \x20     timeout: 3s\n\
         \x20     retries: 5\n\
         \x20     start_period: {start_period_s}s\n",
        words.join(", ")
    );
}

/// `build:` for `context` (and `dockerfile`, `args`), always on the host network: the
/// containers use it anyway, and an engine without a default bridge (a private dockerd started
/// with `--bridge=none`, `prodstack docker-engine`) can build no other way.
fn build(y: &mut String, context: &str, dockerfile: Option<&str>, args: &[(&str, &str)]) {
    let _ = writeln!(y, "    build:\n      context: {context}");
    if let Some(dockerfile) = dockerfile {
        let _ = writeln!(y, "      dockerfile: {dockerfile}");
    }
    y.push_str("      network: host\n");
    if !args.is_empty() {
        y.push_str("      args:\n");
        for (name, value) in args {
            let _ = writeln!(y, "        {name}: {value}");
        }
    }
}

/// `${VAR}` for HttpArena (its harness always sets them), `${VAR:?hint}` in the checkout so a
/// forgotten variable stops compose with a message instead of mounting the host's `/static`.
fn harness_var(target: &Target, var: &str) -> String {
    match (target, var) {
        (Target::HttpArena { .. }, _) => format!("${{{var}}}"),
        (Target::Checkout, "CERTS_DIR") => {
            "${CERTS_DIR:?set CERTS_DIR to the folder with server.crt and server.key}".into()
        }
        (Target::Checkout, "DATA_DIR") => {
            "${DATA_DIR:?set DATA_DIR to the data folder written by prodstack data}".into()
        }
        (Target::Checkout, other) => format!("${{{other}}}"),
    }
}

fn edge(y: &mut String, target: &Target, profile: Profile) {
    y.push_str("  edge:\n");
    match target {
        Target::Checkout => build(
            y,
            "..",
            Some("deploy/docker/edge.Dockerfile"),
            &[("NGINX_CONF", &checkout_nginx_conf(profile))],
        ),
        Target::HttpArena { .. } => build(y, "./edge", None, &[]),
    }
    pinned(y, cpuset("edge"));
    let certs = harness_var(target, "CERTS_DIR");
    let data = harness_var(target, "DATA_DIR");
    let _ = write!(
        y,
        "    volumes:\n\
         \x20     - \"{certs}:/certs:ro\"\n\
         \x20     - \"{data}/static:/data/static:ro\"\n"
    );
    // busybox wget (alpine base of nginx:1.27-alpine) speaks TLS; the certificate is self-signed.
    healthcheck(
        y,
        &[
            "CMD",
            "wget",
            "-q",
            "--no-check-certificate",
            "-O",
            "/dev/null",
            "https://127.0.0.1:8443/static/reset.css",
        ],
        30,
    );
    y.push_str(
        "    # HttpArena's checks start as soon as the edge answers: open it only once the server\n\
         \x20   # and authsvc pass their health checks, not merely once they were started.\n\
         \x20   depends_on:\n\
         \x20     server:\n\
         \x20       condition: service_healthy\n\
         \x20     authsvc:\n\
         \x20       condition: service_healthy\n\n",
    );
}

fn cache(y: &mut String, target: &Target, profile: Profile, cpus: &str) {
    y.push_str("  cache:\n    image: redis:7-alpine\n");
    pinned(y, cpus);
    let data = harness_var(target, "DATA_DIR");
    let _ = write!(
        y,
        "    # `prodstack data` writes both files (the entrypoint is deploy/docker/redis-entrypoint.sh);\n\
         \x20   # HttpArena's data/ folder has its own with the same behaviour.\n\
         \x20   volumes:\n\
         \x20     - \"{data}/redis-seed.txt:/seed.txt:ro\"\n\
         \x20     - \"{data}/redis-entrypoint.sh:/entrypoint.sh:ro\"\n\
         \x20   entrypoint: [\"sh\", \"/entrypoint.sh\"]\n"
    );
    if target == &Target::Checkout && profile == Profile::Tuned {
        let threads = CpuSet::parse(cpus).map(|s| s.len()).unwrap_or(1);
        let _ = write!(
            y,
            "    environment:\n\
             \x20     # One I/O thread per CPU of the cpuset: more only adds context switches.\n\
             \x20     - REDIS_IO_THREADS={threads}\n"
        );
    }
    healthcheck(
        y,
        &[
            "CMD-SHELL",
            "redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG",
        ],
        30,
    );
    y.push('\n');
}

fn authsvc(y: &mut String, target: &Target) {
    y.push_str("  authsvc:\n");
    match target {
        Target::Checkout => build(y, "..", Some("deploy/docker/authsvc.Dockerfile"), &[]),
        Target::HttpArena { .. } => {
            y.push_str(
                "    # HttpArena's shared JWT sidecar, built as-is: Production and Tuned entries must use it\n\
                 \x20   # unmodified (its own folder and Dockerfile; only the build network is ours).\n",
            );
            build(y, "../_shared/authsvc", None, &[]);
        }
    }
    pinned(y, cpuset("authsvc"));
    let secret = jwt_secret(target);
    // Ours listens on loopback (the edge is on the same host network); HttpArena's shared
    // sidecar is run with the address HttpArena's own entries give it.
    let listen = match target {
        Target::Checkout => "127.0.0.1:9090",
        Target::HttpArena { .. } => "0.0.0.0:9090",
    };
    let _ = write!(
        y,
        "    environment:\n\
         \x20     - \"JWT_SECRET={secret}\"\n\
         \x20     - AUTHSVC_LISTEN={listen}\n"
    );
    match target {
        // Our Debian-slim image: bash's /dev/tcp probe (deploy/docker/http-probe.sh).
        Target::Checkout => healthcheck(y, &["CMD", "http-probe", "9090", "/_health"], 30),
        // The shared image is alpine without curl: busybox wget is there.
        Target::HttpArena { .. } => healthcheck(
            y,
            &[
                "CMD",
                "wget",
                "-q",
                "-O",
                "/dev/null",
                "http://127.0.0.1:9090/_health",
            ],
            30,
        ),
    }
    y.push('\n');
}

/// `JWT_SECRET` of a service: the checkout's compose files take the caller's, defaulting to
/// HttpArena's benchmark secret; an HttpArena entry uses that secret, as HttpArena's own do.
fn jwt_secret(target: &Target) -> String {
    match target {
        Target::Checkout => format!("${{JWT_SECRET:-{BENCH_SECRET}}}"),
        Target::HttpArena { .. } => BENCH_SECRET.to_string(),
    }
}

/// `build:` of the image made from our sources (`checkout_dockerfile` in the checkout, the
/// entry's `Dockerfile` with HttpArena's context in an export), and the `DATABASE_URL` that
/// image's service gets (the checkout defaults it to HttpArena's Postgres).
fn app_image(y: &mut String, target: &Target, checkout_dockerfile: &str) -> String {
    match target {
        Target::Checkout => {
            build(y, "..", Some(checkout_dockerfile), &[]);
            "${DATABASE_URL:-postgres://bench:bench@localhost:5432/benchmark}".to_string()
        }
        Target::HttpArena { name } => {
            build(
                y,
                "../../",
                Some(&format!("frameworks/{name}/Dockerfile")),
                &[],
            );
            "${DATABASE_URL}".to_string()
        }
    }
}

fn server(y: &mut String, target: &Target) {
    y.push_str("  server:\n");
    let database_url = app_image(y, target, "deploy/docker/server.Dockerfile");
    pinned(y, cpuset("server"));
    let data = harness_var(target, "DATA_DIR");
    let _ = write!(
        y,
        "    environment:\n\
         \x20     # Loopback: the edge runs on the same host network, and it sets X-User-Id, which\n\
         \x20     # this port trusts (HttpArena's probe asks localhost:8080).\n\
         \x20     - LISTEN=127.0.0.1:8080\n\
         \x20     - \"DATABASE_URL={database_url}\"\n\
         \x20     # The server keeps its own connections strictly below this (Postgres runs 256).\n\
         \x20     - DATABASE_MAX_CONN=256\n\
         \x20     - REDIS_URL=redis://127.0.0.1:6379\n\
         \x20   volumes:\n\
         \x20     - \"{data}/dataset.json:/data/dataset.json:ro\"\n"
    );
    // /readyz answers 200 once Postgres does; the server listens before that, so HttpArena's probe is never refused.
    healthcheck(y, &["CMD", "http-probe", "8080", "/readyz"], 60);
    y.push_str(
        "    depends_on:\n\
         \x20     cache:\n\
         \x20       condition: service_healthy\n",
    );
}

/// The engine: TLS edge, static files, JWT and the app server in one process.
fn engine_edge(y: &mut String, target: &Target) {
    y.push_str("  edge:\n");
    let database_url = app_image(y, target, "deploy/docker/engine.Dockerfile");
    pinned(y, engine_cpuset("edge"));
    let secret = jwt_secret(target);
    let _ = write!(
        y,
        "    environment:\n\
         \x20     # One process: the TLS edge and, fused in, the app server (crates/edge).\n\
         \x20     - EDGE_MODE=fused\n\
         \x20     - EDGE_LISTEN=0.0.0.0:8443\n\
         \x20     - TLS_CERT=/certs/server.crt\n\
         \x20     - TLS_KEY=/certs/server.key\n\
         \x20     # Loaded into memory at start, with the .gz/.br siblings.\n\
         \x20     - STATIC_DIR=/data/static\n\
         \x20     # Verified in-process; the same secret as HttpArena's token.\n\
         \x20     - \"JWT_SECRET={secret}\"\n\
         \x20     - EDGE_ADMIN_LISTEN=127.0.0.1:9092\n\
         \x20     # The app server inside the process, on loopback: HttpArena's readiness probe asks\n\
         \x20     # localhost:8080, and nothing else may reach a port that trusts X-User-Id.\n\
         \x20     - LISTEN=127.0.0.1:8080\n\
         \x20     - ADMIN_LISTEN=127.0.0.1:9091\n\
         \x20     - \"DATABASE_URL={database_url}\"\n\
         \x20     # The process keeps its own connections strictly below this (Postgres runs 256).\n\
         \x20     - DATABASE_MAX_CONN=256\n\
         \x20     - REDIS_URL=redis://127.0.0.1:6379\n\
         \x20     - DATASET_PATH=/data/dataset.json\n\
         \x20     # Request handlers run on the edge's workers; the server's own runtime only carries\n\
         \x20     # the Postgres/Redis connection tasks and the :8080 probe listener.\n\
         \x20     - SERVER_WORKERS=4\n"
    );
    let certs = harness_var(target, "CERTS_DIR");
    let data = harness_var(target, "DATA_DIR");
    let _ = write!(
        y,
        "    volumes:\n\
         \x20     - \"{certs}:/certs:ro\"\n\
         \x20     - \"{data}/static:/data/static:ro\"\n\
         \x20     - \"{data}/dataset.json:/data/dataset.json:ro\"\n"
    );
    // /readyz answers 200 once Postgres does, so `up --wait` returns when requests can succeed;
    // the image runs bash's /dev/tcp probe (no curl, no HTTPS client).
    healthcheck(y, &["CMD", "http-probe", "8080", "/readyz"], 60);
    y.push_str(
        "    depends_on:\n\
         \x20     cache:\n\
         \x20       condition: service_healthy\n\n",
    );
}

/// HttpArena's meta.json for an export.
pub fn meta_json(name: &str, category: Category, repo: &str) -> String {
    let description = match category {
        Category::Production | Category::Tuned => {
            "prodstack: a Rust app server (axum on hyper, Tokio) behind nginx, with \
        HttpArena's shared authsvc verifying JWTs at the edge (auth_request). Cache-aside on \
        items and users: one process-wide L1 (TTL 1 s / 30 s) with per-key single-flight over \
        Redis over Postgres (tokio-postgres); a write updates Postgres, then invalidates L1 and \
        Redis before answering 204. JSON serialized per request with serde. Static files served \
        by nginx from disk with gzip_static."
        }
        Category::Engine => {
            "prodstack engine: one Rust process (hyper 1, tokio-rustls, Tokio) terminates TLS \
        and HTTP/2, serves the static files from memory with precompressed br/gzip negotiation, \
        verifies HS256 JWTs in-process, and runs the app server in the same process (axum): \
        cache-aside on items and users with one process-wide L1 (TTL 1 s / 30 s) and per-key \
        single-flight over Redis over Postgres (tokio-postgres); a write updates Postgres, then \
        invalidates L1 and Redis before answering 204. JSON serialized per request with serde."
        }
    };
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    format!(
        "{{\n  \"display_name\": {},\n  \"language\": \"Rust\",\n  \"type\": {},\n  \"engine\": \"hyper\",\n  \"description\": {},\n  \"repo\": {},\n  \"enabled\": true,\n  \"tests\": [\"production-stack\"],\n  \"maintainers\": []\n}}\n",
        q(name),
        q(category.as_str()),
        q(description),
        q(repo),
    )
}

/// The export's README.md.
/// The cache section both exported READMEs share: the same server code runs in both.
const CACHE_DESIGN: &str = "## Cache design\n\
\n\
- One process-wide L1 map shared by all worker threads, per-entry TTL: items 1 s, users 30 s.\n\
- Redis as L2 with the same TTLs (`item:{id}`, `user:{id}`, millisecond expiry).\n\
- Per-key single-flight: a burst of misses for one id runs one query; the waiters get its result\n\
  and report `X-Cache: HIT`. `MISS` only for the request that queried Postgres.\n\
- A write updates the row, then removes the key from L1 and Redis before the `204`, so the next\n\
  read is a `MISS`. No pre-warming: the first read of an id always goes to Postgres.\n\
\n";

pub fn readme(name: &str, category: Category, repo: &str) -> String {
    match category.profile() {
        Some(profile) => stack_readme(name, profile, repo),
        None => engine_readme(name, repo),
    }
}

/// `| service | cpuset | cores | logical CPUs |` rows of a split.
fn split_rows(split: &[(&str, &str)]) -> String {
    let mut rows = String::new();
    for (service, set) in split {
        let n = CpuSet::parse(set).map(|s| s.len()).unwrap_or(0);
        let _ = writeln!(rows, "| `{service}` | `{set}` | {} | {n} |", n / 2);
    }
    rows
}

fn stack_readme(name: &str, category: Profile, repo: &str) -> String {
    let split = split_rows(&CPU_SPLIT);
    format!(
        "# {name}\n\
\n\
prodstack's Rust app server in HttpArena's **production-stack** test, {category} category.\n\
Generated by `prodstack export-httparena` from <{repo}>; the server sources here are a trimmed\n\
copy of that workspace (only the crates the server needs, with their own `Cargo.lock`).\n\
\n\
## Stack\n\
\n\
| service | what | listens |\n\
|---|---|---|\n\
| `edge` | nginx 1.27 (alpine) with prodstack's generated config (`edge/nginx.conf`): TLS + HTTP/2, `/static/` from disk with `gzip_static`, `/public/` proxied, `/api/` behind `auth_request` | 8443 |\n\
| `authsvc` | HttpArena's shared sidecar (`../_shared/authsvc`), unmodified | 9090 |\n\
| `server` | the Rust server: axum on hyper, Tokio multi-thread runtime, tokio-postgres, redis-rs | 8080 |\n\
| `cache` | `redis:7-alpine` with HttpArena's seed entrypoint | 6379 |\n\
\n\
Postgres is HttpArena's own (`DATABASE_URL`); the server keeps its pool below\n\
`DATABASE_MAX_CONN=256`.\n\
\n\
## Endpoints (server)\n\
\n\
| route | answer |\n\
|---|---|\n\
| `GET /public/baseline?a=&b=` | the sum as text; bad input → 400 JSON |\n\
| `GET /public/json/{{count}}` | the first `count` dataset items with `total`, serialized per request |\n\
| `GET /api/items/{{id}}` | the item from the cache or Postgres, `X-Cache: HIT`/`MISS` |\n\
| `POST /api/items/{{id}}` | UPDATE, invalidate L1 and Redis, then `204` |\n\
| `GET /api/me` | the user named by the edge's `X-User-Id` (the server never reads JWTs) |\n\
| `GET /baseline11`, `/healthz`, `/readyz` | HttpArena's readiness probe; liveness; Postgres reachable |\n\
\n\
{CACHE_DESIGN}## CPU split\n\
\n\
| service | cpuset | cores | logical CPUs |\n\
|---|---|---|---|\n\
{split}\n\
The reasoning is in the header of `compose.production-stack.yml`. nginx runs one worker per CPU\n\
of its cpuset (`worker_processes auto` would count the host's CPUs).\n\
\n\
## Build\n\
\n\
`Dockerfile` builds the server with HttpArena's repository root as the context (`context:\n\
../../`); `Dockerfile.dockerignore` sends only this folder. Dependencies are compiled in their\n\
own layer from a skeleton of the manifests (`deploy/docker/cargo-skeleton.sh`), so a source\n\
change recompiles only the two crates; release profile (fat LTO), as benchmarked.\n"
    )
}

fn engine_readme(name: &str, repo: &str) -> String {
    let split = split_rows(&ENGINE_CPU_SPLIT);
    format!(
        "# {name}\n\
\n\
prodstack's Rust engine in HttpArena's **production-stack** test, engine category.\n\
Generated by `prodstack export-httparena` from <{repo}>; the sources here are a trimmed copy of\n\
that workspace (only the crates the engine needs, with their own `Cargo.lock`).\n\
\n\
## Stack\n\
\n\
An Engine-class entry may replace any service with its own implementation. This one replaces\n\
nginx, the shared authsvc and the separate app server with **one process**, `edge` in\n\
`EDGE_MODE=fused`: no loopback hop between TLS, authentication and the application.\n\
\n\
| service | what | listens |\n\
|---|---|---|\n\
| `edge` | the Rust engine (`crates/edge`): hyper 1 + tokio-rustls, TLS + HTTP/2 (ALPN h2, http/1.1), `/static/` from memory with `.br`/`.gz` negotiation, HS256 JWT verified in-process (`crates/jwt`) for `/api/`, and the app server (`crates/server`, axum) in the same process | 8443 (TLS), 8080 (the server's plain HTTP/1.1 routes, HttpArena's readiness probe), 127.0.0.1:9091/9092 (`/metrics`) |\n\
| `cache` | `redis:7-alpine` with HttpArena's seed entrypoint | 6379 |\n\
\n\
Postgres is HttpArena's own (`DATABASE_URL`); the process keeps its pool below\n\
`DATABASE_MAX_CONN=256`. HttpArena's benchmark warns (and carries on) when a production-stack\n\
project runs other than 4 containers; this one runs 2.\n\
\n\
## Requests\n\
\n\
| route | answer |\n\
|---|---|\n\
| `GET /static/*` | from memory; the `.br` or `.gz` sibling when `Accept-Encoding` allows, `Vary: Accept-Encoding` |\n\
| `GET /public/baseline?a=&b=` | the sum as text; bad input → 400 JSON |\n\
| `GET /public/json/{{count}}` | the first `count` dataset items with `total`, serialized per request |\n\
| `GET /api/items/{{id}}` | JWT checked, then the item from the cache or Postgres, `X-Cache: HIT`/`MISS` |\n\
| `POST /api/items/{{id}}` | JWT checked, UPDATE, invalidate L1 and Redis, then `204` |\n\
| `GET /api/me` | JWT checked; the user named by its `sub` claim |\n\
| `/api/*` without a valid token | `401 {{\"error\":\"unauthorized\"}}` |\n\
\n\
{CACHE_DESIGN}## CPU split\n\
\n\
| service | cpuset | cores | logical CPUs |\n\
|---|---|---|---|\n\
{split}\n\
The reasoning is in the header of `compose.production-stack.yml`.\n\
\n\
## Build\n\
\n\
`Dockerfile` builds the engine with HttpArena's repository root as the context (`context:\n\
../../`); `Dockerfile.dockerignore` sends only this folder. Dependencies are compiled in their\n\
own layer from a skeleton of the manifests (`deploy/docker/cargo-skeleton.sh`), so a source\n\
change recompiles only our crates; release profile (fat LTO), as benchmarked. The image runs as\n\
uid 10001: the mounted `server.key` must be readable by it (HttpArena's, from git, is).\n"
    )
}

/// `Dockerfile.dockerignore` of an export: the build context is HttpArena's whole repository;
/// only this entry's folder is needed.
pub fn export_dockerignore(name: &str) -> String {
    format!(
        "# The build context is HttpArena's repository root (compose: context ../../). BuildKit reads\n\
         # this file instead of the repository's .dockerignore: send only this entry's folder.\n\
         *\n\
         !frameworks/{name}/\n\
         frameworks/{name}/target/\n"
    )
}
