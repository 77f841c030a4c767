//! `prodstack validate`: HttpArena's 15 production-stack checks, exactly as its
//! `validate.sh` runs them (curl, HTTP/2, certificate checks off, a new TLS connection per
//! request), followed by extended checks that any honest stack passes: bodies byte-exact
//! against the database, identity spoofing, invalidation seen through the edge, error
//! mapping, compression and HTTP/1.1.
//!
//! Like HttpArena's, the checks write: item 2 and item 3 get the validation values. The
//! extended invalidation check restores the row it changes.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context as _};
use clap::Args;
use serde_json::Value;

pub mod curl;

use crate::curl::{HttpVersion, Request, Response};
use stack::Project;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Base URL of the edge (default: the running stack's, else https://localhost:8443).
    #[arg(long)]
    pub url: Option<String>,
    /// JWT to send (default: the home's data/jwt-token.txt, as HttpArena reads it).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Database the extended checks compare bodies against (default: the running stack's).
    #[arg(long)]
    pub database_url: Option<String>,
    /// The dataset `/public/json` must serve (default: the home's data/dataset.json).
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Only HttpArena's 15 checks.
    #[arg(long)]
    pub httparena_only: bool,
}

/// Everything the checks need to know about the stack under test.
#[derive(Debug, Clone)]
pub struct Target {
    pub base_url: String,
    pub token: String,
    pub database_url: String,
    pub dataset: PathBuf,
}

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub name: &'static str,
    pub outcome: Result<(), String>,
}

impl CheckResult {
    pub fn passed(&self) -> bool {
        self.outcome.is_ok()
    }
}

pub fn run(project: &Project, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let target = target_from_args(project, &args)?;
    println!("validating {}", target.base_url);
    let results = run_checks(&target, !args.httparena_only, print_result);
    let failed = results.iter().filter(|r| !r.passed()).count();
    println!("{} passed, {} failed", results.len() - failed, failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn print_result(result: &CheckResult) {
    match &result.outcome {
        Ok(()) => println!("PASS  {}", result.name),
        Err(reason) => println!("FAIL  {}: {reason}", result.name),
    }
}

/// Fills in the defaults: the running stack's edge and database (from its state file) or
/// HttpArena's ports, and the home's token and dataset.
pub fn target_from_args(project: &Project, args: &ValidateArgs) -> anyhow::Result<Target> {
    let token_file = args
        .token_file
        .clone()
        .unwrap_or_else(|| project.home.token_path());
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| {
            format!(
                "reading the token {} (run `prodstack data`)",
                token_file.display()
            )
        })?
        .trim()
        .to_string();
    let running = stack::StackState::load_if_present(&project.home)?;
    let base_url = match (&args.url, &running) {
        (Some(url), _) => url.clone(),
        (None, Some(state)) => state.edge_url(),
        (None, None) => "https://localhost:8443".to_string(),
    };
    let database_url = match (&args.database_url, &running) {
        (Some(url), _) => url.clone(),
        (None, Some(state)) => stack::postgres::database_url(state.ports.postgres),
        (None, None) => stack::postgres::database_url(5432),
    };
    Ok(Target {
        base_url: base_url.trim_end_matches('/').to_string(),
        token,
        database_url,
        dataset: args
            .dataset
            .clone()
            .unwrap_or_else(|| project.home.dataset_path()),
    })
}

type Check = fn(&Target) -> anyhow::Result<()>;

/// HttpArena's checks, in `validate.sh` order.
const HTTPARENA_CHECKS: &[(&str, Check)] = &[
    ("1 static over HTTP/2", check_static_h2),
    ("2 static content type text/css", check_static_content_type),
    ("3 static app.js has a body", check_static_body),
    ("4 baseline 13+42", check_baseline_fixed),
    ("5 baseline random", check_baseline_random),
    ("6 json/25 totals", check_json_totals),
    ("7 GET /api without token is 401", check_get_no_token),
    ("8 GET /api with bad token is 401", check_get_bad_token),
    ("9 POST /api without token is 401", check_post_no_token),
    ("10 POST /api with bad token is 401", check_post_bad_token),
    ("11 GET /api/items/1 with token", check_item_one),
    ("12 item 7 MISS then HIT", check_miss_then_hit),
    ("13 POST /api/items/2 is 204", check_post_204),
    ("14 POST invalidates (item 3)", check_post_invalidates),
    ("15 GET /api/me is user 42", check_me),
];

/// Checks beyond HttpArena's that any honest stack passes.
const EXTENDED_CHECKS: &[(&str, Check)] = &[
    ("x1 item bodies byte-exact vs Postgres", check_items_exact),
    ("x2 /api/me body byte-exact vs Postgres", check_me_exact),
    ("x3 json/50 matches the dataset", check_json_matches_dataset),
    (
        "x4 invalidation visible through the edge",
        check_invalidation_visible,
    ),
    (
        "x5 client X-User-Id without token is 401",
        check_spoof_without_token,
    ),
    (
        "x6 client X-User-Id is overwritten",
        check_spoof_overwritten,
    ),
    ("x7 401 from the edge is JSON", check_unauthorized_json),
    ("x8 malformed JSON POST is 400", check_malformed_post),
    ("x9 unknown item is 404", check_unknown_item),
    (
        "x10 precompressed static (br or gzip) with Vary",
        check_precompressed_static,
    ),
    ("x11 HTTP/1.1 clients served", check_http11),
    (
        "x12 200 KB POST is 413 JSON, row unchanged",
        check_oversize_post,
    ),
];

/// Runs the checks in order, reporting each one as it finishes.
pub fn run_checks(
    target: &Target,
    extended: bool,
    mut report: impl FnMut(&CheckResult),
) -> Vec<CheckResult> {
    let extra: &[(&str, Check)] = if extended { EXTENDED_CHECKS } else { &[] };
    HTTPARENA_CHECKS
        .iter()
        .chain(extra)
        .map(|(name, check)| {
            let result = CheckResult {
                name,
                outcome: check(target).map_err(|e| format!("{e:#}")),
            };
            report(&result);
            result
        })
        .collect()
}

fn url(target: &Target, path: &str) -> String {
    format!("{}{path}", target.base_url)
}

fn get(target: &Target, path: &str) -> Request<'static> {
    Request::get(url(target, path))
}

