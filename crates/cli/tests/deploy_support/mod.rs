//! Shared helpers of the `deploy_*` tests: the checkout, the CLI binary, mutable copies of the
//! compose files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_yaml::Value;

/// The checkout root (the workspace of this crate).
pub fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs `prodstack ARGS` against this checkout.
pub fn prodstack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prodstack"))
        .args(args)
        .env("PRODSTACK_ROOT", checkout())
        .env_remove("PRODSTACK_HOME")
        .output()
        .unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A temporary folder laid out like the checkout where the compose files need it: `deploy/docker`
/// (a link to the real one, so build contexts and Dockerfiles resolve) and `.dockerignore`.
/// Compose files written to `<tmp>/deploy/` then differ from the shipped ones only by what a
/// test changes.
pub fn mirror_checkout() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("prodstack-deploy-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(dir.path().join("deploy")).unwrap();
    std::os::unix::fs::symlink(
        checkout().join("deploy/docker"),
        dir.path().join("deploy/docker"),
    )
    .unwrap();
    std::fs::copy(
        checkout().join(".dockerignore"),
        dir.path().join(".dockerignore"),
    )
    .unwrap();
    dir
}

pub fn load_yaml(path: &Path) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn save_yaml(path: &Path, value: &Value) {
    std::fs::write(path, serde_yaml::to_string(value).unwrap()).unwrap();
}

/// `doc.services.<service>` for mutation.
pub fn service<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    doc.get_mut("services")
        .and_then(|s| s.get_mut(name))
        .unwrap_or_else(|| panic!("no service {name}"))
}

/// Removes `key` from a YAML map.
pub fn remove(map: &mut Value, key: &str) {
    map.as_mapping_mut()
        .unwrap()
        .remove(Value::String(key.into()))
        .unwrap_or_else(|| panic!("no key {key}"));
}

pub fn set(map: &mut Value, key: &str, value: Value) {
    map.as_mapping_mut()
        .unwrap()
        .insert(Value::String(key.into()), value);
}

pub fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}
