//! Creates `events`, unique on `(session_id, seq)`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("events")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("session_id"))
                    .col(big_integer("seq"))
                    .col(string_null("run_id"))
                    .col(string("event"))
                    .col(text("payload"))
                    .col(big_integer("created_at"))
                    .foreign_key(&mut super::session_fk("events"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_events_session_seq")
                    .table("events")
                    .col("session_id")
                    .col("seq")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("events").to_owned())
            .await
    }
}
