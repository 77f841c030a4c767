//! Postgres: a small fixed set of long-lived, pipelined `tokio-postgres` clients.
//!
//! Why not a pool: a `tokio_postgres::Client` can carry many queries at once (it pipelines
//! them on its socket), so tasks share clients instead of checking connections out. Measured when the
//! crate was chosen, four shared clients cost 2.5–3× less CPU per query than deadpool. Reads and writes use separate clients so the 20 hot rows' UPDATEs (row-lock
//! waits) never queue in front of item reads on the same socket.
//!
//! Each connection has a supervisor task: connect → prepare the three statements → publish
//! the client in its slot → wait for the connection to end → clear the slot → back off and
//! reconnect. The server therefore listens before Postgres is reachable, and recovers from a
//! Postgres restart without restarting itself. A request that finds no live client waits
//! briefly for one (a *pool wait*) and otherwise gets [`DbError::Unavailable`] (HTTP 503).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use rt::counter::Counter;
use serde::Serialize;
use tokio::sync::Notify;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Row, Statement};
use tracing::{debug, info, warn};

pub const ITEM_SQL: &str = "SELECT id, name, category, price, quantity, active, rating_score, rating_count FROM items WHERE id = $1 LIMIT 1";
pub const USER_SQL: &str = "SELECT id, name, email, plan FROM users WHERE id = $1 LIMIT 1";
pub const UPDATE_SQL: &str = "UPDATE items SET name = $1, price = $2, quantity = $3 WHERE id = $4";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a live connection before answering 503. Covers the first
/// requests after start-up (connections still being opened) without stalling long in an outage.
const CONNECTION_WAIT: Duration = Duration::from_millis(500);
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// Why a query produced no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    /// Postgres is down, restarting, unreachable or too slow: retry later (HTTP 503).
    #[error("database unavailable: {0}")]
    Unavailable(Arc<str>),
    /// Postgres answered with an error that retrying will not fix (HTTP 500).
    #[error("database error: {0}")]
    Query(Arc<str>),
}

/// The three statements, for per-query metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    Item = 0,
    User = 1,
    UpdateItem = 2,
}

impl QueryKind {
    pub const ALL: [QueryKind; 3] = [QueryKind::Item, QueryKind::User, QueryKind::UpdateItem];
    pub fn label(self) -> &'static str {
        match self {
            QueryKind::Item => "item",
            QueryKind::User => "user",
            QueryKind::UpdateItem => "update_item",
        }
    }
}

/// Database counters (rendered by `metrics`).
#[derive(Debug, Default)]
pub struct DbStats {
    /// Statements sent, by [`QueryKind`].
    pub queries: [Counter; 3],
    /// Queries that failed or timed out.
    pub errors: Counter,
    /// Requests that found no live connection and had to wait for one.
    pub pool_waits: Counter,
    /// Connections (re)established since start-up.
    pub connects: Counter,
}

/// An `items` row as the item endpoint needs it (no tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    pub id: i32,
    pub name: String,
    pub category: String,
    pub price: i32,
    pub quantity: i32,
    pub active: bool,
    pub rating_score: i32,
    pub rating_count: i32,
}

#[derive(Serialize)]
struct ItemJson<'a> {
    id: i32,
    name: &'a str,
    category: &'a str,
    price: i32,
    quantity: i32,
    active: bool,
    rating: RatingJson,
}

#[derive(Serialize)]
struct RatingJson {
    score: i32,
    count: i32,
}

impl ItemRow {
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        // int4 columns are read as i32: asking for i64 fails at run time, not at compile time.
        Ok(Self {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            category: row.try_get(2)?,
            price: row.try_get(3)?,
            quantity: row.try_get(4)?,
            active: row.try_get(5)?,
            rating_score: row.try_get(6)?,
            rating_count: row.try_get(7)?,
        })
    }

    /// `{"id":…,"name":…,"category":…,"price":…,"quantity":…,"active":…,"rating":{"score":…,"count":…}}`
    pub fn to_json(&self) -> Bytes {
        let body = ItemJson {
            id: self.id,
            name: &self.name,
            category: &self.category,
            price: self.price,
            quantity: self.quantity,
            active: self.active,
            rating: RatingJson {
                score: self.rating_score,
                count: self.rating_count,
            },
        };
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    }
}

pub use contract::rows::UserRow;

