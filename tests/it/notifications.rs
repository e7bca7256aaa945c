//! Messages off the page, from the outbox: written with their event, sent by any node, dropped
//! when the ticket outran them, failed with a reason when this node cannot send them.

// Only the phone screen is used here.
#[allow(dead_code)]
use crate::common;
use common::browser;

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
async fn a_join_at_a_told_place_is_told_and_joins_behind_it_tell_nobody() {
    // No sender: what the writer wrote stays as it was written.
    let app = spawn_app_with(|s| s.notify.enabled = false).await;
    let q =
        app.create_queue(&app.admin, "drop", json!({"settings": {"notify": {"joined": false, "ahead": [2]}}})).await;

    // Five join one after the other: the third joins with two ahead of it.
    for i in 1..=5 {
        join_with(&app, q, json!({ "email": format!("c{i}@example.org") })).await;
    }

    // Only the third is told, once: joins behind the told place move nobody.
    let mut db = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let told: Vec<(String, Option<i32>, Value)> =
        sqlx::query_as("SELECT kind, position, vars FROM notifications WHERE queue_id = $1 ORDER BY seq")
            .bind(q)
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(told, [("ahead".to_owned(), Some(3), json!({"number": "A003", "ahead": 2}))]);
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

/// The SMTP server services.sh starts (aiosmtpd), and the maildir it writes each message into.
pub(crate) fn smtp() -> (String, std::path::PathBuf) {
    let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".local");
    let url = std::env::var("QC_SMTP_URL").unwrap_or_else(|_| "smtp://127.0.0.1:22525".into());
    let dir = std::env::var("QC_MAILDIR").map(Into::into).unwrap_or_else(|_| local.join("mail"));
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "no SMTP server at {url}: run scripts/test, or `. scripts/lib/services.sh; smtp_up`"
    );
    (url, dir)
}

