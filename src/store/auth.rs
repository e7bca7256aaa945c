//! Staff logins, bearer tokens and socket passes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use serde_json::json;

use super::audit::{self, Change, Via};
use super::cache::Verified;
use super::{Result, Store, StoreError};
use crate::secret;

/// Single-use socket passes live this long.
const SOCKET_PASS_TTL: chrono::Duration = chrono::Duration::seconds(60);

/// What a staff user may do: staff run the line, managers also set up queues and displays,
/// admins also define ticket types. Ordered: `Staff < Manager < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Staff,
    Manager,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "staff" => Some(Role::Staff),
            "manager" => Some(Role::Manager),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }
}

/// A signed-in staff user.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    /// The sites the user is limited to; None: every site of the tenant.
    pub locations: Option<Vec<Uuid>>,
    /// The SHA-256 of the bearer token behind this identity (none for the command line).
    pub session: Option<Vec<u8>>,
}

impl Identity {
    /// The actor recorded on events this user causes.
    pub fn actor(&self) -> String {
        if self.user_id.is_nil() {
            // The command line's.
            return "system".into();
        }
        format!("staff:{}", self.user_id)
    }

    /// Whether the user may work on a queue of `location` (a queue of no site: only users
    /// limited to none).
    pub fn may_see(&self, location: Option<Uuid>) -> bool {
        match (&self.locations, location) {
            (None, _) => true,
            (Some(mine), Some(l)) => mine.contains(&l),
            (Some(_), None) => false,
        }
    }
}

/// How a sign-in went.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    SignedIn(Login),
    Refused,
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct Login {
    pub token: String,
    pub identity: Identity,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    role: String,
    password_hash: String,
    disabled: bool,
}

impl Store {
    /// Checks a password and issues a bearer token. `Refused` for any failure, told apart by no
    /// one: unknown tenants and emails take as long as wrong passwords. Both outcomes are audited
    /// (in a tenant that exists).
    #[tracing::instrument(skip(self, password, via))]
    pub async fn login(&self, tenant_slug: &str, email: &str, password: &str, via: &Via) -> Result<LoginOutcome> {
        let email = email.trim().to_lowercase();
        let mut tx = self.pool.begin().await?;
        let tenant: Option<String> =
            sqlx::query_scalar("SELECT set_config('app.tenant_id', coalesce(qc_tenant_by_slug($1)::text, ''), true)")
                .bind(tenant_slug)
                .fetch_one(&mut *tx)
                .await?;
        let tenant = tenant.and_then(|t| t.parse::<Uuid>().ok());
        let user: Option<UserRow> = match tenant {
            Some(_) => {
                sqlx::query_as(
                    "SELECT id, email, role, password_hash, disabled_at IS NOT NULL AS disabled \
                     FROM users WHERE email = $1",
                )
                .bind(&email)
                .fetch_optional(&mut *tx)
                .await?
            }
            None => None,
        };
        tx.commit().await?;

        let hash = user.as_ref().map_or_else(|| secret::dummy_password_hash().to_owned(), |u| u.password_hash.clone());
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || secret::verify_password(&password, &hash))
            .await
            .map_err(|e| StoreError::Other(e.into()))?;
        let Some(tenant) = tenant else { return Ok(LoginOutcome::Refused) };
        let signed_in = user.filter(|u| ok && !u.disabled).and_then(|u| Some((Role::parse(&u.role)?, u)));
        let Some((role, user)) = signed_in else {
            // A failed sign-in to a tenant that exists is on its record: the email tried, never
            // the password (nor whether the account exists).
            let change = Change { entity_id: None, ..Change::new("auth.login_failed", "user", "") }
                .after(json!({"email": email}));
            let mut tx = self.begin(tenant).await?;
            audit::record(&mut tx, tenant, "anonymous", via, change).await?;
            tx.commit().await?;
            return Ok(LoginOutcome::Refused);
        };

