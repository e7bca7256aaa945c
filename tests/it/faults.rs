//! Updates keep flowing across nodes and through a lost PostgreSQL listener.

use crate::common;

use std::time::Duration;

use common::spawn_app;
use serde_json::json;
use sqlx::Connection;

/// Reads staff events until seq `last`; every seq must come once, in order.
async fn all_until(ws: &mut common::Ws, from: i64, last: i64) {
    let mut expect = from;
    while expect <= last {
        let msg = ws.json().await;
        assert_eq!(msg["type"], "event", "{msg}");
        assert_eq!(msg["event"]["seq"].as_i64(), Some(expect), "gap or repeat");
        expect += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_on_one_node_reaches_sockets_on_another() {
    let app = spawn_app().await;
    let b = app.on(&app.second_node().await);
    let mut on_b = b.staff_socket(app.queue, None).await;
    assert_eq!(on_b.json().await["type"], "snapshot");
    let (ticket, token) = app.joined(app.queue).await; // through node A
    let mut customer_on_b = b.ws(&format!("/ws/tickets/{}?token={token}", ticket["id"].as_str().unwrap())).await;
    assert_eq!(customer_on_b.json().await["ticket"]["position"], 1);

    app.call_next(&app.admin, app.queue, "A-desk").await.expect(200);
    all_until(&mut on_b, 1, 2).await;
    let called = customer_on_b.json().await;
    assert_eq!(
        (called["ticket"]["status"].as_str(), called["ticket"]["counter"].as_str()),
        (Some("called"), Some("A-desk"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_listener_a_hundred_times_during_writes_loses_nothing() {
    let app = spawn_app().await;
    let mut ws = app.staff_socket(app.queue, None).await;
    ws.json().await;
    let mut admin = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let writes = async {
        let mut n = 0;
        // Bounded: until the kills are over, at most 10,000 joins.
        while !done.load(std::sync::atomic::Ordering::Relaxed) && n < 10_000 {
            futures_util::future::join_all((0..5).map(|_| app.join(app.queue, json!({})))).await.into_iter().for_each(
                |r| {
                    r.expect(201);
                },
            );
            n += 5;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        n
    };
    let kills = async {
        let (mut killed, deadline) = (0, tokio::time::Instant::now() + Duration::from_secs(120));
        while killed < 100 && tokio::time::Instant::now() < deadline {
            killed += sqlx::query_scalar::<_, i64>(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND query LIKE 'LISTEN%'",
            )
            .fetch_one(&mut admin)
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        killed
    };
    let (written, killed) = tokio::join!(writes, kills);
    assert_eq!(killed, 100, "the listener was killed {killed} times");
    // Every event arrives once, in order, however it got here (listener, resync or poll).
    all_until(&mut ws, 1, written).await;

    // And the hub ends where the database is: the same line, in the same order.
    let mut fresh = app.staff_socket(app.queue, None).await;
    let snap = fresh.json().await;
    assert_eq!(snap["seq"].as_i64(), Some(written));
    // The snapshot holds the head of the line; the rest is paged from the hub at the same seq.
    let mut line: Vec<serde_json::Value> = snap["waiting"].as_array().unwrap().clone();
    let total = snap["waiting_total"].as_u64().unwrap() as usize;
    while line.len() < total {
        let path = format!("/api/v1/queues/{}/line?after_position={}&limit=500", app.queue, line.len());
        let page = app.get(&path, Some(&app.admin)).await.expect(200);
        assert_eq!(page["seq"].as_i64(), Some(written));
        let tickets = page["tickets"].as_array().unwrap();
        assert!(!tickets.is_empty(), "the line ended at {} of {total}", line.len());
        line.extend(tickets.iter().cloned());
    }
    let in_hub: Vec<String> = line.iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
    let in_db: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM tickets WHERE queue_id = $1 AND in_line ORDER BY priority DESC, line_seq")
            .bind(app.queue)
            .fetch_all(&mut sqlx::PgConnection::connect(&app.db_url).await.unwrap())
            .await
            .unwrap();
    assert_eq!(in_hub, in_db.iter().map(|id| id.to_string()).collect::<Vec<_>>());
    let positions: Vec<i64> = line.iter().map(|t| t["position"].as_i64().unwrap()).collect();
    assert_eq!(positions, (1..=in_db.len() as i64).collect::<Vec<_>>());
}

/// The node's connections to PostgreSQL go silent (no error, no answer) for 20 s, while another
/// node keeps writing: the silent node answers 503 within seconds instead of hanging, says it
/// is unready, keeps its sockets (Redis still brings them every change), and catches up after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_database_answers_503_quickly_and_everything_catches_up() {
    use std::time::Instant;
    let app = spawn_app().await;
    let (server, db) = app.db_url.rsplit_once('/').unwrap();
    let host_port = server.rsplit('@').next().unwrap();
    let pg = std::net::ToSocketAddrs::to_socket_addrs(host_port).unwrap().next().unwrap();
    let proxy = common::Proxy::start(pg).await;
    let proxied = format!("{}@127.0.0.1:{}/{db}", server.rsplit_once('@').unwrap().0, proxy.port);
    let node = app.on(&app.second_node_with(|s| s.database_url = proxied).await);

    let (ticket, token) = node.joined(app.queue).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    let mut phone = node.ws(&format!("/ws/tickets/{id}?token={token}")).await;
    assert_eq!(phone.json().await["ticket"]["position"], 1);
    node.until_present(&id).await;
    let mut console = node.staff_socket(app.queue, None).await;
    assert_eq!(console.json().await["seq"], 2);

    proxy.blackhole();
    let silent = Instant::now();
    node.join(app.queue, json!({})).await.expect_problem(503, "unavailable");
    let took = silent.elapsed();
    println!("a write answered 503 after {took:?} of silence");
    assert!(took < Duration::from_secs(9), "a write waited {took:?}");
    let ready = node.get("/readyz", None).await;
    assert_eq!((ready.status.as_u16(), ready.body["postgres"].as_str()), (503, Some("down")));
    let read = Instant::now();
    node.get(&format!("/api/v1/tickets/{id}?token={token}"), None).await.expect_problem(503, "unavailable");
    println!("a read answered 503 after {:?}", read.elapsed());
    assert!(read.elapsed() < Duration::from_secs(10), "a read waited {:?}", read.elapsed());

    // The other node writes on; the silent node's sockets hear of it all.
    for _ in 0..3 {
        app.joined(app.queue).await;
    }
    app.call_next(&app.admin, app.queue, "Desk 9").await.expect(200);
    loop {
        let t = phone.json().await;
        if t["ticket"]["status"] == "called" {
            break;
        }
    }
    all_until(&mut console, 3, 6).await;

    tokio::time::sleep(Duration::from_secs(20).saturating_sub(silent.elapsed())).await;
    proxy.restore();
    let back = Instant::now();
    let joined = loop {
        let reply = node.join(app.queue, json!({})).await;
        if reply.status == 201 {
            break reply.body;
        }
        assert!(back.elapsed() < Duration::from_secs(20), "writes did not come back: {:?}", reply.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("writes answered again {:?} after the database came back", back.elapsed());
    node.get("/readyz", None).await.expect(200);
    // Every event reached the console once, in order, and the database agrees on the last one.
    let last = joined["ticket"]["seq"].as_i64().unwrap();
    all_until(&mut console, 7, last).await;
    let events = app.all_events(&app.admin, app.queue).await;
    assert_eq!(events.last().unwrap()["seq"].as_i64(), Some(last));
}

/// A real server process is killed with SIGKILL while its clients watch and another node keeps
/// writing: the clients reconnect to the other node with `since=` and end with every event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_a_killed_node_resume_on_another_with_every_event() {
    let app = spawn_app().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = common::KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_queuecast"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--join-rate-limit", "0"])
            .env("DATABASE_URL", &app.db_url)
            .env("REDIS_URL", std::env::var("REDIS_URL").unwrap())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting a server process"),
    );
    let doomed = app.on(&format!("http://127.0.0.1:{port}"));
    let started = std::time::Instant::now();
    while doomed.http.get(format!("{}/readyz", doomed.base)).send().await.map_or(true, |r| r.status() != 200) {
        assert!(started.elapsed() < Duration::from_secs(30), "the server process did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (ticket, token) = doomed.joined(app.queue).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    let mut phone = doomed.ws(&format!("/ws/tickets/{id}?token={token}")).await;
    assert_eq!(phone.json().await["ticket"]["position"], 1);
    doomed.until_present(&id).await;
    let mut console = doomed.staff_socket(app.queue, None).await;
    assert_eq!(console.json().await["seq"], 2);

    // Another node writes 150 changes; the process dies partway.
    let writer = {
        let other = app.on(&app.base);
        tokio::spawn(async move {
            for _ in 0..150 {
                other.joined(other.queue).await;
            }
            other
        })
    };
    let mut seen = 2;
    loop {
        match console.next().await {
            common::WsEvent::Json(m) => {
                let seq = m["event"]["seq"].as_i64().unwrap();
                assert_eq!(seq, seen + 1, "gap or repeat before the kill");
                seen = seq;
                if seen == 40 {
                    child.0.kill().unwrap(); // SIGKILL: no goodbye to anyone
                    child.0.wait().unwrap();
                }
            }
            common::WsEvent::Closed(code) => {
                assert_ne!(code, 0, "the socket hung instead of breaking");
                break;
            }
        }
    }
    assert!(seen >= 40, "the console saw {seen} events before the kill");

    // Back on the surviving node, from where each left off.
    let mut console = app.staff_socket(app.queue, Some(seen)).await;
    let other = writer.await.unwrap();
    all_until(&mut console, seen + 1, 152).await;
    let events = other.all_events(&app.admin, app.queue).await;
    assert_eq!(events.len(), 152);
    // The phone's socket broke too (it does not hang), and it resumes where it was.
    assert_ne!(phone.closed().await, 0);
    let mut phone = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;
    assert_eq!(phone.json().await["ticket"]["position"], 1);
}

/// Transactions committed or rolled back in this test's database so far.
async fn transactions(db_url: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(db_url).await.unwrap();
    sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// 2,000 customers lose their sockets at once and all come back at once: every one converges
/// on its ticket as the database has it, with about one query each (opening the ticket), not
/// one per event or per hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_storm_converges_with_about_one_query_per_client() {
    const N: usize = 2000;
    let app = spawn_app().await;
    let mut tickets = Vec::with_capacity(N);
    for _ in 0..N / 100 {
        let joined = futures_util::future::join_all((0..100).map(|_| app.joined(app.queue))).await;
        tickets.extend(
            joined
                .into_iter()
                .map(|(t, token)| (t["id"].as_str().unwrap().to_owned(), token, t["position"].as_i64().unwrap())),
        );
    }
    let paths: Vec<String> = tickets.iter().map(|(id, token, _)| format!("/ws/tickets/{id}?token={token}")).collect();
    let mut sockets = futures_util::future::join_all(paths.iter().map(|p| app.ws(p))).await;
    for ws in &mut sockets {
        ws.json().await;
    }
    // The line moves while they are away.
    for _ in 0..10 {
        app.call_next(&app.admin, app.queue, "Desk 1").await.expect(200);
    }
    drop(sockets);
    // Idle backends report their transaction counts after 10 s (PostgreSQL's PGSTAT_IDLE_INTERVAL).
    tokio::time::sleep(Duration::from_secs(11)).await;
    let before = transactions(&app.db_url).await;
    let started = std::time::Instant::now();
    let mut sockets = futures_util::future::join_all(paths.iter().map(|p| app.ws(p))).await;
    let firsts = futures_util::future::join_all(sockets.iter_mut().map(|ws| ws.json())).await;
    let took = started.elapsed();
    for ((_, _, place), first) in tickets.iter().zip(&firsts) {
        let t = &first["ticket"];
        let expected = if *place <= 10 { json!(["called", null]) } else { json!(["waiting", place - 10]) };
        assert_eq!(json!([t["status"], t["position"]]), expected, "the customer who joined {place}th");
    }
    tokio::time::sleep(Duration::from_secs(11)).await;
    let used = transactions(&app.db_url).await - before;
    println!("{N} clients converged in {took:?} with {used} transactions");
    assert!(used <= (N as i64) + 100, "{used} transactions for {N} reconnections");
}

/// One series of the node's `/metrics`, e.g. `queuecast_sockets_open{kind="customer"}` (0 when
/// absent).
async fn metric(app: &common::TestApp, series: &str) -> f64 {
    let text = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
}

/// A phone whose connection goes silent without FIN or RST (half-open: the proxy between it and
/// the server passes nothing either way, and the server's writes still succeed) is dropped by
/// the server within the configured silence bound, while a console and a phone on the same
/// queue keep getting every change at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_client_is_dropped_within_the_silence_bound_while_healthy_ones_keep_receiving() {
    use std::time::Instant;
    let (ping, silence) = (Duration::from_millis(250), Duration::from_secs(1));
    let app = common::spawn_app_with(|s| {
        s.socket_ping = ping;
        s.socket_silence = silence;
    })
    .await;
    let proxy = common::Proxy::start(app.base.trim_start_matches("http://").parse().unwrap()).await;
    let through = app.on(&format!("http://127.0.0.1:{}", proxy.port));
    let path =
        |(t, token): &(serde_json::Value, String)| format!("/ws/tickets/{}?token={token}", t["id"].as_str().unwrap());
    let (first, second) = (app.joined(app.queue).await, app.joined(app.queue).await);
    let mut half_open = through.ws(&path(&first)).await;
    assert_eq!(half_open.json().await["ticket"]["position"], 1);
    let mut phone = app.ws(&path(&second)).await;
    assert_eq!(phone.json().await["ticket"]["position"], 2);
    // A healthy client reads all the time (and so answers the server's pings).
    let (shown, mut phone_shows) = tokio::sync::mpsc::unbounded_channel();
    let phone_reader = tokio::spawn(async move {
        for _ in 0..1000 {
            match phone.next().await {
                common::WsEvent::Json(m) => shown.send(m).unwrap(),
                common::WsEvent::Closed(0) => continue, // quiet for a while: still open
                common::WsEvent::Closed(code) => return code,
            }
        }
        0
    });
    // Both customers' sockets made them present: two joins and two presences.
    for (ticket, _) in [&first, &second] {
        app.until_present(ticket["id"].as_str().unwrap()).await;
    }
    let mut console = app.staff_socket(app.queue, None).await;
    assert_eq!(console.json().await["seq"], 4);
    let idle = r#"queuecast_sockets_closed_total{kind="customer",reason="idle"}"#;
    // Counted as a difference: under `cargo test` the other tests of this file share the
    // process's metrics (none of them closes a socket as idle).
    let idle_before = metric(&app, idle).await;

    proxy.blackhole();
    let silent = Instant::now();
    // Changes keep coming; the console hears each within a second, during and after the drop.
    let mut dropped_after = None;
    for seq in 5..=14 {
        app.joined(app.queue).await;
        let heard = Instant::now();
        let event = console.json_within(Duration::from_secs(1)).await;
        assert_eq!(event.as_ref().map(|e| e["event"]["seq"].as_i64()), Some(Some(seq)), "the console missed {seq}");
        assert!(heard.elapsed() < Duration::from_secs(1));
        if dropped_after.is_none() && metric(&app, idle).await > idle_before {
            dropped_after = Some(silent.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = silent + silence + ping + Duration::from_secs(3);
    while dropped_after.is_none() && Instant::now() < deadline {
        if metric(&app, idle).await > idle_before {
            dropped_after = Some(silent.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dropped_after = dropped_after.expect("the half-open socket was never dropped");
    println!("the half-open socket was dropped {dropped_after:?} after it went silent");
    // The bound: silent for `silence`, noticed at the next ping tick (and some slack for a busy machine).
    assert!(dropped_after < silence + ping + Duration::from_secs(2), "dropped after {dropped_after:?}");
    assert_eq!(metric(&app, idle).await, idle_before + 1.0, "only the half-open socket was dropped");

    // The healthy phone moves up at once when the half-open one's ticket is called.
    app.call_next(&app.admin, app.queue, "Desk 1").await.expect(200);
    let moved = tokio::time::timeout(Duration::from_secs(1), phone_shows.recv()).await;
    assert_eq!(moved.ok().flatten().map(|m| m["ticket"]["position"].clone()), Some(serde_json::json!(1)));
    assert!(!phone_reader.is_finished(), "the healthy phone's socket ended");
    phone_reader.abort();
    // When the network comes back, the dropped client finds its socket closed (idle), not open.
    proxy.restore();
    let code = half_open.closed().await;
    assert!(code == 4002 || code == 1006, "the half-open client's socket ended with {code}");
}
