//! The audit log: append, and page backwards from the newest.

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use switchboard_api::{Role, Scope};

use super::commit::insert_rows;
use super::{Store, scope};
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

/// Who the caller behind an entry proved to be, as opposed to the `actor` it named itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPrincipal {
    /// `token:<id>`, `admin_token` or `anonymous`.
    pub principal: String,
    /// The role it held.
    pub role: Role,
    /// The scope its token held (SPEC §18); `None`: everywhere.
    pub scope: Option<Scope>,
}

/// A stored entry.
pub type AuditEntry = audit::Model;

fn audit_row(
    new: NewAuditEntry,
    by: Option<AuditPrincipal>,
) -> Result<audit::ActiveModel, StoreError> {
    let (principal, role, scope) = match by {
        Some(by) => (
            Some(by.principal),
            Some(by.role.as_str().to_owned()),
            scope::encode("audit", by.scope.as_ref())?,
        ),
        None => (None, None, None),
    };
    Ok(audit::ActiveModel {
        id: NotSet,
        at: Set(new.at),
        actor: Set(new.actor),
        action: Set(new.action),
        target: Set(new.target),
        outcome: Set(new.outcome),
        detail: Set(new.detail),
        remote_addr: Set(new.remote_addr),
        principal: Set(principal),
        role: Set(role),
        scope: Set(scope),
    })
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
    /// Appends an entry with no proven principal.
    pub async fn append_audit(&self, new: NewAuditEntry) -> Result<(), StoreError> {
        self.append_audit_all(&[(new, None)]).await
    }

    /// Appends entries, each with the principal behind it if one was proven, in order, all or
    /// nothing, in multi-row inserts (the group commit's); an empty list does nothing.
    pub async fn append_audit_all(
        &self,
        entries: &[(NewAuditEntry, Option<AuditPrincipal>)],
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let rows = entries
            .iter()
            .cloned()
            .map(|(new, by)| audit_row(new, by))
            .collect::<Result<_, _>>()?;
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
