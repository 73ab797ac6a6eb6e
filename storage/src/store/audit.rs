//! The audit log: append, and page backwards from the newest.

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::Store;
use super::commit::insert_rows;
use crate::StoreError;
use crate::entity::audit;

/// An entry to append.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// When, unix ms.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: Option<String>,
    /// `ok`, `failed`, `denied`.
    pub outcome: String,
    /// More detail (never a secret).
    pub detail: Option<String>,
    /// Remote address.
    pub remote_addr: Option<String>,
}

/// A stored entry.
pub type AuditEntry = audit::Model;

fn audit_row(new: NewAuditEntry) -> audit::ActiveModel {
    audit::ActiveModel {
        id: NotSet,
        at: Set(new.at),
        actor: Set(new.actor),
        action: Set(new.action),
        target: Set(new.target),
        outcome: Set(new.outcome),
        detail: Set(new.detail),
        remote_addr: Set(new.remote_addr),
    }
}

/// Paging for [`Store::list_audit`]: newest first.
#[derive(Debug, Clone, Copy)]
pub struct AuditQuery {
    /// At most this many.
    pub limit: u64,
    /// Only entries with an id below this.
    pub before: Option<i64>,
}

impl Store {
    /// Appends an entry.
    pub async fn append_audit(&self, new: NewAuditEntry) -> Result<(), StoreError> {
        self.append_audit_all(std::slice::from_ref(&new)).await
    }

    /// Appends entries in order, all or nothing, in multi-row inserts (the group commit's);
    /// an empty list does nothing.
    pub async fn append_audit_all(&self, entries: &[NewAuditEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let rows = entries.iter().cloned().map(audit_row).collect();
        let txn = self.conn().begin().await?;
        insert_rows::<audit::Entity>(&txn, rows).await?;
        txn.commit().await?;
        Ok(())
    }

    /// A page of entries, newest first.
    pub async fn list_audit(&self, q: AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let mut find = audit::Entity::find();
        if let Some(before) = q.before {
            find = find.filter(audit::Column::Id.lt(before));
        }
        Ok(find
            .order_by_desc(audit::Column::Id)
            .limit(q.limit)
            .all(self.conn())
            .await?)
    }
}
