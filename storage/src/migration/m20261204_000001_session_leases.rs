//! Creates `session_leases`: which node runs a session's runs, until when (many nodes), and an
//! index on `events.created_at` for catching up on what was committed since a moment.

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
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
