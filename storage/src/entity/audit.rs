//! `audit`: who did what, append-only.

use sea_orm::entity::prelude::*;

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit")]
pub struct Model {
    /// Entry id, increasing with time.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When, unix ms.
    pub at: i64,
    /// Who, as the caller named itself (the `user_id` it chose at `connect`, or `cli`).
    pub actor: String,
    /// What (`connect`, `call.denied`, `token.create`, `token.revoke`, `kick`, ...).
    pub action: String,
    /// On what (a token id, a connection id, a method).
    pub target: Option<String>,
    /// `ok`, `failed` or `denied`.
    pub outcome: String,
    /// More detail, never a secret.
    #[sea_orm(column_type = "Text", nullable)]
    pub detail: Option<String>,
    /// The remote address, where there is one.
    pub remote_addr: Option<String>,
    /// Who the caller proved to be: `token:<id>`, `admin_token` or `anonymous`; `None` when
    /// nothing was proven (a failed `connect`) or for entries written before this column.
    pub principal: Option<String>,
    /// The role the caller held (`viewer`, `operator`, `admin`), with `principal`.
    pub role: Option<String>,
    /// The scope the caller's token held, as the JSON of a `Scope` (SPEC §18); `None`:
    /// everywhere (or nothing was proven).
    #[sea_orm(column_type = "Text", nullable)]
    pub scope: Option<String>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
