//! Adds `tokens.scope` and `audit.scope` (SPEC §18): the scope a token was created with, as
//! JSON (`{"agents":[…],"sessions":[…]}`), and the scope of the caller behind an audit entry.
//! Both are NULL for "everywhere", which is what every existing token and entry had.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for table in ["tokens", "audit"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(text_null("scope"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["audit", "tokens"] {
            manager
                .alter_table(Table::alter().table(table).drop_column("scope").to_owned())
                .await?;
        }
        Ok(())
    }
}
