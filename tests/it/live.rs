//! The live sockets: what customers, staff and displays see as the queue moves.

use crate::common;

use std::time::Duration;

use common::{spawn_app, spawn_app_with, WsEvent};
use futures_util::future::join_all;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_sees_their_place_fall_from_five_to_one_then_their_call() {
    let app = spawn_app().await;
    let mut mine = (Value::Null, String::new());
    for _ in 0..5 {
        mine = app.joined(app.queue).await;
    }
    let (ticket, token) = mine;
    let id = ticket["id"].as_str().unwrap();
    let mut ws = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;

    let first = ws.json().await;
    assert_eq!((first["type"].as_str(), first["ticket"]["position"].as_i64()), (Some("ticket"), Some(5)));
    assert!(first["ticket"]["eta_seconds"].as_i64().unwrap() > 0);

    let mut places = vec![5];
    for _ in 0..4 {
        app.call_next(&app.admin, app.queue, "Desk 1").await.expect(200);
        loop {
            let msg = ws.json().await;
            let place = msg["ticket"]["position"].as_i64().unwrap();
            if place != *places.last().unwrap() {
                places.push(place);
                break;
            }
        }
    }
    assert_eq!(places, [5, 4, 3, 2, 1]);

    app.call_next(&app.admin, app.queue, "Desk 9").await.expect(200);
    let called = loop {
        let msg = ws.json().await;
        if msg["ticket"]["status"] == "called" {
            break msg;
        }
    };
    assert_eq!(called["ticket"]["counter"], "Desk 9");
    assert!(called["ticket"]["position"].is_null());
}

