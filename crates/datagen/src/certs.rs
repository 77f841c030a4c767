//! `certs/server.crt` + `certs/server.key`: the edge's self-signed TLS identity.
//!
//! Made with the `openssl` command-line tool rather than a Rust X.509 stack: the tool is on
//! every machine that runs nginx anyway, and it keeps rcgen/ring out of the build. The
//! certificate is for `localhost` (SAN `DNS:localhost, IP:127.0.0.1`, which HttpArena's lacks,
//! so that verifying clients work too), RSA-2048, SHA-256, ten years; the key is unencrypted
//! PKCS#8 PEM (`BEGIN PRIVATE KEY`), like HttpArena's.

use std::io::ErrorKind;
use std::path::Path;
use std::process::Command;

use crate::{atomic, Error};

pub const CERT_FILE: &str = "server.crt";
pub const KEY_FILE: &str = "server.key";

/// Validity of the certificate, in days.
pub const VALID_DAYS: u32 = 3650;

/// Creates a new key pair and certificate in `dir` with the `openssl` program at `openssl`
/// (a bare name is looked up in `PATH`). Both files appear together: they are written to
/// temporary names first and renamed only after openssl succeeded.
pub fn generate(dir: &Path, openssl: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::io("creating folder", dir, source))?;
    let cert = dir.join(CERT_FILE);
    let key = dir.join(KEY_FILE);
    let temp_cert = atomic::temp_path(&cert);
    let temp_key = atomic::temp_path(&key);
    let result = run_openssl(openssl, &temp_cert, &temp_key).and_then(|()| {
        // Key first: a certificate never sits next to a key it does not belong to for longer
        // than the gap between two renames.
        std::fs::rename(&temp_key, &key).map_err(|source| Error::io("writing", &key, source))?;
        std::fs::rename(&temp_cert, &cert).map_err(|source| Error::io("writing", &cert, source))
    });
    let _ = std::fs::remove_file(&temp_cert);
    let _ = std::fs::remove_file(&temp_key);
    result
}

fn run_openssl(openssl: &Path, cert: &Path, key: &Path) -> Result<(), Error> {
    let output = Command::new(openssl)
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256"])
        .args(["-days", &VALID_DAYS.to_string()])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .map_err(|source| match source.kind() {
            ErrorKind::NotFound => Error::OpensslMissing {
                program: openssl.to_path_buf(),
            },
            _ => Error::io("running", openssl, source),
        })?;
    if !output.status.success() {
        return Err(Error::Openssl {
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(())
}
