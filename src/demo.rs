//! The demo of `queuecast demo` (and `scripts/dev`): a tenant with its admin and two queues, and
//! the addresses to open.

use crate::store::{self, NewQueue, NewTenant, Store, StoreError};

/// The demo tenant and its admin, as `scripts/dev` prints them.
pub const DEMO_TENANT: &str = "demo";
pub const DEMO_EMAIL: &str = "admin@demo.test";
pub const DEMO_PASSWORD: &str = "demo-password";

/// Creates the demo tenant, its admin and two queues when missing, and says where to go.
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
    for (slug, name, prefix) in [("main", "Main desk", "A"), ("pharmacy", "Pharmacy", "P")] {
        let new = NewQueue { slug: slug.into(), name: name.into(), prefix: Some(prefix.into()), ..Default::default() };
        match store.create_queue_for(DEMO_TENANT, new).await {
            Ok(_) | Err(StoreError::Conflict(store::Conflict::AlreadyExists(_))) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // A fresh kiosk key per run: keys are stored hashed, so an old one cannot be shown again.
    let via = store::Via { ip: None, user_agent: Some("queuecast demo".into()) };
    let login = match store.login(DEMO_TENANT, DEMO_EMAIL, DEMO_PASSWORD, &via).await? {
        store::LoginOutcome::SignedIn(login) => Some(login),
        store::LoginOutcome::Refused => None,
    };
    println!("\nQueuecast demo is ready.\n");
    println!("  Staff console:  {base}/staff   (tenant `{DEMO_TENANT}`, {DEMO_EMAIL} / {DEMO_PASSWORD})");
    for q in store.queues_of(DEMO_TENANT).await? {
        println!("\n  {} ({})", q.name, q.slug);
        println!("    customers join:  {base}/q/{}", q.id);
        if let Some(login) = &login {
            let (_, key) = store.create_display_key(&login.identity, &via, q.id).await?;
            println!("    kiosk display:   {base}/display/{}?key={key}", q.id);
        }
    }
    println!("\n  API: {base}/api/v1   health: {base}/readyz\n");
    Ok(())
}