fn authed_get(target: &Target, path: &str) -> Request<'static> {
    get(target, path).bearer(&target.token)
}

fn post_json(target: &Target, path: &str, body: &str) -> Request<'static> {
    Request::post(url(target, path), body.as_bytes().to_vec()).json()
}

fn expect_status(response: &Response, status: u16) -> anyhow::Result<()> {
    ensure!(
        response.status == status,
        "status {} (expected {status}), body {:?}",
        response.status,
        curl::truncate(&response.body_text(), 160)
    );
    Ok(())
}

/// `validate.sh` reads `x-cache` case-insensitively and keeps the first whitespace token.
fn x_cache(response: &Response) -> String {
    response
        .header("x-cache")
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("")
        .to_string()
}

fn check_static_h2(t: &Target) -> anyhow::Result<()> {
    let r = curl::send(&get(t, "/static/reset.css"))?;
    ensure!(
        r.http_version == "2",
        "negotiated HTTP/{} (expected 2)",
        r.http_version
    );
    Ok(())
}

fn check_static_content_type(t: &Target) -> anyhow::Result<()> {
    let r = curl::send(&get(t, "/static/reset.css"))?;
    let ct = r.header("content-type").unwrap_or("");
    ensure!(
        ct == "text/css" || ct.starts_with("text/css;"),
        "Content-Type {ct:?}"
    );
    Ok(())
}

fn check_static_body(t: &Target) -> anyhow::Result<()> {
    let r = curl::send(&get(t, "/static/app.js"))?;
    ensure!(!r.body.is_empty(), "empty body (status {})", r.status);
    Ok(())
}

