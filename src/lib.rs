//! Queuecast: a real-time virtual queue server.
//!
//! A tour, in reading order:
//!
//! - [`domain`]: the pure logic. Ticket state machines, the ticket view, events and the NOTIFY
//!   payloads that carry them, queue admission, wait estimates. No I/O.
//! - [`store`]: all SQL. Reads run in tenant-scoped transactions under row-level security; every
//!   change goes through the [`store::writer`], which batches concurrent changes into one
//!   transaction per moment: numbered events, one NOTIFY, one commit, then the answers.
//! - [`http`]: the REST API of `PROTOCOL.md`: routes, auth extractors, problem+json errors, health,
//!   `/metrics` and the OpenAPI document with its explorer.
//! - [`fanout`]: one hub per live queue, fed by this node's commits, PostgreSQL NOTIFY, Redis
//!   pub/sub and a safety-net poll; each event applied once, in seq order, and broadcast,
//!   serialized once per audience.
//! - [`ws`]: the customer, staff and display sockets: one session loop over a transport seam,
//!   run by default on the connection actix-http's upgrade hook hands over (tungstenite, off the
//!   dispatcher and its buffers), or over actix-ws (`WS_TRANSPORT=actix-ws`).
//! - [`state`] and [`error`]: what handlers and sockets share, and the problem+json error both
//!   answer with.
//! - [`webhooks`]: the sender that drains the webhook outbox the writer fills, with signed,
//!   retried requests.
//! - [`notify`]: the sender that drains the message outbox the writer fills, through SMS
//!   providers and SMTP, with retries, stale messages dropped and delivery receipts.
//! - [`tasks`]: the one owner of a node's background tasks, and how they stop.
//! - [`startup`]: wires the store and the HTTP server into an [`startup::Application`]; the
//!   server is built from actix-server and actix-http as actix-web's `HttpServer` builds it, plus
//!   the upgrade hook.
//! - [`schedule`]: the clock task that applies queues' hours, called timeouts and expiry, once
//!   across nodes; [`clock`]: the one time it goes by, which tests move.
//! - [`config`]: settings from flags and the environment; [`demo`]: the demo tenant.
//! - [`secret`]: tokens, hashes and passwords.

pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod fanout;
pub mod http;
pub mod notify;
pub mod retry;
pub mod schedule;
pub mod secret;
pub mod startup;
pub mod state;
pub mod store;
pub mod tasks;
pub mod webhooks;
pub mod ws;
