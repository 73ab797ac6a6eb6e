//! `tokens`: API tokens, stored only as argon2id hashes.

use sea_orm::entity::prelude::*;

/// One token. The secret itself is never stored; `hash` is its argon2id PHC string.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tokens")]
pub struct Model {
    /// The lookup id (the `<id>` of `sb_<id>_<secret>`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// A human name for the token.
    pub name: String,
    /// The role it grants (`viewer`, `operator`, `admin`).
    pub role: String,
    /// argon2id PHC hash of the whole token.
    pub hash: String,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Expiry, unix ms; `None` never expires.
    pub expires_at: Option<i64>,
    /// Revocation time, unix ms.
    pub revoked_at: Option<i64>,
    /// Last successful verification, unix ms.
    pub last_used_at: Option<i64>,
    /// Where it may act, as the JSON of a `Scope` (SPEC §18); `None`: everywhere.
    #[sea_orm(column_type = "Text", nullable)]
    pub scope: Option<String>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
