//! `messages`: the stored conversation of a session.

use sea_orm::entity::prelude::*;

/// One message (`user`, `assistant`, `tool` or `system`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    /// Message id, increasing with time.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The session it belongs to.
    pub session_id: String,
    /// The run that produced it (or that it started).
    pub run_id: Option<String>,
    /// `user`, `assistant`, `tool` or `system`.
    pub role: String,
    /// The text.
    #[sea_orm(column_type = "Text")]
    pub content: String,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Input tokens of the run (assistant messages).
    pub input_tokens: Option<i64>,
    /// Output tokens of the run (assistant messages).
    pub output_tokens: Option<i64>,
    /// Cost of the run (assistant messages).
    #[sea_orm(column_type = "Double", nullable)]
    pub cost: Option<f64>,
}

/// No relations declared; the foreign key lives in the migration.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
