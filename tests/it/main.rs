//! Every integration test, in one test binary: one link instead of one per file, and a tenth of
//! the disk (each binary carries the whole server). A file per area, as before, each a module
//! here; `common` is what they share. Run one area with `cargo nextest run -E 'test(/^pages::/)'`.

mod common;

mod abuse;
mod admin;
mod analytics;
mod appointments;
mod audit;
mod booking;
mod caps;
mod concurrency;
mod control;
mod depth;
mod desk;
mod faults;
mod framing;
mod hours;
mod inputs;
mod inside;
mod isolation;
mod kiosk;
mod lifecycle;
mod limits;
mod live;
mod loadtest;
mod logs;
mod metrics;
mod model;
mod notifications;
mod notify;
mod openapi;
mod pages;
mod queues;
mod redis;
mod replays;
mod restart;
mod schemathesis;
mod shutdown;
mod sites;
mod storm;
mod timers;
mod topology;
mod transport;
mod users;
mod webhooks;
mod workflow;
