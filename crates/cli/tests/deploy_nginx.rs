//! The edge config in the Docker images is the template's rendering: the Docker and the
//! `prodstack up` renderings of deploy/nginx/nginx.conf.template differ only in paths, ports and
//! process settings, and the real nginx (`nginx -t`) accepts both, as well as the committed
//! deploy/docker/nginx.*.conf once its container paths point into a temp folder.

mod deploy_support;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use deploy_support::*;
use stack::nginx::{check_config, unprivileged_worker_user, EdgeParams, Template, Workers};
use stack::{Home, Profile, StackPorts};

/// Directives whose lines may differ between the two renderings: where files live, which ports
/// and upstream addresses, which account and how many workers/descriptors.
const ALLOWED: [&str; 14] = [
    "#",
    "user",
    "worker_processes",
    "worker_rlimit_nofile",
    "worker_connections",
    "pid",
    "error_log",
    "server",
    "listen",
    "ssl_certificate",
    "ssl_certificate_key",
    "alias",
    "client_body_temp_path",
    "proxy_temp_path",
];
const ALSO_ALLOWED: [&str; 3] = ["fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path"];

fn directive(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

/// A folder with certs (made by openssl), a static file and nginx's writable folders, readable
/// by nginx's unprivileged workers.
struct EdgeFiles {
    dir: tempfile::TempDir,
}

impl EdgeFiles {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("prodstack-deploy-nginx-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = Home::new(dir.path());
        for d in [
            home.static_dir(),
            home.certs_dir(),
            home.run_dir().join("nginx-temp"),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(home.static_dir().join("reset.css"), "body{}\n").unwrap();
        datagen::certs::generate(&home.certs_dir(), Path::new("openssl"))
            .expect("openssl is needed to make a test certificate");
        Self { dir }
    }

    fn home(&self) -> Home {
        Home::new(self.dir.path())
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `conf` and runs `nginx -t` on it.
    fn nginx_t(&self, name: &str, conf: &str) -> stack::Result<()> {
        let file = self.path().join(name);
        std::fs::write(&file, conf).unwrap();
        check_config(&file, self.path())
    }
}

fn renderings(profile: Profile, files: &EdgeFiles) -> (String, String) {
    let template = Template::from_checkout(&checkout()).unwrap();
    let ports = StackPorts::with_offset(1000).unwrap();
    let local = template
        .render_edge(&EdgeParams::local(&files.home(), &ports, profile, 4))
        .unwrap();
    let docker = template
        .render_edge(&EdgeParams::docker(profile, Workers::Count(4)))
        .unwrap();
    (local, docker)
}

#[test]
fn docker_and_local_renderings_differ_only_in_paths_ports_and_process_settings() {
    let files = EdgeFiles::new();
    for profile in Profile::ALL {
        let (local, docker) = renderings(profile, &files);
        let local_lines: Vec<&str> = local.lines().collect();
        let docker_lines: Vec<&str> = docker.lines().collect();
        // Same template, same structure: line for line.
        assert_eq!(local_lines.len(), docker_lines.len());
        let mut changed = BTreeSet::new();
        for (l, d) in local_lines.iter().zip(&docker_lines) {
            if l != d {
                assert_eq!(directive(l), directive(d), "{l:?} vs {d:?}");
                let name = directive(l);
                assert!(
                    ALLOWED.contains(&name) || ALSO_ALLOWED.contains(&name),
                    "{profile}: `{name}` differs between the Docker and the local rendering:\n  local:  {l}\n  docker: {d}"
                );
                changed.insert(name.to_string());
            }
        }
        // The Docker side really is HttpArena's layout.
        // Production reaches the server's port, tuned its socket in the shared volume.
        let backend = match profile {
            Profile::Production => "server 127.0.0.1:8080;".to_string(),
            Profile::Tuned => format!("server unix:{};", stack::nginx::DOCKER_SERVER_SOCKET),
        };
        for expected in [
            "ssl_certificate /certs/server.crt;",
            "alias /data/static/;",
            &backend,
            "server 127.0.0.1:9090;",
            "user nginx;",
        ] {
            assert!(
                docker.contains(expected),
                "{profile}: Docker rendering lacks {expected:?}"
            );
        }
        assert!(docker.contains("listen 8443 ssl http2"));
        assert!(
            changed.contains("listen") && changed.contains("alias"),
            "{changed:?}"
        );
    }
}

#[test]
fn nginx_accepts_both_renderings() {
    let files = EdgeFiles::new();
    for profile in Profile::ALL {
        let (local, docker) = renderings(profile, &files);
        files
            .nginx_t(&format!("local-{profile}.conf"), &local)
            .unwrap_or_else(|e| panic!("local {profile}: {e}"));
        let docker = container_paths_to(&docker, &files);
        files
            .nginx_t(&format!("docker-{profile}.conf"), &docker)
            .unwrap_or_else(|e| panic!("docker {profile}: {e}"));
    }
}

/// The committed configs (what the edge image contains) pass `nginx -t` once the container's
/// paths are redirected to a temp folder; only those lines change.
#[test]
fn nginx_accepts_the_committed_docker_configs() {
    let files = EdgeFiles::new();
    for profile in Profile::ALL {
        let path = checkout().join(format!("deploy/docker/nginx.{profile}.conf"));
        let committed = std::fs::read_to_string(&path).unwrap();
        assert!(committed.starts_with("# GENERATED FILE"));
        assert!(committed.contains(&format!("Rendered for profile: {profile}")));
        let workers = deploy::export::split::edge_workers().unwrap();
        assert!(
            committed.contains(&format!("\nworker_processes {workers};")),
            "one worker per CPU of the edge's cpuset in the plan"
        );
        let local = container_paths_to(&committed, &files);
        let changed: BTreeSet<&str> = committed
            .lines()
            .zip(local.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, _)| directive(a))
            .collect();
        assert!(
            changed
                .iter()
                .all(|d| ALLOWED.contains(d) || ALSO_ALLOWED.contains(d)),
            "{changed:?}"
        );
        files
            .nginx_t(&format!("committed-{profile}.conf"), &local)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// A broken committed config would be caught: `nginx -t` is not a rubber stamp.
#[test]
fn nginx_rejects_a_broken_config() {
    let files = EdgeFiles::new();
    let committed =
        std::fs::read_to_string(checkout().join("deploy/docker/nginx.production.conf")).unwrap();
    let broken =
        container_paths_to(&committed, &files).replace("gzip_static on;", "gzip_static maybe;");
    let err = files.nginx_t("broken.conf", &broken).unwrap_err();
    let err = err.to_string();
    assert!(
        err.contains("invalid value \"maybe\"") && err.contains("test failed"),
        "{err}"
    );
}

/// Replaces the container paths of a Docker rendering (`/certs`, `/data/static`, the image's
/// pid file and temp folder, the `nginx` account) by `files`' folders and this machine's
/// unprivileged account.
fn container_paths_to(conf: &str, files: &EdgeFiles) -> String {
    let home = files.home();
    let temp: PathBuf = home.run_dir().join("nginx-temp");
    conf.replace("/certs/", &format!("{}/", home.certs_dir().display()))
        .replace(
            "/data/static/",
            &format!("{}/", home.static_dir().display()),
        )
        .replace(
            "/var/run/nginx.pid",
            &home.run_dir().join("nginx.pid").display().to_string(),
        )
        .replace("/var/cache/nginx/", &format!("{}/", temp.display()))
        .replace(
            "\nuser nginx;",
            &format!("\nuser {};", unprivileged_worker_user()),
        )
}
