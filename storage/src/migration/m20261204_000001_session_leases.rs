//! Creates `session_leases`: which node runs a session's runs, until when (many nodes); an
//! index on `events.created_at` for catching up on what was committed since a moment; and a
//! unique index on a run's `(principal, idempotency_key)`, so that two nodes cannot both start a
//! run for one key (older duplicates lose their key first).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("session_leases")
                    .if_not_exists()
                    .col(string("session_id").primary_key())
                    .col(string("node_id"))
                    .col(string("token"))
                    .col(big_integer("expires_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_events_created_at")
                    .table("events")
                    .col("created_at")
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE runs SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL AND EXISTS \
             (SELECT 1 FROM runs newer WHERE newer.principal = runs.principal \
             AND newer.idempotency_key = runs.idempotency_key \
             AND (newer.created_at > runs.created_at \
             OR (newer.created_at = runs.created_at AND newer.id > runs.id)))",
        )
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS uq_runs_idempotency_key \
             ON runs (principal, idempotency_key) WHERE idempotency_key IS NOT NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS uq_runs_idempotency_key")
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_events_created_at")
                    .table("events")
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("session_leases").to_owned())
            .await
    }
}
