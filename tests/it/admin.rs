//! The Admin area in a browser: an admin creates a site and a user limited to it, and that
//! user's console shows only that site's queue.

use crate::common;

use std::time::Duration;

use common::browser::{Chrome, Page, Screen};
use common::{spawn_app, ADMIN_EMAIL, PASSWORD};
use serde_json::json;

const SOON: Duration = Duration::from_secs(10);

async fn sign_in(page: &Page, base: &str, email: &str, password: &str) {
    page.goto(&format!("{base}/staff")).await;
    page.wait_for("document.querySelector('#login') && !document.querySelector('#login').closest('[hidden]')", SOON)
        .await;
    page.fill("#login [name=tenant]", "acme").await;
    page.fill("#login [name=email]", email).await;
    page.fill("#login [name=password]", password).await;
    page.eval("document.querySelector('#login').requestSubmit(); return true").await;
    page.wait_for("document.querySelectorAll('#queue-select option').length > 0", SOON).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_creates_a_user_limited_to_a_site_whose_console_shows_only_that_site() {
    // Arrange: a queue to be put at the new site, and the browser signed in as the admin.
    let app = spawn_app().await;
    let north_queue = app.create_queue(&app.admin, "north-desk", json!({"prefix": "N"})).await;
    let chrome = Chrome::start().await;
    let page = chrome.page(Screen::Desk).await;
    sign_in(&page, &app.base, ADMIN_EMAIL, PASSWORD).await;
    page.wait_for("!document.querySelector('#admin-link').hidden", SOON).await;

    // Act: in the Admin area, a site; the queue moved there; a user limited to it.
    page.click("#admin-link").await;
    page.wait_for("document.body.dataset.ready === '1'", SOON).await;
    page.click("#tabs [data-tab=sites]").await;
    page.fill("#site-form [name=name]", "North").await;
    page.fill("#site-form [name=timezone]", "Europe/Paris").await;
    page.eval("document.querySelector('#site-form').requestSubmit(); return true").await;
    page.wait_for("document.querySelector('#sites [data-site=North]')", SOON).await;
    page.click("#tabs [data-tab=queues]").await;
    page.eval(
        "const s = document.querySelector('[data-queue=north-desk] select'); \
         s.value = [...s.options].find((o) => o.text === 'North').value; return true",
    )
    .await;
    page.eval("[...document.querySelectorAll('[data-queue=north-desk] button')].find((b) => b.textContent === 'Save').click(); return true").await;
    page.wait_for("document.querySelector('#flash').textContent.includes('Saved')", SOON).await;
    page.click("#tabs [data-tab=users]").await;
    page.fill("#user-form [name=email]", "north@acme.test").await;
    page.fill("#user-form [name=password]", "a long pass phrase").await;
    page.eval(
        "const f = document.querySelector('#user-form'); \
         [...f.querySelectorAll('input[name=site]')].find((c) => c.parentElement.textContent.includes('North')).checked = true; \
         f.requestSubmit(); return true",
    )
    .await;
    page.wait_for(
        "document.querySelector('#users [data-user=\"north@acme.test\"] .user-sites')?.textContent === 'North'",
        SOON,
    )
    .await;
    page.screenshot("admin-users").await;
    page.click("#tabs [data-tab=audit]").await;
    page.wait_for("document.querySelector('#audit [data-action=\"user.created\"]')", SOON).await;
    page.fill("#audit-filters [name=action]", "location.created").await;
    page.eval("document.querySelector('#audit-filters').requestSubmit(); return true").await;
    page.wait_for(
        "document.querySelectorAll('#audit tr').length === 1 && document.querySelector('#audit [data-action=\"location.created\"]')",
        SOON,
    )
    .await;

    // Assert: the new user's console lists only the North queue.
    page.goto(&format!("{}/staff", app.base)).await;
    page.wait_for("document.querySelector('#sign-out')", SOON).await;
    page.eval("document.querySelector('#sign-out').click(); return true").await;
    sign_in(&page, &app.base, "north@acme.test", "a long pass phrase").await;
    let options = page.eval("return [...document.querySelectorAll('#queue-select option')].map((o) => o.value)").await;
    assert_eq!(options, json!([north_queue.to_string()]));
    assert!(page.eval("return document.querySelector('#admin-link').hidden").await.as_bool().unwrap());
    page.screenshot("admin-limited-console").await;
    // And the admin page tells a non-admin it is for admins.
    page.goto(&format!("{}/admin", app.base)).await;
    page.wait_for("!document.querySelector('#gate').hidden", SOON).await;
    page.close().await;
}
