//! The booking pages in the browser: a customer books tomorrow on `/b/` on a phone with a
//! reminder by e-mail (the real SMTP server), receives it, opens the booking from its link,
//! checks in on the day and is called before a walk-in who joined later; the console's
//! "Today's appointments" follows. A second customer who loses the slot is asked to pick again.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::browser::{Chrome, Page, Screen};
use common::TestApp;
use serde_json::{json, Value};
use sqlx::Connection;
use uuid::Uuid;

use crate::appointments::booking_app_mailing;

const SOON: Duration = Duration::from_secs(10);

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Sets the page's clock (its `Date`) to read `at` from its next document on: the phone's and the
/// desk's clocks move with the node's driven clock. Once per page.
async fn browser_clock(page: &Page, at: DateTime<Utc>) {
    let offset = (at - Utc::now()).num_milliseconds();
    let source = format!(
        "(() => {{ const shift = {offset}; const Real = Date;
           class Shifted extends Real {{
             constructor(...a) {{ if (a.length) super(...a); else super(Real.now() + shift); }}
             static now() {{ return Real.now() + shift; }}
           }}
           globalThis.Date = Shifted; }})();"
    );
    page.cdp("Page.addScriptToEvaluateOnNewDocument", json!({ "source": source })).await;
}

/// Opens `/b/{queue}` and picks the local day `date` (UTC here), moving to its month if needed.
async fn pick_day(phone: &Page, app: &TestApp, queue: Uuid, date: &str) {
    phone.goto(&format!("{}/b/{queue}", app.base)).await;
    phone.wait_for("document.querySelector('#conn').dataset.state === 'live'", SOON).await;
    let day = format!("#days button[data-date=\"{date}\"]");
    let found = phone.eval(&format!("return !!document.querySelector('{day}')")).await;
    if found != Value::Bool(true) {
        phone.click("#next").await;
    }
    phone.wait_for(&format!("document.querySelector('{day}.free')"), SOON).await;
    phone.click(&day).await;
    phone
        .wait_for("!document.querySelector('#time-card').hidden && document.querySelector('#times button')", SOON)
        .await;
}

