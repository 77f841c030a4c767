//! `datagen::generate` end to end: every file in a fresh home, determinism, idempotence,
//! `--force`, targeted refreshes, `--from` an HttpArena folder, and clear errors.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use datagen::static_files::{self, Kind};
use datagen::{dataset, seed, token, Outcome, Report};

/// Files every run is responsible for: certs 2, dataset, seed, redis seed, static 20 + 15 + 15,
/// token, requests 3.
const FILE_COUNT: usize = 2 + 4 + 50 + 1 + 3;

fn generate(home: &Path) -> Report {
    datagen::generate(&common::options(home)).unwrap()
}

fn read(home: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(home.join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Checks everything a fresh run must have written into `home`.
fn assert_fresh_home(home: &Path, report: &Report) {
    assert_eq!(report.files.len(), FILE_COUNT);
    assert_eq!(report.count(|o| *o == Outcome::Generated), FILE_COUNT);
    // Exactly the reported files exist: no temporary leftovers, nothing unexpected.
    let reported: Vec<PathBuf> = {
        let mut paths: Vec<PathBuf> = report.files.iter().map(|f| f.path.clone()).collect();
        paths.sort();
        paths
    };
    assert_eq!(common::files_under(home), reported);

    assert_eq!(
        read(home, "data/dataset.json"),
        dataset::to_json(&dataset::generate())
    );
    assert_eq!(read(home, "data/redis-seed.txt"), b"PING\n");
    let sql = String::from_utf8(read(home, "data/pgdb-seed.sql")).unwrap();
    assert!(sql.starts_with(&seed::header_line(&dataset::generate())));

    // Static: exact sizes, siblings decompress to the originals, sensible ratios, headers.
    for file in &static_files::FILES {
        let original = read(home, &format!("data/static/{}", file.name));
        assert_eq!(original.len(), file.size, "{}", file.name);
        let gz_path = home.join(format!("data/static/{}.gz", file.name));
        let br_path = home.join(format!("data/static/{}.br", file.name));
        if !file.kind.is_text() {
            assert!(!gz_path.exists() && !br_path.exists(), "{}", file.name);
            continue;
        }
        let gz = std::fs::read(&gz_path).unwrap();
        assert_eq!(&gz[..3], [0x1f, 0x8b, 8], "gzip magic + deflate");
        assert_eq!(gz[3], 0, "no FNAME or other optional header fields");
        assert_eq!(&gz[4..8], [0, 0, 0, 0], "mtime 0");
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut unpacked)
            .unwrap();
        assert!(unpacked == original, "{}.gz round trip", file.name);
        let ratio = original.len() as f64 / gz.len() as f64;
        assert!(
            (2.5..=12.0).contains(&ratio),
            "{} gzip ratio {ratio:.1}",
            file.name
        );

        let br = std::fs::read(&br_path).unwrap();
        let mut unpacked = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut unpacked)
            .unwrap();
        assert!(unpacked == original, "{}.br round trip", file.name);
        assert!(
            br.len() < gz.len(),
            "{}: brotli -q 11 beats gzip -9",
            file.name
        );

        let text = std::str::from_utf8(&original).unwrap();
        match file.kind {
            Kind::Html => assert!(text.starts_with("<!DOCTYPE html>") && text.contains("</html>")),
            Kind::Svg => assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>")),
            Kind::Json => {
                let manifest: serde_json::Value = serde_json::from_str(text).unwrap();
                assert!(manifest["icons"]
                    .as_array()
                    .is_some_and(|icons| !icons.is_empty()));
            }
            Kind::Css => assert_eq!(text.matches('{').count(), text.matches('}').count()),
            _ => {}
        }
    }
    let woff2 = read(home, "data/static/bold.woff2");
    assert_eq!(&woff2[..4], b"wOF2");
    assert_eq!(u32::from_be_bytes(woff2[8..12].try_into().unwrap()), 22_528);
    let webp = read(home, "data/static/hero.webp");
    assert_eq!(&webp[..4], b"RIFF");
    assert_eq!(
        u32::from_le_bytes(webp[4..8].try_into().unwrap()),
        46_080 - 8
    );
    assert_eq!(&webp[8..16], b"WEBPVP8 ");
    assert_eq!(
        &webp[23..26],
        [0x9d, 0x01, 0x2a],
        "VP8 key-frame start code"
    );

    // Token: verifies with the stack's verifier, user 42, about a year left, no newline.
    let token = read(home, "data/jwt-token.txt");
    assert_ne!(token.last(), Some(&b'\n'));
    let header = [b"Bearer ".as_slice(), &token].concat();
    let verifier = jwt::Verifier::new(b"test-secret");
    assert_eq!(verifier.verify(&header).unwrap().as_str(), "42");
    let now = token::now_unix_secs();
    assert!(verifier.verify_at(&header, now + 364 * 86_400).is_ok());
    assert_eq!(
        verifier.verify_at(&header, now + 366 * 86_400),
        Err(jwt::VerifyError::Expired)
    );
    assert!(jwt::Verifier::new(b"another").verify(&header).is_err());

    // Requests: HttpArena's shapes with the default edge address.
    let reads = String::from_utf8(read(home, "requests/production-stack-reads.txt")).unwrap();
    assert_eq!(reads.lines().count(), 20_000);
    assert_eq!(
        read(home, "requests/production-stack-write-body.json"),
        datagen::requests::WRITE_BODY.as_bytes()
    );

    // TLS: PEM files, localhost SAN, RSA-2048, ~10 years, key matches certificate.
    let cert = home.join("certs/server.crt");
    let key = home.join("certs/server.key");
    let cert_text = std::fs::read_to_string(&cert).unwrap();
    let key_text = std::fs::read_to_string(&key).unwrap();
    assert!(cert_text.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(
        key_text.starts_with("-----BEGIN PRIVATE KEY-----"),
        "unencrypted PKCS#8"
    );
    let cert = cert.to_str().unwrap();
    let key = key.to_str().unwrap();
    let details = openssl(&["x509", "-in", cert, "-noout", "-text"]);
    assert!(
        details.contains("DNS:localhost, IP Address:127.0.0.1"),
        "{details}"
    );
    assert!(details.contains("Public-Key: (2048 bit)"), "{details}");
    assert!(details.contains("Subject: CN = localhost"), "{details}");
    let nine_years = (9 * 365 * 86_400).to_string();
    openssl(&["x509", "-in", cert, "-noout", "-checkend", &nine_years]);
    assert_eq!(
        openssl(&["x509", "-in", cert, "-noout", "-pubkey"]),
        openssl(&["pkey", "-in", key, "-pubout"])
    );
}

// Brotli at quality 11 makes a full run take seconds in debug builds, so the tests below share
// runs: two fresh homes here, one home that lives through repairs and `--force` further down.

#[test]
fn fresh_homes_get_every_file_right_and_identical_except_token_and_key_pair() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let report = generate(a.path());
    assert_fresh_home(a.path(), &report);
    generate(b.path());
    let files = common::files_under(a.path());
    assert_eq!(files, common::files_under(b.path()));
    let random = ["data/jwt-token.txt", "certs/server.crt", "certs/server.key"];
    let mut compared = 0;
    for rel in &files {
        let rel = rel.to_str().unwrap();
        if random.contains(&rel) {
            continue;
        }
        assert!(read(a.path(), rel) == read(b.path(), rel), "{rel} differs");
        compared += 1;
    }
    assert_eq!(compared, FILE_COUNT - 3);
    // The key pairs are fresh per home, not copied from somewhere.
    assert_ne!(
        read(a.path(), "certs/server.key"),
        read(b.path(), "certs/server.key")
    );
}

