//! Approvals: record a request, resolve it once, list the pending ones.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use switchboard_api::ApprovalStatus;

use super::Store;
use crate::StoreError;
use crate::entity::approval;

/// An approval request to record.
#[derive(Debug, Clone)]
pub struct NewApproval {
    /// Approval id.
    pub id: String,
    /// Session of the run.
    pub session_id: String,
    /// The run.
    pub run_id: String,
    /// The tool call.
    pub tool_call_id: String,
    /// The tool.
    pub tool: String,
    /// Tool input as JSON text.
    pub input: String,
    /// `low`, `medium`, `high`.
    pub risk: String,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// A stored approval.
pub type ApprovalRecord = approval::Model;

impl Store {
    /// Records a pending approval.
    pub async fn insert_approval(&self, new: NewApproval) -> Result<(), StoreError> {
        approval::Entity::insert(approval::ActiveModel {
            id: Set(new.id),
            session_id: Set(new.session_id),
            run_id: Set(new.run_id),
            tool_call_id: Set(new.tool_call_id),
            tool: Set(new.tool),
            input: Set(new.input),
            risk: Set(new.risk),
            status: Set(ApprovalStatus::Pending.as_str().to_owned()),
            reason: Set(None),
            resolved_by: Set(None),
            created_at: Set(new.created_at),
            resolved_at: Set(None),
        })
        .exec(self.conn())
        .await?;
        Ok(())
    }

    /// Resolves a pending approval. `false` when it is unknown or no longer pending.
    pub async fn resolve_approval(
        &self,
        id: &str,
        status: ApprovalStatus,
        reason: Option<String>,
        resolved_by: Option<String>,
        at: i64,
    ) -> Result<bool, StoreError> {
        let result = approval::Entity::update_many()
            .col_expr(approval::Column::Status, Expr::value(status.as_str()))
            .col_expr(approval::Column::Reason, Expr::value(reason))
            .col_expr(approval::Column::ResolvedBy, Expr::value(resolved_by))
            .col_expr(approval::Column::ResolvedAt, Expr::value(at))
            .filter(approval::Column::Id.eq(id))
            .filter(approval::Column::Status.eq(ApprovalStatus::Pending.as_str()))
            .exec(self.conn())
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// One approval by id.
    pub async fn get_approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        Ok(approval::Entity::find_by_id(id.to_owned())
            .one(self.conn())
            .await?)
    }

    /// Every pending approval, oldest first.
    pub async fn pending_approvals(&self) -> Result<Vec<ApprovalRecord>, StoreError> {
        Ok(approval::Entity::find()
            .filter(approval::Column::Status.eq(ApprovalStatus::Pending.as_str()))
            .order_by_asc(approval::Column::CreatedAt)
            .all(self.conn())
            .await?)
    }
}
