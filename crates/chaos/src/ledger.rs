//! The write ledger: proof that nothing the stack acknowledged is lost and that no read
//! through the edge goes back in time.
//!
//! During a scenario a writer per id posts unique values to ids 1–20 (`name` =
//! `ledger-<tag>-<n>`, `n` increasing per id and unique across ids, one write at a time per id)
//! and records each answer and when it arrived. Readers on their own connections GET those
//! ids in turn, plus a hot id, a `/public/*` and a `/static/*` path (so a fault confined to
//! `/api/*` can be told apart), and record what each returned and when it started. Each
//! client has its own HTTP/2 connection, so a slow answer on one does not hold the others.
//!
//! Afterwards [`verify`] compares with Postgres: every id's row must hold its last
//! acknowledged (204) value or a later one that was sent without an acknowledgement (a write
//! whose answer was lost may still have committed); an older value is a **lost** write. A
//! read of an id that started after a 204 for it and returned an older value is a **stale**
//! read. The counts are reported, not just a verdict.
//!
//! h2load's writes in `chaos` go to ids 21–40 instead of HttpArena's 1–20, so the ledger is
//! the only writer of its ids: otherwise the final rows would be h2load's constant body and
//! say nothing about the ledger.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::{Answer, Connection};

/// The ids the ledger owns.
pub const LEDGER_IDS: RangeInclusive<u32> = datagen::requests::WRITE_IDS;

/// An id the reader keeps hot in L1 (it reads it every cycle and nobody writes it): during a
/// Postgres fault its reads show whether L1 hits keep answering.
pub const HOT_ID: u32 = 100;

/// The `/public/*` path the reader checks (no database behind it).
pub const PUBLIC_PATH: &str = "/public/baseline?a=1&b=2";

/// Pause between two writes of one id (each id is rewritten every ~0.1 s plus the answer's
/// time, so a fault window holds many writes per id).
const WRITE_INTERVAL: Duration = Duration::from_millis(100);
/// Pause between two reads of one reader.
const READ_INTERVAL: Duration = Duration::from_millis(5);

/// How a ledger request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Answered {
        status: u16,
        json: bool,
        retry_after: bool,
        /// Answered on the second attempt, after the edge refused the first unprocessed.
        retried: bool,
    },
    /// No HTTP answer (timeout, connection failure), and why.
    Failed(String),
}

impl Outcome {
    fn of(result: &Result<Answer, String>) -> Self {
        match result {
            Ok(a) => Outcome::Answered {
                status: a.status,
                json: a.json,
                retry_after: a.retry_after,
                retried: a.retried,
            },
            Err(why) => Outcome::Failed(why.clone()),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Answered { status, .. } => Some(*status),
            Outcome::Failed(_) => None,
        }
    }
}

/// One ledger write.
#[derive(Debug, Clone, Serialize)]
pub struct WriteRecord {
    pub id: u32,
    pub counter: u64,
    /// Seconds since the scenario's load started.
    pub sent_s: f64,
    pub answered_s: f64,
    pub outcome: Outcome,
}

impl WriteRecord {
    pub fn acknowledged(&self) -> bool {
        self.outcome.status() == Some(204)
    }
}

/// What a ledger read asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadKind {
    /// One of the ledger's ids.
    Ledger(u32),
    Hot,
    Public,
    Static,
}

/// One ledger read.
#[derive(Debug, Clone, Serialize)]
pub struct ReadRecord {
    pub kind: ReadKind,
    pub started_s: f64,
    pub answered_s: f64,
    pub outcome: Outcome,
    /// For a 200 on a ledger id: the counter in the name it returned (0: a name the ledger
    /// did not write, i.e. older than all of its writes).
    pub counter: Option<u64>,
}

/// Everything the ledger's two clients recorded.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub writes: Vec<WriteRecord>,
    pub reads: Vec<ReadRecord>,
}