#[test]
fn later_runs_keep_what_is_in_place_repair_what_is_stale_and_force_rebuilds() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    generate(home);

    // A second run keeps every file untouched, and says so.
    let files = common::files_under(home);
    let before: Vec<_> = files.iter().map(|f| common::mtime(&home.join(f))).collect();

    let again = generate(home);
    assert_eq!(again.files.len(), FILE_COUNT);
    assert!(!again.changed());
    assert!(again.files.iter().all(|f| f.outcome == Outcome::Kept));
    let after: Vec<_> = files.iter().map(|f| common::mtime(&home.join(f))).collect();
    assert_eq!(before, after, "kept files are not touched");
    let summary = again.to_string();
    assert!(summary.starts_with("nothing to do"), "{summary}");

    let mut options = common::options(home);
    let changed = |report: &Report| -> Vec<String> {
        report
            .files
            .iter()
            .filter(|f| f.outcome != Outcome::Kept)
            .map(|f| f.path.display().to_string())
            .collect()
    };
    let token_rel = "data/jwt-token.txt";

    // The cache entrypoint is code, not data: an edited copy is put back without --force.
    let entrypoint = home.join(datagen::REDIS_ENTRYPOINT_REL);
    assert_eq!(
        read(home, datagen::REDIS_ENTRYPOINT_REL),
        datagen::REDIS_ENTRYPOINT_SH.as_bytes()
    );
    std::fs::write(&entrypoint, "#!/bin/sh\nexit 1\n").unwrap();
    let report = datagen::generate(&options).unwrap();
    assert_eq!(
        changed(&report),
        vec![datagen::REDIS_ENTRYPOINT_REL.to_string()]
    );
    assert_eq!(
        read(home, datagen::REDIS_ENTRYPOINT_REL),
        datagen::REDIS_ENTRYPOINT_SH.as_bytes()
    );

    // A token that expires within a week is replaced.
    let now = token::now_unix_secs();
    let expiring = jwt::sign_payload(token::claims_json(now + 86_400).as_bytes(), b"test-secret");
    std::fs::write(home.join(token_rel), &expiring).unwrap();
    let report = datagen::generate(&options).unwrap();
    assert_eq!(changed(&report), [token_rel]);
    let note = report.get(token_rel).unwrap().note.clone().unwrap();
    assert!(note.contains("7 days"), "{note}");
    let fresh = read(home, token_rel);
    assert_ne!(fresh, expiring.as_bytes());

    // So is one signed with another secret (JWT_SECRET changed).
    options.jwt_secret = "rotated".into();
    let report = datagen::generate(&options).unwrap();
    assert_eq!(changed(&report), [token_rel]);
    let header = [b"Bearer ".as_slice(), &read(home, token_rel)].concat();
    assert!(jwt::Verifier::new(b"rotated").verify(&header).is_ok());

    // A deleted sibling is rebuilt from the original on disk, nothing else moves.
    std::fs::remove_file(home.join("data/static/app.js.br")).unwrap();
    let report = datagen::generate(&options).unwrap();
    assert_eq!(changed(&report), ["data/static/app.js.br"]);

    // An edited original gets new siblings.
    let original = home.join("data/static/reset.css");
    std::fs::remove_file(&original).unwrap();
    std::fs::write(home.join("data/static/reset.css.gz"), b"stale").unwrap();
    let report = datagen::generate(&options).unwrap();
    assert_eq!(
        changed(&report),
        [
            "data/static/reset.css",
            "data/static/reset.css.gz",
            "data/static/reset.css.br"
        ]
    );
    assert_ne!(read(home, "data/static/reset.css.gz"), b"stale");

    // A different dataset.json is kept, and the seed is redrawn from it.
    let mut items = dataset::generate();
    items[0].name = "Renamed Widget".into();
    std::fs::write(home.join("data/dataset.json"), dataset::to_json(&items)).unwrap();
    let report = datagen::generate(&options).unwrap();
    assert_eq!(changed(&report), ["data/pgdb-seed.sql"]);
    let note = report.get("data/pgdb-seed.sql").unwrap().note.clone();
    assert!(note
        .unwrap()
        .contains("not drawn from the current dataset.json"));
    let sql = String::from_utf8(read(home, "data/pgdb-seed.sql")).unwrap();
    assert!(sql.starts_with(&seed::header_line(&items)));
    assert_eq!(
        sql.lines().nth(15).unwrap(),
        seed::items(&items).next().unwrap().copy_line().trim_end()
    );

    // No temporary file of an atomic write is ever left behind.
    assert!(common::files_under(home)
        .iter()
        .all(|f| !datagen::atomic::is_temp_name(&f.file_name().unwrap().to_string_lossy())));

    // --force regenerates every file.
    let old_key = read(home, "certs/server.key");
    options.force = true;
    let forced = datagen::generate(&options).unwrap();
    assert_eq!(forced.count(|o| *o == Outcome::Generated), FILE_COUNT);
    assert_ne!(read(home, "certs/server.key"), old_key, "a new key pair");
    let summary = forced.to_string();
    assert!(
        summary.contains("generated data/pgdb-seed.sql"),
        "{summary}"
    );
    assert!(summary.ends_with(&format!(
        "{FILE_COUNT} generated, 0 copied, 0 kept (already in place)"
    )));
}

