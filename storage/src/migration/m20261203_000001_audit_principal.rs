//! Adds `audit.principal` and `audit.role`: who the caller proved to be (the token's id and
//! role), next to the `actor` it named itself. Existing rows keep both empty.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in ["principal", "role"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("audit")
                        .add_column(string_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["role", "principal"] {
            manager
                .alter_table(Table::alter().table("audit").drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
