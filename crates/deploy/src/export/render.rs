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
//! cache, HttpArena's authsvc, our server; split from the plan file, [`super::split`]), and the Engine category's two
//! services (our fused engine as the edge, and the same cache; the rest of the plan's CPUs go to the engine).

use std::fmt::Write as _;

use anyhow::Context as _;
use stack::nginx::{EdgeParams, Template, Workers};
use stack::Profile;

use crate::compose::ComposeFile;

use super::services;
use super::split::{self, cpuset, edge_workers, engine_cpuset};
use super::Category;

pub use super::services::{checkout_nginx_conf, Target};

/// The command that rewrites the checkout's generated deployment files.
pub const REGENERATE: &str = "prodstack export-httparena --write-deploy";

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
        edge = cpuset("edge")?,
    ))
}

/// A compose file for `target` and `category`: the four-service stack of a profile, or the
/// engine's two services.
pub fn compose(target: &Target, category: Category) -> anyhow::Result<String> {
    Ok(compose_file(target, category)?.to_yaml())
}

/// The model of [`compose`]'s file.
pub fn compose_file(target: &Target, category: Category) -> anyhow::Result<ComposeFile> {
    Ok(match category.profile() {
        // The four-service stack (nginx edge, cache, authsvc, server) of `profile`.
        Some(profile) => ComposeFile {
            header: header(target, profile)?,
            services: vec![
                services::edge(target, profile, &cpuset("edge")?),
                services::cache(target, profile, &cpuset("cache")?),
                services::authsvc(target, &cpuset("authsvc")?),
                services::server(target, profile, &cpuset("server")?),
            ],
            volumes: if services::uses_server_socket(profile) {
                vec![services::server_socket_volume()]
            } else {
                Vec::new()
            },
        },
        // The Engine-class stack: the fused Rust engine (`edge`) and the cache.
        None => ComposeFile {
            header: engine_header(target)?,
            services: vec![
                services::engine_edge(target, &engine_cpuset("edge")?),
                // Redis exactly as in the production stack, on the same core.
                services::cache(target, Profile::Production, &engine_cpuset("cache")?),
            ],
            volumes: Vec::new(),
        },
    })
}

fn header(target: &Target, profile: Profile) -> anyhow::Result<String> {
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
    let _ = writeln!(text, "\n{}", split::reasoning()?);
    Ok(text)
}

fn engine_header(target: &Target) -> anyhow::Result<String> {
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
         {}",
        split::engine_reasoning()?
    );
    Ok(text)
}

/// The checkout's compose file for `category` (relative to `deploy/`).
pub fn checkout_compose_file(category: Category) -> &'static str {
    match category {
        Category::Production => "compose.production-stack.yml",
        Category::Tuned => "compose.tuned.yml",
        Category::Engine => "compose.engine.yml",
    }
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

/// The export's README.md.
pub fn readme(name: &str, category: Category, repo: &str) -> anyhow::Result<String> {
    Ok(match category.profile() {
        Some(profile) => stack_readme(name, profile, repo, &split::rows(&split::stack_split()?)),
        None => engine_readme(name, repo, &split::rows(&split::engine_split()?)),
    })
}

fn stack_readme(name: &str, category: Profile, repo: &str, split: &str) -> String {
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

fn engine_readme(name: &str, repo: &str, split: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::{read_service, read_volumes, Volume};

    /// Every generated compose file, read back by the checker's reader, is the model it was
    /// written from (less comments): the renderer and the checker describe the same services.
    #[test]
    fn generated_files_read_back_as_their_model() {
        let targets = [
            Target::Checkout,
            Target::HttpArena {
                name: "entry".into(),
            },
        ];
        for target in &targets {
            for category in Category::ALL {
                let model = compose_file(target, category).unwrap();
                let yaml = model.to_yaml();
                let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
                let services = doc.get("services").and_then(|s| s.as_mapping()).unwrap();
                let names: Vec<&str> = services.keys().filter_map(|k| k.as_str()).collect();
                let expected: Vec<&str> = model.services.iter().map(|s| s.name.as_str()).collect();
                assert_eq!(names, expected, "{target:?} {category}");
                for service in &model.services {
                    let (read, errors) =
                        read_service(&service.name, &services[service.name.as_str()]);
                    assert!(errors.is_empty(), "{target:?} {category}: {errors:?}");
                    assert_eq!(read, service.without_comments(), "{target:?} {category}");
                }
                let volumes: Vec<Volume> =
                    model.volumes.iter().map(Volume::without_comment).collect();
                assert_eq!(
                    read_volumes(&doc).unwrap(),
                    volumes,
                    "{target:?} {category}"
                );
            }
        }
    }
}
