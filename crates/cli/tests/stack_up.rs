//! `prodstack up / status / logs / down` through the real CLI binary, with the real services
//! (Postgres, Redis, our authsvc and server, nginx) on offset ports in a temporary home.
//!
//! Covered: start-up with missing data (generated first), the authsvc crash drill (503 JSON on
//! /api/ while /static/ and /public/ keep working; `up` brings it back), `status` and `logs`,
//! and the failure paths (occupied port, a template that does not render, an edge that never
//! gets healthy), and the supervisor (a crashed service restarted with backoff, `status`
//! showing it, `down` stopping it first). After every test no process of its stack is left.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use stack::{Service, StackState};
use support::*;

#[test]
fn up_generates_missing_data_survives_an_authsvc_crash_and_comes_down_clean() {
    let _one = one_stack_at_a_time();
    let stack = TestStack::new();
    assert!(!stack.home.dataset_path().exists());

    // Cold start: no data at all; every pinned service on its own CPUs.
    let available = stack::CpuSet::available().unwrap();
    let (a, b) = (available.cpus()[0], *available.cpus().last().unwrap());
    let split = format!("edge={a},authsvc={b},server={b},cache={a}");
    // No supervisor: this test kills services and checks what a person sees and does.
    let up = stack.up(&["--cpus", &split, "--no-supervise"]);
    assert!(up.status.success(), "up failed");
    let stderr = text(&up.stderr);
    assert!(stderr.contains("data missing"), "{stderr}");
    assert!(stderr.contains("CPU split: edge="), "{stderr}");
    for file in [
        stack.home.seed_sql_path(),
        stack.home.dataset_path(),
        stack.home.token_path(),
    ] {
        assert!(file.is_file(), "{} was not generated", file.display());
    }
    let stdout = text(&up.stdout);
    for service in Service::ALL {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(service.as_str()) && l.contains("started")),
            "{service} missing from the table:\n{stdout}"
        );
    }
    assert!(stdout.contains("took "), "{stdout}");

    let state = StackState::load(&stack.home).unwrap();
    assert_eq!(state.ports, stack.ports());
    assert_eq!(state.services.len(), 5);
    assert!(
        state.service(Service::Postgres).unwrap().cpus.is_none(),
        "postgres must stay unpinned"
    );
    let split = stack::CpuSplit::parse(&split, &available).unwrap();
    for entry in &state.services {
        let expected = match entry.service {
            Service::Postgres => available.clone(),
            other => split.get(other.as_str()).unwrap().clone(),
        };
        // Every process of the service: nginx's workers inherit the master's CPUs.
        for pid in stack::process::session_members(entry.pid()) {
            assert_eq!(cpus_allowed(pid), expected, "{} pid {pid}", entry.service);
        }
    }
    // nginx runs one worker per CPU of its cpuset.
    let edge = state.service(Service::Edge).unwrap();
    assert_eq!(
        stack::process::session_members(edge.pid()).len(),
        1 + split.edge.len(),
        "master + one worker per edge CPU"
    );
    for entry in &state.services {
        assert_eq!(
            entry.liveness(),
            stack::process::Liveness::Running,
            "{}",
            entry.service
        );
        assert!(entry.log.is_file());
    }

    // The server hands freed heap memory back to the kernel (rt::heap): its trim thread runs.
    let server = state.service(Service::SERVER).unwrap();
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|comm| comm.trim().to_string())
        .collect();
    assert!(threads.iter().any(|t| t == "heap-trim"), "{threads:?}");

    // The stack answers through the edge.
    let token = stack.token();
    let css = get(stack.url("/static/reset.css"), None);
    assert_eq!((css.status, css.http_version.as_str()), (200, "2"));
    let sum = get(stack.url("/public/baseline?a=13&b=42"), None);
    assert_eq!((sum.status, sum.body_text().as_str()), (200, "55"));
    let item = get(stack.url("/api/items/1"), Some(&token));
    assert_eq!(item.status, 200);
    assert_eq!(item.json().unwrap()["id"], 1);

    let status = stack.run(&["status"]);
    assert!(
        status.status.success(),
        "status must exit 0 with every service healthy"
    );

    // One home runs one stack: other options while it runs are refused.
    let other = stack.run(&["up", "--ports-offset", &(stack.offset + 1).to_string()]);
    assert!(!other.status.success());
    assert!(
        text(&other.stderr).contains("already running"),
        "{}",
        text(&other.stderr)
    );

    // authsvc crashes: /api/ answers 503 JSON, the rest keeps working.
    let authsvc = state.service(Service::Authsvc).unwrap().clone();
    assert!(stack::process::send_signal(authsvc.pid(), libc::SIGKILL));
    assert_all_gone(&[authsvc.pid()], "killed authsvc");
    let api = get(stack.url("/api/items/1"), Some(&token));
    assert_eq!(api.status, 503);
    assert_eq!(api.header("content-type"), Some("application/json"));
    assert_eq!(api.json().unwrap()["error"], "auth service unavailable");
    assert_eq!(get(stack.url("/static/reset.css"), None).status, 200);
    assert_eq!(
        get(stack.url("/public/baseline?a=1&b=1"), None).body_text(),
        "2"
    );
    let status = stack.run(&["status"]);
    assert!(
        !status.status.success(),
        "status must fail while authsvc is down"
    );
    let table = text(&status.stdout);
    let authsvc_row = table.lines().find(|l| l.starts_with("authsvc")).unwrap();
    assert!(authsvc_row.contains(" no "), "{authsvc_row}");

    // `up` again brings back only authsvc.
    let again = stack.up(&["--no-supervise"]);
    assert!(again.status.success());
    let stdout = text(&again.stdout);
    for line in stdout
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
    {
        let service = line.split_whitespace().next().unwrap();
        if Service::parse(service).is_err() {
            continue;
        }
        let expected = if service == "authsvc" {
            "started"
        } else {
            "already running"
        };
        assert!(line.contains(expected), "{line}");
    }
    let new_state = StackState::load(&stack.home).unwrap();
    let new_authsvc = new_state.service(Service::Authsvc).unwrap();
    assert_ne!(new_authsvc.pid(), authsvc.pid());
    assert_eq!(
        new_state.service(Service::Edge),
        state.service(Service::Edge)
    );
    let api = get(stack.url("/api/items/1"), Some(&token));
    assert_eq!(api.status, 200, "{}", api.body_text());

    // nginx's master dies hard: its workers live on and keep the port. `up` kills those
    // leftovers (same session, same executable) and starts a new edge.
    let edge = new_state.service(Service::Edge).unwrap().clone();
    let workers: Vec<u32> = stack::process::session_members(edge.pid())
        .into_iter()
        .filter(|&p| p != edge.pid())
        .collect();
    assert!(!workers.is_empty(), "nginx has no workers?");
    assert!(stack::process::send_signal(edge.pid(), libc::SIGKILL));
    assert_all_gone(&[edge.pid()], "killed nginx master");
    assert!(
        workers.iter().all(|&w| stack::process::is_running(w)),
        "workers died with the master"
    );
    let cluster = stack::postgres::Cluster::new(stack.home.pgdata_dir()).unwrap();
    let pg = stack.ports().postgres;
    let name_of_5 = || {
        cluster
            .sql(pg, "benchmark", "SELECT name FROM items WHERE id = 5")
            .unwrap()
    };
    let original = name_of_5();
    cluster
        .sql(
            pg,
            "benchmark",
            "UPDATE items SET name = 'changed-by-test' WHERE id = 5",
        )
        .unwrap();
    let again = stack.up(&["--no-supervise"]);
    assert!(again.status.success());
    let stderr = text(&again.stderr);
    assert!(
        stderr.contains(&format!(
            "edge: was not running (pid {} gone); killed",
            edge.pid()
        )),
        "{stderr}"
    );
    assert_all_gone(&workers, "orphaned nginx workers");
    assert_eq!(get(stack.url("/static/reset.css"), None).status, 200);
    // Seeded once: a plain `up` keeps changes to the data...
    assert_eq!(name_of_5(), "changed-by-test");
    // ...and `--reseed` loads the seed again (while the server keeps running).
    let reseed = stack.up(&["--reseed", "--no-supervise"]);
    assert!(reseed.status.success());
    assert!(
        text(&reseed.stderr).contains("re-seeding"),
        "{}",
        text(&reseed.stderr)
    );
    assert_eq!(name_of_5(), original);
    let mut api = get(stack.url("/api/items/5"), Some(&token));
    for _ in 0..50 {
        if api.status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        api = get(stack.url("/api/items/5"), Some(&token));
    }
    assert_eq!(
        api.status,
        200,
        "the server did not recover from the reseed: {}",
        api.body_text()
    );
    assert_eq!(api.json().unwrap()["name"], original.as_str());

    // Logs: the end of a service's log, with our start header in it.
    let logs = stack.run(&["logs", "authsvc", "--lines", "200"]);
    assert!(logs.status.success());
    assert!(
        text(&logs.stdout).contains("==== prodstack: starting"),
        "{}",
        text(&logs.stdout)
    );
    let bad = stack.run(&["logs", "redis"]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("unknown service `redis`"));

    // Down: every process of the stack is gone, every port free, the state file removed.
    let pids = stack.processes();
    assert!(pids.len() >= 5, "{pids:?}");
    let down = stack.run(&["down"]);
    assert!(down.status.success());
    let report = text(&down.stdout);
    for service in Service::ALL {
        assert!(report.contains(&format!("{service}: stopped")), "{report}");
    }
    assert_all_gone(&pids, "after down");
    assert_ports_free(&stack.ports());
    assert!(!StackState::path(&stack.home).exists());
    let again = stack.run(&["down"]);
    assert!(again.status.success(), "a second down is a no-op");
}

