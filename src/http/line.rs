//! A queue's line, page by page: what a console shows past the head of its snapshot.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::extract::Staff;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::LinePage;

/// Tickets per page at most.
const MAX_LINE_PAGE: i64 = 500;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LineQuery {
    /// The page starts after this position (0 unless told: the head of the line).
    #[serde(default)]
    #[param(minimum = 0)]
    after_position: i64,
    /// 1 to 500; 100 unless told.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

#[utoipa::path(
    get, path = "/api/v1/queues/{queue_id}/line", operation_id = "queue_line", tag = "queues",
    params(("queue_id" = Uuid, Path), LineQuery), security(("bearer" = [])),
    responses((status = 200, description = "Tickets in line order with their positions, and the seq they reflect", body = LinePage)),
)]
pub async fn line(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    q: web::Query<LineQuery>,
) -> Result<HttpResponse, ApiError> {
    let (queue, limit) = (id.into_inner(), q.limit.unwrap_or(100));
    if !(1..=MAX_LINE_PAGE).contains(&limit) || q.after_position < 0 {
        return Err(ApiError::BadRequest(format!("after_position ≥ 0; limit 1 to {MAX_LINE_PAGE}")));
    }
    // This node's live line when it has one: a page costs O(log n + limit) at any depth.
    // The hub knows no sites: a limited user's access is checked first.
    state.store.check_site(&staff.0, queue).await?;
    let live = state.fanout.line_page(staff.0.tenant_id, queue, q.after_position as usize, limit as usize).await?;
    let page = match live {
        Some(page) => page,
        None => state.store.line_page(&staff.0, queue, q.after_position, limit).await?,
    };
    Ok(HttpResponse::Ok().json(page))
}
