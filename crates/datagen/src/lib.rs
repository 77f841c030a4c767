//! Deterministic generator of the data, request lists and certificates the stack and its load
//! need, laid out like HttpArena's repository so their files and ours are interchangeable:
//!
//! ```text
//! <home>/data/dataset.json         50 catalogue items             (dataset)
//! <home>/data/pgdb-seed.sql        items (100,000) + users (4)     (seed)
//! <home>/data/redis-seed.txt       "PING": Redis starts empty
//! <home>/data/redis-entrypoint.sh  the cache container's entrypoint (compose mounts it)
//! <home>/data/static/              20 files + .gz/.br siblings     (static_files)
//! <home>/data/jwt-token.txt        HS256 bearer token for user 42  (token)
//! <home>/requests/                 h2load URL lists and POST body  (requests)
//! <home>/certs/server.{crt,key}    self-signed TLS for localhost   (certs)
//! ```
//!
//! [`generate`] is idempotent: a file that exists is kept (and reported as kept) unless
//! `force` is set or something it derives from changed in the same run. Everything is written
//! atomically ([`atomic`]). With `from`, files of an existing HttpArena-layout folder are
//! copied in and only what it lacks is generated.
//!
//! The pure parts ([`dataset::generate`], [`seed::items`], [`seed::users`],
//! [`requests::reads`], ...) need no file system and are what other crates' tests use to
//! compute expected responses.

pub mod atomic;
pub mod certs;
pub mod dataset;
mod progress;
pub mod requests;
pub mod rng;
pub mod seed;
pub mod static_files;
pub mod token;

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use progress::Progress;
use static_files::{Sibling, StaticFile};
use token::TokenCheck;

/// Everything that can go wrong; each error names the file or program involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid dataset.json", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} is not a usable dataset.json: {reason}", path.display())]
    InvalidDataset { path: PathBuf, reason: String },
    #[error("--from {}: {reason}", path.display())]
    FromDir { path: PathBuf, reason: String },
    #[error(
        "`{}` was not found: the TLS certificate is made with the openssl command-line tool \
         (install it, e.g. `apt-get install openssl`)",
        program.display()
    )]
    OpensslMissing { program: PathBuf },
    #[error("openssl failed ({status}) creating the TLS certificate: {stderr}")]
    Openssl { status: String, stderr: String },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to generate, where, and how.
#[derive(Clone)]
pub struct Options {
    /// The home folder (`stack::Home::root()`); `data/`, `requests/` and `certs/` go under it.
    pub root: PathBuf,
    /// Regenerate (or re-copy) every file, even those already present.
    pub force: bool,
    /// An HttpArena-layout folder (`data/`, `requests/`, `certs/`) to copy files from.
    pub from: Option<PathBuf>,
    /// HMAC secret of the token (default: `$JWT_SECRET`, else HttpArena's default).
    pub jwt_secret: String,
    /// The openssl program (default `openssl`, looked up in `PATH`).
    pub openssl: PathBuf,
    /// Draw a progress line on stderr for the slow steps.
    pub progress: bool,
}

impl Options {
    /// Defaults for home `root`: no force, no `from`, secret from the environment, quiet.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            force: false,
            from: None,
            jwt_secret: token::secret_from_env(),
            openssl: PathBuf::from("openssl"),
            progress: false,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("root", &self.root)
            .field("force", &self.force)
            .field("from", &self.from)
            .field("jwt_secret", &"<redacted>")
            .field("openssl", &self.openssl)
            .field("progress", &self.progress)
            .finish()
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written by this run.
    Generated,
    /// Already present and left untouched.
    Kept,
    /// Copied from this file of the `from` folder.
    Copied { from: PathBuf },
}

/// One file of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// Relative to the home folder, e.g. `data/static/app.js.gz`.
    pub path: PathBuf,
    pub outcome: Outcome,
    /// Why, when it is not obvious (e.g. "the token expires within 7 days").
    pub note: Option<String>,
}

/// Every file [`generate`] is responsible for, in generation order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub files: Vec<FileReport>,
}

impl Report {
    /// Whether any file was written.
    pub fn changed(&self) -> bool {
        self.files.iter().any(|f| f.outcome != Outcome::Kept)
    }

