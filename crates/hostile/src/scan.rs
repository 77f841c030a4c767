//! What a TLS scanner finds: which suites a server still accepts, and `testssl.sh`'s verdicts.
//! Both run the real tools (`openssl s_client`, Debian's `testssl.sh` package) against the
//! address, so what is checked is what any scanner would see.

use std::net::SocketAddr;
use std::process::{Command, Stdio};

/// TLS 1.2 suites with CBC (LUCKY13) or RSA key exchange (ROBOT) that a hardened edge must
/// refuse; each is tried alone.
pub const WEAK_TLS12_SUITES: [&str; 8] = [
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-RSA-AES256-SHA",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-RSA-AES256-SHA384",
    "AES128-SHA",
    "AES256-GCM-SHA384",
    "CAMELLIA128-SHA",
    "DHE-RSA-AES128-SHA",
];

/// Whether a TLS 1.2 handshake offering only `suites` (OpenSSL names, `:`-separated)
/// succeeds, and the suite the server picked.
pub fn tls12_handshake(addr: SocketAddr, suites: &str) -> Result<Option<String>, String> {
    let out = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(addr.to_string())
        .args([
            "-servername",
            "localhost",
            "-tls1_2",
            "-cipher",
            suites,
            "-brief",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("openssl is needed (Debian package openssl): {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Ciphersuite: "))
        .map(str::to_string))
}

/// The weak suites the server accepted.
pub fn weak_suites_accepted(addr: SocketAddr) -> Result<Vec<String>, String> {
    let mut accepted = Vec::new();
    for suite in WEAK_TLS12_SUITES {
        if let Some(picked) = tls12_handshake(addr, suite)? {
            accepted.push(picked);
        }
    }
    Ok(accepted)
}

/// `testssl.sh --std --vulnerable`'s lines that say VULNERABLE or "potentially", with what
/// it printed in full (for the failure message).
pub fn testssl_findings(addr: SocketAddr) -> Result<(Vec<String>, String), String> {
    let program = ["testssl", "testssl.sh"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })
        .ok_or("testssl.sh is needed (Debian package testssl.sh; ./prodstack installs it)")?;
    let out = Command::new(program)
        .args([
            "--quiet",
            "--color",
            "0",
            "--warnings",
            "off",
            "--std",
            "--vulnerable",
        ])
        .arg(format!("localhost:{}", addr.port()))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {program}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !text.contains("Testing vulnerabilities") {
        return Err(format!("{program} did not run its checks:\n{text}"));
    }
    let findings = text
        .lines()
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            (lower.contains("vulnerable") && !lower.contains("not vulnerable"))
                || lower.contains("potentially")
        })
        .map(|l| l.trim().to_string())
        .collect();
    Ok((findings, text))
}