#[test]
fn from_httparena_copies_its_files_and_draws_the_seed_from_its_dataset() {
    let Some(fixture) =
        common::httparena("from_httparena_copies_its_files_and_draws_the_seed_from_its_dataset")
    else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let mut options = common::options(home);
    options.jwt_secret = contract::BENCH_SECRET.into();
    options.from = Some(fixture.clone());
    let report = datagen::generate(&options).unwrap();
    assert_eq!(report.files.len(), FILE_COUNT);

    let copied_from = |rel: &str| match &report.get(rel).unwrap().outcome {
        Outcome::Copied { from } => Some(from.clone()),
        _ => None,
    };
    for rel in [
        "data/dataset.json",
        "data/static/app.js",
        "data/static/app.js.br",
        "data/static/hero.webp",
        "requests/production-stack-reads.txt",
        "certs/server.crt",
        "certs/server.key",
    ] {
        assert_eq!(copied_from(rel), Some(fixture.join(rel)), "{rel}");
        assert_eq!(
            read(home, rel),
            std::fs::read(fixture.join(rel)).unwrap(),
            "{rel}"
        );
    }
    // HttpArena keeps no Postgres seed in git: it is generated, from HttpArena's dataset.
    assert_eq!(
        report.get("data/pgdb-seed.sql").unwrap().outcome,
        Outcome::Generated
    );
    // Its Redis seed is copied where the checkout has one (newer ones do), else generated.
    let redis_seed = fixture.join("data/redis-seed.txt");
    if redis_seed.is_file() {
        assert_eq!(copied_from("data/redis-seed.txt"), Some(redis_seed.clone()));
        assert_eq!(
            read(home, "data/redis-seed.txt"),
            std::fs::read(&redis_seed).unwrap()
        );
    } else {
        assert_eq!(
            report.get("data/redis-seed.txt").unwrap().outcome,
            Outcome::Generated
        );
    }
    let sql = String::from_utf8(read(home, "data/pgdb-seed.sql")).unwrap();
    assert!(sql.contains(
        "FROM STDIN;\n1\tPrime Gear 1\thome\t328\t115\tf\t[\"heavy-duty\", \"wireless\", \"fast\"]\t44\t380\n"
    ));
    // Their token is copied while it is valid for our secret and not about to expire.
    let theirs = std::fs::read_to_string(fixture.join("data/jwt-token.txt")).unwrap();
    let expected = match token::check(
        &theirs,
        contract::BENCH_SECRET.as_bytes(),
        token::now_unix_secs(),
    ) {
        token::TokenCheck::Usable => Some(fixture.join("data/jwt-token.txt")),
        _ => None,
    };
    assert_eq!(copied_from("data/jwt-token.txt"), expected);
    // Everything else HttpArena has: 50 static, dataset, 3 request files, 2 certs (and the
    // Redis seed where it has one).
    assert_eq!(
        report.count(|o| matches!(o, Outcome::Copied { .. })),
        56 + usize::from(expected.is_some()) + usize::from(redis_seed.is_file())
    );
    let summary = report.to_string();
    assert!(summary.contains(&format!(
        "<- {}",
        fixture.join("data/dataset.json").display()
    )));

    // Idempotent with --from too.
    let again = datagen::generate(&options).unwrap();
    assert!(!again.changed(), "{again}");

    // A secret their token was not signed with: ours is minted instead, with the reason.
    options.jwt_secret = "not-httparenas".into();
    let report = datagen::generate(&options).unwrap();
    let entry = report.get("data/jwt-token.txt").unwrap();
    assert_eq!(entry.outcome, Outcome::Generated);
    assert!(
        entry.note.as_deref().unwrap().contains("not copying"),
        "{entry:?}"
    );
}

