//! Setting up tenants, users and queues from the command line (and the demo).

use uuid::Uuid;

use super::queues::NewQueue;
use super::{unique_violation, Identity, Result, Role, Store, StoreError};
use crate::domain::fsm::default_type_json;
use crate::domain::queue::valid_slug;
use crate::domain::Queue;

/// A new tenant and its first admin.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub admin_email: String,
    pub admin_password: String,
}

/// Checks and hashes the password a new account starts with.
async fn hash_password(password: &str, email: &str) -> Result<String> {
    super::users::check_password(password, email)?;
    super::users::hash(password).await
}

pub(super) fn check_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    match email.split_once('@') {
        Some((user, domain)) if !user.is_empty() && domain.contains('.') && email.len() <= 320 => Ok(email),
        _ => Err(StoreError::Invalid(format!("`{email}` is not an email address"))),
    }
}

impl Store {
    /// Creates a tenant with the built-in `default` ticket type and an admin.
    #[tracing::instrument(skip(self, new), fields(slug = %new.slug))]
    pub async fn create_tenant(&self, new: NewTenant) -> Result<Uuid> {
        if !valid_slug(&new.slug) {
            return Err(StoreError::Invalid("slug: lowercase letters, digits and dashes".into()));
        }
        let email = check_email(&new.admin_email)?;
        let hash = hash_password(&new.admin_password, &email).await?;
        let id = Uuid::new_v4();
        let mut tx = self.begin(id).await?;
        sqlx::query("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(&new.slug)
            .bind(new.name.trim())
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_violation(e, format!("a tenant with slug `{}`", new.slug)))?;
        sqlx::query(
            "INSERT INTO ticket_types (id, tenant_id, code, name, fsm) VALUES ($1, $2, 'default', 'Standard', $3)",
        )
        .bind(Uuid::new_v4())
        .bind(id)
        .bind(default_type_json())
        .execute(&mut *tx)
        .await?;
        insert_user(&mut tx, id, &email, &hash, Role::Admin).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Adds a user to a tenant.
    #[tracing::instrument(skip_all)]
    pub async fn create_user(&self, tenant_slug: &str, email: &str, password: &str, role: Role) -> Result<Uuid> {
        let tenant = self.tenant_by_slug(tenant_slug).await?.ok_or(StoreError::NotFound)?;
        let email = check_email(email)?;
        let hash = hash_password(password, &email).await?;
        let mut tx = self.begin(tenant).await?;
        let id = insert_user(&mut tx, tenant, &email, &hash, role).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Creates a queue in a tenant named by slug.
    #[tracing::instrument(skip_all)]
    pub async fn create_queue_for(&self, tenant_slug: &str, new: NewQueue) -> Result<Queue> {
        let tenant = self.tenant_by_slug(tenant_slug).await?.ok_or(StoreError::NotFound)?;
        self.create_queue(&system(tenant), &super::Via::default(), new).await
    }

    /// The queues of a tenant named by slug.
    #[tracing::instrument(skip_all)]
    pub async fn queues_of(&self, tenant_slug: &str) -> Result<Vec<Queue>> {
        let tenant = self.tenant_by_slug(tenant_slug).await?.ok_or(StoreError::NotFound)?;
        self.list_queues(&system(tenant)).await
    }

    /// Deletes expired idempotency records, staff tokens and socket passes; how many.
    #[tracing::instrument(skip_all)]
    pub async fn purge_expired(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT qc_purge_expired()").fetch_one(&self.pool).await?)
    }

    /// One round of retention for `what`: blanks at most `batch` of its rows older than `days`
    /// (through its function, run as the retention role); how many changed.
    pub async fn blank_old(&self, what: Retained, days: u32, batch: u32) -> Result<i64> {
        Ok(sqlx::query_scalar(what.statement())
            .bind(i32::try_from(days).unwrap_or(i32::MAX))
            .bind(i32::try_from(batch).unwrap_or(i32::MAX))
            .fetch_one(&self.pool)
            .await?)
    }

    /// The tenant with this slug.
    #[tracing::instrument(skip_all)]
    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Uuid>> {
        Ok(sqlx::query_scalar("SELECT qc_tenant_by_slug($1)").bind(slug).fetch_one(&self.pool).await?)
    }
}

/// The identity of the command line: acts in one tenant with every right.
fn system(tenant_id: Uuid) -> Identity {
    Identity {
        user_id: Uuid::nil(),
        tenant_id,
        email: "system".into(),
        role: Role::Admin,
        expires_at: chrono::DateTime::<chrono::Utc>::MAX_UTC,
        locations: None,
        session: None,
    }
}

async fn insert_user(conn: &mut sqlx::PgConnection, tenant: Uuid, email: &str, hash: &str, role: Role) -> Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO users (id, tenant_id, email, password_hash, role) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(tenant)
        .bind(email)
        .bind(hash)
        .bind(role.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| unique_violation(e, format!("a user with email `{email}`")))?;
    Ok(id)
}

/// What retention blanks, each by a function of its own that runs as the retention role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retained {
    /// Names, phones and fields of finished tickets, and their events' copies (migration 0005).
    Tickets,
    /// Names and contacts of bookings whose time ended, their events' copies and reminders'
    /// recipients (0062).
    Bookings,
    /// Staff notes of blanked tickets and feedback comments (0060).
    Notes,
    /// The outbox's recipients and the contacts of finished tickets (0030).
    Recipients,
}

impl Retained {
    /// In the order a round goes: notes follow their tickets' blanking.
    pub const ALL: [Retained; 4] = [Retained::Tickets, Retained::Bookings, Retained::Notes, Retained::Recipients];

    fn statement(self) -> &'static str {
        match self {
            Retained::Tickets => "SELECT qc_anonymise_finished($1, $2)",
            Retained::Bookings => "SELECT qc_blank_appointments($1, $2)",
            Retained::Notes => "SELECT qc_blank_notes($1, $2)",
            Retained::Recipients => "SELECT qc_blank_notifications($1, $2)",
        }
    }
}
