//! The rules of each service: what every one needs (host networking, limits, a health
//! check), then the edge (nginx with one worker per CPU, or our engine), the cache, authsvc,
//! the server and the Postgres file.

use std::collections::BTreeMap;
use std::path::Path;

use stack::CpuSet;

use crate::compose::{var_ref, Build, Service, MEMLOCK, NOFILE, SECCOMP_UNCONFINED};

use super::fields::{
    describe_str, lint_build, normalize_dir, require_depends_healthy, require_mount,
};
use super::findings::Findings;
use super::shape::{CACHE_IMAGE, SHARED_AUTHSVC};

pub(super) fn check_common(service: &Service, out: &mut Findings) {
    let name = service.name.as_str();
    match service.network_mode.as_deref() {
        Some("host") => {}
        Some(mode) => out.service(
            name,
            "network_mode",
            format!("`{mode}`; every service must use `host` (they reach each other on 127.0.0.1)"),
        ),
        None => out.service(name, "network_mode", "missing; must be `host`".into()),
    }

    let seccomp = service
        .security_opt
        .iter()
        .any(|o| o == SECCOMP_UNCONFINED || o == "seccomp=unconfined");
    if !seccomp {
        out.service(
            name,
            "security_opt",
            "must contain `seccomp:unconfined` (HttpArena's required compose settings)".into(),
        );
    }

    match &service.ulimits.memlock {
        None => out.service(
            name,
            "ulimits.memlock",
            "missing; HttpArena requires memlock -1 on all four services".into(),
        ),
        Some(limit) => {
            if let Err(why) = limit.require(MEMLOCK) {
                out.service(name, "ulimits.memlock", format!("{why}; must be -1"));
            }
        }
    }
    match &service.ulimits.nofile {
        None => out.service(
            name,
            "ulimits.nofile",
            format!(
                "missing; HttpArena requires nofile soft and hard {NOFILE} on all four services"
            ),
        ),
        Some(limit) => {
            if let Err(why) = limit.require(NOFILE) {
                out.service(
                    name,
                    "ulimits.nofile",
                    format!("{why}; soft and hard must be {NOFILE}"),
                );
            }
        }
    }

    if service.container_name.is_some() {
        out.service(
            name,
            "container_name",
            "must not be set: HttpArena finds the containers by compose project and labels CPU figures from the generated names".into(),
        );
    }

    match &service.healthcheck {
        None => out.service(
            name,
            "healthcheck",
            "missing; every service needs one so start-up can wait for it".into(),
        ),
        Some(check) => {
            let test = check.test.as_deref().unwrap_or_default();
            if check.disable || test.first().is_some_and(|w| w == "NONE") {
                out.service(name, "healthcheck", "is disabled".into());
            } else if test.is_empty() {
                out.service(name, "healthcheck.test", "missing or empty".into());
            }
        }
    }
}

/// The nginx edge's rules; returns the text of the nginx config its image copies, when that
/// could be read (the stack's socket rule reads its upstreams).
pub(super) fn check_edge(
    service: &Service,
    cpusets: &[(String, CpuSet)],
    compose_dir: &Path,
    out: &mut Findings,
) -> Option<String> {
    require_mount(service, "CERTS_DIR", "", "/certs", out);
    require_mount(service, "DATA_DIR", "/static", "/data/static", out);
    require_depends_healthy(service, &["server", "authsvc"], out);

    let edge_cpus = cpusets
        .iter()
        .find(|(n, _)| n == "edge")
        .map(|(_, s)| s.len());
    match (&service.build, service.image.as_deref()) {
        (Some(build), _) => {
            let report = lint_build("edge", build, compose_dir, out)?;
            let base = report.lint.final_base.clone().unwrap_or_default();
            if !base.starts_with("nginx:") && !base.starts_with("nginx@") {
                out.service(
                    "edge",
                    "build",
                    format!("the edge image is based on `{base}`; Production and Tuned need a production-grade proxy (nginx) at the edge"),
                );
            }
            let conf = report
                .lint
                .copies
                .iter()
                .find(|c| c.destination == "/etc/nginx/nginx.conf")
                .map(|c| report.context.dir.join(&c.source));
            match conf {
                None => {
                    out.service(
                        "edge",
                        "build",
                        "the edge Dockerfile does not COPY a config to /etc/nginx/nginx.conf"
                            .into(),
                    );
                    None
                }
                Some(conf) => check_nginx_workers(&conf, edge_cpus, out),
            }
        }
        (None, Some(image)) if image.starts_with("nginx:") => None,
        (None, Some(image)) => {
            out.service(
                "edge",
                "image",
                format!("`{image}`: the edge must be nginx with our generated config"),
            );
            None
        }
        (None, None) => {
            out.service("edge", "build", "missing `build` (or `image`)".into());
            None
        }
    }
}

