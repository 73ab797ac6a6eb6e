//! `events`: the durable, per-session event log that replay reads.

use sea_orm::entity::prelude::*;

/// One event; `(session_id, seq)` is unique and `seq` is gap-free per session.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The session it belongs to.
    pub session_id: String,
    /// Its `sessionSeq`.
    pub seq: i64,
    /// The run that emitted it.
    pub run_id: Option<String>,
    /// Event name (`chat`, `agent`, `tool.call`, ...).
    pub event: String,
    /// The payload as JSON text.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// No relations declared; the foreign key lives in the migration.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
