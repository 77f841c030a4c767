//! The Dockerfiles parse, every file they copy exists in their build context (and survives its
//! ignore file), bases are pinned, the runtime images are small, non-root and health-checked;
//! and the dependency skeleton they build first is a workspace cargo accepts as locked.

mod deploy_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use deploy::compose_check::dockerfile::{BuildContext, Dockerfile, LintReport};
use deploy_support::*;

fn lint(dockerfile: &str, context: &Path, args: &[(&str, &str)]) -> (Dockerfile, LintReport) {
    let path = context.join(dockerfile);
    let parsed = Dockerfile::load(&path).unwrap();
    let mut ctx = BuildContext::new(context, &path).unwrap();
    ctx.build_args = args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<BTreeMap<_, _>>();
    let report = parsed.lint(&ctx);
    assert!(
        report.findings.is_empty(),
        "{dockerfile}: {:#?}",
        report.findings
    );
    (parsed, report)
}

fn bases(df: &Dockerfile) -> Vec<&str> {
    df.stages.iter().map(|s| s.image.as_str()).collect()
}

fn final_instruction<'a>(df: &'a Dockerfile, keyword: &str) -> &'a str {
    df.stages
        .last()
        .unwrap()
        .instructions
        .iter()
        .rev()
        .find(|i| i.keyword == keyword)
        .map(|i| i.rest.as_str())
        .unwrap_or_else(|| panic!("no {keyword} in the final stage"))
}

#[test]
fn server_image_layers_dependencies_and_runs_unprivileged() {
    let root = checkout();
    let (df, report) = lint("deploy/docker/server.Dockerfile", &root, &[]);
    assert_eq!(
        bases(&df),
        [
            "rust:1.95-bookworm",
            "rust:1.95-bookworm",
            "debian:bookworm-slim"
        ]
    );
    let build = &df.stages[1];
    let runs: Vec<&str> = build
        .instructions
        .iter()
        .filter(|i| i.keyword == "RUN")
        .map(|i| i.rest.as_str())
        .collect();
    // Dependencies first (from the skeleton), then our sources: two builds, in that order.
    assert!(
        runs[0].starts_with("cargo build --release --locked -p server"),
        "{runs:?}"
    );
    assert!(
        runs[1].contains("touch") && runs[1].contains("--bin server"),
        "{runs:?}"
    );
    let order: Vec<(&str, String)> = build
        .instructions
        .iter()
        .filter(|i| i.keyword == "COPY" || i.keyword == "RUN")
        .map(|i| (i.keyword.as_str(), i.rest.clone()))
        .collect();
    assert_eq!(order[0].0, "COPY");
    assert!(order[0].1.contains("/skeleton/"), "{order:?}");
    assert_eq!(order[1].0, "RUN");
    assert_eq!(order[2], ("COPY", "${SRC}/ ./".to_string()));

    assert_eq!(final_instruction(&df, "USER"), "app");
    assert_eq!(final_instruction(&df, "EXPOSE"), "8080");
    assert!(
        final_instruction(&df, "HEALTHCHECK").contains("[\"http-probe\", \"8080\", \"/readyz\"]")
    );
    let copied: Vec<&str> = report.copies.iter().map(|c| c.source.as_str()).collect();
    assert!(
        copied.contains(&"deploy/docker/http-probe.sh"),
        "{copied:?}"
    );
}

#[test]
fn engine_image_builds_edge_in_layers_and_runs_fused_unprivileged() {
    let (df, report) = lint("deploy/docker/engine.Dockerfile", &checkout(), &[]);
    assert_eq!(
        bases(&df),
        [
            "rust:1.95-bookworm",
            "rust:1.95-bookworm",
            "debian:bookworm-slim"
        ]
    );
    let build = &df.stages[1];
    let order: Vec<(&str, String)> = build
        .instructions
        .iter()
        .filter(|i| i.keyword == "COPY" || i.keyword == "RUN")
        .map(|i| (i.keyword.as_str(), i.rest.clone()))
        .collect();
    // The skeleton's dependencies of `edge` in their own layer, then our sources.
    assert!(
        order[0].0 == "COPY" && order[0].1.contains("/skeleton/"),
        "{order:?}"
    );
    assert_eq!(
        order[1],
        ("RUN", "cargo build --release --locked -p edge".to_string())
    );
    assert_eq!(order[2], ("COPY", "${SRC}/ ./".to_string()));
    assert!(
        order[3].1.contains("touch") && order[3].1.contains("-p edge --bin edge"),
        "{order:?}"
    );

    assert_eq!(final_instruction(&df, "USER"), "app");
    assert_eq!(final_instruction(&df, "EXPOSE"), "8443 8080");
    assert!(
        final_instruction(&df, "HEALTHCHECK").contains("[\"http-probe\", \"8080\", \"/healthz\"]")
    );
    assert_eq!(
        final_instruction(&df, "ENTRYPOINT"),
        "[\"/usr/local/bin/edge\"]"
    );
    let env = final_instruction(&df, "ENV");
    assert!(env.contains("EDGE_MODE=fused"), "{env}");
    assert!(env.contains("DATASET_PATH=/data/dataset.json"), "{env}");
    let copied: Vec<&str> = report.copies.iter().map(|c| c.source.as_str()).collect();
    assert!(
        copied.contains(&"deploy/docker/http-probe.sh"),
        "{copied:?}"
    );
}

