//! Named volumes and the Unix-socket upstream between the edge and the server.
//!
//! Compose refuses a file whose service mounts a named volume the file does not declare, so
//! every named mount must be declared at the top level, and not as `external` (HttpArena's
//! host has no such volume). The edge's nginx can forward its app-server pool
//! (`upstream backend`) over `server unix:PATH` only when three facts hold together, and
//! otherwise every forwarded request is a 502 that no health check sees (both services stay
//! healthy on their ports):
//! - the edge's innermost mount holding PATH is a named volume;
//! - the server mounts that same volume at that same folder, writable;
//! - the server listens on PATH (`LISTEN_UNIX=PATH`).

use std::collections::BTreeMap;

use contract::env::LISTEN_UNIX;

use crate::compose::{Mount, Service, Volume};

use super::findings::Findings;

/// Every named volume a service mounts is one of `volumes`.
pub(super) fn check_declared_volumes(
    services: &BTreeMap<String, Service>,
    volumes: &[Volume],
    out: &mut Findings,
) {
    for service in services.values() {
        for name in service.volumes.iter().filter_map(Mount::volume_name) {
            match volumes.iter().find(|v| v.name == name) {
                None => out.service(
                    &service.name,
                    "volumes",
                    format!("mounts the named volume `{name}`, which the file's top-level `volumes:` does not declare"),
                ),
                Some(v) if v.external => out.service(
                    &service.name,
                    "volumes",
                    format!("mounts the external volume `{name}`, which HttpArena's host does not have; declare it without `external` so compose creates it"),
                ),
                Some(_) => {}
            }
        }
    }
}

/// The name of the nginx upstream that is the app server's pool (the template's).
pub(super) const BACKEND_UPSTREAM: &str = "backend";

/// The paths of the `server unix:PATH` entries of the app server's pool (`upstream backend`)
/// in an nginx config.
pub(super) fn unix_upstreams(conf: &str) -> Vec<String> {
    let text: String = conf
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    // `upstream backend{` is as valid as `upstream backend {`.
    let text = text.replace('{', " { ").replace('}', " } ");
    let mut words = text.split_whitespace();
    let mut found = false;
    while let Some(word) = words.next() {
        if word == "upstream" && words.next() == Some(BACKEND_UPSTREAM) {
            found = true;
            break;
        }
    }
    if !found {
        return Vec::new();
    }
    let rest: String = words.collect::<Vec<_>>().join(" ");
    let Some(body) = rest.strip_prefix('{').and_then(|b| b.split('}').next()) else {
        return Vec::new();
    };
    body.split(';')
        .filter_map(|statement| {
            let mut parts = statement.split_whitespace();
            (parts.next() == Some("server")).then_some(())?;
            let path = parts.next()?.strip_prefix("unix:")?;
            (!path.is_empty()).then(|| path.to_string())
        })
        .collect()
}

/// Each `server unix:PATH` of the edge's config (`conf`) reaches the server.
pub(super) fn check_unix_upstreams(
    conf: &str,
    services: &BTreeMap<String, Service>,
    out: &mut Findings,
) {
    let (Some(edge), Some(server)) = (services.get("edge"), services.get("server")) else {
        return;
    };
    for path in unix_upstreams(conf) {
        match innermost(edge, &path).filter(|m| m.volume_name().is_some()) {
            None => out.service(
                "edge",
                "volumes",
                format!("nginx forwards to unix:{path}, but no named volume is mounted at a folder holding it; mount the volume the server creates its socket in"),
            ),
            Some(shared) => {
                let folder = |m: &Mount| m.target.trim_end_matches('/').to_string();
                // The server must see the same volume there: its own innermost mount.
                let same = innermost(server, &path)
                    .filter(|m| m.source == shared.source && folder(m) == folder(shared));
                if same.is_some_and(|m| m.read_only) {
                    out.service(
                        "server",
                        "volumes",
                        format!(
                            "the volume `{}` at {} is read-only: the server cannot create its socket there",
                            shared.source, shared.target
                        ),
                    );
                }
                if same.is_none() {
                    out.service(
                        "server",
                        "volumes",
                        format!(
                            "nginx forwards to unix:{path} in the volume `{}` at {}; the server must mount that volume there too",
                            shared.source, shared.target
                        ),
                    );
                }
            }
        }
        match server.env(LISTEN_UNIX) {
            Some(Some(listen)) if listen == path => {}
            other => out.service(
                "server",
                "environment",
                format!(
                    "nginx forwards to unix:{path}, but the server's {LISTEN_UNIX} is {}; set {LISTEN_UNIX}={path}",
                    match other {
                        Some(Some(value)) => format!("`{value}`"),
                        _ => "not set".to_string(),
                    }
                ),
            ),
        }
    }
}

