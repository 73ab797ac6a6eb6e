//! Creates `sessions`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("agent_id"))
                    .col(string("user_id"))
                    .col(text("title"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .col(big_integer("last_seq").default(0))
                    .col(big_integer("message_count").default(0))
                    .col(big_integer("input_tokens").default(0))
                    .col(big_integer("output_tokens").default(0))
                    .col(double("cost").default(0.0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_updated")
                    .table("sessions")
                    .col("updated_at")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("sessions").to_owned())
            .await
    }
}
