//! Staff accounts through the API: creating, changing and disabling them, signing out, changing
//! and resetting passwords.

use crate::common;

use common::clock::app_now;
use common::{spawn_app, spawn_app_with, TestApp, WsEvent, ADMIN_EMAIL, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

pub const STAFF_PASSWORD: &str = "a long pass phrase";

/// Creates an account as the acme admin; its id.
pub async fn create_user(app: &TestApp, email: &str, role: &str, extra: Value) -> String {
    let mut body = json!({"email": email, "password": STAFF_PASSWORD, "role": role});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let user = app.post("/api/v1/users", Some(&app.admin), body).await.expect(201);
    user["id"].as_str().unwrap().to_owned()
}

async fn patch_user(app: &TestApp, token: &str, id: &str, body: Value) -> common::Reply {
    app.request(Method::PATCH, &format!("/api/v1/users/{id}"), Some(token), Some(body)).await
}

#[tokio::test]
async fn an_admin_creates_lists_and_changes_accounts_that_then_sign_in() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let created = app
        .post(
            "/api/v1/users",
            Some(&app.admin),
            json!({"email": "Desk@Acme.test", "password": STAFF_PASSWORD, "role": "staff", "display_name": "Front desk"}),
        )
        .await
        .expect(201);
    let id = created["id"].as_str().unwrap();
    let changed =
        patch_user(&app, &app.admin, id, json!({"role": "manager", "display_name": "Desk lead"})).await.expect(200);
    let list = app.get("/api/v1/users", Some(&app.admin)).await.expect(200);

    // Assert
    assert_eq!(created["email"], "desk@acme.test");
    assert_eq!(created["role"], "staff");
    assert_eq!(created["disabled"], false);
    assert_eq!(changed["role"], "manager");
    assert_eq!(changed["display_name"], "Desk lead");
    let emails: Vec<&str> = list.as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(emails, vec![ADMIN_EMAIL, "desk@acme.test"]);
    assert!(!list.to_string().contains("argon2"), "a hash leaked: {list}");
    let token = app.login("acme", "desk@acme.test", STAFF_PASSWORD).await;
    app.post("/api/v1/queues", Some(&token), json!({"slug": "lead", "name": "Lead"})).await.expect(201);
}

