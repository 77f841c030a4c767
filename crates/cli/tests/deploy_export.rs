//! `prodstack export-httparena`: the exported folder passes compose-check (including the
//! export-only rules), is self-contained (trimmed workspace whose lock cargo accepts as is),
//! never overwrites silently, and a mutated export fails for the right reason.

mod deploy_support;

use std::collections::BTreeSet;
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
    assert_eq!(crates, BTreeSet::from(["cache", "server"]));
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
    assert!(
        readme.contains("| `edge` | `0-18,64-82` | 19 | 38 |"),
        "{readme}"
    );

    let compose = std::fs::read_to_string(entry.join("compose.production-stack.yml")).unwrap();
    assert!(compose.contains("    build: ../_shared/authsvc\n"));
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
        manifest.contains("members = [\"crates/cache\", \"crates/server\"]"),
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
    let lock = |p: &Path| cli::export::locked_packages(&std::fs::read_to_string(p).unwrap());
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
    assert!(exported.contains("\nworker_processes 38;"));
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
fn engine_is_not_yet_and_names_the_issue() {
    let out = tempfile::tempdir().unwrap();
    let result = prodstack(&[
        "export-httparena",
        "--name",
        "x",
        "--out",
        out.path().to_str().unwrap(),
        "--category",
        "engine",
    ]);
    assert_eq!(result.status.code(), Some(1));
    assert!(
        stderr(&result).contains("not available yet"),
        "{}",
        stderr(&result)
    );
    assert!(stderr(&result).contains("issue 6"), "{}", stderr(&result));
    assert!(!out.path().join("frameworks/x").exists());
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
    // Back to HttpArena's sidecar: the export passes again.
    set(
        service(&mut doc, "authsvc"),
        "build",
        "../_shared/authsvc".into(),
    );
    save_yaml(&compose, &doc);
    let result = prodstack(&["compose-check", compose.to_str().unwrap()]);
    assert!(result.status.success(), "{}", stdout(&result));
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
