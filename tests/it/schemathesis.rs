//! Schemathesis (from PyPI) fuzzes every operation of the OpenAPI document against a real server,
//! signed in as the tenant's admin and pointed at real queues, tickets and keys: not one answer
//! may be a 5xx. `scripts/test` installs the pinned version into `.local/venv`.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::spawn_app;
use serde_json::json;

/// Test cases per operation and phase: enough to reach the edges of every input, small enough
/// to keep this test under a minute.
const MAX_EXAMPLES: &str = "50";
/// A fixed seed: the same cases every run, so a failure here is not luck. Soak by hand with
/// other seeds and more examples: `QC_SCHEMATHESIS_SEED`, `QC_SCHEMATHESIS_EXAMPLES`,
/// `QC_SCHEMATHESIS_PHASES` (`stateful` too, which chains calls but takes longer).
const SEED: &str = "20261123";
/// The whole run is killed past this.
const BUDGET: Duration = Duration::from_secs(150);

/// The schemathesis command: `QC_SCHEMATHESIS`, else the one `scripts/test` installs.
fn schemathesis() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("QC_SCHEMATHESIS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".local/venv/bin/schemathesis"));
    path.exists().then_some(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_in_any_operation() {
    let Some(schemathesis) = schemathesis() else {
        // CI installs it (scripts/test): there, a missing schemathesis is a failure, not a pass.
        assert!(
            std::env::var("CI").is_err(),
            "schemathesis is missing under CI: scripts/test installs it into .local/venv"
        );
        println!("SKIPPED: schemathesis is not installed (run scripts/test, or set QC_SCHEMATHESIS)");
        return;
    };
    let app = spawn_app().await;
    let config = SchemaConfig::arrange(&app).await;

    let started = Instant::now();
    let (examples, seed, phases) = (
        std::env::var("QC_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.into()),
        std::env::var("QC_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.into()),
        std::env::var("QC_SCHEMATHESIS_PHASES").unwrap_or_else(|_| "examples,coverage,fuzzing".into()),
    );
    // One worker: with several, Python 3.11's compiler can fail under schemathesis's threads
    // ("AST constructor recursion depth mismatch"), which is no finding about our server.
    let mut child = common::KillOnDrop(
        Command::new(&schemathesis)
            .current_dir(&config.dir)
            .args(["--config-file".as_ref(), config.file.as_os_str()])
            .args(["--no-color", "run", &format!("{}/api/openapi.json", app.base)])
            .args(["--checks", "not_a_server_error", "--max-examples", &examples, "--seed", &seed])
            .args(["--phases", &phases, "--workers", "1", "--request-timeout", "20"])
            .args(["--generation-database", "none", "--suppress-health-check", "all"])
            .args(["--header", &format!("Authorization: Bearer {}", app.admin)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting schemathesis"),
    );
    // Its output is read on threads of their own, so a full pipe never stalls it.
    let read = |pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::BufReader::new(pipe).read_to_string(&mut text);
            text
        })
    };
    use std::io::Read;
    let out = read(Box::new(child.0.stdout.take().unwrap()));
    let err = read(Box::new(child.0.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > BUDGET {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(child); // kills it if it ran out of time
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    println!("{out}\n{err}");
    println!("schemathesis took {:?}", started.elapsed());
    drop(config);
    let status = status.unwrap_or_else(|| panic!("schemathesis ran past {BUDGET:?}"));
    assert!(status.success(), "schemathesis found failures ({status}): see its report above");
    // It did run the operations (a run that tested nothing also exits 0).
    assert!(out.contains("passed"), "schemathesis reported no test: {out}");
}

/// A schemathesis.toml in a directory of its own (removed on drop) that fills every path
/// parameter with something real: the operations that destroy what they name (deleting a queue,
/// a display key or a webhook, cancelling a ticket) get spare ones, so the others keep theirs.
struct SchemaConfig {
    dir: std::path::PathBuf,
    file: std::path::PathBuf,
}

impl SchemaConfig {
    async fn arrange(app: &common::TestApp) -> SchemaConfig {
        let token = app.admin.clone();
        let key = || async {
            let key = app
                .post(&format!("/api/v1/queues/{}/display-keys", app.queue), Some(&token), json!({}))
                .await
                .expect(200);
            key["id"].as_str().unwrap().to_owned()
        };
        let webhook = || async {
            let body = json!({"url": "http://127.0.0.1:9/hook", "events": ["ticket.called"]});
            let hook = app.post("/api/v1/webhooks", Some(&token), body).await.expect(201);
            hook["id"].as_str().unwrap().to_owned()
        };
        let ticket = || async { app.joined(app.queue).await.0["id"].as_str().unwrap().to_owned() };
        let (queue, spare_queue) = (app.queue.to_string(), app.create_queue(&token, "spare", json!({})).await);
        let (ticket, spare_ticket) = (ticket().await, ticket().await);
        let (key, spare_key) = (key().await, key().await);
        let (webhook, spare_webhook) = (webhook().await, webhook().await);

        let dir = std::env::temp_dir().join(format!("qc-schemathesis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("schemathesis.toml");
        let spare = |method: &str, path: &str, name: &str, value: &str| {
            let queue = if name == "queue_id" { String::new() } else { format!("queue_id = \"{queue}\", ") };
            format!(
                "[[operations]]\ninclude-method = \"{method}\"\ninclude-path = \"/api/v1{path}\"\n\
                 parameters = {{ {queue}{name} = \"{value}\" }}\n\n"
            )
        };
        let text = [
            format!(
                "[parameters]\nqueue_id = \"{queue}\"\nticket_id = \"{ticket}\"\nkey_id = \"{key}\"\n\
                 webhook_id = \"{webhook}\"\n\n"
            ),
            spare("DELETE", "/queues/{queue_id}", "queue_id", &spare_queue.to_string()),
            spare("DELETE", "/queues/{queue_id}/display-keys/{key_id}", "key_id", &spare_key),
            spare("DELETE", "/webhooks/{webhook_id}", "webhook_id", &spare_webhook),
            spare("POST", "/tickets/{ticket_id}/cancel", "ticket_id", &spare_ticket),
        ]
        .concat();
        std::fs::write(&file, text).unwrap();
        SchemaConfig { dir, file }
    }
}

impl Drop for SchemaConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
