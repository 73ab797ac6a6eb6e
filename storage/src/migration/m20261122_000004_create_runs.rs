//! Creates `runs`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("runs")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("session_id"))
                    .col(string("agent_id"))
                    .col(string("principal"))
                    .col(string("status"))
                    .col(string_null("stop_reason"))
                    .col(text_null("error"))
                    .col(string_null("idempotency_key"))
                    .col(big_integer("created_at"))
                    .col(big_integer_null("started_at"))
                    .col(big_integer_null("finished_at"))
                    .col(big_integer("input_tokens").default(0))
                    .col(big_integer("output_tokens").default(0))
                    .col(double("cost").default(0.0))
                    .foreign_key(&mut super::session_fk("runs"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_runs_session")
                    .table("runs")
                    .col("session_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_runs_status")
                    .table("runs")
                    .col("status")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("runs").to_owned())
            .await
    }
}
