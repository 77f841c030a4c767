//! Offline stand-ins for the upstream base images, for engines that cannot pull.
//!
//! Where no registry can be reached, `FROM rust:1.95-bookworm` (and every other base image of
//! our Dockerfiles and of HttpArena's) cannot be resolved. Each stand-in below is built only
//! when the real image is neither present nor pullable, from this machine's own parts: a
//! Debian 12 root filesystem made by `debootstrap`, Debian's packages, and the host's Rust
//! toolchain and CA bundle. Every one carries `org.prodstack.stand-in=<the image it stands
//! for>` and `org.prodstack.stand-in-version=<digest of its definition>`, and is rebuilt only
//! when that digest changes, so a second run reuses them. Each is documented in its Dockerfile
//! under `crates/docker/stand-ins/`; what differs from the real image: Debian instead of
//! Alpine, nginx 1.22 instead of 1.27, PostgreSQL 15 instead of 18, glibc instead of musl.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::engine::Engine;
use crate::install::{self, DEBOOTSTRAP};
use crate::{io, DockerError, DockerHome, Result};

/// The label naming the image a stand-in stands for.
pub const LABEL: &str = "org.prodstack.stand-in";
/// The label holding the digest of its definition.
pub const VERSION_LABEL: &str = "org.prodstack.stand-in-version";

/// The Debian release and mirror of the root filesystem.
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";

/// How a stand-in is made.
#[derive(Debug, Clone, Copy)]
pub enum Recipe {
    /// `debootstrap --variant=minbase` imported as an image.
    Debootstrap,
    /// `docker build` of a Dockerfile over the other stand-ins.
    Dockerfile(&'static str),
}

/// One upstream image and its stand-in.
#[derive(Debug, Clone, Copy)]
pub struct StandIn {
    pub image: &'static str,
    pub recipe: Recipe,
}

/// In build order: each is built only from those before it.
pub const ALL: [StandIn; 7] = [
    StandIn {
        image: "debian:bookworm-slim",
        recipe: Recipe::Debootstrap,
    },
    StandIn {
        image: "rust:1.95-bookworm",
        recipe: Recipe::Dockerfile(include_str!("../stand-ins/rust.Dockerfile")),
    },
    StandIn {
        image: "rust:1-alpine",
        recipe: Recipe::Dockerfile(include_str!("../stand-ins/rust-alpine.Dockerfile")),
    },
    StandIn {
        image: "alpine:3.20",
        recipe: Recipe::Dockerfile(include_str!("../stand-ins/alpine.Dockerfile")),
    },
    StandIn {
        image: "nginx:1.27-alpine",
        recipe: Recipe::Dockerfile(include_str!("../stand-ins/nginx.Dockerfile")),
    },
    StandIn {
        image: "redis:7-alpine",
        recipe: Recipe::Dockerfile(include_str!("../stand-ins/redis.Dockerfile")),
    },
    StandIn {
        image: "postgres:18",
        recipe: Recipe::Dockerfile(include_str!("../stand-ins/postgres.Dockerfile")),
    },
];

/// Files the Dockerfiles copy besides the toolchain and the CA bundle.
const FILES: [(&str, &str); 2] = [
    ("apk", include_str!("../stand-ins/apk")),
    (
        "postgres-entrypoint.sh",
        include_str!("../stand-ins/postgres-entrypoint.sh"),
    ),
];

/// What happened to one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The real image is there (present or pulled).
    Real,
    /// Our stand-in of this definition was already there.
    Reused,
    /// Built now, in this long.
    Built(Duration),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Real => f.write_str("the real image"),
            Outcome::Reused => f.write_str("stand-in (reused)"),
            Outcome::Built(took) => write!(f, "stand-in built in {}", crate::secs(*took)),
        }
    }
}

