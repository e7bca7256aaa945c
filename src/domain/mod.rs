//! Pure logic: no database, no sockets, no clocks of its own. Everything here is tested with
//! plain values.

pub mod appointment;
pub mod control;
pub mod device;
pub mod embed;
pub mod estimate;
pub mod event;
pub mod fsm;
pub mod hours;
pub mod line;
pub mod message;
pub mod notify;
pub mod password;
pub mod queue;
pub mod ticket;
pub mod timing;
pub mod view;

pub use device::{Device, DeviceKind};
pub use estimate::{CallHistory, Estimate};
pub use event::{Event, EventKind, Notification, Presence, Revocation};
pub use fsm::{Fsm, FsmError, Roles, Special};
pub use hours::{Hours, HoursError};
pub use line::{Key, Line};
pub use message::{Announce, ServerMessage, TicketFrames};
pub use queue::{JoinRefusal, Queue, QueueStatus};
pub use ticket::{Ticket, TicketView};
pub use timing::{NumberReset, Timing};
pub use view::{Board, Details, Held, QueueView, Waiting};