fn check_baseline_fixed(t: &Target) -> anyhow::Result<()> {
    let r = curl::send(&get(t, "/public/baseline?a=13&b=42"))?;
    let body = r.body_text();
    let last = body.lines().last().unwrap_or("");
    ensure!(last == "55", "last line {last:?} (expected \"55\")");
    Ok(())
}

fn check_baseline_random(t: &Target) -> anyhow::Result<()> {
    let (a, b) = two_random_in_100_999();
    let r = curl::send(&get(t, &format!("/public/baseline?a={a}&b={b}")))?;
    let body = r.body_text();
    ensure!(
        body.trim() == (a + b).to_string(),
        "a={a} b={b}: body {body:?} (expected {})",
        a + b
    );
    Ok(())
}

fn two_random_in_100_999() -> (u64, u64) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(42);
    let mut x = nanos ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        100 + x % 900
    };
    (next(), next())
}

fn check_json_totals(t: &Target) -> anyhow::Result<()> {
    let r = curl::send(&get(t, "/public/json/25"))?;
    expect_status(&r, 200)?;
    let doc = r.json()?;
    ensure!(
        doc["count"] == 25,
        "count is {} (expected 25)",
        doc["count"]
    );
    let items = doc["items"].as_array().context("no items array")?;
    ensure!(items.len() == 25, "{} items (expected 25)", items.len());
    for item in items {
        let total = item["total"]
            .as_f64()
            .with_context(|| format!("item {} has no numeric total", item["id"]))?;
        let price = item["price"].as_f64().context("price is not a number")?;
        let quantity = item["quantity"]
            .as_f64()
            .context("quantity is not a number")?;
        let expected = (price * quantity * 100.0).round() / 100.0;
        ensure!(
            (total - expected).abs() <= 0.02,
            "item {}: total {total}, price*quantity {expected}",
            item["id"]
        );
    }
    Ok(())
}

fn check_get_no_token(t: &Target) -> anyhow::Result<()> {
    expect_status(&curl::send(&get(t, "/api/items/1"))?, 401)
}

fn check_get_bad_token(t: &Target) -> anyhow::Result<()> {
    expect_status(
        &curl::send(&get(t, "/api/items/1").bearer("invalid.token.here"))?,
        401,
    )
}

const VALIDATE_WRITE: &str = r#"{"name":"validate-test","price":1,"quantity":1}"#;

fn check_post_no_token(t: &Target) -> anyhow::Result<()> {
    expect_status(
        &curl::send(&post_json(t, "/api/items/1", VALIDATE_WRITE))?,
        401,
    )
}

fn check_post_bad_token(t: &Target) -> anyhow::Result<()> {
    expect_status(
        &curl::send(&post_json(t, "/api/items/1", VALIDATE_WRITE).bearer("invalid.token.here"))?,
        401,
    )
}

fn check_item_one(t: &Target) -> anyhow::Result<()> {
    let r = curl::send(&authed_get(t, "/api/items/1"))?;
    expect_status(&r, 200)?;
    let doc = r.json()?;
    ensure!(doc["id"] == 1, "id is {} (expected 1)", doc["id"]);
    Ok(())
}

fn check_miss_then_hit(t: &Target) -> anyhow::Result<()> {
    let first = curl::send(&authed_get(t, "/api/items/7"))?;
    let second = curl::send(&authed_get(t, "/api/items/7"))?;
    let (a, b) = (x_cache(&first), x_cache(&second));
    ensure!(
        a == "MISS" && b == "HIT",
        "X-Cache {a:?} then {b:?} (expected MISS then HIT; a warm item 7 means the cache was pre-warmed or validated less than a TTL ago)"
    );
    Ok(())
}

fn check_post_204(t: &Target) -> anyhow::Result<()> {
    let body = r#"{"name":"validate-updated","price":777,"quantity":99}"#;
    expect_status(
        &curl::send(&post_json(t, "/api/items/2", body).bearer(&t.token))?,
        204,
    )
}

