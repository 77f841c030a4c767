//! The typed compose model: one [`ComposeFile`] of [`Service`]s that the renderer builds and
//! writes ([`ComposeFile::to_yaml`]) and that the checker reads any compose file into
//! ([`read`]), so the two sides share one description of a service instead of one printing
//! YAML and the other re-deriving it from untyped values.
//!
//! The model holds the compose fields HttpArena's production-stack test cares about, in the
//! normalized form both compose syntaxes reduce to (an environment list or map becomes
//! [`EnvVar`]s, short or long volume syntax becomes [`Mount`]s, `depends_on` as a list or a map
//! becomes [`Dependency`]s). Comments are the renderer's only: [`Service::comments`] and
//! [`EnvVar::comment`] are written, and a file read back has none. Two tests hold the two sides
//! together: a service with every field set reads back as itself (below), and every generated
//! compose file reads back as the model it was written from (`export::render`).

mod emit;
pub mod read;

pub use read::{environment, mounts, read_service, read_volumes, FieldError};

/// `nofile` soft and hard limit HttpArena requires on every service.
pub const NOFILE: i64 = 1_048_576;

/// `memlock` HttpArena requires on every service (unlimited).
pub const MEMLOCK: i64 = -1;

/// The `security_opt` entry HttpArena requires on every service.
pub const SECCOMP_UNCONFINED: &str = "seccomp:unconfined";

/// The restart policy of every service we emit: Docker restarts a container that exits
/// (with its own backoff, doubling from 100 ms and reset after 10 s up), but never one a
/// person or the harness stopped, so `docker compose stop`/`down` stay final. The native
/// stack's `prodstack-supervisor` is the same promise outside Docker.
pub const RESTART: &str = "unless-stopped";

/// A compose file: a `#` comment header, its services and its named volumes, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposeFile {
    /// Comment text written above `services:` (one `# ` line per line; empty lines as `#`).
    pub header: String,
    pub services: Vec<Service>,
    /// The top-level `volumes:` the services' [`Mount`]s may name.
    pub volumes: Vec<Volume>,
}

/// A top-level named volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    /// `driver_opts` of the local driver, in order (`type`, `device`, `o`).
    pub driver_opts: Vec<(String, String)>,
    /// `external: true`: compose does not create it, so it must exist on the host already.
    /// Read only: the writer never writes it.
    pub external: bool,
    /// Comment lines written above the volume.
    pub comment: Option<String>,
}

impl Volume {
    /// A volume that is a tmpfs mounted with `options` (`uid=...,mode=...`): in memory, and
    /// empty whenever its first container starts; its root is owned as `options` say.
    pub fn tmpfs(name: &str, options: &str) -> Volume {
        Volume {
            name: name.to_string(),
            driver_opts: vec![
                ("type".into(), "tmpfs".into()),
                ("device".into(), "tmpfs".into()),
                ("o".into(), options.to_string()),
            ],
            external: false,
            comment: None,
        }
    }

    /// What reading this volume's YAML back gives: no comment.
    pub fn without_comment(&self) -> Volume {
        Volume {
            comment: None,
            ..self.clone()
        }
    }
}

/// One compose service, in the fields the stack uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    /// `Some` whenever the key is there (an empty or null value reads as `""`).
    pub image: Option<String>,
    pub build: Option<Build>,
    pub network_mode: Option<String>,
    /// Docker's restart policy (`unless-stopped` for ours: a crashed container comes back,
    /// one that `docker compose stop` or `down` stopped stays stopped).
    pub restart: Option<String>,
    pub cpuset: Option<String>,
    pub ulimits: Ulimits,
    pub security_opt: Vec<String>,
    pub container_name: Option<String>,
    pub environment: Vec<EnvVar>,
    pub volumes: Vec<Mount>,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub healthcheck: Option<Healthcheck>,
    pub depends_on: Vec<Dependency>,
    /// Comment lines written above a field (`build`, `volumes`, `depends_on`, ...).
    pub comments: Vec<(&'static str, String)>,
}

