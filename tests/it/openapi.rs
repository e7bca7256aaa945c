//! The OpenAPI document describes every REST route, with its problems, and the explorer works
//! offline.

use crate::common;

use std::collections::BTreeSet;

use common::spawn_app;
use serde_json::Value;

/// Every REST route of src/http/mod.rs, as (method, path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/api/v1/queues/{queue_id}/slots"),
    ("post", "/api/v1/queues/{queue_id}/appointments"),
    ("get", "/api/v1/queues/{queue_id}/appointments"),
    ("get", "/api/v1/appointments/{appointment_id}"),
    ("post", "/api/v1/appointments/{appointment_id}/cancel"),
    ("post", "/api/v1/appointments/{appointment_id}/reschedule"),
    ("post", "/api/v1/appointments/{appointment_id}/check-in"),
    ("post", "/api/v1/appointments/{appointment_id}/no-show"),
    ("get", "/api/v1/queues/{queue_id}/line"),
    ("get", "/readyz"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/password"),
    ("post", "/api/v1/auth/reset"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("patch", "/api/v1/users/{user_id}"),
    ("post", "/api/v1/users/{user_id}/password-reset"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/locations"),
    ("post", "/api/v1/locations"),
    ("patch", "/api/v1/locations/{location_id}"),
    ("post", "/api/v1/socket-passes"),
    ("post", "/api/v1/ticket-types"),
    ("get", "/api/v1/ticket-types"),
    ("post", "/api/v1/queues"),
    ("get", "/api/v1/queues"),
    ("get", "/api/v1/queues/{queue_id}"),
    ("patch", "/api/v1/queues/{queue_id}"),
    ("delete", "/api/v1/queues/{queue_id}"),
    ("post", "/api/v1/device-keys"),
    ("get", "/api/v1/device-keys"),
    ("delete", "/api/v1/device-keys/{key_id}"),
    ("get", "/api/v1/kiosk"),
    ("post", "/api/v1/kiosk/tickets"),
    ("post", "/api/v1/queues/{queue_id}/display-keys"),
    ("delete", "/api/v1/queues/{queue_id}/display-keys/{key_id}"),
    ("post", "/api/v1/queues/{queue_id}/tickets"),
    ("post", "/api/v1/queues/{queue_id}/call-next"),
    ("get", "/api/v1/queues/{queue_id}/events"),
    ("get", "/api/v1/queues/{queue_id}/stats"),
    ("get", "/api/v1/queues/{queue_id}/stats.csv"),
    ("get", "/api/v1/queues/{queue_id}/history"),
    ("get", "/api/v1/queues/{queue_id}/qr.svg"),
    ("get", "/api/v1/tickets"),
    ("get", "/api/v1/tickets/{ticket_id}"),
    ("patch", "/api/v1/tickets/{ticket_id}"),
    ("post", "/api/v1/tickets/{ticket_id}/snooze"),
    ("post", "/api/v1/tickets/{ticket_id}/move"),
    ("get", "/api/v1/tickets/{ticket_id}/history"),
    ("post", "/api/v1/tickets/{ticket_id}/feedback"),
    ("get", "/api/v1/tickets/{ticket_id}/feedback"),
    ("post", "/api/v1/tickets/{ticket_id}/cancel"),
    ("post", "/api/v1/tickets/{ticket_id}/transitions"),
    ("post", "/api/v1/tickets/{ticket_id}/transfer"),
    ("post", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks"),
    ("delete", "/api/v1/webhooks/{webhook_id}"),
    ("get", "/api/v1/webhooks/{webhook_id}/deliveries"),
    ("get", "/api/v1/tickets/{ticket_id}/notifications"),
    ("get", "/api/v1/queues/{queue_id}/notifications"),
    ("put", "/api/v1/tickets/{ticket_id}/push"),
    ("get", "/api/v1/push/public-key"),
    ("get", "/api/v1/notifications/status/{channel}"),
    ("post", "/api/v1/notifications/status/{channel}"),
    ("get", "/api/v1/notifications/inbound/sms"),
    ("post", "/api/v1/notifications/inbound/sms"),
];

/// Routes that are not REST and so not in the document: the Prometheus text and the document
/// and explorer themselves.
const NOT_REST: &[&str] = &["/metrics"];

/// The (method, path) pairs that src/http/mod.rs registers with `.route(...)`, read from the
/// source: a route added there without a line in [`ROUTES`] fails this test.
fn registered_routes() -> BTreeSet<(String, String)> {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/mod.rs")).unwrap();
    let mut routes = BTreeSet::new();
    let mut scope = "";
    for line in source.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("web::scope(\"") {
            scope = rest.split('"').next().unwrap();
        }
        let Some(rest) = line.strip_prefix(".route(\"") else { continue };
        let path = rest.split('"').next().unwrap();
        let Some(method) = rest.split("web::").nth(1).and_then(|m| m.split("()").next()) else { continue };
        let full = format!("{scope}{path}");
        if !NOT_REST.contains(&full.as_str()) {
            routes.insert((method.to_owned(), full));
        }
    }
    routes
}

#[test]
fn the_list_of_routes_matches_what_the_router_registers() {
    let listed: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let registered = registered_routes();
    assert!(registered.len() >= 20, "reading src/http/mod.rs found too few routes: {registered:?}");
    assert_eq!(listed, registered, "tests/it/openapi.rs ROUTES and src/http/mod.rs disagree");
}

/// Resolves a local `$ref` of the document.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => value,
    }
}