fn check_post_invalidates(t: &Target) -> anyhow::Result<()> {
    curl::send(&authed_get(t, "/api/items/3"))?;
    let body = r#"{"name":"validate-invalidated","price":111,"quantity":22}"#;
    let write = curl::send(&post_json(t, "/api/items/3", body).bearer(&t.token))?;
    expect_status(&write, 204)?;
    let after = curl::send(&authed_get(t, "/api/items/3"))?;
    let cache = x_cache(&after);
    ensure!(
        cache == "MISS",
        "X-Cache {cache:?} after the write (expected MISS)"
    );
    Ok(())
}

fn check_me(t: &Target) -> anyhow::Result<()> {
    let r = curl::send(&authed_get(t, "/api/me"))?;
    expect_status(&r, 200)?;
    let doc = r.json()?;
    ensure!(doc["id"] == 42, "id is {} (expected 42)", doc["id"]);
    Ok(())
}

// ---- extended checks -------------------------------------------------------------------

/// Reads rows with `psql` (the client from Debian's postgresql package).
fn query(t: &Target, sql: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let psql = stack::postgres::PgBin::find()?.tool("psql");
    let output = Command::new(psql)
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-F",
            "\x1f",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .arg("-d")
        .arg(&t.database_url)
        .arg("-c")
        .arg(sql)
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .context("running psql")?;
    if !output.status.success() {
        bail!(
            "cannot read the database {}: {}",
            t.database_url,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\x1f').map(str::to_string).collect())
        .collect())
}

fn json_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The item body the contract specifies, built from the database row.
fn expected_item_body(t: &Target, id: i64) -> anyhow::Result<String> {
    let rows = query(
        t,
        &format!(
            "SELECT id, name, category, price, quantity, active, rating_score, rating_count \
             FROM items WHERE id = {id}"
        ),
    )?;
    let row = rows
        .first()
        .with_context(|| format!("item {id} is not in the database"))?;
    ensure!(row.len() == 8, "unexpected row shape {row:?}");
    Ok(format!(
        r#"{{"id":{},"name":{},"category":{},"price":{},"quantity":{},"active":{},"rating":{{"score":{},"count":{}}}}}"#,
        row[0],
        json_string(&row[1]),
        json_string(&row[2]),
        row[3],
        row[4],
        row[5] == "t",
        row[6],
        row[7]
    ))
}

fn check_items_exact(t: &Target) -> anyhow::Result<()> {
    for id in [1, 7, 4242, 100_000] {
        let r = curl::send(&authed_get(t, &format!("/api/items/{id}")))?;
        expect_status(&r, 200)?;
        let expected = expected_item_body(t, id)?;
        let got = r.body_text();
        ensure!(
            got == expected,
            "item {id}: body {got:?}, database says {expected:?}"
        );
        let ct = r.header("content-type").unwrap_or("");
        ensure!(
            ct.starts_with("application/json"),
            "item {id}: Content-Type {ct:?}"
        );
    }
    Ok(())
}

fn check_me_exact(t: &Target) -> anyhow::Result<()> {
    let rows = query(t, "SELECT id, name, email, plan FROM users WHERE id = 42")?;
    let row = rows.first().context("user 42 is not in the database")?;
    let expected = format!(
        r#"{{"id":{},"name":{},"email":{},"plan":{}}}"#,
        row[0],
        json_string(&row[1]),
        json_string(&row[2]),
        json_string(&row[3])
    );
    let r = curl::send(&authed_get(t, "/api/me"))?;
    expect_status(&r, 200)?;
    ensure!(
        r.body_text() == expected,
        "body {:?}, database says {expected:?}",
        r.body_text()
    );
    Ok(())
}

fn check_json_matches_dataset(t: &Target) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&t.dataset)
        .with_context(|| format!("reading the dataset {}", t.dataset.display()))?;
    let dataset: Vec<Value> = serde_json::from_str(&text).context("parsing the dataset")?;
    let r = curl::send(&get(t, "/public/json/50?m=3"))?;
    expect_status(&r, 200)?;
    let doc = r.json()?;
    let items = doc["items"].as_array().context("no items array")?;
    let want = dataset.len().min(50);
    ensure!(
        items.len() == want && doc["count"] == want,
        "{} items, count {} (expected {want})",
        items.len(),
        doc["count"]
    );
    for (got, source) in items.iter().zip(&dataset) {
        let mut expected = source.clone();
        let total =
            source["price"].as_i64().unwrap_or(0) * source["quantity"].as_i64().unwrap_or(0) * 3;
        if let Some(obj) = expected.as_object_mut() {
            obj.insert("total".into(), Value::from(total));
        }
        ensure!(
            *got == expected,
            "item {}: served {got}, dataset with total (m=3) {expected}",
            source["id"]
        );
    }
    let rendered = r.body_text();
    ensure!(
        rendered.find("\"items\"") < rendered.find("\"count\""),
        "envelope order is not items, count"
    );
    Ok(())
}