/// The innermost mount of `service` holding `path`: the one the container sees there.
fn innermost<'a>(service: &'a Service, path: &str) -> Option<&'a Mount> {
    service
        .volumes
        .iter()
        .filter(|m| {
            path.strip_prefix(m.target.trim_end_matches('/'))
                .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|m| m.target.trim_end_matches('/').len())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn only_unix_servers_of_the_backend_pool_are_upstream_paths() {
        let conf = "upstream authsvc {\n    server unix:/run/a.sock;\n}\nupstream backend {\n    server 127.0.0.1:8080;\n    server unix:/run/x/s.sock max_fails=0;\n    # server unix:/commented;\n    keepalive 16;\n}\nserver {\n    server_tokens off;\n}\n";
        assert_eq!(unix_upstreams(conf), ["/run/x/s.sock"]);
        let one_line = "upstream backend { server unix:/run/x/s.sock; }";
        assert_eq!(unix_upstreams(one_line), ["/run/x/s.sock"]);
        let tight = "upstream backend{server unix:/run/x/s.sock;}";
        assert_eq!(unix_upstreams(tight), ["/run/x/s.sock"]);
        assert!(unix_upstreams("upstream backend {\n server 127.0.0.1:1;\n}").is_empty());
        assert!(unix_upstreams("events {}").is_empty());
    }

    fn stack(
        edge_mount: Option<&str>,
        server_mount: Option<&str>,
        listen: Option<&str>,
    ) -> BTreeMap<String, Service> {
        let mut edge = Service::pinned("edge", "0,64");
        let mut server = Service::pinned("server", "1,65");
        if let Some(target) = edge_mount {
            edge.volumes.push(Mount::volume("sock", target));
        }
        if let Some(target) = server_mount {
            server.volumes.push(Mount::volume("sock", target));
        }
        if let Some(path) = listen {
            server.set_env(LISTEN_UNIX, path, None);
        }
        [("edge".to_string(), edge), ("server".to_string(), server)].into()
    }

    fn messages(services: &BTreeMap<String, Service>) -> Vec<String> {
        let mut out = Findings::new(Path::new("x.yml"));
        check_unix_upstreams(
            "upstream backend {\n    server unix:/run/x/s.sock;\n}\n",
            services,
            &mut out,
        );
        out.violations.into_iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn a_socket_upstream_needs_the_shared_volume_and_the_listener() {
        let good = stack(Some("/run/x"), Some("/run/x/"), Some("/run/x/s.sock"));
        assert_eq!(messages(&good), Vec::<String>::new());

        let no_edge_mount = messages(&stack(None, Some("/run/x"), Some("/run/x/s.sock")));
        assert_eq!(no_edge_mount.len(), 1);
        assert!(
            no_edge_mount[0].contains("service `edge`: volumes"),
            "{no_edge_mount:?}"
        );

        let elsewhere = messages(&stack(
            Some("/run/x"),
            Some("/run/y"),
            Some("/run/x/s.sock"),
        ));
        assert_eq!(elsewhere.len(), 1);
        assert!(elsewhere[0].contains("the server must mount that volume there too"));

        let not_listening = messages(&stack(Some("/run/x"), Some("/run/x"), None));
        assert_eq!(not_listening.len(), 1);
        assert!(not_listening[0].contains("LISTEN_UNIX is not set"));

        let wrong_path = messages(&stack(
            Some("/run/x"),
            Some("/run/x"),
            Some("/run/x/t.sock"),
        ));
        assert!(wrong_path[0].contains("`/run/x/t.sock`"), "{wrong_path:?}");

        // A read-only mount: the server cannot bind there.
        let mut read_only = stack(Some("/run/x"), Some("/run/x"), Some("/run/x/s.sock"));
        if let Some(server) = read_only.get_mut("server") {
            server.volumes[0].read_only = true;
        }
        let read_only = messages(&read_only);
        assert_eq!(read_only.len(), 1, "{read_only:?}");
        assert!(read_only[0].contains("is read-only"), "{read_only:?}");

        // A host folder mounted inside the volume's folder hides the volume there.
        let mut hidden = stack(Some("/run"), Some("/run"), Some("/run/x/s.sock"));
        if let Some(edge) = hidden.get_mut("edge") {
            edge.volumes
                .push(Mount::read_only("${DATA_DIR}/x", "/run/x"));
        }
        let hidden = messages(&hidden);
        assert!(hidden[0].contains("service `edge`: volumes"), "{hidden:?}");
        // ... and so it does in the server.
        let mut hidden = stack(Some("/run"), Some("/run"), Some("/run/x/s.sock"));
        if let Some(server) = hidden.get_mut("server") {
            server
                .volumes
                .push(Mount::read_only("${DATA_DIR}/x", "/run/x"));
        }
        let hidden = messages(&hidden);
        assert_eq!(hidden.len(), 1, "{hidden:?}");
        assert!(hidden[0].contains("the server must mount that volume there too"));

        // A folder whose name only starts like the socket's is not the socket's folder.
        let prefix = messages(&stack(
            Some("/run/x/s"),
            Some("/run/x/s"),
            Some("/run/x/s.sock"),
        ));
        assert!(prefix[0].contains("service `edge`: volumes"), "{prefix:?}");
    }

    #[test]
    fn a_named_mount_must_be_declared() {
        let services = stack(Some("/run/x"), None, None);
        let mut out = Findings::new(Path::new("x.yml"));
        check_declared_volumes(&services, &[Volume::tmpfs("sock", "mode=0755")], &mut out);
        assert!(out.violations.is_empty());
        check_declared_volumes(&services, &[], &mut out);
        assert_eq!(out.violations.len(), 1);
        assert!(out.violations[0].message.contains("`sock`"));
        let external = Volume {
            external: true,
            ..Volume::tmpfs("sock", "mode=0755")
        };
        check_declared_volumes(&services, &[external], &mut out);
        assert_eq!(out.violations.len(), 2);
        assert!(out.violations[1].message.contains("external volume `sock`"));
    }
}
