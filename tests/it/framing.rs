//! Who may show our pages in a frame: no one for staff pages, the origins a queue lists for its
//! join page and its tickets' pages.

use crate::common;

use common::spawn_app;
use reqwest::Method;
use serde_json::json;

/// The Content-Security-Policy and X-Frame-Options of a page.
async fn framing(app: &common::TestApp, path: &str) -> (String, Option<String>) {
    let res = app.http.get(format!("{}{path}", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    (header("content-security-policy").unwrap_or_default(), header("x-frame-options"))
}

#[tokio::test]
async fn staff_pages_are_framed_by_no_one_and_a_join_page_by_the_origins_its_queue_lists() {
    // Arrange
    let app = spawn_app().await;
    let venue = json!({"settings": {"embed_origins": ["https://venue.example", "https://www.venue.example"]}});
    let listed = app.create_queue(&app.admin, "embedded", venue).await;
    let (ticket, token) = app.joined(listed).await;
    let ticket = ticket["id"].as_str().unwrap();

    // Act
    let staff = framing(&app, "/staff").await;
    let display = framing(&app, &format!("/display/{}", app.queue)).await;
    let plain_join = framing(&app, &format!("/q/{}", app.queue)).await;
    let listed_join = framing(&app, &format!("/q/{listed}")).await;
    let listed_ticket = framing(&app, &format!("/t/{ticket}?token={token}")).await;

    // Assert
    for (csp, xfo) in [&staff, &display, &plain_join] {
        assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");
        assert_eq!(xfo.as_deref(), Some("DENY"));
    }
    for (csp, xfo) in [&listed_join, &listed_ticket] {
        assert!(csp.ends_with("frame-ancestors 'self' https://venue.example https://www.venue.example"), "{csp}");
        assert_eq!(*xfo, None, "X-Frame-Options would forbid what the policy allows");
        assert!(csp.starts_with("default-src 'self'"), "{csp}");
    }
}

#[tokio::test]
async fn embed_origins_must_be_origins() {
    // Arrange
    let app = spawn_app().await;

    // Act + Assert
    for bad in [
        json!("https://venue.example"),
        json!(["https://venue.example/page"]),
        json!(["*"]),
        json!(["https://a.example; script-src *"]),
    ] {
        let patch = json!({"settings": {"embed_origins": bad}});
        let reply =
            app.request(Method::PATCH, &format!("/api/v1/queues/{}", app.queue), Some(&app.admin), Some(patch)).await;
        reply.expect_problem(400, "bad_request");
    }
    let (csp, _) = framing(&app, &format!("/q/{}", app.queue)).await;
    assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");
    let good = json!({"settings": {"embed_origins": ["https://venue.example"]}});
    app.request(Method::PATCH, &format!("/api/v1/queues/{}", app.queue), Some(&app.admin), Some(good))
        .await
        .expect(200);
    let (csp, _) = framing(&app, &format!("/q/{}", app.queue)).await;
    assert!(csp.ends_with("frame-ancestors 'self' https://venue.example"), "{csp}");
}
