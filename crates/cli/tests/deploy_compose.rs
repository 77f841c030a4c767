//! `prodstack compose-check` on the shipped compose files (they pass), on mutated copies (each
//! broken rule is reported with its service and field, exit 1), and the generated deployment
//! files being what their generator writes today. The engine's two-service file gets the same
//! treatment as the four-service ones.

mod deploy_support;

use deploy::compose_check::{check_text, Kind, Violation};
use deploy_support::*;
use serde_yaml::Value;
use stack::nginx::Template;

const STACK_FILES: [&str; 2] = [
    "deploy/compose.production-stack.yml",
    "deploy/compose.tuned.yml",
];
const POSTGRES_FILE: &str = "deploy/compose.postgres.yml";
const ENGINE_FILE: &str = "deploy/compose.engine.yml";

#[test]
fn every_shipped_compose_file_passes() {
    let root = checkout();
    let paths: Vec<String> = STACK_FILES
        .iter()
        .chain([&POSTGRES_FILE, &ENGINE_FILE])
        .map(|f| root.join(f).display().to_string())
        .collect();
    let mut args = vec!["compose-check"];
    args.extend(paths.iter().map(String::as_str));
    let out = prodstack(&args);
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    for path in &paths {
        assert!(
            text.contains(&format!("{path}: ok")),
            "{path} not ok:\n{text}"
        );
    }
    assert!(
        text.contains("stack: 4 services, 64 logical CPUs"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}: ok (engine stack: 2 services, 64 logical CPUs)",
            root.join(ENGINE_FILE).display()
        )),
        "{text}"
    );
}

#[test]
fn no_compose_file_in_deploy_escapes_the_check() {
    let mut found: Vec<String> = std::fs::read_dir(checkout().join("deploy"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("compose.") && n.ends_with(".yml"))
        .map(|n| format!("deploy/{n}"))
        .collect();
    found.sort();
    let mut checked: Vec<String> = STACK_FILES
        .iter()
        .chain([&POSTGRES_FILE, &ENGINE_FILE])
        .map(|s| s.to_string())
        .collect();
    checked.sort();
    assert_eq!(
        found, checked,
        "a compose file in deploy/ is not covered by these tests"
    );
}

#[test]
fn generated_deploy_files_are_up_to_date() {
    let root = checkout();
    let template = Template::from_checkout(&root).unwrap();
    let files = deploy::export::deploy_files(&template).unwrap();
    assert_eq!(files.len(), 5);
    assert!(
        files.iter().any(|(path, _)| path == ENGINE_FILE),
        "the engine compose file is generated"
    );
    for (path, expected) in files {
        let on_disk = std::fs::read_to_string(root.join(&path)).unwrap_or_else(|e| {
            panic!("{path}: {e}; run `./prodstack export-httparena --write-deploy`")
        });
        assert!(
            on_disk == expected,
            "{path} is out of date with its generator (crates/deploy/src/export/render.rs or \
             deploy/nginx/nginx.conf.template changed); run `./prodstack export-httparena --write-deploy`"
        );
    }
}

/// Writes the shipped production compose file, changed by `mutate`, into a checkout-like temp
/// folder and runs `prodstack compose-check` on it.
fn check_mutated(mutate: impl FnOnce(&mut Value)) -> (bool, Vec<String>) {
    check_mutated_file(STACK_FILES[0], mutate)
}

/// `compose-check` on a mutated copy of the shipped `file`, in a mirror of the checkout.
fn check_mutated_file(file: &str, mutate: impl FnOnce(&mut Value)) -> (bool, Vec<String>) {
    let dir = mirror_checkout();
    let mut doc = load_yaml(&checkout().join(file));
    mutate(&mut doc);
    let copy = dir.path().join(file);
    save_yaml(&copy, &doc);
    let out = prodstack(&["compose-check", copy.to_str().unwrap()]);
    let lines: Vec<String> = stdout(&out).lines().map(String::from).collect();
    (out.status.success(), lines)
}

fn assert_reports(lines: &[String], expected: &str) {
    assert!(
        lines.iter().any(|l| l.contains(expected)),
        "no line contains {expected:?}:\n{}",
        lines.join("\n")
    );
}

#[test]
fn an_unchanged_copy_passes() {
    // The control for the mutations below: the copy itself introduces no violation.
    let (ok, lines) = check_mutated(|_| {});
    assert!(ok, "{}", lines.join("\n"));
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].ends_with("ok (stack: 4 services, 64 logical CPUs)"),
        "{lines:?}"
    );
}

