//! `approvals`: tool calls that waited for a human's decision.

use sea_orm::entity::prelude::*;

/// One approval request and its resolution.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "approvals")]
pub struct Model {
    /// Approval id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The session of the run.
    pub session_id: String,
    /// The run that asked.
    pub run_id: String,
    /// The tool call's id.
    pub tool_call_id: String,
    /// The tool.
    pub tool: String,
    /// The tool input as JSON text.
    #[sea_orm(column_type = "Text")]
    pub input: String,
    /// `low`, `medium` or `high`.
    pub risk: String,
    /// `pending`, `approved`, `denied`, `timeout`.
    pub status: String,
    /// The resolver's reason.
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
    /// Who resolved it.
    pub resolved_by: Option<String>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Resolution time, unix ms.
    pub resolved_at: Option<i64>,
}

/// No relations declared; the foreign key lives in the migration.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
