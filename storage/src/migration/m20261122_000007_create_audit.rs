//! Creates `audit`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("audit")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("at"))
                    .col(string("actor"))
                    .col(string("action"))
                    .col(string_null("target"))
                    .col(string("outcome"))
                    .col(text_null("detail"))
                    .col(string_null("remote_addr"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("audit").to_owned())
            .await
    }
}
