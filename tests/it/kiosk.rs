//! The front desk and the venue in headless Chromium: a walk-in from the console, the lobby
//! kiosk, a two-queue display that speaks, the customer pages in French, and axe-core on each
//! page. Screenshots go to `target/screenshots/`.

use crate::common;
use crate::desk::device_key;
use crate::pages::{live, open_console};

use std::time::Duration;

use common::browser::{Chrome, Page, Screen};
use common::{spawn_app_with, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;

const SOON: Duration = Duration::from_secs(10);

/// Screens recheck their key every 200 ms here, so a revoked key shows at once.
async fn venue() -> (TestApp, Uuid) {
    let app = spawn_app_with(|s| s.credential_recheck = Duration::from_millis(200)).await;
    let pharmacy = app.create_queue(&app.admin, "pharmacy", json!({"prefix": "P"})).await;
    (app, pharmacy)
}

/// Replaces the page's speech synthesis with a recorder (`window.__spoken`: each sentence and
/// its language) that has one voice per language of ours: the test observes what the page says.
async fn record_speech(page: &Page) {
    page.eval(
        "window.__spoken = [];
         window.SpeechSynthesisUtterance ||= class { constructor(text) { this.text = text; } };
         const voices = ['en-GB', 'fr-FR', 'es-ES', 'ja-JP'].map((lang) => ({ lang, name: lang, default: false }));
         Object.defineProperty(window, 'speechSynthesis', { configurable: true, value: {
           speak: (u) => window.__spoken.push({ text: u.text, lang: u.lang }),
           getVoices: () => voices, cancel() {}, pause() {}, resume() {}, speaking: false, pending: false,
         } });
         return true",
    )
    .await;
}

/// Taps a kiosk's service (found at the moment of the tap: the kiosk redraws its buttons as the
/// waits change).
async fn tap(kiosk: &Page, queue: Uuid) {
    let tapped = kiosk
        .eval(&format!("const b = document.querySelector('[data-queue-id=\"{queue}\"]'); b?.click(); return !!b"))
        .await;
    assert_eq!(tapped, true, "no button for {queue}");
}

async fn waiting(app: &TestApp, queue: Uuid) -> Value {
    app.get(&format!("/api/v1/queues/{queue}"), None).await.expect(200)["waiting"].clone()
}

async fn revoke(app: &TestApp, id: &str) {
    let res = app.http.delete(format!("{}/api/v1/device-keys/{id}", app.base)).bearer_auth(&app.admin).send().await;
    assert_eq!(res.unwrap().status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_in_added_from_the_console_is_in_the_line_and_on_the_display() {
    let (app, _) = venue().await;
    let (_, key) = device_key(&app, "display", &[app.queue]).await;
    let chrome = Chrome::start().await;
    let (desk, tv) = tokio::join!(chrome.page(Screen::Desk), chrome.page(Screen::Tv));
    tv.goto(&format!("{}/display?key={key}", app.base)).await;
    live(&tv).await;
    open_console(&desk, &app.base, app.queue, "Desk 1").await;

    // The desk presses W, types a name and adds them.
    desk.eval("document.body.dispatchEvent(new KeyboardEvent('keydown', {key: 'w', bubbles: true})); return true")
        .await;
    desk.wait_for("document.querySelector('#walk-in-dialog').open", SOON).await;
    desk.fill("#wi-name", "Margaret Hamilton").await;
    desk.fill("#wi-party", "3").await;
    desk.click("#walk-in-ok").await;
    desk.wait_for("document.querySelector('#walk-in-number').textContent === 'A001'", SOON).await;
    desk.axe("console, a walk-in added").await;
    // The number is big enough to read out, and a slip can be printed.
    let size =
        desk.eval("return parseFloat(getComputedStyle(document.querySelector('#walk-in-number')).fontSize)").await;
    assert!(size.as_f64().unwrap() >= 48.0, "{size}");
    assert_eq!(desk.eval("return document.querySelector('#walk-in-print').hidden").await, false);
    desk.screenshot("console-walk-in").await;

    // In the customer list, and on the display's next up.
    desk.click("#walk-in-cancel").await;
    desk.wait_for(
        "[...document.querySelectorAll('#waiting li')].some((li) => li.textContent.includes('Margaret Hamilton'))",
        SOON,
    )
    .await;
    tv.wait_for("[...document.querySelectorAll('.next li')].some((li) => li.textContent === 'A001')", SOON).await;
    assert_eq!(waiting(&app, app.queue).await, 1);
    let events = app.all_events(&app.admin, app.queue).await;
    assert!(events[0]["actor"].as_str().unwrap().starts_with("staff:"), "{:?}", events[0]);
    assert_eq!(events[0]["ticket"]["party_size"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_issues_two_tickets_in_a_row_keeps_neither_and_stops_when_revoked() {
    let (app, pharmacy) = venue().await;
    let (id, key) = device_key(&app, "kiosk", &[app.queue, pharmacy]).await;
    app.joined(pharmacy).await;
    let chrome = Chrome::start().await;
    let kiosk = chrome.page(Screen::Portrait).await;
    kiosk.goto(&format!("{}/kiosk?key={key}&back=3", app.base)).await;
    kiosk.wait_for("document.querySelectorAll('.k-service').length === 2", SOON).await;
    let label =
        kiosk.eval(&format!("return document.querySelector('[data-queue-id=\"{pharmacy}\"]').textContent")).await;
    assert!(
        label.as_str().unwrap().contains("Queue pharmacy") && label.as_str().unwrap().contains("1 waiting"),
        "{label}"
    );
    kiosk.axe("kiosk").await;
    kiosk.screenshot("kiosk-portrait").await;
    // A landscape tablet: the same page fits without scrolling sideways, the services in reach.
    let metrics = |w: u32, h: u32| json!({"width": w, "height": h, "deviceScaleFactor": 1, "mobile": true});
    kiosk.cdp("Emulation.setDeviceMetricsOverride", metrics(1280, 800)).await;
    let fits = "innerWidth === 1280 && document.scrollingElement.scrollWidth <= innerWidth \
                && [...document.querySelectorAll('.k-service')].every((b) => b.getBoundingClientRect().bottom <= innerHeight)";
    kiosk.wait_for(fits, SOON).await;
    kiosk.screenshot("kiosk-landscape").await;
    kiosk.cdp("Emulation.setDeviceMetricsOverride", metrics(1080, 1920)).await;
    kiosk.wait_for("innerWidth === 1080", SOON).await;

    // First visitor: the pharmacy, with a name.
    kiosk.fill("#name", "Ada").await;
    tap(&kiosk, pharmacy).await;
    kiosk.wait_for("document.querySelector('#number').textContent === 'P002'", SOON).await;
    let url = kiosk.eval("return document.querySelector('#qr').dataset.url").await;
    assert!(url.as_str().unwrap().starts_with(&format!("{}/t/", app.base)), "{url}");
    assert_eq!(kiosk.eval("return document.querySelector('#qr').src.startsWith('data:image/svg+xml')").await, true);
    assert_eq!(kiosk.eval("return document.querySelector('#issued-ahead').textContent").await, "1 person ahead of you");
    kiosk.axe("kiosk, a number issued").await;
    kiosk.screenshot("kiosk-number").await;
    // The printed slip: number, queue, time and QR code, 72 mm wide.
    kiosk.emulate_print(true).await;
    let slip = kiosk
        .eval(
            "const s = document.querySelector('#slip'); const r = s.getBoundingClientRect();
             return { shown: getComputedStyle(s).display !== 'none', text: s.innerText, width: r.width,
                      qr: document.querySelector('#slip-qr').src.startsWith('data:'),
                      main: getComputedStyle(document.querySelector('#main')).display }",
        )
        .await;
    assert_eq!(slip["shown"], true, "{slip}");
    assert_eq!(slip["main"], "none", "only the slip prints: {slip}");
    assert!(
        slip["text"].as_str().unwrap().contains("P002") && slip["text"].as_str().unwrap().contains("Queue pharmacy"),
        "{slip}"
    );
    assert_eq!(slip["qr"], true);
    // 72 mm at 96 px an inch.
    assert!((slip["width"].as_f64().unwrap() - 272.0).abs() < 2.0, "{slip}");
    kiosk.screenshot("kiosk-slip-print").await;
    kiosk.emulate_print(false).await;

    // It returns to its start by itself, forgetting the visitor; the next one takes the main desk.
    kiosk.wait_for("!document.querySelector('#start').hidden", SOON).await;
    let left = kiosk
        .eval(
            "return { number: document.querySelector('#number').textContent, name: document.querySelector('#name').value,
                      qr: document.querySelector('#qr').hasAttribute('src'),
                      stored: localStorage.length + sessionStorage.length }",
        )
        .await;
    assert_eq!(left, json!({"number": "", "name": "", "qr": false, "stored": 0}));
    tap(&kiosk, app.queue).await;
    kiosk.wait_for("document.querySelector('#number').textContent === 'A001'", SOON).await;
    kiosk.click("#done").await;
    kiosk.wait_for("!document.querySelector('#start').hidden", SOON).await;
    assert_eq!((waiting(&app, pharmacy).await, waiting(&app, app.queue).await), (json!(2), json!(1)));

    // Revoked: the next tap finds the kiosk out of service, and no ticket is made.
    revoke(&app, &id).await;
    tap(&kiosk, app.queue).await;
    kiosk.wait_for("!document.querySelector('#closed').hidden", SOON).await;
    assert_eq!(
        kiosk.eval("return document.querySelector('#closed-title').textContent").await,
        "This kiosk is out of service"
    );
    assert_eq!(waiting(&app, app.queue).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_queue_display_follows_both_lines_says_each_call_and_closes_when_revoked() {
    let (app, pharmacy) = venue().await;
    let other = app.create_queue(&app.admin, "other", json!({})).await;
    let (id, key) = device_key(&app, "display", &[app.queue, pharmacy]).await;
    let chrome = Chrome::start().await;
    let (tv, quiet, mixed) = tokio::join!(chrome.page(Screen::Tv), chrome.page(Screen::Tv), chrome.page(Screen::Tv));
    tv.goto(&format!("{}/display?key={key}", app.base)).await;
    quiet.goto(&format!("{}/display?key={key}&voice=off&lang=fr", app.base)).await;
    mixed.goto(&format!("{}/display?queues={},{other}&key={key}", app.base, app.queue)).await;
    for page in [&tv, &quiet] {
        page.wait_for("document.querySelectorAll('.queue-column').length === 2", SOON).await;
        live(page).await;
        record_speech(page).await;
    }
    // A column the key does not cover says so; the other runs.
    mixed
        .wait_for(
            &format!("document.querySelector('[data-queue-id=\"{other}\"] .col-problem')?.textContent === \"This display's key does not cover this queue\""),
            SOON,
        )
        .await;
    mixed.wait_for(&format!("document.querySelector('[data-queue-id=\"{}\"]:not(.stale)')", app.queue), SOON).await;

    // Both lines move; each column follows its own.
    app.joined(app.queue).await;
    app.joined(pharmacy).await;
    app.joined(pharmacy).await;
    let column = |q: Uuid, css: &str| format!("document.querySelector('[data-queue-id=\"{q}\"] {css}')");
    tv.wait_for(&format!("{}?.textContent === '1'", column(app.queue, ".waiting-count")), SOON).await;
    tv.wait_for(&format!("{}?.textContent === '2'", column(pharmacy, ".waiting-count")), SOON).await;
    app.call_next(&app.admin, pharmacy, "Desk 3").await.expect(200);
    tv.wait_for(&format!("{}?.textContent === 'P001'", column(pharmacy, ".now-serving .number")), SOON).await;
    tv.wait_for(&format!("{}?.textContent === 'A001'", column(app.queue, ".next li")), SOON).await;

    // The call is said aloud, after the chime, in the display's language; not on a quiet one.
    let spoken = tv.wait_for("window.__spoken.length && window.__spoken", SOON).await;
    assert_eq!(spoken, json!([{"text": "Ticket P 0 0 1, Desk 3", "lang": "en-GB"}]));
    quiet.wait_for(&format!("{}?.textContent === 'P001'", column(pharmacy, ".now-serving .number")), SOON).await;
    assert_eq!(quiet.eval("return document.documentElement.lang").await, "fr");
    assert_eq!(
        quiet.eval("return document.querySelector('.serving-panel .label').textContent").await,
        "Appels en cours"
    );
    assert_eq!(quiet.eval("return window.__spoken").await, json!([]), "voice=off still spoke");
    // A recall is said again.
    let called = app.get(&format!("/api/v1/queues/{pharmacy}/events?after=0"), Some(&app.admin)).await.expect(200);
    let ticket = called.as_array().unwrap().last().unwrap()["ticket"]["id"].as_str().unwrap().to_owned();
    app.transition(&app.admin, &ticket, "recall").await.expect(200);
    tv.wait_for("window.__spoken.length === 2", SOON).await;
    tv.axe("display, two queues").await;
    tv.screenshot("display-two-queues").await;

    // Revoked: each column says its screen was closed.
    revoke(&app, &id).await;
    for q in [app.queue, pharmacy] {
        tv.wait_for(&format!("{}?.hidden === false", column(q, ".col-problem")), SOON).await;
    }
    assert_eq!(tv.eval("return document.querySelector('#conn').dataset.state").await, "ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_french_browser_reads_the_join_and_ticket_pages_in_french() {
    let (app, _) = venue().await;
    let chrome = Chrome::start().await;
    let phone = chrome.page_in(Screen::Phone, Some("fr-FR,fr")).await;
    phone.goto(&format!("{}/q/{}", app.base, app.queue)).await;
    phone.wait_for("document.querySelector('#conn').dataset.state === 'live'", SOON).await;
    assert_eq!(phone.eval("return document.documentElement.lang").await, "fr");
    assert_eq!(phone.eval("return document.querySelector('#join').textContent").await, "Rejoindre la file");
    assert_eq!(phone.eval("return document.querySelector('#eta').textContent").await, "pas d’attente");
    phone.axe("join page, French").await;
    phone.click("#join").await;
    phone
        .wait_for(
            "location.pathname.startsWith('/t/') && document.querySelector('#number').textContent === 'A001'",
            SOON,
        )
        .await;
    assert_eq!(phone.eval("return document.documentElement.lang").await, "fr");
    phone.wait_for("document.querySelector('#ahead b').textContent === 'Vous êtes le prochain'", SOON).await;
    assert_eq!(phone.eval("return document.querySelector('#status').textContent").await, "Dans la file");
    phone.axe("ticket page, French").await;
    phone.screenshot("ticket-fr").await;

    // Called: the full-screen call, and the sentence screen readers announce, in French.
    app.call_next(&app.admin, app.queue, "Guichet 2").await.expect(200);
    phone.wait_for("!document.querySelector('#called').hidden", SOON).await;
    let said = phone.eval("return document.querySelector('#announce').textContent").await;
    assert_eq!(said, "C’est votre tour : ticket A001, veuillez vous rendre à Guichet 2.");
    assert_eq!(phone.eval("return document.querySelector('#announce').getAttribute('role')").await, "alert");
    phone.axe("ticket page, called").await;
    phone.screenshot("ticket-fr-called").await;

    // ?lang= overrides the browser's language and is remembered.
    phone.goto(&format!("{}/q/{}?lang=ja", app.base, app.queue)).await;
    phone.wait_for("document.documentElement.lang === 'ja'", SOON).await;
    phone.goto(&format!("{}/q/{}", app.base, app.queue)).await;
    phone.wait_for("document.querySelector('#conn').dataset.state === 'live'", SOON).await;
    assert_eq!(phone.eval("return document.documentElement.lang").await, "ja");
    assert_eq!(phone.eval("return document.querySelector('#join').textContent").await, "列に並ぶ");
}
