//! Hostile and broken clients against one edge worker: each must only hurt itself. Every test
//! runs the edge with a single worker thread, so a client that could block that thread would
//! block everyone, and the "others are still served" checks would time out.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use support::{
    bearer, h1_raw, h1_request, item_json, largest_static, read_h2_response, token, Behind,
    H2Client, TestEdge, TIMEOUT,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Another client fetches a small and the largest file, whole and correct.
async fn others_are_served(edge: &TestEdge) {
    let mut other = H2Client::connect(edge.addr).await;
    for _ in 0..5 {
        let reply = other
            .get("/static/reset.css", &[("accept-encoding", "gzip")])
            .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, edge.files.read("reset.css.gz"));
    }
    let largest = largest_static();
    let reply = other.get(&format!("/static/{}", largest.name), &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, edge.files.read(largest.name));
    let h1 = h1_request(edge.addr, "GET", "/static/reset.css", &[], None).await;
    assert_eq!(h1.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_stall_others() {
    // As many streams as the edge allows one connection (32).
    let streams = edge::config::Limits::default().max_concurrent_streams as usize;
    let edge = TestEdge::start(Behind::Nothing);
    let largest = largest_static();
    let path = format!("/static/{}", largest.name);

    // h2's default windows (65,535 bytes per stream and per connection) and this client never
    // releases capacity, so the edge can send it at most one window in total.
    let stalled = H2Client::connect(edge.addr).await;
    let mut pending = Vec::with_capacity(streams);
    for _ in 0..streams {
        let mut sender = stalled.sender.clone().ready().await.unwrap();
        let request = stalled.request("GET", &path).body(()).unwrap();
        let (response, _) = sender.send_request(request, true).unwrap();
        pending.push(response);
    }
    // HEADERS are not flow-controlled: every stream is answered 200 at once…
    let mut bodies = Vec::with_capacity(streams);
    for response in pending {
        let response = tokio::time::timeout(TIMEOUT, response)
            .await
            .expect("the edge answered the stalled client's request headers")
            .unwrap();
        assert_eq!(response.status(), 200);
        bodies.push(response.into_body());
    }

    // …while the bodies sit in the edge's send buffers, others are served.
    others_are_served(&edge).await;

    // The stall is real: the stalled client holds far less than it asked for.
    let held: usize = bodies
        .iter_mut()
        .map(|body| body.flow_control().used_capacity())
        .sum();
    assert!(
        held <= 65_535,
        "the edge overran the client's connection window: {held} bytes"
    );
    assert!(held < largest.size * streams);

    // The edge kept the stalled streams intact: once the client lets go of the others and
    // reads one, it gets the whole file.
    let mut first = bodies.swap_remove(0);
    drop(bodies);
    let mut received = Vec::with_capacity(largest.size);
    let read = async {
        while let Some(chunk) = first.data().await {
            let chunk = chunk.unwrap();
            first.flow_control().release_capacity(chunk.len()).unwrap();
            received.extend_from_slice(&chunk);
        }
    };
    tokio::time::timeout(TIMEOUT, read)
        .await
        .expect("the stalled stream resumed once capacity was released");
    assert_eq!(received, edge.files.read(largest.name));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_header_block_is_refused_and_the_edge_keeps_serving() {
    let edge = TestEdge::start(Behind::Nothing);
    let big = "a".repeat(100 * 1024);

    // HTTP/2: the edge advertises a 32 KiB header list limit; the h2 client sends 100 KiB
    // anyway (it does not enforce the peer's limit).
    let mut client = H2Client::connect(edge.addr).await;
    match client
        .send("GET", "/static/reset.css", &[("x-big", big.as_str())], None)
        .await
    {
        Ok(reply) => assert_eq!(reply.status, 431, "{}", reply.text()),
        Err(err) => assert!(
            err.downcast_ref::<h2::Error>().is_some(),
            "expected a reset or GOAWAY, got {err}"
        ),
    }
    // Many headers that add up to too much: the same.
    let many: Vec<(String, String)> = (0..2_000)
        .map(|i| (format!("x-header-{i}"), "v".repeat(40)))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let mut client = H2Client::connect(edge.addr).await;
    match client.send("GET", "/static/reset.css", &many, None).await {
        Ok(reply) => assert_eq!(reply.status, 431, "{}", reply.text()),
        Err(err) => assert!(
            err.downcast_ref::<h2::Error>().is_some(),
            "expected a reset or GOAWAY, got {err}"
        ),
    }

    // HTTP/1.1: 431 as well.
    let request = format!(
        "GET /static/reset.css HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"
    );
    let reply = h1_raw(edge.addr, request.as_bytes()).await;
    assert_eq!(reply.status, 431, "{}", reply.head);

    others_are_served(&edge).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_reset_mid_body_change_nothing_and_the_edge_stays_up() {
    const RESETS: usize = 300;
    let edge = TestEdge::start(Behind::Fused);
    let app = edge.app();
    let (id, control_id) = (7, 8);
    let before = app.item_in_db(id);
    let authorization = bearer(&token());
    let path = format!("/api/items/{id}");
    let body = br#"{"name":"cut-off","price":1,"quantity":1}"#;

    let mut client = H2Client::connect(edge.addr).await;
    let mut reconnects = 0;
    for i in 0..RESETS {
        // Three ways to be cut off: mid-JSON; short of the declared Content-Length; and the
        // whole JSON but never the END_STREAM that would complete the request.
        let (sent, declared): (&[u8], Option<usize>) = match i % 3 {
            0 => (&body[..12], None),
            1 => (&body[..body.len() - 1], Some(body.len())),
            _ => (&body[..], None),
        };
        let mut request = client
            .request("POST", &path)
            .header("authorization", &authorization)
            .header("content-type", "application/json");
        if let Some(length) = declared {
            request = request.header("content-length", length);
        }
        let request = request.body(()).unwrap();
        let sent_stream = match client.sender.clone().ready().await {
            Ok(mut sender) => sender.send_request(request, false),
            Err(err) => Err(err),
        };
        let (response, mut stream) = match sent_stream {
            Ok(pair) => pair,
            // The edge may end a connection that resets this much (rapid-reset protection):
            // that is its right; carry on with a new one.
            Err(_) => {
                reconnects += 1;
                client = H2Client::connect(edge.addr).await;
                continue;
            }
        };
        let _ = stream.send_data(Bytes::copy_from_slice(sent), false);
        if i % 10 == 0 {
            // Now and then let the edge get well into the request before the reset.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stream.send_reset(h2::Reason::CANCEL);
        drop(response);
    }
    assert!(reconnects < RESETS / 2, "most resets reached the edge");

    // The edge is up and serves everyone, including over a fresh connection.
    others_are_served(&edge).await;
    let mut fresh = H2Client::connect(edge.addr).await;
    let sum = fresh.get("/public/baseline?a=2&b=3", &[]).await;
    assert_eq!(sum.text(), "5");

    // A complete POST over the same path does land, so "unchanged" below means something.
    let complete = fresh
        .send(
            "POST",
            &format!("/api/items/{control_id}"),
            &[
                ("authorization", &authorization),
                ("content-type", "application/json"),
            ],
            Some(br#"{"name":"complete","price":9,"quantity":9}"#),
        )
        .await
        .unwrap();
    assert_eq!(complete.status, 204, "{}", complete.text());
    assert_eq!(app.item_in_db(control_id), "complete|9|9");

    // No cut-off body changed the item: not in Postgres, not in what the edge serves.
    assert_eq!(app.item_in_db(id), before);
    let item = fresh.get(&path, &[("authorization", &authorization)]).await;
    assert_eq!(item.status, 200);
    assert_eq!(item.json(), item_json(&app.item_row(id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_silent_connections_do_not_stop_others() {
    let edge = TestEdge::start_with(Behind::Nothing, |config| {
        config.limits.handshake_timeout = Duration::from_secs(1);
    });

    // Connections that never say a word.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(edge.addr).await.unwrap());
    }
    // Garbage where a ClientHello should be: plain HTTP, random bytes, a truncated record.
    let mut noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    noise[0] = 0x16; // a TLS handshake record type, so the parser gets further before failing
    let garbage: [&[u8]; 4] = [
        b"GET /static/reset.css HTTP/1.1\r\nHost: localhost\r\n\r\n",
        &noise,
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0x01],
        &[0u8; 64],
    ];
    for bytes in garbage {
        let mut stream = TcpStream::connect(edge.addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        // The edge closes a connection that is not TLS (after at most an alert, and for a
        // truncated record once the handshake timeout passes); it never answers it.
        let mut answer = Vec::new();
        let closed = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut answer)).await;
        assert!(closed.is_ok(), "the edge kept a garbage connection open");
        assert!(
            !String::from_utf8_lossy(&answer).contains("HTTP/"),
            "the edge answered garbage with HTTP: {answer:?}"
        );
    }

    // With all that going on, others are served.
    others_are_served(&edge).await;
    assert!(
        edge.running()
            .metrics()
            .handshake_failures
            .load(Ordering::Relaxed)
            >= garbage.len() as u64,
        "every garbage connection counts as a failed handshake"
    );

    // And the silent ones are closed by the handshake timeout rather than held forever.
    for mut stream in silent {
        let mut buf = [0u8; 16];
        let closed = tokio::time::timeout(TIMEOUT, stream.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "a silent connection stayed open: {closed:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_idle_connections_give_way_and_busy_ones_are_kept() {
    let edge = TestEdge::start_with(Behind::Fused, |config| {
        config.max_connections = Some(2);
    });
    let metrics = edge.running().metrics().clone();
    let authorization = bearer(&token());
    // Two busy connections: each has a POST whose body never finishes.
    let mut busy = Vec::new();
    for _ in 0..2 {
        let client = H2Client::connect(edge.addr).await;
        let request = client
            .request("POST", "/api/items/3")
            .header("authorization", &authorization)
            .header("content-type", "application/json")
            .body(())
            .unwrap();
        let (response, mut stream) = client
            .sender
            .clone()
            .ready()
            .await
            .unwrap()
            .send_request(request, false)
            .unwrap();
        stream
            .send_data(Bytes::from_static(b"{\"name\":"), false)
            .unwrap();
        busy.push((client, response, stream));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Full and both busy: a third client is cut off before any TLS.
    assert!(
        H2Client::try_connect(edge.addr).await.is_err(),
        "a third connection was served over a cap of 2 busy ones"
    );
    assert!(metrics.connections_refused.load(Ordering::Relaxed) >= 1);

    // One of them finishes its request and is idle: the next newcomer takes its place.
    let (_client, response, mut stream) = busy.remove(0);
    stream
        .send_data(
            Bytes::from_static(b"\"x\",\"price\":1,\"quantity\":1}"),
            true,
        )
        .unwrap();
    assert_eq!(read_h2_response(response).await.unwrap().status, 204);
    let mut admitted = None;
    for _ in 0..100 {
        if let Ok(client) = H2Client::try_connect(edge.addr).await {
            admitted = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut admitted = admitted.expect("no connection admitted once one was idle");
    assert_eq!(admitted.get("/static/reset.css", &[]).await.status, 200);
    assert!(metrics.connections_evicted.load(Ordering::Relaxed) >= 1);
    // The busy one was never touched: its request still completes.
    let (_client, response, mut stream) = busy.remove(0);
    stream
        .send_data(
            Bytes::from_static(b"\"y\",\"price\":2,\"quantity\":2}"),
            true,
        )
        .unwrap();
    assert_eq!(read_h2_response(response).await.unwrap().status, 204);
}
