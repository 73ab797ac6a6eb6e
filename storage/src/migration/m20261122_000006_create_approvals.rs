//! Creates `approvals`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("approvals")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("session_id"))
                    .col(string("run_id"))
                    .col(string("tool_call_id"))
                    .col(string("tool"))
                    .col(text("input"))
                    .col(string("risk"))
                    .col(string("status"))
                    .col(text_null("reason"))
                    .col(string_null("resolved_by"))
                    .col(big_integer("created_at"))
                    .col(big_integer_null("resolved_at"))
                    .foreign_key(&mut super::session_fk("approvals"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_approvals_status")
                    .table("approvals")
                    .col("status")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("approvals").to_owned())
            .await
    }
}
