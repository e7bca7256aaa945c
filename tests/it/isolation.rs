//! Tenants never see each other, in the API or in the database; sign-in and roles hold.

use crate::common;

use common::{spawn_app, ADMIN_EMAIL, PASSWORD};
use serde_json::json;
use sqlx::{Connection, Executor};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_staff_get_404_for_our_queues_and_tickets() {
    let app = spawn_app().await;
    let (ticket, _) = app.joined(app.queue).await;
    let id = ticket["id"].as_str().unwrap();
    let (beta, beta_queue) = app.new_tenant("beta").await;
    let q = app.queue;
    let key = app.post(&format!("/api/v1/queues/{q}/display-keys"), Some(&app.admin), json!({})).await.expect(200);
    let key_id = key["id"].as_str().unwrap();
    let hook = app
        .post(
            "/api/v1/webhooks",
            Some(&app.admin),
            json!({"url": "http://127.0.0.1:9/hook", "events": ["ticket.called"]}),
        )
        .await
        .expect(201);
    let hook_id = hook["id"].as_str().unwrap();
    let delete = |path: String| {
        let (app, beta) = (&app, &beta);
        async move { app.request(reqwest::Method::DELETE, &path, Some(beta), None).await }
    };

    for reply in [
        app.get(&format!("/api/v1/queues/{q}/history"), Some(&beta)).await,
        app.get(&format!("/api/v1/queues/{q}/line"), Some(&beta)).await,
        // With this node holding the queue's live line, a page comes from it: still ours alone.
        {
            let mut console = app.staff_socket(q, None).await;
            assert_eq!(console.json().await["type"], "snapshot");
            app.get(&format!("/api/v1/queues/{q}/line"), Some(&beta)).await
        },
        app.get(&format!("/api/v1/queues/{q}/stats?from=2026-01-01&to=2026-01-31"), Some(&beta)).await,
        app.get(&format!("/api/v1/queues/{q}/stats.csv?from=2026-01-01&to=2026-01-31"), Some(&beta)).await,
        delete(format!("/api/v1/queues/{q}/display-keys/{key_id}")).await,
        delete(format!("/api/v1/webhooks/{hook_id}")).await,
        app.get(&format!("/api/v1/webhooks/{hook_id}/deliveries"), Some(&beta)).await,
        delete(format!("/api/v1/queues/{q}")).await,
        app.get(&format!("/api/v1/queues/{q}/events"), Some(&beta)).await,
        app.get(&format!("/api/v1/queues/{q}/stats"), Some(&beta)).await,
        app.call_next(&beta, q, "1").await,
        app.request(
            reqwest::Method::PATCH,
            &format!("/api/v1/queues/{q}"),
            Some(&beta),
            Some(json!({"status": "closed"})),
        )
        .await,
        app.post(&format!("/api/v1/queues/{q}/display-keys"), Some(&beta), json!({})).await,
        app.get(&format!("/api/v1/tickets/{id}"), Some(&beta)).await,
        app.transition(&beta, id, "call").await,
        app.post(&format!("/api/v1/tickets/{id}/cancel"), Some(&beta), json!({})).await,
        app.post(&format!("/api/v1/tickets/{id}/transfer"), Some(&beta), json!({"queue_id": beta_queue})).await,
        // …and ours cannot be sent into theirs.
        app.post(&format!("/api/v1/tickets/{id}/transfer"), Some(&app.admin), json!({"queue_id": beta_queue})).await,
    ] {
        reply.expect_problem(404, "not_found");
    }
    let listed = app.get("/api/v1/queues", Some(&beta)).await.expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], beta_queue.to_string());
    // Nothing happened to our ticket.
    assert_eq!(app.get(&format!("/api/v1/tickets/{id}"), Some(&app.admin)).await.expect(200)["status"], "waiting");
    assert_eq!(app.all_events(&app.admin, q).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_role_with_another_tenants_setting_sees_no_row_of_ours() {
    let app = spawn_app().await;
    app.joined(app.queue).await;
    crate::desk::device_key(&app, "kiosk", &[app.queue]).await;
    app.new_tenant("beta").await;
    let acme = app.store.tenant_by_slug("acme").await.unwrap().unwrap();
    let beta = app.store.tenant_by_slug("beta").await.unwrap().unwrap();
    let mut conn = app.app_role_connection().await;

    // The role really is the restricted one.
    let (is_super, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!is_super && !bypass);
    let owns: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(owns, 0, "the service role owns no table");

    let tables =
        ["tenants", "users", "staff_tokens", "ticket_types", "queues", "tickets", "queue_events", "device_keys"];
    let count_acme = |table: &str| {
        let sql = format!(
            "SELECT count(*) FROM {table} WHERE {} = '{acme}'",
            if table == "tenants" { "id" } else { "tenant_id" }
        );
        sqlx::AssertSqlSafe(sql)
    };
    for (tenant, expect_rows) in [(Some(beta), false), (None, false), (Some(acme), true)] {
        conn.execute("BEGIN").await.unwrap();
        if let Some(t) = tenant {
            sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                .bind(t.to_string())
                .execute(&mut conn)
                .await
                .unwrap();
        }
        for table in tables {
            let n: i64 = sqlx::query_scalar(count_acme(table)).fetch_one(&mut conn).await.unwrap();
            assert_eq!(n > 0, expect_rows, "{table} as {tenant:?}: {n} rows of acme");
        }
        // Writing a row of acme while acting as beta is refused by the policy.
        if tenant == Some(beta) {
            let err = sqlx::query("INSERT INTO locations (id, tenant_id, name) VALUES (gen_random_uuid(), $1, 'x')")
                .bind(acme)
                .execute(&mut conn)
                .await
                .unwrap_err();
            assert!(err.to_string().contains("row-level security"), "{err}");
        }
        conn.execute("ROLLBACK").await.unwrap();
    }
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_refused_alike() {
    let app = spawn_app().await;
    for (tenant, email, password) in [
        ("acme", ADMIN_EMAIL, "wrong password"),
        ("acme", "nobody@acme.test", PASSWORD),
        ("nope", ADMIN_EMAIL, PASSWORD),
        ("acme", ADMIN_EMAIL, ""),
    ] {
        let reply =
            app.post("/api/v1/auth/login", None, json!({"tenant": tenant, "email": email, "password": password})).await;
        reply.expect_problem(401, "unauthorized");
        assert_eq!(reply.body["detail"], "wrong tenant, email or password");
    }
    // Email is matched case-insensitively.
    app.login("acme", &ADMIN_EMAIL.to_uppercase(), PASSWORD).await;

    for token in [None, Some("not-a-token"), Some("")] {
        app.get("/api/v1/queues", token).await.expect_problem(401, "unauthorized");
    }
    // Customers cannot act as staff, nor read another ticket with their token.
    let (mine, token) = app.joined(app.queue).await;
    let (theirs, _) = app.joined(app.queue).await;
    app.call_next(&token, app.queue, "1").await.expect_problem(401, "unauthorized");
    app.get(&format!("/api/v1/tickets/{}", theirs["id"].as_str().unwrap()), Some(&token))
        .await
        .expect_problem(404, "not_found");
    app.get(&format!("/api/v1/tickets/{}", mine["id"].as_str().unwrap()), Some(&token)).await.expect(200);
    app.get(&format!("/api/v1/tickets/{}", mine["id"].as_str().unwrap()), None)
        .await
        .expect_problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_does_what_it_may_and_no_more() {
    let app = spawn_app().await;
    let pw = "staff-password";
    app.store.create_user("acme", "desk@acme.test", pw, queuecast::store::Role::Staff).await.unwrap();
    app.store.create_user("acme", "lead@acme.test", pw, queuecast::store::Role::Manager).await.unwrap();
    let staff = app.login("acme", "desk@acme.test", pw).await;
    let manager = app.login("acme", "lead@acme.test", pw).await;
    let fsm = queuecast::domain::fsm::default_type_json();

    app.post("/api/v1/queues", Some(&staff), json!({"slug": "s", "name": "S"})).await.expect_problem(403, "forbidden");
    app.post(&format!("/api/v1/queues/{}/display-keys", app.queue), Some(&staff), json!({}))
        .await
        .expect_problem(403, "forbidden");
    app.post("/api/v1/ticket-types", Some(&manager), json!({"code": "t", "name": "T", "fsm": fsm}))
        .await
        .expect_problem(403, "forbidden");

    app.create_queue(&manager, "by-manager", json!({})).await;
    let key =
        app.post(&format!("/api/v1/queues/{}/display-keys", app.queue), Some(&manager), json!({})).await.expect(200);
    assert_eq!(key["key"].as_str().unwrap().len(), 43);
    app.joined(app.queue).await;
    app.call_next(&staff, app.queue, "7").await.expect(200);
    let pass = app.post("/api/v1/socket-passes", Some(&staff), json!({})).await.expect(200);
    assert!(pass["pass"].is_string() && pass["expires_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_keys_and_passes_are_purged_and_live_ones_kept() {
    let app = spawn_app().await;
    let path = format!("{}/api/v1/queues/{}/tickets", app.base, app.queue);
    app.http.post(&path).header("Idempotency-Key", "old").json(&json!({})).send().await.unwrap();
    app.http.post(&path).header("Idempotency-Key", "live").json(&json!({})).send().await.unwrap();
    app.post("/api/v1/socket-passes", Some(&app.admin), json!({})).await.expect(200);
    let stale = app.login("acme", ADMIN_EMAIL, PASSWORD).await;
    // Age one of each as the owner would see them.
    let mut owner = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let sha = |s: &str| queuecast::secret::hash_token(s);
    sqlx::query("UPDATE staff_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1")
        .bind(sha(&stale))
        .execute(&mut owner)
        .await
        .unwrap();
    owner
        .execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key_hash = sha256('old')")
        .await
        .unwrap();
    owner.execute("UPDATE socket_passes SET expires_at = now() - interval '1 second'").await.unwrap();

    assert_eq!(app.store.purge_expired().await.unwrap(), 3);
    assert_eq!(app.store.purge_expired().await.unwrap(), 0);
    let left: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM staff_tokens), (SELECT count(*) FROM idempotency_keys), (SELECT count(*) FROM socket_passes)",
    )
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert_eq!(left, (1, 1, 0));
    app.get("/api/v1/queues", Some(&app.admin)).await.expect(200);
}

/// Each weakening is tried inside a transaction that is rolled back (role attributes are
/// cluster-wide: other tests must never see them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_to_serve_when_isolation_is_weakened() {
    let app = spawn_app().await;
    let mut owner = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let mut tx = owner.begin().await.unwrap();
    tx.execute("SET LOCAL ROLE queuecast_app").await.unwrap();
    queuecast::store::verify_isolation(&mut tx).await.expect("the migrated database is sound");
    tx.rollback().await.unwrap();

    // A member of a table's owning role may do what the owner may.
    let other = format!("qc_owner_{}", uuid::Uuid::new_v4().simple());
    for (weaken, expect) in [
        ("ALTER TABLE tickets NO FORCE ROW LEVEL SECURITY".to_owned(), "tickets does not force row-level security"),
        ("ALTER TABLE queue_events DISABLE ROW LEVEL SECURITY".into(), "queue_events has row-level security disabled"),
        ("ALTER TABLE tenants OWNER TO queuecast_app".into(), "tenants is owned by the app role"),
        (
            format!("CREATE ROLE {other}; ALTER TABLE queues OWNER TO {other}; GRANT {other} TO queuecast_app"),
            "queues is owned by the app role",
        ),
        ("ALTER ROLE queuecast_app BYPASSRLS".into(), "bypasses row-level security"),
        ("ALTER TABLE audit_log NO FORCE ROW LEVEL SECURITY".into(), "audit_log does not force row-level security"),
        (
            "ALTER TABLE password_resets DISABLE ROW LEVEL SECURITY".into(),
            "password_resets has row-level security disabled",
        ),
        ("GRANT UPDATE ON audit_log TO queuecast_app".into(), "may change or delete audit_log entries"),
        ("GRANT DELETE ON audit_log TO queuecast_app".into(), "may change or delete audit_log entries"),
    ] {
        let weaken = weaken.as_str();
        let mut tx = owner.begin().await.unwrap();
        tx.execute(sqlx::AssertSqlSafe(weaken)).await.unwrap();
        tx.execute("SET LOCAL ROLE queuecast_app").await.unwrap();
        let err = queuecast::store::verify_isolation(&mut tx).await.expect_err(weaken).to_string();
        assert!(err.contains(expect), "{weaken}: {err}");
        tx.rollback().await.unwrap();
    }

    // And the server itself will not start over a weakened database.
    owner.execute("ALTER TABLE tickets NO FORCE ROW LEVEL SECURITY").await.unwrap();
    let err = queuecast::startup::Application::build(queuecast::config::Settings::new("127.0.0.1:0", &app.db_url))
        .await
        .err()
        .expect("a node over a weakened database must not start");
    assert!(format!("{err:#}").contains("tickets does not force row-level security"), "{err:#}");
    owner.execute("ALTER TABLE tickets FORCE ROW LEVEL SECURITY").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_name_only_queues_of_their_tenant_and_go_when_their_queue_is_deleted() {
    // What the foreign keys to `queues` kept, now kept once per statement (migrations 0066, 0068).
    let app = common::spawn_app_with(|s| s.notify.enabled = false).await;
    let joined =
        app.join(app.queue, json!({"notify": {"sms": "+15550100100", "email": "a@example.org"}})).await.expect(201);
    let ticket = uuid::Uuid::parse_str(joined["ticket"]["id"].as_str().unwrap()).unwrap();
    let (_, other_tenants_queue) = app.new_tenant("elsewhere").await;
    let ours = app.create_queue(&app.admin, "second", json!({})).await;
    let mut owner = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let tenant: uuid::Uuid = sqlx::query_scalar("SELECT tenant_id FROM queues WHERE id = $1")
        .bind(app.queue)
        .fetch_one(&mut owner)
        .await
        .unwrap();

    // As the service, naming its tenant: a copy of each of the join's rows naming a queue that
    // does not exist, or another tenant's, is refused with the foreign key's SQLSTATE, and so is
    // moving a row there; the same copies naming our other queue are taken. (The tickets are out
    // of the line: a ticket in line would also be refused by its line count's foreign key.)
    let mut service = app.app_role_connection().await;
    sqlx::query("SELECT set_config('app.tenant_id', $1, false)")
        .bind(tenant.to_string())
        .execute(&mut service)
        .await
        .unwrap();
    let copy = |table: &str, key: &str| {
        format!(
            "INSERT INTO {table} SELECT (jsonb_populate_record(NULL::{table}, \
               to_jsonb(r) || jsonb_build_object('queue_id', $2::uuid, '{key}', {fresh}))).* \
             FROM {table} r WHERE r.ticket_id = $1",
            fresh = if key == "seq" { "r.seq + 1000" } else { "gen_random_uuid()" }
        )
    };
    let statements = [
        copy("notifications", "id"),
        copy("notify_contacts", "ticket_id"),
        copy("queue_events", "seq"),
        "INSERT INTO tickets SELECT (jsonb_populate_record(NULL::tickets, \
           to_jsonb(r) || jsonb_build_object('queue_id', $2::uuid, 'id', gen_random_uuid(), 'in_line', false))).* \
         FROM tickets r WHERE r.id = $1"
            .to_owned(),
        "UPDATE notifications SET queue_id = $2 WHERE ticket_id = $1".to_owned(),
        "UPDATE queue_events SET queue_id = $2 WHERE ticket_id = $1".to_owned(),
        "UPDATE tickets SET queue_id = $2, in_line = false WHERE id = $1".to_owned(),
    ];
    for queue in [uuid::Uuid::new_v4(), other_tenants_queue] {
        for statement in &statements {
            let done = sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                .bind(ticket)
                .bind(queue)
                .execute(&mut service)
                .await;
            let code = done.err().and_then(|e| e.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned()));
            assert_eq!(code.as_deref(), Some("23503"), "{statement} naming {queue}");
        }
    }
    for statement in &statements[..4] {
        sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .bind(ticket)
            .bind(ours)
            .execute(&mut service)
            .await
            .unwrap();
    }
    // A ticket moves between queues of its tenant (a transfer); its messages and events do not.
    sqlx::query(sqlx::AssertSqlSafe(statements[6].clone()))
        .bind(ticket)
        .bind(ours)
        .execute(&mut service)
        .await
        .unwrap();

    // An operator deletes both queues: every row naming either goes with them.
    let count = "SELECT (SELECT count(*) FROM notifications WHERE queue_id = ANY($1)), \
                        (SELECT count(*) FROM notify_contacts WHERE queue_id = ANY($1)), \
                        (SELECT count(*) FROM queue_events WHERE queue_id = ANY($1)), \
                        (SELECT count(*) FROM tickets WHERE queue_id = ANY($1))";
    let both = vec![app.queue, ours];
    let before: (i64, i64, i64, i64) = sqlx::query_as(count).bind(&both).fetch_one(&mut owner).await.unwrap();
    assert!(before.0 >= 4 && before.1 == 2 && before.2 >= 2 && before.3 == 2, "{before:?}");
    sqlx::query("DELETE FROM queues WHERE id = ANY($1)").bind(&both).execute(&mut owner).await.unwrap();
    let after: (i64, i64, i64, i64) = sqlx::query_as(count).bind(&both).fetch_one(&mut owner).await.unwrap();
    assert_eq!(after, (0, 0, 0, 0));
}
