//! Concurrent writers and readers on ids 1–20 across two instances sharing Redis:
//! - every 204'd write is in Postgres afterwards (the final row is a write that no other
//!   write provably followed);
//! - no read returns a row older than the last write completed before the read started,
//!   give or take the 1 s item TTL (the contract's staleness bound).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

#[derive(Debug, Clone)]
struct Write {
    id: i32,
    name: String,
    started: Instant,
    done: Instant,
}

#[derive(Debug, Clone)]
struct Read {
    id: i32,
    name: String,
    started: Instant,
}

const RUN: Duration = Duration::from_secs(4);
const TTL: Duration = Duration::from_millis(1000);
/// Clock and scheduling slack on top of the TTL: the coarse clock ticks every millisecond and
/// the ticker thread can be scheduled late on a loaded two-core machine.
const SLACK: Duration = Duration::from_millis(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_persist_and_reads_are_never_staler_than_the_ttl() {
    let services = Services::start(true);
    let a = services.spawn();
    let b = services.spawn();
    let addrs = [a.addr(), b.addr()];
    let writes = Arc::new(Mutex::new(Vec::<Write>::new()));
    let reads = Arc::new(Mutex::new(Vec::<Read>::new()));
    let origin = Instant::now();
    let mut tasks = Vec::new();

    for writer in 0..4 {
        let writes = writes.clone();
        let addr = addrs[writer % 2];
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await;
            let mut seq = 0;
            while origin.elapsed() < RUN {
                seq += 1;
                let id = (seq * 7 + writer as i32) % 20 + 1;
                let name = format!("w{writer}-{seq}");
                let body = format!("{{\"name\":\"{name}\",\"price\":{seq},\"quantity\":{writer}}}");
                let started = Instant::now();
                let r = conn
                    .send("POST", &format!("/api/items/{id}"), Some(&body))
                    .await;
                assert_eq!(r.status, 204, "{}", r.text());
                writes.lock().unwrap().push(Write {
                    id,
                    name,
                    started,
                    done: Instant::now(),
                });
            }
        }));
    }
    for reader in 0..6 {
        let reads = reads.clone();
        let addr = addrs[reader % 2];
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await;
            let mut n = reader as i32;
            while origin.elapsed() < RUN {
                n += 1;
                let id = n % 20 + 1;
                let started = Instant::now();
                let r = conn.send("GET", &format!("/api/items/{id}"), None).await;
                assert_eq!(r.status, 200, "{}", r.text());
                let name = r.json()["name"].as_str().unwrap().to_string();
                reads.lock().unwrap().push(Read { id, name, started });
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let writes = writes.lock().unwrap().clone();
    let reads = reads.lock().unwrap().clone();
    assert!(writes.len() > 100, "only {} writes", writes.len());
    assert!(reads.len() > 1000, "only {} reads", reads.len());
    let by_name: HashMap<&str, &Write> = writes.iter().map(|w| (w.name.as_str(), w)).collect();

    // 1. Every 204'd write is durable: each id's final row is one of its writes, and no
    //    other write to that id started after it had completed (which would have to win).
    let final_rows = services
        .pg
        .psql("SELECT id, name FROM items WHERE id BETWEEN 1 AND 20 ORDER BY id")
        .unwrap();
    for line in final_rows.lines() {
        let (id, name) = line.split_once('|').unwrap();
        let id: i32 = id.parse().unwrap();
        let to_id: Vec<&Write> = writes.iter().filter(|w| w.id == id).collect();
        if to_id.is_empty() {
            continue;
        }
        let last = by_name
            .get(name)
            .unwrap_or_else(|| panic!("item {id} holds {name:?}, which no 204'd write wrote"));
        assert_eq!(last.id, id);
        let overtaken = to_id.iter().any(|w| w.started > last.done);
        assert!(!overtaken, "item {id}: a write after {name:?} was lost");
    }

    // 2. Bounded staleness: a read may miss writes that completed less than TTL before it
    //    started, never older ones.
    let mut violations = Vec::new();
    for read in &reads {
        let Some(cutoff) = read.started.checked_sub(TTL + SLACK) else {
            continue;
        };
        // The newest write to this id that had completed by the cutoff.
        let Some(must_see) = writes
            .iter()
            .filter(|w| w.id == read.id && w.done < cutoff)
            .max_by_key(|w| w.done)
        else {
            continue;
        };
        let stale = match by_name.get(read.name.as_str()) {
            // The seed row: older than every write.
            None => true,
            // Provably older: the value's write completed before the required one started.
            Some(seen) => seen.done < must_see.started,
        };
        if stale {
            violations.push(format!(
                "read of item {} at +{:?} returned {:?}, but {:?} completed at +{:?}",
                read.id,
                read.started - origin,
                read.name,
                must_see.name,
                must_see.done - origin
            ));
        }
    }
    assert!(
        violations.is_empty(),
        "{} stale reads, e.g. {:?}",
        violations.len(),
        &violations[..violations.len().min(5)]
    );
    eprintln!(
        "{} writes, {} reads, no stale read, every write durable",
        writes.len(),
        reads.len()
    );
}