/// A `users` row as the `user` query returns it (`id, name, email, plan`).
fn user_from_row(row: &Row) -> Result<UserRow, tokio_postgres::Error> {
    Ok(UserRow {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        email: row.try_get(2)?,
        plan: row.try_get(3)?,
    })
}

/// The body of `GET /api/me`: `{"id":…,"name":…,"email":…,"plan":…}`.
pub fn user_json(user: &UserRow) -> Bytes {
    Bytes::from(serde_json::to_vec(user).unwrap_or_default())
}

struct Conn {
    client: Client,
    item: Statement,
    user: Statement,
    update: Statement,
}

/// Read or write connections.
struct Group {
    role: &'static str,
    slots: Box<[RwLock<Option<Arc<Conn>>>]>,
    next: AtomicUsize,
}

impl Group {
    fn new(role: &'static str, size: u32) -> Self {
        Self {
            role,
            slots: (0..size.max(1)).map(|_| RwLock::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next live client, round-robin.
    fn pick(&self) -> Option<Arc<Conn>> {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n).find_map(|i| {
            let slot = self.slots[(start + i) % n]
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            slot.as_ref()
                .filter(|conn| !conn.client.is_closed())
                .cloned()
        })
    }

    fn set(&self, index: usize, conn: Option<Arc<Conn>>) {
        *self.slots[index]
            .write()
            .unwrap_or_else(PoisonError::into_inner) = conn;
    }

    fn live(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| {
                slot.read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    .is_some_and(|conn| !conn.client.is_closed())
            })
            .count()
    }
}

/// The server's Postgres connections and the statements prepared on each.
pub struct Database {
    url: String,
    read: Group,
    write: Group,
    /// Signalled whenever a connection comes up (wakes pool waiters).
    connected: Notify,
    /// Whether an outage is currently logged (one warning per outage).
    down: AtomicBool,
    stats: DbStats,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("read", &self.read.slots.len())
            .field("write", &self.write.slots.len())
            .finish()
    }
}

impl Database {
    /// Starts one supervisor per connection on the current Tokio runtime and returns at once;
    /// connections come up in the background.
    pub fn start(url: &str, read: u32, write: u32) -> Arc<Self> {
        let db = Arc::new(Self {
            url: url.to_string(),
            read: Group::new("read", read),
            write: Group::new("write", write),
            connected: Notify::new(),
            down: AtomicBool::new(false),
            stats: DbStats::default(),
        });
        for index in 0..db.read.slots.len() {
            tokio::spawn(supervise(db.clone(), false, index));
        }
        for index in 0..db.write.slots.len() {
            tokio::spawn(supervise(db.clone(), true, index));
        }
        db
    }

    pub fn stats(&self) -> &DbStats {
        &self.stats
    }

    /// Live `(read, write)` connections.
    pub fn live_connections(&self) -> (usize, usize) {
        (self.read.live(), self.write.live())
    }

    /// Configured `(read, write)` connections.
    pub fn pool_sizes(&self) -> (usize, usize) {
        (self.read.slots.len(), self.write.slots.len())
    }

    fn group(&self, write: bool) -> &Group {
        if write {
            &self.write
        } else {
            &self.read
        }
    }

    async fn conn(&self, write: bool) -> Result<Arc<Conn>, DbError> {
        let group = self.group(write);
        if let Some(conn) = group.pick() {
            return Ok(conn);
        }
        self.stats.pool_waits.inc();
        let deadline = tokio::time::Instant::now() + CONNECTION_WAIT;
        loop {
            // Register interest before looking, so a connection that comes up in between
            // still wakes us.
            let notified = self.connected.notified();
            if let Some(conn) = group.pick() {
                return Ok(conn);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                // An outage: counted like a failed statement, so the metric sees it.
                self.stats.errors.inc();
                return Err(DbError::Unavailable(
                    format!("no {} connection to Postgres", group.role).into(),
                ));
            }
        }
    }