#[test]
fn authsvc_image_matches_the_server_image_shape() {
    let (df, _) = lint("deploy/docker/authsvc.Dockerfile", &checkout(), &[]);
    assert_eq!(
        bases(&df),
        [
            "rust:1.95-bookworm",
            "rust:1.95-bookworm",
            "debian:bookworm-slim"
        ]
    );
    assert_eq!(final_instruction(&df, "USER"), "app");
    assert_eq!(final_instruction(&df, "EXPOSE"), "9090");
    assert!(final_instruction(&df, "HEALTHCHECK").contains("\"9090\", \"/_health\""));
    assert_eq!(
        final_instruction(&df, "ENTRYPOINT"),
        "[\"/usr/local/bin/authsvc\"]"
    );
}

#[test]
fn edge_image_is_nginx_with_the_generated_config_for_each_profile() {
    let root = checkout();
    for (args, conf) in [
        (vec![], "deploy/docker/nginx.production.conf"),
        (
            vec![("NGINX_CONF", "deploy/docker/nginx.tuned.conf")],
            "deploy/docker/nginx.tuned.conf",
        ),
    ] {
        let (df, report) = lint("deploy/docker/edge.Dockerfile", &root, &args);
        assert_eq!(bases(&df), ["nginx:1.27-alpine"]);
        let copy = report
            .copies
            .iter()
            .find(|c| c.destination == "/etc/nginx/nginx.conf")
            .unwrap();
        assert_eq!(copy.source, conf);
        // The master runs as root (the image's design); the workers must not.
        let text = std::fs::read_to_string(root.join(conf)).unwrap();
        assert!(text.contains("\nuser nginx;\n"), "{conf}");
        assert!(
            final_instruction(&df, "CMD").contains("\"-c\", \"/etc/nginx/nginx.conf\""),
            "our config says `daemon off;`: the image's default command would repeat it"
        );
    }
}