impl StandIn {
    /// The digest that decides whether an existing stand-in is current.
    pub fn version(&self, toolchain: &str) -> String {
        let mut hash = Sha256::new();
        hash.update(self.image);
        match self.recipe {
            Recipe::Debootstrap => hash.update(format!("debootstrap minbase {SUITE} {MIRROR}")),
            Recipe::Dockerfile(text) => {
                hash.update(text);
                for (name, content) in FILES {
                    hash.update(name);
                    hash.update(content);
                }
                hash.update(toolchain);
            }
        }
        hash.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The `rustc` the rust stand-in copies, and its version line.
fn host_toolchain() -> Result<(PathBuf, String)> {
    let run = |args: &[&str]| -> Result<String> {
        let out = Command::new("rustc")
            .args(args)
            .output()
            .map_err(|_| DockerError::Missing {
                what: "rustc (the host's Rust toolchain, copied into the rust stand-in)".into(),
                hint: "install Rust (https://rustup.rs)".into(),
            })?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    Ok((
        PathBuf::from(run(&["--print", "sysroot"])?),
        run(&["--version"])?,
    ))
}

/// The stand-in label of `image`: `None` when absent, `Some("")` for a real image.
fn label(engine: &Engine, image: &str) -> Option<String> {
    let out = engine
        .docker()
        .args(["image", "inspect", "--format"])
        .arg(format!("{{{{index .Config.Labels \"{VERSION_LABEL}\"}}}}"))
        .arg(image)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| {
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if text == "<no value>" {
            String::new()
        } else {
            text
        }
    })
}

/// `docker pull image`, within 60 s.
fn pull(engine: &Engine, image: &str) -> bool {
    let Ok(mut child) = engine
        .docker()
        .args(["pull", "--quiet", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let began = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if began.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(100))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Makes sure every image of `wanted` (by name; all of [`ALL`] when empty) resolves: real,
/// reused stand-in, or a stand-in built now.
pub fn ensure(
    engine: &Engine,
    home: &DockerHome,
    wanted: &[&str],
    allow_install: bool,
    say: &mut dyn FnMut(&str),
) -> Result<Vec<(&'static str, Outcome)>> {
    let (sysroot, toolchain) = host_toolchain()?;
    let mut outcomes = Vec::new();
    for stand_in in ALL {
        if !wanted.is_empty() && !wanted.contains(&stand_in.image) {
            continue;
        }
        let version = stand_in.version(&toolchain);
        let outcome = match label(engine, stand_in.image) {
            Some(existing) if existing == version => Outcome::Reused,
            Some(existing) if existing.is_empty() => Outcome::Real,
            existing => {
                if existing.is_none() && pull(engine, stand_in.image) {
                    Outcome::Real
                } else {
                    say(&format!(
                        "building the stand-in for {} (no registry reachable)",
                        stand_in.image
                    ));
                    let began = Instant::now();
                    build(
                        engine,
                        home,
                        &stand_in,
                        &version,
                        &sysroot,
                        allow_install,
                        say,
                    )?;
                    Outcome::Built(began.elapsed())
                }
            }
        };
        outcomes.push((stand_in.image, outcome));
    }
    Ok(outcomes)
}

fn build(
    engine: &Engine,
    home: &DockerHome,
    stand_in: &StandIn,
    version: &str,
    sysroot: &Path,
    allow_install: bool,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let scratch = home.scratch().join("stand-ins");
    match stand_in.recipe {
        Recipe::Debootstrap => {
            install::ensure(&[DEBOOTSTRAP], allow_install, say)?;
            let rootfs = scratch.join("rootfs");
            let _ = std::fs::remove_dir_all(&rootfs);
            std::fs::create_dir_all(&scratch)
                .map_err(io(format!("creating {}", scratch.display())))?;
            checked(
                Command::new("debootstrap")
                    .args(["--variant=minbase", SUITE])
                    .arg(&rootfs)
                    .arg(MIRROR),
                "debootstrap",
            )?;
            let tar = Command::new("tar")
                .arg("-C")
                .arg(&rootfs)
                .args(["-c", "."])
                .stdout(Stdio::piped())
                .spawn()
                .map_err(io("running tar"))?;
            let mut import = engine.docker();
            import
                .args(["import", "--change"])
                .arg(format!(
                    "LABEL {LABEL}=\"{}\" {VERSION_LABEL}=\"{version}\"",
                    stand_in.image
                ))
                .args(["--change", "CMD [\"bash\"]", "-", stand_in.image])
                .stdin(
                    tar.stdout
                        .ok_or_else(|| DockerError::Invalid("tar gave no output".into()))?,
                );
            let result = checked(&mut import, "docker import");
            let _ = std::fs::remove_dir_all(&rootfs);
            result
        }
        Recipe::Dockerfile(text) => {
            let context = scratch.join("context");
            let _ = std::fs::remove_dir_all(&context);
            std::fs::create_dir_all(context.join("toolchain"))
                .map_err(io(format!("creating {}", context.display())))?;
            std::fs::write(context.join("Dockerfile"), text)
                .map_err(io("writing the stand-in Dockerfile"))?;
            for (name, content) in FILES {
                std::fs::write(context.join(name), content)
                    .map_err(io(format!("writing {name}")))?;
            }
            std::fs::copy(
                "/etc/ssl/certs/ca-certificates.crt",
                context.join("ca-certificates.crt"),
            )
            .map_err(io("copying this machine's CA bundle"))?;
            if text.contains("COPY toolchain") {
                for part in ["bin", "lib"] {
                    link_tree(&sysroot.join(part), &context.join("toolchain").join(part))?;
                }
            }
            let result = checked(
                engine
                    .docker()
                    .args(["build", "--network", "host", "--quiet", "--build-arg"])
                    .arg(format!("STAND_IN={version}"))
                    .args(["-t", stand_in.image])
                    .arg(&context),
                &format!("building the stand-in for {}", stand_in.image),
            );
            let _ = std::fs::remove_dir_all(&context);
            result
        }
    }
}

/// `to` as hard links of `from` (a copy where links cannot cross file systems).
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    let linked = Command::new("cp")
        .arg("-al")
        .arg(from)
        .arg(to)
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if linked {
        return Ok(());
    }
    checked(
        Command::new("cp").arg("-a").arg(from).arg(to),
        "copying the Rust toolchain",
    )
}

fn checked(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().map_err(io(format!("running {what}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(DockerError::Failed {
            what: what.into(),
            status: out.status.to_string(),
            detail: format!(
                "{}{}",
                tail(&String::from_utf8_lossy(&out.stdout)),
                tail(&String::from_utf8_lossy(&out.stderr))
            ),
        })
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_the_definition_and_the_toolchain() {
        let rust = ALL[1];
        assert_ne!(rust.version("rustc 1.95.0"), rust.version("rustc 1.96.0"));
        assert_eq!(rust.version("rustc 1.95.0"), rust.version("rustc 1.95.0"));
        assert_ne!(ALL[4].version("x"), ALL[5].version("x"));
        assert_eq!(rust.version("x").len(), 16);
    }

    #[test]
    fn every_dockerfile_labels_its_image() {
        for stand_in in ALL {
            if let Recipe::Dockerfile(text) = stand_in.recipe {
                assert!(
                    text.contains(&format!("{LABEL}=\"{}\"", stand_in.image)),
                    "{} does not label itself",
                    stand_in.image
                );
                assert!(text.contains(VERSION_LABEL), "{}", stand_in.image);
            }
        }
    }
}
