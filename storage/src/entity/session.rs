//! `sessions`: one chat session with one agent.

use sea_orm::entity::prelude::*;

/// One session. `last_seq` is the last `sessionSeq` handed out to its events.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// Session id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The agent that answers in this session.
    pub agent_id: String,
    /// The user that created it.
    pub user_id: String,
    /// A short title (the first message, shortened).
    pub title: String,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last change, unix ms.
    pub updated_at: i64,
    /// The last event sequence number given out in this session (0: none yet).
    pub last_seq: i64,
    /// Number of stored messages.
    pub message_count: i64,
    /// Input tokens summed over the session's runs.
    pub input_tokens: i64,
    /// Output tokens summed over the session's runs.
    pub output_tokens: i64,
    /// Cost summed over the session's runs, in the pricing table's currency.
    #[sea_orm(column_type = "Double")]
    pub cost: f64,
    /// The name a client gave it (`agent:<agentId>:<name>`), unique; `None` for sessions
    /// addressed by id only.
    pub key: Option<String>,
}

/// Messages, runs, events and approvals belong to a session.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