    /// How many files had outcomes matching `pred`.
    pub fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.files.iter().filter(|f| pred(&f.outcome)).count()
    }

    /// The entry for `path` (relative to the home), if this run covered it.
    pub fn get(&self, path: impl AsRef<Path>) -> Option<&FileReport> {
        self.files.iter().find(|f| f.path == path.as_ref())
    }

    fn push(&mut self, path: &str, outcome: Outcome, note: Option<String>) {
        self.files.push(FileReport {
            path: PathBuf::from(path),
            outcome,
            note,
        });
    }
}

impl fmt::Display for Report {
    /// One line per written file (a folder whose files all went the same way, like the 50 of
    /// `data/static/`, is one line), then a summary; kept files are only counted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut index = 0;
        while let Some(file) = self.files.get(index) {
            let folder = file.path.parent().unwrap_or(Path::new(""));
            let group = self.files[index..]
                .iter()
                .take_while(|other| other.path.parent() == Some(folder))
                .count();
            let uniform = self.files[index..index + group].iter().all(|other| {
                other.note.is_none()
                    && match (&file.outcome, &other.outcome) {
                        (Outcome::Copied { from: a }, Outcome::Copied { from: b }) => {
                            a.parent() == b.parent()
                        }
                        (a, b) => a == b,
                    }
            });
            if group > 3 && uniform {
                let label = format!("{}/ ({group} files)", folder.display());
                write_line(f, &label, &file.outcome, None, true)?;
                index += group;
            } else {
                let label = file.path.display().to_string();
                write_line(f, &label, &file.outcome, file.note.as_deref(), false)?;
                index += 1;
            }
        }
        let generated = self.count(|o| *o == Outcome::Generated);
        let copied = self.count(|o| matches!(o, Outcome::Copied { .. }));
        let kept = self.count(|o| *o == Outcome::Kept);
        if self.changed() {
            write!(
                f,
                "{generated} generated, {copied} copied, {kept} kept (already in place)"
            )
        } else {
            write!(
                f,
                "nothing to do: all {kept} files are already in place (--force regenerates them)"
            )
        }
    }
}

/// One report line; kept files print nothing. `folder` names the source folder of a copy.
fn write_line(
    f: &mut fmt::Formatter<'_>,
    label: &str,
    outcome: &Outcome,
    note: Option<&str>,
    folder: bool,
) -> fmt::Result {
    match outcome {
        Outcome::Kept => return Ok(()),
        Outcome::Generated => write!(f, "generated {label}")?,
        Outcome::Copied { from } => {
            let source = if folder {
                from.parent().unwrap_or(from)
            } else {
                from
            };
            write!(f, "copied    {label}  <- {}", source.display())?;
        }
    }
    match note {
        Some(note) => writeln!(f, " ({note})"),
        None => writeln!(f),
    }
}

/// Generates (or copies, or keeps) every file under `options.root`; see the crate docs.
pub fn generate(options: &Options) -> Result<Report> {
    let run = Run::new(options)?;
    let mut report = Report::default();
    // Certificates first: the one step that needs an external tool fails before any work.
    run.certs(&mut report)?;
    run.dataset(&mut report)?;
    run.seed(&mut report)?;
    run.simple(&mut report, "data/redis-seed.txt", || b"PING\n".to_vec())?;
    run.static_files(&mut report)?;
    run.token(&mut report)?;
    for (name, content) in [
        (
            requests::READS_FILE,
            requests::reads(requests::DEFAULT_BASE_URL),
        ),
        (
            requests::WRITES_FILE,
            requests::writes(requests::DEFAULT_BASE_URL),
        ),
        (requests::WRITE_BODY_FILE, requests::WRITE_BODY.to_owned()),
    ] {
        let rel = format!("requests/{name}");
        run.simple(&mut report, &rel, || content.into_bytes())?;
    }
    run.exact(
        &mut report,
        REDIS_ENTRYPOINT_REL,
        REDIS_ENTRYPOINT_SH.as_bytes(),
    )?;
    Ok(report)
}

