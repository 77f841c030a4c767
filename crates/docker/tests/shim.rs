//! The `docker compose` shim of a prodstack engine: it adds this host's adaptation override to
//! the commands that create containers, and passes everything else through unchanged. The real
//! plugin is replaced by `echo`, so what the shim would run is what it prints.

use std::process::Command;

const SHIM: &str = env!("CARGO_BIN_EXE_prodstack-compose-shim");

fn run(args: &[&str]) -> String {
    let out = Command::new(SHIM)
        .args(["--real", "/bin/echo"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn up_gets_the_hosts_override_and_other_commands_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yml");
    // A CPU this process may not use, and a descriptor limit above any hard limit.
    let beyond = stack::CpuSet::available()
        .unwrap()
        .cpus()
        .iter()
        .max()
        .unwrap()
        + 1;
    std::fs::write(
        &file,
        format!("services:\n  edge:\n    image: x\n    cpuset: \"0-{beyond}\"\n    ulimits:\n      nofile:\n        soft: 1099511627776\n        hard: 1099511627776\n"),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let up = run(&["compose", "-f", f, "-p", "demo", "up", "--build", "-d"]);
    let words: Vec<&str> = up.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "up").unwrap();
    assert_eq!(words[at - 2], "-f", "{up}");
    let override_file = words[at - 1];
    assert!(override_file.contains("prodstack-compose-adapt-"), "{up}");
    let yaml = std::fs::read_to_string(override_file).unwrap();
    assert!(yaml.contains("cpuset:"), "{yaml}");
    assert!(yaml.contains("nofile:"), "{yaml}");
    assert_eq!(&words[..5], ["compose", "-f", f, "-p", "demo"]);

    for passthrough in [
        vec!["compose", "-f", f, "-p", "demo", "down", "--remove-orphans"],
        vec!["docker-cli-plugin-metadata"],
        vec!["compose", "version"],
    ] {
        assert_eq!(run(&passthrough), passthrough.join(" "));
    }
}
