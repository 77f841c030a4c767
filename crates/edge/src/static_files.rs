//! `/static/*`: every file of `STATIC_DIR` read into memory at start, with its `.br` and `.gz`
//! siblings, and served by exact name.
//!
//! Only names found at start exist, so path traversal has nothing to reach: `..`, `%2e%2e`,
//! absolute paths, backslashes and NUL are answered 404 before the lookup, and the lookup is
//! an exact match on a map built from `read_dir`. Files are not re-read: the Engine category
//! allows serving from memory, and the set is fixed per start (restart to pick up changes).
//!
//! Every answer carries `Vary: Accept-Encoding`, `Cache-Control: no-cache` (as the nginx
//! edges do) and a strong `ETag` per representation (content hash + coding suffix);
//! `If-None-Match` that matches answers 304.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, VARY};
use hyper::http::{HeaderMap, Method, StatusCode};

use crate::encoding::{self, Coding};

/// Files above this are refused at start: the edge holds everything in memory.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StaticError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is {size} bytes; static files above {MAX_FILE_BYTES} bytes are not held in memory"
    )]
    TooLarge { path: PathBuf, size: u64 },
}

/// One representation: its bytes and its precomputed `ETag`.
#[derive(Debug, Clone)]
pub struct Representation {
    pub body: Bytes,
    pub etag: HeaderValue,
}

/// A static file and whichever precompressed siblings it has.
#[derive(Debug, Clone)]
pub struct Asset {
    pub content_type: HeaderValue,
    pub identity: Representation,
    pub gzip: Option<Representation>,
    pub brotli: Option<Representation>,
}

impl Asset {
    pub fn representation(&self, coding: Coding) -> &Representation {
        match coding {
            Coding::Brotli => self.brotli.as_ref().unwrap_or(&self.identity),
            Coding::Gzip => self.gzip.as_ref().unwrap_or(&self.identity),
            Coding::Identity => &self.identity,
        }
    }

    fn has(&self, coding: Coding) -> bool {
        match coding {
            Coding::Brotli => self.brotli.is_some(),
            Coding::Gzip => self.gzip.is_some(),
            Coding::Identity => true,
        }
    }
}

/// What to send for one static request (headers and body are assembled by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The static files, keyed by their path relative to `STATIC_DIR` (`/`-separated).
#[derive(Debug, Default)]
pub struct StaticFiles {
    assets: HashMap<String, Asset>,
}

const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
const VARY_ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");

impl StaticFiles {
    /// Reads `dir` recursively. `x.gz`/`x.br` next to `x` become `x`'s siblings; a `.gz` or
    /// `.br` without its original is served under its own name like any other file.
    pub fn load(dir: &Path) -> Result<Self, StaticError> {
        let mut files: HashMap<String, Bytes> = HashMap::new();
        read_tree(dir, "", &mut files)?;
        let mut assets = HashMap::new();
        for (name, body) in &files {
            let sibling_of = name
                .strip_suffix(".gz")
                .or_else(|| name.strip_suffix(".br"))
                .filter(|base| files.contains_key(*base));
            if sibling_of.is_some() {
                continue;
            }
            let hash = fnv1a(body);
            let represent = |suffix: &str, body: &Bytes| Representation {
                body: body.clone(),
                etag: HeaderValue::from_str(&format!("\"{hash:016x}{suffix}\""))
                    .unwrap_or(HeaderValue::from_static("\"0\"")),
            };
            let asset = Asset {
                content_type: HeaderValue::from_static(content_type(name)),
                identity: represent("", body),
                gzip: files
                    .get(&format!("{name}.gz"))
                    .map(|b| represent("-gz", b)),
                brotli: files
                    .get(&format!("{name}.br"))
                    .map(|b| represent("-br", b)),
            };
            assets.insert(name.clone(), asset);
        }
        Ok(Self { assets })
    }

    pub fn len(&self) -> usize {
        self.assets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }

    /// Total bytes held (every representation).
    pub fn bytes(&self) -> usize {
        self.assets
            .values()
            .map(|a| {
                a.identity.body.len()
                    + a.gzip.as_ref().map_or(0, |r| r.body.len())
                    + a.brotli.as_ref().map_or(0, |r| r.body.len())
            })
            .sum()
    }

    /// The asset for a request path below `/static/` (still percent-encoded).
    pub fn lookup(&self, encoded_name: &str) -> Option<&Asset> {
        let name = decode_name(encoded_name)?;
        self.assets.get(name.as_str())
    }

