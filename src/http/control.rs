//! Line control: a customer stepping back, staff moving a ticket or changing its priority or
//! notes, a ticket's history, and feedback once it ended.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::Staff;
use super::tickets::{access, TokenQuery};
use super::AppState;
use crate::domain::{Event, Ticket};
use crate::error::ApiError;
use crate::store::{Feedback, MoveTo, TicketAccess, TicketPatch};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"places": 3}))]
pub struct SnoozeBody {
    /// How many places to step back (among those of the same priority), within the queue's
    /// `settings.snooze.max_places`.
    #[schema(minimum = 1)]
    places: u32,
}

/// The ticket's own token: a customer's action, not staff's.
fn token_only(who: TicketAccess) -> Result<String, ApiError> {
    match who {
        TicketAccess::Token(token) => Ok(token),
        TicketAccess::Staff(_) => {
            Err(ApiError::Forbidden("only the ticket's customer does this, with its token".into()))
        }
    }
}

#[utoipa::path(
    post, path = "/api/v1/tickets/{ticket_id}/snooze", operation_id = "snooze_ticket", tag = "tickets",
    params(("ticket_id" = Uuid, Path), TokenQuery), security(("ticket_token" = [])), request_body = SnoozeBody,
    responses((status = 200, description = "Moved back in line (event `ticket.snoozed`)", body = Ticket)),
)]
pub async fn snooze(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
    body: web::Json<SnoozeBody>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let token = token_only(access(&state, &req, id, q.into_inner().token).await?.0)?;
    Ok(HttpResponse::Ok().json(state.placed(state.store.snooze(id, &token, body.places).await?).await?))
}

/// Where to move a ticket: exactly one of the two.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"position": 1}))]
pub struct MoveBody {
    /// The position to move to (1 = next), up to the length of the line.
    #[schema(minimum = 1)]
    position: Option<u32>,
    /// A ticket of the same line to go just ahead of.
    before: Option<Uuid>,
}

#[utoipa::path(
    post, path = "/api/v1/tickets/{ticket_id}/move", operation_id = "move_ticket", tag = "tickets",
    params(("ticket_id" = Uuid, Path)), security(("bearer" = [])), request_body = MoveBody,
    responses((status = 200, description = "Moved within its line (event `ticket.moved`). A ticket moved among others of \
               another priority takes theirs, so the line stays in order", body = Ticket)),
)]
pub async fn move_ticket(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    body: web::Json<MoveBody>,
) -> Result<HttpResponse, ApiError> {
    let to = match (body.position, body.before) {
        (Some(n), None) => MoveTo::Position(n),
        (None, Some(other)) => MoveTo::Before(other),
        _ => return Err(ApiError::BadRequest("give either position or before".into())),
    };
    Ok(HttpResponse::Ok().json(state.placed(state.store.move_within(&staff.0, id.into_inner(), to).await?).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"priority": 5, "notes": "Wheelchair: call to desk 1"}))]
pub struct TicketPatchBody {
    /// 0 to 9; higher is served first.
    #[schema(minimum = 0, maximum = 9)]
    priority: Option<i16>,
    /// Staff's notes (empty or null clears them); never shown to the customer.
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(value_type = Option<String>)]
    notes: Option<Option<String>>,
}

#[utoipa::path(
    patch, path = "/api/v1/tickets/{ticket_id}", operation_id = "update_ticket", tag = "tickets",
    params(("ticket_id" = Uuid, Path)), security(("bearer" = [])), request_body = TicketPatchBody,
    responses((status = 200, description = "Changed (event `ticket.updated`), with its notes", body = Ticket)),
)]
pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    body: web::Json<TicketPatchBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let notes = match b.notes {
        Some(Some(n)) => Some(crate::domain::control::notes(n).map_err(ApiError::BadRequest)?),
        other => other,
    };
    let patch = TicketPatch { priority: b.priority, notes };
    Ok(HttpResponse::Ok().json(state.placed(state.store.update_ticket(&staff.0, id.into_inner(), patch).await?).await?))
}

#[utoipa::path(
    get, path = "/api/v1/tickets/{ticket_id}/history", operation_id = "ticket_history", tag = "tickets",
    params(("ticket_id" = Uuid, Path), TokenQuery), security(("ticket_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The ticket's events in order, across the queues it was in (its customer \
               sees staff's actions as actor `staff`)", body = [Event])),
)]
pub async fn history(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (who, _) = access(&state, &req, id, q.into_inner().token).await?;
    Ok(HttpResponse::Ok().json(state.store.ticket_history(id, &who).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"rating": 5, "comment": "Quick and friendly"}))]
pub struct FeedbackBody {
    #[schema(minimum = 1, maximum = 5)]
    rating: i64,
    #[schema(max_length = 1000)]
    comment: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/tickets/{ticket_id}/feedback", operation_id = "give_feedback", tag = "tickets",
    params(("ticket_id" = Uuid, Path), TokenQuery), security(("ticket_token" = [])), request_body = FeedbackBody,
    responses((status = 201, description = "Thanks: given once, after the ticket ended", body = Feedback)),
)]
pub async fn give_feedback(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
    body: web::Json<FeedbackBody>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let token = token_only(access(&state, &req, id, q.into_inner().token).await?.0)?;
    let b = body.into_inner();
    Ok(HttpResponse::Created().json(state.store.give_feedback(id, &token, b.rating, b.comment).await?))
}

#[utoipa::path(
    get, path = "/api/v1/tickets/{ticket_id}/feedback", operation_id = "get_feedback", tag = "tickets",
    params(("ticket_id" = Uuid, Path), TokenQuery), security(("ticket_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The feedback given, or null when none yet", body = Option<Feedback>)),
)]
pub async fn feedback(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (who, _) = access(&state, &req, id, q.into_inner().token).await?;
    Ok(HttpResponse::Ok().json(state.store.feedback(id, &who).await?))
}