/// Our cache entrypoint (`deploy/docker/redis-entrypoint.sh`). The compose files mount it from
/// `${DATA_DIR}` exactly as HttpArena mounts its own, so `prodstack data` installs it there.
pub const REDIS_ENTRYPOINT_SH: &str = include_str!("../../../deploy/docker/redis-entrypoint.sh");
/// Where the entrypoint goes inside a home.
pub const REDIS_ENTRYPOINT_REL: &str = "data/redis-entrypoint.sh";

/// Path of the dataset inside a home (or an HttpArena checkout).
pub const DATASET_REL: &str = "data/dataset.json";
/// Path of the Postgres seed inside a home.
pub const SEED_REL: &str = "data/pgdb-seed.sql";
/// Path of the token inside a home.
pub const TOKEN_REL: &str = "data/jwt-token.txt";
/// Folder of the static files inside a home.
pub const STATIC_REL: &str = "data/static";

/// One generation run: the options plus the file-by-file decisions.
struct Run<'a> {
    options: &'a Options,
}

impl<'a> Run<'a> {
    fn new(options: &'a Options) -> Result<Self> {
        if let Some(from) = &options.from {
            let looks_like_httparena = ["data", "requests", "certs"]
                .iter()
                .any(|dir| from.join(dir).is_dir());
            if !looks_like_httparena {
                return Err(Error::FromDir {
                    path: from.clone(),
                    reason: "expected a folder with HttpArena's layout (data/, requests/, certs/)"
                        .into(),
                });
            }
        }
        Ok(Self { options })
    }

    fn dest(&self, rel: &str) -> PathBuf {
        self.options.root.join(rel)
    }

    /// The source file for `rel` in the `from` folder, if there is one.
    fn source(&self, rel: &str) -> Option<PathBuf> {
        let path = self.options.from.as_ref()?.join(rel);
        path.is_file().then_some(path)
    }

    /// Copies `source` to `rel` unless an identical file is already there (and no `force`).
    fn copy(&self, rel: &str, source: &Path) -> Result<Outcome> {
        let bytes = std::fs::read(source).map_err(|e| Error::io("reading", source, e))?;
        let dest = self.dest(rel);
        if !self.options.force && std::fs::read(&dest).is_ok_and(|current| current == bytes) {
            return Ok(Outcome::Kept);
        }
        atomic::write(&dest, &bytes)?;
        Ok(Outcome::Copied {
            from: source.to_path_buf(),
        })
    }

    /// Whether `rel` exists and may be kept as it is (no `force`).
    fn keep(&self, rel: &str) -> bool {
        !self.options.force && self.dest(rel).is_file()
    }

    /// A file with no inputs: copied from `from`, else kept, else generated by `make`.
    fn simple(
        &self,
        report: &mut Report,
        rel: &str,
        make: impl FnOnce() -> Vec<u8>,
    ) -> Result<Outcome> {
        let outcome = if let Some(source) = self.source(rel) {
            self.copy(rel, &source)?
        } else if self.keep(rel) {
            Outcome::Kept
        } else {
            atomic::write(&self.dest(rel), &make())?;
            Outcome::Generated
        };
        report.push(rel, outcome.clone(), None);
        Ok(outcome)
    }

    /// A file whose content is fixed by this build (not data): rewritten whenever it differs,
    /// so an updated script replaces an old copy even without `--force`.
    fn exact(&self, report: &mut Report, rel: &str, bytes: &[u8]) -> Result<Outcome> {
        let dest = self.dest(rel);
        let identical = std::fs::read(&dest).is_ok_and(|current| current == bytes);
        let outcome = if identical && !self.options.force {
            Outcome::Kept
        } else {
            atomic::write(&dest, bytes)?;
            Outcome::Generated
        };
        report.push(rel, outcome.clone(), None);
        Ok(outcome)
    }

    fn dataset(&self, report: &mut Report) -> Result<()> {
        self.simple(report, DATASET_REL, || {
            dataset::to_json(&dataset::generate())
        })?;
        Ok(())
    }

