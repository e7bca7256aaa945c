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
    /// Exit 0 when the server at `--url` answers 200 (a container's health check: the image has
    /// no curl).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
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
    /// Joins per minute from one client address (0: no limit; turn it off for load tests).
    #[arg(long, env = "JOIN_RATE_LIMIT", default_value_t = 60)]
    join_rate_limit: u32,
    /// Sign-in attempts per minute from one client address (0: no limit).
    #[arg(long, env = "LOGIN_RATE_LIMIT", default_value_t = 20)]
    login_rate_limit: u32,
    /// Behind a reverse proxy that appends the client to X-Forwarded-For (the last entry counts).
    #[arg(long, env = "TRUST_PROXY")]
    trust_proxy: bool,
    /// Blank customers' names, phones and fields this many days after their ticket finished
    /// (default: keep them).
    #[arg(long, env = "RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..=36500))]
    retention_days: Option<u32>,
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
    init_logs();
    let cli = Cli::parse();
    if let Command::Healthcheck { url } = &cli.command {
        return healthcheck(url);
    }
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
        Command::Healthcheck { .. } => unreachable!("answered above"),
    }
}

/// One plain HTTP/1.1 GET over loopback, with a 3 s budget.
fn healthcheck(url: &str) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").context("the health check speaks plain http")?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)?.next().context("no address")?;
    let timeout = std::time::Duration::from_secs(3);
    let mut tcp = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    write!(tcp, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head)?;
    if head.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        bail!("{url} answered {}", String::from_utf8_lossy(&head))
    }
}

/// Logs for people by default; `LOG_FORMAT=json` writes one JSON object per line instead (for
/// log collectors). `RUST_LOG` filters as usual (`queuecast::access=debug` adds access logs).
fn init_logs() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => builder.json().with_current_span(true).with_span_list(false).init(),
        Ok("text") | Err(_) => builder.init(),
        Ok(other) => {
            builder.init();
            tracing::warn!(LOG_FORMAT = other, "unknown LOG_FORMAT (json or text); logging as text");
        }
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
        retention_days: args.retention_days,
        store: StoreSettings {
            pool_size: args.db_pool_size,
            max_batch: args.write_batch_max,
            ..StoreSettings::default()
        },
        rate_limits: queuecast::http::limit::RateLimits {
            joins_per_minute: args.join_rate_limit,
            logins_per_minute: args.login_rate_limit,
            trust_proxy: args.trust_proxy,
            ..queuecast::http::limit::RateLimits::OFF
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
    // A fresh kiosk key per run: keys are stored hashed, so an old one cannot be shown again.
    let login = store.login(DEMO_TENANT, DEMO_EMAIL, DEMO_PASSWORD).await?;
    println!("\nQueuecast demo is ready.\n");
    println!("  Staff console:  {base}/staff   (tenant `{DEMO_TENANT}`, {DEMO_EMAIL} / {DEMO_PASSWORD})");
    for q in store.queues_of(DEMO_TENANT).await? {
        println!("\n  {} ({})", q.name, q.slug);
        println!("    customers join:  {base}/q/{}", q.id);
        if let Some(login) = &login {
            let (_, key) = store.create_display_key(&login.identity, q.id).await?;
            println!("    kiosk display:   {base}/display/{}?key={key}", q.id);
        }
    }
    println!("\n  API: {base}/api/v1   health: {base}/readyz\n");
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
