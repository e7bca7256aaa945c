//! Settings from flags and the environment.

use crate::notify::sms::SmsSettings;
use crate::notify::NotifySettings;
use crate::store::StoreSettings;
use crate::webhooks::WebhookSettings;

/// The flags of `queuecast serve` and `queuecast demo`, each also read from the environment.
#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Redis URL (optional; e.g. redis://127.0.0.1:6379; the node asks for RESP3 itself).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// The address people reach this server at, for links and QR codes.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Origins allowed to open staff sockets, comma-separated (default: the public URL's origin).
    #[arg(long, env = "ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "WORKERS")]
    pub workers: Option<usize>,
    /// Database connections per node (at least 2: the writer keeps one for its batches).
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(2..))]
    pub db_pool_size: u32,
    /// Most changes committed in one transaction.
    #[arg(long, env = "WRITE_BATCH_MAX", default_value_t = 1024)]
    pub write_batch_max: usize,
    /// Joins per minute from one client address (0: no limit; turn it off for load tests).
    #[arg(long, env = "JOIN_RATE_LIMIT", default_value_t = 60)]
    pub join_rate_limit: u32,
    /// Sign-in attempts per minute from one client address (0: no limit).
    #[arg(long, env = "LOGIN_RATE_LIMIT", default_value_t = 20)]
    pub login_rate_limit: u32,
    /// Behind a reverse proxy that appends the client to X-Forwarded-For (the last entry counts).
    #[arg(long, env = "TRUST_PROXY")]
    pub trust_proxy: bool,
    /// Blank customers' names, phones and fields this many days after their ticket finished
    /// (default: keep them).
    #[arg(long, env = "RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub retention_days: Option<u32>,
    /// Allow webhook endpoints over plain http to any host (otherwise https, or http to loopback).
    #[arg(long, env = "WEBHOOKS_ALLOW_HTTP", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub webhooks_allow_http: bool,
    /// Allow webhook endpoints inside this deployment's networks (loopback, private, link-local,
    /// unique-local, multicast addresses, and names that resolve to them): tests and development.
    #[arg(long, env = "WEBHOOKS_ALLOW_PRIVATE", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub webhooks_allow_private: bool,
    /// API requests this node works on at once, at most; past its bound, 503 `unavailable` with
    /// Retry-After, after --shed-delay-ms (0: no bound). Shedding early keeps a flash crowd that
    /// retries from collapsing the node.
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 1024)]
    pub max_in_flight: usize,
    /// The wait a request may expect, in ms: the bound of requests in flight then follows the
    /// node's pace, as many as it answers in this time (at least 128, at most --max-in-flight).
    /// 0 (the default): the bound is --max-in-flight. Not yet shown to help (BENCHMARKS.md, s9).
    #[arg(long, env = "QUEUE_TARGET_MS", default_value_t = 0)]
    pub queue_target_ms: u64,
    /// How long a request refused for capacity waits for its 503, in ms (taking no place in
    /// the bound): a client that retries at once can then send at most one request per this
    /// long on a connection, so a crowd's retries cannot take the node's CPU from the requests
    /// it took on.
    #[arg(long, env = "SHED_DELAY_MS", default_value_t = 500)]
    pub shed_delay_ms: u64,
    /// Sockets one ticket token may hold at once; a newer one closes the oldest (4409).
    #[arg(long, env = "SOCKETS_PER_TICKET", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub sockets_per_ticket: u16,
    /// Sockets one staff user may hold at once.
    #[arg(long, env = "SOCKETS_PER_USER", default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..))]
    pub sockets_per_user: u16,
    /// Sockets one device key may hold at once.
    #[arg(long, env = "SOCKETS_PER_DEVICE_KEY", default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..))]
    pub sockets_per_device_key: u16,
    /// What live sockets run on: `tungstenite` (the connection handed over by actix-http's
    /// upgrade hook) or `actix-ws` (a streaming response of actix-http's dispatcher).
    #[arg(long, env = "WS_TRANSPORT", value_enum, default_value_t = crate::ws::WsTransport::Tungstenite)]
    pub ws_transport: crate::ws::WsTransport,
    /// Connections (sockets and HTTP alike) one worker holds at once; past it, the worker stops
    /// accepting until one ends.
    #[arg(long, env = "MAX_CONNECTIONS_PER_WORKER", default_value_t = 25_600, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_worker: u32,
    /// Connections the kernel may hold for the node before it accepts them (the listen backlog;
    /// Linux caps it at `net.core.somaxconn`). A crowd of sockets reconnecting at once past it
    /// has its connections dropped, and retried by the clients' kernels 1, 3, 7 s later.
    #[arg(long, env = "LISTEN_BACKLOG", default_value_t = 16_384, value_parser = clap::value_parser!(u32).range(1..=i32::MAX as i64))]
    pub listen_backlog: u32,
    /// Whether this node sends webhooks (the outbox is filled either way; any node may send).
    #[arg(long, env = "WEBHOOKS_SENDER", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), default_value_t = true)]
    pub webhooks_sender: bool,
    /// Whether this node sends SMS and e-mails from the outbox (it is filled either way; any
    /// node may send).
    #[arg(long, env = "NOTIFY_SENDER", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), default_value_t = true)]
    pub notify_sender: bool,
    /// The SMS provider: `http` (the Messages API shape) or `kannel` (smsbox's sendsms); unset,
    /// SMS messages are recorded as failed ("channel not configured").
    #[arg(long, env = "SMS_PROVIDER", value_parser = ["http", "kannel"])]
    pub sms_provider: Option<String>,
    /// The sender number or name of SMS messages (both providers).
    #[arg(long, env = "SMS_FROM")]
    pub sms_from: Option<String>,
    /// `http`: the API's base URL (the account's Messages resource is under it).
    #[arg(long, env = "SMS_HTTP_BASE_URL")]
    pub sms_http_base_url: Option<String>,
    /// `http`: the account id.
    #[arg(long, env = "SMS_HTTP_ACCOUNT")]
    pub sms_http_account: Option<String>,
    /// `http`: the account's token.
    #[arg(long, env = "SMS_HTTP_TOKEN", hide_env_values = true)]
    pub sms_http_token: Option<String>,
    /// `kannel`: smsbox's sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms.
    #[arg(long, env = "KANNEL_SENDSMS_URL")]
    pub kannel_sendsms_url: Option<String>,
    /// `kannel`: the sendsms-user's name and password.
    #[arg(long, env = "KANNEL_USERNAME")]
    pub kannel_username: Option<String>,
    #[arg(long, env = "KANNEL_PASSWORD", hide_env_values = true)]
    pub kannel_password: Option<String>,
    /// E-mail: `smtp://[user:password@]host[:port]` (a relay without TLS); unset, e-mails are
    /// recorded as failed ("channel not configured").
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The From of e-mails, e.g. `Queuecast <queue@example.org>`.
    #[arg(long, env = "MAIL_FROM")]
    pub mail_from: Option<String>,
}

