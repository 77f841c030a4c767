//! `prodstack export-httparena`: our server as an HttpArena entry, and the checkout's generated
//! deployment files.
//!
//! `--name NAME --out DIR [--category production|tuned|engine]` writes `DIR/frameworks/NAME/`,
//! ready to be copied into HttpArena's `frameworks/` for a pull request:
//!
//! ```text
//! meta.json                      type production|tuned|engine, tests ["production-stack"], Rust
//! README.md                      stack, endpoints, cache design, CPU split
//! compose.production-stack.yml   production|tuned: edge, cache, authsvc
//!                                `build: ../_shared/authsvc` (HttpArena's, unmodified), server;
//!                                engine: edge (the fused Rust engine) and cache
//! Dockerfile                     the server image (engine: the engine image), `context: ../../`
//! Dockerfile.dockerignore        only this folder travels to the builder
//! edge/Dockerfile, edge/nginx.conf   production|tuned only: the nginx edge
//! Cargo.toml, Cargo.lock         a trimmed workspace: only the crates the image's binary needs
//! crates/<crate>/...             their sources (tests, benches, examples and dev-deps left out)
//! deploy/docker/*.sh             the skeleton builder and the health probe the Dockerfile uses
//! ```
//!
//! HttpArena reads `compose.production-stack.yml` whatever the category, so the engine's
//! two-service file has that name inside an export (and is `deploy/compose.engine.yml` in the
//! checkout).
//!
//! The folder is assembled in a temporary folder next to its destination, checked with
//! `compose-check` (the same rules the tests apply), and only then moved into place; an
//! existing folder is replaced only with `--force`.
//!
//! `--write-deploy` instead (re)writes the checkout's generated files: the three compose files
//! (production, tuned, engine) and the nginx edge's configs (see [`render`]).

pub mod render;
mod services;
pub mod split;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use stack::nginx::Template;
use stack::Profile;
use toml_edit::{Array, DocumentMut, Item};

use crate::compose_check;
use render::Target;
use stack::Project;

/// Files of the checkout's `deploy/docker/` that an export carries (the server Dockerfile runs
/// them).
const EXPORTED_SCRIPTS: [&str; 2] = [
    "deploy/docker/cargo-skeleton.sh",
    "deploy/docker/http-probe.sh",
];

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The entry's name: its folder under `frameworks/` and its display name.
    #[arg(long, required_unless_present = "write_deploy")]
    pub name: Option<String>,
    /// Where to write `frameworks/NAME/` (e.g. a clone of HttpArena).
    #[arg(long, value_name = "DIR", required_unless_present = "write_deploy")]
    pub out: Option<PathBuf>,
    /// HttpArena category of the entry.
    #[arg(long, value_enum, default_value_t = Category::Production)]
    pub category: Category,
    /// Replace an existing `frameworks/NAME/`.
    #[arg(long)]
    pub force: bool,
    /// Instead of exporting, rewrite the checkout's generated deployment files
    /// (deploy/compose.{production-stack,tuned,engine}.yml, deploy/docker/nginx.*.conf).
    #[arg(long, conflicts_with_all = ["name", "out", "force"])]
    pub write_deploy: bool,
}

/// HttpArena's entry categories (meta.json `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Category {
    /// Reference settings, HttpArena's shared authsvc.
    Production,
    /// Documented tuning of the same four services.
    Tuned,
    /// Our own Rust engine (`crates/edge`, fused with the app server) and the cache.
    Engine,
}

impl Category {
    pub const ALL: [Category; 3] = [Category::Production, Category::Tuned, Category::Engine];

