//! The edge config, rendered from `deploy/nginx/nginx.conf.template`, checked by the real nginx:
//! `nginx -t` accepts both profiles and both targets (local and Docker), the two targets differ
//! only in paths, ports and process settings, and a running nginx routes `/static`, `/public` and `/api` as HttpArena's test expects.
//!
//! The behaviour test puts small recording HTTP/1.1 upstreams behind nginx instead of authsvc
//! and the server. They are probes, not stand-ins: the unit under test is the nginx config, and
//! only a recording upstream can show what nginx sends (the auth sub-request's method, headers
//! and body; the X-User-Id the server receives). The full stack with the real binaries is
//! tested through the CLI (`crates/cli/tests/stack_up.rs`).

mod support;

use std::process::Command;

use stack::nginx::{check_config, EdgeParams, Template, Workers};
use stack::ports::free_port;
use stack::{Profile, StackPorts};
use support::*;

#[test]
fn nginx_accepts_both_profiles_for_both_targets() {
    let edge = edge_home();
    let home = &edge.home;
    let ports = StackPorts::with_offset(0).unwrap();
    for profile in Profile::ALL {
        let local = Template::bundled()
            .render_edge(&EdgeParams::local(home, &ports, profile, 2))
            .unwrap();
        assert!(!local.contains("{{"), "unrendered placeholder left");
        let path = write_conf(home, &format!("local-{profile}.conf"), &local);
        check_config(&path, &home.run_dir()).unwrap_or_else(|e| panic!("{profile}: {e}"));

        // The Docker rendering names container paths (/certs, /data/static, /var/cache/nginx)
        // and the image's `nginx` user; map them onto this machine to let nginx -t parse it.
        let docker = Template::bundled()
            .render_edge(&EdgeParams::docker(profile, Workers::Count(30)))
            .unwrap();
        let mapped = docker
            .replace("/certs/", &format!("{}/", home.certs_dir().display()))
            .replace(
                "/data/static/",
                &format!("{}/", home.static_dir().display()),
            )
            .replace(
                "/var/run/nginx.pid",
                &home.run_dir().join("docker.pid").display().to_string(),
            )
            .replace(
                "/var/cache/nginx",
                &home.run_dir().join("docker-temp").display().to_string(),
            )
            .replace(
                "user nginx;",
                &format!("user {};", stack::nginx::unprivileged_worker_user()),
            );
        assert_ne!(mapped, docker);
        let path = write_conf(home, &format!("docker-{profile}.conf"), &mapped);
        check_config(&path, &home.run_dir()).unwrap_or_else(|e| panic!("docker {profile}: {e}"));
    }
}

#[test]
fn nginx_t_failure_is_reported_with_nginx_own_message() {
    let edge = edge_home();
    let home = &edge.home;
    let ports = StackPorts::with_offset(0).unwrap();
    let broken = Template::from_text(
        "test",
        Template::bundled()
            .text()
            .replace("gzip_static on;", "gzip_statik on;"),
    );
    let conf = broken
        .render_edge(&EdgeParams::local(home, &ports, Profile::Production, 1))
        .unwrap();
    let path = write_conf(home, "broken.conf", &conf);
    let err = check_config(&path, &home.run_dir())
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown directive \"gzip_statik\""), "{err}");
}

#[test]
fn docker_and_local_renderings_come_from_one_template_and_differ_only_in_paths_and_ports() {
    let edge = edge_home();
    let ports = StackPorts::with_offset(1000).unwrap();
    for profile in Profile::ALL {
        let local = Template::bundled()
            .render_edge(&EdgeParams::local(&edge.home, &ports, profile, 2))
            .unwrap();
        let docker = Template::bundled()
            .render_edge(&EdgeParams::docker(profile, Workers::Auto))
            .unwrap();
        let (local, docker): (Vec<&str>, Vec<&str>) =
            (local.lines().collect(), docker.lines().collect());
        assert_eq!(
            local.len(),
            docker.len(),
            "the renderings have different shapes"
        );
        // Directives whose VALUES may differ: where files are, which ports, which user and how
        // many workers, and descriptor limits capped to what this machine grants. Nothing that
        // shapes request handling.
        let allowed = [
            "user",
            "worker_processes",
            "worker_rlimit_nofile",
            "worker_connections",
            "pid",
            "client_body_temp_path",
            "proxy_temp_path",
            "fastcgi_temp_path",
            "uwsgi_temp_path",
            "scgi_temp_path",
            "server",
            "listen",
            "ssl_certificate",
            "ssl_certificate_key",
            "alias",
        ];
        let mut differing = Vec::new();
        for (l, d) in local.iter().zip(&docker) {
            if l == d {
                continue;
            }
            let (ld, dd) = (l.split_whitespace().next(), d.split_whitespace().next());
            assert_eq!(ld, dd, "different directives:\n  {l}\n  {d}");
            let directive = ld.unwrap_or("");
            assert!(
                allowed.contains(&directive),
                "{profile}: `{directive}` differs:\n  local:  {l}\n  docker: {d}"
            );
            differing.push(directive);
        }
        for must in ["listen", "alias", "ssl_certificate", "server", "pid"] {
            assert!(
                differing.contains(&must),
                "{must} should differ: {differing:?}"
            );
        }
        let docker = docker.join("\n");
        // Production reaches the server's port, tuned its socket in the shared volume.
        let backend = match profile {
            Profile::Production => "server 127.0.0.1:8080;".to_string(),
            Profile::Tuned => format!("server unix:{};", stack::nginx::DOCKER_SERVER_SOCKET),
        };
        for line in [
            "listen 8443 ssl http2",
            "ssl_certificate /certs/server.crt;",
            "ssl_certificate_key /certs/server.key;",
            "alias /data/static/;",
            &backend,
            "server 127.0.0.1:9090;",
            "user nginx;",
        ] {
            assert!(docker.contains(line), "docker rendering lacks `{line}`");
        }
    }
}

