//! The `queuecast` command: serve, migrate, set up tenants, or run the demo.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use queuecast::config::ServeArgs;
use queuecast::startup::Application;
use queuecast::store::{self, NewQueue, NewTenant, Role, Store, StoreSettings};
use queuecast::tasks::Tasks;
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
    let settings = args.into_settings(database_url)?;
    let public = settings.public_url.clone();
    let app = Application::build(settings).await?;
    let base = public.unwrap_or_else(|| format!("http://127.0.0.1:{}", app.port()));
    if demo {
        queuecast::demo::set_up(app.store(), &base).await?;
    }
    tracing::info!(port = app.port(), "queuecast is serving");
    app.run_until_signalled().await?;
    Ok(())
}

async fn run_admin(database_url: &str, admin: Admin) -> anyhow::Result<()> {
    store::migrate(database_url).await?;
    let tasks = Tasks::new();
    let store =
        Store::connect(database_url, StoreSettings { pool_size: 2, ..StoreSettings::default() }, &tasks).await?;
    let done = admin_command(&store, admin).await;
    store.flush().await;
    tasks.stop(std::time::Duration::from_secs(5)).await;
    store.close().await;
    done
}

async fn admin_command(store: &Store, admin: Admin) -> anyhow::Result<()> {
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