impl Service {
    /// A service pinned as HttpArena requires every service to be: host networking, `cpuset`,
    /// memlock -1, nofile [`NOFILE`], seccomp unconfined; and restarted after a crash
    /// ([`RESTART`]).
    pub fn pinned(name: &str, cpuset: &str) -> Service {
        Service {
            name: name.to_string(),
            network_mode: Some("host".into()),
            restart: Some(RESTART.into()),
            cpuset: Some(cpuset.to_string()),
            ulimits: Ulimits {
                memlock: Some(Limit::Single(MEMLOCK)),
                nofile: Some(Limit::Pair {
                    soft: Some(NOFILE),
                    hard: Some(NOFILE),
                }),
            },
            security_opt: vec![SECCOMP_UNCONFINED.into()],
            ..Service::default()
        }
    }

    /// The value of environment variable `name`: `None` when absent, `Some(None)` when
    /// listed without a value.
    pub fn env(&self, name: &str) -> Option<Option<&str>> {
        self.environment
            .iter()
            .rev()
            .find(|v| v.name == name)
            .map(|v| v.value.as_deref())
    }

    /// Adds `name=value` to the environment, with an optional comment above it.
    pub fn set_env(&mut self, name: &str, value: impl Into<String>, comment: Option<&str>) {
        self.environment.push(EnvVar {
            name: name.to_string(),
            value: Some(value.into()),
            comment: comment.map(String::from),
        });
    }

    /// Adds a comment above `field`.
    pub fn comment(&mut self, field: &'static str, text: &str) {
        self.comments.push((field, text.to_string()));
    }

    /// Waits for each of `services` to pass its health check before starting.
    pub fn depends_healthy(&mut self, services: &[&str]) {
        for service in services {
            self.depends_on.push(Dependency {
                service: service.to_string(),
                condition: Some(SERVICE_HEALTHY.into()),
            });
        }
    }

    /// What reading this service's YAML back gives: no comments, and the build's keys as
    /// the writer writes them.
    pub fn without_comments(&self) -> Service {
        let mut plain = self.clone();
        plain.comments.clear();
        for var in &mut plain.environment {
            var.comment = None;
        }
        if let Some(build) = plain.build.as_mut().filter(|b| !b.short) {
            let mut keys = vec!["context".to_string()];
            if build.dockerfile.is_some() {
                keys.push("dockerfile".into());
            }
            if build.network.is_some() {
                keys.push("network".into());
            }
            if !build.args.is_empty() {
                keys.push("args".into());
            }
            build.keys = keys;
        }
        plain
    }
}

/// The `depends_on` condition that waits for a health check.
pub const SERVICE_HEALTHY: &str = "service_healthy";

/// `build:` in either syntax (a bare context string, or a map).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Build {
    pub context: Option<String>,
    pub dockerfile: Option<String>,
    pub network: Option<String>,
    pub args: Vec<(String, String)>,
    /// Every key the map has, in order, whatever its value (`args: {}` and `dockerfile: ~`
    /// included), so that a rule can require a build to set nothing but its context. Read
    /// only: the writer writes the fields above.
    pub keys: Vec<String>,
    /// Written as `build: CONTEXT`.
    pub short: bool,
}

impl Build {
    /// A build of `context` (and `dockerfile`) on the host network: the containers use it
    /// anyway, and an engine without a default bridge (a private dockerd started with
    /// `--bridge=none`, `prodstack docker-engine`) can build no other way.
    pub fn host(context: &str, dockerfile: Option<&str>) -> Build {
        Build {
            context: Some(context.to_string()),
            dockerfile: dockerfile.map(String::from),
            network: Some("host".into()),
            ..Build::default()
        }
    }

