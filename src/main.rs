//! The `queuecast` command: serve, migrate, set up tenants, or run the demo.

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use queuecast::config::Settings;
use queuecast::startup::Application;
use queuecast::store::{self, NewQueue, NewTenant, Role, Store, StoreError, StoreSettings};
use queuecast::webhooks::WebhookSettings;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "queuecast", version, about = "A real-time virtual queue server")]
struct Cli {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run pending migrations, then serve.
    Serve(ServeArgs),
    /// Run pending migrations.
    Migrate,
    /// Set up tenants, users and queues.
    #[command(subcommand)]
    Admin(Admin),
    /// Serve with a demo tenant ready to click through.
    Demo(ServeArgs),
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Redis URL (optional; e.g. redis://127.0.0.1:6379/?protocol=resp3).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// The address people reach this server at, for links and QR codes.
    #[arg(long, env = "PUBLIC_URL")]
    public_url: Option<String>,
    /// Origins allowed to open staff sockets, comma-separated (default: the public URL's origin).
    #[arg(long, env = "ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "WORKERS")]
    workers: Option<usize>,
    /// Database connections per node.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 16)]
    db_pool_size: u32,
    /// Most changes committed in one transaction.
    #[arg(long, env = "WRITE_BATCH_MAX", default_value_t = 1024)]
    write_batch_max: usize,
    /// Allow webhook endpoints over plain http to any host (otherwise https, or http to loopback).
    #[arg(long, env = "WEBHOOKS_ALLOW_HTTP", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    webhooks_allow_http: bool,
    /// Whether this node sends webhooks (the outbox is filled either way; any node may send).
    #[arg(long, env = "WEBHOOKS_SENDER", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), default_value_t = true)]
    webhooks_sender: bool,
}

// The variants are the commands' names (`create-tenant`, …).
#[allow(clippy::enum_variant_names)]
#[derive(Subcommand)]
enum Admin {
    /// Create a tenant with its first admin.
    CreateTenant {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: String,
    },
    /// Add a user to a tenant.
    CreateUser {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long, env = "USER_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, value_parser = ["admin", "manager", "staff"])]
        role: String,
    },
    /// Create a queue.
    CreateQueue {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        prefix: Option<String>,
    },
}

const DEMO_TENANT: &str = "demo";
const DEMO_EMAIL: &str = "admin@demo.test";
const DEMO_PASSWORD: &str = "demo-password";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
        .init();
    let cli = Cli::parse();
    let database_url = cli.database_url.context("DATABASE_URL is not set (flag --database-url or the environment)")?;
    match cli.command {
        Command::Serve(args) => serve(&database_url, args, false).await,
        Command::Demo(args) => serve(&database_url, args, true).await,
        Command::Migrate => {
            store::migrate(&database_url).await?;
            tracing::info!("migrations are up to date");
            Ok(())
        }
        Command::Admin(admin) => run_admin(&database_url, admin).await,
    }
}

async fn serve(database_url: &str, args: ServeArgs, demo: bool) -> anyhow::Result<()> {
    let settings = Settings {
        listen: args.listen,
        database_url: database_url.to_owned(),
        redis_url: args.redis_url,
        public_url: args.public_url,
        allowed_origins: args.allowed_origins,
        workers: args.workers,
        store: StoreSettings {
            pool_size: args.db_pool_size,
            max_batch: args.write_batch_max,
            ..StoreSettings::default()
        },
        webhooks: WebhookSettings {
            allow_http: args.webhooks_allow_http,
            enabled: args.webhooks_sender,
            ..WebhookSettings::default()
        },
        ..Settings::new("", "")
    };
    let public = settings.public_url.clone();
    let app = Application::build(settings).await?;
    let base = public.unwrap_or_else(|| format!("http://127.0.0.1:{}", app.port()));
    if demo {
        set_up_demo(app.store(), &base).await?;
    }
    tracing::info!(port = app.port(), "queuecast is serving");
    app.run_until_signalled().await?;
    Ok(())
}

/// Creates the demo tenant, its admin and two queues when missing, and says where to go.
async fn set_up_demo(store: &Store, base: &str) -> anyhow::Result<()> {
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
    println!("\nQueuecast demo is ready.\n");
    println!("  Staff login:  tenant `{DEMO_TENANT}`, {DEMO_EMAIL} / {DEMO_PASSWORD}");
    println!("  API:          {base}/api/v1   (health: {base}/readyz)");
    for q in store.queues_of(DEMO_TENANT).await? {
        println!("  Queue {:<10} join: POST {base}/api/v1/queues/{}/tickets", q.slug, q.id);
    }
    println!("\n  Try:  curl -s -XPOST {base}/api/v1/auth/login -d '{{\"tenant\":\"demo\",\"email\":\"{DEMO_EMAIL}\",\"password\":\"{DEMO_PASSWORD}\"}}'\n");
    Ok(())
}

async fn run_admin(database_url: &str, admin: Admin) -> anyhow::Result<()> {
    store::migrate(database_url).await?;
    let store = Store::connect(database_url, StoreSettings { pool_size: 2, ..StoreSettings::default() }).await?;
    match admin {
        Admin::CreateTenant { slug, name, admin_email, admin_password } => {
            let id = store.create_tenant(NewTenant { slug, name, admin_email, admin_password }).await?;
            println!("{id}");
        }
        Admin::CreateUser { tenant, email, password, role } => {
            let Some(role) = Role::parse(&role) else { bail!("role is admin, manager or staff") };
            let id = store.create_user(&tenant, &email, &password, role).await?;
            println!("{id}");
        }
        Admin::CreateQueue { tenant, slug, name, prefix } => {
            let q = store.create_queue_for(&tenant, NewQueue { slug, name, prefix, ..Default::default() }).await?;
            println!("{}", q.id);
        }
    }
    Ok(())
}
