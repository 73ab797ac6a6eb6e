//! Schema migrations, one file per migration, applied in order at `serve` and by
//! `switchboard migrate`.

use sea_orm_migration::prelude::*;

mod m20261122_000001_create_tokens;
mod m20261122_000002_create_sessions;
mod m20261122_000003_create_messages;
mod m20261122_000004_create_runs;
mod m20261122_000005_create_events;
mod m20261122_000006_create_approvals;
mod m20261122_000007_create_audit;
mod m20261130_000008_runs_message;
mod m20261203_000001_audit_principal;
mod m20261204_000001_session_leases;
mod m20261210_000001_session_keys;
mod m20261215_000001_token_scopes;

/// Every migration of the store, oldest first.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_tokens::Migration),
            Box::new(m20261122_000002_create_sessions::Migration),
            Box::new(m20261122_000003_create_messages::Migration),
            Box::new(m20261122_000004_create_runs::Migration),
            Box::new(m20261122_000005_create_events::Migration),
            Box::new(m20261122_000006_create_approvals::Migration),
            Box::new(m20261122_000007_create_audit::Migration),
            Box::new(m20261130_000008_runs_message::Migration),
            Box::new(m20261203_000001_audit_principal::Migration),
            Box::new(m20261204_000001_session_leases::Migration),
            Box::new(m20261210_000001_session_keys::Migration),
            Box::new(m20261215_000001_token_scopes::Migration),
        ]
    }
}

/// A foreign key from `table.session_id` to `sessions.id`, deleting with the session.
fn session_fk(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_session"))
        .from(table, "session_id")
        .to("sessions", "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}
