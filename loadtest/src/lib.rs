//! Queuecast's load generator, as a library so the test suite can run a scenario at small scale.
//!
//! Only ever point it at servers on this machine (loopback): every entry point checks.

pub mod api;
pub mod chart;
pub mod depth;
pub mod fill;
pub mod floor;
pub mod procstat;
pub mod retry;
pub mod sockets;
pub mod table;
pub mod worker;
pub mod write;
