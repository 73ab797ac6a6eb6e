//! `runs`: one agent run answering one user message.

use sea_orm::entity::prelude::*;

/// One run and its outcome.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "runs")]
pub struct Model {
    /// Run id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The session it runs in.
    pub session_id: String,
    /// The agent that runs.
    pub agent_id: String,
    /// The principal that asked for it (token id or user id).
    pub principal: String,
    /// `queued`, `running`, `completed`, `failed`, `aborted`, `timeout`.
    pub status: String,
    /// Why it stopped (`end_turn`, `aborted`, `timeout`, `error`, ...).
    pub stop_reason: Option<String>,
    /// The failure, when it failed.
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// The caller's idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Start time, unix ms.
    pub started_at: Option<i64>,
    /// End time, unix ms.
    pub finished_at: Option<i64>,
    /// Input tokens used.
    pub input_tokens: i64,
    /// Output tokens produced.
    pub output_tokens: i64,
    /// Cost.
    #[sea_orm(column_type = "Double")]
    pub cost: f64,
    /// The user's message, kept from the moment the run is accepted until it joins the
    /// transcript when the run starts (`None` for runs stored before this column existed).
    #[sea_orm(column_type = "Text", nullable)]
    pub message: Option<String>,
}

/// No relations declared; the foreign key lives in the migration.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