    /// Answers `GET`/`HEAD /static/<encoded_name>`; `None` means 404.
    pub fn answer(
        &self,
        method: &Method,
        encoded_name: &str,
        headers: &HeaderMap,
    ) -> Option<Answer> {
        let asset = self.lookup(encoded_name)?;
        let accept = headers
            .get(hyper::header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok());
        let coding = encoding::choose(accept, |c| asset.has(c));
        let chosen = asset.representation(coding);

        let mut out = HeaderMap::with_capacity(5);
        out.insert(VARY, VARY_ACCEPT_ENCODING);
        out.insert(CACHE_CONTROL, NO_CACHE);
        out.insert(ETAG, chosen.etag.clone());
        if let Some(inm) = headers.get(hyper::header::IF_NONE_MATCH) {
            if etag_matches(inm.as_bytes(), chosen.etag.as_bytes()) {
                return Some(Answer {
                    status: StatusCode::NOT_MODIFIED,
                    headers: out,
                    body: Bytes::new(),
                });
            }
        }
        out.insert(CONTENT_TYPE, asset.content_type.clone());
        if let Some(token) = coding.content_encoding() {
            out.insert(CONTENT_ENCODING, HeaderValue::from_static(token));
        }
        let body = if method == Method::HEAD {
            // hyper derives Content-Length from the body; HEAD must announce the GET's length.
            out.insert(
                hyper::header::CONTENT_LENGTH,
                HeaderValue::from(chosen.body.len()),
            );
            Bytes::new()
        } else {
            chosen.body.clone()
        };
        Some(Answer {
            status: StatusCode::OK,
            headers: out,
            body,
        })
    }
}

/// Percent-decodes a `/static/` name and refuses anything that could name something outside
/// the directory or is not a plain relative path.
fn decode_name(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    let name = String::from_utf8(out).ok()?;
    let plain = !name.is_empty()
        && !name.starts_with('/')
        && !name.contains(['\0', '\\'])
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    plain.then_some(name)
}

/// `If-None-Match`: `*` or a list of entity tags, compared weakly (RFC 9110 §13.1.2).
fn etag_matches(header: &[u8], etag: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(header) else {
        return false;
    };
    let Ok(ours) = std::str::from_utf8(etag) else {
        return false;
    };
    text.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours)
}

fn read_tree(
    dir: &Path,
    prefix: &str,
    files: &mut HashMap<String, Bytes>,
) -> Result<(), StaticError> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StaticError::Read { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(read_err(dir))? {
        let entry = entry.map_err(read_err(dir))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            tracing::warn!(path = %path.display(), "skipping a static file whose name is not UTF-8");
            continue;
        };
        let key = format!("{prefix}{name}");
        // Follows symlinks: a deployment may link its assets in.
        let meta = std::fs::metadata(&path).map_err(read_err(&path))?;
        if meta.is_dir() {
            read_tree(&path, &format!("{key}/"), files)?;
        } else if meta.is_file() {
            if meta.len() > MAX_FILE_BYTES {
                return Err(StaticError::TooLarge {
                    path,
                    size: meta.len(),
                });
            }
            let body = std::fs::read(&path).map_err(read_err(&path))?;
            files.insert(key, Bytes::from(body));
        }
    }
    Ok(())
}