    /// meta.json's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Production => "production",
            Category::Tuned => "tuned",
            Category::Engine => "engine",
        }
    }

    /// The nginx stack profile of the four-service categories; `None` for the engine, which
    /// has neither nginx nor a profile.
    pub fn profile(self) -> Option<Profile> {
        match self {
            Category::Production => Some(Profile::Production),
            Category::Tuned => Some(Profile::Tuned),
            Category::Engine => None,
        }
    }

    /// The workspace binary the entry's own image runs: the server behind nginx, or the engine.
    pub fn image_package(self) -> &'static str {
        match self {
            Category::Production | Category::Tuned => "server",
            Category::Engine => "edge",
        }
    }

    /// The checkout's Dockerfile of that image.
    pub fn image_dockerfile(self) -> &'static str {
        match self {
            Category::Production | Category::Tuned => "deploy/docker/server.Dockerfile",
            Category::Engine => "deploy/docker/engine.Dockerfile",
        }
    }
}

impl From<Profile> for Category {
    fn from(profile: Profile) -> Self {
        match profile {
            Profile::Production => Category::Production,
            Profile::Tuned => Category::Tuned,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub fn run(project: &Project, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let root = &project.project_root;
    if args.write_deploy {
        let template = Template::from_checkout(root)?;
        for (path, text) in deploy_files(&template)? {
            let full = root.join(&path);
            let current = std::fs::read_to_string(&full).ok();
            if current.as_deref() == Some(text.as_str()) {
                println!("unchanged  {path}");
            } else {
                write_atomically(&full, &text)?;
                println!("written    {path}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(name), Some(out)) = (args.name, args.out) else {
        bail!("--name and --out are required (or pass --write-deploy)");
    };
    let options = ExportOptions {
        name,
        out,
        category: args.category,
        force: args.force,
    };
    let folder = export(root, &options)?;
    println!(
        "exported {} ({}) to {}",
        options.name,
        options.category,
        folder.display()
    );
    println!(
        "check it with `prodstack compose-check {}`; copy it into HttpArena's frameworks/ for a pull request",
        folder.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The checkout's generated deployment files (path relative to the checkout, contents).
pub fn deploy_files(template: &Template) -> anyhow::Result<Vec<(String, String)>> {
    let note = format!("Regenerate with `{}`.", render::REGENERATE);
    let mut files = Vec::new();
    for category in Category::ALL {
        files.push((
            format!("deploy/{}", render::checkout_compose_file(category)),
            render::compose(&Target::Checkout, category)?,
        ));
        if let Some(profile) = category.profile() {
            files.push((
                render::checkout_nginx_conf(profile),
                render::edge_conf(template, profile, &note)?,
            ));
        }
    }
    Ok(files)
}

/// What to export where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub name: String,
    pub out: PathBuf,
    pub category: Category,
    pub force: bool,
}

/// Writes `out/frameworks/NAME/` from the checkout at `project_root`; returns that folder.
pub fn export(project_root: &Path, options: &ExportOptions) -> anyhow::Result<PathBuf> {
    check_name(&options.name)?;
    let frameworks = options.out.join("frameworks");
    let dest = frameworks.join(&options.name);
    if dest.exists() && !options.force {
        bail!(
            "{} already exists; pass --force to replace it",
            dest.display()
        );
    }
    std::fs::create_dir_all(&frameworks)
        .with_context(|| format!("creating {}", frameworks.display()))?;

    // Assembled as <staging>/frameworks/NAME so that `context: ../../` resolves inside the
    // staging folder while it is checked; removed on any error.
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}.export-", options.name))
        .tempdir_in(&frameworks)
        .with_context(|| format!("creating a staging folder in {}", frameworks.display()))?;
    let entry = staging.path().join("frameworks").join(&options.name);
    assemble(project_root, &entry, &options.name, options.category)?;

    let checked = compose_check::check_path(&entry)?;
    if !checked.violations.is_empty() {
        let list: Vec<String> = checked.violations.iter().map(|v| v.to_string()).collect();
        bail!(
            "the assembled export breaks HttpArena's rules (a bug in prodstack):\n{}",
            list.join("\n")
        );
    }

    if dest.exists() {
        // --force: move the old folder into the staging area first, so it is deleted with it
        // and never mixed with the new files.
        std::fs::rename(&dest, staging.path().join("replaced"))
            .with_context(|| format!("moving the existing {} aside", dest.display()))?;
    }
    std::fs::rename(&entry, &dest)
        .with_context(|| format!("moving the export into {}", dest.display()))?;
    Ok(dest)
}

/// HttpArena uses the name as a folder and inside compose project names (lowercase letters,
/// digits, `-`, `_`).
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if !ok {
        bail!(
            "`{name}` is not a usable entry name: use lowercase letters, digits, `-` and `_`, starting with a letter or digit (it becomes frameworks/{name}/ and part of compose project names)"
        );
    }
    Ok(())
}

/// Writes every file of the export into `entry`.
fn assemble(
    project_root: &Path,
    entry: &Path,
    name: &str,
    category: Category,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(entry).with_context(|| format!("creating {}", entry.display()))?;
    let manifest = std::fs::read_to_string(project_root.join("Cargo.toml"))
        .context("reading the workspace Cargo.toml")?;
    let repo = workspace_repository(&manifest)?;

    // The crates the image's binary needs, with their sources.
    let crates = workspace_crates(project_root, category.image_package())?;
    for krate in &crates {
        copy_crate(&krate.dir, &entry.join(&krate.relative_dir))?;
    }
    let members: Vec<String> = crates.iter().map(|c| c.relative_dir.clone()).collect();
    let names: BTreeSet<String> = crates.iter().map(|c| c.name.clone()).collect();
    write(
        &entry.join("Cargo.toml"),
        &trim_workspace_manifest(&manifest, &members, &names)?,
    )?;
    trim_lock(project_root, entry)?;

    for script in EXPORTED_SCRIPTS {
        let text = std::fs::read_to_string(project_root.join(script))
            .with_context(|| format!("reading {script}"))?;
        write_executable(&entry.join(script), &text)?;
    }

    let image_dockerfile = category.image_dockerfile();
    let dockerfile = std::fs::read_to_string(project_root.join(image_dockerfile))
        .with_context(|| format!("reading {image_dockerfile}"))?;
    write(
        &entry.join("Dockerfile"),
        &with_arg_default(&dockerfile, "SRC", &format!("frameworks/{name}"))?,
    )?;
    write(
        &entry.join("Dockerfile.dockerignore"),
        &render::export_dockerignore(name),
    )?;

    // The nginx edge of the four-service categories; the engine is its own edge.
    if let Some(profile) = category.profile() {
        let edge_dockerfile =
            std::fs::read_to_string(project_root.join("deploy/docker/edge.Dockerfile"))
                .context("reading deploy/docker/edge.Dockerfile")?;
        write(
            &entry.join("edge/Dockerfile"),
            &with_arg_default(&edge_dockerfile, "NGINX_CONF", "nginx.conf")?,
        )?;
        let template = Template::from_checkout(project_root)?;
        write(
            &entry.join("edge/nginx.conf"),
            &render::edge_conf(
                &template,
                profile,
                "Written by `prodstack export-httparena`; regenerate the export instead of editing.",
            )?,
        )?;
    }

    let target = Target::HttpArena {
        name: name.to_string(),
    };
    write(
        &entry.join(compose_check::EXPORT_COMPOSE_FILE),
        &render::compose(&target, category)?,
    )?;
    write(
        &entry.join("meta.json"),
        &render::meta_json(name, category, &repo),
    )?;
    write(
        &entry.join("README.md"),
        &render::readme(name, category, &repo)?,
    )?;
    Ok(())
}

/// A workspace member an image build needs.
#[derive(Debug, Clone)]
struct Crate {
    name: String,
    dir: PathBuf,
    /// Relative to the workspace root, `/`-separated (`crates/server`).
    relative_dir: String,
}

/// `package` and every workspace member it depends on (normal and build dependencies,
/// transitively), from `cargo metadata --no-deps` (offline: it resolves nothing).
fn workspace_crates(project_root: &Path, package: &str) -> anyhow::Result<Vec<Crate>> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .current_dir(project_root)
        .no_deps()
        .other_options(vec!["--offline".to_string()])
        .exec()
        .with_context(|| format!("running `cargo metadata` in {}", project_root.display()))?;
    let root = PathBuf::from(metadata.workspace_root.as_std_path());
    let mut by_name: BTreeMap<String, (PathBuf, Vec<String>)> = BTreeMap::new();
    for package in &metadata.packages {
        let deps = package
            .dependencies
            .iter()
            .filter(|d| d.path.is_some() && d.kind != cargo_metadata::DependencyKind::Development)
            .map(|d| d.name.clone())
            .collect();
        let dir = package
            .manifest_path
            .parent()
            .map(|dir| dir.as_std_path().to_path_buf())
            .unwrap_or_default();
        by_name.insert(package.name.to_string(), (dir, deps));
    }
    if !by_name.contains_key(package) {
        bail!(
            "`{package}` is not a member of the workspace at {} (its Cargo.toml `members`); the export builds its image from it",
            project_root.display()
        );
    }
    let mut wanted = vec![package.to_string()];
    let mut seen = BTreeSet::new();
    let mut crates = Vec::new();
    while let Some(name) = wanted.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some((dir, deps)) = by_name.get(&name) else {
            bail!("workspace member `{name}` not found by `cargo metadata`");
        };
        let relative_dir = dir
            .strip_prefix(&root)
            .with_context(|| format!("{} is outside the workspace", dir.display()))?
            .to_string_lossy()
            .replace('\\', "/");
        crates.push(Crate {
            name: name.clone(),
            dir: dir.clone(),
            relative_dir,
        });
        wanted.extend(deps.iter().cloned());
    }
    crates.sort_by(|a, b| a.relative_dir.cmp(&b.relative_dir));
    Ok(crates)
}

/// Folders of a crate that an image build never needs.
const LEFT_OUT: [&str; 4] = ["tests", "benches", "examples", "target"];

/// Copies a crate's sources, without tests, benches, examples and dev-only manifest sections.
fn copy_crate(from: &Path, to: &Path) -> anyhow::Result<()> {
    let manifest = std::fs::read_to_string(from.join("Cargo.toml"))
        .with_context(|| format!("reading {}", from.join("Cargo.toml").display()))?;
    write(&to.join("Cargo.toml"), &strip_dev_sections(&manifest)?)?;
    copy_tree(from, to, true)
}

fn copy_tree(from: &Path, to: &Path, crate_root: bool) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", from.display()))?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        let file_type = entry.file_type()?;
        if crate_root && (LEFT_OUT.contains(&name_str.as_ref()) || name_str == "Cargo.toml") {
            continue;
        }
        if name_str.starts_with('.') {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if file_type.is_dir() {
            copy_tree(&src, &dst, false)?;
        } else if file_type.is_file() {
            if let Some(parent) = dst.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(&src, &dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

/// Drops `[dev-dependencies]` (any form, `[target.*.dev-dependencies]` too), `[[bench]]`,
/// `[[test]]` and `[[example]]`: their files are not exported, and dev-dependencies would name
/// workspace crates that are not either. Everything else is kept as written (`toml_edit`).
pub fn strip_dev_sections(manifest: &str) -> anyhow::Result<String> {
    let mut doc: DocumentMut = manifest.parse().context("parsing a crate's Cargo.toml")?;
    for key in [
        "dev-dependencies",
        "dev_dependencies",
        "bench",
        "test",
        "example",
    ] {
        doc.remove(key);
    }
    if let Some(targets) = doc.get_mut("target").and_then(Item::as_table_like_mut) {
        for (_, target) in targets.iter_mut() {
            if let Some(target) = target.as_table_like_mut() {
                target.remove("dev-dependencies");
                target.remove("dev_dependencies");
            }
        }
    }
    Ok(doc.to_string())
}

/// The workspace manifest with `members` = the exported crates and without the path
/// dependencies of the others. Everything else (pins, profiles, comments) is kept verbatim.
pub fn trim_workspace_manifest(
    manifest: &str,
    members: &[String],
    exported: &BTreeSet<String>,
) -> anyhow::Result<String> {
    let mut doc: DocumentMut = manifest
        .parse()
        .context("parsing the workspace Cargo.toml")?;
    let workspace = doc
        .get_mut("workspace")
        .and_then(Item::as_table_like_mut)
        .context("the workspace Cargo.toml has no [workspace] table")?;
    let Some(list) = workspace.get_mut("members") else {
        bail!("the workspace Cargo.toml has no `members = [...]` list to trim");
    };
    *list = toml_edit::value(members.iter().map(String::as_str).collect::<Array>());
    if let Some(deps) = workspace
        .get_mut("dependencies")
        .and_then(Item::as_table_like_mut)
    {
        let dropped: Vec<String> = deps
            .iter()
            .filter(|(name, dep)| {
                let is_path = dep
                    .as_table_like()
                    .is_some_and(|table| table.contains_key("path"));
                is_path && !exported.contains(*name)
            })
            .map(|(name, _)| name.to_string())
            .collect();
        for name in dropped {
            deps.remove(&name);
        }
    }
    Ok(doc.to_string())
}

/// Copies the checkout's Cargo.lock and lets cargo drop what the trimmed workspace no longer
/// uses (`cargo update --workspace --offline` keeps every other version as locked). Verifies
/// that no version changed.
fn trim_lock(project_root: &Path, entry: &Path) -> anyhow::Result<()> {
    let original = std::fs::read_to_string(project_root.join("Cargo.lock"))
        .context("reading the workspace Cargo.lock")?;
    write(&entry.join("Cargo.lock"), &original)?;
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["update", "--workspace", "--offline"])
        .current_dir(entry)
        .output()
        .context("running `cargo update --workspace --offline`")?;
    if !output.status.success() {
        bail!(
            "trimming Cargo.lock for the export failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let trimmed = std::fs::read_to_string(entry.join("Cargo.lock"))
        .context("reading the trimmed Cargo.lock")?;
    let before = locked_packages(&original)?;
    let changed: Vec<String> = locked_packages(&trimmed)?
        .difference(&before)
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    if !changed.is_empty() {
        bail!(
            "trimming Cargo.lock changed locked versions ({}); the export must build exactly what the checkout builds",
            changed.join(", ")
        );
    }
    Ok(())
}

/// `(name, version)` of every `[[package]]` of a Cargo.lock.
pub fn locked_packages(lock: &str) -> anyhow::Result<BTreeSet<(String, String)>> {
    let doc: DocumentMut = lock.parse().context("parsing Cargo.lock")?;
    let packages = doc
        .get("package")
        .and_then(Item::as_array_of_tables)
        .context("Cargo.lock has no [[package]] entries")?;
    Ok(packages
        .iter()
        .filter_map(|package| {
            let field = |key: &str| package.get(key).and_then(Item::as_str).map(str::to_string);
            Some((field("name")?, field("version")?))
        })
        .collect())
}

/// `repository = "..."` of `[workspace.package]`.
fn workspace_repository(manifest: &str) -> anyhow::Result<String> {
    let doc: DocumentMut = manifest
        .parse()
        .context("parsing the workspace Cargo.toml")?;
    Ok(doc
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("repository"))
        .and_then(Item::as_str)
        .unwrap_or("https://github.com/prodstack/prodstack")
        .to_string())
}

/// Replaces the default of `ARG name=...` (exactly one such line must exist).
pub fn with_arg_default(dockerfile: &str, name: &str, value: &str) -> anyhow::Result<String> {
    let prefix = format!("ARG {name}=");
    let count = dockerfile
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .count();
    if count != 1 {
        bail!("expected exactly one `{prefix}...` line in the Dockerfile, found {count}");
    }
    let mut out = String::new();
    for line in dockerfile.lines() {
        if line.starts_with(&prefix) {
            out.push_str(&format!("{prefix}{value}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn write_executable(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

/// Temp file + rename: an interrupted `--write-deploy` never leaves half a file.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent folder", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_suit_folders_and_compose_projects() {
        for ok in ["prodstack", "prodstack-rust_2"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Prodstack", "-x", "a/b", "a b", "..", "é"] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(err.contains("not a usable entry name"), "{bad}: {err}");
        }
    }

    #[test]
    fn categories_name_their_profile_image_and_meta_type() {
        assert_eq!(Category::Tuned.profile(), Some(Profile::Tuned));
        assert_eq!(Category::Production.profile(), Some(Profile::Production));
        // The engine has no nginx, hence no nginx profile; its image is the engine binary.
        assert_eq!(Category::Engine.profile(), None);
        assert_eq!(Category::Engine.image_package(), "edge");
        assert_eq!(
            Category::Engine.image_dockerfile(),
            "deploy/docker/engine.Dockerfile"
        );
        assert_eq!(Category::Tuned.image_package(), "server");
        let types: Vec<String> = Category::ALL.iter().map(|c| c.to_string()).collect();
        assert_eq!(types, ["production", "tuned", "engine"]);
        for profile in Profile::ALL {
            assert_eq!(Category::from(profile).profile(), Some(profile));
        }
    }

    #[test]
    fn deploy_files_add_the_engine_compose_without_an_nginx_config() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let template = Template::from_checkout(&root).unwrap();
        let paths: Vec<String> = deploy_files(&template)
            .unwrap()
            .into_iter()
            .map(|(path, _)| path)
            .collect();
        assert_eq!(
            paths,
            [
                "deploy/compose.production-stack.yml",
                "deploy/docker/nginx.production.conf",
                "deploy/compose.tuned.yml",
                "deploy/docker/nginx.tuned.conf",
                "deploy/compose.engine.yml",
            ]
        );
    }

    #[test]
    fn dev_sections_are_stripped() {
        let manifest = "[package]\nname = \"c\"\n\n[dependencies]\na.workspace = true\n\n[dev-dependencies]\nstack.workspace = true\n\n[target.'cfg(unix)'.dev-dependencies]\nx = \"1\"\n\n[[bench]]\nname = \"b\"\nharness = false\n\n[features]\ndefault = []\n";
        let out = strip_dev_sections(manifest).unwrap();
        assert_eq!(
            out,
            "[package]\nname = \"c\"\n\n[dependencies]\na.workspace = true\n\n[features]\ndefault = []\n"
        );
    }

    #[test]
    fn workspace_manifest_keeps_only_exported_members() {
        let manifest = "[workspace]\nmembers = [\n    \"crates/jwt\",\n    \"crates/server\",\n]\n\n[workspace.dependencies]\njwt = { path = \"crates/jwt\" }\nserver = { path = \"crates/server\" }\ntokio = { version = \"1\", default-features = false }\n\n[profile.release]\nlto = \"fat\"\n";
        let exported = BTreeSet::from(["server".to_string()]);
        let out = trim_workspace_manifest(manifest, &["crates/server".into()], &exported).unwrap();
        assert_eq!(
            out,
            "[workspace]\nmembers = [\"crates/server\"]\n\n[workspace.dependencies]\nserver = { path = \"crates/server\" }\ntokio = { version = \"1\", default-features = false }\n\n[profile.release]\nlto = \"fat\"\n"
        );
        assert!(trim_workspace_manifest("[package]\n", &[], &exported).is_err());
    }

    #[test]
    fn arg_defaults_are_replaced_once() {
        let out =
            with_arg_default("ARG SRC=.\nFROM x:1\nARG SRC\n", "SRC", "frameworks/a").unwrap();
        assert_eq!(out, "ARG SRC=frameworks/a\nFROM x:1\nARG SRC\n");
        assert!(with_arg_default("FROM x:1\n", "SRC", "a").is_err());
    }

    #[test]
    fn lock_packages_are_read() {
        let lock = "version = 4\n\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\n\n[[package]]\nname = \"b\"\nversion = \"0.2.1\"\nsource = \"x\"\n";
        let packages = locked_packages(lock).unwrap();
        assert!(locked_packages("version = 4\n").is_err());
        assert_eq!(
            packages,
            BTreeSet::from([
                ("a".to_string(), "1.0.0".to_string()),
                ("b".to_string(), "0.2.1".to_string())
            ])
        );
    }
}