impl ServeArgs {
    /// The settings these flags describe, for a node on `database_url`.
    pub fn into_settings(self, database_url: &str) -> anyhow::Result<Settings> {
        let sms = self.sms_settings()?;
        Ok(Settings {
            listen: self.listen,
            database_url: database_url.to_owned(),
            redis_url: self.redis_url,
            public_url: self.public_url,
            allowed_origins: self.allowed_origins,
            workers: self.workers,
            retention_days: self.retention_days,
            max_in_flight: self.max_in_flight,
            queue_target: (self.queue_target_ms > 0).then(|| std::time::Duration::from_millis(self.queue_target_ms)),
            shed_delay: std::time::Duration::from_millis(self.shed_delay_ms),
            socket_caps: crate::ws::caps::SocketCaps {
                ticket: self.sockets_per_ticket.into(),
                staff: self.sockets_per_user.into(),
                device: self.sockets_per_device_key.into(),
            },
            ws_transport: self.ws_transport,
            max_connections_per_worker: self.max_connections_per_worker as usize,
            listen_backlog: self.listen_backlog as i32,
            store: StoreSettings {
                pool_size: self.db_pool_size,
                max_batch: self.write_batch_max,
                ..StoreSettings::default()
            },
            rate_limits: crate::http::limit::RateLimits {
                joins_per_minute: self.join_rate_limit,
                logins_per_minute: self.login_rate_limit,
                trust_proxy: self.trust_proxy,
                ..crate::http::limit::RateLimits::OFF
            },
            webhooks: WebhookSettings {
                allow_http: self.webhooks_allow_http,
                allow_private: self.webhooks_allow_private,
                enabled: self.webhooks_sender,
                ..WebhookSettings::default()
            },
            notify: NotifySettings {
                enabled: self.notify_sender,
                sms,
                smtp_url: self.smtp_url,
                mail_from: self.mail_from,
                ..NotifySettings::default()
            },
            ..Settings::new("", "")
        })
    }