#[test]
fn a_fifth_service_fails() {
    let (ok, lines) = check_mutated(|doc| {
        let cache = service(doc, "cache").clone();
        set(doc.get_mut("services").unwrap(), "metrics", cache);
    });
    assert!(!ok);
    assert_reports(
        &lines,
        "services: 5 services (authsvc, cache, edge, metrics, server); HttpArena's production-stack runs exactly 4",
    );
    assert_reports(&lines, "service `metrics`: services: unexpected service");
}

/// The CPUs of `service` in the committed plan (deploy/cpu-plan.json), or in the engine split.
fn planned(service: &str, engine: bool) -> Vec<usize> {
    let set = if engine {
        deploy::export::split::engine_cpuset(service)
    } else {
        deploy::export::split::cpuset(service)
    };
    stack::CpuSet::parse(&set.unwrap()).unwrap().cpus().to_vec()
}

/// The highest core of `cpus` (its first thread; the sibling is + 64).
fn last_core(cpus: &[usize]) -> usize {
    cpus.iter().copied().filter(|c| *c < 64).max().unwrap()
}

fn list(cpus: Vec<usize>) -> String {
    stack::CpuSet::from_cpus(cpus).unwrap().to_string()
}

/// `cpus` less both threads of its last core.
fn without_last_core(cpus: Vec<usize>) -> String {
    let last = last_core(&cpus);
    list(
        cpus.into_iter()
            .filter(|c| *c != last && *c != last + 64)
            .collect(),
    )
}

#[test]
fn half_an_smt_pair_fails() {
    let edge = planned("edge", false);
    let last = last_core(&edge);
    let (ok, lines) = check_mutated(|doc| {
        let half: Vec<usize> = planned("edge", false)
            .into_iter()
            .filter(|c| *c != last + 64)
            .collect();
        set(service(doc, "edge"), "cpuset", list(half).into());
    });
    assert!(!ok);
    assert_reports(
        &lines,
        &format!(
            "service `edge`: cpuset: half an SMT pair: CPU {last} without its sibling {}",
            last + 64
        ),
    );
    assert_reports(&lines, "the cpusets total 63 logical CPUs");
}

#[test]
fn sixty_two_cpus_fail() {
    let edge = planned("edge", false).len();
    let (ok, lines) = check_mutated(|doc| {
        let fewer = without_last_core(planned("edge", false));
        set(service(doc, "edge"), "cpuset", fewer.into());
    });
    assert!(!ok);
    assert_reports(
        &lines,
        "cpuset: the cpusets total 62 logical CPUs; the four services must use exactly 64 (0-31,64-95)",
    );
    // The generated nginx config was made for the whole cpuset: that mismatch is a violation too.
    assert_reports(&lines, "service `edge`: nginx.conf: ");
    assert_reports(
        &lines,
        &format!(
            "worker_processes {edge}, but the edge's cpuset has {} CPUs",
            edge - 2
        ),
    );
    assert_eq!(lines.len(), 2, "{}", lines.join("\n"));
}

#[test]
fn a_missing_ulimit_fails() {
    let (ok, lines) = check_mutated(|doc| {
        remove(
            service(doc, "server").get_mut("ulimits").unwrap(),
            "memlock",
        );
    });
    assert!(!ok);
    assert_eq!(lines.len(), 1, "{}", lines.join("\n"));
    assert_reports(
        &lines,
        "service `server`: ulimits.memlock: missing; HttpArena requires memlock -1 on all four services",
    );
}

/// Tuned's nginx forwards over the server's Unix socket: without the volume both containers
/// mount, or without the server listening there, every forwarded request would be a 502 while
/// both health checks pass, so the checker refuses it.
#[test]
fn a_socket_upstream_without_its_shared_volume_or_listener_fails() {
    let (ok, lines) = check_mutated_file(STACK_FILES[1], |_| {});
    assert!(ok, "{}", lines.join("\n"));

    let (ok, lines) = check_mutated_file(STACK_FILES[1], |doc| {
        remove(service(doc, "server"), "volumes");
        remove(doc, "volumes");
    });
    assert!(!ok);
    assert_eq!(lines.len(), 3, "{}", lines.join("\n"));
    assert_reports(&lines, "service `edge`: volumes: mounts the named volume `server-socket`, which the file's top-level `volumes:` does not declare");
    assert_reports(&lines, "service `server`: volumes: nginx forwards to unix:/run/prodstack/server.sock in the volume `server-socket` at /run/prodstack; the server must mount that volume there too");
    assert_reports(
        &lines,
        "service `server`: volumes: missing `${DATA_DIR}/dataset.json:/data/dataset.json:ro`",
    );

    let (ok, lines) = check_mutated_file(STACK_FILES[1], |doc| {
        let env = service(doc, "server").get_mut("environment").unwrap();
        let list = env.as_sequence_mut().unwrap();
        list.retain(|v| !v.as_str().unwrap_or("").starts_with("LISTEN_UNIX="));
    });
    assert!(!ok);
    assert_eq!(lines.len(), 1, "{}", lines.join("\n"));
    assert_reports(&lines, "service `server`: environment: nginx forwards to unix:/run/prodstack/server.sock, but the server's LISTEN_UNIX is not set");
}