    /// The build as a message shows it.
    pub fn describe(&self) -> String {
        if self.short {
            return format!("`{}`", self.context.as_deref().unwrap_or_default());
        }
        let mut parts = Vec::new();
        for (key, value) in [
            ("context", &self.context),
            ("dockerfile", &self.dockerfile),
            ("network", &self.network),
        ] {
            if let Some(value) = value {
                parts.push(format!("{key}: {value}"));
            }
        }
        if !self.args.is_empty() {
            parts.push("args: ...".into());
        }
        parts.extend(
            self.keys
                .iter()
                .filter(|k| !matches!(k.as_str(), "context" | "dockerfile" | "network" | "args"))
                .map(|k| format!("{k}: ...")),
        );
        format!("`{}`", parts.join(", "))
    }
}

/// `ulimits:` entries the stack sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ulimits {
    pub memlock: Option<Limit>,
    pub nofile: Option<Limit>,
}

/// One ulimit: a single number, or `soft`/`hard` (either may be missing or not a number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    Single(i64),
    Pair {
        soft: Option<i64>,
        hard: Option<i64>,
    },
}

impl Limit {
    /// `Ok` when the limit is `expected` (as a number, or soft and hard); `Err` says what it is.
    pub fn require(&self, expected: i64) -> Result<(), String> {
        match *self {
            Limit::Single(n) if n == expected => Ok(()),
            Limit::Single(n) => Err(format!("is {n}")),
            Limit::Pair {
                soft: Some(s),
                hard: Some(h),
            } if s == expected && h == expected => Ok(()),
            Limit::Pair {
                soft: Some(s),
                hard: Some(h),
            } => Err(format!("is soft {s} / hard {h}")),
            Limit::Pair { .. } => Err("needs both `soft` and `hard`".into()),
        }
    }
}

/// One environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    /// `None` for a bare `NAME` entry (compose passes the caller's value through).
    pub value: Option<String>,
    /// Comment lines written above the entry.
    pub comment: Option<String>,
}

/// A bind mount or a named volume's mount, in either compose syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// A host path (`/x`, `./x`, `~/x`, `${VAR}/x`) or the name of a top-level [`Volume`].
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

impl Mount {
    /// The named volume `name` mounted read-write at `target`.
    pub fn volume(name: &str, target: &str) -> Mount {
        Mount {
            source: name.to_string(),
            target: target.to_string(),
            read_only: false,
        }
    }

    /// The volume's name when the source is a named volume rather than a host path (compose
    /// reads a source that starts with `/`, `.`, `~` or a variable as a path).
    pub fn volume_name(&self) -> Option<&str> {
        let path = self.source.is_empty() || self.source.starts_with(['/', '.', '~', '$']);
        (!path).then_some(self.source.as_str())
    }

    /// `source` mounted read-only at `target`.
    pub fn read_only(source: impl Into<String>, target: &str) -> Mount {
        Mount {
            source: source.into(),
            target: target.to_string(),
            read_only: true,
        }
    }
}

/// `healthcheck:`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Healthcheck {
    /// `None` when the key is absent; words of the list form, or the string split on spaces.
    pub test: Option<Vec<String>>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<i64>,
    pub start_period: Option<String>,
    pub disable: bool,
}

impl Healthcheck {
    /// `test` every 2 s (3 s timeout, 5 retries) after `start_period_s`. No `start_interval`:
    /// it needs Docker Engine 25, and these files run on Engine 20.10 too (measured: `docker
    /// compose up --wait` refuses the key there). A probe every 2 s costs the service a few
    /// milliseconds of CPU.
    pub fn every_2s(test: &[&str], start_period_s: u32) -> Healthcheck {
        Healthcheck {
            test: Some(test.iter().map(|w| w.to_string()).collect()),
            interval: Some("2s".into()),
            timeout: Some("3s".into()),
            retries: Some(5),
            start_period: Some(format!("{start_period_s}s")),
            disable: false,
        }
    }
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub service: String,
    /// `None` in the list form, or a map entry without `condition`.
    pub condition: Option<String>,
}