// ---- the running edge ----

#[test]
fn the_edge_routes_authenticates_and_answers_json_as_the_contract_says() {
    let edge = edge_home();
    let home = &edge.home;
    let mut auth = Upstream::start(auth_probe);
    let mut backend = Upstream::start(backend_probe);
    let mut params = EdgeParams::local(home, &StackPorts::DEFAULT, Profile::Production, 1);
    params.listen_port = free_port().unwrap();
    params.status_port = free_port().unwrap();
    params.server_upstreams = vec![format!("127.0.0.1:{}", backend.port)];
    params.authsvc_upstream = format!("127.0.0.1:{}", auth.port);
    let conf = Template::bundled().render_edge(&params).unwrap();
    let conf_path = write_conf(home, "edge.conf", &conf);
    check_config(&conf_path, &home.run_dir()).unwrap();
    let port = params.listen_port;
    let _nginx = start_nginx(home, &conf_path, port);

    // Static: HTTP/2, stock MIME type, no-cache, precompressed sibling for gzip clients.
    let css = curl(port, "/static/reset.css", &[]);
    assert_eq!((css.status, css.version.as_str()), (200, "HTTP/2"));
    assert_eq!(css.headers["content-type"], "text/css");
    assert_eq!(css.headers["cache-control"], "no-cache");
    assert_eq!(
        css.body,
        std::fs::read(home.static_dir().join("reset.css")).unwrap()
    );
    let gz = curl(
        port,
        "/static/reset.css",
        &["-H", "Accept-Encoding: br;q=1, gzip;q=0.8"],
    );
    assert_eq!(gz.headers["content-encoding"], "gzip");
    assert_eq!(gz.headers["vary"], "Accept-Encoding");
    assert_eq!(
        gz.body,
        std::fs::read(home.static_dir().join("reset.css.gz")).unwrap()
    );
    assert_eq!(curl(port, "/static/nope.css", &[]).status, 404);
    let js = curl(port, "/static/app.js", &[]);
    assert_eq!(js.headers["content-type"], "application/javascript");
    let unknown = curl(port, "/elsewhere", &[]);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.headers["content-type"], "application/json");
    assert!(
        backend.seen().is_empty(),
        "static or unknown paths reached the server"
    );

    // Public: the full URI and query reach the server unchanged, no auth involved.
    let public = curl(port, "/public/baseline?a=13&b=42", &[]);
    assert_eq!(public.status, 200);
    let seen = backend.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("GET", "/public/baseline?a=13&b=42")
    );
    assert!(auth.seen().is_empty(), "/public/ must not call authsvc");

    // API without or with a bad token: 401 JSON from the edge; the server never sees it.
    for extra in [&[][..], &["-H", "Authorization: Bearer bad"][..]] {
        let answer = curl(port, "/api/items/1", extra);
        assert_eq!(answer.status, 401);
        assert_eq!(answer.headers["content-type"], "application/json");
        assert_eq!(answer.body, br#"{"error":"unauthorized"}"#);
    }
    let forged = curl(port, "/api/me", &["-H", "X-User-Id: 7"]);
    assert_eq!(
        forged.status, 401,
        "a client X-User-Id without a token must not get through"
    );
    assert_eq!(backend.seen().len(), 1);

    // API with a token: X-User-Id comes from authsvc and replaces the client's.
    let body = r#"{"name":"x","price":1,"quantity":2}"#;
    let post = curl(
        port,
        "/api/items/3?x=1",
        &[
            "-H",
            "Authorization: Bearer good",
            "-H",
            "X-User-Id: 7",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ],
    );
    assert_eq!(post.status, 200);
    let seen = backend.seen();
    let last = seen.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.target.as_str()),
        ("POST", "/api/items/3?x=1")
    );
    assert_eq!(last.header_values("x-user-id"), ["42"]);
    assert_eq!(last.body, body.as_bytes());

    // A body over the app server's 64 KiB limit: nginx itself answers 413 JSON, over HTTP/2
    // and HTTP/1.1, declared or chunked, and the server never sees the request (left to the
    // server, its 413 raced the upload and nginx answered 502).
    let big = home.root().join("big.json");
    let name = "x".repeat(200 * 1024);
    std::fs::write(
        &big,
        format!(r#"{{"name":"{name}","price":1,"quantity":1}}"#),
    )
    .unwrap();
    let data = format!("@{}", big.display());
    let forwarded = backend.seen().len();
    for extra in [
        &["--http2"][..],
        &["--http1.1"][..],
        &["--http1.1", "-H", "Transfer-Encoding: chunked"][..],
    ] {
        let mut args = vec![
            "-H",
            "Authorization: Bearer good",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &data,
        ];
        args.extend_from_slice(extra);
        let answer = curl(port, "/api/items/4", &args);
        assert_eq!(answer.status, 413, "{extra:?}");
        assert_eq!(answer.headers["content-type"], "application/json");
        assert_eq!(
            answer.body,
            br#"{"error":"request body is larger than 64 KiB (65536 bytes)"}"#
        );
    }
    assert_eq!(
        backend.seen().len(),
        forwarded,
        "an oversize body was forwarded to the server"
    );

    // The auth sub-request: GET /_auth, only Authorization (plus HTTP/1.1's Host), no body.
    let auth_seen = auth.seen();
    let sub = auth_seen.last().unwrap();
    assert_eq!(
        (sub.method.as_str(), sub.target.as_str()),
        ("GET", "/_auth")
    );
    assert_eq!(sub.header_values("authorization"), ["Bearer good"]);
    assert!(sub.body.is_empty());
    let names: Vec<String> = sub
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    for name in &names {
        assert!(
            ["authorization", "host"].contains(&name.as_str()),
            "the auth sub-request carried `{name}`: {names:?}"
        );
    }

    // Server down: JSON 502 for /public/ and /api/ (not nginx's HTML page).
    let backend_port = backend.port;
    backend.stop();
    for (path, extra) in [
        ("/public/baseline?a=1&b=1", &[][..]),
        ("/api/items/1", &["-H", "Authorization: Bearer good"][..]),
    ] {
        let answer = curl(port, path, extra);
        assert_eq!(answer.status, 502, "{path}");
        assert_eq!(answer.headers["content-type"], "application/json", "{path}");
        assert!(
            String::from_utf8_lossy(&answer.body).starts_with(r#"{"error":"bad gateway"#),
            "{path}"
        );
    }
    let backend = Upstream::start_on(backend_port, backend_probe);

    // authsvc down: /api/ answers 503 JSON, /static/ and /public/ keep working.
    auth.stop();
    let answer = curl(port, "/api/items/1", &["-H", "Authorization: Bearer good"]);
    assert_eq!(answer.status, 503);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.body, br#"{"error":"auth service unavailable"}"#);
    assert_eq!(answer.headers["retry-after"], "1");
    assert_eq!(curl(port, "/public/baseline?a=1&b=1", &[]).status, 200);
    assert_eq!(curl(port, "/static/reset.css", &[]).status, 200);
    drop(backend);

    // The benchmark's request counter: stub_status on the loopback status port, plain HTTP.
    let status = Command::new("curl")
        .args(["-s", "--noproxy", "*"])
        .arg(format!(
            "http://127.0.0.1:{}/nginx_status",
            params.status_port
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("server accepts handled requests"), "{text}");
}

#[test]
fn one_http2_connection_serves_more_than_a_thousand_requests() {
    let edge = edge_home();
    let home = &edge.home;
    let mut params = EdgeParams::local(home, &StackPorts::DEFAULT, Profile::Production, 1);
    params.listen_port = free_port().unwrap();
    params.status_port = free_port().unwrap();
    let conf = Template::bundled().render_edge(&params).unwrap();
    let conf_path = write_conf(home, "edge.conf", &conf);
    let port = params.listen_port;
    let _nginx = start_nginx(home, &conf_path, port);

    // nginx's default keepalive_requests (1000) would close the connection after request
    // 1000 and curl would have to open a second one.
    let requests = 1500;
    let config: String = (0..requests)
        .map(|_| {
            format!("url = \"https://127.0.0.1:{port}/static/reset.css\"\noutput = \"/dev/null\"\n")
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("curl.conf");
    std::fs::write(&config_path, config).unwrap();
    let out = Command::new("curl")
        .args([
            "-sk",
            "--http2",
            "--noproxy",
            "*",
            "-w",
            "%{http_code} %{num_connects}\\n",
            "-K",
        ])
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), requests);
    assert!(
        lines.iter().all(|l| l.starts_with("200 ")),
        "non-200 answers"
    );
    let connects: u32 = lines
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u32>().ok())
        .sum();
    assert_eq!(
        connects, 1,
        "curl needed {connects} connections for {requests} requests"
    );
}