/// The writer and the reader, running until [`Ledger::finish`].
pub struct Ledger {
    writes: Arc<Mutex<Vec<WriteRecord>>>,
    reads: Arc<Mutex<Vec<ReadRecord>>>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// `ledger-<tag>-<n>`: the name of the ledger's write `n`.
pub fn name(tag: &str, counter: u64) -> String {
    format!("ledger-{tag}-{counter}")
}

/// The counter in `name` when this ledger (`tag`) wrote it; 0 for any other name.
pub fn counter_of(tag: &str, name: &str) -> u64 {
    name.strip_prefix("ledger-")
        .and_then(|rest| rest.strip_prefix(tag))
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn seconds(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

/// Reader tasks, each on its own connection, each cycling through every read kind from a
/// different place.
const READERS: usize = 4;

impl Ledger {
    /// Starts the writers (one per ledger id, each on its own connection, so one id's writes
    /// are strictly one after another) and [`READERS`] readers on the current tokio runtime;
    /// times count from `t0`. `connect` makes each client's connection.
    pub fn start(
        connect: impl Fn() -> anyhow::Result<Connection>,
        tag: String,
        static_path: String,
        t0: Instant,
    ) -> anyhow::Result<Self> {
        let writes: Arc<Mutex<Vec<WriteRecord>>> = Arc::default();
        let reads: Arc<Mutex<Vec<ReadRecord>>> = Arc::default();
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let ids = LEDGER_IDS.count() as u64;
        for id in LEDGER_IDS {
            tasks.push(tokio::spawn(write_loop(
                connect()?,
                id,
                ids,
                tag.clone(),
                t0,
                Arc::clone(&writes),
                stopped.clone(),
            )));
        }
        let mut cycle: Vec<ReadKind> = LEDGER_IDS.map(ReadKind::Ledger).collect();
        cycle.extend([ReadKind::Hot, ReadKind::Public, ReadKind::Static]);
        // One more reader reads only the hot id: while a Postgres fault lasts, the L1 keeps an
        // entry for at most its 1 s TTL, and this reader samples that second densely.
        let orders = (0..READERS)
            .map(|reader| {
                let mut order = cycle.clone();
                order.rotate_left(reader * cycle.len() / READERS);
                order
            })
            .chain([vec![ReadKind::Hot]]);
        for order in orders {
            tasks.push(tokio::spawn(read_loop(
                connect()?,
                order,
                tag.clone(),
                static_path.clone(),
                t0,
                Arc::clone(&reads),
                stopped.clone(),
            )));
        }
        Ok(Self {
            writes,
            reads,
            stop,
            tasks,
        })
    }

    /// Stops every client after its request in flight (each is bounded by the client's
    /// timeout) and returns what they recorded, writes in counter order.
    pub async fn finish(self) -> Records {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let grace = crate::client::REQUEST_TIMEOUT + Duration::from_secs(2);
            let _ = tokio::time::timeout(grace, task).await;
        }
        let mut records = Records {
            writes: self.writes.lock().map(|v| v.clone()).unwrap_or_default(),
            reads: self.reads.lock().map(|v| v.clone()).unwrap_or_default(),
        };
        records.writes.sort_by_key(|w| w.counter);
        records
            .reads
            .sort_by(|a, b| a.started_s.total_cmp(&b.started_s));
        records
    }
}

/// Sleeps `interval`; `false` when the ledger was stopped meanwhile.
async fn pause(interval: Duration, stopped: &mut watch::Receiver<bool>) -> bool {
    let slept = tokio::select! {
        _ = tokio::time::sleep(interval) => true,
        _ = stopped.wait_for(|s| *s) => false,
    };
    slept && !*stopped.borrow()
}

/// Writes of id `id`: counters `id`, `id + ids`, `id + 2 ids`, … (unique across the ledger,
/// increasing per id), one at a time.
async fn write_loop(
    mut connection: Connection,
    id: u32,
    ids: u64,
    tag: String,
    t0: Instant,
    out: Arc<Mutex<Vec<WriteRecord>>>,
    mut stopped: watch::Receiver<bool>,
) {
    for round in 0u64.. {
        let counter = round * ids + u64::from(id);
        let body = serde_json::json!({"name": name(&tag, counter), "price": counter % 100_000, "quantity": 1});
        let sent_s = seconds(t0);
        let result = connection
            .send(
                "POST",
                &format!("/api/items/{id}"),
                Some(Bytes::from(body.to_string())),
            )
            .await;
        let record = WriteRecord {
            id,
            counter,
            sent_s,
            answered_s: seconds(t0),
            outcome: Outcome::of(&result),
        };
        if let Ok(mut writes) = out.lock() {
            writes.push(record);
        }
        if !pause(WRITE_INTERVAL, &mut stopped).await {
            return;
        }
    }
}

async fn read_loop(
    mut connection: Connection,
    cycle: Vec<ReadKind>,
    tag: String,
    static_path: String,
    t0: Instant,
    out: Arc<Mutex<Vec<ReadRecord>>>,
    mut stopped: watch::Receiver<bool>,
) {
    for kind in cycle.iter().copied().cycle() {
        let path = match kind {
            ReadKind::Ledger(id) => format!("/api/items/{id}"),
            ReadKind::Hot => format!("/api/items/{HOT_ID}"),
            ReadKind::Public => PUBLIC_PATH.to_string(),
            ReadKind::Static => static_path.clone(),
        };
        let started_s = seconds(t0);
        let result = connection.send("GET", &path, None).await;
        let counter = match (&kind, &result) {
            (ReadKind::Ledger(_), Ok(answer)) if answer.status == 200 => {
                serde_json::from_slice::<serde_json::Value>(&answer.body)
                    .ok()
                    .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string))
                    .map(|name| counter_of(&tag, &name))
            }
            _ => None,
        };
        let record = ReadRecord {
            kind,
            started_s,
            answered_s: seconds(t0),
            outcome: Outcome::of(&result),
            counter,
        };
        if let Ok(mut reads) = out.lock() {
            reads.push(record);
        }
        if !pause(READ_INTERVAL, &mut stopped).await {
            return;
        }
    }
}

