//! The audit log: every change through the API beside its entry, written in the same
//! transaction, without secrets, append-only for the service's role, paged.

use crate::common;
use crate::users::{create_user, STAFF_PASSWORD};

use common::{spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Executor;

/// The newest entries, newest first.
async fn entries(app: &TestApp, query: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/audit?{query}"), Some(&app.admin)).await.expect(200).as_array().unwrap().clone()
}

fn actions(entries: &[Value]) -> Vec<&str> {
    entries.iter().map(|e| e["action"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn changes_and_sign_ins_are_audited_with_who_and_whence_and_no_secret() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let id = create_user(&app, "desk@acme.test", "staff", json!({})).await;
    app.request(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&app.admin), Some(json!({"role": "manager"})))
        .await
        .expect(200);
    let code = app.post(&format!("/api/v1/users/{id}/password-reset"), Some(&app.admin), json!({})).await.expect(201);
    let code = code["code"].as_str().unwrap().to_owned();
    let wrong = json!({"tenant": "acme", "email": "desk@acme.test", "password": "not the password at all"});
    app.post("/api/v1/auth/login", None, wrong).await.expect_problem(401, "unauthorized");
    let desk = app.login("acme", "desk@acme.test", STAFF_PASSWORD).await;
    let change = json!({"current": STAFF_PASSWORD, "new": "my own new phrase"});
    app.post("/api/v1/auth/password", Some(&desk), change).await.expect(204);
    let log = entries(&app, "").await;

    // Assert: newest first, each with actor, entity, address and client.
    let mine: Vec<&Value> =
        log.iter().filter(|e| e["entity_id"] == id.as_str() || e["action"] == "auth.login_failed").collect();
    assert_eq!(
        mine.iter().map(|e| e["action"].as_str().unwrap()).collect::<Vec<_>>(),
        vec![
            "user.password_changed",
            "auth.login",
            "auth.login_failed",
            "user.password_reset_issued",
            "user.updated",
            "user.created"
        ]
    );
    let updated = mine.iter().find(|e| e["action"] == "user.updated").unwrap();
    assert_eq!(updated["before"]["role"], "staff");
    assert_eq!(updated["after"]["role"], "manager");
    assert_eq!(updated["entity"], "user");
    assert_eq!(updated["ip"], "127.0.0.1");
    assert!(updated["actor"].as_str().unwrap().starts_with("staff:"), "{updated}");
    assert_eq!(mine[0]["actor"], format!("staff:{id}"));
    assert_eq!(mine.iter().find(|e| e["action"] == "auth.login_failed").unwrap()["actor"], "anonymous");
    let text = serde_json::to_string(&log).unwrap();
    for secret in [STAFF_PASSWORD, "my own new phrase", "not the password at all", code.as_str(), "argon2"] {
        assert!(!text.contains(secret), "the audit log holds a secret ({secret}): {text}");
    }
}

#[tokio::test]
async fn a_refused_change_leaves_no_entry() {
    // Arrange
    let app = spawn_app().await;
    create_user(&app, "desk@acme.test", "staff", json!({})).await;
    let me = app.get("/api/v1/users", Some(&app.admin)).await.expect(200)[0]["id"].as_str().unwrap().to_owned();
    let before = entries(&app, "limit=500").await.len();

    // Act
    let dup = json!({"email": "desk@acme.test", "password": STAFF_PASSWORD, "role": "staff"});
    app.post("/api/v1/users", Some(&app.admin), dup).await.expect_problem(409, "already_exists");
    app.request(Method::PATCH, &format!("/api/v1/users/{me}"), Some(&app.admin), Some(json!({"disabled": true})))
        .await
        .expect_problem(409, "last_admin");
    let bad_site = json!({"email": "x@acme.test", "password": STAFF_PASSWORD, "role": "staff", "location_ids": [uuid::Uuid::new_v4()]});
    app.post("/api/v1/users", Some(&app.admin), bad_site).await.expect_problem(400, "unknown_location");

    // Assert
    assert_eq!(entries(&app, "limit=500").await.len(), before);
}

#[tokio::test]
async fn the_log_pages_forwards_and_backwards_and_filters() {
    // Arrange
    let app = spawn_app().await;
    for i in 0..5 {
        create_user(&app, &format!("u{i}@acme.test"), "staff", json!({})).await;
    }

    // Act
    let newest = entries(&app, "limit=2&action=user.created").await;
    let older = entries(&app, &format!("limit=2&action=user.created&before={}", newest[1]["id"])).await;
    let first = entries(&app, "after=0&limit=3&entity=user&action=user.created").await;

    // Assert
    assert_eq!(actions(&newest), vec!["user.created"; 2]);
    let ids = |page: &[Value]| page.iter().map(|e| e["id"].as_i64().unwrap()).collect::<Vec<_>>();
    let (n, o, f) = (ids(&newest), ids(&older), ids(&first));
    assert!(n[0] > n[1] && n[1] > o[0] && o[0] > o[1], "{n:?} {o:?}");
    assert!(f[0] < f[1] && f[1] < f[2], "{f:?}");
    assert_eq!(first[0]["after"]["email"], "u0@acme.test");
    app.get("/api/v1/audit?limit=501", Some(&app.admin)).await.expect_problem(400, "bad_request");
    app.get("/api/v1/audit?limit=0", Some(&app.admin)).await.expect_problem(400, "bad_request");
    let staff = app.login("acme", "u0@acme.test", STAFF_PASSWORD).await;
    app.get("/api/v1/audit", Some(&staff)).await.expect_problem(403, "forbidden");
    // Another tenant's log is its own.
    let (other, _) = app.new_tenant("globex").await;
    let theirs = app.get("/api/v1/audit?limit=500", Some(&other)).await.expect(200);
    assert!(!theirs.to_string().contains("acme.test"), "{theirs}");
}

#[tokio::test]
async fn the_service_role_can_add_and_read_entries_but_never_change_or_remove_them() {
    // Arrange: an entry of acme, and the database as the service's role sees it.
    let app = spawn_app().await;
    create_user(&app, "desk@acme.test", "staff", json!({})).await;
    let mut conn = app.app_role_connection().await;
    let acme: uuid::Uuid = {
        let mut owner = <sqlx::PgConnection as sqlx::Connection>::connect(&app.db_url).await.unwrap();
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'").fetch_one(&mut owner).await.unwrap()
    };
    conn.execute(sqlx::AssertSqlSafe(format!("SELECT set_config('app.tenant_id', '{acme}', false)"))).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&mut conn).await.unwrap();
    assert!(seen >= 1, "the service role reads its tenant's entries");

    // Act + Assert: no UPDATE, DELETE or TRUNCATE, whatever the row.
    for statement in ["UPDATE audit_log SET action = 'nothing.happened'", "DELETE FROM audit_log", "TRUNCATE audit_log"]
    {
        let err = conn.execute(statement).await.expect_err(statement);
        let code = err.as_database_error().and_then(|e| e.code()).map(|c| c.to_string());
        assert_eq!(code.as_deref(), Some("42501"), "{statement}: {err}");
    }
    // Nor an entry for another tenant.
    let other = uuid::Uuid::new_v4();
    let err = sqlx::query("INSERT INTO audit_log (tenant_id, actor, action, entity) VALUES ($1, 'x', 'x', 'x')")
        .bind(other)
        .execute(&mut conn)
        .await
        .expect_err("an entry of another tenant");
    assert!(err.to_string().contains("row-level security"), "{err}");
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&mut conn).await.unwrap();
    assert_eq!(after, seen);
}

