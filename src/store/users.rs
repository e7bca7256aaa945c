//! Staff accounts as admins manage them: list, create, change, disable; signing out; changing
//! and resetting passwords. Every change is audited in its own transaction, and a change to who
//! may do what is announced (`Notification::Revoked`) so every node forgets its cached sign-ins
//! and re-checks the user's sockets at once.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::audit::{self, Change, Via};
use super::{unique_violation, Conflict, Identity, Result, Role, Store, StoreError};
use crate::domain::{password, Notification, Revocation};
use crate::secret;

/// A password reset code works this long.
const RESET_TTL: chrono::Duration = chrono::Duration::hours(24);

/// A staff account, as admins see it (never its password hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "7d1e0c52-8f5a-4b7e-9a31-2c44e0f1d9b6", "email": "desk@acme.test", "role": "staff",
    "display_name": "Front desk", "disabled": false, "disabled_at": null,
    "location_ids": ["5f0c3a52-1d2e-4f3a-8b4c-5d6e7f8a9b0c"], "created_at": "2026-11-23T08:00:00Z"
}))]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub display_name: Option<String>,
    pub disabled: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    /// The sites the user is limited to; empty: every site.
    pub location_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    role: String,
    display_name: Option<String>,
    disabled_at: Option<DateTime<Utc>>,
    location_ids: Vec<Uuid>,
    created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> User {
        User {
            id: r.id,
            email: r.email,
            // The column's CHECK allows only the three roles.
            role: Role::parse(&r.role).unwrap_or(Role::Staff),
            display_name: r.display_name,
            disabled: r.disabled_at.is_some(),
            disabled_at: r.disabled_at,
            location_ids: r.location_ids,
            created_at: r.created_at,
        }
    }
}

const USER_SELECT: &str = "SELECT u.id, u.email, u.role, u.display_name, u.disabled_at, u.created_at, \
       coalesce((SELECT array_agg(ul.location_id ORDER BY ul.location_id) FROM user_locations ul \
                 WHERE ul.user_id = u.id), '{}') AS location_ids \
     FROM users u";

/// A new account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub password: String,
    pub role: Role,
    pub display_name: Option<String>,
    pub location_ids: Vec<Uuid>,
}

/// What to change of an account; absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub role: Option<Role>,
    /// Some(None) removes the name.
    pub display_name: Option<Option<String>>,
    pub disabled: Option<bool>,
    pub location_ids: Option<Vec<Uuid>>,
}

/// Checks a password a person chose, for the account `email`.
pub(super) fn check_password(password: &str, email: &str) -> Result<()> {
    password::check(password, email).map_err(|weak| StoreError::Rejected("weak_password", weak.to_string()))
}

/// Hashes a password off the async threads.
pub(super) async fn hash(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || secret::hash_password(&password))
        .await
        .map_err(|e| StoreError::Other(e.into()))?
        .map_err(StoreError::Other)
}

async fn verify(password: &str, hash: String) -> Result<bool> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || secret::verify_password(&password, &hash))
        .await
        .map_err(|e| StoreError::Other(e.into()))
}

fn check_display_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(StoreError::Invalid("display_name: 1 to 200 characters".into()));
    }
    Ok(())
}

/// Tells every node (this one included, through its own listener) that `user`'s sign-ins
/// changed; sent when the transaction commits.
async fn announce(conn: &mut PgConnection, user: Uuid) -> Result<()> {
    let payload = serde_json::to_string(&Notification::Revoked(Revocation { user })).map_err(anyhow::Error::from)?;
    sqlx::query("SELECT pg_notify('queuecast', $1)").bind(payload).execute(conn).await?;
    Ok(())
}

async fn fetch_user(conn: &mut PgConnection, id: Uuid) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{USER_SELECT} WHERE u.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(User::from))
}

/// Limits a user to `locations` (none: every site). An id that is no site of the tenant is
/// refused: the foreign key names tenant and site together, so another tenant's site fails too.
async fn set_locations(conn: &mut PgConnection, tenant: Uuid, user: Uuid, locations: &[Uuid]) -> Result<()> {
    sqlx::query("DELETE FROM user_locations WHERE user_id = $1").bind(user).execute(&mut *conn).await?;
    let mut ids = locations.to_vec();
    ids.sort();
    ids.dedup();
    sqlx::query("INSERT INTO user_locations (tenant_id, user_id, location_id) SELECT $1, $2, unnest($3::uuid[])")
        .bind(tenant)
        .bind(user)
        .bind(&ids)
        .execute(&mut *conn)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::Rejected("unknown_location", "location_ids: no such location".into())
            }
            _ => StoreError::Db(e),
        })?;
    Ok(())
}

