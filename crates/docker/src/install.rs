//! The packages a private engine needs, installed the way the launcher installs the stack's:
//! Debian's `docker.io` (dockerd, containerd, runc and a client) and `debootstrap` (for the
//! stand-in base image) with `apt-get`, as root or through `sudo`; and Compose and buildx as
//! CLI plugins, which Debian 12 does not package: their Debian 13 (`trixie`) packages are
//! downloaded with apt against a sources list of their own (nothing is installed system-wide)
//! and unpacked with `dpkg -x` into `.prodstack/docker/plugins/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use stack::process::find_on_path;

use crate::{io, DockerError, DockerHome, Result};

/// A program and the Debian package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct Needed {
    pub program: &'static str,
    pub package: &'static str,
}

/// What a private engine runs.
pub const DAEMON: [Needed; 4] = [
    Needed {
        program: "dockerd",
        package: "docker.io",
    },
    Needed {
        program: "containerd",
        package: "docker.io",
    },
    Needed {
        program: "runc",
        package: "docker.io",
    },
    Needed {
        program: "docker",
        package: "docker.io",
    },
];

/// What the stand-in base image is made with.
pub const DEBOOTSTRAP: Needed = Needed {
    program: "debootstrap",
    package: "debootstrap",
};

/// Where Debian 13 keeps the plugins.
const TRIXIE: &str = "deb http://deb.debian.org/debian trixie main";
const PLUGIN_PACKAGES: [&str; 2] = ["docker-compose", "docker-buildx"];

/// `program` on PATH or in the sbin folders (dockerd and runc live there).
pub fn find(program: &str) -> Option<PathBuf> {
    find_on_path(program).or_else(|| {
        ["/usr/sbin", "/sbin", "/usr/bin"]
            .iter()
            .map(|dir| Path::new(dir).join(program))
            .find(|p| p.is_file())
    })
}

/// Installs the packages of the `needed` programs that are missing. `allow_install: false`
/// (or no apt-get) turns a missing one into an error naming it and its package.
pub fn ensure(needed: &[Needed], allow_install: bool, say: &mut dyn FnMut(&str)) -> Result<()> {
    let mut packages: Vec<&str> = needed
        .iter()
        .filter(|n| find(n.program).is_none())
        .map(|n| n.package)
        .collect();
    packages.sort_unstable();
    packages.dedup();
    if packages.is_empty() {
        return Ok(());
    }
    let missing = needed
        .iter()
        .filter(|n| find(n.program).is_none())
        .map(|n| format!("{} (Debian package {})", n.program, n.package))
        .collect::<Vec<_>>()
        .join(", ");
    if !allow_install || find("apt-get").is_none() {
        return Err(DockerError::Missing {
            what: missing,
            hint: format!(
                "install them (apt-get install -y {}), or point DOCKER_HOST at a running engine",
                packages.join(" ")
            ),
        });
    }
    say(&format!("installing {}", packages.join(" ")));
    apt(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&packages);
    apt(&args)?;
    // Debian's docker.io starts a system daemon where systemd runs; ours is private.
    if find("systemctl").is_some() {
        for unit in ["docker.service", "docker.socket"] {
            let _ = Command::new("systemctl")
                .args(["disable", "--now", unit])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
    match needed.iter().find(|n| find(n.program).is_none()) {
        None => Ok(()),
        Some(n) => Err(DockerError::Missing {
            what: format!("{} after installing {}", n.program, n.package),
            hint: "check the apt output above".into(),
        }),
    }
}

fn apt(args: &[&str]) -> Result<()> {
    let mut cmd = if stack::process::is_root() {
        Command::new("apt-get")
    } else if find("sudo").is_some() {
        let mut cmd = Command::new("sudo");
        cmd.arg("apt-get");
        cmd
    } else {
        return Err(DockerError::Missing {
            what: "root (or sudo) to install packages".into(),
            hint: format!("run as root: apt-get {}", args.join(" ")),
        });
    };
    let out = cmd
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(io("running apt-get"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(DockerError::Failed {
            what: format!("apt-get {}", args.join(" ")),
            status: out.status.to_string(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The Compose and buildx plugins: unpacked from Debian 13's packages into
/// `.prodstack/docker/plugins/` once. Returns the folder holding `docker-compose` and
/// `docker-buildx`.
pub fn plugins(home: &DockerHome, say: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let dir = home.plugins();
    if PLUGIN_PACKAGES.iter().all(|p| dir.join(p).is_file()) {
        return Ok(dir);
    }
    for tool in ["apt-get", "dpkg"] {
        if find(tool).is_none() {
            return Err(DockerError::Missing {
                what: format!("{tool} (to fetch the Compose and buildx plugins)"),
                hint: "install Docker Compose v2 as a CLI plugin yourself, or run on Debian/Ubuntu"
                    .into(),
            });
        }
    }
    say("fetching the Compose and buildx CLI plugins (Debian 13 packages, unpacked under .prodstack/docker)");
    let apt_dir = home.apt();
    for sub in ["lists/partial", "archives/partial", "debs", "unpacked"] {
        std::fs::create_dir_all(apt_dir.join(sub))
            .map_err(io(format!("creating {}", apt_dir.join(sub).display())))?;
    }
    let sources = apt_dir.join("sources.list");
    std::fs::write(&sources, format!("{TRIXIE}\n"))
        .map_err(io(format!("writing {}", sources.display())))?;
    let options = [
        format!("-oDir::Etc::SourceList={}", sources.display()),
        "-oDir::Etc::SourceParts=/dev/null".to_string(),
        format!("-oDir::State::Lists={}", apt_dir.join("lists").display()),
        format!(
            "-oDir::Cache::Archives={}",
            apt_dir.join("archives").display()
        ),
        "-oDebug::NoLocking=1".to_string(),
        "-qq".to_string(),
    ];
    let run = |what: &str, extra: &[&str]| -> Result<()> {
        let out = Command::new("apt-get")
            .args(&options)
            .args(extra)
            .current_dir(apt_dir.join("debs"))
            .output()
            .map_err(io(format!("running apt-get {what}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(DockerError::Failed {
                what: format!("apt-get {what} (Debian 13 plugin packages)"),
                status: out.status.to_string(),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    };
    run("update", &["update"])?;
    let mut download = vec!["download"];
    download.extend(PLUGIN_PACKAGES);
    run("download", &download)?;
    let unpacked = apt_dir.join("unpacked");
    for entry in std::fs::read_dir(apt_dir.join("debs")).map_err(io("listing the downloads"))? {
        let path = entry.map_err(io("listing the downloads"))?.path();
        if path.extension().is_some_and(|e| e == "deb") {
            let status = Command::new("dpkg")
                .arg("-x")
                .arg(&path)
                .arg(&unpacked)
                .status()
                .map_err(io("running dpkg -x"))?;
            if !status.success() {
                return Err(DockerError::Failed {
                    what: format!("dpkg -x {}", path.display()),
                    status: status.to_string(),
                    detail: String::new(),
                });
            }
        }
    }
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    for name in PLUGIN_PACKAGES {
        let from = unpacked.join("usr/libexec/docker/cli-plugins").join(name);
        std::fs::copy(&from, dir.join(name))
            .map_err(io(format!("installing {}", from.display())))?;
    }
    Ok(dir)
}