/// Reads staff messages of a socket that already has everything up to `have`, until `last`;
/// the seqs of the events, in order received.
async fn events_until(ws: &mut common::Ws, have: i64, last: i64) -> Vec<i64> {
    let mut seqs = Vec::new();
    while seqs.last().copied().unwrap_or(have) < last {
        let msg = match ws.next().await {
            WsEvent::Json(msg) => msg,
            WsEvent::Closed(code) => panic!("closed with {code} after seqs up to {:?} of {last}", seqs.last()),
        };
        assert_eq!(msg["type"], "event", "after {:?}: {msg}", seqs.last());
        seqs.push(msg["event"]["seq"].as_i64().unwrap());
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_socket_gets_every_event_of_a_burst_once_in_order_and_resumes_exactly() {
    let app = spawn_app().await;
    for _ in 0..50 {
        app.joined(app.queue).await;
    }
    let mut ws = app.staff_socket(app.queue, None).await;
    let snap = ws.json().await;
    assert_eq!((snap["type"].as_str(), snap["seq"].as_i64()), (Some("snapshot"), Some(50)));
    assert_eq!(snap["waiting"].as_array().unwrap().len(), 50);
    let last = 550;

    // 500 concurrent changes, all bound to succeed: 450 joins racing 50 call-nexts (50 wait).
    let burst = async {
        let joins = join_all((0..450).map(|_| app.join(app.queue, json!({}))));
        let calls = join_all((0..50).map(|_| app.call_next(&app.admin, app.queue, "1")));
        let (joins, calls) = tokio::join!(joins, calls);
        assert!(joins.iter().all(|r| r.status == 201) && calls.iter().all(|r| r.status == 200));
    };
    // Every console reads as it goes, as a real one does.
    let watch = events_until(&mut ws, 50, last);
    // A second console drops out mid-burst (or at once, if it came late) and resumes with since=.
    let resume = async {
        let mut other = app.staff_socket(app.queue, None).await;
        let snap = other.json().await;
        assert_eq!(snap["type"], "snapshot");
        let have = snap["seq"].as_i64().unwrap();
        let since = events_until(&mut other, have, 150).await.last().copied().unwrap_or(have);
        drop(other);
        let mut again = app.staff_socket(app.queue, Some(since)).await;
        (since, events_until(&mut again, since, last).await)
    };
    let ((), seqs, (since, rest)) = tokio::join!(burst, watch, resume);

    assert_eq!(seqs, (51..=last).collect::<Vec<_>>(), "every seq once, in order");
    assert_eq!(rest, (since + 1..=last).collect::<Vec<_>>(), "resumed right after what it saw, to the end");
    assert_eq!(app.all_events(&app.admin, app.queue).await.len() as i64, last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_socket_resuming_long_after_gets_what_it_missed_from_the_log() {
    let app = spawn_app().await;
    for _ in 0..30 {
        app.joined(app.queue).await;
    }
    // Nobody was watching: the hub is new, so events 11..30 come from queue_events.
    let mut ws = app.staff_socket(app.queue, Some(10)).await;
    assert_eq!(events_until(&mut ws, 10, 30).await, (11..=30).collect::<Vec<_>>());
    app.joined(app.queue).await;
    assert_eq!(events_until(&mut ws, 30, 31).await, vec![31]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_display_shows_numbers_and_counters_and_never_names_or_phones() {
    let app = spawn_app().await;
    let key =
        app.post(&format!("/api/v1/queues/{}/display-keys", app.queue), Some(&app.admin), json!({})).await.expect(200);
    let key = key["key"].as_str().unwrap();
    let mut ws = app.ws(&format!("/ws/queues/{}/display?key={key}", app.queue)).await;
    let board = ws.json().await;
    assert_eq!((board["type"].as_str(), board["waiting"].as_i64()), (Some("display"), Some(0)));

    app.join(app.queue, json!({"name": "Zelda Secretname", "phone": "+1 555 0199", "fields": {"note": "private"}}))
        .await
        .expect(201);
    app.joined(app.queue).await;
    app.call_next(&app.admin, app.queue, "Window 3").await.expect(200);
    let mut boards = Vec::new();
    for _ in 0..3 {
        boards.push(ws.json().await);
    }
    let last = boards.last().unwrap();
    assert_eq!(last["now_serving"][0]["number"], "A001");
    assert_eq!(last["now_serving"][0]["counter"], "Window 3");
    assert_eq!(last["next"], json!(["A002"]));
    assert_eq!((last["waiting"].as_i64(), last["seq"].as_i64()), (Some(1), Some(3)));
    for b in &boards {
        let text = b.to_string();
        for secret in ["Zelda", "Secretname", "555", "private"] {
            assert!(!text.contains(secret), "a display carried {secret}: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_is_announced_again_to_the_customer_and_the_display() {
    let app = spawn_app().await;
    let key =
        app.post(&format!("/api/v1/queues/{}/display-keys", app.queue), Some(&app.admin), json!({})).await.expect(200);
    let mut display = app.ws(&format!("/ws/queues/{}/display?key={}", app.queue, key["key"].as_str().unwrap())).await;
    display.json().await;
    let (ticket, token) = app.joined(app.queue).await;
    let id = ticket["id"].as_str().unwrap();
    let mut phone = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;
    assert_eq!(phone.json().await["ticket"]["status"], "waiting");
    assert!(display.json().await.get("announce").is_none(), "a join announces no one");

    app.call_next(&app.admin, app.queue, "Desk 4").await.expect(200);
    let called = phone.json().await;
    assert_eq!(called["ticket"]["status"], "called");
    let board = display.json().await;
    assert_eq!(board["announce"], json!({"number": "A001", "counter": "Desk 4", "recall": false}));

    // A recall changes neither status nor counter, yet both screens hear of it.
    app.transition(&app.admin, id, "recall").await.expect(200);
    let recalled = phone.json().await;
    assert_eq!(recalled["ticket"]["status"], "called");
    assert!(recalled["ticket"]["seq"].as_i64() > called["ticket"]["seq"].as_i64());
    let board = display.json().await;
    assert_eq!(board["announce"], json!({"number": "A001", "counter": "Desk 4", "recall": true}));
    assert_eq!(board["now_serving"][0]["number"], "A001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_with_wrong_credentials_or_origin_are_refused() {
    let app = spawn_app().await;
    let q = app.queue;
    let (ticket, token) = app.joined(q).await;
    let id = ticket["id"].as_str().unwrap();

    // Wrong, reused and expired passes.
    assert_eq!(app.ws(&format!("/ws/queues/{q}?pass=nope")).await.closed().await, 4401);
    let pass = app.pass(&app.admin).await;
    let mut ok = app.ws(&format!("/ws/queues/{q}?pass={pass}")).await;
    assert_eq!(ok.json().await["type"], "snapshot");
    assert_eq!(app.ws(&format!("/ws/queues/{q}?pass={pass}")).await.closed().await, 4401, "a pass is single use");
    let stale = app.pass(&app.admin).await;
    let mut owner = <sqlx::PgConnection as sqlx::Connection>::connect(&app.db_url).await.unwrap();
    sqlx::query("UPDATE socket_passes SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
        .execute(&mut owner)
        .await
        .unwrap();
    assert_eq!(app.ws(&format!("/ws/queues/{q}?pass={stale}")).await.closed().await, 4401);

    // Another tenant's pass does not open our queue.
    let (beta, _) = app.new_tenant("beta").await;
    let beta_pass = app.pass(&beta).await;
    assert_eq!(app.ws(&format!("/ws/queues/{q}?pass={beta_pass}")).await.closed().await, 4404);

    // Wrong token, wrong key.
    assert_eq!(app.ws(&format!("/ws/tickets/{id}?token=nope")).await.closed().await, 4401);
    assert_eq!(app.ws(&format!("/ws/tickets/{}?token={token}", uuid::Uuid::new_v4())).await.closed().await, 4401);
    assert_eq!(app.ws(&format!("/ws/queues/{q}/display?key=nope")).await.closed().await, 4401);

    // A staff socket from a page on another origin never upgrades.
    let pass = app.pass(&app.admin).await;
    let refused = app.try_ws(&format!("/ws/queues/{q}?pass={pass}"), Some("http://evil.example")).await;
    let status = match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        other => panic!("expected a refused handshake, got {:?}", other.map(|_| ())),
    };
    assert_eq!(status, 403);
    let own = app.base.clone();
    let mut fine = app.try_ws(&format!("/ws/queues/{q}?pass={pass}"), Some(&own)).await.unwrap();
    assert_eq!(fine.json().await["type"], "snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_frames_and_unknown_messages_close_the_socket_with_their_codes() {
    let app = spawn_app().await;
    let (ticket, token) = app.joined(app.queue).await;
    let path = format!("/ws/tickets/{}?token={token}", ticket["id"].as_str().unwrap());

    let mut ws = app.ws(&path).await;
    ws.json().await;
    ws.send(json!({"type": "ping"}).to_string()).await;
    assert_eq!(ws.json().await, json!({"type": "pong"}));
    ws.send("x".repeat(5000)).await;
    assert_eq!(ws.closed().await, 4413);

    let mut ws = app.ws(&path).await;
    ws.json().await;
    ws.send(json!({"type": "subscribe", "queue": "everything"}).to_string()).await;
    assert_eq!(ws.closed().await, 4400);

    let mut ws = app.ws(&path).await;
    ws.json().await;
    for _ in 0..40 {
        ws.send(json!({"type": "ping"}).to_string()).await;
    }
    let mut code = None;
    while code.is_none() {
        if let WsEvent::Closed(c) = ws.next().await {
            code = Some(c);
        }
    }
    assert_eq!(code, Some(4429));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_node_closes_its_sockets_with_the_reconnect_code() {
    let app = spawn_app().await;
    let (base, stopper) = app.node(|_| {}).await;
    let b = app.on(&base);
    let mut staff = b.staff_socket(app.queue, None).await;
    staff.json().await;
    let (ticket, token) = app.joined(app.queue).await;
    let mut customer = b.ws(&format!("/ws/tickets/{}?token={token}", ticket["id"].as_str().unwrap())).await;
    customer.json().await;

    stopper.stop().await;
    assert_eq!(staff.closed().await, 4000);
    assert_eq!(customer.closed().await, 4000);
    // The other node still serves, and a client that reconnects there resumes.
    let mut again = app.staff_socket(app.queue, Some(0)).await;
    assert_eq!(again.json().await["event"]["seq"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_while_the_others_get_everything() {
    use futures_util::StreamExt;
    let app = spawn_app().await;
    // A line long enough that every staff frame is sizeable.
    futures_util::future::join_all((0..200).map(|_| app.join(app.queue, json!({"name": "x".repeat(90)})))).await;
    let pass = app.pass(&app.admin).await;
    let mut stalled = app.stalled_ws(&format!("/ws/queues/{}?pass={pass}", app.queue)).await;
    let mut healthy = app.staff_socket(app.queue, None).await;
    healthy.json().await;

    // ~9 MB of frames (30 KB of custom fields each): more than loopback buffers can absorb.
    // The healthy console reads while they come (a reader that waited for the end would be
    // too slow itself on a loaded machine).
    let last = 500;
    let bursts = async {
        for _ in 0..6 {
            for reply in
                join_all((0..50).map(|_| app.join(app.queue, json!({"fields": {"blob": "y".repeat(30_000)}})))).await
            {
                reply.expect(201);
            }
        }
    };
    let ((), seqs) = tokio::join!(bursts, events_until(&mut healthy, 200, last));
    assert_eq!(seqs, (201..=last).collect::<Vec<_>>(), "the healthy console missed nothing");

    // The stalled one was given up on: reading now finds the stream ends before the last event.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    let mut got_last = false;
    let mut closed_slow = false;
    while let Ok(Some(msg)) = tokio::time::timeout(std::time::Duration::from_secs(5), stalled.next()).await {
        match msg {
            Ok(tokio_tungstenite::tungstenite::Message::Text(t)) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                got_last |= v["event"]["seq"].as_i64() == Some(last);
            }
            Ok(tokio_tungstenite::tungstenite::Message::Close(frame)) => {
                closed_slow = frame.is_some_and(|f| u16::from(f.code) == 4001);
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(!got_last, "a client that never read cannot have been sent everything");
    let _ = closed_slow; // the close frame may not fit in a full buffer; the connection ending is what counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_socket_is_closed_and_one_that_answers_pings_is_kept() {
    use futures_util::StreamExt;
    use std::time::Duration;
    let app = common::spawn_app_with(|s| {
        s.socket_ping = Duration::from_millis(200);
        s.socket_silence = Duration::from_millis(800);
    })
    .await;
    let (ticket, token) = app.joined(app.queue).await;
    let path = format!("/ws/tickets/{}?token={token}", ticket["id"].as_str().unwrap());

    // This one reads (and so answers pings) for well over the silence limit.
    let mut lively = app.ws(&path).await;
    assert_eq!(lively.json().await["type"], "ticket");
    let quiet = tokio::time::timeout(Duration::from_secs(3), lively.next()).await;
    assert!(quiet.is_err(), "a socket answering pings stayed open: {quiet:?}");

    // This one never reads, so never answers a ping: the server lets it go (the close frame may
    // not get through to a client that does not read; the connection ending is what counts).
    let mut silent = app.stalled_ws(&path).await;
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        loop {
            match silent.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => {
                    return frame.map(|f| u16::from(f.code))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await;
    assert!(matches!(ended, Ok(None | Some(4002))), "the silent socket was not let go: {ended:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_display_key_closes_its_screens() {
    let app = spawn_app_with(|s| s.credential_recheck = Duration::from_millis(200)).await;
    let created =
        app.post(&format!("/api/v1/queues/{}/display-keys", app.queue), Some(&app.admin), json!({})).await.expect(200);
    let (key, key_id) = (created["key"].as_str().unwrap(), created["id"].as_str().unwrap());
    let path = format!("/ws/queues/{}/display?key={key}", app.queue);
    let mut screen = app.ws(&path).await;
    assert_eq!(screen.json().await["type"], "display");

    let revoke = format!("/api/v1/queues/{}/display-keys/{key_id}", app.queue);
    let res = app.http.delete(format!("{}{revoke}", app.base)).bearer_auth(&app.admin).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let started = std::time::Instant::now();
    assert_eq!(screen.closed().await, 4401);
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
    assert_eq!(app.ws(&path).await.closed().await, 4401, "a revoked key opens nothing");
    let again = app.http.delete(format!("{}{revoke}", app.base)).bearer_auth(&app.admin).send().await.unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_socket_closes_when_its_sign_in_expires() {
    let app = spawn_app().await;
    // A node whose sign-ins last two seconds, sharing the database.
    let short = app.on(&app.second_node_with(|s| s.store.staff_token_ttl = chrono::Duration::seconds(2)).await);
    let token = short.login("acme", common::ADMIN_EMAIL, common::PASSWORD).await;
    let pass = short.pass(&token).await;
    let mut console = short.ws(&format!("/ws/queues/{}?pass={pass}", app.queue)).await;
    assert_eq!(console.json().await["type"], "snapshot");
    let started = std::time::Instant::now();
    assert_eq!(console.closed().await, 4401);
    let after = started.elapsed();
    assert!(after > Duration::from_millis(1000) && after < Duration::from_secs(4), "closed after {after:?}");
}