    /// The SMS provider these flags name, with every setting it needs.
    fn sms_settings(&self) -> anyhow::Result<Option<SmsSettings>> {
        let need = |v: &Option<String>, name: &str| {
            v.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
                anyhow::anyhow!("SMS_PROVIDER={} needs {name}", self.sms_provider.as_deref().unwrap_or(""))
            })
        };
        Ok(match self.sms_provider.as_deref() {
            None => None,
            Some("http") => Some(SmsSettings::Http {
                base_url: need(&self.sms_http_base_url, "SMS_HTTP_BASE_URL")?,
                account: need(&self.sms_http_account, "SMS_HTTP_ACCOUNT")?,
                token: need(&self.sms_http_token, "SMS_HTTP_TOKEN")?,
                from: need(&self.sms_from, "SMS_FROM")?,
            }),
            Some(_) => Some(SmsSettings::Kannel {
                url: need(&self.kannel_sendsms_url, "KANNEL_SENDSMS_URL")?,
                username: need(&self.kannel_username, "KANNEL_USERNAME")?,
                password: need(&self.kannel_password, "KANNEL_PASSWORD")?,
                from: need(&self.sms_from, "SMS_FROM")?,
            }),
        })
    }
}

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen, e.g. `127.0.0.1:8080` (port 0 picks a free port).
    pub listen: String,
    pub database_url: String,
    /// Optional: without it a node runs on PostgreSQL alone.
    pub redis_url: Option<String>,
    /// The address people reach this server at, for links and QR codes; defaults to
    /// `http://<listen>`.
    pub public_url: Option<String>,
    /// Origins allowed to open staff sockets; defaults to the public URL's origin (or this
    /// server's own loopback address).
    pub allowed_origins: Vec<String>,
    /// HTTP worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    pub store: StoreSettings,
    /// Sockets are pinged this often, and closed when silent for `socket_silence`.
    pub socket_ping: std::time::Duration,
    pub socket_silence: std::time::Duration,
    /// How long after a customer's last socket on this node closed they count as away (a page
    /// reloading, a phone switching networks, is not leaving).
    pub presence_grace: std::time::Duration,
    /// How often a display socket checks that its key was not revoked.
    pub credential_recheck: std::time::Duration,
    /// Joins and sign-ins allowed per client address; off unless configured.
    pub rate_limits: crate::http::limit::RateLimits,
    /// Which live feeds run; all of them unless a test says otherwise.
    pub feeds: Option<crate::fanout::Feeds>,
    /// When set, names, phones and fields of tickets that finished more than this many days ago
    /// are blanked by the housekeeping task (tickets and their events' copies); counts and times
    /// stay. Off unless set.
    pub retention_days: Option<u32>,
    /// The webhook sender and which endpoints are allowed.
    pub webhooks: WebhookSettings,
    /// The message sender (SMS, e-mail, push) and its channels.
    pub notify: NotifySettings,
    /// API requests worked on at once, at most; past the bound, 503 at once (0: no bound).
    pub max_in_flight: usize,
    /// The wait a request may expect: the bound follows the node's pace (None: it is
    /// `max_in_flight`).
    pub queue_target: Option<std::time::Duration>,
    /// How long a request refused for capacity waits for its 503.
    pub shed_delay: std::time::Duration,
    /// How often the clock task looks for what is due (openings, closings, timeouts, expiry).
    pub clock_every: std::time::Duration,
    /// Sockets a ticket token, a staff user and a device key may hold at once.
    pub socket_caps: crate::ws::caps::SocketCaps,
    /// What live sockets run on.
    pub ws_transport: crate::ws::WsTransport,
    /// Connections one worker holds at once (actix-server's `max_concurrent_connections`).
    pub max_connections_per_worker: usize,
    /// The listen backlog asked of the kernel (see `ServeArgs::listen_backlog`).
    pub listen_backlog: i32,
}

impl Settings {
    /// Defaults for a server on `listen` against `database_url`.
    pub fn new(listen: impl Into<String>, database_url: impl Into<String>) -> Settings {
        Settings {
            listen: listen.into(),
            database_url: database_url.into(),
            redis_url: None,
            public_url: None,
            allowed_origins: Vec::new(),
            workers: None,
            store: StoreSettings::default(),
            socket_ping: std::time::Duration::from_secs(15),
            socket_silence: std::time::Duration::from_secs(45),
            presence_grace: std::time::Duration::from_secs(20),
            credential_recheck: std::time::Duration::from_secs(30),
            rate_limits: crate::http::limit::RateLimits::OFF,
            feeds: None,
            retention_days: None,
            webhooks: WebhookSettings::default(),
            notify: NotifySettings::default(),
            max_in_flight: 0,
            queue_target: None,
            shed_delay: std::time::Duration::ZERO,
            clock_every: std::time::Duration::from_secs(1),
            socket_caps: crate::ws::caps::SocketCaps::default(),
            ws_transport: crate::ws::WsTransport::default(),
            max_connections_per_worker: 25_600,
            listen_backlog: 16_384,
        }
    }
}
