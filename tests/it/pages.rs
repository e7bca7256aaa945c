//! The web pages: served embedded and compressed, and used end to end in headless Chromium
//! (customer phone, staff console, kiosk display), through a server restart.

use crate::common;

use std::time::{Duration, Instant};

use common::browser::{Chrome, Page, Screen};
use common::{spawn_app, TestApp, ADMIN_EMAIL, PASSWORD};
use serde_json::json;
use uuid::Uuid;

const SOON: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_served_compressed_and_revalidated() {
    let app = spawn_app().await;
    let pages = [
        format!("/q/{}", app.queue),
        format!("/t/{}", Uuid::new_v4()),
        "/staff".into(),
        "/display".into(),
        format!("/b/{}", app.queue),
        format!("/a/{}", Uuid::new_v4()),
    ];
    for path in pages {
        let res = app.http.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8", "{path}");
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    }

    let url = format!("{}/static/qc.js", app.base);
    let plain = app.http.get(&url).send().await.unwrap();
    let etag = plain.headers()["etag"].clone();
    let plain_len = plain.bytes().await.unwrap().len();
    let gz = app.http.get(&url).header("accept-encoding", "br, gzip").send().await.unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let gz_len = gz.bytes().await.unwrap().len();
    assert!(gz_len * 2 < plain_len, "gzip {gz_len} B of {plain_len} B");
    let again = app.http.get(&url).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status(), 304);

    for missing in ["/static/nope.js", "/static/../Cargo.toml", "/static/%2e%2e/Cargo.toml", "/static/"] {
        let res = app.http.get(format!("{}{missing}", app.base)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{missing}");
    }
    let home = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = home.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(res.headers()["location"], "/staff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_qr_code_opens_the_join_page_of_a_queue_that_exists() {
    let app = spawn_app().await;
    let res = app.http.get(format!("{}/api/v1/queues/{}/qr.svg", app.base, app.queue)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    let svg = res.text().await.unwrap();
    assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    app.get(&format!("/api/v1/queues/{}/qr.svg", Uuid::new_v4()), None).await.expect_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_walks_the_line_back_minute_by_minute() {
    let app = spawn_app().await;
    for _ in 0..5 {
        app.joined(app.queue).await;
    }
    app.call_next(&app.admin, app.queue, "Desk 1").await.expect(200);
    let (ticket, token) = app.joined(app.queue).await;
    app.post(&format!("/api/v1/tickets/{}/cancel?token={token}", ticket["id"].as_str().unwrap()), None, json!({}))
        .await
        .expect(200);

    let h = app.get(&format!("/api/v1/queues/{}/history?minutes=30", app.queue), Some(&app.admin)).await.expect(200);
    let points = h["points"].as_array().unwrap();
    assert_eq!(points.len(), 30);
    assert_eq!(h["step_seconds"], 60);
    let sum = |k: &str| points.iter().map(|p| p[k].as_i64().unwrap()).sum::<i64>();
    assert_eq!(sum("joined"), 6);
    assert_eq!(sum("called"), 1);
    // Before anyone joined the line was empty; now four wait (six joined, one called, one left).
    assert_eq!(points[0]["waiting"], 0);
    assert_eq!(points.last().unwrap()["waiting"], 4);
    assert!(points.iter().any(|p| p["mean_wait_seconds"].is_number()));

    app.get(&format!("/api/v1/queues/{}/history?minutes=0", app.queue), Some(&app.admin))
        .await
        .expect_problem(400, "bad_request");
    let (beta, _) = app.new_tenant("beta").await;
    app.get(&format!("/api/v1/queues/{}/history", app.queue), Some(&beta)).await.expect_problem(404, "not_found");
}

/// The element's `data-state` of the connection badge.
pub(crate) fn live(page: &Page) -> impl std::future::Future<Output = serde_json::Value> + '_ {
    page.wait_for("document.querySelector('#conn')?.dataset.state === 'live'", SOON)
}

async fn display_key(app: &TestApp, queue: Uuid) -> String {
    let key = app.post(&format!("/api/v1/queues/{queue}/display-keys"), Some(&app.admin), json!({})).await.expect(200);
    key["key"].as_str().unwrap().to_owned()
}

/// Signs the console in and opens `queue` with `counter` as this desk's counter.
pub(crate) async fn open_console(desk: &Page, base: &str, queue: Uuid, counter: &str) {
    desk.goto(&format!("{base}/staff")).await;
    desk.wait_for("document.querySelector('#login') && !document.querySelector('#login').closest('[hidden]')", SOON)
        .await;
    desk.fill("#login [name=tenant]", "acme").await;
    desk.fill("#login [name=email]", ADMIN_EMAIL).await;
    desk.fill("#login [name=password]", PASSWORD).await;
    desk.eval("document.querySelector('#login').requestSubmit(); return true").await;
    desk.wait_for(&format!("document.querySelector('#queue-select option[value=\"{queue}\"]')"), SOON).await;
    desk.eval(&format!(
        "const s = document.querySelector('#queue-select'); s.value = '{queue}'; \
         s.dispatchEvent(new Event('change', {{bubbles: true}})); return true"
    ))
    .await;
    desk.fill("#counter", counter).await;
    desk.eval("document.querySelector('#counter').dispatchEvent(new Event('change', {bubbles: true})); return true")
        .await;
    desk.wait_for("!document.querySelector('#console').hidden", SOON).await;
    live(desk).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_joins_on_the_phone_and_every_screen_follows_the_call() {
    let app = spawn_app().await;
    let key = display_key(&app, app.queue).await;
    let chrome = Chrome::start().await;
    let (phone, desk, tv) =
        tokio::join!(chrome.page(Screen::Phone), chrome.page(Screen::Desk), chrome.page(Screen::Tv));

    // Some people are already being served, so the board has something to show.
    for name in ["Ada Lovelace", "Alan Turing"] {
        app.join(app.queue, json!({"name": name, "party_size": 2})).await.expect(201);
    }
    app.call_next(&app.admin, app.queue, "Desk 1").await.expect(200);
    app.call_next(&app.admin, app.queue, "Desk 2").await.expect(200);

    tv.goto(&format!("{}/display/{}?key={key}", app.base, app.queue)).await;
    live(&tv).await;

    // The customer joins on the page; a double tap makes one ticket.
    phone.goto(&format!("{}/q/{}", app.base, app.queue)).await;
    phone.wait_for("document.querySelector('#queue-name')?.textContent.trim()", SOON).await;
    phone.screenshot("customer-join").await;
    phone.fill("#join-form [name=name]", "Grace Hopper").await;
    phone.fill("#join-form [name=phone]", "+15550100").await;
    phone
        .eval("const f = document.querySelector('#join-form'); f.requestSubmit(); f.requestSubmit(); return true")
        .await;
    phone.wait_for("location.pathname.startsWith('/t/')", SOON).await;
    live(&phone).await;
    // The number shows once the first frame arrives (a dash until then).
    let number = phone
        .wait_for("(t => /[0-9]/.test(t) && t)(document.querySelector('#number')?.textContent.trim())", SOON)
        .await;
    assert_eq!(number, "A003");
    phone.wait_for("document.querySelector('#ahead')?.dataset.position === '1'", SOON).await;
    let summary = app.get(&format!("/api/v1/queues/{}", app.queue), None).await.expect(200);
    assert_eq!(summary["waiting"], 1, "a double tap made one ticket");
    // Others join behind; the board and the line fill up.
    for name in ["Katherine Johnson", "Margaret Hamilton", "Edsger Dijkstra", "Barbara Liskov"] {
        app.join(app.queue, json!({"name": name})).await.expect(201);
    }
    // Events 1–9: two joins, two calls, Grace, four more joins (and Grace's page open, which
    // changes nothing the board shows).
    tv.wait_for("Number(document.body.dataset.seq) >= 9", SOON).await;
    phone.screenshot("customer-ticket").await;

    // The console calls next to Desk 3: the phone shows it within a second, the board too.
    open_console(&desk, &app.base, app.queue, "Desk 3").await;
    desk.wait_for("document.querySelectorAll('#waiting [data-id]').length === 5", SOON).await;
    desk.screenshot("staff-console").await;
    desk.click("#call-next").await;
    let clicked = Instant::now();
    phone
        .wait_for(
            "!document.querySelector('#called').hidden && \
             document.querySelector('#called-counter').textContent.includes('Desk 3')",
            Duration::from_secs(1),
        )
        .await;
    let took = clicked.elapsed();
    println!("the phone showed the call {took:?} after the click");
    tv.wait_for(
        "[...document.querySelectorAll('#now-serving .number')].some(e => e.textContent.trim() === 'A003')",
        Duration::from_secs(2),
    )
    .await;
    desk.wait_for("document.querySelector('#active [data-number=\"A003\"]')", SOON).await;
    phone.screenshot("customer-called").await;
    tv.screenshot("display").await;
    desk.screenshot("staff-console-called").await;

    // No name or phone number of anyone reaches the display.
    let html = tv.eval("return document.documentElement.outerHTML").await;
    let html = html.as_str().unwrap();
    for private in ["Grace", "Hopper", "5550100", "Ada", "Turing", "Liskov"] {
        assert!(!html.contains(private), "the display shows {private}");
    }

    // A recall calls the customer again, after they dismissed the first call.
    phone.click("#called-ok").await;
    phone.wait_for("document.querySelector('#called').hidden", SOON).await;
    desk.click("#active [data-number=\"A003\"] [data-action=recall]").await;
    phone.wait_for("!document.querySelector('#called').hidden", SOON).await;
    phone.click("#called-ok").await;

    // The console moves the ticket on; the phone follows.
    desk.click("#active [data-number=\"A003\"] [data-action=start]").await;
    phone.wait_for("document.querySelector('#status')?.dataset.status === 'serving'", SOON).await;
    desk.click("#active [data-number=\"A003\"] [data-action=complete]").await;
    phone.wait_for("document.querySelector('#status')?.dataset.status === 'completed'", SOON).await;
    phone.screenshot("customer-done").await;

    for page in [phone, desk, tv] {
        page.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_recovers_by_itself_after_the_server_restarts() {
    let app = spawn_app().await;
    let (base, stopper) = app.node(|_| {}).await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    let node = app.on(&base);
    let key = display_key(&node, app.queue).await;
    let (ticket, token) = node.joined(app.queue).await;
    node.joined(app.queue).await;
    let ticket_id = ticket["id"].as_str().unwrap();

    let chrome = Chrome::start().await;
    let (phone, desk, tv) =
        tokio::join!(chrome.page(Screen::Phone), chrome.page(Screen::Desk), chrome.page(Screen::Tv));
    phone.goto(&format!("{base}/t/{ticket_id}?token={token}")).await;
    tv.goto(&format!("{base}/display/{}?key={key}", app.queue)).await;
    open_console(&desk, &base, app.queue, "Desk 5").await;
    for page in [&phone, &tv] {
        live(page).await;
    }
    // The page keeps the token and drops it from the address bar.
    let url = phone.eval("return location.href").await;
    assert!(!url.as_str().unwrap().contains("token"), "{url}");

    stopper.stop().await;
    for page in [&phone, &desk, &tv] {
        page.wait_for("document.querySelector('#conn')?.dataset.state === 'reconnecting'", SOON).await;
    }
    phone.screenshot("customer-reconnecting").await;

    // Changes made while they were away reach them once the server is back.
    app.call_next(&app.admin, app.queue, "Desk 5").await.expect(200);
    let (restarted, _stopper) = app.node(|s| s.listen = format!("127.0.0.1:{port}")).await;
    assert_eq!(restarted, base);
    for page in [&phone, &desk, &tv] {
        page.wait_for("document.querySelector('#conn')?.dataset.state === 'live'", Duration::from_secs(20)).await;
    }
    phone.wait_for("document.querySelector('#status')?.dataset.status === 'called'", SOON).await;
    tv.wait_for(
        &format!(
            "[...document.querySelectorAll('#now-serving .number')].some(e => e.textContent.trim() === '{}')",
            ticket["number"].as_str().unwrap()
        ),
        SOON,
    )
    .await;
    desk.wait_for(&format!("document.querySelector('#active [data-id=\"{ticket_id}\"]')"), SOON).await;

    // And they stay live: the next change arrives without a reload.
    node.call_next(&app.admin, app.queue, "Desk 6").await.expect(200);
    desk.wait_for("document.querySelectorAll('#active [data-id]').length === 2", SOON).await;
    tv.wait_for("document.querySelectorAll('#now-serving .number').length === 2", SOON).await;

    for page in [phone, desk, tv] {
        page.close().await;
    }
}

/// Hours in Paris every day from `open` to `close` (whole hours; 24 is midnight).
fn paris_hours(open: u32, close: u32) -> serde_json::Value {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let interval = json!([[format!("{open:02}:00"), format!("{close:02}:00")]]);
    let weekly: serde_json::Map<String, serde_json::Value> =
        days.iter().map(|d| (d.to_string(), interval.clone())).collect();
    json!({"tz": "Europe/Paris", "weekly": weekly})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_join_page_and_the_display_say_when_a_queue_opens_and_closes_and_the_console_edits_hours() {
    use chrono::Timelike;
    let app = spawn_app().await;
    // Now in Paris, whatever the machine's zone; and the browser's is the machine's.
    let hour = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Paris).hour();
    // Closed now, opening in two hours (tomorrow, when that passes midnight).
    let opens = (hour + 2) % 24;
    let closed =
        app.create_queue(&app.admin, "later", json!({"settings": {"hours": paris_hours(opens, opens + 1)}})).await;
    let opens_text = match opens > hour {
        true => format!("Opens at {opens:02}:00"),
        false => format!("Opens tomorrow at {opens:02}:00"),
    };
    // Open now, closing within two hours (at midnight at the latest).
    let closes = (hour + 2).min(24);
    let open = app.create_queue(&app.admin, "now", json!({"settings": {"hours": paris_hours(hour, closes)}})).await;
    let closes_text = match closes {
        24 => "Closes tomorrow at 00:00".to_owned(),
        c => format!("Closes at {c:02}:00"),
    };
    let key = display_key(&app, closed).await;
    let chrome = Chrome::start().await;
    let (phone, tv, desk) =
        tokio::join!(chrome.page(Screen::Phone), chrome.page(Screen::Tv), chrome.page(Screen::Desk));

    phone.goto(&format!("{}/q/{closed}", app.base)).await;
    let shown = phone.wait_for("document.querySelector('#hours:not([hidden])')?.textContent", SOON).await;
    assert_eq!(shown, opens_text.as_str());
    let notice = phone.eval("return document.querySelector('#notice').textContent").await;
    assert_eq!(notice, format!("This queue is closed right now. {opens_text}.").as_str());
    phone.screenshot("customer-join-closed").await;

    tv.goto(&format!("{}/display/{closed}?key={key}", app.base)).await;
    live(&tv).await;
    let shown = tv.wait_for("document.querySelector('#hours:not([hidden])')?.textContent", SOON).await;
    assert_eq!(shown, opens_text.as_str());
    tv.screenshot("display-closed").await;

    phone.goto(&format!("{}/q/{open}", app.base)).await;
    let shown = phone.wait_for("document.querySelector('#hours:not([hidden])')?.textContent", SOON).await;
    assert_eq!(shown, closes_text.as_str());

    // The console: a manager gives the open queue Monday-to-Friday hours, a closed day, daily
    // numbers and a call timeout; the settings saved are what was typed.
    open_console(&desk, &app.base, open, "Desk 1").await;
    desk.wait_for("document.querySelector('#hours-line')?.textContent.includes('Europe/Paris')", SOON).await;
    desk.click("#edit-hours").await;
    desk.wait_for("document.querySelector('#hours-dialog').open", SOON).await;
    for (day, text) in [("mon", "9-12:30, 14:00-18:00"), ("tue", "09:00–18:00"), ("sat", ""), ("sun", "")] {
        desk.fill(&format!("#h-{day}"), text).await;
    }
    desk.fill("#h-tz", "Europe/Paris").await;
    desk.fill("#h-closed", "2026-12-25").await;
    desk.fill("#h-last", "15").await;
    desk.fill("#h-timeout", "90").await;
    desk.eval("document.querySelector('#h-daily').checked = true; return true").await;
    // A typing slip is named before anything is sent.
    desk.fill("#h-wed", "all day").await;
    desk.click("#hours-save").await;
    let error = desk.wait_for("document.querySelector('#hours-form-error').textContent", SOON).await;
    assert!(error.as_str().unwrap().starts_with("Wednesday:"), "{error}");
    desk.fill("#h-wed", "").await;
    desk.click("#hours-save").await;
    desk.wait_for("!document.querySelector('#hours-dialog').open", SOON).await;
    desk.wait_for("document.querySelector('#hours-line').textContent.startsWith('Mon 09:00–12:30')", SOON).await;
    desk.screenshot("staff-hours").await;
    let queues = app.get("/api/v1/queues", Some(&app.admin)).await.expect(200);
    let saved = queues.as_array().unwrap().iter().find(|q| q["id"] == json!(open)).unwrap()["settings"].clone();
    assert_eq!(saved["hours"]["weekly"]["mon"], json!([["09:00", "12:30"], ["14:00", "18:00"]]));
    assert_eq!(saved["hours"]["weekly"]["thu"], json!([[format!("{hour:02}:00"), format!("{closes:02}:00")]]));
    assert!(saved["hours"]["weekly"].get("sat").is_none() && saved["hours"]["weekly"].get("wed").is_none());
    assert_eq!(saved["hours"]["closed_on"], json!(["2026-12-25"]));
    assert_eq!(saved["hours"]["last_join_minutes"], 15);
    assert_eq!((&saved["number_reset"], &saved["called_timeout_seconds"]), (&json!("daily"), &json!(90)));
    assert!(saved.get("ticket_ttl_minutes").is_none(), "left off: {saved}");
    for page in [phone, tv, desk] {
        page.close().await;
    }
}
