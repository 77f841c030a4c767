//! Graceful shutdown: requests in flight when `RunningEdge::shutdown()` is called complete, the
//! listener closes at once, and once `shutdown` returns nothing is left serving.

mod support;

use std::time::Duration;
use testkit::eventually;

use bytes::Bytes;
use support::{
    bearer, largest_static, read_h2_response, refuses_connections, token, Behind, H2Client, Reply,
    TestEdge, TIMEOUT,
};

/// A grace period far longer than any test needs, so completion never races the deadline.
const GRACE: Duration = Duration::from_secs(60);

/// Calls `shutdown` on a blocking thread (it joins the edge's threads) and waits until the
/// listener is closed, which shows the shutdown has begun.
async fn begin_shutdown(edge: &mut TestEdge) -> tokio::task::JoinHandle<()> {
    let running = edge.take_running();
    let stopper = tokio::task::spawn_blocking(move || running.shutdown());
    let addr = edge.addr;
    assert!(
        eventually(TIMEOUT, || refuses_connections(addr)).await,
        "the listener was still accepting after shutdown began"
    );
    stopper
}

/// Waits for `shutdown` to return, then checks that the port refuses connections and the old
/// connection is gone.
async fn finish_shutdown(edge: &TestEdge, stopper: tokio::task::JoinHandle<()>, mut old: H2Client) {
    tokio::time::timeout(TIMEOUT, stopper)
        .await
        .expect("shutdown returned once the in-flight requests were done")
        .unwrap();
    assert!(refuses_connections(edge.addr).await);
    assert!(
        old.send("GET", "/static/reset.css", &[], None)
            .await
            .is_err(),
        "a connection outlived the shutdown"
    );
    assert!(H2Client::try_connect(edge.addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_in_flight_at_shutdown_complete() {
    // 31 streams: within the 32 the edge allows one connection.
    const BURST: usize = 30;
    let mut edge = TestEdge::start_with(Behind::Nothing, |config| {
        config.limits.shutdown_grace = GRACE;
    });
    let client = edge.h2().await;
    let largest = largest_static();

    // A burst of downloads whose bodies the client has not read yet: they cannot finish
    // before the client releases flow-control capacity, which it does only after shutdown.
    let mut names = vec![largest.name];
    names.extend(std::iter::repeat_n("app.js", BURST));
    let mut bodies = Vec::new();
    for name in &names {
        let mut sender = client.sender.clone().ready().await.unwrap();
        let request = client
            .request("GET", &format!("/static/{name}"))
            .body(())
            .unwrap();
        let (response, _) = sender.send_request(request, true).unwrap();
        let response = tokio::time::timeout(TIMEOUT, response)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), 200);
        bodies.push(response.into_body());
    }

    let stopper = begin_shutdown(&mut edge).await;

    // Every stream is read concurrently (they share the connection window) and is whole.
    let readers: Vec<_> = bodies
        .into_iter()
        .map(|mut body| {
            tokio::spawn(async move {
                let mut bytes = Vec::new();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk.unwrap();
                    body.flow_control().release_capacity(chunk.len()).unwrap();
                    bytes.extend_from_slice(&chunk);
                }
                bytes
            })
        })
        .collect();
    for (name, reader) in names.iter().zip(readers) {
        let bytes = tokio::time::timeout(TIMEOUT, reader)
            .await
            .expect("an in-flight download finished during shutdown")
            .unwrap();
        assert!(
            bytes == edge.files.read(name),
            "{name}: {} bytes arrived, the file has {}",
            bytes.len(),
            edge.files.read(name).len()
        );
    }

    finish_shutdown(&edge, stopper, client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_body_in_flight_at_shutdown_is_applied() {
    let mut edge = TestEdge::start_with(Behind::Fused, |config| {
        config.limits.shutdown_grace = GRACE;
    });
    let id = 9;
    let authorization = bearer(&token());
    let mut client = edge.h2().await;

    let request = client
        .request("POST", &format!("/api/items/{id}"))
        .header("authorization", &authorization)
        .header("content-type", "application/json")
        .body(())
        .unwrap();
    let mut sender = client.sender.clone().ready().await.unwrap();
    let (response, mut stream) = sender.send_request(request, false).unwrap();
    let body: &[u8] = br#"{"name":"in-flight","price":5,"quantity":6}"#;
    stream
        .send_data(Bytes::copy_from_slice(&body[..15]), false)
        .unwrap();
    // A request answered after the POST's headers were sent on the same connection shows the
    // edge has taken the POST in: it is in flight, not merely on the wire.
    let sum = client.get("/public/baseline?a=20&b=22", &[]).await;
    assert_eq!(sum.text(), "42");

    let stopper = begin_shutdown(&mut edge).await;

    stream
        .send_data(Bytes::copy_from_slice(&body[15..]), true)
        .unwrap();
    let reply: Reply = tokio::time::timeout(TIMEOUT, read_h2_response(response))
        .await
        .expect("the in-flight POST was answered")
        .unwrap();
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert_eq!(edge.app().item_in_db(id), "in-flight|5|6");

    finish_shutdown(&edge, stopper, client).await;
}