/// nginx's `worker_processes auto` counts the host's CPUs (sysconf), not the container's
/// cpuset: 128 workers on HttpArena's box. The config must name the cpuset's size. Returns
/// the config's text.
pub(super) fn check_nginx_workers(
    conf: &Path,
    edge_cpus: Option<usize>,
    out: &mut Findings,
) -> Option<String> {
    let text = match std::fs::read_to_string(conf) {
        Ok(text) => text,
        Err(err) => {
            out.service(
                "edge",
                "build",
                format!("cannot read {}: {err}", conf.display()),
            );
            return None;
        }
    };
    let workers = text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("").trim();
        line.strip_prefix("worker_processes")
            .map(|rest| rest.trim().trim_end_matches(';').trim().to_string())
    });
    match (workers, edge_cpus) {
        (None, _) => out.service(
            "edge",
            "nginx.conf",
            format!("{} sets no worker_processes (nginx would start 1)", conf.display()),
        ),
        (Some(w), _) if w == "auto" => out.service(
            "edge",
            "nginx.conf",
            format!("{}: `worker_processes auto` counts the host's CPUs, not the cpuset; name the cpuset's size", conf.display()),
        ),
        (Some(w), Some(cpus)) if w != cpus.to_string() => out.service(
            "edge",
            "nginx.conf",
            format!("{}: worker_processes {w}, but the edge's cpuset has {cpus} CPUs (regenerate with `prodstack export-httparena --write-deploy`)", conf.display()),
        ),
        _ => {}
    }
    Some(text)
}

pub(super) fn check_cache(service: &Service, out: &mut Findings) {
    match service.image.as_deref() {
        Some(CACHE_IMAGE) => {}
        Some(image) => out.service(
            "cache",
            "image",
            format!("`{image}`; HttpArena's cache is `redis:7-alpine`"),
        ),
        None => out.service("cache", "image", "missing; must be `redis:7-alpine`".into()),
    }
    if service.build.is_some() {
        out.service(
            "cache",
            "build",
            "the cache is the stock `redis:7-alpine` image, not a build".into(),
        );
    }
    require_mount(service, "DATA_DIR", "/redis-seed.txt", "/seed.txt", out);
    require_mount(
        service,
        "DATA_DIR",
        "/redis-entrypoint.sh",
        "/entrypoint.sh",
        out,
    );
    let entrypoint = service.entrypoint.as_deref().unwrap_or_default();
    if entrypoint != ["sh", "/entrypoint.sh"] {
        out.service(
            "cache",
            "entrypoint",
            format!(
                "{:?}; must be [\"sh\", \"/entrypoint.sh\"] (the mounted seed entrypoint)",
                entrypoint
            ),
        );
    }
}