/// The ledger's verdict, in counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LedgerResult {
    pub writes_sent: u64,
    /// Writes answered 204.
    pub acknowledged: u64,
    /// Writes answered with another status.
    pub refused: u64,
    /// Writes that got no HTTP answer.
    pub unanswered: u64,
    /// Ids whose row holds an older value than their last 204 (must be 0).
    pub lost: u64,
    /// Ids whose row holds a value sent later than their last 204 but never acknowledged (a
    /// write whose answer was lost, or refused after its commit): allowed, and counted.
    pub applied_unacknowledged: u64,
    /// Ids whose row could not be read or holds a value the ledger never sent.
    pub unreadable: u64,
    /// Ids whose row holds a value whose write was refused with a 4xx (a client error must
    /// change nothing; must be 0).
    pub applied_refused: u64,
    /// Ledger-id reads answered 200 without a JSON `name` (must be 0).
    pub malformed_reads: u64,
    /// Requests (writes and reads) answered on a retry after the edge refused the first
    /// attempt unprocessed.
    pub retried: u64,
    /// Ledger-id reads answered 200 (the ones the staleness check covers).
    pub reads_checked: u64,
    /// Of those, reads that started after a 204 for their id and returned an older value.
    pub stale_reads: u64,
    /// The longest a stale read trailed the 204 it missed, in seconds.
    pub max_stale_s: f64,
    /// When each stale read started and how long after the 204 it missed, in seconds.
    #[serde(skip)]
    pub stale: Vec<StaleRead>,
    /// What each lost or unreadable id held, for the report.
    pub problems: Vec<String>,
}

/// One read that returned a value older than a 204 it started after.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaleRead {
    pub started_s: f64,
    /// Seconds from the newest 204 it missed to its start.
    pub behind_s: f64,
}

impl LedgerResult {
    /// Nothing lost, nothing stale.
    pub fn passed(&self) -> bool {
        self.passed_within(0.0)
    }

    /// Nothing lost, and no read staler than `stale_bound_s` (0: none stale at all).
    pub fn passed_within(&self, stale_bound_s: f64) -> bool {
        self.lost == 0
            && self.unreadable == 0
            && self.applied_refused == 0
            && self.malformed_reads == 0
            && (self.stale_reads == 0 || (stale_bound_s > 0.0 && self.max_stale_s <= stale_bound_s))
            && self.acknowledged > 0
            && self.reads_checked > 0
    }

    /// Stale reads that started at or after `from_s`.
    pub fn stale_from(&self, from_s: f64) -> usize {
        self.stale.iter().filter(|s| s.started_s >= from_s).count()
    }
}