    async fn run<T>(
        &self,
        query: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, DbError> {
        match tokio::time::timeout(QUERY_TIMEOUT, query).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                self.stats.errors.inc();
                Err(classify(&err))
            }
            Err(_) => {
                self.stats.errors.inc();
                Err(DbError::Unavailable("query timed out".into()))
            }
        }
    }

    /// The item's row, `None` if there is no such id.
    pub async fn item(&self, id: i32) -> Result<Option<ItemRow>, DbError> {
        let conn = self.conn(false).await?;
        self.stats.queries[QueryKind::Item as usize].inc();
        let row = self.run(conn.client.query_opt(&conn.item, &[&id])).await?;
        row.map(|row| ItemRow::from_row(&row))
            .transpose()
            .map_err(|err| DbError::Query(format!("decoding an items row: {err}").into()))
    }

    /// The user's row, `None` if there is no such id.
    pub async fn user(&self, id: i32) -> Result<Option<UserRow>, DbError> {
        let conn = self.conn(false).await?;
        self.stats.queries[QueryKind::User as usize].inc();
        let row = self.run(conn.client.query_opt(&conn.user, &[&id])).await?;
        row.map(|row| user_from_row(&row))
            .transpose()
            .map_err(|err| DbError::Query(format!("decoding a users row: {err}").into()))
    }

    /// `UPDATE items SET name, price, quantity WHERE id`; returns the rows changed (0 or 1).
    pub async fn update_item(
        &self,
        id: i32,
        name: &str,
        price: i32,
        quantity: i32,
    ) -> Result<u64, DbError> {
        let conn = self.conn(true).await?;
        self.stats.queries[QueryKind::UpdateItem as usize].inc();
        self.run(
            conn.client
                .execute(&conn.update, &[&name, &price, &quantity, &id]),
        )
        .await
    }

    /// Whether Postgres answers `SELECT 1` right now.
    pub async fn ping(&self) -> bool {
        let Some(conn) = self.read.pick().or_else(|| self.write.pick()) else {
            return false;
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), conn.client.simple_query("SELECT 1"))
                .await,
            Ok(Ok(_))
        )
    }

    fn outage(&self, what: &str, err: &dyn std::fmt::Display) {
        if !self.down.swap(true, Ordering::Relaxed) {
            warn!("Postgres unavailable ({what}: {err}); answering 503 until it returns");
        }
    }

    fn recovered(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            info!("Postgres reachable again");
        }
    }
}

/// Connection-level and "try again" errors are outages (503); the rest are real errors.
fn classify(err: &tokio_postgres::Error) -> DbError {
    match err.as_db_error() {
        // 08: connection exception, 53: insufficient resources, 57: operator intervention
        // (shutdown, restart), 40: transaction rollback (serialization failure, deadlock).
        Some(db)
            if ["08", "53", "57", "40"]
                .iter()
                .any(|c| db.code().code().starts_with(c)) =>
        {
            DbError::Unavailable(err.to_string().into())
        }
        Some(_) => DbError::Query(err.to_string().into()),
        None => DbError::Unavailable(err.to_string().into()),
    }
}

async fn prepare(
    client: &Client,
) -> Result<(Statement, Statement, Statement), tokio_postgres::Error> {
    let item = client.prepare_typed(ITEM_SQL, &[Type::INT4]).await?;
    let user = client.prepare_typed(USER_SQL, &[Type::INT4]).await?;
    let update = client
        .prepare_typed(
            UPDATE_SQL,
            &[Type::TEXT, Type::INT4, Type::INT4, Type::INT4],
        )
        .await?;
    Ok((item, user, update))
}

/// Keeps slot `index` of the read (or write) group connected, forever.
async fn supervise(db: Arc<Database>, write: bool, index: usize) {
    let mut delay = RETRY_MIN;
    loop {
        let connected =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio_postgres::connect(&db.url, NoTls)).await;
        let (client, connection) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(err)) => {
                db.outage("connect", &err);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_MAX);
                continue;
            }
            Err(_) => {
                db.outage("connect", &"timed out");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_MAX);
                continue;
            }
        };
        // The connection future does the socket I/O for every query of this client.
        let io = tokio::spawn(connection);
        match prepare(&client).await {
            Ok((item, user, update)) => {
                db.group(write).set(
                    index,
                    Some(Arc::new(Conn {
                        client,
                        item,
                        user,
                        update,
                    })),
                );
                db.stats.connects.inc();
                db.recovered();
                db.connected.notify_waiters();
                debug!("Postgres {} connection {index} ready", db.group(write).role);
                delay = RETRY_MIN;
                let ended = io.await;
                db.group(write).set(index, None);
                match ended {
                    Ok(Err(err)) => db.outage("connection lost", &err),
                    _ => db.outage("connection lost", &"closed"),
                }
            }
            Err(err) => {
                db.outage("preparing statements", &err);
                drop(client);
                io.abort();
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_MAX);
            }
        }
    }
}