pub(super) fn check_authsvc(
    service: &Service,
    export: Option<&str>,
    compose_dir: &Path,
    out: &mut Findings,
) {
    match service.env(contract::env::JWT_SECRET) {
        Some(Some(v)) if !v.is_empty() => {}
        _ => out.service(
            "authsvc",
            "environment",
            "JWT_SECRET is missing or empty".into(),
        ),
    }
    // Ours listens on loopback only; an export runs HttpArena's shared sidecar as HttpArena's
    // entries do.
    let want = if export.is_some() {
        "0.0.0.0:9090"
    } else {
        "127.0.0.1:9090"
    };
    match service.env(contract::env::AUTHSVC_LISTEN) {
        Some(Some(v)) if v == want => {}
        Some(Some(v)) => out.service(
            "authsvc",
            "environment",
            format!("AUTHSVC_LISTEN={v}; must be {want}"),
        ),
        _ => out.service(
            "authsvc",
            "environment",
            format!("AUTHSVC_LISTEN is missing; must be {want}"),
        ),
    }
    if export.is_some() {
        // As-is: its folder as the context and nothing else but, optionally, the host build
        // network (no dockerfile, args or target of ours).
        let shared = service.build.as_ref().is_some_and(|build| {
            build
                .context
                .as_deref()
                .is_some_and(|c| normalize_dir(c) == SHARED_AUTHSVC)
                && build.keys.iter().all(|k| k == "context" || k == "network")
                && build.network.as_deref().is_none_or(|n| n == "host")
        });
        if !shared || service.image.is_some() {
            out.service(
                "authsvc",
                "build",
                format!(
                    "authsvc must be HttpArena's shared sidecar, built as-is: `build: {SHARED_AUTHSVC}` (found {}); Production and Tuned entries may not replace or modify it",
                    match (&service.build, &service.image) {
                        (Some(build), _) => build.describe(),
                        (None, image) => describe_str(image.as_deref()),
                    }
                ),
            );
        }
        return;
    }
    match &service.build {
        Some(build) => {
            lint_build("authsvc", build, compose_dir, out);
        }
        None => out.service("authsvc", "build", "missing".into()),
    }
}

pub(super) fn check_server(
    service: &Service,
    export: Option<&str>,
    compose_dir: &Path,
    out: &mut Findings,
) {
    check_app_env(service, out);
    require_mount(
        service,
        "DATA_DIR",
        "/dataset.json",
        "/data/dataset.json",
        out,
    );
    require_depends_healthy(service, &["cache"], out);

    let Some(build) = &service.build else {
        out.service(
            "server",
            "build",
            "missing: the server is built from our sources".into(),
        );
        return;
    };
    if check_export_build("server", build, export, out) {
        lint_build("server", build, compose_dir, out);
    }
}

/// The app server's environment (the server's, or the fused engine's): HttpArena's database,
/// a connection cap Postgres can honour, and the cache on loopback.
pub(super) fn check_app_env(service: &Service, out: &mut Findings) {
    let name = service.name.as_str();
    // The app port trusts X-User-Id: loopback only, unless the edge proves itself with
    // EDGE_SECRET (then any address on port 8080).
    let proven = matches!(service.env(contract::env::EDGE_SECRET), Some(Some(v)) if !v.is_empty());
    match service.env(contract::env::LISTEN) {
        Some(Some(v)) => {
            let ok = v.parse::<std::net::SocketAddr>().is_ok_and(|a| {
                a.port() == 8080 && (proven || a.ip() == std::net::Ipv4Addr::LOCALHOST)
            });
            if !ok {
                out.service(
                    name,
                    "environment",
                    format!("LISTEN={v}; the app port trusts X-User-Id, so it must be 127.0.0.1:8080 (or set EDGE_SECRET)"),
                );
            }
        }
        _ => out.service(
            name,
            "environment",
            "LISTEN is missing; must be 127.0.0.1:8080 (the app port trusts X-User-Id)".into(),
        ),
    }
    match service.env(contract::env::DATABASE_URL) {
        Some(Some(v)) if v.contains("${DATABASE_URL") => {}
        Some(Some(v)) => out.service(
            name,
            "environment",
            format!("DATABASE_URL={v}: must come from the harness as ${{DATABASE_URL}} (no hard-coded database)"),
        ),
        _ => out.service(
            name,
            "environment",
            "DATABASE_URL is missing; must be ${DATABASE_URL}".into(),
        ),
    }
    match service.env(contract::env::DATABASE_MAX_CONN) {
        Some(Some(v)) => match v.parse::<u32>() {
            Ok(n) if (3..=256).contains(&n) => {}
            _ => out.service(
                name,
                "environment",
                format!("DATABASE_MAX_CONN={v}: must be an integer 3-256 (Postgres runs max_connections=256)"),
            ),
        },
        _ => out.service(
            name,
            "environment",
            "DATABASE_MAX_CONN is missing (HttpArena sets 256)".into(),
        ),
    }
    match service.env(contract::env::REDIS_URL) {
        Some(Some("redis://127.0.0.1:6379")) => {}
        Some(Some(v)) => out.service(
            name,
            "environment",
            format!("REDIS_URL={v}; the cache listens on redis://127.0.0.1:6379"),
        ),
        _ => out.service(
            name,
            "environment",
            "REDIS_URL is missing; must be redis://127.0.0.1:6379".into(),
        ),
    }
}