impl Store {
    /// The tenant's accounts, by email.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
    pub async fn list_users(&self, who: &Identity) -> Result<Vec<User>> {
        let mut tx = self.begin(who.tenant_id).await?;
        let rows: Vec<UserRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{USER_SELECT} ORDER BY u.email"))).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    /// One account of the tenant.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, id = %id))]
    pub async fn user(&self, who: &Identity, id: Uuid) -> Result<User> {
        let mut tx = self.begin(who.tenant_id).await?;
        let user = fetch_user(&mut tx, id).await?;
        tx.commit().await?;
        user.ok_or(StoreError::NotFound)
    }

    /// Adds an account to the admin's tenant.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
    pub async fn add_user(&self, who: &Identity, via: &Via, new: NewUser) -> Result<User> {
        let email = super::admin::check_email(&new.email)?;
        if let Some(name) = &new.display_name {
            check_display_name(name)?;
        }
        check_password(&new.password, &email)?;
        let password_hash = hash(&new.password).await?;
        let id = Uuid::new_v4();
        let mut tx = self.begin(who.tenant_id).await?;
        sqlx::query(
            "INSERT INTO users (id, tenant_id, email, password_hash, role, display_name) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(who.tenant_id)
        .bind(&email)
        .bind(&password_hash)
        .bind(new.role.as_str())
        .bind(new.display_name.as_deref().map(str::trim))
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, format!("a user with email `{email}`")))?;
        set_locations(&mut tx, who.tenant_id, id, &new.location_ids).await?;
        let user = fetch_user(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        audit::record(&mut tx, who.tenant_id, &who.actor(), via, Change::new("user.created", "user", id).after(&user))
            .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Changes an account's role, name, sites or whether it is disabled. Disabling ends its
    /// sign-ins (every token, every socket, on every node); the tenant's last enabled admin can
    /// neither be disabled nor demoted (409 `last_admin`).
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, id = %id))]
    pub async fn update_user(&self, who: &Identity, via: &Via, id: Uuid, patch: UserPatch) -> Result<User> {
        if let Some(Some(name)) = &patch.display_name {
            check_display_name(name)?;
        }
        let mut tx = self.begin(who.tenant_id).await?;
        // Every enabled admin's row, locked in one order: two admins demoting each other at once
        // take turns, and the second sees the first's change.
        let admins: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id FOR UPDATE",
        )
        .fetch_all(&mut *tx)
        .await?;
        let before = fetch_user(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        let stays_admin =
            patch.role.unwrap_or(before.role) == Role::Admin && !patch.disabled.unwrap_or(before.disabled);
        if admins.contains(&id) && !stays_admin && admins.len() == 1 {
            return Err(Conflict::LastAdmin.into());
        }
        sqlx::query(
            "UPDATE users SET role = coalesce($2, role), \
                    display_name = CASE WHEN $3 THEN $4 ELSE display_name END, \
                    disabled_at = CASE WHEN $5 IS NULL THEN disabled_at \
                                       WHEN $5 THEN coalesce(disabled_at, now()) ELSE NULL END \
             WHERE id = $1",
        )
        .bind(id)
        .bind(patch.role.map(Role::as_str))
        .bind(patch.display_name.is_some())
        .bind(patch.display_name.clone().flatten().map(|n| n.trim().to_owned()))
        .bind(patch.disabled)
        .execute(&mut *tx)
        .await?;
        if let Some(locations) = &patch.location_ids {
            set_locations(&mut tx, who.tenant_id, id, locations).await?;
        }
        let disabling = patch.disabled == Some(true) && !before.disabled;
        if disabling {
            end_sign_ins(&mut tx, id, None).await?;
        }
        let after = fetch_user(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        let action = match (before.disabled, after.disabled) {
            (false, true) => "user.disabled",
            (true, false) => "user.enabled",
            _ => "user.updated",
        };
        let change = Change::new(action, "user", id).before(&before).after(&after);
        audit::record(&mut tx, who.tenant_id, &who.actor(), via, change).await?;
        let access_changed =
            before.role != after.role || before.disabled != after.disabled || before.location_ids != after.location_ids;
        if access_changed {
            announce(&mut tx, id).await?;
        }
        tx.commit().await?;
        if access_changed {
            self.forget_user(id);
        }
        Ok(after)
    }

    /// Ends the sign-in behind `who` (its token stops working on every node at once).
    #[tracing::instrument(skip_all, fields(user = %who.user_id))]
    pub async fn logout(&self, who: &Identity, via: &Via) -> Result<()> {
        let Some(session) = &who.session else { return Ok(()) };
        let mut tx = self.begin(who.tenant_id).await?;
        sqlx::query("DELETE FROM staff_tokens WHERE token_hash = $1").bind(session).execute(&mut *tx).await?;
        let change = Change::new("auth.logout", "user", who.user_id);
        audit::record(&mut tx, who.tenant_id, &who.actor(), via, change).await?;
        announce(&mut tx, who.user_id).await?;
        tx.commit().await?;
        self.forget_user(who.user_id);
        Ok(())
    }

    /// Changes one's own password, given the current one; the user's other sign-ins end.
    #[tracing::instrument(skip_all, fields(user = %who.user_id))]
    pub async fn change_password(&self, who: &Identity, via: &Via, current: &str, new: &str) -> Result<()> {
        let mut tx = self.begin(who.tenant_id).await?;
        let hash_now: Option<String> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(who.user_id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        let hash_now = hash_now.ok_or(StoreError::NotFound)?;
        if !verify(current, hash_now).await? {
            return Err(StoreError::Rejected("wrong_password", "current: not the account's password".into()));
        }
        check_password(new, &who.email)?;
        if current == new {
            return Err(StoreError::Rejected("weak_password", "the new password is the current one".into()));
        }
        let new_hash = hash(new).await?;
        let mut tx = self.begin(who.tenant_id).await?;
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(who.user_id)
            .bind(&new_hash)
            .execute(&mut *tx)
            .await?;
        end_sign_ins(&mut tx, who.user_id, who.session.as_deref()).await?;
        let change = Change::new("user.password_changed", "user", who.user_id);
        audit::record(&mut tx, who.tenant_id, &who.actor(), via, change).await?;
        announce(&mut tx, who.user_id).await?;
        tx.commit().await?;
        self.forget_user(who.user_id);
        Ok(())
    }

    /// A one-time code with which the user sets a new password (`POST /auth/reset`), valid for a
    /// day; shown to the admin once, stored only as a hash. Earlier unused codes stop working.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, id = %id))]
    pub async fn issue_password_reset(&self, who: &Identity, via: &Via, id: Uuid) -> Result<(String, DateTime<Utc>)> {
        let code = secret::new_token();
        let expires_at = Utc::now() + RESET_TTL;
        let mut tx = self.begin(who.tenant_id).await?;
        fetch_user(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM password_resets WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO password_resets (code_hash, tenant_id, user_id, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(secret::hash_token(&code))
            .bind(who.tenant_id)
            .bind(id)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        let change =
            Change::new("user.password_reset_issued", "user", id).after(serde_json::json!({"expires_at": expires_at}));
        audit::record(&mut tx, who.tenant_id, &who.actor(), via, change).await?;
        tx.commit().await?;
        Ok((code, expires_at))
    }

    /// Sets a new password with a reset code; every sign-in of the user ends. False when the
    /// tenant, email or code do not match a live code (told apart by no one).
    #[tracing::instrument(skip_all)]
    pub async fn reset_password(
        &self,
        tenant_slug: &str,
        email: &str,
        code: &str,
        new: &str,
        via: &Via,
    ) -> Result<bool> {
        let Some(tenant) = self.tenant_by_slug(tenant_slug).await? else { return Ok(false) };
        let email = email.trim().to_lowercase();
        check_password(new, &email)?;
        let new_hash = hash(new).await?;
        let mut tx = self.begin(tenant).await?;
        let user: Option<Uuid> = sqlx::query_scalar(
            "UPDATE password_resets r SET used_at = now() FROM users u \
             WHERE r.code_hash = $1 AND r.used_at IS NULL AND r.expires_at > now() \
               AND u.id = r.user_id AND u.email = $2 \
             RETURNING u.id",
        )
        .bind(secret::hash_token(code))
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user) = user else { return Ok(false) };
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user)
            .bind(&new_hash)
            .execute(&mut *tx)
            .await?;
        end_sign_ins(&mut tx, user, None).await?;
        let change = Change::new("user.password_reset", "user", user);
        audit::record(&mut tx, tenant, &format!("staff:{user}"), via, change).await?;
        announce(&mut tx, user).await?;
        tx.commit().await?;
        self.forget_user(user);
        Ok(true)
    }

    /// Drops this node's cached sign-ins of `user`: the next request re-reads them.
    pub fn forget_user(&self, user: Uuid) {
        self.caches.staff.forget_user(user);
    }
}

/// Ends a user's sign-ins (but `keep`): their tokens and unused socket passes.
async fn end_sign_ins(conn: &mut PgConnection, user: Uuid, keep: Option<&[u8]>) -> Result<()> {
    sqlx::query("DELETE FROM staff_tokens WHERE user_id = $1 AND ($2::bytea IS NULL OR token_hash <> $2)")
        .bind(user)
        .bind(keep)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "DELETE FROM socket_passes WHERE user_id = $1 AND ($2::bytea IS NULL OR token_hash IS DISTINCT FROM $2)",
    )
    .bind(user)
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
