//! Line control and any workflow (issue 17) in headless Chromium: a pharmacy-like ticket type
//! with a required `prescription_id` field, joined through the join page's generated form,
//! stepped back with "I need more time", seen in the console with its field and its presence,
//! moved, given a priority and notes, called in particular, driven through every transition
//! button of its type, and rated once it ended; axe-core on each page on the way. Screenshots go
//! to `target/screenshots/`.

use crate::common;
use crate::pages::{live, open_console};

use std::time::Duration;

use common::browser::{Chrome, Page, Screen};
use common::{spawn_app, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;

const SOON: Duration = Duration::from_secs(10);

/// A pharmacy: received → in progress (the call) → ready → completed, or withdrawn before it is
/// ready; a prescription number is required, "urgent" is a box to tick.
fn pharmacy_type() -> Value {
    json!({"code": "pharmacy", "name": "Pharmacy",
        "fsm": {
            "init": "received",
            "states": ["received", "in_progress", "ready", "completed", "withdrawn"],
            "transitions": [
                {"name": "call", "from": "received", "to": "in_progress"},
                {"name": "ready", "from": "in_progress", "to": "ready"},
                {"name": "complete", "from": "ready", "to": "completed"},
                {"name": "withdraw", "from": ["received", "in_progress"], "to": "withdrawn"}
            ],
            "roles": {"abandoned": "withdrawn"}
        },
        "fields_schema": {
            "type": "object",
            "properties": {
                "prescription_id": {"type": "string", "title": "Prescription", "minLength": 3},
                "urgent": {"type": "boolean", "title": "Urgent"}
            },
            "required": ["prescription_id"]
        }
    })
}

async fn waiting(app: &TestApp, queue: Uuid) -> Value {
    app.get(&format!("/api/v1/queues/{queue}"), None).await.expect(200)["waiting"].clone()
}

/// Someone joins by the API with a prescription; answers their ticket id.
async fn join_with(app: &TestApp, queue: Uuid, name: &str, rx: &str) -> String {
    let body = app.join(queue, json!({"name": name, "fields": {"prescription_id": rx}})).await.expect(201);
    body["ticket"]["id"].as_str().unwrap().to_owned()
}

/// The ids of the console's line, in order.
async fn line_ids(desk: &Page) -> Vec<String> {
    let ids =
        desk.eval("return [...document.querySelectorAll('#waiting > [data-id]')].map((li) => li.dataset.id)").await;
    ids.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

/// Opens the console's drawer on ticket `id` (its number in the line or the called list).
async fn open_drawer(desk: &Page, id: &str) {
    desk.click(&format!("[data-open-ticket=\"{id}\"]")).await;
    desk.wait_for("document.querySelector('#drawer').open", SOON).await;
    // Its history has been read.
    desk.wait_for("document.querySelectorAll('#drawer-history li').length > 0", SOON).await;
}

async fn close_drawer(desk: &Page) {
    desk.click("#drawer-close").await;
    desk.wait_for("!document.querySelector('#drawer').open", SOON).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pharmacy_workflow_with_a_prescription_field_is_driven_from_the_join_page_to_its_last_button() {
    // Arrange: the type, a queue of it that lets people step back once by up to 3 places.
    let app = spawn_app().await;
    app.post("/api/v1/ticket-types", Some(&app.admin), pharmacy_type()).await.expect(201);
    let queue = app
        .create_queue(
            &app.admin,
            "rx",
            json!({"prefix": "R", "ticket_type": "pharmacy", "settings": {"snooze": {"max_times": 1, "max_places": 3}}}),
        )
        .await;
    let chrome = Chrome::start().await;
    let (phone, desk) = tokio::join!(chrome.page(Screen::Phone), chrome.page(Screen::Desk));

    // The join page asks for the prescription, and says so beside it when it is missing.
    phone.goto(&format!("{}/q/{queue}", app.base)).await;
    phone.wait_for("document.querySelector('[data-field=\"prescription_id\"]')", SOON).await;
    let label = phone.eval("return document.querySelector('label[for=\"f-x-prescription_id\"]').textContent").await;
    assert_eq!(label, "Prescription");
    phone.fill("#join-form [name=name]", "Grace Hopper").await;
    phone.eval("document.querySelector('#join-form').requestSubmit(); return true").await;
    let said = phone.wait_for("document.querySelector('#f-x-prescription_id-error').textContent", SOON).await;
    assert_eq!(said, "Prescription: please fill this in.");
    let invalid = phone.eval("return document.activeElement.getAttribute('aria-invalid')").await;
    assert_eq!(invalid, "true", "the input that does not fit has the focus");
    assert_eq!(waiting(&app, queue).await, 0, "nothing was sent");
    phone.axe("join page, a required field missing").await;
    phone.screenshot("workflow-join-fields").await;

    phone.fill("[data-field=\"prescription_id\"]", "RX-42").await;
    phone.click("label[for=\"f-x-urgent\"]").await;
    phone.eval("document.querySelector('#join-form').requestSubmit(); return true").await;
    phone.wait_for("location.pathname.startsWith('/t/')", SOON).await;
    live(&phone).await;
    let grace = phone.eval("return location.pathname.split('/')[2]").await.as_str().unwrap().to_owned();
    let staff_view = app.get(&format!("/api/v1/tickets/{grace}"), Some(&app.admin)).await.expect(200);
    assert_eq!(staff_view["fields"], json!({"prescription_id": "RX-42", "urgent": true}));

    // Two more behind; Grace asks for more time and lets both go ahead.
    let ada = join_with(&app, queue, "Ada Lovelace", "RX-100").await;
    let alan = join_with(&app, queue, "Alan Turing", "RX-200").await;
    phone.wait_for("!document.querySelector('#snooze-open').hidden", SOON).await;
    phone.click("#snooze-open").await;
    phone.wait_for("document.querySelectorAll('#snooze-places option').length === 2", SOON).await;
    let note = phone.eval("return document.querySelector('#snooze-note').textContent").await;
    assert_eq!(note, "You can do this 1 more time.");
    phone.axe("ticket page, stepping back").await;
    phone.eval("document.querySelector('#snooze-places').value = '2'; return true").await;
    phone.click("#snooze-go").await;
    phone.wait_for("document.querySelector('#ahead').dataset.position === '3'", SOON).await;
    let done = phone.eval("return document.querySelector('#ticket-note').textContent").await;
    assert_eq!(done, "Done: 2 people are now ahead of you.");
    // Once is all this queue allows.
    phone.click("#snooze-open").await;
    phone
        .wait_for("document.querySelector('#snooze-note').textContent === 'You have used all your extra time.'", SOON)
        .await;
    phone.click("#snooze-keep").await;

    // The console shows the prescription in the line, and that Grace is on her page.
    open_console(&desk, &app.base, queue, "Window 1").await;
    desk.wait_for("document.querySelectorAll('#waiting > [data-id]').length === 3", SOON).await;
    assert_eq!(line_ids(&desk).await, [ada.clone(), alan.clone(), grace.clone()]);
    let row = format!("#waiting [data-id=\"{grace}\"]");
    let fields = desk.wait_for(&format!("document.querySelector('{row} .fields-line')?.textContent"), SOON).await;
    assert_eq!(fields, "Prescription: RX-42 · Urgent: yes");
    desk.wait_for(&format!("document.querySelector('{row} .presence-dot[data-state=\"here\"]')"), SOON).await;

    // Her drawer: the field, her presence, her history; the desk moves Ada behind Alan.
    open_drawer(&desk, &grace).await;
    let details = desk.eval("return document.querySelector('#drawer-details').innerText").await;
    assert!(details.as_str().unwrap().contains("Prescription\nRX-42"), "{details}");
    let here = desk.eval("return document.querySelector('#drawer-presence').textContent").await;
    assert!(here.as_str().unwrap().starts_with("Here since"), "{here}");
    let history = desk.eval("return document.querySelector('#drawer-history').innerText").await;
    let history = history.as_str().unwrap();
    assert!(history.contains("Joined the line") && history.contains("Asked for more time: now place 3"), "{history}");
    desk.axe("console, a ticket's drawer").await;
    desk.screenshot("workflow-drawer").await;
    close_drawer(&desk).await;

    open_drawer(&desk, &ada).await;
    desk.fill("#move-position", "2").await;
    desk.click("#move-go").await;
    desk.wait_for(&format!("document.querySelector('#waiting > [data-id]')?.dataset.id === '{alan}'"), SOON).await;
    assert_eq!(line_ids(&desk).await, [alan.clone(), ada.clone(), grace.clone()]);
    close_drawer(&desk).await;

    // Grace gets priority 5 and a note: she goes first, with a badge.
    open_drawer(&desk, &grace).await;
    desk.eval("document.querySelector('#edit-priority').value = '5'; return true").await;
    desk.fill("#edit-notes", "Ask about the allergy").await;
    desk.click("#edit-save").await;
    desk.wait_for(&format!("document.querySelector('{row} .prio-badge')?.textContent === 'Priority 5'"), SOON).await;
    desk.wait_for(&format!("document.querySelector('#waiting > [data-id]')?.dataset.id === '{grace}'"), SOON).await;
    let staff_view = app.get(&format!("/api/v1/tickets/{grace}"), Some(&app.admin)).await.expect(200);
    assert_eq!((&staff_view["priority"], &staff_view["notes"]), (&json!(5), &json!("Ask about the allergy")));
    close_drawer(&desk).await;
    // The notes are read again with the drawer.
    open_drawer(&desk, &grace).await;
    desk.wait_for("document.querySelector('#edit-notes').value === 'Ask about the allergy'", SOON).await;

    // Call this person: Grace, not Alan who is next, to Window 1.
    desk.click("#drawer-actions [data-drawer-call]").await;
    phone.wait_for("document.querySelector('#status')?.dataset.status === 'in_progress'", SOON).await;
    phone.wait_for("!document.querySelector('#called').hidden", SOON).await;
    close_drawer(&desk).await;
    let active = format!("#active [data-id=\"{grace}\"]");
    desk.wait_for(&format!("document.querySelector('{active} [data-action=ready]')"), SOON).await;
    let called = app.get(&format!("/api/v1/tickets/{grace}"), Some(&app.admin)).await.expect(200);
    assert_eq!((&called["status"], &called["counter"]), (&json!("in_progress"), &json!("Window 1")));
    assert_eq!(line_ids(&desk).await, [alan.clone(), ada.clone()]);

    // Each button of the type, in turn: ready, then complete.
    let buttons = desk
        .eval(&format!("return [...document.querySelectorAll('{active} [data-action]')].map((b) => b.dataset.action)"))
        .await;
    assert_eq!(buttons, json!(["ready", "withdraw"]));
    desk.click(&format!("{active} [data-action=ready]")).await;
    phone.wait_for("document.querySelector('#status')?.dataset.status === 'ready'", SOON).await;
    desk.wait_for(&format!("document.querySelector('{active} [data-action=complete]')"), SOON).await;
    desk.click(&format!("{active} [data-action=complete]")).await;
    phone.wait_for("document.querySelector('#status')?.dataset.status === 'completed'", SOON).await;
    desk.wait_for(&format!("!document.querySelector('{active}')"), SOON).await;
    // And withdraw, from the drawer of someone still in line.
    open_drawer(&desk, &alan).await;
    desk.click("#drawer-actions [data-drawer-action=withdraw]").await;
    desk.wait_for(&format!("!document.querySelector('#waiting [data-id=\"{alan}\"]')"), SOON).await;
    close_drawer(&desk).await;
    let withdrawn = app.get(&format!("/api/v1/tickets/{alan}"), Some(&app.admin)).await.expect(200);
    assert_eq!(withdrawn["status"], "withdrawn");

    // Grace is asked once for a rating.
    phone.wait_for("!document.querySelector('#feedback').hidden", SOON).await;
    phone.click("#feedback-send").await;
    let said = phone.wait_for("document.querySelector('#feedback-error').textContent", SOON).await;
    assert_eq!(said, "Please choose from 1 to 5 stars.");
    phone.axe("ticket page, asking for a rating").await;
    phone.click("label[for=\"fb-4\"]").await;
    phone.fill("#fb-comment", "Quick and kind").await;
    phone.click("#feedback-send").await;
    phone.wait_for("!document.querySelector('#feedback-thanks').hidden", SOON).await;
    phone.screenshot("workflow-feedback").await;
    let rating = app.get(&format!("/api/v1/tickets/{grace}/feedback"), Some(&app.admin)).await.expect(200);
    assert_eq!((&rating["rating"], &rating["comment"]), (&json!(4), &json!("Quick and kind")));
    // Back on the page later: not asked again.
    phone.goto(&format!("{}/t/{grace}", app.base)).await;
    phone.wait_for("document.querySelector('#status')?.dataset.status === 'completed'", SOON).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(phone.eval("return document.querySelector('#feedback').hidden").await, true);

    // A walk-in at the desk is asked the same fields, in the walk-in dialog.
    desk.eval("document.body.dispatchEvent(new KeyboardEvent('keydown', {key: 'w', bubbles: true})); return true")
        .await;
    desk.wait_for("document.querySelector('#walk-in-dialog').open", SOON).await;
    desk.fill("#wi-name", "Katherine Johnson").await;
    desk.click("#walk-in-ok").await;
    let said = desk.wait_for("document.querySelector('#walk-in-error').textContent", SOON).await;
    assert_eq!(said, "Prescription: please fill this in.");
    desk.fill("[data-field=\"prescription_id\"]", "RX-7").await;
    desk.click("#walk-in-ok").await;
    desk.wait_for("document.querySelector('#walk-in-number').textContent === 'R004'", SOON).await;
    desk.click("#walk-in-cancel").await;
    desk.wait_for(
        "[...document.querySelectorAll('#waiting .fields-line')].some((e) => e.textContent === 'Prescription: RX-7 · Urgent: no')",
        SOON,
    )
    .await;

    for page in [phone, desk] {
        page.close().await;
    }
}