/// `${NAME}`, `${NAME:?message}`, `${NAME:-default}` at the start of `text`: the name and
/// what follows the closing brace.
pub fn var_ref(text: &str) -> Option<(String, String)> {
    let inner = text.strip_prefix("${")?;
    let close = inner.find('}')?;
    let name: String = inner[..close]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then(|| (name, inner[close + 1..].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_refs_accept_compose_modifiers() {
        assert_eq!(
            var_ref("${DATA_DIR}/x"),
            Some(("DATA_DIR".into(), "/x".into()))
        );
        assert_eq!(
            var_ref("${DATA_DIR:?set it}/static"),
            Some(("DATA_DIR".into(), "/static".into()))
        );
        assert_eq!(var_ref("/data"), None);
    }

    #[test]
    fn only_a_bare_name_is_a_volume() {
        assert_eq!(Mount::volume("sock", "/run").volume_name(), Some("sock"));
        for path in ["/x", "./x", "../x", "~/x", "${DATA_DIR}/x", ""] {
            assert_eq!(Mount::read_only(path, "/y").volume_name(), None, "{path}");
        }
    }

    #[test]
    fn limits_report_what_they_are() {
        assert_eq!(Limit::Single(-1).require(-1), Ok(()));
        assert_eq!(Limit::Single(5).require(-1), Err("is 5".into()));
        let pair = Limit::Pair {
            soft: Some(1),
            hard: Some(2),
        };
        assert_eq!(pair.require(1), Err("is soft 1 / hard 2".into()));
        let half = Limit::Pair {
            soft: Some(1),
            hard: None,
        };
        assert_eq!(half.require(1), Err("needs both `soft` and `hard`".into()));
    }

    /// A service with every field set, written and read back, is the same service less its
    /// comments: the writer and the reader agree on every field.
    #[test]
    fn a_written_service_reads_back_as_itself() {
        let mut service = Service::pinned("server", "1,65");
        service.image = Some("redis:7-alpine".into());
        let mut build = Build::host("../..", Some("frameworks/x/Dockerfile"));
        build.args.push(("NGINX_CONF".into(), "a b".into()));
        service.build = Some(build);
        service.comment("build", "why the build\nis so");
        service.set_env("A", "${X:-y}", Some("a comment"));
        service.set_env("B", "plain", None);
        service
            .volumes
            .push(Mount::read_only("${DATA_DIR}/x", "/x"));
        service.entrypoint = Some(vec!["sh".into(), "/entrypoint.sh".into()]);
        service.command = Some(vec!["postgres".into(), "-c".into(), "a=1".into()]);
        service.healthcheck = Some(Healthcheck::every_2s(&["CMD", "x", "a\"b"], 30));
        service.depends_healthy(&["cache"]);
        service.volumes.push(Mount::volume("sock", "/run/x"));
        let mut volume = Volume::tmpfs("sock", "uid=1,mode=0755");
        volume.comment = Some("why a volume".into());
        let file = ComposeFile {
            header: "a header\n\nwith a gap".into(),
            services: vec![service.clone(), Service::pinned("cache", "2,66")],
            volumes: vec![volume.clone(), Volume::tmpfs("other", "mode=0700")],
        };
        let yaml = file.to_yaml();
        let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        let services = doc.get("services").unwrap();
        let (read, errors) = read_service("server", services.get("server").unwrap());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(read, service.without_comments(), "{yaml}");
        let volumes = read_volumes(&doc).unwrap();
        assert_eq!(
            volumes,
            [
                volume.without_comment(),
                Volume::tmpfs("other", "mode=0700")
            ]
        );
        assert!(yaml.contains("\nvolumes:\n  # why a volume\n  sock:\n    driver_opts:\n"));
        assert!(yaml.starts_with("# a header\n#\n# with a gap\n\nservices:\n"));
        assert!(yaml.contains("    # why the build\n    # is so\n    build:\n"));
        assert!(yaml.contains("      # a comment\n      - \"A=${X:-y}\"\n"));
        assert!(!yaml.ends_with("\n\n"));
    }
}