/// In an export, an image built from our sources must use HttpArena's repository root as the
/// context and our folder's Dockerfile. `false` when it does not (nothing more to lint).
pub(super) fn check_export_build(
    name: &str,
    build: &Build,
    export: Option<&str>,
    out: &mut Findings,
) -> bool {
    let Some(framework) = export else {
        return true;
    };
    let context = build.context.as_deref().unwrap_or_default();
    let dockerfile = build.dockerfile.as_deref().unwrap_or_default();
    let expected = format!("frameworks/{framework}/Dockerfile");
    if normalize_dir(context) != "../.." || dockerfile != expected {
        out.service(
            name,
            "build",
            format!(
                "HttpArena builds from its repository root: expected `context: ../../` and `dockerfile: {expected}`, found context `{context}`, dockerfile `{dockerfile}`"
            ),
        );
        return false;
    }
    true
}

/// The engine's TLS listener as HttpArena reaches it: validation and the benchmark on 8443, on
/// every interface of the host network (its app listener, `LISTEN`, is the server's rule).
pub(super) const ENGINE_LISTENERS: [(&str, u16); 1] = [(contract::env::EDGE_LISTEN, 8443)];

/// Where the engine's files are inside the container: the mounts below. A variable may be left
/// unset (the binary's default is the same path) but must not point elsewhere.
pub(super) const ENGINE_PATHS: [(&str, &str); 4] = [
    (contract::env::TLS_CERT, "/certs/server.crt"),
    (contract::env::TLS_KEY, "/certs/server.key"),
    (contract::env::STATIC_DIR, "/data/static"),
    (contract::env::DATASET_PATH, "/data/dataset.json"),
];

