//! Settings from flags and the environment.

use crate::store::StoreSettings;
use crate::webhooks::WebhookSettings;

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
            credential_recheck: std::time::Duration::from_secs(30),
            rate_limits: crate::http::limit::RateLimits::OFF,
            feeds: None,
            retention_days: None,
            webhooks: WebhookSettings::default(),
        }
    }
}