    /// The seed is drawn from whatever `dataset.json` the home now has, and kept only while its
    /// header names that dataset's fingerprint.
    fn seed(&self, report: &mut Report) -> Result<()> {
        if let Some(source) = self.source(SEED_REL) {
            let outcome = self.copy(SEED_REL, &source)?;
            report.push(SEED_REL, outcome, None);
            return Ok(());
        }
        let dataset_path = self.dest(DATASET_REL);
        let items = dataset::load(&dataset_path)?;
        if items.is_empty() {
            return Err(Error::InvalidDataset {
                path: dataset_path,
                reason: "it has no items".into(),
            });
        }
        let header = seed::header_line(&items);
        let dest = self.dest(SEED_REL);
        let existing_header = first_line(&dest);
        if !self.options.force && existing_header.as_deref() == Some(header.as_str()) {
            report.push(SEED_REL, Outcome::Kept, None);
            return Ok(());
        }
        let note = match existing_header {
            Some(_) if !self.options.force => {
                Some("the old seed was not drawn from the current dataset.json".to_owned())
            }
            _ => None,
        };
        let mut progress = Progress::start(
            "drawing 100,000 Postgres rows",
            seed::ITEM_COUNT as u64,
            self.options.progress,
        );
        atomic::write_with(&dest, |out| {
            let mut counting = ProgressWriter {
                inner: out,
                progress: &mut progress,
                lines: 0,
            };
            seed::write_sql(&items, &mut counting)
        })?;
        progress.finish();
        report.push(SEED_REL, Outcome::Generated, note);
        Ok(())
    }

    /// Originals first, then their compressed siblings, which are (re)made from the original
    /// on disk whenever they are missing or the original was just written.
    fn static_files(&self, report: &mut Report) -> Result<()> {
        let mut jobs: Vec<(String, String, Sibling)> = Vec::new(); // (original, sibling, format)
        let mut sibling_outcomes: Vec<(String, Outcome)> = Vec::new();
        for file in &static_files::FILES {
            let rel = format!("{STATIC_REL}/{}", file.name);
            let original_from_source = self.source(&rel).is_some();
            let original = self.simple(report, &rel, || static_files::content(file))?;
            for &sibling in static_siblings(file) {
                let sibling_rel = format!("{rel}.{}", sibling.extension());
                // A sibling is copied only along with its original, never next to ours.
                let source = self.source(&sibling_rel).filter(|_| original_from_source);
                if let Some(source) = source {
                    let outcome = self.copy(&sibling_rel, &source)?;
                    sibling_outcomes.push((sibling_rel, outcome));
                } else if original == Outcome::Kept && self.keep(&sibling_rel) {
                    sibling_outcomes.push((sibling_rel, Outcome::Kept));
                } else {
                    jobs.push((rel.clone(), sibling_rel, sibling));
                }
            }
        }
        self.compress(&jobs)?;
        for (rel, outcome) in sibling_outcomes {
            report.push(&rel, outcome, None);
        }
        for (_, rel, _) in jobs {
            report.push(&rel, Outcome::Generated, None);
        }
        Ok(())
    }

