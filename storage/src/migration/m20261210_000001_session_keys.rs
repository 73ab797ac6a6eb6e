//! Adds `sessions.key`: the name a client gave the session (`agent:<agentId>:<name>`, the
//! OpenClaw dialect's `sessionKey`), unique across sessions; existing sessions have none.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("sessions")
                    .add_column(string_null("key"))
                    .to_owned(),
            )
            .await?;
        // Unique where set: SQLite and PostgreSQL both let many rows hold NULL.
        manager
            .create_index(
                Index::create()
                    .name("uq_sessions_key")
                    .table("sessions")
                    .col("key")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("uq_sessions_key")
                    .table("sessions")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("sessions")
                    .drop_column("key")
                    .to_owned(),
            )
            .await
    }
}
