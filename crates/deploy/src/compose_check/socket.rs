//! Named volumes and the Unix-socket upstream between the edge and the server.
//!
//! Compose refuses a file whose service mounts a named volume the file does not declare, so
//! every named mount must be declared at the top level. The edge's nginx can forward over
//! `server unix:PATH` only when three facts hold together, and otherwise every forwarded
//! request is a 502 that no health check sees (both services stay healthy on their ports):
//! - the edge mounts a named volume at a folder that holds PATH;
//! - the server mounts that same volume at that same folder;
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
            if !volumes.iter().any(|v| v.name == name) {
                out.service(
                    &service.name,
                    "volumes",
                    format!("mounts the named volume `{name}`, which the file's top-level `volumes:` does not declare"),
                );
            }
        }
    }
}

/// The paths of the `server unix:PATH` entries of an nginx config.
pub(super) fn unix_upstreams(conf: &str) -> Vec<String> {
    conf.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("").trim();
            let rest = line.strip_prefix("server")?;
            let address = rest.split_whitespace().next()?;
            let path = address.strip_prefix("unix:")?.trim_end_matches(';');
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
        let holds = |m: &&Mount| {
            m.volume_name().is_some()
                && path
                    .strip_prefix(m.target.trim_end_matches('/'))
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        match edge.volumes.iter().find(holds) {
            None => out.service(
                "edge",
                "volumes",
                format!("nginx forwards to unix:{path}, but no named volume is mounted at a folder holding it; mount the volume the server creates its socket in"),
            ),
            Some(shared) => {
                let folder = |m: &Mount| m.target.trim_end_matches('/').to_string();
                let same = server
                    .volumes
                    .iter()
                    .any(|m| m.source == shared.source && folder(m) == folder(shared));
                if !same {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn only_unix_servers_are_upstream_paths() {
        let conf = "upstream a {\n    server 127.0.0.1:8080;\n    server unix:/run/x/s.sock max_fails=0;\n    # server unix:/commented;\n    server_tokens off;\n}\n";
        assert_eq!(unix_upstreams(conf), ["/run/x/s.sock"]);
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
        check_unix_upstreams("server unix:/run/x/s.sock;", services, &mut out);
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
    }
}
