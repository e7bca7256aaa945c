//! Messages off the page, from the outbox: written with their event, sent by any node, dropped
//! when the ticket outran them, failed with a reason when this node cannot send them.

mod common;

use std::time::Duration;

use common::{spawn_app, spawn_app_with, TestApp};
use serde_json::{json, Value};
use sqlx::Connection;

/// A ticket's messages, as its customer reads them.
async fn messages(app: &TestApp, ticket: &str, token: &str) -> Vec<Value> {
    let list = app.get(&format!("/api/v1/tickets/{ticket}/notifications?token={token}"), None).await.expect(200);
    list.as_array().unwrap().clone()
}

/// Waits until no message of the ticket is pending (and there are at least `n`); them.
async fn settled(app: &TestApp, ticket: &str, token: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let list = messages(app, ticket, token).await;
        if list.len() >= n && list.iter().all(|m| m["status"] != "pending") {
            return list;
        }
        assert!(tokio::time::Instant::now() < deadline, "messages did not settle: {list:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (kind, channel, status, last_error) of each message.
fn summary(list: &[Value]) -> Vec<(String, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut out: Vec<_> =
        list.iter().map(|m| (s(&m["kind"]), s(&m["channel"]), s(&m["status"]), s(&m["last_error"]))).collect();
    out.sort();
    out
}

/// A message as written: kind, channel, position, state, lang, vars, seq.
type Written = (String, String, Option<i32>, String, String, Value, i64);

async fn join_with(app: &TestApp, queue: uuid::Uuid, notify: Value) -> (String, String) {
    let body = app.join(queue, json!({ "notify": notify })).await.expect(201);
    (body["ticket"]["id"].as_str().unwrap().to_owned(), body["token"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_channels_records_each_message_as_failed_channel_not_configured() {
    let app = spawn_app().await;
    let (ticket, token) =
        join_with(&app, app.queue, json!({"sms": "+33 6 12 34 56 78", "email": "Ada@Example.org"})).await;
    // Each told moment is tried (and given up) by itself: joined, then called.
    settled(&app, &ticket, &token, 2).await;
    app.call_next(&app.admin, app.queue, "Desk 2").await.expect(200);

    let list = settled(&app, &ticket, &token, 4).await;
    let not_configured = "channel not configured".to_owned();
    assert_eq!(
        summary(&list),
        vec![
            ("called".into(), "email".into(), "failed".into(), not_configured.clone()),
            ("called".into(), "sms".into(), "failed".into(), not_configured.clone()),
            ("joined".into(), "email".into(), "failed".into(), not_configured.clone()),
            ("joined".into(), "sms".into(), "failed".into(), not_configured),
        ]
    );
    // Staff read the same list; nobody reads a recipient from it.
    let staff = app.get(&format!("/api/v1/tickets/{ticket}/notifications"), Some(&app.admin)).await.expect(200);
    assert_eq!(staff.as_array().unwrap().len(), 4);
    assert!(!staff.to_string().contains("612345678") && !staff.to_string().contains("example.org"));
    // Another ticket's token opens nothing.
    let (_, other_token) = app.joined(app.queue).await;
    app.get(&format!("/api/v1/tickets/{ticket}/notifications?token={other_token}"), None)
        .await
        .expect_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_written_in_the_transaction_of_their_event_and_only_for_told_moments() {
    // No sender: what the writer wrote stays as it was written.
    let app = spawn_app_with(|s| s.notify.enabled = false).await;
    let quiet =
        app.create_queue(&app.admin, "quiet", json!({"settings": {"notify": {"joined": false, "ahead": [1]}}})).await;
    // Three in line; the third gave an e-mail.
    app.joined(quiet).await;
    app.joined(quiet).await;
    let (third, _) = join_with(&app, quiet, json!({"email": "c@example.org", "lang": "fr"})).await;
    // A join without contacts, and one into a closed queue: no message for either.
    app.joined(app.queue).await;
    app.request(
        reqwest::Method::PATCH,
        &format!("/api/v1/queues/{quiet}"),
        Some(&app.admin),
        Some(json!({"status": "closed"})),
    )
    .await
    .expect(200);
    app.join(quiet, json!({"notify": {"sms": "+15550100100"}})).await.expect_problem(409, "queue_closed");
    app.request(
        reqwest::Method::PATCH,
        &format!("/api/v1/queues/{quiet}"),
        Some(&app.admin),
        Some(json!({"status": "open"})),
    )
    .await
    .expect(200);
    // The line moves: the third has one ahead (`ahead: [1]`), then is called.
    app.call_next(&app.admin, quiet, "1").await.expect(200);
    app.call_next(&app.admin, quiet, "1").await.expect(200);
    app.call_next(&app.admin, quiet, "3").await.expect(200);

    let mut db = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let rows: Vec<Written> = sqlx::query_as(
        "SELECT n.kind, n.channel, n.position, n.state, n.lang, n.vars, n.seq FROM notifications n ORDER BY n.seq",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let third_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE ticket_id = $1::uuid")
        .bind(&third)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(third_rows, rows.len() as i64, "only the ticket with contacts has messages");
    // `joined` is off for this queue; "1 ahead" once (not again when the line moves on); called.
    let kinds: Vec<(&str, Option<i32>, &str)> = rows.iter().map(|r| (r.0.as_str(), r.2, r.3.as_str())).collect();
    assert_eq!(kinds, vec![("ahead", Some(2), "waiting"), ("called", None, "called")]);
    assert!(rows.iter().all(|r| r.1 == "email" && r.4 == "fr"));
    assert_eq!(rows[0].5, json!({"number": "A003", "ahead": 1}));
    assert_eq!(rows[1].5, json!({"number": "A003", "counter": "3"}));
    // Each was written with the event that caused it: its seq is that event's (the ahead one
    // at the first call, which moved the line).
    let events = app.all_events(&app.admin, quiet).await;
    let at =
        |kind: &str, n: usize| events.iter().filter(|e| e["kind"] == kind).nth(n).unwrap()["seq"].as_i64().unwrap();
    assert!(rows[0].6 >= at("ticket.called", 0));
    assert_eq!(rows[1].6, at("ticket.called", 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_ticket_outran_is_dropped_not_sent_late() {
    // The node that writes sends nothing; a second node that sends comes up later.
    let app = spawn_app_with(|s| s.notify.enabled = false).await;
    let q = app.create_queue(&app.admin, "late", json!({"settings": {"notify": {"ahead": [1]}}})).await;
    app.joined(q).await;
    let (ticket, token) = join_with(&app, q, json!({"sms": "+15550100101"})).await;
    // "1 ahead" is written with the join (one is ahead), and the ticket is called before
    // anything is sent.
    app.call_next(&app.admin, q, "1").await.expect(200);
    app.call_next(&app.admin, q, "2").await.expect(200);
    let pending = messages(&app, &ticket, &token).await;
    assert_eq!(pending.len(), 3);
    assert!(pending.iter().all(|m| m["status"] == "pending" && m["attempts"] == 0));

    app.second_node_with(|_| {}).await;
    let list = settled(&app, &ticket, &token, 3).await;
    let got = summary(&list);
    assert_eq!(got[0].0, "ahead");
    assert_eq!((got[0].2.as_str(), got[0].3.as_str()), ("failed", "stale: the ticket is called now (was waiting)"));
    assert_eq!(got[2].0, "joined");
    assert_eq!(got[2].3, "stale: the ticket is called now (was waiting)");
    // The call still stands: sent if it could be (here no channel: failed for that reason).
    assert_eq!((got[1].0.as_str(), got[1].3.as_str()), ("called", "channel not configured"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_contacts_and_message_settings_are_refused_with_a_code_and_nothing_saved() {
    let app = spawn_app().await;
    for (notify, code) in [
        (json!({"sms": "0612"}), "invalid_phone"),
        (json!({"email": "not-an-address"}), "invalid_email"),
        (json!({"lang": "xx", "email": "a@example.org"}), "unknown_lang"),
        (json!({"push": {"endpoint": "ftp://push.example"}}), "invalid_push_subscription"),
    ] {
        app.join(app.queue, json!({ "notify": notify })).await.expect_problem(400, code);
    }
    app.join(app.queue, json!({"notify": {"fax": "+15550100"}})).await.expect_problem(400, "bad_request");
    for (settings, code) in [
        (json!({"notify": {"templates": {"fr": {"called": "{nmber}"}}}}), "invalid_template"),
        (json!({"notify": {"templates": {"xx": {"called": "hi"}}}}), "invalid_template"),
        (json!({"notify": {"ahead": [99]}}), "invalid_notify_settings"),
    ] {
        let body = json!({"slug": "bad", "name": "Bad", "settings": settings});
        app.post("/api/v1/queues", Some(&app.admin), body).await.expect_problem(400, code);
    }
    let mut db = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM notify_contacts), \
                (SELECT count(*) FROM queues WHERE slug = 'bad')",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(counts, (0, 0, 0));
}
