//! Creates `messages`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("messages")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("session_id"))
                    .col(string_null("run_id"))
                    .col(string("role"))
                    .col(text("content"))
                    .col(big_integer("created_at"))
                    .col(big_integer_null("input_tokens"))
                    .col(big_integer_null("output_tokens"))
                    .col(double_null("cost"))
                    .foreign_key(&mut super::session_fk("messages"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_session")
                    .table("messages")
                    .col("session_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("messages").to_owned())
            .await
    }
}