#[tokio::test]
async fn bad_accounts_are_refused_with_their_codes() {
    // Arrange
    let app = spawn_app().await;
    create_user(&app, "desk@acme.test", "staff", json!({})).await;
    let staff = app.login("acme", "desk@acme.test", STAFF_PASSWORD).await;
    let (other_admin, _) = app.new_tenant("globex").await;
    let body = |email: &str, password: &str| json!({"email": email, "password": password, "role": "staff"});

    // Act + Assert
    app.post("/api/v1/users", Some(&app.admin), body("DESK@acme.test", STAFF_PASSWORD))
        .await
        .expect_problem(409, "already_exists");
    app.post("/api/v1/users", Some(&app.admin), body("new@acme.test", "Password123!"))
        .await
        .expect_problem(400, "weak_password");
    app.post("/api/v1/users", Some(&app.admin), body("new@acme.test", "short"))
        .await
        .expect_problem(400, "weak_password");
    app.post("/api/v1/users", Some(&app.admin), body("not-an-email", STAFF_PASSWORD))
        .await
        .expect_problem(400, "bad_request");
    let mut unknown_site = body("new@acme.test", STAFF_PASSWORD);
    unknown_site["location_ids"] = json!([uuid::Uuid::new_v4()]);
    app.post("/api/v1/users", Some(&app.admin), unknown_site).await.expect_problem(400, "unknown_location");
    app.post("/api/v1/users", Some(&staff), body("new@acme.test", STAFF_PASSWORD))
        .await
        .expect_problem(403, "forbidden");
    app.get("/api/v1/users", Some(&staff)).await.expect_problem(403, "forbidden");
    // Another tenant's admin sees none of acme's accounts and cannot touch them.
    let list = app.get("/api/v1/users", Some(&other_admin)).await.expect(200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let acme_users = app.get("/api/v1/users", Some(&app.admin)).await.expect(200);
    let desk = acme_users.as_array().unwrap().iter().find(|u| u["email"] == "desk@acme.test").unwrap();
    let desk_id = desk["id"].as_str().unwrap();
    patch_user(&app, &other_admin, desk_id, json!({"disabled": true})).await.expect_problem(404, "not_found");
    app.post(&format!("/api/v1/users/{desk_id}/password-reset"), Some(&other_admin), json!({}))
        .await
        .expect_problem(404, "not_found");
    // Nothing of that was saved.
    assert_eq!(app.get("/api/v1/users", Some(&app.admin)).await.expect(200).as_array().unwrap().len(), 2);
    app.login("acme", "desk@acme.test", STAFF_PASSWORD).await;
}

#[tokio::test]
async fn the_last_admin_can_be_neither_disabled_nor_demoted() {
    // Arrange
    let app = spawn_app().await;
    let users = app.get("/api/v1/users", Some(&app.admin)).await.expect(200);
    let me = users[0]["id"].as_str().unwrap().to_owned();

    // Act + Assert
    patch_user(&app, &app.admin, &me, json!({"disabled": true})).await.expect_problem(409, "last_admin");
    patch_user(&app, &app.admin, &me, json!({"role": "manager"})).await.expect_problem(409, "last_admin");
    let second = create_user(&app, "second@acme.test", "admin", json!({})).await;
    patch_user(&app, &app.admin, &second, json!({"disabled": true})).await.expect(200);
    patch_user(&app, &app.admin, &me, json!({"role": "manager"})).await.expect_problem(409, "last_admin");
    patch_user(&app, &app.admin, &second, json!({"disabled": false})).await.expect(200);
    let demoted = patch_user(&app, &app.admin, &me, json!({"role": "manager"})).await.expect(200);
    assert_eq!(demoted["role"], "manager");
}

#[tokio::test]
async fn disabling_a_user_ends_its_tokens_and_sockets_on_every_node_at_once() {
    // Arrange: the user signed in, known to the second node's cache, with a socket there. The
    // second node re-checks sockets only every 10 minutes: only the announcement can close it.
    let app = spawn_app().await;
    let id = create_user(&app, "desk@acme.test", "staff", json!({})).await;
    let token = app.login("acme", "desk@acme.test", STAFF_PASSWORD).await;
    let b = app.on(&app.second_node_with(|s| s.credential_recheck = std::time::Duration::from_secs(600)).await);
    b.get("/api/v1/queues", Some(&token)).await.expect(200);
    let pass = b.pass(&token).await;
    let mut socket = b.ws(&format!("/ws/queues/{}?pass={pass}", app.queue)).await;
    assert_eq!(socket.json().await["type"], "snapshot");

    // Act
    patch_user(&app, &app.admin, &id, json!({"disabled": true})).await.expect(200);

    // Assert: the socket on the other node closes as "do not reconnect", and then the token
    // works on neither node.
    let WsEvent::Closed(code) = socket.next().await else { panic!("the socket stayed open") };
    assert_eq!(code, 4401);
    b.get("/api/v1/queues", Some(&token)).await.expect_problem(401, "unauthorized");
    app.get("/api/v1/queues", Some(&token)).await.expect_problem(401, "unauthorized");
    let refused = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"tenant": "acme", "email": "desk@acme.test", "password": STAFF_PASSWORD}),
        )
        .await;
    refused.expect_problem(401, "unauthorized");

    // Enabled again, the user signs in anew; the old token stays dead.
    patch_user(&app, &app.admin, &id, json!({"disabled": false})).await.expect(200);
    app.login("acme", "desk@acme.test", STAFF_PASSWORD).await;
    b.get("/api/v1/queues", Some(&token)).await.expect_problem(401, "unauthorized");
}

