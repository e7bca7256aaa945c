//! The demo of `queuecast demo` (and `scripts/dev`): a tenant with its admin and three queues (one
//! taking appointments), and
//! the addresses to open.

use crate::domain::DeviceKind;
use crate::store::{self, NewQueue, NewTenant, Store, StoreError};

/// The demo tenant and its admin, as `scripts/dev` prints them.
pub const DEMO_TENANT: &str = "demo";
pub const DEMO_EMAIL: &str = "admin@demo.test";
pub const DEMO_PASSWORD: &str = "demo-password";

/// Creates the demo tenant, its admin and its queues when missing, and says where to go.
pub async fn set_up(store: &Store, base: &str) -> anyhow::Result<()> {
    if store.tenant_by_slug(DEMO_TENANT).await?.is_none() {
        store
            .create_tenant(NewTenant {
                slug: DEMO_TENANT.into(),
                name: "Demo Clinic".into(),
                admin_email: DEMO_EMAIL.into(),
                admin_password: DEMO_PASSWORD.into(),
            })
            .await?;
    }
    let via = store::Via { ip: None, user_agent: Some("queuecast demo".into()) };
    let login = match store.login(DEMO_TENANT, DEMO_EMAIL, DEMO_PASSWORD, &via).await? {
        store::LoginOutcome::SignedIn(login) => Some(login),
        store::LoginOutcome::Refused => None,
    };
    // The pharmacy's tickets follow a prescription: received, in progress, ready, collected,
    // with the prescription's number asked at joining.
    if let Some(login) = &login {
        match store.create_ticket_type(&login.identity, &via, prescription()).await {
            Ok(_) | Err(StoreError::Conflict(store::Conflict::AlreadyExists(_))) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // A third queue takes appointments: open every day 07:00–21:00 UTC, slots of 15 minutes, two
    // places each (walk-ins join it too). At the main desk, customers may step back twice, up to
    // five places each time.
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let weekly: serde_json::Map<String, serde_json::Value> =
        days.iter().map(|d| (d.to_string(), serde_json::json!([["07:00", "21:00"]]))).collect();
    let booked = serde_json::json!({
        "hours": {"tz": "UTC", "weekly": weekly},
        "appointments": {"slot_minutes": 15, "per_slot": 2},
    });
    let desk = serde_json::json!({"snooze": {"max_times": 2, "max_places": 5}});
    let pharmacy_type = login.as_ref().map(|_| "prescription".to_owned());
    let queues = [
        ("main", "Main desk", "A", Some(desk), None),
        ("pharmacy", "Pharmacy", "P", None, pharmacy_type),
        ("vaccines", "Vaccinations", "V", Some(booked), None),
    ];
    for (slug, name, prefix, settings, ticket_type) in queues {
        let new = NewQueue {
            slug: slug.into(),
            name: name.into(),
            prefix: Some(prefix.into()),
            settings,
            ticket_type,
            ..Default::default()
        };
        match store.create_queue_for(DEMO_TENANT, new).await {
            Ok(_) | Err(StoreError::Conflict(store::Conflict::AlreadyExists(_))) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // A fresh kiosk key per run: keys are stored hashed, so an old one cannot be shown again.
    println!("\nQueuecast demo is ready.\n");
    println!("  Staff console:  {base}/staff   (tenant `{DEMO_TENANT}`, {DEMO_EMAIL} / {DEMO_PASSWORD})");
    let queues = store.queues_of(DEMO_TENANT).await?;
    for q in &queues {
        println!("\n  {} ({})", q.name, q.slug);
        println!("    customers join:  {base}/q/{}", q.id);
        if q.slug == "vaccines" {
            println!("    book a time:     {base}/b/{}", q.id);
        }
        if let Some(login) = &login {
            let (_, key) = store.create_display_key(&login.identity, &via, q.id).await?;
            println!("    kiosk display:   {base}/display/{}?key={key}", q.id);
        }
    }
    // The venue: one screen and one lobby tablet for every queue.
    if let Some(login) = &login {
        let ids: Vec<_> = queues.iter().map(|q| q.id).collect();
        let (_, key) = store.create_device_key(&login.identity, &via, DeviceKind::Display, ids.clone()).await?;
        println!("\n  Every queue on one screen:  {base}/display?key={key}");
        let (_, key) = store.create_device_key(&login.identity, &via, DeviceKind::Kiosk, ids).await?;
        println!("  Take-a-number kiosk:        {base}/kiosk?key={key}");
    }
    println!("\n  API: {base}/api/v1   health: {base}/readyz\n");
    Ok(())
}

/// A pharmacy's ticket type: a prescription received, prepared, ready to collect, collected.
fn prescription() -> store::NewTicketType {
    store::NewTicketType {
        code: "prescription".into(),
        name: "Prescription".into(),
        fsm: serde_json::json!({
            "init": "received",
            "states": ["received", "in_progress", "ready", "collected", "cancelled", "no_show"],
            "transitions": [
                {"name": "call", "from": "received", "to": "in_progress"},
                {"name": "ready", "from": "in_progress", "to": "ready"},
                {"name": "recall", "from": "ready", "to": "ready"},
                {"name": "collect", "from": "ready", "to": "collected"},
                {"name": "no_show", "from": "ready", "to": "no_show"},
                {"name": "requeue", "from": ["in_progress", "no_show"], "to": "received"},
                {"name": "cancel", "from": ["received", "in_progress", "ready"], "to": "cancelled"}
            ],
            "roles": {"absent": "no_show", "abandoned": "cancelled"}
        }),
        fields_schema: Some(serde_json::json!({
            "type": "object",
            "properties": {
                "prescription_id": {"type": "string", "title": "Prescription number", "minLength": 3, "maxLength": 20},
                "delivery": {"type": "boolean", "title": "Home delivery"}
            },
            "required": ["prescription_id"]
        })),
    }
}