#[test]
fn exported_dockerfiles_lint_against_httparenas_layout() {
    let out = tempfile::tempdir().unwrap();
    let result = prodstack(&[
        "export-httparena",
        "--name",
        "prodstack",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    // HttpArena's build context is its repository root; only our folder is sent.
    let (_, report) = lint("frameworks/prodstack/Dockerfile", out.path(), &[]);
    assert!(report
        .copies
        .iter()
        .any(|c| c.source == "frameworks/prodstack/deploy/docker/http-probe.sh"));
    // Something else in HttpArena's repository is not part of the context.
    std::fs::create_dir_all(out.path().join("frameworks/other")).unwrap();
    std::fs::write(out.path().join("frameworks/other/x"), "x").unwrap();
    let ctx = BuildContext::new(
        out.path(),
        &out.path().join("frameworks/prodstack/Dockerfile"),
    )
    .unwrap();
    assert!(ctx.ignore.is_excluded("frameworks/other/x"));
    assert!(!ctx
        .ignore
        .is_excluded("frameworks/prodstack/crates/server/src/main.rs"));

    let entry = out.path().join("frameworks/prodstack");
    let (df, _) = lint("Dockerfile", &entry.join("edge"), &[]);
    assert_eq!(bases(&df), ["nginx:1.27-alpine"]);
}

#[test]
fn the_exported_engine_dockerfile_lints_against_httparenas_layout() {
    let out = tempfile::tempdir().unwrap();
    let result = prodstack(&[
        "export-httparena",
        "--name",
        "prodstack-engine",
        "--category",
        "engine",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let (df, report) = lint("frameworks/prodstack-engine/Dockerfile", out.path(), &[]);
    assert_eq!(
        final_instruction(&df, "ENTRYPOINT"),
        "[\"/usr/local/bin/edge\"]"
    );
    assert!(report
        .copies
        .iter()
        .any(|c| c.source == "frameworks/prodstack-engine/deploy/docker/http-probe.sh"));
}

#[test]
fn a_dockerfile_referencing_a_missing_file_fails_compose_check() {
    let dir = mirror_checkout();
    // A real Dockerfile next to the linked deploy/docker, copying a file that does not exist.
    std::fs::write(
        dir.path().join("broken.Dockerfile"),
        "FROM debian:bookworm-slim\nCOPY deploy/docker/missing.sh /x\nUSER app\nEXPOSE 8080\nHEALTHCHECK CMD [\"x\"]\nCMD [\"x\"]\n",
    )
    .unwrap();
    let mut doc = load_yaml(&checkout().join("deploy/compose.production-stack.yml"));
    set(
        service(&mut doc, "server").get_mut("build").unwrap(),
        "dockerfile",
        "broken.Dockerfile".into(),
    );
    let copy = dir.path().join("deploy/compose.production-stack.yml");
    save_yaml(&copy, &doc);
    let result = prodstack(&["compose-check", copy.to_str().unwrap()]);
    assert_eq!(result.status.code(), Some(1));
    let text = stdout(&result);
    assert!(
        text.contains("service `server`: build.dockerfile: ")
            && text.contains("line 2: COPY source `deploy/docker/missing.sh` does not exist in the build context"),
        "{text}"
    );
}

/// Runs deploy/docker/cargo-skeleton.sh in `workspace` and checks the skeleton: the same
/// manifests and lock, only empty stand-ins for sources, and cargo accepts it `--locked` for
/// `package`.
fn check_skeleton(workspace: &Path, packages: &[&str]) {
    let out = tempfile::tempdir().unwrap();
    let skeleton = out.path().join("skeleton");
    let status = Command::new("sh")
        .arg(checkout().join("deploy/docker/cargo-skeleton.sh"))
        .arg(&skeleton)
        .current_dir(workspace)
        .status()
        .unwrap();
    assert!(status.success());
    let mut manifests = 0;
    let mut stand_ins = 0;
    for entry in walk(&skeleton) {
        let relative = entry.strip_prefix(&skeleton).unwrap();
        let text = std::fs::read_to_string(&entry).unwrap();
        let name = relative.file_name().unwrap().to_string_lossy();
        if name == "Cargo.toml" || name == "Cargo.lock" {
            assert_eq!(
                text,
                std::fs::read_to_string(workspace.join(relative)).unwrap()
            );
            manifests += 1;
        } else {
            assert!(
                text.is_empty() || text == "fn main() {}\n",
                "{} is not a stand-in: {text:?}",
                relative.display()
            );
            assert!(
                workspace.join(relative).exists(),
                "{} has no real counterpart",
                relative.display()
            );
            stand_ins += 1;
        }
    }
    assert!(
        manifests >= 3 && stand_ins >= 2,
        "{manifests} manifests, {stand_ins} stand-ins"
    );
    for package in packages {
        let tree = Command::new(env!("CARGO"))
            .args([
                "tree",
                "--locked",
                "--offline",
                "-e",
                "normal",
                "-p",
                package,
            ])
            .current_dir(&skeleton)
            .output()
            .unwrap();
        assert!(
            tree.status.success(),
            "{package}: {}",
            String::from_utf8_lossy(&tree.stderr)
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_dependency_skeleton_is_a_locked_workspace() {
    check_skeleton(&checkout(), &["server", "authsvc", "edge"]);
    let out = tempfile::tempdir().unwrap();
    let result = prodstack(&[
        "export-httparena",
        "--name",
        "prodstack",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    check_skeleton(&out.path().join("frameworks/prodstack"), &["server"]);
    let result = prodstack(&[
        "export-httparena",
        "--name",
        "prodstack-engine",
        "--category",
        "engine",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    check_skeleton(&out.path().join("frameworks/prodstack-engine"), &["edge"]);
}

#[test]
fn the_build_context_leaves_build_output_and_local_state_out() {
    let ignore = std::fs::read_to_string(checkout().join(".dockerignore")).unwrap();
    let rules = deploy::compose_check::dockerignore::DockerIgnore::parse(&ignore);
    assert!(rules.is_excluded("target/release/server"));
    assert!(rules.is_excluded(".prodstack/pgdata/PG_VERSION"));
    assert!(!rules.is_excluded("crates/server/src/main.rs"));
    assert!(!rules.is_excluded("deploy/docker/http-probe.sh"));
}
