//! Day-by-day reports and their CSV, the staff finder, retention and soft-deleted queues.

use crate::common;

use common::{spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// Inserts a past ticket of `queue` as the owner: joined at `joined` (UTC), then called after
/// `wait` seconds, served 10 s later for `service` seconds, as the status says.
struct Past {
    joined: &'static str,
    status: &'static str,
    wait: Option<i32>,
    service: Option<i32>,
    estimate: Option<i32>,
}

async fn insert_past(app: &TestApp, queue: Uuid, tickets: &[Past]) {
    let mut owner = PgConnection::connect(&app.db_url).await.unwrap();
    for (i, p) in tickets.iter().enumerate() {
        sqlx::query(
            "INSERT INTO tickets (id, tenant_id, queue_id, ticket_type_id, number, status, in_line, line_seq, \
               token_hash, joined_at, called_at, served_at, finished_at, estimated_wait_seconds, actual_wait_seconds) \
             SELECT gen_random_uuid(), q.tenant_id, q.id, q.ticket_type_id, 'P' || $2, $3, false, 1000 + $2, \
               sha256($2::text::bytea), $4::timestamptz, \
               $4::timestamptz + make_interval(secs => $5), \
               CASE WHEN $6::int IS NOT NULL THEN $4::timestamptz + make_interval(secs => $5 + 10) END, \
               $4::timestamptz + make_interval(secs => coalesce($5, 0) + 10 + coalesce($6, 0)), $7, $5 \
             FROM queues q WHERE q.id = $1",
        )
        .bind(queue)
        .bind(i as i32)
        .bind(p.status)
        .bind(p.joined)
        .bind(p.wait)
        .bind(p.service)
        .bind(p.estimate)
        .execute(&mut owner)
        .await
        .unwrap();
    }
}

fn past(
    joined: &'static str,
    status: &'static str,
    wait: Option<i32>,
    service: Option<i32>,
    estimate: Option<i32>,
) -> Past {
    Past { joined, status, wait, service, estimate }
}

/// Five tickets on 10 January, one on the 11th, none on the 12th, one late on the 13th (UTC).
async fn crafted(app: &TestApp) {
    insert_past(
        app,
        app.queue,
        &[
            past("2026-01-10 10:00Z", "completed", Some(600), Some(600), Some(300)),
            past("2026-01-10 11:00Z", "completed", Some(200), Some(300), Some(400)),
            past("2026-01-10 12:00Z", "no_show", Some(300), None, Some(300)),
            past("2026-01-10 13:00Z", "cancelled", None, None, Some(100)),
            past("2026-01-10 14:00Z", "cancelled", Some(60), None, None),
            past("2026-01-11 09:00Z", "completed", Some(100), Some(50), Some(100)),
            past("2026-01-13 23:30Z", "completed", Some(30), Some(30), Some(30)),
        ],
    )
    .await;
}

fn close(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 0.01)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_gives_each_day_its_volumes_waits_and_estimate_error() {
    let app = spawn_app().await;
    crafted(&app).await;

    let r = app
        .get(&format!("/api/v1/queues/{}/stats?from=2026-01-10&to=2026-01-13", app.queue), Some(&app.admin))
        .await
        .expect(200);

    assert_eq!(r["queue_id"], app.queue.to_string());
    assert_eq!((r["from"].as_str(), r["to"].as_str()), (Some("2026-01-10"), Some("2026-01-13")));
    let days = r["days"].as_array().unwrap();
    assert_eq!(
        days.iter().map(|d| d["day"].as_str().unwrap()).collect::<Vec<_>>(),
        ["2026-01-10", "2026-01-11", "2026-01-12", "2026-01-13"]
    );
    let d = &days[0];
    assert_eq!(
        (&d["joined"], &d["served"], &d["no_shows"], &d["cancelled"]),
        (&json!(5), &json!(2), &json!(1), &json!(2))
    );
    assert_eq!(d["abandoned"], 1, "only the one cancelled before being called gave up");
    assert!(close(&d["abandonment_rate"], 0.2));
    // Waits 600, 200, 300, 60: mean 290; p90 interpolates between 300 and 600.
    assert!(close(&d["wait_seconds"]["mean"], 290.0) && close(&d["wait_seconds"]["p90"], 510.0), "{d}");
    assert!(close(&d["service_seconds"]["mean"], 450.0), "{d}");
    // Errors +300, −200, 0.
    assert!(close(&d["estimate_error"]["mean_abs_seconds"], 500.0 / 3.0), "{d}");
    assert!(close(&d["estimate_error"]["bias_seconds"], 100.0 / 3.0), "{d}");
    let empty = &days[2];
    assert_eq!(
        (&empty["joined"], &empty["abandonment_rate"], &empty["wait_seconds"]["mean"]),
        (&json!(0), &Value::Null, &Value::Null)
    );
    assert_eq!(days[3]["joined"], 1);
    let t = &r["totals"];
    assert_eq!((&t["joined"], &t["served"], &t["cancelled"]), (&json!(7), &json!(4), &json!(2)));
    assert!(close(&t["wait_seconds"]["mean"], 1290.0 / 6.0), "{t}");

    // The same tickets in Paris's days: 23:30 UTC on the 13th is the 14th there.
    let r = app
        .get(
            &format!("/api/v1/queues/{}/stats?from=2026-01-13&to=2026-01-14&tz=Europe/Paris", app.queue),
            Some(&app.admin),
        )
        .await
        .expect(200);
    assert_eq!(r["tz"], "Europe/Paris");
    assert_eq!((&r["days"][0]["joined"], &r["days"][1]["joined"]), (&json!(0), &json!(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_without_a_range_keep_their_shape() {
    let app = spawn_app().await;
    app.joined(app.queue).await;
    let r = app.get(&format!("/api/v1/queues/{}/stats?hours=2", app.queue), Some(&app.admin)).await.expect(200);
    for key in ["since", "waiting", "joined", "served", "by_status", "wait_seconds", "estimate_error"] {
        assert!(r.get(key).is_some(), "{key} missing in {r}");
    }
    assert!(r.get("days").is_none());
    assert_eq!((&r["joined"], &r["waiting"]), (&json!(1), &json!(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_export_has_a_header_and_a_row_per_day() {
    let app = spawn_app().await;
    crafted(&app).await;
    let resp = app
        .http
        .get(format!("{}/api/v1/queues/{}/stats.csv?from=2026-01-09&to=2026-01-11", app.base, app.queue))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = resp.text().await.unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "{text}");
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(&header[..3], ["day", "joined", "served"]);
    assert!(lines.iter().all(|l| l.split(',').count() == header.len()), "{text}");
    assert_eq!(lines[1], "2026-01-09,0,0,0,0,0,,,,,,,,,0,0,0,0,0,0,");
    assert!(lines[2].starts_with("2026-01-10,5,2,1,2,1,0.2000,290.0,510.0,450.0,166.7,33.3"), "{}", lines[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ranges_and_zones_are_refused() {
    let app = spawn_app().await;
    let q = app.queue;
    for query in [
        "from=2026-01-10",
        "to=2026-01-10",
        "from=2026-1-10x&to=2026-01-11",
        "from=2026-02-30&to=2026-03-01",
        "from=2026-01-11&to=2026-01-10",
        "from=2025-01-01&to=2026-01-02",
        "from=2026-01-10&to=2026-01-11&hours=3",
        "from=2026-01-10&to=2026-01-11&tz=Mars/Olympus_Mons",
        "from=2026-01-10&to=2026-01-11&tz=%27%3B--",
        "from=2026-01-10&to=2026-01-11&color=red",
    ] {
        for path in ["stats", "stats.csv"] {
            let reply = app.get(&format!("/api/v1/queues/{q}/{path}?{query}"), Some(&app.admin)).await;
            reply.expect_problem(400, "bad_request");
        }
    }
    // 366 days is the most.
    app.get(&format!("/api/v1/queues/{q}/stats?from=2024-01-01&to=2024-12-31"), Some(&app.admin)).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_gets_404_for_our_reports() {
    let app = spawn_app().await;
    crafted(&app).await;
    let (beta, _) = app.new_tenant("beta").await;
    let q = app.queue;
    for path in ["stats", "stats.csv"] {
        app.get(&format!("/api/v1/queues/{q}/{path}?from=2026-01-10&to=2026-01-11"), Some(&beta))
            .await
            .expect_problem(404, "not_found");
    }
}

// The finder.

async fn join_as(app: &TestApp, queue: Uuid, name: &str, phone: &str) -> Value {
    app.join(queue, json!({"name": name, "phone": phone})).await.expect(201)["ticket"].clone()
}

async fn find(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/tickets?{query}"), Some(token)).await.expect(200).as_array().unwrap().clone()
}

fn numbers(found: &[Value]) -> Vec<&str> {
    found.iter().map(|t| t["number"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_find_tickets_by_number_name_or_phone_newest_first() {
    let app = spawn_app().await;
    let q = app.queue;
    join_as(&app, q, "Maria Lopez", "+1 555 000 1234").await; // A001
    join_as(&app, q, "Mariam Haddad", "+44 20 7946 0958").await; // A002
    join_as(&app, q, "John Smith", "555-9999").await; // A003
    app.store.create_user("acme", "desk@acme.test", "desk-password", queuecast::store::Role::Staff).await.unwrap();
    let staff = app.login("acme", "desk@acme.test", "desk-password").await;

    let found = find(&app, &staff, "q=a002").await;
    assert_eq!(numbers(&found), ["A002"]);
    assert_eq!((&found[0]["name"], &found[0]["phone"]), (&json!("Mariam Haddad"), &json!("+44 20 7946 0958")));
    assert_eq!(numbers(&find(&app, &staff, "q=A00").await), ["A003", "A002", "A001"]);
    assert_eq!(numbers(&find(&app, &staff, "q=A00&limit=2").await), ["A003", "A002"]);
    assert_eq!(numbers(&find(&app, &staff, "q=mari").await), ["A002", "A001"]);
    assert_eq!(numbers(&find(&app, &staff, "q=SMITH").await), ["A003"]);
    // A typo still finds the name, by trigram similarity.
    assert_eq!(numbers(&find(&app, &staff, "q=Maria%20Lopes").await), ["A001"]);
    // Phones by their last digits, whatever the punctuation.
    assert_eq!(numbers(&find(&app, &staff, "q=1234").await), ["A001"]);
    assert_eq!(numbers(&find(&app, &staff, "q=946-0958").await), ["A002"]);
    assert_eq!(numbers(&find(&app, &staff, "q=9999").await), ["A003"]);
    assert!(find(&app, &staff, "q=5550").await.is_empty(), "the middle of a number is not its end");
    assert!(find(&app, &staff, "q=Nobody").await.is_empty());
    // One queue only.
    let other = app.create_queue(&app.admin, "other", json!({"prefix": "B"})).await;
    join_as(&app, other, "Maria Other", "1111").await;
    assert_eq!(numbers(&find(&app, &staff, "q=maria").await).len(), 3);
    assert_eq!(numbers(&find(&app, &staff, &format!("q=maria&queue_id={other}")).await), ["B001"]);

    for bad in ["q=ab", "q=12", "q=", "q=A001&limit=0", "q=A001&limit=101", "limit=5", "q=A001&x=1"] {
        app.get(&format!("/api/v1/tickets?{bad}"), Some(&staff)).await.expect_problem(400, "bad_request");
    }
    app.get("/api/v1/tickets?q=A001", None).await.expect_problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_finder_never_shows_another_tenants_tickets() {
    let app = spawn_app().await;
    join_as(&app, app.queue, "Maria Lopez", "+1 555 000 1234").await;
    let (beta, beta_queue) = app.new_tenant("beta").await;
    join_as(&app, beta_queue, "Bob Beta", "4321").await;

    for query in ["q=A001", "q=maria", "q=1234", &format!("q=maria&queue_id={}", app.queue)] {
        let found = find(&app, &beta, query).await;
        assert!(found.iter().all(|t| t["queue_id"] == beta_queue.to_string()), "{query}: {found:?}");
        assert!(found.iter().all(|t| t["name"] != "Maria Lopez"), "{query}: {found:?}");
    }
    assert_eq!(numbers(&find(&app, &beta, "q=bob").await), ["A001"]);
    assert!(find(&app, &app.admin, "q=bob").await.is_empty());

    // The search function itself answers only the tenant of the transaction, and nothing
    // without one.
    let acme = app.store.tenant_by_slug("acme").await.unwrap().unwrap();
    let beta_id = app.store.tenant_by_slug("beta").await.unwrap().unwrap();
    let mut conn = app.app_role_connection().await;
    for (tenant, expected) in [(None, 0), (Some(beta_id), 0), (Some(acme), 1)] {
        let mut tx = conn.begin().await.unwrap();
        if let Some(t) = tenant {
            sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                .bind(t.to_string())
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM qc_find_tickets('name', 'Maria', NULL, NULL, 100)")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(n, expected, "as {tenant:?}");
        tx.rollback().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_limited_to_a_location_find_only_its_tickets() {
    let app = spawn_app().await;
    let desk =
        app.store.create_user("acme", "desk@acme.test", "desk-password", queuecast::store::Role::Staff).await.unwrap();
    let staff = app.login("acme", "desk@acme.test", "desk-password").await;
    let hall = app.create_queue(&app.admin, "hall", json!({"prefix": "H"})).await;
    let mut owner = PgConnection::connect(&app.db_url).await.unwrap();
    let location = Uuid::new_v4();
    sqlx::query("INSERT INTO locations (id, tenant_id, name) SELECT $1, tenant_id, 'Hall' FROM queues WHERE id = $2")
        .bind(location)
        .bind(hall)
        .execute(&mut owner)
        .await
        .unwrap();
    sqlx::query("UPDATE queues SET location_id = $1 WHERE id = $2")
        .bind(location)
        .bind(hall)
        .execute(&mut owner)
        .await
        .unwrap();
    sqlx::query("INSERT INTO user_locations (tenant_id, user_id, location_id) SELECT tenant_id, $1, $2 FROM locations WHERE id = $2")
        .bind(desk)
        .bind(location)
        .execute(&mut owner)
        .await
        .unwrap();
    join_as(&app, app.queue, "Maria Main", "1234").await;
    join_as(&app, hall, "Maria Hall", "1234").await;

    assert_eq!(numbers(&find(&app, &staff, "q=maria").await), ["H001"]);
    assert_eq!(numbers(&find(&app, &staff, "q=1234").await), ["H001"]);
    assert_eq!(numbers(&find(&app, &app.admin, "q=maria").await), ["H001", "A001"]);
}

// Retention and soft deletion.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_blanks_only_tickets_that_finished_long_ago_and_their_events() {
    let app = spawn_app().await;
    let q = app.queue;
    let person =
        |name: &str| json!({"name": name, "phone": "+1 555 0100", "fields": {"note": format!("{name}'s note")}});
    let old = app.join(q, person("Old Olga")).await.expect(201)["ticket"]["id"].as_str().unwrap().to_owned();
    let recent = app.join(q, person("Recent Rita")).await.expect(201)["ticket"]["id"].as_str().unwrap().to_owned();
    let waiting = app.join(q, person("Waiting Walt")).await.expect(201)["ticket"]["id"].as_str().unwrap().to_owned();
    for id in [&old, &recent] {
        for step in ["call", "start", "complete"] {
            app.transition(&app.admin, id, step).await.expect(200);
        }
    }
    // Olga finished 40 days ago, and Walt joined then (but is still waiting).
    let mut owner = PgConnection::connect(&app.db_url).await.unwrap();
    for (id, column) in [(&old, "finished_at"), (&waiting, "joined_at")] {
        let sql = format!("UPDATE tickets SET {column} = now() - interval '40 days' WHERE id = $1::uuid");
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).execute(&mut owner).await.unwrap();
        sqlx::query("UPDATE queue_events SET at = now() - interval '41 days' WHERE ticket_id = $1::uuid")
            .bind(id)
            .execute(&mut owner)
            .await
            .unwrap();
    }
    let stats_before = app.get(&format!("/api/v1/queues/{q}/stats"), Some(&app.admin)).await.expect(200);

    let mut changed = 0;
    loop {
        let n = app.store.blank_old(queuecast::store::Retained::Tickets, 30, 1000).await.unwrap();
        if n == 0 {
            break;
        }
        changed += n;
    }

    assert_eq!(changed, 1 + 4, "Olga's ticket and her four events");
    let ticket = |id: &str| {
        sqlx::query_as::<_, (Option<String>, Option<String>, Value, bool)>(
            "SELECT customer_name, customer_phone, fields, anonymised_at IS NOT NULL FROM tickets WHERE id = $1::uuid",
        )
        .bind(id.to_owned())
    };
    assert_eq!(ticket(&old).fetch_one(&mut owner).await.unwrap(), (None, None, json!({}), true));
    for (id, name) in [(&recent, "Recent Rita"), (&waiting, "Waiting Walt")] {
        let (n, phone, fields, anonymised) = ticket(id).fetch_one(&mut owner).await.unwrap();
        assert_eq!(
            (n.as_deref(), phone.is_some(), fields["note"].is_string(), anonymised),
            (Some(name), true, true, false)
        );
    }
    // The events keep their kind, states and times; only the copies of the person are gone.
    let events = app.all_events(&app.admin, q).await;
    assert_eq!(events.len(), 9);
    for e in &events {
        let name = &e["ticket"]["name"];
        if e["ticket"]["id"] == old.as_str() {
            assert!(name.is_null() && e["ticket"]["fields"] == json!({}), "{e}");
            assert!(e["kind"].is_string() && e["at"].is_string());
        } else {
            assert!(name.is_string() && e["ticket"]["fields"]["note"].is_string(), "{e}");
        }
    }
    let stats_after = app.get(&format!("/api/v1/queues/{q}/stats"), Some(&app.admin)).await.expect(200);
    assert_eq!(stats_after["by_status"], stats_before["by_status"]);
    assert_eq!(stats_after["wait_seconds"], stats_before["wait_seconds"]);
    // The app role cannot call it to blank recent tickets either: a day at least.
    let mut conn = app.app_role_connection().await;
    let err = sqlx::query("SELECT qc_anonymise_finished(0, 10)").execute(&mut conn).await.unwrap_err();
    assert!(err.to_string().contains("at least one day"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_queue_leaves_lists_and_joins_but_keeps_its_history() {
    let app = spawn_app().await;
    let q = app.queue;
    let (ticket, _) = app.joined(q).await;
    let id = ticket["id"].as_str().unwrap();
    let path = format!("/api/v1/queues/{q}");
    let delete = |token: String| {
        let (app, path) = (&app, &path);
        async move { app.request(Method::DELETE, path, Some(&token), None).await }
    };
    let (beta, _) = app.new_tenant("beta").await;
    app.store.create_user("acme", "desk@acme.test", "desk-password", queuecast::store::Role::Staff).await.unwrap();
    let staff = app.login("acme", "desk@acme.test", "desk-password").await;

    delete(beta.clone()).await.expect_problem(404, "not_found");
    delete(staff.clone()).await.expect_problem(403, "forbidden");
    delete(app.admin.clone()).await.expect_problem(409, "queue_not_empty");
    app.transition(&app.admin, id, "cancel").await.expect(200);
    assert_eq!(delete(app.admin.clone()).await.status, 204);

    delete(app.admin.clone()).await.expect_problem(404, "not_found");
    let listed = app.get("/api/v1/queues", Some(&app.admin)).await.expect(200);
    assert!(listed.as_array().unwrap().iter().all(|queue| queue["id"] != q.to_string()));
    app.join(q, json!({})).await.expect_problem(404, "not_found");
    app.get(&format!("/api/v1/queues/{q}"), None).await.expect_problem(404, "not_found");
    app.call_next(&app.admin, q, "1").await.expect_problem(404, "not_found");
    // Its history stays readable, and its slug is free again.
    let stats = app.get(&format!("/api/v1/queues/{q}/stats"), Some(&app.admin)).await.expect(200);
    assert_eq!((&stats["joined"], &stats["cancelled"]), (&json!(1), &json!(1)));
    assert_eq!(app.all_events(&app.admin, q).await.len(), 2);
    assert_eq!(app.get(&format!("/api/v1/tickets/{id}"), Some(&app.admin)).await.expect(200)["status"], "cancelled");
    app.create_queue(&app.admin, "main", json!({})).await;
}

/// A pharmacy-like type whose absent and abandoned states are not called `no_show` and
/// `cancelled`: they are named by role.
fn pharmacy_type(roles: Value) -> Value {
    json!({"code": "pharmacy", "name": "Pharmacy", "fsm": {
        "init": "received",
        "states": ["received", "in_progress", "ready", "completed", "missed", "withdrawn"],
        "transitions": [
            {"name": "call", "from": "received", "to": "in_progress"},
            {"name": "ready", "from": "in_progress", "to": "ready"},
            {"name": "complete", "from": "ready", "to": "completed"},
            {"name": "miss", "from": ["in_progress", "ready"], "to": "missed"},
            {"name": "withdraw", "from": ["received", "in_progress"], "to": "withdrawn"}
        ],
        "roles": roles
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_types_absent_and_abandoned_states_are_counted_by_their_roles() {
    // Arrange: a queue of a type whose absent state is `missed` and abandoned one `withdrawn`.
    let app = spawn_app().await;
    let roles = json!({"absent": "missed", "abandoned": "withdrawn"});
    let saved = app.post("/api/v1/ticket-types", Some(&app.admin), pharmacy_type(roles.clone())).await.expect(201);
    assert_eq!(saved["fsm"]["roles"], roles);
    let queue = app.create_queue(&app.admin, "rx", json!({"prefix": "R", "ticket_type": "pharmacy"})).await;
    let tickets: Vec<String> = join_n(&app, queue, 3).await;

    // Act: one is called and missed, one withdraws before being called, one waits.
    let called = app.call_next(&app.admin, queue, "Window 1").await.expect(200);
    assert_eq!(called["id"], tickets[0].as_str());
    app.transition(&app.admin, &tickets[0], "miss").await.expect(200);
    app.transition(&app.admin, &tickets[1], "withdraw").await.expect(200);

    // Assert: the stats, the day report and the public summary know them by role.
    let stats = app.get(&format!("/api/v1/queues/{queue}/stats?hours=1"), Some(&app.admin)).await.expect(200);
    assert_eq!((&stats["no_shows"], &stats["cancelled"]), (&json!(1), &json!(1)), "{stats}");
    let day = chrono::Utc::now().date_naive();
    let report =
        app.get(&format!("/api/v1/queues/{queue}/stats?from={day}&to={day}"), Some(&app.admin)).await.expect(200);
    let totals = &report["totals"];
    assert_eq!(
        (&totals["joined"], &totals["no_shows"], &totals["cancelled"], &totals["abandoned"]),
        (&json!(3), &json!(1), &json!(1), &json!(1)),
        "{report}"
    );
    let summary = app.get(&format!("/api/v1/queues/{queue}"), None).await.expect(200);
    assert_eq!(summary["ticket_type"]["roles"], roles);
    assert_eq!(summary["ticket_type"]["final"], json!(["completed", "missed", "withdrawn"]));
    assert_eq!(summary["ticket_type"]["init"], "received");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_that_name_no_state_or_the_init_state_are_refused_when_a_type_is_saved() {
    let app = spawn_app().await;
    for roles in [
        json!({"absent": "gone"}),
        json!({"absent": "received"}),
        json!({"absent": "missed", "expired": "missed"}),
        json!({"late": "missed"}),
    ] {
        let reply = app.post("/api/v1/ticket-types", Some(&app.admin), pharmacy_type(roles.clone())).await;
        reply.expect_problem(400, "bad_request");
    }
    // The default type names its own.
    let types = app.get("/api/v1/ticket-types", Some(&app.admin)).await.expect(200);
    let default = types.as_array().unwrap().iter().find(|t| t["code"] == "default").unwrap();
    assert_eq!(default["fsm"]["roles"], json!({"absent": "no_show", "abandoned": "cancelled", "expired": "expired"}));
}

/// Joins `n` people to `queue`; their ticket ids in join order.
async fn join_n(app: &TestApp, queue: Uuid, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let (ticket, _) = app.joined(queue).await;
        ids.push(ticket["id"].as_str().unwrap().to_owned());
    }
    ids
}