/// Every other rule, through the library: one mutation each, and the violation it must cause.
#[test]
fn each_rule_reports_its_service_and_field() {
    let dir = mirror_checkout();
    let file = dir.path().join("deploy/compose.production-stack.yml");
    let shipped = load_yaml(&checkout().join(STACK_FILES[0]));
    type Mutation = (
        &'static str,
        fn(&mut Value),
        &'static str,
        &'static str,
        &'static str,
    );
    let cases: Vec<Mutation> = vec![
        (
            "bridge network",
            |d| set(service(d, "cache"), "network_mode", "bridge".into()),
            "cache",
            "network_mode",
            "`bridge`",
        ),
        (
            "no seccomp",
            |d| remove(service(d, "authsvc"), "security_opt"),
            "authsvc",
            "security_opt",
            "seccomp:unconfined",
        ),
        (
            "low nofile",
            |d| {
                set(
                    service(d, "edge").get_mut("ulimits").unwrap(),
                    "nofile",
                    yaml("{soft: 65535, hard: 1048576}"),
                )
            },
            "edge",
            "ulimits.nofile",
            "soft 65535",
        ),
        (
            "CPUs of the load generator",
            |d| set(service(d, "cache"), "cpuset", "40,104".into()),
            "cache",
            "cpuset",
            "outside 0-31,64-95",
        ),
        (
            "shared CPUs",
            |d| {
                let mut both = planned("server", false);
                both.extend(planned("cache", false));
                set(service(d, "server"), "cpuset", list(both).into())
            },
            "server",
            "cpuset",
            "also in the cpuset of `cache`",
        ),
        (
            "start-order-only depends_on",
            |d| set(service(d, "edge"), "depends_on", yaml("[server, authsvc]")),
            "edge",
            "depends_on",
            "only orders start-up",
        ),
        (
            "no health check",
            |d| remove(service(d, "authsvc"), "healthcheck"),
            "authsvc",
            "healthcheck",
            "missing",
        ),
        (
            "disabled health check",
            |d| set(service(d, "server"), "healthcheck", yaml("{disable: true}")),
            "server",
            "healthcheck",
            "disabled",
        ),
        (
            "hard-coded dataset",
            |d| {
                set(
                    service(d, "server"),
                    "volumes",
                    yaml("[\"/srv/dataset.json:/data/dataset.json:ro\"]"),
                )
            },
            "server",
            "volumes",
            "hard-coded host path",
        ),
        (
            "writable certs",
            |d| {
                set(
                    service(d, "edge"),
                    "volumes",
                    yaml("[\"${CERTS_DIR}:/certs\", \"${DATA_DIR}/static:/data/static:ro\"]"),
                )
            },
            "edge",
            "volumes",
            "/certs must be read-only",
        ),
        (
            "hard-coded database",
            |d| {
                set(service(d, "server"), "environment", yaml("[DATABASE_URL=postgres://x@db/b, DATABASE_MAX_CONN=256, REDIS_URL=redis://127.0.0.1:6379]"))
            },
            "server",
            "environment",
            "must come from the harness",
        ),
        (
            "too many connections",
            |d| {
                set(service(d, "server"), "environment", yaml("[\"DATABASE_URL=${DATABASE_URL}\", DATABASE_MAX_CONN=1000, REDIS_URL=redis://127.0.0.1:6379]"))
            },
            "server",
            "environment",
            "DATABASE_MAX_CONN=1000",
        ),
        (
            "server on every interface without the edge's proof",
            |d| {
                set(service(d, "server"), "environment", yaml("[LISTEN=0.0.0.0:8080, \"DATABASE_URL=${DATABASE_URL}\", DATABASE_MAX_CONN=256, REDIS_URL=redis://127.0.0.1:6379]"))
            },
            "server",
            "environment",
            "LISTEN=0.0.0.0:8080; the app port trusts X-User-Id, so it must be 127.0.0.1:8080",
        ),
        (
            "our authsvc on every interface",
            |d| {
                set(
                    service(d, "authsvc"),
                    "environment",
                    yaml("[JWT_SECRET=x, AUTHSVC_LISTEN=0.0.0.0:9090]"),
                )
            },
            "authsvc",
            "environment",
            "AUTHSVC_LISTEN=0.0.0.0:9090; must be 127.0.0.1:9090",
        ),
        (
            "authsvc elsewhere",
            |d| {
                set(
                    service(d, "authsvc"),
                    "environment",
                    yaml("[JWT_SECRET=x, AUTHSVC_LISTEN=0.0.0.0:9000]"),
                )
            },
            "authsvc",
            "environment",
            "AUTHSVC_LISTEN=0.0.0.0:9000",
        ),
        (
            "no JWT secret",
            |d| {
                set(
                    service(d, "authsvc"),
                    "environment",
                    yaml("[AUTHSVC_LISTEN=127.0.0.1:9090]"),
                )
            },
            "authsvc",
            "environment",
            "JWT_SECRET is missing",
        ),
        (
            "cache without the seed entrypoint",
            |d| remove(service(d, "cache"), "entrypoint"),
            "cache",
            "entrypoint",
            "/entrypoint.sh",
        ),
        (
            "another cache image",
            |d| set(service(d, "cache"), "image", "redis:8".into()),
            "cache",
            "image",
            "`redis:8`",
        ),
        (
            "container name",
            |d| set(service(d, "server"), "container_name", "server".into()),
            "server",
            "container_name",
            "must not be set",
        ),
        (
            "missing Dockerfile",
            |d| {
                set(
                    service(d, "server").get_mut("build").unwrap(),
                    "dockerfile",
                    "deploy/docker/nope.Dockerfile".into(),
                )
            },
            "server",
            "build.dockerfile",
            "does not exist",
        ),
        (
            "edge that is not nginx",
            |d| {
                set(
                    service(d, "edge").get_mut("build").unwrap(),
                    "dockerfile",
                    "deploy/docker/server.Dockerfile".into(),
                )
            },
            "edge",
            "build",
            "production-grade proxy",
        ),
        (
            "missing service",
            |d| remove(d.get_mut("services").unwrap(), "cache"),
            "",
            "services",
            "service `cache` is missing",
        ),
    ];
    for (what, mutate, svc, field, expected) in cases {
        let mut doc = shipped.clone();
        mutate(&mut doc);
        let text = serde_yaml::to_string(&doc).unwrap();
        let checked = check_text(&file, &text, &Kind::Stack { export: None });
        let found = checked.violations.iter().any(|v: &Violation| {
            v.service.as_deref().unwrap_or("") == svc
                && v.field == field
                && v.message.contains(expected)
        });
        assert!(
            found,
            "{what}: expected service {svc:?} field {field:?} containing {expected:?}, got:\n{}",
            checked
                .violations
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn the_postgres_file_is_checked_as_such() {
    let dir = mirror_checkout();
    let file = dir.path().join("deploy/compose.postgres.yml");
    let shipped = std::fs::read_to_string(checkout().join(POSTGRES_FILE)).unwrap();
    assert_eq!(
        deploy::compose_check::detect_kind(&file, &shipped),
        Kind::Postgres
    );
    let ok = check_text(&file, &shipped, &Kind::Postgres);
    assert!(ok.violations.is_empty(), "{:?}", ok.violations);

    let mut doc: Value = serde_yaml::from_str(&shipped).unwrap();
    set(service(&mut doc, "postgres"), "image", "postgres:16".into());
    remove(service(&mut doc, "postgres"), "command");
    let text = serde_yaml::to_string(&doc).unwrap();
    let messages: Vec<String> = check_text(&file, &text, &Kind::Postgres)
        .violations
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages[0].contains("service `postgres`: image: `postgres:16`"),
        "{messages:#?}"
    );
    assert!(messages[1].contains("max_connections=256"), "{messages:#?}");
}

#[test]
fn unreadable_input_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yml");
    let out = prodstack(&["compose-check", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("reading the compose file"),
        "{}",
        stderr(&out)
    );

    let broken = dir.path().join("broken.yml");
    std::fs::write(&broken, "services: [unclosed\n").unwrap();
    let out = prodstack(&["compose-check", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("yaml: not valid YAML"),
        "{}",
        stdout(&out)
    );
}

/// The engine file, changed by `mutate`, checked through the library from a checkout-like temp
/// folder (so `context: ..` and the Dockerfile resolve as in the checkout).
fn check_engine_mutated(mutate: impl FnOnce(&mut Value)) -> Vec<Violation> {
    let dir = mirror_checkout();
    let file = dir.path().join(ENGINE_FILE);
    let mut doc = load_yaml(&checkout().join(ENGINE_FILE));
    mutate(&mut doc);
    let text = serde_yaml::to_string(&doc).unwrap();
    check_text(&file, &text, &Kind::Stack { export: None }).violations
}

#[test]
fn the_engine_file_is_two_services_with_the_engine_as_edge() {
    let doc = load_yaml(&checkout().join(ENGINE_FILE));
    let services: Vec<&str> = doc["services"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(services, ["edge", "cache"]);
    let edge = &doc["services"]["edge"];
    assert_eq!(
        edge["build"]["dockerfile"].as_str(),
        Some("deploy/docker/engine.Dockerfile")
    );
    let (edge_service, errors) = deploy::compose::read_service("edge", edge);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(edge_service.env("EDGE_MODE"), Some(Some("fused")));
    // Redis exactly as in the production file, CPUs included.
    let production = load_yaml(&checkout().join(STACK_FILES[0]));
    assert_eq!(doc["services"]["cache"], production["services"]["cache"]);
    // The edge gets every CPU of the 64 the cache does not.
    let cpus = |s: &Value| stack::CpuSet::parse(s["cpuset"].as_str().unwrap()).unwrap();
    let (edge_cpus, cache_cpus) = (cpus(edge), cpus(&doc["services"]["cache"]));
    assert_eq!(edge_cpus.len() + cache_cpus.len(), 64);
    assert_eq!(edge_cpus.len(), 62);

    // The control for the mutations below: the temp copy itself passes.
    let violations = check_engine_mutated(|_| {});
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn each_engine_rule_reports_its_service_and_field() {
    type Mutation = (
        &'static str,
        fn(&mut Value),
        &'static str,
        &'static str,
        &'static str,
    );
    fn set_env(doc: &mut Value, entries: &str) {
        set(service(doc, "edge"), "environment", yaml(entries));
    }
    const GOOD_ENV: &str = "[EDGE_MODE=fused, LISTEN=127.0.0.1:8080, \"DATABASE_URL=${DATABASE_URL}\", DATABASE_MAX_CONN=256, REDIS_URL=redis://127.0.0.1:6379";
    let cases: Vec<Mutation> = vec![
        (
            "proxy mode without a server",
            |d| set_env(d, &format!("{}]", GOOD_ENV.replace("fused", "proxy"))),
            "edge",
            "environment",
            "EDGE_MODE=proxy; the engine stack has no server to proxy to",
        ),
        (
            "no mode (the binary's default is proxy)",
            |d| {
                set_env(
                    d,
                    &format!("{}]", GOOD_ENV.replace("EDGE_MODE=fused, ", "")),
                )
            },
            "edge",
            "environment",
            "EDGE_MODE is missing",
        ),
        (
            "hard-coded database",
            |d| {
                set_env(
                    d,
                    &format!(
                        "{}]",
                        GOOD_ENV.replace("${DATABASE_URL}", "postgres://bench:bench@db/benchmark")
                    ),
                )
            },
            "edge",
            "environment",
            "must come from the harness",
        ),
        (
            "no cache URL",
            |d| {
                set_env(
                    d,
                    &format!(
                        "{}]",
                        GOOD_ENV.replace(", REDIS_URL=redis://127.0.0.1:6379", "")
                    ),
                )
            },
            "edge",
            "environment",
            "REDIS_URL is missing",
        ),
        (
            "app port on every interface without the edge's proof",
            |d| {
                set_env(
                    d,
                    &format!(
                        "{}]",
                        GOOD_ENV.replace("LISTEN=127.0.0.1:8080", "LISTEN=0.0.0.0:8080")
                    ),
                )
            },
            "edge",
            "environment",
            "LISTEN=0.0.0.0:8080; the app port trusts X-User-Id",
        ),
        (
            "TLS on another port",
            |d| set_env(d, &format!("{GOOD_ENV}, EDGE_LISTEN=0.0.0.0:443]")),
            "edge",
            "environment",
            "EDGE_LISTEN=0.0.0.0:443",
        ),
        (
            "a key outside the mount",
            |d| set_env(d, &format!("{GOOD_ENV}, TLS_KEY=/etc/ssl/key.pem]")),
            "edge",
            "environment",
            "TLS_KEY=/etc/ssl/key.pem; the mount puts it at /certs/server.key",
        ),
        (
            "no dataset",
            |d| {
                set(
                    service(d, "edge"),
                    "volumes",
                    yaml("[\"${CERTS_DIR}:/certs:ro\", \"${DATA_DIR}/static:/data/static:ro\"]"),
                )
            },
            "edge",
            "volumes",
            "missing `${DATA_DIR}/dataset.json:/data/dataset.json:ro`",
        ),
        (
            "writable static files",
            |d| {
                set(
                    service(d, "edge"),
                    "volumes",
                    yaml("[\"${CERTS_DIR}:/certs:ro\", \"${DATA_DIR}/static:/data/static\", \"${DATA_DIR}/dataset.json:/data/dataset.json:ro\"]"),
                )
            },
            "edge",
            "volumes",
            "/data/static must be read-only",
        ),
        (
            "start-order-only depends_on",
            |d| set(service(d, "edge"), "depends_on", yaml("[cache]")),
            "edge",
            "depends_on",
            "only orders start-up",
        ),
        (
            "an nginx image as the engine",
            |d| {
                set(
                    service(d, "edge").get_mut("build").unwrap(),
                    "dockerfile",
                    "deploy/docker/edge.Dockerfile".into(),
                )
            },
            "edge",
            "build",
            "nginx cannot serve the app by itself",
        ),
        (
            "a prebuilt image instead of our sources",
            |d| {
                remove(service(d, "edge"), "build");
                set(service(d, "edge"), "image", "prodstack/edge:1".into());
            },
            "edge",
            "build",
            "the engine is built from our sources",
        ),
        (
            "rules of every service: memlock",
            |d| remove(service(d, "edge").get_mut("ulimits").unwrap(), "memlock"),
            "edge",
            "ulimits.memlock",
            "missing",
        ),
        (
            "rules of every service: seccomp",
            |d| remove(service(d, "cache"), "security_opt"),
            "cache",
            "security_opt",
            "seccomp:unconfined",
        ),
        (
            "rules of every service: the cache image",
            |d| set(service(d, "cache"), "image", "valkey/valkey:8".into()),
            "cache",
            "image",
            "`valkey/valkey:8`",
        ),
        (
            "62 CPUs",
            |d| {
                let fewer = without_last_core(planned("edge", true));
                set(service(d, "edge"), "cpuset", fewer.into())
            },
            "",
            "cpuset",
            "the cpusets total 62 logical CPUs",
        ),
        (
            "a third service",
            |d| {
                let cache = service(d, "cache").clone();
                set(d.get_mut("services").unwrap(), "metrics", cache);
            },
            "metrics",
            "services",
            "the engine stack runs only edge and cache",
        ),
        (
            "no cache",
            |d| remove(d.get_mut("services").unwrap(), "cache"),
            "",
            "services",
            "service `cache` is missing",
        ),
        (
            // A server makes it the four-service shape, which needs authsvc (and nginx).
            "a server without authsvc",
            |d| {
                let edge = service(d, "edge").clone();
                set(d.get_mut("services").unwrap(), "server", edge);
            },
            "",
            "services",
            "service `authsvc` is missing",
        ),
    ];
    for (what, mutate, svc, field, expected) in cases {
        let violations = check_engine_mutated(mutate);
        let found = violations.iter().any(|v| {
            v.service.as_deref().unwrap_or("") == svc
                && v.field == field
                && v.message.contains(expected)
        });
        assert!(
            found,
            "{what}: expected service {svc:?} field {field:?} containing {expected:?}, got:\n{}",
            violations
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn a_broken_engine_file_fails_the_command() {
    let dir = mirror_checkout();
    let mut doc = load_yaml(&checkout().join(ENGINE_FILE));
    set(service(&mut doc, "edge"), "network_mode", "bridge".into());
    let copy = dir.path().join(ENGINE_FILE);
    save_yaml(&copy, &doc);
    let out = prodstack(&["compose-check", copy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("service `edge`: network_mode: `bridge`; every service must use `host`"),
        "{text}"
    );
}
