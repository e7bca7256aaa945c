//! Secrets never reach the logs: a real server process logging everything at debug level (the
//! access log included), in both formats, is sent every kind of secret the protocol has, in
//! headers, bodies and query strings, right and wrong; none appears in what it wrote.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{spawn_app, TestApp, PASSWORD};
use serde_json::json;

/// Starts `queuecast serve` on the test's database, logging at `RUST_LOG=debug` in `format`
/// into `log`; waits until it is ready.
async fn server(app: &TestApp, format: &str, log: &std::path::Path) -> (common::KillOnDrop, TestApp) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = std::fs::File::create(log).unwrap();
    let child = common::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_queuecast"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--join-rate-limit", "0"])
            .args(["--login-rate-limit", "0"])
            .env("DATABASE_URL", &app.db_url)
            .env("RUST_LOG", "debug")
            .env("LOG_FORMAT", format)
            .env_remove("REDIS_URL")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("starting a server process"),
    );
    let node = app.on(&format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    while node.http.get(format!("{}/readyz", node.base)).send().await.map_or(true, |r| r.status() != 200) {
        assert!(started.elapsed() < Duration::from_secs(30), "the server process did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, node)
}

/// Uses every secret the way clients do, and a few wrong ones; returns them all.
async fn use_every_secret(node: &TestApp) -> Vec<String> {
    let staff = node.login("acme", common::ADMIN_EMAIL, PASSWORD).await;
    let (ticket, token) = node.joined(node.queue).await;
    let id = ticket["id"].as_str().unwrap();
    node.get(&format!("/api/v1/tickets/{id}?token={token}"), None).await.expect(200);
    node.get(&format!("/api/v1/tickets/{id}"), Some(&token)).await.expect(200);
    let mut phone = node.ws(&format!("/ws/tickets/{id}?token={token}")).await;
    assert_eq!(phone.json().await["type"], "ticket");
    let pass = node.pass(&staff).await;
    let mut console = node.ws(&format!("/ws/queues/{}?pass={pass}", node.queue)).await;
    assert_eq!(console.json().await["type"], "snapshot");
    // A used pass is refused: the refusal names no secret either.
    assert_eq!(node.ws(&format!("/ws/queues/{}?pass={pass}", node.queue)).await.closed().await, 4401);
    let key =
        node.post(&format!("/api/v1/queues/{}/display-keys", node.queue), Some(&staff), json!({})).await.expect(200)
            ["key"]
            .as_str()
            .unwrap()
            .to_owned();
    let mut screen = node.ws(&format!("/ws/queues/{}/display?key={key}", node.queue)).await;
    assert_eq!(screen.json().await["type"], "display");
    let wrong_token = format!("wrong-token-{}", uuid::Uuid::new_v4().simple());
    node.get(&format!("/api/v1/tickets/{id}?token={wrong_token}"), None).await;
    node.get("/api/v1/queues", Some(&wrong_token)).await.expect_problem(401, "unauthorized");
    let wrong_password = format!("wrong-password-{}", uuid::Uuid::new_v4().simple());
    let login = json!({"tenant": "acme", "email": common::ADMIN_EMAIL, "password": wrong_password});
    node.post("/api/v1/auth/login", None, login).await.expect_problem(401, "unauthorized");
    let wrong_key = format!("wrong-key-{}", uuid::Uuid::new_v4().simple());
    assert_eq!(node.ws(&format!("/ws/queues/{}/display?key={wrong_key}", node.queue)).await.closed().await, 4401);
    node.call_next(&staff, node.queue, "Desk 1").await.expect(200);
    assert_eq!(phone.json().await["ticket"]["status"], "called");
    vec![staff, token, pass, key, PASSWORD.to_owned(), wrong_token, wrong_password, wrong_key]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_pass_key_or_password_appears_in_the_logs() {
    let app = spawn_app().await;
    let dir = std::env::temp_dir().join(format!("qc-logs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for format in ["text", "json"] {
        let log = dir.join(format!("{format}.log"));
        let (child, node) = server(&app, format, &log).await;
        let secrets = use_every_secret(&node).await;
        tokio::time::sleep(Duration::from_millis(300)).await; // the last lines reach the file
        drop(child);
        let text = std::fs::read_to_string(&log).unwrap();
        // The log is there and has the access lines, with query secrets redacted.
        assert!(text.contains("/ws/tickets/") && text.contains("REDACTED"), "no access log in {format}:\n{text}");
        for secret in &secrets {
            let line = text.lines().find(|l| l.contains(secret.as_str()));
            assert!(line.is_none(), "a secret is in the {format} log: {}", line.unwrap());
        }
        println!("{format}: {} lines, {} bytes, no secret", text.lines().count(), text.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
