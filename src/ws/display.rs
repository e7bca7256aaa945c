//! The display socket: the board of a queue after every change, numbers and counters only;
//! opened by a device key, closed once the key is withdrawn.

use std::future::Future;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::session::{Audience, Start, Step};
use super::{accept, close, refusal, Access, Opening, Refusal};
use crate::domain::DeviceKind;
use crate::error::ApiError;
use crate::fanout::{Frame, Hub};
use crate::state::AppState;

/// `since=` is accepted and needs nothing: a display always starts from the board as it is now.
#[derive(Deserialize)]
pub struct KeyQuery {
    key: String,
}

pub async fn display(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    queue: web::Path<Uuid>,
    q: web::Query<KeyQuery>,
) -> Result<HttpResponse, ApiError> {
    accept(&req, body, state, DisplaySocket { queue: queue.into_inner(), key: q.into_inner().key })
}

/// A display socket: opened by a device key for this queue, closed once the key is withdrawn.
struct DisplaySocket {
    queue: Uuid,
    key: String,
}

impl Opening for DisplaySocket {
    type Grant = ();
    type Audience = DisplayAudience;

    async fn authorize(&self, state: &AppState) -> Result<Access<()>, Refusal> {
        // A display key that covers this queue (a kiosk's key opens no screen).
        match state.store.open_device(&self.key).await {
            Ok(Some(d)) if d.covers(DeviceKind::Display, self.queue) => {
                Ok(Access { tenant: d.tenant_id, queue: self.queue, grant: () })
            }
            Ok(_) => Err((close::UNAUTHORIZED, "the key does not open this display")),
            Err(e) => Err(refusal(&e)),
        }
    }

    async fn start(&self, _: &Arc<AppState>, hub: Arc<Hub>, _: &()) -> Result<Start<DisplayAudience>, Refusal> {
        let (rx, board) = hub.subscribe_display();
        Ok(Start { rx, first: vec![board], audience: DisplayAudience { hub } })
    }

    fn credential(&self, _: &(), caps: &super::caps::SocketCaps) -> (String, usize) {
        (format!("key:{}", crate::secret::hex(&crate::secret::hash_token(&self.key))), caps.device)
    }

    fn revoked(self, _: (), state: &AppState) -> impl Future<Output = &'static str> + Send + use<> {
        let (store, every) = (state.store.clone(), state.settings.credential_recheck);
        let DisplaySocket { queue, key } = self;
        async move {
            loop {
                tokio::time::sleep(every).await;
                // Unknown (the database unreachable) is not revoked.
                if let Ok(d) = store.open_device(&key).await {
                    if d.is_none_or(|d| !d.covers(DeviceKind::Display, queue)) {
                        return "the display key was revoked";
                    }
                }
            }
        }
    }
}

/// Displays: the board after every change, numbers and counters only.
struct DisplayAudience {
    hub: Arc<Hub>,
}

impl Audience for DisplayAudience {
    const KIND: &'static str = "display";

    async fn on_frame(&mut self, frame: &Frame) -> Step {
        (frame.display.clone(), None)
    }

    async fn on_lag(&mut self) -> Step {
        (Some(self.hub.display()), None)
    }
}