    /// Runs the compression jobs on all cores (brotli at quality 11 is the slowest step of the
    /// whole run), largest originals first so the cores finish together.
    fn compress(&self, jobs: &[(String, String, Sibling)]) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        let size = |i: &usize| std::fs::metadata(self.dest(&jobs[*i].0)).map_or(0, |m| m.len());
        order.sort_by_key(|i| std::cmp::Reverse(size(i)));
        let next = AtomicUsize::new(0);
        let progress = Mutex::new(Progress::start(
            "compressing static files (gzip -9, brotli -q 11)",
            jobs.len() as u64,
            self.options.progress,
        ));
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(jobs.len());
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| -> Result<()> {
                        loop {
                            let Some(&index) = order.get(next.fetch_add(1, Ordering::Relaxed))
                            else {
                                return Ok(());
                            };
                            let (original, sibling_rel, sibling) = &jobs[index];
                            let source = self.dest(original);
                            let data = std::fs::read(&source)
                                .map_err(|e| Error::io("reading", &source, e))?;
                            let dest = self.dest(sibling_rel);
                            let packed = sibling
                                .compress(&data)
                                .map_err(|e| Error::io("compressing", &dest, e))?;
                            atomic::write(&dest, &packed)?;
                            if let Ok(mut progress) = progress.lock() {
                                progress.advance(1);
                            }
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        Err(Error::io(
                            "compressing",
                            &self.dest(STATIC_REL),
                            std::io::Error::other("a compression thread panicked"),
                        ))
                    })
                })
                .collect()
        });
        results.into_iter().collect::<Result<()>>()?;
        if let Ok(progress) = progress.into_inner() {
            progress.finish();
        }
        Ok(())
    }

    /// The token is copied from `from` only if it is usable with our secret; an existing one
    /// is kept only while usable (right secret, more than a week left).
    fn token(&self, report: &mut Report) -> Result<()> {
        let secret = self.options.jwt_secret.as_bytes();
        let now = token::now_unix_secs();
        let mut note = None;
        if let Some(source) = self.source(TOKEN_REL) {
            let text = read_text(&source)?;
            match token::check(&text, secret, now) {
                TokenCheck::Usable => {
                    let outcome = self.copy(TOKEN_REL, &source)?;
                    report.push(TOKEN_REL, outcome, None);
                    return Ok(());
                }
                TokenCheck::ExpiresSoon => {
                    note = Some(format!(
                        "{} expires within 7 days: minted a new one",
                        source.display()
                    ));
                }
                TokenCheck::Unusable(why) => {
                    note = Some(format!(
                        "not copying {}: {why}; minted a new one",
                        source.display()
                    ));
                }
            }
        }
        let dest = self.dest(TOKEN_REL);
        if note.is_none() && !self.options.force && dest.is_file() {
            match token::check(&read_text(&dest)?, secret, now) {
                TokenCheck::Usable => {
                    report.push(TOKEN_REL, Outcome::Kept, None);
                    return Ok(());
                }
                TokenCheck::ExpiresSoon => {
                    note = Some("the old token expired or expires within 7 days".into());
                }
                TokenCheck::Unusable(why) => {
                    note = Some(format!("the old token was unusable: {why}"))
                }
            }
        }
        atomic::write(&dest, token::mint(secret, now).as_bytes())?;
        report.push(TOKEN_REL, Outcome::Generated, note);
        Ok(())
    }

    /// Certificate and key travel together: both copied, both kept, or both generated.
    fn certs(&self, report: &mut Report) -> Result<()> {
        let cert_rel = format!("certs/{}", certs::CERT_FILE);
        let key_rel = format!("certs/{}", certs::KEY_FILE);
        let sources = (self.source(&cert_rel), self.source(&key_rel));
        if let (Some(cert), Some(key)) = &sources {
            let cert_outcome = self.copy(&cert_rel, cert)?;
            let key_outcome = self.copy(&key_rel, key)?;
            report.push(&cert_rel, cert_outcome, None);
            report.push(&key_rel, key_outcome, None);
            return Ok(());
        }
        if self.keep(&cert_rel) && self.keep(&key_rel) {
            report.push(&cert_rel, Outcome::Kept, None);
            report.push(&key_rel, Outcome::Kept, None);
            return Ok(());
        }
        let progress = Progress::start(
            "creating the TLS key pair (openssl)",
            1,
            self.options.progress,
        );
        certs::generate(&self.dest("certs"), &self.options.openssl)?;
        progress.finish();
        let note = match sources {
            (None, None) => None,
            _ => Some("the --from folder has only one of server.crt/server.key".to_owned()),
        };
        report.push(&cert_rel, Outcome::Generated, note.clone());
        report.push(&key_rel, Outcome::Generated, note);
        Ok(())
    }
}

fn static_siblings(file: &StaticFile) -> &'static [Sibling] {
    if file.kind.is_text() {
        &static_files::SIBLINGS
    } else {
        &[]
    }
}

/// The first line of a file, or `None` if it cannot be read.
fn first_line(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut line = String::new();
    BufReader::new(file).read_line(&mut line).ok()?;
    Some(line.trim_end_matches(['\n', '\r']).to_owned())
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Counts written rows for the progress line while streaming the seed.
struct ProgressWriter<'p, W> {
    inner: W,
    progress: &'p mut Progress,
    lines: u64,
}

impl<W: std::io::Write> std::io::Write for ProgressWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        let lines = buf[..written].iter().filter(|&&b| b == b'\n').count() as u64;
        self.lines += lines;
        if self.lines >= 1_000 {
            self.progress.advance(self.lines);
            self.lines = 0;
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