/// SIGKILLs `service` of the running stack and waits (at most 30 s) for the supervisor to
/// record restart number `restarts` of it: the new entry and how long it took.
fn kill_and_await_restart(
    stack: &TestStack,
    service: Service,
    restarts: u32,
) -> (stack::ServiceState, Duration) {
    let old = StackState::load(&stack.home)
        .unwrap()
        .service(service)
        .unwrap()
        .clone();
    assert!(stack::process::send_signal(old.pid(), libc::SIGKILL));
    let killed = Instant::now();
    loop {
        let state = StackState::load(&stack.home).unwrap();
        if let Some(entry) = state.service(service) {
            if entry.restarts == restarts
                && entry.pid() != old.pid()
                && entry.liveness() == stack::process::Liveness::Running
            {
                return (entry.clone(), killed.elapsed());
            }
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "{service} was not restarted (restart {restarts}) within 30 s; supervisor log:\n{}",
            std::fs::read_to_string(stack.home.logs_dir().join("supervisor.log"))
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_supervisor_restarts_a_crashed_service_with_backoff_and_down_stops_it_first() {
    let _one = one_stack_at_a_time();
    let stack = TestStack::with_data();
    let up = stack.up(&["--restart-delay", "0.5"]);
    assert!(up.status.success(), "up failed: {}", text(&up.stderr));
    let stderr = text(&up.stderr);
    assert!(stderr.contains("supervisor: started (pid "), "{stderr}");
    assert!(stderr.contains("after 0.5s, doubling to 30s"), "{stderr}");
    let state = StackState::load(&stack.home).unwrap();
    let supervisor = state.supervisor.clone().expect("up records its supervisor");
    assert!(stack::process::is_running(supervisor.pid));
    let options = stack.home.run_dir().join("up-options.json");
    assert!(options.is_file(), "the supervisor's options were not saved");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&options).unwrap().permissions().mode() & 0o077,
        0,
        "up-options.json holds the JWT secret: owner-only"
    );
    // A second `up` keeps the running supervisor.
    let again = stack.up(&["--restart-delay", "0.5"]);
    assert!(again.status.success());
    assert!(
        text(&again.stderr).contains(&format!(
            "supervisor: already running (pid {})",
            supervisor.pid
        )),
        "{}",
        text(&again.stderr)
    );

    // The first crash waits the delay; a second one within a minute waits twice as long.
    let (first, took) = kill_and_await_restart(&stack, Service::Authsvc, 1);
    assert!(
        took >= Duration::from_millis(500),
        "restarted after {took:?}"
    );
    let (second, took) = kill_and_await_restart(&stack, Service::Authsvc, 2);
    assert!(
        took >= Duration::from_millis(1000),
        "restarted after {took:?}"
    );
    assert!(second.last_restart_unix_ms > first.last_restart_unix_ms);
    let log = std::fs::read_to_string(stack.home.logs_dir().join("supervisor.log")).unwrap();
    for line in [
        "authsvc: exited (pid ",
        "restarting in 0.5s (crash 1 in a row)",
        "restarting in 1.0s (crash 2 in a row)",
        "authsvc: restarted (pid ",
    ] {
        assert!(
            log.contains(line),
            "`{line}` missing from the supervisor log:\n{log}"
        );
    }
    // The restarted authsvc serves, and the others were left alone.
    let api = get(stack.url("/api/items/1"), Some(&stack.token()));
    assert_eq!(api.status, 200, "{}", api.body_text());
    let now = StackState::load(&stack.home).unwrap();
    for service in [
        Service::Postgres,
        Service::Cache,
        Service::SERVER,
        Service::Edge,
    ] {
        assert_eq!(now.service(service), state.service(service), "{service}");
    }
    let status = stack.run(&["status"]);
    assert!(status.status.success(), "{}", text(&status.stdout));
    let table = text(&status.stdout);
    let header = table.lines().next().unwrap();
    assert!(header.contains("RESTARTS"), "{table}");
    let restarts_of = |name: &str| {
        let row = table.lines().find(|l| l.starts_with(name)).unwrap();
        // SERVICE PORTS PID RUNNING RESTARTS HEALTHY
        row.split_whitespace().nth(4).unwrap().to_string()
    };
    assert_eq!(restarts_of("authsvc"), "2", "{table}");
    assert_eq!(restarts_of("server"), "0", "{table}");
    assert!(
        table.contains(&format!("supervisor: running (pid {})", supervisor.pid)),
        "{table}"
    );

    // `down` stops the supervisor before the services, so none comes back.
    let pids = stack.processes();
    let down = stack.run(&["down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    let report = text(&down.stdout);
    assert!(
        report.contains(&format!("supervisor: stopped (pid {})", supervisor.pid)),
        "{report}"
    );
    assert_all_gone(&pids, "after down");
    assert_all_gone(&[supervisor.pid], "the supervisor after down");
    assert!(!options.exists(), "down leaves up-options.json behind");
    std::thread::sleep(Duration::from_millis(1500));
    assert_ports_free(&stack.ports());
    assert!(!StackState::path(&stack.home).exists());

    // `--no-supervise` on a supervised stack stops its supervisor.
    assert!(stack.up(&[]).status.success());
    let supervisor = StackState::load(&stack.home).unwrap().supervisor.unwrap();
    let off = stack.up(&["--no-supervise"]);
    assert!(off.status.success());
    assert_all_gone(&[supervisor.pid], "the supervisor after up --no-supervise");
    assert!(StackState::load(&stack.home).unwrap().supervisor.is_none());
    let status = stack.run(&["status"]);
    assert!(
        text(&status.stdout).contains("supervisor: not running"),
        "{}",
        text(&status.stdout)
    );
}

#[test]
fn an_occupied_port_is_reported_with_its_holder_and_nothing_starts() {
    let _one = one_stack_at_a_time();
    let stack = TestStack::with_data();
    let ports = stack.ports();
    let _squatter = TcpListener::bind(("0.0.0.0", ports.server)).unwrap();

    let up = stack.up(&[]);
    assert!(!up.status.success());
    let stderr = text(&up.stderr);
    let expected = format!(
        "port {} (server) is held by pid {}",
        ports.server,
        std::process::id()
    );
    assert!(
        stderr.contains(&expected),
        "expected `{expected}` in:\n{stderr}"
    );
    assert!(
        !StackState::path(&stack.home).exists(),
        "nothing may have started"
    );
    assert!(
        !Service::Postgres.log_path(&stack.home).exists(),
        "postgres was started despite the conflict"
    );
}

#[test]
fn a_template_that_does_not_render_fails_before_anything_starts() {
    let _one = one_stack_at_a_time();
    let stack = TestStack::with_data();
    let template = stack.dir.path().join("broken.conf.template");
    let text_of =
        std::fs::read_to_string(project_root().join(stack::nginx::TEMPLATE_PATH)).unwrap();
    std::fs::write(
        &template,
        text_of.replace("{{static_dir}}", "{{static_folder}}"),
    )
    .unwrap();

    let up = stack.up(&["--nginx-template", template.to_str().unwrap()]);
    assert!(!up.status.success());
    let stderr = text(&up.stderr);
    assert!(stderr.contains(&template.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("unknown placeholder {{static_folder}}"),
        "{stderr}"
    );
    assert!(
        stderr.contains("parameter `static_dir` is not used"),
        "{stderr}"
    );
    assert!(!StackState::path(&stack.home).exists());
    assert!(!Service::Postgres.log_path(&stack.home).exists());
}

#[test]
fn an_edge_that_never_gets_healthy_is_torn_down_with_everything_before_it() {
    let _one = one_stack_at_a_time();
    let stack = TestStack::with_data();
    // Renders and passes `nginx -t`, but serves /static/ from a folder that does not exist:
    // the edge's health check (GET /static/reset.css) gets a 404.
    let template = stack.dir.path().join("no-static.conf.template");
    let text_of =
        std::fs::read_to_string(project_root().join(stack::nginx::TEMPLATE_PATH)).unwrap();
    std::fs::write(
        &template,
        text_of.replace("alias {{static_dir}}/;", "alias {{static_dir}}/missing/;"),
    )
    .unwrap();

    // Also: `--authsvc-bin` runs another authsvc binary (a copy of ours stands in for e.g.
    // HttpArena's) with the same environment.
    let other_authsvc = stack.dir.path().join("other-authsvc");
    std::fs::copy(bin_dir().join("authsvc"), &other_authsvc).unwrap();

    let up = stack.up(&[
        "--profile",
        "tuned",
        "--nginx-template",
        template.to_str().unwrap(),
        "--authsvc-bin",
        other_authsvc.to_str().unwrap(),
    ]);
    assert!(!up.status.success());
    let stderr = text(&up.stderr);
    let authsvc_log = std::fs::read_to_string(Service::Authsvc.log_path(&stack.home)).unwrap();
    assert!(
        authsvc_log.contains(&format!("starting {:?}", other_authsvc)),
        "{authsvc_log}"
    );
    assert!(stderr.contains("authsvc: healthy after"), "{stderr}");
    assert!(stderr.contains("edge is not healthy"), "{stderr}");
    assert!(stderr.contains("answered 404"), "{stderr}");
    assert!(stderr.contains("last lines of"), "{stderr}");
    // Everything that did start was stopped again, newest first.
    let order: Vec<usize> = [
        "edge: stopped",
        "server: stopped",
        "authsvc: stopped",
        "cache: stopped",
        "postgres: stopped",
    ]
    .iter()
    .map(|line| {
        stderr
            .find(line)
            .unwrap_or_else(|| panic!("no `{line}` in:\n{stderr}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "teardown order: {order:?}"
    );
    let pids: Vec<u32> = stderr
        .lines()
        .filter_map(|l| l.split("(pid ").nth(1)?.split(')').next()?.parse().ok())
        .collect();
    assert!(pids.len() >= 5, "{pids:?}");
    assert_all_gone(&pids, "after a failed up");
    assert_ports_free(&stack.ports());
    assert!(!StackState::path(&stack.home).exists());
}