        let token = secret::new_token();
        let session = secret::hash_token(&token);
        let expires_at = Utc::now() + self.staff_token_ttl;
        let mut tx = self.begin(tenant).await?;
        sqlx::query("INSERT INTO staff_tokens (token_hash, tenant_id, user_id, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&session)
            .bind(tenant)
            .bind(user.id)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        let locations = user_locations(&mut tx, user.id).await?;
        let change = Change::new("auth.login", "user", user.id).after(json!({"email": user.email}));
        audit::record(&mut tx, tenant, &format!("staff:{}", user.id), via, change).await?;
        tx.commit().await?;
        let identity = Identity {
            user_id: user.id,
            tenant_id: tenant,
            email: user.email,
            role,
            expires_at,
            locations,
            session: Some(session),
        };
        Ok(LoginOutcome::SignedIn(Login { token, identity }))
    }

    /// The staff user a bearer token belongs to, if it is valid now. A token checked less than
    /// [`STAFF_TOKEN_TTL`](super::cache::STAFF_TOKEN_TTL) ago is taken from memory; one checked
    /// more than [`STAFF_TOKEN_RECHECK`](super::cache::STAFF_TOKEN_RECHECK) ago is also checked
    /// again, off this request.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, token: &str) -> Result<Option<Identity>> {
        let hash = secret::hash_token(token);
        match self.caches.staff.get(&hash, self.clock.now()) {
            Verified::Fresh(identity) => Ok(Some(identity)),
            Verified::Due(identity) => {
                if self.caches.staff.claim_check(&hash) {
                    let store = self.clone();
                    tokio::spawn(async move {
                        if let Err(err) = store.check_staff_token(&hash).await {
                            // Still trusted until its time is up; the next request tries again.
                            tracing::debug!(cause = ?err, "checking a staff token again failed");
                        }
                        store.caches.staff.checked(&hash);
                    });
                }
                Ok(Some(identity))
            }
            Verified::Unknown => self.check_staff_token(&hash).await,
        }
    }

    /// Reads the sign-in behind a token's hash, and keeps what it found (or forgets the token).
    async fn check_staff_token(&self, hash: &[u8]) -> Result<Option<Identity>> {
        let epoch = self.caches.staff.epoch();
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('app.tenant_id', coalesce(qc_tenant_of_staff_token($1)::text, ''), true)")
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        type Row = (Uuid, Uuid, String, String, DateTime<Utc>, Option<Vec<Uuid>>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT u.id, u.tenant_id, u.email, u.role, st.expires_at, \
                    (SELECT array_agg(ul.location_id) FROM user_locations ul WHERE ul.user_id = u.id) \
             FROM staff_tokens st JOIN users u ON u.id = st.user_id \
             WHERE st.token_hash = $1 AND st.expires_at > now() AND u.disabled_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let identity = row.and_then(|(user_id, tenant_id, email, role, expires_at, locations)| {
            let role = Role::parse(&role)?;
            Some(Identity { user_id, tenant_id, email, role, expires_at, locations, session: Some(hash.to_vec()) })
        });
        match &identity {
            Some(identity) => self.caches.staff.remember(hash.to_vec(), identity.clone(), self.clock.now(), epoch),
            None => self.caches.staff.forget(hash),
        }
        Ok(identity)
    }

    /// A single-use pass, valid for 60 seconds, that opens a staff socket.
    #[tracing::instrument(skip(self, who), fields(user = %who.user_id))]
    pub async fn create_socket_pass(&self, who: &Identity) -> Result<(String, DateTime<Utc>)> {
        let pass = secret::new_token();
        let expires_at = Utc::now() + SOCKET_PASS_TTL;
        let mut tx = self.begin(who.tenant_id).await?;
        sqlx::query(
            "INSERT INTO socket_passes (pass_hash, tenant_id, user_id, expires_at, token_expires_at, token_hash) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(secret::hash_token(&pass))
        .bind(who.tenant_id)
        .bind(who.user_id)
        .bind(expires_at)
        .bind(who.expires_at)
        .bind(&who.session)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((pass, expires_at))
    }
}

/// The sites a user is limited to; None: every site.
pub(super) async fn user_locations(conn: &mut sqlx::PgConnection, user: Uuid) -> Result<Option<Vec<Uuid>>> {
    Ok(sqlx::query_scalar("SELECT array_agg(location_id) FROM user_locations WHERE user_id = $1")
        .bind(user)
        .fetch_one(conn)
        .await?)
}