#[test]
fn a_missing_openssl_is_a_clear_error_before_any_work() {
    let home = tempfile::tempdir().unwrap();
    let mut options = common::options(home.path());
    options.openssl = PathBuf::from("/nonexistent/bin/openssl");
    let err = datagen::generate(&options).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("/nonexistent/bin/openssl"), "{message}");
    assert!(message.contains("apt-get install openssl"), "{message}");
    assert!(
        common::files_under(home.path()).is_empty(),
        "no half-made certs"
    );
}

#[test]
fn a_from_folder_without_httparenas_layout_is_rejected() {
    let home = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let mut options = common::options(home.path());
    options.from = Some(empty.path().to_path_buf());
    let err = datagen::generate(&options).unwrap_err();
    assert!(err.to_string().contains("HttpArena's layout"), "{err}");
    assert!(common::files_under(home.path()).is_empty());
}

#[test]
fn an_unreadable_dataset_stops_the_run_with_its_path() {
    let home = tempfile::tempdir().unwrap();
    let dataset = home.path().join("data/dataset.json");
    std::fs::create_dir_all(dataset.parent().unwrap()).unwrap();
    std::fs::write(&dataset, b"{ not json").unwrap();
    let err = datagen::generate(&common::options(home.path())).unwrap_err();
    assert!(err.to_string().contains("data/dataset.json"), "{err}");
    assert_eq!(
        std::fs::read(&dataset).unwrap(),
        b"{ not json",
        "input left as it was"
    );
    assert!(!home.path().join("data/pgdb-seed.sql").exists());
}