/// The messages in the maildir sent to `to`, read by Python's e-mail parser (an independent
/// reader of what lettre wrote): {to, from, subject, text, html}.
pub(crate) async fn mails_to(dir: &std::path::Path, to: &str, n: usize) -> Vec<Value> {
    const READ: &str = r#"
import email, email.policy, json, os, sys
out = []
for name in sorted(os.listdir(os.path.join(sys.argv[1], "new"))):
    with open(os.path.join(sys.argv[1], "new", name), "rb") as f:
        m = email.message_from_binary_file(f, policy=email.policy.default)
    if m["To"] != sys.argv[2]:
        continue
    part = lambda t: (m.get_body(preferencelist=(t,)) or m).get_content()
    out.append({"to": m["To"], "from": m["From"], "subject": m["Subject"], "date": m["Date"],
                "text": part("plain"), "html": part("html"), "multipart": m.get_content_type()})
print(json.dumps(out))
"#;
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".local/venv/bin/python");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = std::process::Command::new(&python).arg("-c").arg(READ).arg(dir).arg(to).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mails: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        if mails.len() >= n {
            return mails;
        }
        assert!(tokio::time::Instant::now() < deadline, "expected {n} e-mails to {to}, got {mails:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_goes_over_smtp_in_the_customers_language_as_text_and_html() {
    let (url, dir) = smtp();
    let app = spawn_app_with(|s| {
        s.notify.smtp_url = Some(url);
        s.notify.mail_from = Some("Queuecast <queue@queuecast.test>".into());
    })
    .await;
    let to = format!("ada-{}@example.org", uuid::Uuid::new_v4().simple());
    let (ticket, token) = join_with(&app, app.queue, json!({"email": to, "lang": "fr"})).await;
    settled(&app, &ticket, &token, 1).await;
    app.call_next(&app.admin, app.queue, "Guichet 3").await.expect(200);

    let list = settled(&app, &ticket, &token, 2).await;
    assert!(list.iter().all(|m| m["status"] == "sent" && m["attempts"] == 1 && !m["sent_at"].is_null()), "{list:#?}");
    let mails = mails_to(&dir, &to, 2).await;
    assert_eq!(mails.len(), 2, "one e-mail per message, none twice");
    let called = mails.iter().find(|m| m["subject"].as_str().unwrap().starts_with("C'est votre tour")).unwrap();
    assert_eq!(called["subject"], "C'est votre tour : A001");
    assert_eq!(called["from"], "Queuecast <queue@queuecast.test>");
    assert_eq!(called["multipart"], "multipart/alternative");
    assert_eq!(
        called["text"].as_str().unwrap().trim(),
        "C'est votre tour à Queue main : A001, présentez-vous à Guichet 3."
    );
    let link = format!("{}/t/{ticket}", app.base);
    assert!(called["html"].as_str().unwrap().contains(&format!("<a href=\"{link}\">A001</a>")), "{called:#?}");
    let joined = mails.iter().find(|m| m["subject"] == "Vous êtes dans la file : A001").unwrap();
    assert!(joined["text"].as_str().unwrap().contains(&link));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snooze_is_told_with_how_many_are_ahead_now_unless_the_queue_says_not() {
    let (url, dir) = smtp();
    let app = spawn_app_with(|s| {
        s.notify.smtp_url = Some(url);
        s.notify.mail_from = Some("Queuecast <queue@queuecast.test>".into());
    })
    .await;
    let path = format!("/api/v1/queues/{}", app.queue);
    let settings = json!({"settings": {"snooze": {"max_times": 2, "max_places": 5}}});
    app.request(reqwest::Method::PATCH, &path, Some(&app.admin), Some(settings)).await.expect(200);
    let to = format!("ada-{}@example.org", uuid::Uuid::new_v4().simple());
    let (ticket, token) = join_with(&app, app.queue, json!({"email": to, "lang": "es"})).await;
    for _ in 0..4 {
        app.joined(app.queue).await;
    }
    settled(&app, &ticket, &token, 1).await;

    // Act: three places back; then the queue stops telling snoozes, and one more step back.
    let path = format!("/api/v1/tickets/{ticket}/snooze?token={token}");
    app.post(&path, None, json!({"places": 3})).await.expect(200);
    let list = settled(&app, &ticket, &token, 2).await;
    let off = json!({"settings": {"notify": {"snoozed": false}}});
    let queue_path = format!("/api/v1/queues/{}", app.queue);
    app.request(reqwest::Method::PATCH, &queue_path, Some(&app.admin), Some(off)).await.expect(200);
    app.post(&path, None, json!({"places": 1})).await.expect(200);

    // Assert: one e-mail for the first snooze, in Spanish, saying three are ahead now.
    assert_eq!(summary(&list)[1].0, "snoozed", "{list:#?}");
    let mails = mails_to(&dir, &to, 2).await;
    let snoozed = mails.iter().find(|m| m["subject"] == "Más tiempo: A001").expect("the snooze's e-mail");
    assert!(snoozed["text"].as_str().unwrap().contains("Ahora 3 antes que usted"), "{snoozed:#?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(messages(&app, &ticket, &token).await.len(), 2, "a snooze the queue does not tell wrote a message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_speaks_its_own_words_and_an_smtp_server_away_is_retried_then_given_up() {
    let (url, dir) = smtp();
    let app = spawn_app_with(|s| {
        s.notify.smtp_url = Some(url);
        s.notify.mail_from = Some("queue@queuecast.test".into());
    })
    .await;
    let words =
        json!({"notify": {"joined": false, "templates": {"en": {"called": "Now: {number} at {counter} ({queue})"}}}});
    let q = app.create_queue(&app.admin, "desk", json!({ "settings": words })).await;
    let to = format!("bo-{}@example.org", uuid::Uuid::new_v4().simple());
    join_with(&app, q, json!({ "email": to })).await;
    app.call_next(&app.admin, q, "Desk 4").await.expect(200);
    let mails = mails_to(&dir, &to, 1).await;
    assert_eq!(mails[0]["text"].as_str().unwrap().trim(), "Now: A001 at Desk 4 (Queue desk)");

    // A node whose SMTP server does not answer: tried again with backoff, then given up with
    // the reason. (Its own outbox: a second app.)
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = spawn_app_with(|s| {
        s.notify.smtp_url = Some(format!("smtp://127.0.0.1:{closed}"));
        s.notify.mail_from = Some("queue@queuecast.test".into());
        s.notify.backoff_base = Duration::from_millis(200);
        s.notify.max_attempts = 3;
    })
    .await;
    let (ticket, token) = join_with(&down, down.queue, json!({"email": "nobody@example.org"})).await;
    let list = settled(&down, &ticket, &token, 1).await;
    assert_eq!(list[0]["status"], "failed");
    assert_eq!(list[0]["attempts"], 3);
    assert!(list[0]["last_error"].as_str().unwrap().starts_with("SMTP: "), "{list:#?}");
}

/// A request the fake Messages API got: path, basic credentials, form.
#[derive(Debug, Clone)]
struct ApiCall {
    path: String,
    auth: String,
    form: std::collections::HashMap<String, String>,
}

/// A small HTTP server on loopback in the shape of the Messages API: records each request and
/// answers with the statuses of its script (then 201 with a `sid`).
struct FakeMessagesApi {
    url: String,
    calls: std::sync::Arc<std::sync::Mutex<Vec<ApiCall>>>,
}

impl FakeMessagesApi {
    async fn start(script: Vec<u16>) -> FakeMessagesApi {
        FakeMessagesApi::slow(script, Duration::ZERO).await
    }

    /// One that takes `delay` to answer each request.
    async fn slow(script: Vec<u16>, delay: Duration) -> FakeMessagesApi {
        use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
        let calls: std::sync::Arc<std::sync::Mutex<Vec<ApiCall>>> = Default::default();
        let script = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(script)));
        let (c, sc) = (calls.clone(), script.clone());
        let server = HttpServer::new(move || {
            let (calls, script) = (c.clone(), sc.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (calls, script) = (calls.clone(), script.clone());
                async move {
                    tokio::time::sleep(delay).await;
                    let form = reqwest::Url::parse(&format!("x:?{}", String::from_utf8_lossy(&body)))
                        .unwrap()
                        .query_pairs()
                        .into_owned()
                        .collect();
                    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
                    let mut calls = calls.lock().unwrap();
                    calls.push(ApiCall { path: req.path().to_owned(), auth: auth.to_owned(), form });
                    let sid = format!("SM{:032}", calls.len());
                    match script.lock().unwrap().pop_front().unwrap_or(201) {
                        201 => HttpResponse::Created().json(json!({"sid": sid, "status": "queued"})),
                        s => HttpResponse::build(actix_web::http::StatusCode::from_u16(s).unwrap())
                            .json(json!({"code": 20500, "message": "Internal Server Error", "status": s})),
                    }
                }
            }))
        })
        .workers(2)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        FakeMessagesApi { url: format!("http://127.0.0.1:{port}"), calls }
    }

    async fn wait_for(&self, n: usize) -> Vec<ApiCall> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let calls = self.calls.lock().unwrap().clone();
            if calls.len() >= n {
                return calls;
            }
            assert!(tokio::time::Instant::now() < deadline, "expected {n} calls, got {calls:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn http_sms(api: &FakeMessagesApi) -> queuecast::notify::sms::SmsSettings {
    queuecast::notify::sms::SmsSettings::Http {
        base_url: api.url.clone(),
        account: "AC0123".into(),
        token: "secret-token".into(),
        from: "+15550000000".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_goes_through_the_messages_api_retried_shortened_and_delivered_by_its_callback() {
    // The provider fails once, then takes the message.
    let api = FakeMessagesApi::start(vec![500]).await;
    let app = spawn_app_with(|s| {
        s.notify.sms = Some(http_sms(&api));
        s.notify.backoff_base = Duration::from_millis(200);
    })
    .await;
    let (ticket, token) = join_with(&app, app.queue, json!({"sms": "+33 6 12 34 56 78", "lang": "fr"})).await;

    let calls = api.wait_for(2).await;
    let list = settled(&app, &ticket, &token, 1).await;
    assert_eq!((list[0]["status"].as_str(), list[0]["attempts"].as_i64()), (Some("sent"), Some(2)), "{list:#?}");
    let call = &calls[1];
    assert_eq!(call.path, "/2010-04-01/Accounts/AC0123/Messages.json");
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("AC0123:secret-token");
    assert_eq!(call.auth, format!("Basic {basic}"));
    assert_eq!(call.form["To"], "+33612345678");
    assert_eq!(call.form["From"], "+15550000000");
    // French words with a character outside GSM-7 ("ê"): one UCS-2 segment, cut at a word.
    let body = &call.form["Body"];
    assert!(body.starts_with("Vous êtes dans la file Queue main : votre numéro est A001."), "{body}");
    assert!(body.encode_utf16().count() <= 70 && body.ends_with('…'), "{body}");
    assert_eq!(calls[0].form["Body"], *body, "the retry sends the same words");

    // The provider calls back: a forged URL changes nothing, the signed one delivers.
    let callback = call.form["StatusCallback"].clone();
    assert!(callback.starts_with(&format!("{}/api/v1/notifications/status/sms?id=", app.base)), "{callback}");
    let forged = callback.replace("sig=", "sig=0");
    let status = |url: String, s: &'static str| {
        let http = app.http.clone();
        async move {
            http.post(url).form(&[("MessageSid", "SM1"), ("MessageStatus", s)]).send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(status(forged, "delivered").await, 404);
    assert_eq!(status(callback.clone(), "sent").await, 204);
    assert_eq!(messages(&app, &ticket, &token).await[0]["status"], "sent");
    assert_eq!(status(callback, "delivered").await, 204);
    let list = messages(&app, &ticket, &token).await;
    assert_eq!(list[0]["status"], "delivered");
    assert!(!list[0]["delivered_at"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_the_outbox_and_send_each_message_once() {
    // A slow provider and senders that look often: without leases both would take the same
    // messages while the first is still sending them.
    let api = FakeMessagesApi::slow(vec![], Duration::from_millis(500)).await;
    let sender = |s: &mut queuecast::config::Settings| {
        s.notify.sms = Some(http_sms(&api));
        s.notify.poll = Duration::from_millis(20);
    };
    let app = spawn_app_with(sender).await;
    app.second_node_with(sender).await;
    let phones: Vec<String> = (0..30).map(|i| format!("+1555010{i:04}")).collect();
    futures_util::future::join_all(phones.iter().map(|p| join_with(&app, app.queue, json!({ "sms": p })))).await;

    api.wait_for(30).await;
    // Time for a second send of any of them, were a lease not held.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = api.calls.lock().unwrap().clone();
    let mut to: Vec<&str> = calls.iter().map(|c| c.form["To"].as_str()).collect();
    to.sort();
    assert_eq!(to, phones.iter().map(String::as_str).collect::<Vec<_>>(), "each message once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_commit_that_wrote_messages_wakes_the_sender_of_its_node() {
    // Arrange: a sender that polls once a minute (so only a wake sends within the test), and a
    // second node that writes messages without sending any: its messages wait in the outbox.
    let app = spawn_app_with(|s| s.notify.poll = Duration::from_secs(60)).await;
    let writer = app.on(&app.second_node_with(|s| s.notify.enabled = false).await);
    let (waiting, waiting_token) = join_with(&writer, app.queue, json!({"sms": "+33 6 12 34 56 78"})).await;
    assert_eq!(messages(&app, &waiting, &waiting_token).await[0]["status"], "pending");

    // Act: the sender's node commits changes that write no message (joins without contacts),
    // then one that does.
    app.joined(app.queue).await;
    app.joined(app.queue).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after_none = messages(&app, &waiting, &waiting_token).await;
    let (told, told_token) = join_with(&app, app.queue, json!({"email": "ada@example.org"})).await;

    // Assert: the commits without messages left the outbox alone; the one with a message woke
    // the sender, which sent (here, gave up on: no channel is configured) both.
    assert_eq!(after_none[0]["status"], "pending", "{after_none:?}");
    let sent = |list: Vec<Value>| summary(&list).into_iter().map(|(kind, channel, status, _)| (kind, channel, status));
    let failed = |channel: &str| ("joined".to_owned(), channel.to_owned(), "failed".to_owned());
    assert_eq!(sent(settled(&app, &told, &told_token, 1).await).collect::<Vec<_>>(), [failed("email")]);
    assert_eq!(sent(settled(&app, &waiting, &waiting_token, 1).await).collect::<Vec<_>>(), [failed("sms")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_that_replies_stop_gets_no_more_sms() {
    let api = FakeMessagesApi::start(vec![]).await;
    let app = spawn_app_with(|s| s.notify.sms = Some(http_sms(&api))).await;
    let mut db = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let key: Vec<u8> =
        sqlx::query_scalar("SELECT value FROM server_keys WHERE name = 'receipts'").fetch_one(&mut db).await.unwrap();
    let sig = queuecast::notify::sign(&key, queuecast::domain::notify::Channel::Sms, uuid::Uuid::nil());
    let inbound = format!("{}/api/v1/notifications/inbound/sms", app.base);
    let reply = |sig: String, body: &'static str| {
        let (http, inbound) = (app.http.clone(), inbound.clone());
        async move {
            let form = [("From", "+44 7700 900123"), ("Body", body)];
            http.post(format!("{inbound}?sig={sig}")).form(&form).send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(reply("0".repeat(32), "STOP").await, 404, "an unsigned reply is not taken");
    assert_eq!(reply(sig.clone(), "hello").await, 204);
    let (ticket, token) = join_with(&app, app.queue, json!({"sms": "+447700900123"})).await;
    assert_eq!(settled(&app, &ticket, &token, 1).await[0]["status"], "sent");

    // Kannel's shape: GET with from and text.
    let kannel = format!("{inbound}?sig={sig}&from=%2B447700900123&text=Stop");
    assert_eq!(app.http.get(kannel).send().await.unwrap().status().as_u16(), 204);
    let (ticket, token) = join_with(&app, app.queue, json!({"sms": "+447700900123"})).await;
    let list = settled(&app, &ticket, &token, 1).await;
    assert_eq!(
        (list[0]["status"].as_str(), list[0]["last_error"].as_str()),
        (Some("failed"), Some("opted out: the number sent STOP"))
    );
    assert_eq!(api.calls.lock().unwrap().len(), 1, "nothing more was sent to it");
}

/// The Kannel services.sh starts: its sendsms URL and the log of the fake SMS centre.
fn kannel() -> (queuecast::notify::sms::SmsSettings, std::path::PathBuf) {
    let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".local");
    let url =
        std::env::var("QC_KANNEL_SENDSMS_URL").unwrap_or_else(|_| "http://127.0.0.1:23013/cgi-bin/sendsms".into());
    let log = std::env::var("QC_KANNEL_LOG").map(Into::into).unwrap_or_else(|_| local.join("kannel/fakesmsc.log"));
    let port: u16 = url.split(':').nth(2).unwrap().split('/').next().unwrap().parse().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "no Kannel at {url}: run scripts/test, or `. scripts/lib/services.sh; kannel_up`"
    );
    let settings = queuecast::notify::sms::SmsSettings::Kannel {
        url,
        username: "queuecast".into(),
        password: "queuecast-dev".into(),
        from: "12345".into(),
    };
    (settings, log)
}

/// What the fake SMS centre received for `to`: (sender, text), in order.
async fn received_by_centre(log: &std::path::Path, to: &str, n: usize) -> Vec<(String, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // `Got message N: <from to text words…>`
        let got: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once("Got message ")?.1.split_once(": <"))
            .filter_map(|(_, m)| {
                let m = m.strip_suffix('>')?;
                let mut parts = m.splitn(4, ' ');
                let (from, rcpt, kind, words) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
                (rcpt == to && kind == "text").then(|| (from.to_owned(), words.to_owned()))
            })
            .collect();
        if got.len() >= n {
            return got;
        }
        assert!(tokio::time::Instant::now() < deadline, "the SMS centre got {got:?} for {to}, expected {n}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_goes_through_kannel_and_its_delivery_report_comes_back() {
    let (sms, log) = kannel();
    let app = spawn_app_with(|s| s.notify.sms = Some(sms)).await;
    let to = format!("+1555{:07}", rand_digits());
    let (ticket, token) = join_with(&app, app.queue, json!({ "sms": to })).await;
    settled(&app, &ticket, &token, 1).await;
    app.call_next(&app.admin, app.queue, "Desk 7").await.expect(200);

    let got = received_by_centre(&log, &to, 2).await;
    assert_eq!(got.len(), 2, "each message once: {got:?}");
    assert_eq!(got[0].0, "12345");
    assert_eq!(
        got[0].1,
        format!("You are in line at Queue main: your number is A001. Follow your place: {}/t/{ticket}", app.base)
    );
    assert_eq!(got[1].1, "It's your turn at Queue main: A001, please go to Desk 7.");
    // The centre reports each delivered; Kannel calls the message's dlr-url with it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let list = messages(&app, &ticket, &token).await;
        if list.len() == 2 && list.iter().all(|m| m["status"] == "delivered") {
            assert!(list.iter().all(|m| m["attempts"] == 1 && !m["delivered_at"].is_null()));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no delivery receipts: {list:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn rand_digits() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32 % 10_000_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_day_report_and_metrics_count_messages_by_channel_and_status() {
    // SMS goes out; e-mail has no channel on this node and fails.
    let api = FakeMessagesApi::start(vec![]).await;
    let app = spawn_app_with(|s| s.notify.sms = Some(http_sms(&api))).await;
    for i in 0..3 {
        let (ticket, token) =
            join_with(&app, app.queue, json!({"sms": format!("+1555020{i:04}"), "email": "r@example.org"})).await;
        settled(&app, &ticket, &token, 2).await;
    }
    let today = chrono::Utc::now().date_naive();
    let path = format!("/api/v1/queues/{}/notifications?from={today}&to={today}", app.queue);
    let report = app.get(&path, Some(&app.admin)).await.expect(200);
    assert_eq!(
        report,
        json!([
            {"day": today.to_string(), "channel": "email", "sent": 0, "delivered": 0, "failed": 3, "pending": 0},
            {"day": today.to_string(), "channel": "sms", "sent": 3, "delivered": 0, "failed": 0, "pending": 0},
        ])
    );
    app.get(&path.replace("from=", "from=x"), Some(&app.admin)).await.expect_problem(400, "bad_request");
    app.get(&path, None).await.expect_problem(401, "unauthorized");

    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let series = |name: &str| {
        metrics.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
    };
    assert_eq!(series(r#"queuecast_notifications_total{channel="sms",status="sent"}"#), Some(3.0), "{metrics}");
    assert_eq!(series(r#"queuecast_notifications_total{channel="email",status="failed"}"#), Some(3.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_blanks_phones_and_addresses_in_the_outbox_too() {
    let app = spawn_app_with(|s| s.notify.enabled = false).await;
    let (old, _) = join_with(&app, app.queue, json!({"sms": "+15550300001", "email": "old@example.org"})).await;
    let (fresh, _) = join_with(&app, app.queue, json!({"sms": "+15550300002"})).await;
    app.post(&format!("/api/v1/tickets/{old}/cancel"), Some(&app.admin), json!({})).await.expect(200);
    app.post(&format!("/api/v1/tickets/{fresh}/cancel"), Some(&app.admin), json!({})).await.expect(200);
    let mut db = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::query("UPDATE tickets SET finished_at = now() - interval '40 days' WHERE id = $1::uuid")
        .bind(&old)
        .execute(&mut db)
        .await
        .unwrap();

    let changed = app.store.blank_old(queuecast::store::Retained::Recipients, 30, 1000).await.unwrap();
    assert_eq!(changed, 3, "two messages and one contact row");
    assert_eq!(app.store.blank_old(queuecast::store::Retained::Recipients, 30, 1000).await.unwrap(), 0);
    let left: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT ticket_id::text, recipient FROM notifications ORDER BY ticket_id, channel")
            .fetch_all(&mut db)
            .await
            .unwrap();
    for (ticket, recipient) in &left {
        assert_eq!(recipient.is_none(), *ticket == old, "{left:?}");
    }
    let contacts: Vec<String> =
        sqlx::query_scalar("SELECT ticket_id::text FROM notify_contacts").fetch_all(&mut db).await.unwrap();
    assert_eq!(contacts, vec![fresh]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_join_page_asks_for_consent_in_the_customers_language_and_sends_only_what_was_ticked() {
    let (url, dir) = smtp();
    let api = FakeMessagesApi::start(vec![]).await;
    let app = spawn_app_with(|s| {
        s.notify.sms = Some(http_sms(&api));
        s.notify.smtp_url = Some(url);
        s.notify.mail_from = Some("queue@queuecast.test".into());
    })
    .await;
    let chrome = browser::Chrome::start().await;
    let phone = chrome.page(browser::Screen::Phone).await;
    let soon = Duration::from_secs(10);
    phone.goto(&format!("{}/q/{}", app.base, app.queue)).await;
    phone.wait_for("document.querySelector('#queue-name')?.textContent.trim()", soon).await;
    // The consent speaks the language picked for the messages.
    phone.eval("const s = document.querySelector('#f-lang'); s.value = 'fr'; s.dispatchEvent(new Event('change')); return true").await;
    phone.wait_for("document.querySelector('#n-title').textContent.startsWith('Me prévenir')", soon).await;
    // Ticking SMS without a phone number: refused on the page, in French, nothing made.
    phone.click("#n-sms").await;
    phone.eval("document.querySelector('#join-form').requestSubmit(); return true").await;
    phone.wait_for("document.querySelector('#join-error').textContent.includes('format international')", soon).await;
    let summary = app.get(&format!("/api/v1/queues/{}", app.queue), None).await.expect(200);
    assert_eq!(summary["waiting"], 0);
    // A phone, and an address for e-mail (its field shows once its box is ticked).
    let to = format!("page-{}@example.org", uuid::Uuid::new_v4().simple());
    phone.fill("#join-form [name=phone]", "+33 6 98 76 54 32").await;
    assert_eq!(phone.eval("return document.querySelector('#f-email').hidden").await, json!(true));
    phone.click("#n-email").await;
    phone.fill("#f-email", &to).await;
    phone.screenshot("join-consent").await;
    phone.eval("document.querySelector('#join-form').requestSubmit(); return true").await;
    phone.wait_for("location.pathname.startsWith('/t/')", soon).await;

    let calls = api.wait_for(1).await;
    assert_eq!(calls[0].form["To"], "+33698765432");
    assert!(calls[0].form["Body"].starts_with("Vous êtes dans la file"), "{:?}", calls[0].form);
    let mails = mails_to(&dir, &to, 1).await;
    assert_eq!(mails[0]["subject"], "Vous êtes dans la file : A001");
    phone.close().await;

    // Typed but not ticked: nothing is asked for.
    let quiet = chrome.page(browser::Screen::Phone).await;
    quiet.goto(&format!("{}/q/{}", app.base, app.queue)).await;
    quiet.wait_for("document.querySelector('#queue-name')?.textContent.trim()", soon).await;
    quiet.fill("#join-form [name=phone]", "+33 6 11 11 11 11").await;
    quiet.eval("document.querySelector('#join-form').requestSubmit(); return true").await;
    quiet.wait_for("location.pathname.startsWith('/t/')", soon).await;
    let mut db = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let contacts: i64 = sqlx::query_scalar("SELECT count(*) FROM notify_contacts").fetch_one(&mut db).await.unwrap();
    assert_eq!(contacts, 1, "only the customer who ticked a box gave contacts");
    quiet.close().await;
}

/// A push endpoint in Python (tests/push_endpoint.py): its subscription, and the messages it
/// received, checked and decrypted.
struct PushEndpoint {
    subscription: Value,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    _child: tokio::process::Child,
}

impl PushEndpoint {
    async fn start() -> PushEndpoint {
        use tokio::io::AsyncBufReadExt;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".local/venv/bin/python");
        assert!(python.exists(), "no .local/venv: run scripts/test, or `. scripts/lib/services.sh; webpush_up`");
        let mut child = tokio::process::Command::new(python)
            .arg(root.join("tests/push_endpoint.py"))
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.unwrap().unwrap().unwrap();
        PushEndpoint { subscription: serde_json::from_str(&first).unwrap(), lines, _child: child }
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line()).await;
        serde_json::from_str(&line.expect("a push message within 20 s").unwrap().unwrap()).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_message_is_encrypted_for_the_subscription_and_signed_with_the_servers_vapid_key() {
    let mut endpoint = PushEndpoint::start().await;
    let app = spawn_app().await;
    let key = app.get("/api/v1/push/public-key", None).await.expect(200)["key"].as_str().unwrap().to_owned();
    // A second node has the same key: it is the deployment's, kept in the database. (Both
    // nodes are reached at one public URL, as behind a load balancer: links and the VAPID
    // subject are the same whichever sends.)
    let base = app.base.clone();
    let other = app.second_node_with(|s| s.public_url = Some(base)).await;
    assert_eq!(app.on(&other).get("/api/v1/push/public-key", None).await.expect(200)["key"], key.as_str());

    let (ticket, token) = join_with(&app, app.queue, json!({"push": endpoint.subscription, "lang": "de"})).await;
    let joined = endpoint.next().await;
    assert_eq!(joined.get("error"), None, "{joined:#?}");
    assert_eq!(joined["encoding"], "aes128gcm");
    assert_eq!(joined["scheme"], "vapid");
    assert_eq!(joined["k"], key.as_str(), "signed with the key the public endpoint gives");
    assert_eq!(joined["jwt_header"]["alg"], "ES256");
    let port =
        endpoint.subscription["endpoint"].as_str().unwrap().split(':').nth(2).unwrap().split('/').next().unwrap();
    assert_eq!(joined["claims"]["aud"], format!("http://127.0.0.1:{port}"));
    assert_eq!(joined["claims"]["sub"], app.base.as_str());
    let exp = joined["claims"]["exp"].as_i64().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp}, now {now}");
    assert_eq!(joined["payload"]["title"], "Sie stehen in der Schlange: A001");
    assert_eq!(joined["payload"]["url"], format!("{}/t/{ticket}", app.base));
    assert_eq!(joined["payload"]["kind"], "joined");

    app.call_next(&app.admin, app.queue, "Schalter 2").await.expect(200);
    let called = endpoint.next().await;
    assert_eq!(called["payload"]["body"], "Sie sind dran bei Queue main: A001, bitte zu Schalter 2.");
    let list = settled(&app, &ticket, &token, 2).await;
    assert!(list.iter().all(|m| m["channel"] == "push" && m["status"] == "sent"), "{list:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_me_on_this_phone_subscribes_a_ticket_in_line_and_a_gone_subscription_fails() {
    let mut endpoint = PushEndpoint::start().await;
    let app = spawn_app().await;
    let (ticket, token) = app.joined(app.queue).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/tickets/{id}/push?token={token}");
    let put = |body: Value| app.request(reqwest::Method::PUT, &path, None, Some(body));
    put(json!({"subscription": {"endpoint": "ftp://x"}})).await.expect_problem(400, "invalid_push_subscription");
    let (_, other) = app.joined(app.queue).await;
    app.request(
        reqwest::Method::PUT,
        &format!("/api/v1/tickets/{id}/push?token={other}"),
        None,
        Some(json!({"subscription": endpoint.subscription})),
    )
    .await
    .expect_problem(404, "not_found");
    put(json!({"subscription": endpoint.subscription, "lang": "es"})).await.expect(204);

    app.call_next(&app.admin, app.queue, "Mesa 1").await.expect(200);
    let called = endpoint.next().await;
    assert_eq!(called["payload"]["body"], "Es su turno en Queue main: A001, acuda a Mesa 1.");
    let list = settled(&app, &id, &token, 1).await;
    assert_eq!(summary(&list), vec![("called".into(), "push".into(), "sent".into(), String::new())]);

    // The push service says the subscription is gone: given up at once, with the reason.
    let mut gone = endpoint.subscription.clone();
    gone["endpoint"] = json!(gone["endpoint"].as_str().unwrap().replace("/push/", "/gone/"));
    let (ticket, token) = join_with(&app, app.queue, json!({ "push": gone })).await;
    let list = settled(&app, &ticket, &token, 1).await;
    assert_eq!(
        (list[0]["attempts"].as_i64(), list[0]["last_error"].as_str()),
        (Some(1), Some("push subscription gone (410 Gone)"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_clock_times_out_tells_the_no_show_too() {
    let clock = queuecast::clock::Clock::system();
    let shared = clock.clone();
    let app = spawn_app_with(move |s| {
        s.store.clock = shared;
        s.clock_every = Duration::from_millis(100);
        s.notify.enabled = false;
    })
    .await;
    let q = app.create_queue(&app.admin, "timed", json!({"settings": {"called_timeout_seconds": 60}})).await;
    let (ticket, token) = join_with(&app, q, json!({"email": "late@example.org"})).await;
    app.call_next(&app.admin, q, "Desk 1").await.expect(200);
    clock.advance(chrono::Duration::seconds(61));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let kinds: Vec<Value> = messages(&app, &ticket, &token).await.iter().map(|m| m["kind"].clone()).collect();
        if kinds.len() == 3 {
            assert_eq!(kinds, vec![json!("joined"), json!("called"), json!("no_show")]);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no no_show message: {kinds:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_blanks_old_bookings_their_events_and_reminders_and_notes_and_comments() {
    let app = spawn_app_with(|s| s.notify.enabled = false).await;
    // A queue open around the clock that books, two bookings with reminders' contacts.
    let all_day = json!([["00:00", "24:00"]]);
    let weekly: serde_json::Map<String, Value> =
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].iter().map(|d| (d.to_string(), all_day.clone())).collect();
    let settings =
        json!({"hours": {"tz": "UTC", "weekly": weekly}, "appointments": {"slot_minutes": 5, "per_slot": 5}});
    let path = format!("/api/v1/queues/{}", app.queue);
    app.request(reqwest::Method::PATCH, &path, Some(&app.admin), Some(json!({"settings": settings}))).await.expect(200);
    let start = (chrono::Utc::now() + chrono::Duration::days(2)).format("%Y-%m-%dT10:00:00Z").to_string();
    let mut ids = Vec::new();
    for name in ["Old Booking", "New Booking"] {
        let body = json!({"start_at": start, "name": name, "phone": "+15550300009",
                          "notify": {"sms": "+15550300009", "email": "b@example.org"}});
        let made = app.post(&format!("/api/v1/queues/{}/appointments", app.queue), None, body).await.expect(201);
        ids.push(made["appointment"]["id"].as_str().unwrap().to_owned());
    }
    // A ticket with notes and a rating.
    let (ticket, token) = app.joined(app.queue).await;
    let id = ticket["id"].as_str().unwrap();
    let noted = json!({"notes": "private"});
    app.request(reqwest::Method::PATCH, &format!("/api/v1/tickets/{id}"), Some(&app.admin), Some(noted))
        .await
        .expect(200);
    app.post(&format!("/api/v1/tickets/{id}/cancel?token={token}"), None, json!({})).await.expect(200);
    app.post(&format!("/api/v1/tickets/{id}/feedback?token={token}"), None, json!({"rating": 2, "comment": "slow"}))
        .await
        .expect(201);
    // Reminders written for both, then the first booking, its events, the ticket and the
    // rating made 40 days old.
    let mut db = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::query(
        "INSERT INTO notifications (id, tenant_id, queue_id, appointment_id, channel, kind, position, seq, state, recipient, lang) \
         SELECT gen_random_uuid(), tenant_id, queue_id, id, 'sms', 'reminder', 60, 1, 'booked', notify_sms, 'en' FROM appointments",
    )
    .execute(&mut db)
    .await
    .unwrap();
    for sql in [
        "UPDATE appointments SET start_at = start_at - interval '45 days', end_at = end_at - interval '45 days' WHERE id = $1::uuid",
        "UPDATE queue_events SET at = at - interval '45 days' WHERE kind LIKE 'appointment.%' AND data->'appointment'->>'id' = $1",
    ] {
        sqlx::query(sql).bind(&ids[0]).execute(&mut db).await.unwrap();
    }
    sqlx::query("UPDATE tickets SET finished_at = now() - interval '40 days' WHERE id = $1::uuid")
        .bind(id)
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("UPDATE ticket_feedback SET created_at = now() - interval '40 days'").execute(&mut db).await.unwrap();

    // Act: the retention rounds.
    assert_eq!(
        app.store.blank_old(queuecast::store::Retained::Bookings, 30, 1000).await.unwrap(),
        3,
        "a booking, its reminder, its event"
    );
    assert_eq!(app.store.blank_old(queuecast::store::Retained::Bookings, 30, 1000).await.unwrap(), 0);
    app.store.blank_old(queuecast::store::Retained::Tickets, 30, 1000).await.unwrap();
    assert_eq!(
        app.store.blank_old(queuecast::store::Retained::Notes, 30, 1000).await.unwrap(),
        2,
        "the notes and the comment"
    );

    // Assert: the old booking is bare, the new one untouched; the rating stays.
    let rows: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id::text, customer_name, customer_phone, notify_sms FROM appointments ORDER BY customer_name",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(rows[0], (ids[0].clone(), String::new(), None, None));
    assert_eq!(rows[1].1, "New Booking");
    let recipients: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT appointment_id::text, recipient FROM notifications ORDER BY appointment_id")
            .fetch_all(&mut db)
            .await
            .unwrap();
    for (appointment, recipient) in &recipients {
        assert_eq!(recipient.is_none(), *appointment == ids[0], "{recipients:?}");
    }
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT data->'appointment'->>'name' FROM queue_events WHERE kind = 'appointment.booked' ORDER BY seq",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(names, ["", "New Booking"]);
    let (notes, comment, rating): (Option<String>, Option<String>, i16) = sqlx::query_as(
        "SELECT t.notes, f.comment, f.rating FROM tickets t JOIN ticket_feedback f ON f.ticket_id = t.id",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!((notes, comment, rating), (None, None, 2));
}

/// A node that sends nothing (the claims a test makes are the only ones), `in_line` tickets in
/// its queue, and a connection as the tables' owner.
async fn outbox_without_senders(in_line: usize) -> (TestApp, sqlx::PgConnection) {
    let app = spawn_app_with(|s| {
        s.notify.enabled = false;
        s.webhooks.enabled = false;
    })
    .await;
    app.fill(in_line).await;
    let owner = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    (app, owner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_reads_what_it_claims_by_index_however_long_the_outbox() {
    // Arrange: 2,000 in line, two messages due for each and two webhook deliveries for each of
    // their events, and the tables' statistics up to date. No sender runs: the claims below are
    // the only ones.
    let (app, mut owner) = outbox_without_senders(2000).await;
    for statement in [
        "INSERT INTO notifications (id, tenant_id, queue_id, ticket_id, channel, kind, seq, state, recipient, lang) \
         SELECT gen_random_uuid(), t.tenant_id, t.queue_id, t.id, ch, 'joined', 1, 'waiting', 'someone', 'en' \
         FROM tickets t CROSS JOIN (VALUES ('sms'), ('email')) AS c(ch)",
        "INSERT INTO webhooks (id, tenant_id, url, events, secret) \
         SELECT gen_random_uuid(), tenant_id, 'https://example.test/hook', '{ticket.joined}', 'secret' FROM queues",
        "INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, queue_id, seq, kind) \
         SELECT gen_random_uuid(), e.tenant_id, w.id, e.queue_id, e.seq, e.kind \
         FROM queue_events e JOIN webhooks w ON w.tenant_id = e.tenant_id CROSS JOIN generate_series(1, 2)",
        "ANALYZE notifications, webhook_deliveries, tickets, queue_events",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut owner).await.unwrap();
    }

    // Act: one claim of 32 from each outbox, in a transaction whose table reads are counted (on
    // a connection of its own: a backend's counts not yet flushed show in its transactions' too).
    owner.close().await.unwrap();
    let mut claimer = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let mut tx = claimer.begin().await.unwrap();
    let messages: i64 =
        sqlx::query_scalar("SELECT count(*) FROM qc_claim_notifications(32, 60000)").fetch_one(&mut *tx).await.unwrap();
    let deliveries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM qc_claim_deliveries(32, 60000)").fetch_one(&mut *tx).await.unwrap();
    let scanned: Vec<(String, i64)> = sqlx::query_as(
        "SELECT relname::text, seq_tup_read FROM pg_stat_xact_user_tables \
         WHERE relname IN ('notifications', 'tickets', 'webhook_deliveries', 'queue_events') ORDER BY relname",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // Assert: 32 of each, found and completed through indexes: a claim's cost does not grow with
    // the outbox or the tickets behind it (a plan made for an unknown LIMIT read them all).
    assert_eq!((messages, deliveries), (32, 32));
    assert_eq!(
        scanned,
        [
            ("notifications".into(), 0),
            ("queue_events".into(), 0),
            ("tickets".into(), 0),
            ("webhook_deliveries".into(), 0)
        ],
        "rows read by sequential scans"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_claimed_before_a_crowds_older_messages_that_can_wait() {
    // Arrange: 300 in line, each with a "joined" message due for a minute (a crowd's backlog),
    // then the newest messages: a call and a recall due now, and a call whose retry is not due.
    let (_app, mut owner) = outbox_without_senders(300).await;
    let add = |kind: &str, due: &str, which: &str| {
        format!(
            "INSERT INTO notifications (id, tenant_id, queue_id, ticket_id, channel, kind, seq, state, recipient, lang, \
                                        next_attempt_at) \
             SELECT gen_random_uuid(), t.tenant_id, t.queue_id, t.id, 'sms', '{kind}', 1, 'waiting', 'someone', 'en', {due} \
             FROM (SELECT * FROM tickets ORDER BY id {which}) t"
        )
    };
    for statement in [
        add("joined", "now() - interval '1 minute'", ""),
        add("called", "now()", "LIMIT 1"),
        add("recalled", "now()", "LIMIT 1 OFFSET 1"),
        add("called", "now() + interval '1 minute'", "LIMIT 1 OFFSET 2"),
        "ANALYZE notifications".into(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut owner).await.unwrap();
    }
    let claim = |n: i32| {
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "SELECT kind FROM qc_claim_notifications({n}, 60000) ORDER BY kind"
        )))
    };

    // Act: three claims, each while the ones before hold their leases.
    let first = claim(2).fetch_all(&mut owner).await.unwrap();
    let second = claim(3).fetch_all(&mut owner).await.unwrap();
    let rest = claim(1000).fetch_all(&mut owner).await.unwrap();

    // Assert: the call and the recall first, though the crowd's messages were due before them;
    // then the crowd's, oldest first; the call not yet due is left for its time.
    assert_eq!(first, ["called", "recalled"]);
    assert_eq!(second, ["joined", "joined", "joined"]);
    assert_eq!(rest.len(), 297);
    assert!(rest.iter().all(|k| k == "joined"), "only the crowd's messages are left due");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_planned_while_the_outbox_was_short_reads_by_index_once_it_is_long() {
    // Arrange: a sender's connection that made its claims' plans while the outbox held eight
    // messages and eight deliveries, and statistics that stay as they were while the outboxes
    // grow to 8,000 each (as in a crowd: faster than autovacuum analyses).
    let (app, mut owner) = outbox_without_senders(4000).await;
    let fill = |limit: &str| {
        [
            format!(
                "INSERT INTO notifications (id, tenant_id, queue_id, ticket_id, channel, kind, seq, state, recipient, lang) \
                 SELECT gen_random_uuid(), t.tenant_id, t.queue_id, t.id, ch, 'joined', 1, 'waiting', 'someone', 'en' \
                 FROM (SELECT * FROM tickets ORDER BY id {limit}) t CROSS JOIN (VALUES ('sms'), ('email')) AS c(ch)"
            ),
            format!(
                "INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, queue_id, seq, kind) \
                 SELECT gen_random_uuid(), e.tenant_id, w.id, e.queue_id, e.seq, e.kind \
                 FROM (SELECT * FROM queue_events ORDER BY seq {limit}) e \
                 JOIN webhooks w ON w.tenant_id = e.tenant_id CROSS JOIN generate_series(1, 2)"
            ),
        ]
    };
    let mut setup = vec![
        "ALTER TABLE notifications SET (autovacuum_enabled = false)".to_owned(),
        "ALTER TABLE webhook_deliveries SET (autovacuum_enabled = false)".to_owned(),
        "INSERT INTO webhooks (id, tenant_id, url, events, secret) \
         SELECT gen_random_uuid(), tenant_id, 'https://example.test/hook', '{ticket.joined}', 'secret' FROM queues"
            .to_owned(),
    ];
    setup.extend(fill("LIMIT 4"));
    setup.push("ANALYZE notifications, webhook_deliveries".to_owned());
    for statement in setup {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut owner).await.unwrap();
    }
    let mut sender = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    // A lease of 1 ms: what is claimed is due again at once, as in a sender's busy loop.
    for _ in 0..8 {
        sqlx::query("SELECT count(*) FROM qc_claim_notifications(32, 1)").execute(&mut sender).await.unwrap();
        sqlx::query("SELECT count(*) FROM qc_claim_deliveries(32, 1)").execute(&mut sender).await.unwrap();
    }
    for statement in fill("OFFSET 4") {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut owner).await.unwrap();
    }
    owner.close().await.unwrap();

    // Act: one claim of 32 from each outbox on that connection, counting what its tables' scans
    // read (the counts before and after, in one transaction: earlier counts not yet flushed
    // show in it too).
    let reads = "SELECT relname::text, seq_tup_read, idx_tup_fetch FROM pg_stat_xact_user_tables \
                 WHERE relname IN ('notifications', 'webhook_deliveries') ORDER BY relname";
    let mut tx = sender.begin().await.unwrap();
    let before: Vec<(String, i64, i64)> = sqlx::query_as(reads).fetch_all(&mut *tx).await.unwrap();
    let messages: i64 =
        sqlx::query_scalar("SELECT count(*) FROM qc_claim_notifications(32, 60000)").fetch_one(&mut *tx).await.unwrap();
    let deliveries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM qc_claim_deliveries(32, 60000)").fetch_one(&mut *tx).await.unwrap();
    let after: Vec<(String, i64, i64)> = sqlx::query_as(reads).fetch_all(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();

    // Assert: 32 of each, and no scan fetched more than a few due rows: a plan made for a short
    // outbox read all 8,000 rows, or fetched them all through an index, on every claim.
    assert_eq!((messages, deliveries), (32, 32));
    let read: Vec<(String, i64, bool)> =
        before.iter().zip(&after).map(|(b, a)| (a.0.clone(), a.1 - b.1, a.2 - b.2 <= 200)).collect();
    assert_eq!(
        read,
        [("notifications".into(), 0, true), ("webhook_deliveries".into(), 0, true)],
        "(table, rows read by sequential scans, at most 200 fetched by index): {before:?} → {after:?}"
    );
}
