//! `prodstack export-httparena`: the exported folder passes compose-check (including the
//! export-only rules), is self-contained (trimmed workspace whose lock cargo accepts as is),
//! never overwrites silently, and a mutated export fails for the right reason. Production,
//! tuned and engine (`--category engine`: the fused Rust engine and the cache) exports alike.

mod deploy_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use deploy_support::*;

/// Exports `name` into a fresh temp folder; returns (folder guard, frameworks/NAME).
fn export(name: &str, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let out = tempfile::Builder::new()
        .prefix("prodstack-export-")
        .tempdir()
        .unwrap();
    let mut args = vec![
        "export-httparena",
        "--name",
        name,
        "--out",
        out.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let result = prodstack(&args);
    assert!(
        result.status.success(),
        "export failed:\n{}\n{}",
        stdout(&result),
        stderr(&result)
    );
    let entry = out.path().join("frameworks").join(name);
    assert!(stdout(&result).contains(&format!("to {}", entry.display())));
    (out, entry)
}

fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                out.insert(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn the_export_passes_compose_check_as_folder_and_as_file() {
    let (_out, entry) = export("prodstack-rs", &[]);
    let compose = entry.join("compose.production-stack.yml");
    let result = prodstack(&[
        "compose-check",
        entry.to_str().unwrap(),
        compose.to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", stdout(&result));
    let text = stdout(&result);
    assert_eq!(
        text.matches(
            "ok (HttpArena export `prodstack-rs`: 4 services, 64 logical CPUs, shared authsvc)"
        )
        .count(),
        2,
        "{text}"
    );
}

#[test]
fn the_export_has_every_file_the_issue_lists_and_nothing_of_the_tests() {
    let (_out, entry) = export("prodstack", &[]);
    let files = files_under(&entry);
    for required in [
        "meta.json",
        "README.md",
        "compose.production-stack.yml",
        "Dockerfile",
        "Dockerfile.dockerignore",
        "edge/Dockerfile",
        "edge/nginx.conf",
        "Cargo.toml",
        "Cargo.lock",
        "crates/server/Cargo.toml",
        "crates/server/src/main.rs",
        "crates/server/src/lib.rs",
        "crates/cache/Cargo.toml",
        "crates/cache/src/lib.rs",
        "deploy/docker/cargo-skeleton.sh",
        "deploy/docker/http-probe.sh",
    ] {
        assert!(
            files.contains(required),
            "{required} missing from {files:#?}"
        );
    }
    // Only the crates the server needs, and none of their tests, benches or examples.
    let crates: BTreeSet<&str> = files
        .iter()
        .filter_map(|f| f.strip_prefix("crates/"))
        .filter_map(|f| f.split('/').next())
        .collect();
    assert_eq!(
        crates,
        BTreeSet::from(["cache", "contract", "rt", "server"])
    );
    for f in &files {
        for left_out in ["/tests/", "/benches/", "/examples/", "target/"] {
            assert!(!f.contains(left_out), "{f} should not be exported");
        }
    }
    // Every server source of the checkout is there, byte for byte.
    let checkout_sources = files_under(&checkout().join("crates/server/src"));
    for source in &checkout_sources {
        let ours = std::fs::read(checkout().join("crates/server/src").join(source)).unwrap();
        let theirs = std::fs::read(entry.join("crates/server/src").join(source)).unwrap();
        assert!(ours == theirs, "crates/server/src/{source} differs");
    }

    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(entry.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["display_name"], "prodstack");
    assert_eq!(meta["type"], "production");
    assert_eq!(meta["language"], "Rust");
    assert_eq!(meta["tests"], serde_json::json!(["production-stack"]));
    assert!(meta["engine"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(meta["repo"]
        .as_str()
        .is_some_and(|r| r.starts_with("https://")));
    assert!(meta["description"].as_str().is_some_and(|d| d.len() > 50));

    let readme = std::fs::read_to_string(entry.join("README.md")).unwrap();
    for section in [
        "## Stack",
        "## Endpoints",
        "## Cache design",
        "## CPU split",
    ] {
        assert!(readme.contains(section), "README lacks {section}");
    }
    // The split is the committed plan's (deploy/cpu-plan.json).
    let edge = deploy::export::split::cpuset("edge").unwrap();
    let logical = stack::CpuSet::parse(&edge).unwrap().len();
    assert!(
        readme.contains(&format!(
            "| `edge` | `{edge}` | {} | {logical} |",
            logical / 2
        )),
        "{readme}"
    );

    let compose = std::fs::read_to_string(entry.join("compose.production-stack.yml")).unwrap();
    assert!(
        compose.contains("    build:\n      context: ../_shared/authsvc\n      network: host\n")
    );
    assert!(compose
        .contains("      context: ../../\n      dockerfile: frameworks/prodstack/Dockerfile\n"));
    assert!(
        compose.contains("\"${CERTS_DIR}:/certs:ro\""),
        "HttpArena's plain variables"
    );

    let dockerfile = std::fs::read_to_string(entry.join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("\nARG SRC=frameworks/prodstack\n"));
    let ignore = std::fs::read_to_string(entry.join("Dockerfile.dockerignore")).unwrap();
    assert!(ignore.contains("\n*\n!frameworks/prodstack/\n"), "{ignore}");
}

#[test]
fn the_exported_workspace_resolves_with_its_trimmed_lock() {
    let (_out, entry) = export("prodstack", &[]);
    let manifest = std::fs::read_to_string(entry.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(
            "members = [\"crates/cache\", \"crates/contract\", \"crates/rt\", \"crates/server\"]"
        ),
        "{manifest}"
    );
    assert!(!manifest.contains("crates/jwt"), "{manifest}");
    assert!(
        manifest.contains("[profile.release]\nopt-level = 3\nlto = \"fat\""),
        "the release profile travels with the export"
    );
    let server = std::fs::read_to_string(entry.join("crates/server/Cargo.toml")).unwrap();
    assert!(!server.contains("dev-dependencies"), "{server}");

    // `--locked` fails if the lock needed any change: the trimmed lock is exactly right.
    let tree = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--locked",
            "--offline",
            "-p",
            "server",
            "-e",
            "normal",
        ])
        .current_dir(&entry)
        .output()
        .unwrap();
    assert!(
        tree.status.success(),
        "{}",
        String::from_utf8_lossy(&tree.stderr)
    );
    assert!(String::from_utf8_lossy(&tree.stdout).contains("cache v0.1.0"));

    // Same versions as the checkout builds, fewer packages.
    let lock =
        |p: &Path| deploy::export::locked_packages(&std::fs::read_to_string(p).unwrap()).unwrap();
    let exported = lock(&entry.join("Cargo.lock"));
    let workspace = lock(&checkout().join("Cargo.lock"));
    assert!(exported.is_subset(&workspace));
    assert!(exported.len() < workspace.len());
    assert!(
        !exported.iter().any(|(n, _)| n == "clap"),
        "the CLI's dependencies are trimmed"
    );
}

#[test]
fn the_edge_config_is_the_checkouts_rendering() {
    let (_out, entry) = export("prodstack", &[]);
    let body = |text: &str| -> String {
        text.lines()
            .skip_while(|l| l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let exported = std::fs::read_to_string(entry.join("edge/nginx.conf")).unwrap();
    let shipped =
        std::fs::read_to_string(checkout().join("deploy/docker/nginx.production.conf")).unwrap();
    assert_eq!(body(&exported), body(&shipped));
    // One worker per CPU of the edge's cpuset in the committed plan.
    let workers = deploy::export::split::edge_workers().unwrap();
    assert!(exported.contains(&format!("\nworker_processes {workers};")));
}

#[test]
fn tuned_exports_carry_the_tuned_edge() {
    let (_out, entry) = export("prodstack-tuned", &["--category", "tuned"]);
    let meta = std::fs::read_to_string(entry.join("meta.json")).unwrap();
    assert!(meta.contains("\"type\": \"tuned\""), "{meta}");
    let conf = std::fs::read_to_string(entry.join("edge/nginx.conf")).unwrap();
    assert!(conf.contains("Rendered for profile: tuned"));
    assert!(conf.contains("listen 8443 ssl http2 reuseport;"));
    let result = prodstack(&["compose-check", entry.to_str().unwrap()]);
    assert!(result.status.success(), "{}", stdout(&result));
}

#[test]
fn the_engine_export_passes_compose_check_as_folder_and_as_file() {
    let (_out, entry) = export("prodstack-engine", &["--category", "engine"]);
    let compose = entry.join("compose.production-stack.yml");
    let result = prodstack(&[
        "compose-check",
        entry.to_str().unwrap(),
        compose.to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", stdout(&result));
    let text = stdout(&result);
    assert_eq!(
        text.matches(
            "ok (HttpArena export `prodstack-engine`: engine, 2 services, 64 logical CPUs)"
        )
        .count(),
        2,
        "{text}"
    );
}

#[test]
fn the_engine_export_is_the_engine_and_its_crates() {
    let (_out, entry) = export("prodstack-engine", &["--category", "engine"]);
    let files = files_under(&entry);
    for required in [
        "meta.json",
        "README.md",
        "compose.production-stack.yml",
        "Dockerfile",
        "Dockerfile.dockerignore",
        "Cargo.toml",
        "Cargo.lock",
        "crates/edge/Cargo.toml",
        "crates/edge/src/main.rs",
        "crates/server/src/lib.rs",
        "crates/cache/src/lib.rs",
        "crates/jwt/src/lib.rs",
        "deploy/docker/cargo-skeleton.sh",
        "deploy/docker/http-probe.sh",
    ] {
        assert!(
            files.contains(required),
            "{required} missing from {files:#?}"
        );
    }
    // No nginx edge: the engine is the edge.
    assert!(!files.iter().any(|f| f.starts_with("edge/")), "{files:#?}");
    for f in &files {
        for left_out in ["/tests/", "/benches/", "/examples/", "target/"] {
            assert!(!f.contains(left_out), "{f} should not be exported");
        }
    }
    // Every engine source of the checkout is there, byte for byte.
    for source in files_under(&checkout().join("crates/edge/src")) {
        let ours = std::fs::read(checkout().join("crates/edge/src").join(&source)).unwrap();
        let theirs = std::fs::read(entry.join("crates/edge/src").join(&source)).unwrap();
        assert!(ours == theirs, "crates/edge/src/{source} differs");
    }

    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(entry.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["type"], "engine");
    assert_eq!(meta["display_name"], "prodstack-engine");
    assert_eq!(meta["tests"], serde_json::json!(["production-stack"]));
    assert!(meta["description"]
        .as_str()
        .is_some_and(|d| d.contains("one Rust process")));

    let compose = load_yaml(&entry.join("compose.production-stack.yml"));
    let services: Vec<&str> = compose["services"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(services, ["edge", "cache"]);
    let edge = &compose["services"]["edge"];
    assert_eq!(edge["build"]["context"].as_str(), Some("../../"));
    assert_eq!(
        edge["build"]["dockerfile"].as_str(),
        Some("frameworks/prodstack-engine/Dockerfile")
    );
    let (edge_service, errors) = deploy::compose::read_service("edge", edge);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(edge_service.env("EDGE_MODE"), Some(Some("fused")));
    assert_eq!(
        edge_service.env("DATABASE_URL"),
        Some(Some("${DATABASE_URL}"))
    );
    // The same services and settings as the checkout's engine file; only the build differs.
    let mut shipped = load_yaml(&checkout().join("deploy/compose.engine.yml"));
    let mut exported = compose.clone();
    for doc in [&mut shipped, &mut exported] {
        remove(service(doc, "edge"), "build");
        remove(service(doc, "edge"), "environment");
        remove(service(doc, "edge"), "volumes");
        remove(service(doc, "cache"), "volumes");
    }
    assert_eq!(shipped, exported);

    let dockerfile = std::fs::read_to_string(entry.join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("\nARG SRC=frameworks/prodstack-engine\n"));
    assert!(dockerfile.contains("cargo build --release --locked -p edge --bin edge"));
    let ignore = std::fs::read_to_string(entry.join("Dockerfile.dockerignore")).unwrap();
    assert!(
        ignore.contains("\n*\n!frameworks/prodstack-engine/\n"),
        "{ignore}"
    );

    let readme = std::fs::read_to_string(entry.join("README.md")).unwrap();
    for section in ["## Stack", "## Requests", "## Cache design", "## CPU split"] {
        assert!(readme.contains(section), "README lacks {section}");
    }
    // Every CPU of the plan but the cache's core.
    let edge = deploy::export::split::engine_cpuset("edge").unwrap();
    let logical = stack::CpuSet::parse(&edge).unwrap().len();
    assert_eq!(logical, 62);
    assert!(
        readme.contains(&format!("| `edge` | `{edge}` | 31 | 62 |")),
        "{readme}"
    );
}

/// A Cargo.lock as `(name, version)` → (a local path package?, its dependency entries as
/// written: `name`, `name version` or `name version (source)`).
type LockGraph = BTreeMap<(String, String), (bool, Vec<String>)>;

/// Reads a Cargo.lock: one `[[package]]` table per package, `dependencies` as an array of
/// entries; local packages have no `source`.
fn lock_graph(lock: &str) -> LockGraph {
    let doc: toml_edit::DocumentMut = lock.parse().unwrap();
    let field = |package: &toml_edit::Table, key: &str| {
        package
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap()
            .to_string()
    };
    doc["package"]
        .as_array_of_tables()
        .unwrap()
        .iter()
        .map(|package| {
            let deps = package
                .get("dependencies")
                .and_then(|d| d.as_array())
                .map(|deps| {
                    deps.iter()
                        .map(|d| d.as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            let local = !package.contains_key("source");
            (
                (field(package, "name"), field(package, "version")),
                (local, deps),
            )
        })
        .collect()
}

/// The packages of `graph` reachable from its local (workspace) packages.
fn reachable_from_workspace(graph: &LockGraph) -> BTreeSet<(String, String)> {
    let resolve = |entry: &str| -> (String, String) {
        let mut words = entry.split_whitespace();
        let name = words.next().unwrap().to_string();
        match words.next() {
            Some(version) => (name, version.to_string()),
            // Cargo writes the bare name only when one version of it is locked.
            None => graph
                .keys()
                .find(|(n, _)| *n == name)
                .cloned()
                .unwrap_or_else(|| panic!("{name} is not in the lock")),
        }
    };
    let mut seen = BTreeSet::new();
    let mut todo: Vec<(String, String)> = graph
        .iter()
        .filter(|(_, (local, _))| *local)
        .map(|(k, _)| k.clone())
        .collect();
    while let Some(package) = todo.pop() {
        if !seen.insert(package.clone()) {
            continue;
        }
        let (_, deps) = graph
            .get(&package)
            .unwrap_or_else(|| panic!("{package:?} is not in the lock"));
        todo.extend(deps.iter().map(|d| resolve(d)));
    }
    seen
}

#[test]
fn the_engine_workspace_is_the_dependency_closure_of_edge_with_a_trimmed_lock() {
    let (_out, entry) = export("prodstack-engine", &["--category", "engine"]);

    // The exported members are exactly edge and the workspace crates it depends on
    // (transitively, dev-dependencies aside), read from the export's own manifests.
    let metadata = cargo_metadata::MetadataCommand::new()
        .current_dir(&entry)
        .no_deps()
        .other_options(vec!["--offline".to_string()])
        .exec()
        .unwrap();
    let mut path_deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in &metadata.packages {
        let deps = package
            .dependencies
            .iter()
            .filter(|d| d.path.is_some() && d.kind != cargo_metadata::DependencyKind::Development)
            .map(|d| d.name.clone())
            .collect();
        path_deps.insert(package.name.to_string(), deps);
    }
    let mut closure = BTreeSet::new();
    let mut todo = vec!["edge".to_string()];
    while let Some(name) = todo.pop() {
        if closure.insert(name.clone()) {
            todo.extend(path_deps[&name].iter().cloned());
        }
    }
    let members: BTreeSet<String> = path_deps.keys().cloned().collect();
    assert_eq!(
        members, closure,
        "a member edge does not need, or a needed one missing"
    );
    for needed in ["edge", "server", "cache", "jwt", "contract", "rt"] {
        assert!(members.contains(needed), "{needed} missing: {members:?}");
    }
    let manifest = std::fs::read_to_string(entry.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(
            "members = [\"crates/cache\", \"crates/contract\", \"crates/edge\", \"crates/jwt\", \"crates/rt\", \"crates/server\"]"
        ),
        "{manifest}"
    );
    assert!(
        manifest.contains("[profile.release]\nopt-level = 3\nlto = \"fat\""),
        "the release profile travels with the export"
    );
    let edge = std::fs::read_to_string(entry.join("crates/edge/Cargo.toml")).unwrap();
    assert!(!edge.contains("dev-dependencies"), "{edge}");

    // `--locked` fails if the lock needed any change.
    let tree = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--locked",
            "--offline",
            "-p",
            "edge",
            "-e",
            "normal",
        ])
        .current_dir(&entry)
        .output()
        .unwrap();
    assert!(
        tree.status.success(),
        "{}",
        String::from_utf8_lossy(&tree.stderr)
    );
    let tree = String::from_utf8_lossy(&tree.stdout);
    for crate_line in [
        "server v0.1.0",
        "jwt v0.1.0",
        "cache v0.1.0",
        "tokio-rustls v",
    ] {
        assert!(tree.contains(crate_line), "{crate_line} not in:\n{tree}");
    }

    // The lock holds only packages the trimmed workspace uses: every one is reachable from its
    // members (a copy of the checkout's lock would keep cli, stack, clap, ... unreachable), and
    // every version is the checkout's.
    let text = std::fs::read_to_string(entry.join("Cargo.lock")).unwrap();
    let graph = lock_graph(&text);
    let reachable = reachable_from_workspace(&graph);
    let unused: Vec<&(String, String)> = graph.keys().filter(|p| !reachable.contains(*p)).collect();
    assert!(unused.is_empty(), "packages nothing uses: {unused:?}");
    let locals: BTreeSet<String> = graph
        .iter()
        .filter(|(_, (local, _))| *local)
        .map(|((n, _), _)| n.clone())
        .collect();
    assert_eq!(locals, members);
    let exported = deploy::export::locked_packages(&text).unwrap();
    let workspace = deploy::export::locked_packages(
        &std::fs::read_to_string(checkout().join("Cargo.lock")).unwrap(),
    )
    .unwrap();
    assert!(exported.is_subset(&workspace));
    for cli_only in [
        "clap",
        "plotters",
        "serde_yaml",
        "authsvc",
        "datagen",
        "stack",
        "cli",
    ] {
        assert!(
            !exported.iter().any(|(n, _)| n == cli_only),
            "{cli_only} is not the engine's"
        );
    }

    // The checkout's own lock, read the same way, does have packages the export does not use:
    // the check above can fail.
    let full = lock_graph(&std::fs::read_to_string(checkout().join("Cargo.lock")).unwrap());
    assert!(full.len() > graph.len());
}

#[test]
fn an_engine_export_with_a_four_service_meta_or_a_local_build_fails() {
    let (_out, entry) = export("prodstack-engine", &["--category", "engine"]);
    let meta_path = entry.join("meta.json");
    let meta = std::fs::read_to_string(&meta_path).unwrap();
    std::fs::write(
        &meta_path,
        meta.replace("\"type\": \"engine\"", "\"type\": \"production\""),
    )
    .unwrap();
    let compose = entry.join("compose.production-stack.yml");
    let mut doc = load_yaml(&compose);
    set(
        service(&mut doc, "edge"),
        "build",
        yaml("{context: ., dockerfile: Dockerfile}"),
    );
    save_yaml(&compose, &doc);
    let result = prodstack(&["compose-check", entry.to_str().unwrap()]);
    assert_eq!(result.status.code(), Some(1));
    let text = stdout(&result);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("meta.json: type: `production`; an entry whose own engine replaces nginx, authsvc and the server is \"engine\""),
        "{text}"
    );
    assert!(
        text.contains("service `edge`: build: HttpArena builds from its repository root: expected `context: ../../` and `dockerfile: frameworks/prodstack-engine/Dockerfile`"),
        "{text}"
    );
}

#[test]
fn bad_names_and_existing_folders_lose_nothing() {
    let out = tempfile::tempdir().unwrap();
    let out_str = out.path().to_str().unwrap();
    let result = prodstack(&["export-httparena", "--name", "Bad Name", "--out", out_str]);
    assert_eq!(result.status.code(), Some(1));
    assert!(
        stderr(&result).contains("not a usable entry name"),
        "{}",
        stderr(&result)
    );

    let entry = out.path().join("frameworks/mine");
    std::fs::create_dir_all(&entry).unwrap();
    std::fs::write(entry.join("precious.txt"), "keep me").unwrap();
    let result = prodstack(&["export-httparena", "--name", "mine", "--out", out_str]);
    assert_eq!(result.status.code(), Some(1));
    assert!(
        stderr(&result).contains("pass --force"),
        "{}",
        stderr(&result)
    );
    assert_eq!(
        std::fs::read_to_string(entry.join("precious.txt")).unwrap(),
        "keep me"
    );

    // --force replaces the folder as a whole: nothing stale survives next to the new files.
    let result = prodstack(&[
        "export-httparena",
        "--name",
        "mine",
        "--out",
        out_str,
        "--force",
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(!entry.join("precious.txt").exists());
    assert!(entry.join("meta.json").is_file());
    // No staging folder is left behind.
    let leftovers: Vec<String> = std::fs::read_dir(out.path().join("frameworks"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["mine"]);
}

#[test]
fn an_export_whose_authsvc_is_not_the_shared_sidecar_fails() {
    let (_out, entry) = export("prodstack", &[]);
    let compose = entry.join("compose.production-stack.yml");
    let mut doc = load_yaml(&compose);
    // Our own sidecar instead of HttpArena's: forbidden in Production and Tuned.
    set(
        service(&mut doc, "authsvc"),
        "build",
        yaml("{context: ../../, dockerfile: frameworks/prodstack/authsvc.Dockerfile}"),
    );
    save_yaml(&compose, &doc);
    for target in [entry.clone(), compose.clone()] {
        let result = prodstack(&["compose-check", target.to_str().unwrap()]);
        assert_eq!(result.status.code(), Some(1), "{}", stdout(&result));
        let text = stdout(&result);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("service `authsvc`: build: authsvc must be HttpArena's shared sidecar, built as-is: `build: ../_shared/authsvc`"),
            "{text}"
        );
    }
    // Its folder with a Dockerfile or build args of ours is a modified sidecar too.
    for modified in [
        "{context: ../_shared/authsvc, dockerfile: ../prodstack/authsvc.Dockerfile}",
        "{context: ../_shared/authsvc, network: host, args: {FEATURES: fast}}",
        "{context: ../_shared/authsvc, network: bridge-of-ours}",
    ] {
        set(service(&mut doc, "authsvc"), "build", yaml(modified));
        save_yaml(&compose, &doc);
        let result = prodstack(&["compose-check", compose.to_str().unwrap()]);
        assert_eq!(
            result.status.code(),
            Some(1),
            "{modified}: {}",
            stdout(&result)
        );
    }
    // Back to HttpArena's sidecar, as a path or with the host build network only: it passes.
    for shared in [
        "../_shared/authsvc",
        "{context: ../_shared/authsvc, network: host}",
    ] {
        set(service(&mut doc, "authsvc"), "build", yaml(shared));
        save_yaml(&compose, &doc);
        let result = prodstack(&["compose-check", compose.to_str().unwrap()]);
        assert!(result.status.success(), "{shared}: {}", stdout(&result));
    }
}

#[test]
fn an_export_with_a_broken_meta_or_server_build_fails() {
    let (_out, entry) = export("prodstack", &[]);
    std::fs::write(
        entry.join("meta.json"),
        r#"{"display_name":"prodstack","language":"Rust","type":"engine","engine":"hyper","description":"d","repo":"https://x","enabled":true,"tests":["baseline"]}"#,
    )
    .unwrap();
    let compose = entry.join("compose.production-stack.yml");
    let mut doc = load_yaml(&compose);
    set(
        service(&mut doc, "server"),
        "build",
        yaml("{context: ., dockerfile: Dockerfile}"),
    );
    save_yaml(&compose, &doc);
    let result = prodstack(&["compose-check", entry.to_str().unwrap()]);
    assert_eq!(result.status.code(), Some(1));
    let text = stdout(&result);
    assert!(text.contains("meta.json: type: `engine`"), "{text}");
    assert!(text.contains("meta.json: tests: [\"baseline\"]"), "{text}");
    assert!(
        text.contains("service `server`: build: HttpArena builds from its repository root"),
        "{text}"
    );
}