#[tokio::test]
async fn keys_sites_queues_and_webhooks_are_audited_without_their_secrets() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let device = json!({"kind": "display", "queue_ids": [app.queue]});
    let made = app.post("/api/v1/device-keys", Some(&app.admin), device).await.expect(201);
    let (key_id, key) = (made["id"].as_str().unwrap().to_owned(), made["key"].as_str().unwrap().to_owned());
    app.request(Method::DELETE, &format!("/api/v1/device-keys/{key_id}"), Some(&app.admin), None).await.expect(204);
    let site = app.post("/api/v1/locations", Some(&app.admin), json!({"name": "North", "timezone": "UTC"})).await;
    site.expect(201);
    let patch = json!({"name": "Front desk", "settings": {"number_reset": "daily"}});
    app.request(Method::PATCH, &format!("/api/v1/queues/{}", app.queue), Some(&app.admin), Some(patch))
        .await
        .expect(200);
    let hook = json!({"url": "https://hooks.example/q", "events": ["ticket.called"], "secret": "whsec_very_secret"});
    app.post("/api/v1/webhooks", Some(&app.admin), hook).await.expect(201);
    let log = entries(&app, "limit=500").await;

    // Assert
    let found = actions(&log);
    for action in [
        "device_key.created",
        "device_key.revoked",
        "location.created",
        "queue.updated",
        "queue.created",
        "webhook.created",
    ] {
        assert!(found.contains(&action), "{action} missing: {found:?}");
    }
    let updated = log.iter().find(|e| e["action"] == "queue.updated").unwrap();
    assert_eq!(updated["before"]["name"], "Queue main");
    assert_eq!(updated["after"]["name"], "Front desk");
    assert_eq!(updated["after"]["settings"]["number_reset"], "daily");
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(&key) && !text.contains("whsec_very_secret"), "a secret in the log: {text}");
}