/// FNV-1a, 64-bit: a stable content fingerprint for ETags (not a security boundary).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The Content-Type for a file name, as nginx's `mime.types` maps it.
pub fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "css" => "text/css",
        "js" | "mjs" => "application/javascript",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "txt" => "text/plain",
        "xml" => "text/xml",
        "svg" | "svgz" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> (tempfile::TempDir, StaticFiles) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("reset.css"), "body{margin:0}").unwrap();
        std::fs::write(dir.path().join("reset.css.gz"), "GZ").unwrap();
        std::fs::write(dir.path().join("reset.css.br"), "BR").unwrap();
        std::fs::write(dir.path().join("app.js"), "let a=1").unwrap();
        std::fs::write(dir.path().join("app.js.gz"), "JSGZ").unwrap();
        std::fs::write(dir.path().join("hero.webp"), [0u8, 1, 2]).unwrap();
        std::fs::write(dir.path().join("orphan.txt.gz"), "OG").unwrap();
        std::fs::create_dir(dir.path().join("fonts")).unwrap();
        std::fs::write(dir.path().join("fonts/a b.woff2"), "W").unwrap();
        let files = StaticFiles::load(dir.path()).unwrap();
        (dir, files)
    }

    fn get(files: &StaticFiles, name: &str, accept: Option<&str>) -> Option<Answer> {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert("accept-encoding", HeaderValue::from_str(accept).unwrap());
        }
        files.answer(&Method::GET, name, &headers)
    }

    #[test]
    fn loads_files_and_siblings() {
        let (_dir, files) = files();
        // reset.css, app.js, hero.webp, orphan.txt.gz, fonts/a b.woff2
        assert_eq!(files.len(), 5);
        assert!(files.lookup("orphan.txt.gz").is_some());
        assert!(
            files.lookup("reset.css.gz").is_none(),
            "siblings are not names"
        );
        assert_eq!(
            files.lookup("fonts/a%20b.woff2").unwrap().identity.body,
            "W"
        );
    }

    #[test]
    fn serves_the_negotiated_representation() {
        let (_dir, files) = files();
        let br = get(&files, "reset.css", Some("br;q=1, gzip;q=0.8")).unwrap();
        assert_eq!(br.status, StatusCode::OK);
        assert_eq!(br.body, "BR");
        assert_eq!(br.headers[CONTENT_ENCODING], "br");
        assert_eq!(br.headers[CONTENT_TYPE], "text/css");
        assert_eq!(br.headers[VARY], "Accept-Encoding");
        assert_eq!(br.headers[CACHE_CONTROL], "no-cache");

        let gz = get(&files, "reset.css", Some("gzip")).unwrap();
        assert_eq!(gz.body, "GZ");
        assert_eq!(gz.headers[CONTENT_ENCODING], "gzip");
        let plain = get(&files, "reset.css", None).unwrap();
        assert_eq!(plain.body, "body{margin:0}");
        assert!(plain.headers.get(CONTENT_ENCODING).is_none());
        // app.js has no .br: a brotli-first client gets gzip.
        let js = get(&files, "app.js", Some("br;q=1, gzip;q=0.8")).unwrap();
        assert_eq!(js.body, "JSGZ");
        assert_eq!(js.headers[CONTENT_TYPE], "application/javascript");
        // Each representation has its own ETag.
        let tags: std::collections::HashSet<_> = [&br, &gz, &plain]
            .iter()
            .map(|a| a.headers[ETAG].clone())
            .collect();
        assert_eq!(tags.len(), 3);
    }

    #[test]
    fn head_announces_the_length_without_a_body() {
        let (_dir, files) = files();
        let answer = files
            .answer(&Method::HEAD, "reset.css", &HeaderMap::new())
            .unwrap();
        assert_eq!(answer.body.len(), 0);
        assert_eq!(answer.headers[hyper::header::CONTENT_LENGTH], "14");
    }

    #[test]
    fn if_none_match_answers_304() {
        let (_dir, files) = files();
        let first = get(&files, "reset.css", Some("br")).unwrap();
        let etag = first.headers[ETAG].to_str().unwrap().to_string();
        for inm in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {etag}"),
            "*".into(),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("accept-encoding", HeaderValue::from_static("br"));
            headers.insert("if-none-match", HeaderValue::from_str(&inm).unwrap());
            let answer = files.answer(&Method::GET, "reset.css", &headers).unwrap();
            assert_eq!(answer.status, StatusCode::NOT_MODIFIED, "{inm}");
            assert!(answer.body.is_empty());
            assert_eq!(answer.headers[ETAG], etag.as_str());
        }
        // The br ETag does not validate the gzip representation.
        let mut headers = HeaderMap::new();
        headers.insert("accept-encoding", HeaderValue::from_static("gzip"));
        headers.insert("if-none-match", HeaderValue::from_str(&etag).unwrap());
        let answer = files.answer(&Method::GET, "reset.css", &headers).unwrap();
        assert_eq!(answer.status, StatusCode::OK);
    }

    #[test]
    fn traversal_and_odd_names_are_not_found() {
        let (dir, files) = files();
        std::fs::write(dir.path().parent().unwrap().join("secret.txt"), "no").ok();
        for name in [
            "../secret.txt",
            "%2e%2e/secret.txt",
            "%2E%2E%2Fsecret.txt",
            "fonts/../reset.css",
            "./reset.css",
            "/etc/passwd",
            "%2fetc%2fpasswd",
            "reset.css%00",
            "reset.css%00.png",
            "fonts\\a b.woff2",
            "fonts%5ca%20b.woff2",
            "fonts//a%20b.woff2",
            "",
            "fonts",
            "fonts/",
            "%zz",
            "%2",
            "%ff%fe",
            "reset.css.gz",
        ] {
            assert!(
                get(&files, name, Some("gzip")).is_none(),
                "{name:?} must be 404"
            );
        }
    }

    #[test]
    fn a_missing_directory_is_a_named_error() {
        let err = StaticFiles::load(Path::new("/nonexistent/static")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/static"), "{err}");
    }

    #[test]
    fn content_types_follow_mime_types() {
        assert_eq!(content_type("a.CSS"), "text/css");
        assert_eq!(content_type("x.woff2"), "font/woff2");
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}
