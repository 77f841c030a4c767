//! `prodstack validate` and `prodstack bench` end to end, through the real CLI binary against a
//! real stack on offset ports: every check passes on an honest stack, the benchmark's smoke run
//! produces a complete HttpArena-format result, and a broken stack is refused, not scored.

mod support;

use stack::state::{Service, StackState};
use support::*;

#[test]
fn up_validate_down_passes_every_check_and_leaves_nothing_running() {
    let _one = one_stack_at_a_time();
    let stack = TestStack::with_data();
    assert!(stack.up(&[]).status.success(), "prodstack up failed");
    let pids = stack.processes();
    assert!(pids.len() >= 5, "expected five services, got pids {pids:?}");

    // No --url: validate finds the running stack (offset ports) through its state file.
    let out = stack.run(&["validate"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "validate failed:\n{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(last, "26 passed, 0 failed", "{stdout}");
    assert_eq!(stdout.matches("PASS  ").count(), 26, "{stdout}");
    assert!(stdout.contains(&format!(
        "validating https://localhost:{}",
        stack.ports().edge
    )));

    assert!(stack.run(&["down"]).status.success());
    assert_all_gone(&pids, "after down");
    assert_ports_free(&stack.ports());
    assert!(
        !StackState::path(&stack.home).exists(),
        "state file left behind"
    );
}

/// The Engine category's two shapes: our Rust edge forwarding to the server process, and the
/// fused process. Both must pass every check the nginx stack passes, with fewer processes.
#[test]
fn both_rust_edge_modes_pass_every_check_and_come_down_clean() {
    let _one = one_stack_at_a_time();
    let stack = TestStack::with_data();
    for (mode, services) in [
        (
            "proxy",
            &[
                Service::Postgres,
                Service::Cache,
                Service::Server,
                Service::Edge,
            ][..],
        ),
        (
            "fused",
            &[Service::Postgres, Service::Cache, Service::Edge][..],
        ),
    ] {
        let out = stack.up(&["--edge", "rust", "--mode", mode]);
        assert!(
            out.status.success(),
            "prodstack up --edge rust --mode {mode} failed"
        );
        let state = StackState::load(&stack.home).unwrap();
        let recorded: Vec<Service> = state.services.iter().map(|s| s.service).collect();
        assert_eq!(recorded, services, "{mode}: services");
        assert_eq!(state.edge.as_str(), format!("rust-{mode}"));
        let pids = stack.processes();

        let out = stack.run(&["validate"]);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "validate ({mode}) failed:\n{stdout}");
        assert_eq!(
            stdout.lines().last().unwrap_or_default(),
            "26 passed, 0 failed",
            "{mode}: {stdout}"
        );
        // The edge's own counters answer on the status port (what bench reads).
        let metrics = cli::curl::send(
            &cli::curl::Request::get(format!(
                "http://127.0.0.1:{}/metrics",
                stack.ports().edge_status
            ))
            .version(cli::curl::HttpVersion::Http11),
        )
        .unwrap();
        assert_eq!(metrics.status, 200, "{mode}");
        assert!(
            metrics
                .body_text()
                .contains("edge_requests_total{class=\"api\"}"),
            "{mode}: {}",
            metrics.body_text()
        );
        // A stack of another shape is refused while this one runs.
        let out = stack.up(&[]);
        assert!(
            !out.status.success(),
            "{mode}: up --edge nginx over a rust stack"
        );
        assert!(
            text(&out.stderr).contains(&format!("--edge rust-{mode}")),
            "{}",
            text(&out.stderr)
        );

        assert!(stack.run(&["down"]).status.success());
        assert_all_gone(&pids, &format!("after down ({mode})"));
        assert_ports_free(&stack.ports());
    }
}

#[test]
fn a_smoke_benchmark_writes_every_httparena_field_and_tears_its_stack_down() {
    let _one = one_stack_at_a_time();
    let stack = TestStack::with_data();
    let json = stack.home.root().join("result.json");
    let offset = stack.offset.to_string();
    let out = stack.run(&[
        "bench",
        "--connections",
        "16",
        "--duration",
        "2s",
        "--runs",
        "1",
        "--ports-offset",
        &offset,
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("== production · 16 connections =="),
        "{stdout}"
    );
    // bench brought the stack up, so it took it down again.
    assert!(
        !StackState::path(&stack.home).exists(),
        "bench left its stack running"
    );
    assert_ports_free(&stack.ports());

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let entries = doc.as_array().expect("an array of results");
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    let strings = [
        "framework",
        "language",
        "avg_latency",
        "p99_latency",
        "cpu",
        "memory",
        "duration",
        "bandwidth",
        "cpu_breakdown",
    ];
    let numbers = [
        "rps",
        "connections",
        "threads",
        "pipeline",
        "reconnects",
        "status_2xx",
        "status_3xx",
        "status_4xx",
        "status_5xx",
        "tpl_static",
        "tpl_baseline",
        "tpl_items",
        "tpl_me",
    ];
    for field in strings {
        assert!(e[field].is_string(), "{field} missing or not a string: {e}");
    }
    for field in numbers {
        assert!(e[field].is_u64(), "{field} missing or not a number: {e}");
    }
    assert!(e["rps"].as_u64().unwrap() > 0, "{e}");
    assert_eq!(e["connections"], 16);
    assert_eq!(e["status_4xx"], 0, "{e}");
    assert_eq!(e["status_5xx"], 0, "{e}");
    assert_eq!(e["prodstack"]["unanswered"], 0, "{e}");
    for template in ["tpl_static", "tpl_baseline", "tpl_items", "tpl_me"] {
        assert!(
            e[template].as_u64().unwrap() > 0,
            "{template} not measured: {e}"
        );
    }
    let usage = e["prodstack"]["runs"][0]["usage"].as_array().unwrap();
    for service in ["edge", "authsvc", "server", "cache"] {
        let cpu = usage
            .iter()
            .find(|u| u["service"] == service)
            .and_then(|u| u["cpu_percent"].as_f64())
            .unwrap_or_else(|| panic!("no CPU figure for {service}: {usage:?}"));
        assert!(cpu > 0.0, "{service} used no CPU: {usage:?}");
        assert!(e["cpu_breakdown"]
            .as_str()
            .unwrap()
            .contains(&format!("{service}: ")));
    }
}

#[test]
fn bench_refuses_a_stack_that_fails_validation() {
    let _one = one_stack_at_a_time();
    let stack = TestStack::with_data();
    assert!(stack.up(&[]).status.success(), "prodstack up failed");
    let state = StackState::load(&stack.home).unwrap();
    let server = state.service(Service::Server).unwrap().pid();
    // SAFETY: signalling a process this test's stack started.
    unsafe { libc::kill(server as i32, libc::SIGKILL) };
    assert_all_gone(&[server], "the killed server");

    let json = stack.home.root().join("refused.json");
    let out = stack.run(&[
        "bench",
        "--attach",
        "--connections",
        "16",
        "--duration",
        "2s",
        "--runs",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "bench scored a broken stack:\n{all}");
    assert!(all.contains("refusing to benchmark"), "{all}");
    assert!(
        all.contains("FAIL  4 baseline 13+42"),
        "the failing checks are listed:\n{all}"
    );
    assert!(!all.contains("rps/cpu"), "a score was printed:\n{all}");
    assert!(
        !json.exists(),
        "a result file was written for a refused run"
    );
    // --attach never stops a stack it did not start.
    assert!(StackState::path(&stack.home).exists());
}
