//! The services of the generated compose files, as the typed model ([`crate::compose`]): the
//! nginx edge, the cache, authsvc and the server of the four-service stack, and the fused
//! engine of the Engine stack. Each takes its cpuset from the caller (the split is
//! [`super::render`]'s), and the [`Target`] decides only how images are built and how the
//! harness's folders are named.

use contract::{env, BENCH_SECRET};
use stack::nginx::{ProfileKnobs, ServerSocket, DOCKER_SERVER_SOCKET, DOCKER_SERVER_SOCKET_DIR};
use stack::{CpuSet, Profile};

use crate::compose::{Build, Healthcheck, Mount, Service, Volume};
use crate::compose_check::{CACHE_IMAGE, SHARED_AUTHSVC};

/// Where a compose file lives, which decides how it builds its images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `deploy/` of this checkout: our three Dockerfiles, context `..`.
    Checkout,
    /// `frameworks/<name>/` of HttpArena: HttpArena's shared authsvc, our server built with
    /// HttpArena's repository root as the context, the edge from `./edge`.
    HttpArena { name: String },
}

/// The checkout's generated nginx config for `profile` (relative to the checkout).
pub fn checkout_nginx_conf(profile: Profile) -> String {
    format!("deploy/docker/nginx.{profile}.conf")
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

/// The certificate and static-file mounts of a TLS edge.
fn edge_mounts(service: &mut Service, target: &Target) {
    let certs = harness_var(target, "CERTS_DIR");
    let data = harness_var(target, "DATA_DIR");
    service.volumes.push(Mount::read_only(certs, "/certs"));
    service
        .volumes
        .push(Mount::read_only(format!("{data}/static"), "/data/static"));
}

/// The dataset mount of the app server.
fn dataset_mount(service: &mut Service, target: &Target) {
    let data = harness_var(target, "DATA_DIR");
    service.volumes.push(Mount::read_only(
        format!("{data}/dataset.json"),
        "/data/dataset.json",
    ));
}

/// The named volume that carries the server's Unix socket to the edge.
pub const SERVER_SOCKET_VOLUME: &str = "server-socket";

/// The user id the server image runs as (`useradd --uid` in deploy/docker/server.Dockerfile):
/// the socket volume is owned by it.
pub const SERVER_UID: u32 = 10001;

/// Whether `profile`'s edge reaches the server over its Unix socket.
pub fn uses_server_socket(profile: Profile) -> bool {
    ProfileKnobs::of(profile).server_socket == ServerSocket::Unix
}

/// The socket volume: a tmpfs owned by the server's user, so the server can create its socket
/// whichever container Docker mounts it in first. The tmpfs is unmounted with the last
/// container, so no socket file outlives the stack (the empty volume object stays until
/// `docker compose down --volumes`). Mode 0755 lets the edge's `nginx` workers reach the socket
/// (itself mode 0666); the port the socket stands beside is open to every process of the host
/// network anyway. The uid is the host's: under userns-remap or rootless Docker the server
/// could not create its socket there.
pub fn server_socket_volume() -> Volume {
    let mut volume = Volume::tmpfs(SERVER_SOCKET_VOLUME, &format!("uid={SERVER_UID},mode=0755"));
    volume.comment = Some(format!(
        "The server's Unix socket ({DOCKER_SERVER_SOCKET}), shared by the server and the edge:\n\
         nginx forwards over it instead of TCP (the server's CPU per forwarded request is lower).\n\
         A tmpfs owned by the server's user (uid {SERVER_UID}): nothing on disk, and no socket file\n\
         outlives the containers."
    ));
    volume
}

/// Mounts the socket volume when `profile`'s edge reaches the server over its socket.
fn share_server_socket(service: &mut Service, profile: Profile) {
    if uses_server_socket(profile) {
        service.volumes.push(Mount::volume(
            SERVER_SOCKET_VOLUME,
            DOCKER_SERVER_SOCKET_DIR,
        ));
    }
}

/// nginx at the edge, with the profile's generated config.
pub fn edge(target: &Target, profile: Profile, cpuset: &str) -> Service {
    let mut edge = Service::pinned("edge", cpuset);
    edge.build = Some(match target {
        Target::Checkout => {
            let mut build = Build::host("..", Some("deploy/docker/edge.Dockerfile"));
            build
                .args
                .push(("NGINX_CONF".into(), checkout_nginx_conf(profile)));
            build
        }
        Target::HttpArena { .. } => Build::host("./edge", None),
    });
    edge_mounts(&mut edge, target);
    share_server_socket(&mut edge, profile);
    // busybox wget (alpine base of nginx:1.27-alpine) speaks TLS; the certificate is self-signed.
    edge.healthcheck = Some(Healthcheck::every_2s(
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
    ));
    edge.comment(
        "depends_on",
        "HttpArena's checks start as soon as the edge answers: open it only once the server\n\
         and authsvc pass their health checks, not merely once they were started.",
    );
    edge.depends_healthy(&["server", "authsvc"]);
    edge
}

/// Redis, stock, seeded by the mounted entrypoint.
pub fn cache(target: &Target, profile: Profile, cpuset: &str) -> Service {
    let mut cache = Service::pinned("cache", cpuset);
    cache.image = Some(CACHE_IMAGE.into());
    let data = harness_var(target, "DATA_DIR");
    cache.comment(
        "volumes",
        "`prodstack data` writes both files (the entrypoint is deploy/docker/redis-entrypoint.sh);\n\
         HttpArena's data/ folder has its own with the same behaviour.",
    );
    cache.volumes.push(Mount::read_only(
        format!("{data}/redis-seed.txt"),
        "/seed.txt",
    ));
    cache.volumes.push(Mount::read_only(
        format!("{data}/redis-entrypoint.sh"),
        "/entrypoint.sh",
    ));
    cache.entrypoint = Some(vec!["sh".into(), "/entrypoint.sh".into()]);
    if target == &Target::Checkout && profile == Profile::Tuned {
        let threads = CpuSet::parse(cpuset).map(|s| s.len()).unwrap_or(1);
        cache.set_env(
            "REDIS_IO_THREADS",
            threads.to_string(),
            Some("One I/O thread per CPU of the cpuset: more only adds context switches."),
        );
    }
    cache.healthcheck = Some(Healthcheck::every_2s(
        &[
            "CMD-SHELL",
            "redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG",
        ],
        30,
    ));
    cache
}

/// authsvc: ours in the checkout, HttpArena's shared sidecar (built as-is) in an export.
pub fn authsvc(target: &Target, cpuset: &str) -> Service {
    let mut authsvc = Service::pinned("authsvc", cpuset);
    match target {
        Target::Checkout => {
            authsvc.build = Some(Build::host("..", Some("deploy/docker/authsvc.Dockerfile")));
        }
        Target::HttpArena { .. } => {
            authsvc.comment(
                "build",
                "HttpArena's shared JWT sidecar, built as-is: Production and Tuned entries must use it\n\
                 unmodified (its own folder and Dockerfile; only the build network is ours).",
            );
            authsvc.build = Some(Build::host(SHARED_AUTHSVC, None));
        }
    }
    // Ours listens on loopback (the edge is on the same host network); HttpArena's shared
    // sidecar is run with the address HttpArena's own entries give it.
    let listen = match target {
        Target::Checkout => "127.0.0.1:9090",
        Target::HttpArena { .. } => "0.0.0.0:9090",
    };
    authsvc.set_env(env::JWT_SECRET, jwt_secret(target), None);
    authsvc.set_env(env::AUTHSVC_LISTEN, listen, None);
    authsvc.healthcheck = Some(match target {
        // Our Debian-slim image: bash's /dev/tcp probe (deploy/docker/http-probe.sh).
        Target::Checkout => Healthcheck::every_2s(&["CMD", "http-probe", "9090", "/_health"], 30),
        // The shared image is alpine without curl: busybox wget is there.
        Target::HttpArena { .. } => Healthcheck::every_2s(
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
    });
    authsvc
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
fn app_image(target: &Target, checkout_dockerfile: &str) -> (Build, String) {
    match target {
        Target::Checkout => (
            Build::host("..", Some(checkout_dockerfile)),
            "${DATABASE_URL:-postgres://bench:bench@localhost:5432/benchmark}".to_string(),
        ),
        Target::HttpArena { name } => (
            Build::host("../../", Some(&format!("frameworks/{name}/Dockerfile"))),
            "${DATABASE_URL}".to_string(),
        ),
    }
}

/// The app server's database and cache settings (the server's, or the fused engine's).
fn app_store_env(service: &mut Service, database_url: String, who: &str) {
    service.set_env(env::DATABASE_URL, database_url, None);
    service.set_env(
        env::DATABASE_MAX_CONN,
        "256",
        Some(&format!(
            "The {who} keeps its own connections strictly below this (Postgres runs 256)."
        )),
    );
    service.set_env(env::REDIS_URL, "redis://127.0.0.1:6379", None);
}

/// Our app server; with `profile`'s Unix-socket upstream, also listening on the socket in the
/// volume it shares with the edge.
pub fn server(target: &Target, profile: Profile, cpuset: &str) -> Service {
    let mut server = Service::pinned("server", cpuset);
    let (build, database_url) = app_image(target, "deploy/docker/server.Dockerfile");
    server.build = Some(build);
    server.set_env(
        env::LISTEN,
        "127.0.0.1:8080",
        Some(
            "Loopback: the edge runs on the same host network, and it sets X-User-Id, which\n\
             this port trusts (HttpArena's probe asks localhost:8080).",
        ),
    );
    if uses_server_socket(profile) {
        server.set_env(
            env::LISTEN_UNIX,
            DOCKER_SERVER_SOCKET,
            Some(
                "The same routes on a Unix socket, which the edge's nginx forwards to; :8080 stays\n\
                 for HttpArena's readiness probe.",
            ),
        );
    }
    app_store_env(&mut server, database_url, "server");
    dataset_mount(&mut server, target);
    share_server_socket(&mut server, profile);
    // /readyz answers 200 once Postgres does; the server listens before that, so HttpArena's
    // probe is never refused.
    server.healthcheck = Some(Healthcheck::every_2s(
        &["CMD", "http-probe", "8080", "/readyz"],
        60,
    ));
    server.depends_healthy(&["cache"]);
    server
}

/// The engine: TLS edge, static files, JWT and the app server in one process.
pub fn engine_edge(target: &Target, cpuset: &str) -> Service {
    let mut edge = Service::pinned("edge", cpuset);
    let (build, database_url) = app_image(target, "deploy/docker/engine.Dockerfile");
    edge.build = Some(build);
    edge.set_env(
        env::EDGE_MODE,
        "fused",
        Some("One process: the TLS edge and, fused in, the app server (crates/edge)."),
    );
    edge.set_env(env::EDGE_LISTEN, "0.0.0.0:8443", None);
    edge.set_env(env::TLS_CERT, "/certs/server.crt", None);
    edge.set_env(env::TLS_KEY, "/certs/server.key", None);
    edge.set_env(
        env::STATIC_DIR,
        "/data/static",
        Some("Loaded into memory at start, with the .gz/.br siblings."),
    );
    edge.set_env(
        env::JWT_SECRET,
        jwt_secret(target),
        Some("Verified in-process; the same secret as HttpArena's token."),
    );
    edge.set_env(env::EDGE_ADMIN_LISTEN, "127.0.0.1:9092", None);
    edge.set_env(
        env::LISTEN,
        "127.0.0.1:8080",
        Some(
            "The app server inside the process, on loopback: HttpArena's readiness probe asks\n\
             localhost:8080, and nothing else may reach a port that trusts X-User-Id.",
        ),
    );
    edge.set_env(env::ADMIN_LISTEN, "127.0.0.1:9091", None);
    app_store_env(&mut edge, database_url, "process");
    edge.set_env(env::DATASET_PATH, "/data/dataset.json", None);
    edge.set_env(
        env::SERVER_WORKERS,
        "4",
        Some(
            "Request handlers run on the edge's workers; the server's own runtime only carries\n\
             the Postgres/Redis connection tasks and the :8080 probe listener.",
        ),
    );
    edge_mounts(&mut edge, target);
    dataset_mount(&mut edge, target);
    // /readyz answers 200 once Postgres does, so `up --wait` returns when requests can succeed;
    // the image runs bash's /dev/tcp probe (no curl, no HTTPS client).
    edge.healthcheck = Some(Healthcheck::every_2s(
        &["CMD", "http-probe", "8080", "/readyz"],
        60,
    ));
    edge.depends_healthy(&["cache"]);
    edge
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The socket volume is owned by the user the server image really runs as, and the image
    /// has the socket folder too (owned by that user).
    #[test]
    fn the_socket_volume_belongs_to_the_server_image_user() {
        let dockerfile = include_str!("../../../../deploy/docker/server.Dockerfile");
        assert!(
            dockerfile.contains(&format!("--uid {SERVER_UID} ")),
            "server.Dockerfile's useradd must use uid {SERVER_UID}"
        );
        assert!(
            dockerfile.contains(&format!(
                "install -d -o app -g app -m 0755 {DOCKER_SERVER_SOCKET_DIR}"
            )),
            "server.Dockerfile must create {DOCKER_SERVER_SOCKET_DIR} for the app user"
        );
        let volume = server_socket_volume();
        assert!(volume
            .driver_opts
            .contains(&("o".into(), format!("uid={SERVER_UID},mode=0755"))));
    }
}