#[tokio::test]
async fn the_document_describes_every_route_with_its_problems() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let reply = app.http.get(format!("{}/api/openapi.json", app.base)).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    let doc: Value = serde_json::from_slice(&reply.bytes().await.unwrap()).expect("the document is JSON");

    // Assert: OpenAPI 3.1, every route, with a success answer and operation id.
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let mut ids = BTreeSet::new();
    for (method, path) in ROUTES {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not in the document");
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
        let responses = op["responses"].as_object().unwrap();
        assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path} has no success answer");

        // Every error answer is a problem, with an example per code whose status is its own.
        for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('4') || s.starts_with('5')) {
            if *path == "/readyz" && status == "503" {
                continue; // the readiness body, by design
            }
            let response = resolve(&doc, response);
            let problem = &response["content"]["application/problem+json"];
            assert_eq!(
                problem["schema"]["$ref"], "#/components/schemas/Problem",
                "{method} {path} {status} does not answer a problem"
            );
            let examples =
                problem["examples"].as_object().unwrap_or_else(|| panic!("{method} {path} {status}: no examples"));
            for (code, example) in examples {
                assert_eq!(example["value"]["code"], code.as_str());
                assert_eq!(example["value"]["status"].as_u64().unwrap().to_string(), *status);
            }
        }
        // Every operation but the probes lists its own problems (so one missing from the table in
        // src/http/openapi.rs is noticed), and 500 and 503. The push key takes no input and has
        // no 4xx to give.
        if !path.ends_with('z') {
            if *path != "/api/v1/push/public-key" {
                assert!(responses.keys().any(|s| s.starts_with('4')), "{method} {path} lists no 4xx problem");
            }
            assert!(responses.contains_key("500") && responses.contains_key("503"), "{method} {path}: {responses:?}");
        }
    }
    // The codes that PROTOCOL.md promises for these calls are where they belong.
    let codes = |method: &str, path: &str, status: &str| -> Vec<String> {
        let examples =
            &doc["paths"][path][method]["responses"][status]["content"]["application/problem+json"]["examples"];
        examples.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
    };
    assert_eq!(codes("post", "/api/v1/queues/{queue_id}/call-next", "409"), ["queue_empty"]);
    let join = codes("post", "/api/v1/queues/{queue_id}/tickets", "409");
    for code in ["queue_closed", "queue_paused", "queue_full", "idempotency_conflict"] {
        assert!(join.contains(&code.to_owned()), "join lacks {code}: {join:?}");
    }
    assert_eq!(codes("post", "/api/v1/tickets/{ticket_id}/transitions", "409"), ["invalid_transition"]);
    assert_eq!(codes("post", "/api/v1/queues", "403"), ["forbidden"]);

    // The problem schema has the stable code; staff calls name the bearer scheme.
    let problem = &doc["components"]["schemas"]["Problem"];
    for field in ["type", "title", "status", "detail", "code"] {
        assert!(problem["properties"][field].is_object(), "Problem lacks {field}");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let security = &doc["paths"]["/api/v1/queues/{queue_id}/call-next"]["post"]["security"];
    assert!(security.as_array().unwrap().iter().any(|s| s.get("bearer").is_some()), "{security}");
    assert!(doc["paths"]["/api/v1/auth/login"]["post"]["security"].is_null());

    // Requests and answers carry examples.
    assert_eq!(doc["components"]["schemas"]["Ticket"]["example"]["number"], "A042");
    assert!(doc["components"]["schemas"]["CallNextBody"]["example"]["counter"].is_string());

    // The sockets and every close code are in the description.
    let description = doc["info"]["description"].as_str().unwrap();
    for socket in ["/ws/tickets/{ticket_id}", "/ws/queues/{queue_id}?pass=", "/ws/queues/{queue_id}/display"] {
        assert!(description.contains(socket), "the description lacks {socket}");
    }
    use queuecast::ws::close;
    for code in [
        close::SHUTTING_DOWN,
        close::SLOW,
        close::IDLE,
        close::MOVED,
        close::UNKNOWN_MESSAGE,
        close::UNAUTHORIZED,
        close::NOT_FOUND,
        close::TOO_BIG,
        close::FLOOD,
    ] {
        assert!(description.contains(&format!("| {code} |")), "the description lacks close code {code}");
    }
}

#[tokio::test]
async fn the_explorer_answers_offline() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let page = app.http.get(format!("{}/api/docs/", app.base)).send().await.unwrap();
    let status = page.status();
    let html = page.text().await.unwrap();
    let bare = app.http.get(format!("{}/api/docs", app.base)).send().await.unwrap();
    let config = app.http.get(format!("{}/api/docs/swagger-initializer.js", app.base)).send().await.unwrap();
    let config_status = config.status();
    let config = config.text().await.unwrap();
    let script = app.http.get(format!("{}/api/docs/swagger-ui-bundle.js", app.base)).send().await.unwrap();

    // Assert: the page, its script (served by us, not a CDN) and its pointer to our document.
    assert_eq!(status, 200);
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "the page loads something from elsewhere: {html}");
    assert_eq!(bare.status(), 200, "/api/docs redirects to /api/docs/");
    assert_eq!(config_status, 200);
    assert!(config.contains("/api/openapi.json"), "{config}");
    assert_eq!(script.status(), 200);
}