#[tokio::test]
async fn a_token_deleted_behind_every_nodes_back_is_refused_soon_after_its_recheck_and_at_once_past_its_time() {
    // Arrange: two sign-ins, each checked once by the node (which keeps what it read); then
    // their rows deleted with no node told, as an operator's SQL would.
    let (app, clock) = app_now().await;
    let id: Uuid = create_user(&app, "desk@acme.test", "staff", json!({})).await.parse().unwrap();
    let first = app.login("acme", "desk@acme.test", STAFF_PASSWORD).await;
    let second = app.login("acme", "desk@acme.test", STAFF_PASSWORD).await;
    for token in [&first, &second] {
        app.get("/api/v1/queues", Some(token)).await.expect(200);
    }
    let mut owner = PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::query("DELETE FROM staff_tokens WHERE user_id = $1").bind(id).execute(&mut owner).await.unwrap();
    // Checked moments ago: taken from memory.
    app.get("/api/v1/queues", Some(&first)).await.expect(200);

    // Act: 21 s on, the first is due for a check; it is still taken, and checked off the request.
    clock.advance(chrono::Duration::seconds(21));
    app.get("/api/v1/queues", Some(&first)).await.expect(200);

    // Assert: refused once that check is done (within moments, not at the end of its 30 s).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let reply = app.get("/api/v1/queues", Some(&first)).await;
        if reply.status == reqwest::StatusCode::UNAUTHORIZED {
            reply.expect_problem(401, "unauthorized");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the deleted token was still taken 5 s after its check");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Past 30 s since its check, the second is checked before it is taken: refused at once.
    clock.advance(chrono::Duration::seconds(10));
    app.get("/api/v1/queues", Some(&second)).await.expect_problem(401, "unauthorized");
}

#[tokio::test]
async fn signing_out_ends_this_token_only() {
    // Arrange
    let app = spawn_app().await;
    let phone = app.login("acme", ADMIN_EMAIL, PASSWORD).await;

    // Act
    app.request(Method::POST, "/api/v1/auth/logout", Some(&phone), None).await.expect(204);

    // Assert
    app.get("/api/v1/queues", Some(&phone)).await.expect_problem(401, "unauthorized");
    app.get("/api/v1/queues", Some(&app.admin)).await.expect(200);
}

#[tokio::test]
async fn changing_ones_password_ends_the_other_sessions_and_their_sockets() {
    // Arrange: two sign-ins of one user, a socket opened with the second.
    let app = spawn_app_with(|s| s.credential_recheck = std::time::Duration::from_secs(600)).await;
    create_user(&app, "desk@acme.test", "staff", json!({})).await;
    let laptop = app.login("acme", "desk@acme.test", STAFF_PASSWORD).await;
    let tablet = app.login("acme", "desk@acme.test", STAFF_PASSWORD).await;
    let pass = app.pass(&tablet).await;
    let mut socket = app.ws(&format!("/ws/queues/{}?pass={pass}", app.queue)).await;
    assert_eq!(socket.json().await["type"], "snapshot");
    let change = |current: &str, new: &str| json!({"current": current, "new": new});

    // Act + Assert: a wrong current password and a weak new one change nothing.
    app.post("/api/v1/auth/password", Some(&laptop), change("wrong password!", "another long phrase"))
        .await
        .expect_problem(400, "wrong_password");
    app.post("/api/v1/auth/password", Some(&laptop), change(STAFF_PASSWORD, "qwertyuiop"))
        .await
        .expect_problem(400, "weak_password");
    app.get("/api/v1/queues", Some(&tablet)).await.expect(200);
    app.post("/api/v1/auth/password", Some(&laptop), change(STAFF_PASSWORD, "another long phrase")).await.expect(204);

    // The tablet's sign-in and socket end; the laptop's stays.
    assert_eq!(socket.closed().await, 4401);
    app.get("/api/v1/queues", Some(&tablet)).await.expect_problem(401, "unauthorized");
    app.get("/api/v1/queues", Some(&laptop)).await.expect(200);
    let old = json!({"tenant": "acme", "email": "desk@acme.test", "password": STAFF_PASSWORD});
    app.post("/api/v1/auth/login", None, old).await.expect_problem(401, "unauthorized");
    app.login("acme", "desk@acme.test", "another long phrase").await;
}

#[tokio::test]
async fn a_reset_code_sets_a_new_password_once_and_ends_every_sign_in() {
    // Arrange
    let app = spawn_app().await;
    let id = create_user(&app, "desk@acme.test", "staff", json!({})).await;
    let before = app.login("acme", "desk@acme.test", STAFF_PASSWORD).await;

    // Act
    let issued = app.post(&format!("/api/v1/users/{id}/password-reset"), Some(&app.admin), json!({})).await.expect(201);
    let code = issued["code"].as_str().unwrap();
    let reset = |code: &str, new: &str| json!({"tenant": "acme", "email": "desk@acme.test", "code": code, "new": new});
    app.post("/api/v1/auth/reset", None, reset(code, "password1")).await.expect_problem(400, "weak_password");
    app.post("/api/v1/auth/reset", None, reset("not-the-code", "a fresh pass phrase"))
        .await
        .expect_problem(401, "unauthorized");
    app.post("/api/v1/auth/reset", None, reset(code, "a fresh pass phrase")).await.expect(204);

    // Assert
    app.get("/api/v1/queues", Some(&before)).await.expect_problem(401, "unauthorized");
    app.login("acme", "desk@acme.test", "a fresh pass phrase").await;
    app.post("/api/v1/auth/reset", None, reset(code, "yet another phrase")).await.expect_problem(401, "unauthorized");
    app.login("acme", "desk@acme.test", "a fresh pass phrase").await;
}