/// Checks `records` against `rows` (id → name as Postgres holds it after the scenario).
pub fn verify(tag: &str, records: &Records, rows: &BTreeMap<u32, String>) -> LedgerResult {
    let mut result = LedgerResult {
        writes_sent: records.writes.len() as u64,
        ..Default::default()
    };
    // Per id: the acknowledged writes in the order their 204s arrived.
    let mut acks: BTreeMap<u32, Vec<(f64, u64)>> = BTreeMap::new();
    for write in &records.writes {
        match write.outcome {
            _ if write.acknowledged() => {
                result.acknowledged += 1;
                acks.entry(write.id)
                    .or_default()
                    .push((write.answered_s, write.counter));
            }
            Outcome::Answered { .. } => result.refused += 1,
            Outcome::Failed(_) => result.unanswered += 1,
        }
    }
    for id in LEDGER_IDS {
        let last_ack = acks
            .get(&id)
            .and_then(|a| a.iter().map(|(_, c)| *c).max())
            .unwrap_or(0);
        let sent: Vec<&WriteRecord> = records.writes.iter().filter(|w| w.id == id).collect();
        let Some(held) = rows.get(&id) else {
            result.unreadable += 1;
            result.problems.push(format!("id {id}: no row"));
            continue;
        };
        let counter = counter_of(tag, held);
        if counter < last_ack {
            result.lost += 1;
            result.problems.push(format!(
                "id {id}: holds `{held}`, but write {last_ack} was acknowledged"
            ));
        } else if let Some(write) = sent
            .iter()
            .find(|w| w.counter == counter && counter > last_ack)
        {
            if write
                .outcome
                .status()
                .is_some_and(|s| (400..500).contains(&s))
            {
                result.applied_refused += 1;
                result.problems.push(format!(
                    "id {id}: holds `{held}`, whose write was refused with {}",
                    write.outcome.status().unwrap_or_default()
                ));
            } else {
                result.applied_unacknowledged += 1;
            }
        } else if counter > last_ack {
            result.unreadable += 1;
            result.problems.push(format!(
                "id {id}: holds `{held}`, which the ledger never sent"
            ));
        }
    }
    result.retried = records
        .writes
        .iter()
        .map(|w| &w.outcome)
        .chain(records.reads.iter().map(|r| &r.outcome))
        .filter(|o| matches!(o, Outcome::Answered { retried: true, .. }))
        .count() as u64;
    for read in &records.reads {
        let ReadKind::Ledger(id) = read.kind else {
            continue;
        };
        let Some(returned) = read.counter else {
            if read.outcome.status() == Some(200) {
                result.malformed_reads += 1;
                if result.malformed_reads == 1 {
                    result
                        .problems
                        .push(format!("a 200 for id {id} had no JSON `name`"));
                }
            }
            continue;
        };
        result.reads_checked += 1;
        let newest_before = acks.get(&id).and_then(|a| {
            a.iter()
                .filter(|(at, _)| *at < read.started_s)
                .max_by_key(|(_, c)| *c)
                .copied()
        });
        if let Some((acked_at, counter)) = newest_before {
            if returned < counter {
                result.stale_reads += 1;
                result.max_stale_s = result.max_stale_s.max(read.started_s - acked_at);
                result.stale.push(StaleRead {
                    started_s: read.started_s,
                    behind_s: read.started_s - acked_at,
                });
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(id: u32, counter: u64, answered_s: f64, status: Option<u16>) -> WriteRecord {
        WriteRecord {
            id,
            counter,
            sent_s: answered_s - 0.001,
            answered_s,
            outcome: match status {
                Some(status) => Outcome::Answered {
                    status,
                    json: status != 204,
                    retry_after: false,
                    retried: false,
                },
                None => Outcome::Failed("timeout".into()),
            },
        }
    }

    fn read(id: u32, started_s: f64, counter: u64) -> ReadRecord {
        ReadRecord {
            kind: ReadKind::Ledger(id),
            started_s,
            answered_s: started_s + 0.001,
            outcome: Outcome::Answered {
                status: 200,
                json: true,
                retry_after: false,
                retried: false,
            },
            counter: Some(counter),
        }
    }

    fn rows(held: &[(u32, &str)]) -> BTreeMap<u32, String> {
        let mut rows: BTreeMap<u32, String> =
            LEDGER_IDS.map(|id| (id, "seed".to_string())).collect();
        for (id, name) in held {
            rows.insert(*id, name.to_string());
        }
        rows
    }

    #[test]
    fn names_carry_the_tag_and_counter() {
        assert_eq!(counter_of("t1", &name("t1", 42)), 42);
        assert_eq!(counter_of("t1", &name("t2", 42)), 0);
        assert_eq!(counter_of("t1", "bench-updated"), 0);
        assert_eq!(counter_of("t1", "ledger-t1-x"), 0);
    }

    #[test]
    fn the_last_acknowledged_value_in_every_row_passes() {
        let records = Records {
            writes: vec![write(1, 1, 0.1, Some(204)), write(1, 21, 0.5, Some(204))],
            reads: vec![read(1, 0.2, 1), read(1, 0.6, 21), read(1, 0.05, 0)],
        };
        let result = verify("t", &records, &rows(&[(1, &name("t", 21))]));
        assert_eq!(result.acknowledged, 2);
        assert_eq!(
            (result.lost, result.stale_reads, result.unreadable),
            (0, 0, 0)
        );
        assert_eq!(result.reads_checked, 3);
        assert!(result.passed());
    }

    #[test]
    fn an_older_row_is_a_lost_write() {
        let records = Records {
            writes: vec![write(1, 1, 0.1, Some(204)), write(1, 21, 0.5, Some(204))],
            reads: vec![],
        };
        let result = verify("t", &records, &rows(&[(1, &name("t", 1))]));
        assert_eq!(result.lost, 1);
        assert!(result.problems[0].contains("write 21 was acknowledged"));
        assert!(!result.passed());
    }

    #[test]
    fn an_unacknowledged_later_value_is_allowed_and_counted() {
        let records = Records {
            writes: vec![write(1, 1, 0.1, Some(204)), write(1, 21, 5.0, None)],
            reads: vec![read(1, 5.5, 21)],
        };
        let result = verify("t", &records, &rows(&[(1, &name("t", 21))]));
        assert_eq!((result.lost, result.applied_unacknowledged), (0, 1));
        assert_eq!((result.unanswered, result.acknowledged), (1, 1));
        assert!(result.passed());
    }

    #[test]
    fn a_read_older_than_an_earlier_204_is_stale() {
        let records = Records {
            writes: vec![write(1, 1, 0.1, Some(204)), write(1, 21, 0.5, Some(204))],
            // Started after 21's 204 but returned 1: stale by 0.25 s. Started before it:
            // either value is fine.
            reads: vec![read(1, 0.75, 1), read(1, 0.45, 1)],
        };
        let result = verify("t", &records, &rows(&[(1, &name("t", 21))]));
        assert_eq!(result.stale_reads, 1);
        assert!((result.max_stale_s - 0.25).abs() < 1e-9);
        // Allowed within a bound that covers it (several instances), counted by start.
        assert!(result.passed_within(0.5));
        assert!(!result.passed_within(0.2));
        assert_eq!(result.stale_from(0.0), 1);
        assert_eq!(result.stale_from(100.0), 0);
        assert!(!result.passed());
    }

    #[test]
    fn a_row_holding_a_write_refused_with_a_4xx_fails() {
        let records = Records {
            writes: vec![write(1, 1, 0.1, Some(204)), write(1, 21, 0.5, Some(422))],
            reads: vec![read(1, 0.6, 1)],
        };
        let result = verify("t", &records, &rows(&[(1, &name("t", 21))]));
        assert_eq!(
            (result.applied_refused, result.applied_unacknowledged),
            (1, 0)
        );
        assert!(
            result.problems[0].contains("refused with 422"),
            "{:?}",
            result.problems
        );
        assert!(!result.passed());
        // A 503 may have come after the commit: allowed and counted.
        let records = Records {
            writes: vec![write(1, 1, 0.1, Some(204)), write(1, 21, 0.5, Some(503))],
            reads: vec![read(1, 0.6, 1)],
        };
        let result = verify("t", &records, &rows(&[(1, &name("t", 21))]));
        assert_eq!(
            (result.applied_refused, result.applied_unacknowledged),
            (0, 1)
        );
        assert!(result.passed());
    }

    #[test]
    fn a_200_without_a_name_and_a_run_without_reads_fail() {
        let mut nameless = read(1, 0.2, 1);
        nameless.counter = None;
        let records = Records {
            writes: vec![write(1, 1, 0.1, Some(204))],
            reads: vec![nameless, read(1, 0.3, 1)],
        };
        let result = verify("t", &records, &rows(&[(1, &name("t", 1))]));
        assert_eq!((result.malformed_reads, result.reads_checked), (1, 1));
        assert!(!result.passed());
        let records = Records {
            writes: vec![write(1, 1, 0.1, Some(204))],
            reads: vec![],
        };
        let result = verify("t", &records, &rows(&[(1, &name("t", 1))]));
        assert!(!result.passed(), "nothing read, so nothing was checked");
    }

    #[test]
    fn a_value_the_ledger_never_sent_is_reported() {
        let records = Records {
            writes: vec![write(1, 1, 0.1, Some(204))],
            reads: vec![],
        };
        let result = verify("t", &records, &rows(&[(1, &name("t", 999))]));
        assert_eq!(result.unreadable, 1);
        let missing = verify("t", &records, &BTreeMap::new());
        assert_eq!(missing.unreadable, 20);
    }
}