/// The engine as the edge: one process serving TLS, static files, JWT and the app server, so
/// it needs the edge's mounts and the server's environment, dataset and cache.
pub(super) fn check_engine_edge(
    service: &Service,
    export: Option<&str>,
    compose_dir: &Path,
    out: &mut Findings,
) {
    let name = "edge";
    require_mount(service, "CERTS_DIR", "", "/certs", out);
    require_mount(service, "DATA_DIR", "/static", "/data/static", out);
    require_mount(
        service,
        "DATA_DIR",
        "/dataset.json",
        "/data/dataset.json",
        out,
    );
    require_depends_healthy(service, &["cache"], out);

    match service.env(contract::env::EDGE_MODE) {
        Some(Some("fused")) => {}
        Some(Some(mode)) => out.service(
            name,
            "environment",
            format!("EDGE_MODE={mode}; the engine stack has no server to proxy to, so the edge must run `fused`"),
        ),
        _ => out.service(
            name,
            "environment",
            "EDGE_MODE is missing; the engine stack needs EDGE_MODE=fused (the binary's default is proxy)".into(),
        ),
    }
    check_app_env(service, out);
    for (var, port) in ENGINE_LISTENERS {
        let Some(Some(value)) = service.env(var) else {
            continue;
        };
        let ok = value
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.port() == port && a.ip().is_unspecified());
        if !ok {
            out.service(
                name,
                "environment",
                format!("{var}={value}; HttpArena reaches it on 0.0.0.0:{port}"),
            );
        }
    }
    for (var, path) in ENGINE_PATHS {
        match service.env(var) {
            Some(Some(value)) if value != path => out.service(
                name,
                "environment",
                format!("{var}={value}; the mount puts it at {path}"),
            ),
            _ => {}
        }
    }
    if let Some(Some(secret)) = service.env(contract::env::JWT_SECRET) {
        if secret.is_empty() {
            out.service(name, "environment", "JWT_SECRET is empty".into());
        }
    }

    let Some(build) = &service.build else {
        out.service(
            name,
            "build",
            "missing: the engine is built from our sources (crates/edge)".into(),
        );
        return;
    };
    if !check_export_build(name, build, export, out) {
        return;
    }
    let Some(report) = lint_build(name, build, compose_dir, out) else {
        return;
    };
    let base = report.lint.final_base.unwrap_or_default();
    if base.starts_with("nginx:") || base.starts_with("nginx@") {
        out.service(
            name,
            "build",
            format!("the edge image is based on `{base}`: nginx cannot serve the app by itself; an nginx edge belongs in the four-service stack with authsvc and server"),
        );
    }
}

pub(super) fn check_postgres(services: &BTreeMap<String, Service>, out: &mut Findings) {
    if services.len() != 1 {
        out.file(
            "services",
            format!(
                "{} services ({}); the Postgres file runs `postgres` only",
                services.len(),
                services.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        );
    }
    let Some(service) = services.get("postgres") else {
        return;
    };
    let name = "postgres";
    match service.image.as_deref() {
        Some("postgres:18") => {}
        other => out.service(
            name,
            "image",
            format!("{}; HttpArena runs `postgres:18`", describe_str(other)),
        ),
    }
    if service.network_mode.as_deref() != Some("host") {
        out.service(
            name,
            "network_mode",
            "must be `host` (the stack connects to localhost:5432)".into(),
        );
    }
    for (key, value) in [
        ("POSTGRES_USER", "bench"),
        ("POSTGRES_PASSWORD", "bench"),
        ("POSTGRES_DB", "benchmark"),
    ] {
        if service.env(key).flatten() != Some(value) {
            out.service(
                name,
                "environment",
                format!("{key} must be `{value}` (HttpArena's DATABASE_URL)"),
            );
        }
    }
    let command = service.command.as_deref().unwrap_or_default();
    if !command.iter().any(|w| w == "max_connections=256") {
        out.service(
            name,
            "command",
            "must pass `-c max_connections=256`, as HttpArena's harness does".into(),
        );
    }
    let seeded = service.volumes.iter().any(|m| {
        var_ref(&m.source).is_some_and(|(var, rest)| var == "DATA_DIR" && rest == "/pgdb-seed.sql")
            && m.target.starts_with("/docker-entrypoint-initdb.d/")
            && m.read_only
    });
    if !seeded {
        out.service(
            name,
            "volumes",
            "must mount ${DATA_DIR}/pgdb-seed.sql read-only into /docker-entrypoint-initdb.d/"
                .into(),
        );
    }
    if service
        .healthcheck
        .as_ref()
        .and_then(|h| h.test.as_ref())
        .is_none()
    {
        out.service(
            name,
            "healthcheck",
            "missing; `up --wait` needs it to know the seed is loaded".into(),
        );
    }
}