fn check_invalidation_visible(t: &Target) -> anyhow::Result<()> {
    let (a, b) = two_random_in_100_999();
    let id = 1000 + (a * 10 + b) % 9000;
    let path = format!("/api/items/{id}");
    let original = query(
        t,
        &format!("SELECT name, price, quantity FROM items WHERE id = {id}"),
    )?;
    let original = original
        .first()
        .with_context(|| format!("item {id} is not in the database"))?
        .clone();
    expect_status(&curl::send(&authed_get(t, &path))?, 200)?;
    let new_body = format!(r#"{{"name":"validate-x4-{a}","price":{a},"quantity":{b}}}"#);
    let write = curl::send(&post_json(t, &path, &new_body).bearer(&t.token))?;
    expect_status(&write, 204)?;
    let after = curl::send(&authed_get(t, &path))?;
    let restore = format!(
        r#"{{"name":{},"price":{},"quantity":{}}}"#,
        json_string(&original[0]),
        original[1],
        original[2]
    );
    let restored = curl::send(&post_json(t, &path, &restore).bearer(&t.token))?;
    expect_status(&after, 200)?;
    let doc = after.json()?;
    ensure!(
        doc["name"] == format!("validate-x4-{a}").as_str()
            && doc["price"] == a
            && doc["quantity"] == b,
        "item {id} after the write: {doc} (expected the new values)"
    );
    ensure!(
        x_cache(&after) == "MISS",
        "item {id}: X-Cache {:?} after the write",
        x_cache(&after)
    );
    expect_status(&restored, 204).context("restoring the row")
}

fn check_spoof_without_token(t: &Target) -> anyhow::Result<()> {
    let r = curl::send(&get(t, "/api/me").header("X-User-Id", "42"))?;
    expect_status(&r, 401)?;
    let r = curl::send(
        &get(t, "/api/me")
            .header("X-User-Id", "42")
            .bearer("invalid.token.here"),
    )?;
    expect_status(&r, 401)
}

fn check_spoof_overwritten(t: &Target) -> anyhow::Result<()> {
    let r = curl::send(&authed_get(t, "/api/me").header("X-User-Id", "1"))?;
    expect_status(&r, 200)?;
    let doc = r.json()?;
    ensure!(
        doc["id"] == 42,
        "client X-User-Id 1 reached the server: id {}",
        doc["id"]
    );
    Ok(())
}

fn check_unauthorized_json(t: &Target) -> anyhow::Result<()> {
    let r = curl::send(&get(t, "/api/items/1"))?;
    expect_status(&r, 401)?;
    let ct = r.header("content-type").unwrap_or("");
    ensure!(ct.starts_with("application/json"), "Content-Type {ct:?}");
    let doc = r.json()?;
    ensure!(doc["error"] == "unauthorized", "body {doc}");
    Ok(())
}

fn check_malformed_post(t: &Target) -> anyhow::Result<()> {
    let r = curl::send(&post_json(t, "/api/items/5", r#"{"name":"#).bearer(&t.token))?;
    expect_status(&r, 400)?;
    r.json().context("the 400 has no JSON error body")?;
    let r = curl::send(
        &post_json(
            t,
            "/api/items/5",
            r#"{"name":"x","price":"cheap","quantity":1}"#,
        )
        .bearer(&t.token),
    )?;
    expect_status(&r, 400)?;
    ensure!(
        r.body_text().contains("price"),
        "the 400 does not name the field: {:?}",
        r.body_text()
    );
    Ok(())
}

fn check_unknown_item(t: &Target) -> anyhow::Result<()> {
    let r = curl::send(&authed_get(t, "/api/items/100001"))?;
    expect_status(&r, 404)?;
    let r = curl::send(&post_json(t, "/api/items/100001", VALIDATE_WRITE).bearer(&t.token))?;
    expect_status(&r, 404)
}

/// h2load asks for `br;q=1, gzip;q=0.8`: nginx answers with its `.gz` sibling (gzip_static),
/// our Rust edge with the `.br` one. Either must decode to exactly the identity file.
fn check_precompressed_static(t: &Target) -> anyhow::Result<()> {
    let plain = curl::send(&get(t, "/static/reset.css"))?;
    expect_status(&plain, 200)?;
    ensure!(
        plain.header("content-encoding").is_none(),
        "no Accept-Encoding, yet Content-Encoding {:?}",
        plain.header("content-encoding")
    );
    let r =
        curl::send(&get(t, "/static/reset.css").header("Accept-Encoding", "br;q=1, gzip;q=0.8"))?;
    expect_status(&r, 200)?;
    let vary = r.header("vary").unwrap_or("");
    ensure!(
        vary.to_ascii_lowercase().contains("accept-encoding"),
        "Vary {vary:?}"
    );
    let encoding = r.header("content-encoding").unwrap_or("");
    let mut decoded = Vec::new();
    match encoding {
        "gzip" => {
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(&r.body[..]),
                &mut decoded,
            )
            .context("the gzip body does not decode")?;
        }
        "br" => {
            std::io::Read::read_to_end(
                &mut brotli::Decompressor::new(&r.body[..], 4096),
                &mut decoded,
            )
            .context("the brotli body does not decode")?;
        }
        other => bail!("Content-Encoding {other:?}: expected the .br or .gz sibling"),
    }
    ensure!(
        decoded == plain.body,
        "the {encoding} body decodes to {} bytes that differ from the {}-byte file",
        decoded.len(),
        plain.body.len()
    );
    Ok(())
}

fn check_http11(t: &Target) -> anyhow::Result<()> {
    let r = curl::send(&get(t, "/public/baseline?a=20&b=22").version(HttpVersion::Http11))?;
    expect_status(&r, 200)?;
    ensure!(r.http_version == "1.1", "HTTP/{}", r.http_version);
    ensure!(r.body_text() == "42", "body {:?}", r.body_text());
    let r = curl::send(&authed_get(t, "/api/items/1").version(HttpVersion::Http11))?;
    expect_status(&r, 200)
}

/// A write body over the app server's 64 KiB limit, through the edge over HTTP/2 and
/// HTTP/1.1: a JSON 413 every time (never a 502 or a reset stream) and the row as it was.
fn check_oversize_post(t: &Target) -> anyhow::Result<()> {
    const ID: i64 = 9;
    let row = |t: &Target| {
        query(
            t,
            &format!("SELECT name, price, quantity FROM items WHERE id = {ID}"),
        )
    };
    let before = row(t)?;
    let name = "x".repeat(200 * 1024);
    let body = format!(r#"{{"name":"{name}","price":1,"quantity":1}}"#);
    for version in [HttpVersion::Http2, HttpVersion::Http11] {
        let r = curl::send(
            &post_json(t, &format!("/api/items/{ID}"), &body)
                .bearer(&t.token)
                .version(version),
        )?;
        expect_status(&r, 413)?;
        let doc = r.json().context("the 413 has no JSON error body")?;
        ensure!(doc["error"].is_string(), "413 body {doc}");
    }
    ensure!(
        row(t)? == before,
        "item {ID} changed after refused writes: {before:?} -> {:?}",
        row(t)?
    );
    Ok(())
}
