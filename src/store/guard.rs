//! The checks a node makes before it serves: that PostgreSQL itself keeps tenants apart for the
//! role every query runs as. A deployment that weakened this (a superuser as the app role, a
//! table without forced row-level security) is refused at startup, not discovered in a leak.

use anyhow::bail;
use sqlx::PgConnection;

#[derive(sqlx::FromRow)]
struct TenantTable {
    name: String,
    rls: bool,
    forced: bool,
    owned: bool,
}

/// Checks, as the role the connection is set to, that it is no superuser, cannot bypass
/// row-level security, owns no tenant table (directly or through a role it inherits), and that
/// every tenant table (`tenants` and each table with a `tenant_id`) has RLS enabled and forced,
/// and that it cannot rewrite the audit log.
#[tracing::instrument(skip_all)]
pub async fn verify_isolation(conn: &mut PgConnection) -> anyhow::Result<()> {
    let (role, superuser, bypass): (String, bool, bool) =
        sqlx::query_as("SELECT rolname::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut *conn)
            .await?;
    if superuser || bypass {
        bail!("refusing to serve: the app role {role} is a superuser or bypasses row-level security");
    }
    let tables: Vec<TenantTable> = sqlx::query_as(
        "SELECT c.relname::text AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced, \
                pg_has_role(current_user, c.relowner, 'USAGE') AS owned \
         FROM pg_class c \
         WHERE c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace \
           AND (c.relname = 'tenants' OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
                                                 AND a.attname = 'tenant_id' AND NOT a.attisdropped)) \
         ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    if !tables.iter().any(|t| t.name == "tenants") {
        bail!("refusing to serve: no tenants table in the current schema; are the migrations applied?");
    }
    let weak: Vec<String> = tables
        .iter()
        .filter_map(|t| {
            let why = if t.owned {
                "is owned by the app role"
            } else if !t.rls {
                "has row-level security disabled"
            } else if !t.forced {
                "does not force row-level security"
            } else {
                return None;
            };
            Some(format!("{} {why}", t.name))
        })
        .collect();
    if !weak.is_empty() {
        bail!("refusing to serve: tenant isolation is weakened: {}", weak.join("; "));
    }
    // The audit trail is append-only for the app role: it may add and read, never rewrite.
    let rewrites: bool = sqlx::query_scalar(
        "SELECT has_table_privilege(current_user, 'audit_log', 'UPDATE') \
             OR has_table_privilege(current_user, 'audit_log', 'DELETE') \
             OR has_table_privilege(current_user, 'audit_log', 'TRUNCATE')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if rewrites {
        bail!("refusing to serve: the app role {role} may change or delete audit_log entries");
    }
    Ok(())
}
