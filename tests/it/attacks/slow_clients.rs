//! Item 2: slow clients held connections forever (partial headers, a body dripping a byte every
//! 0.5 s, idle sockets, POSTs that declare a body and never send it), and with `ulimit -n 256`
//! 260 of them made `/healthz` time out.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use super::{app_with, binary};
use crate::helpers::*;

/// Short limits, so the tests need not wait for the defaults.
async fn strict_app() -> TestApp {
    app_with(|s| {
        s.server.header_timeout = Duration::from_millis(1000);
        s.server.body_timeout = Duration::from_millis(1000);
        s.server.idle_timeout = Duration::from_millis(1000);
    })
    .await
}

fn port_of(app: &TestApp) -> u16 {
    app.base.port().unwrap()
}

/// Reads until the server closes the connection (or `limit` passes); returns what was read and
/// how long it took, or `None` if the connection was still open at `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<(String, Duration)> {
    let started = Instant::now();
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some((
                    String::from_utf8_lossy(&read).into_owned(),
                    started.elapsed(),
                ));
            }
            Ok(Ok(n)) => read.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn slow_clients_partial_headers_are_cut_off() {
    let app = strict_app().await;
    let mut stream = TcpStream::connect(("127.0.0.1", port_of(&app)))
        .await
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    // One more header byte every 300 ms: always something, never the end.
    let dripping = async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if stream.write_all(b"X").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), dripping).await;
    let closed = read_until_closed(&mut stream, Duration::from_secs(1)).await;
    assert!(
        closed.is_some(),
        "a connection still sending its headers after 5 s is closed"
    );
}

#[tokio::test]
async fn slow_clients_a_dripping_body_is_cut_off() {
    let app = strict_app().await;
    let mut stream = TcpStream::connect(("127.0.0.1", port_of(&app)))
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /console/login HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut closed = None;
    while started.elapsed() < Duration::from_secs(8) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if stream.write_all(b"a").await.is_err() {
            break;
        }
        let mut buf = [0u8; 1024];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await
        {
            closed = Some((n, started.elapsed()));
            break;
        }
    }
    let (_, after) = closed.expect("the server answers or closes while the body drips");
    assert!(after < Duration::from_secs(5), "cut off after {after:?}");
}

#[tokio::test]
async fn slow_clients_a_declared_body_never_sent_is_cut_off() {
    let app = strict_app().await;
    let mut stream = TcpStream::connect(("127.0.0.1", port_of(&app)))
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /console/login HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
        )
        .await
        .unwrap();
    let (_, after) = read_until_closed(&mut stream, Duration::from_secs(6))
        .await
        .expect("a body that never comes does not hold the connection");
    assert!(after < Duration::from_secs(5), "{after:?}");
}

#[tokio::test]
async fn slow_clients_idle_keep_alive_connections_are_closed() {
    let app = strict_app().await;
    let mut stream = TcpStream::connect(("127.0.0.1", port_of(&app)))
        .await
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let (answer, after) = read_until_closed(&mut stream, Duration::from_secs(6))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(after < Duration::from_secs(4), "{after:?}");

    // And one that never sends anything at all.
    let mut silent = TcpStream::connect(("127.0.0.1", port_of(&app)))
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut silent, Duration::from_secs(4))
            .await
            .is_some()
    );
}

/// Opens `n` connections to `port` that each send part of a request's headers and then hold on.
async fn hold_on(port: u16, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        if let Ok(Ok(mut stream)) = tokio::time::timeout(
            Duration::from_secs(2),
            TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            let _ = stream
                .write_all(b"POST /webhooks/maropost/x HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                .await;
            held.push(stream);
        }
    }
    held
}

async fn healthz_within(port: u16, limit: Duration) -> Result<u16, String> {
    let client = reqwest::Client::builder().timeout(limit).build().unwrap();
    client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn slow_clients_beyond_the_connection_cap_do_not_keep_healthz_out() {
    // Long timeouts: only the cap (and what it closes to make room) lets healthz in.
    let app = app_with(|s| {
        s.server.header_timeout = Duration::from_secs(60);
        s.server.idle_timeout = Duration::from_secs(60);
        s.server.max_connections = 16;
    })
    .await;
    let held = hold_on(port_of(&app), 40).await;
    let started = Instant::now();
    assert_eq!(
        healthz_within(port_of(&app), Duration::from_secs(5)).await,
        Ok(200)
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_300_do_not_stop_the_real_binary_under_ulimit_256() {
    let dir = tempfile::tempdir().unwrap();
    let (child, port) = binary::serve(dir.path(), &[], Some(256)).await;
    let held = hold_on(port, 300).await;
    assert!(held.len() >= 250, "the slow clients got in: {}", held.len());
    let started = Instant::now();
    let answer = healthz_within(port, Duration::from_secs(5)).await;
    assert_eq!(
        answer,
        Ok(200),
        "healthz while {} slow clients hold on",
        held.len()
    );
    eprintln!(
        "healthz answered in {:?} with {} slow clients",
        started.elapsed(),
        held.len()
    );
    drop(held);
    drop(child);
}