async fn appointments_on(app: &TestApp, queue: Uuid, date: &str) -> Vec<Value> {
    let day = app.get(&format!("/api/v1/queues/{queue}/appointments?date={date}"), Some(&app.admin)).await.expect(200);
    day.as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_books_tomorrow_on_the_phone_is_reminded_checks_in_and_goes_ahead_of_a_later_walk_in() {
    // Arrange: a clinic open around the clock (UTC), slots of 30 minutes, check-in 15 minutes
    // before; reminders the day before and an hour before, by e-mail.
    let (url, dir) = crate::notifications::smtp();
    let (app, clock, queue) =
        booking_app_mailing(json!({"slot_minutes": 30, "early_minutes": 15, "late_minutes": 10}), Some(url)).await;
    let tomorrow = (clock.now() + chrono::Duration::days(1)).date_naive();
    let start: DateTime<Utc> = tomorrow.and_hms_opt(10, 0, 0).unwrap().and_utc();
    let to = format!("ada-{}@example.org", Uuid::new_v4().simple());
    let chrome = Chrome::start().await;
    let phone = chrome.page(Screen::Phone).await;

    // Act: the calendar, tomorrow, 10:00, a name and the e-mail box ticked.
    pick_day(&phone, &app, queue, &tomorrow.to_string()).await;
    phone.axe("booking calendar").await;
    phone.screenshot("booking-calendar").await;
    phone.click(&format!("#times button[data-start=\"{}\"]", stamp(start))).await;
    phone.wait_for("!document.querySelector('#form-card').hidden", SOON).await;
    phone.fill("#f-name", "Ada").await;
    assert_eq!(phone.eval("return document.querySelector('#f-email').closest('[hidden]') !== null").await, true);
    phone.click("#n-email").await;
    phone.fill("#f-email", &to).await;
    phone.axe("booking form").await;
    // A double tap books once.
    phone
        .eval("const f = document.querySelector('#book-form'); f.requestSubmit(); f.requestSubmit(); return true")
        .await;

    // Assert: the booking's page, without its token in the address, in the queue's zone.
    phone.wait_for("location.pathname.startsWith('/a/') && document.body.dataset.status === 'booked'", SOON).await;
    assert_eq!(phone.eval("return location.search").await, "");
    let id = phone.eval("return location.pathname.split('/')[2]").await.as_str().unwrap().to_owned();
    let when = phone.eval("return document.querySelector('#when').textContent").await;
    assert!(when.as_str().unwrap().ends_with("10:00–10:30"), "{when}");
    assert_eq!(phone.eval("return document.querySelector('#check-in').disabled").await, true);
    let note = phone.eval("return document.querySelector('#check-note').textContent").await;
    assert_eq!(note, "Check-in opens tomorrow at 09:45.");
    let ics = phone.eval("return document.querySelector('#ics').dataset.ics").await;
    let ics = ics.as_str().unwrap();
    assert!(ics.contains(&format!("DTSTART:{}T100000Z\r\n", tomorrow.format("%Y%m%d"))), "{ics}");
    assert!(ics.contains(&format!("UID:{id}@queuecast\r\n")), "{ics}");
    assert_eq!(phone.eval("return document.querySelector('#ics').getAttribute('download')").await, "appointment.ics");
    phone.axe("booking page").await;
    phone.screenshot("booking-page").await;
    let booked = appointments_on(&app, queue, &tomorrow.to_string()).await;
    assert_eq!(booked.len(), 1, "one booking for a double tap: {booked:?}");
    assert_eq!((booked[0]["id"].as_str(), booked[0]["email"].as_str()), (Some(id.as_str()), Some(to.as_str())));

    // The reminder an hour before, by e-mail, with the booking's link.
    clock.set(start - chrono::Duration::minutes(59));
    let mails = crate::notifications::mails_to(&dir, &to, 1).await;
    let text = mails[0]["text"].as_str().unwrap();
    assert!(text.starts_with("Reminder: your appointment at Queue clinic is on"), "{text}");
    let link = text.split_whitespace().find(|w| w.contains(&format!("/a/{id}"))).unwrap();
    let link = link.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '/')).to_owned();
    assert!(link.starts_with(&app.base), "the link opens this node's page: {link}");

    // On the day, in the check-in window: a walk-in joins (their join moved to the driven
    // clock's time: events keep wall-clock times), then the customer arrives.
    clock.set(start - chrono::Duration::minutes(10));
    let walk_in =
        app.post(&format!("/api/v1/queues/{queue}/tickets"), Some(&app.admin), json!({"name": "Walker"})).await;
    let walk_in = walk_in.expect(201)["ticket"].clone();
    let mut owner = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let moved = sqlx::query("UPDATE queue_events SET at = $2 WHERE queue_id = $1 AND kind = 'ticket.joined'")
        .bind(queue)
        .bind(clock.now())
        .execute(&mut owner)
        .await
        .unwrap();
    assert_eq!(moved.rows_affected(), 1);
    let desk = chrome.page(Screen::Desk).await;
    browser_clock(&desk, clock.now()).await;
    crate::pages::open_console(&desk, &app.base, queue, "Desk 1").await;
    desk.wait_for(
        "document.querySelector('#appts-list li[data-state=\"upcoming\"]')?.textContent.includes('Ada')",
        SOON,
    )
    .await;

    browser_clock(&phone, clock.now()).await;
    phone.goto(&link).await;
    phone
        .wait_for("document.body.dataset.status === 'booked' && !document.querySelector('#check-in').disabled", SOON)
        .await;
    phone.click("#check-in").await;

    // Assert: the live ticket page, first in line, ahead of the walk-in who came later.
    phone
        .wait_for(
            "location.pathname.startsWith('/t/') && document.querySelector('#ahead').dataset.position === '1'",
            SOON,
        )
        .await;
    assert_eq!(phone.eval("return location.search").await, "", "the ticket's token left the address bar");
    let ticket = phone.eval("return location.pathname.split('/')[2]").await.as_str().unwrap().to_owned();
    desk.wait_for(
        "document.querySelector('#appts-list li[data-state=\"arrived\"]')?.textContent.includes('Ada')",
        SOON,
    )
    .await;
    desk.wait_for(
        &format!(
            "document.querySelector('#waiting li')?.dataset.id === '{ticket}' \
             && document.querySelector('#waiting li .appt-mark')?.textContent === 'Booked for 10:00'"
        ),
        SOON,
    )
    .await;
    desk.axe("console with today's appointments").await;
    desk.screenshot("console-appointments").await;
    let first = app.call_next(&app.admin, queue, "Desk 1").await.expect(200);
    let second = app.call_next(&app.admin, queue, "Desk 1").await.expect(200);
    assert_eq!((first["id"].as_str(), second["id"].as_str()), (Some(ticket.as_str()), walk_in["id"].as_str()));
    phone.wait_for("!document.querySelector('#called').hidden", SOON).await;
    phone.close().await;
    desk.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_whose_time_was_just_taken_is_told_so_and_books_another() {
    // Arrange: one place per slot; the customer picks 10:00 tomorrow.
    let (app, clock, queue) = booking_app_mailing(json!({"slot_minutes": 30}), None).await;
    let tomorrow = (clock.now() + chrono::Duration::days(1)).date_naive();
    let start: DateTime<Utc> = tomorrow.and_hms_opt(10, 0, 0).unwrap().and_utc();
    let chrome = Chrome::start().await;
    let phone = chrome.page_in(Screen::Phone, Some("es-ES,es")).await;
    pick_day(&phone, &app, queue, &tomorrow.to_string()).await;
    phone.click(&format!("#times button[data-start=\"{}\"]", stamp(start))).await;
    phone.fill("#f-name", "Grace").await;

    // Act: someone else takes it first; then the customer books.
    let body = json!({"start_at": stamp(start), "name": "Linus"});
    app.post(&format!("/api/v1/queues/{queue}/appointments"), None, body).await.expect(201);
    phone.click("#book").await;

    // Assert: told in Spanish, offered to pick again; the time is gone from the list.
    phone.wait_for("!document.querySelector('#pick-again').hidden", SOON).await;
    let said = phone.eval("return document.querySelector('#book-error').textContent").await;
    assert_eq!(said, "Alguien acaba de reservar esa hora. Elija otra.");
    phone.click("#pick-again").await;
    let taken = format!("#times button[data-start=\"{}\"]", stamp(start));
    phone
        .wait_for(&format!("!document.querySelector('{taken}') && document.querySelector('#times button')"), SOON)
        .await;
    let later = start + chrono::Duration::minutes(30);
    phone.click(&format!("#times button[data-start=\"{}\"]", stamp(later))).await;
    phone.click("#book").await;
    phone.wait_for("location.pathname.startsWith('/a/') && document.body.dataset.status === 'booked'", SOON).await;
    assert_eq!(phone.eval("return document.documentElement.lang").await, "es");
    let names: Vec<String> = appointments_on(&app, queue, &tomorrow.to_string())
        .await
        .iter()
        .map(|a| format!("{} {}", a["name"].as_str().unwrap(), a["start_at"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [format!("Linus {}", stamp(start)), format!("Grace {}", stamp(later))]);
    phone.close().await;
}
