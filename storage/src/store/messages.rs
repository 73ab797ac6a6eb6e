//! Messages: append (counting them on the session) and page through history.

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait, UpdateMany,
};

use super::Store;
use crate::StoreError;
use crate::entity::{message, session};

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Its session.
    pub session_id: String,
    /// The run it belongs to.
    pub run_id: Option<String>,
    /// `user`, `assistant`, `tool` or `system`.
    pub role: String,
    /// The text.
    pub content: String,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// `(input_tokens, output_tokens, cost)` of the run, for assistant messages.
    pub usage: Option<(i64, i64, Option<f64>)>,
}

/// A stored message.
pub type MessageRecord = message::Model;

impl Store {
    /// Appends a message and counts it on its session, in one transaction. Returns the stored
    /// message with its id.
    pub async fn append_message(&self, new: NewMessage) -> Result<MessageRecord, StoreError> {
        let txn = self.conn().begin().await?;
        let stored = message::Entity::insert(message_row(&new))
            .exec_with_returning(&txn)
            .await?;
        counted(&new).exec(&txn).await?;
        txn.commit().await?;
        Ok(stored)
    }

    /// The assistant message a run produced, if it stored one.
    pub async fn assistant_message_for_run(
        &self,
        run_id: &str,
    ) -> Result<Option<MessageRecord>, StoreError> {
        Ok(message::Entity::find()
            .filter(message::Column::RunId.eq(run_id))
            .filter(message::Column::Role.eq("assistant"))
            .order_by_desc(message::Column::Id)
            .one(self.conn())
            .await?)
    }

    /// The last message of each of `session_ids` that has one (one query, for list pages).
    pub async fn last_messages(
        &self,
        session_ids: &[String],
    ) -> Result<Vec<MessageRecord>, StoreError> {
        if session_ids.is_empty() {
            return Ok(Vec::new());
        }
        let last_ids = Query::select()
            .expr(Expr::col(message::Column::Id).max())
            .from(message::Entity)
            .and_where(message::Column::SessionId.is_in(session_ids.iter().cloned()))
            .group_by_col(message::Column::SessionId)
            .to_owned();
        Ok(message::Entity::find()
            .filter(message::Column::Id.in_subquery(last_ids))
            .all(self.conn())
            .await?)
    }

    /// Up to `limit` messages of a session older than message id `before` (all when `None`),
    /// oldest first, and whether older ones remain.
    pub async fn list_messages(
        &self,
        session_id: &str,
        limit: u64,
        before: Option<i64>,
    ) -> Result<(Vec<MessageRecord>, bool), StoreError> {
        let mut find = message::Entity::find().filter(message::Column::SessionId.eq(session_id));
        if let Some(before) = before {
            find = find.filter(message::Column::Id.lt(before));
        }
        let mut page = find
            .order_by_desc(message::Column::Id)
            .limit(limit.saturating_add(1))
            .all(self.conn())
            .await?;
        let has_more = page.len() as u64 > limit;
        page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        page.reverse();
        Ok((page, has_more))
    }
}

/// The row of a new message.
pub(super) fn message_row(new: &NewMessage) -> message::ActiveModel {
    let (input, output, cost) = match new.usage {
        Some((i, o, c)) => (Some(i), Some(o), c),
        None => (None, None, None),
    };
    message::ActiveModel {
        id: NotSet,
        session_id: Set(new.session_id.clone()),
        run_id: Set(new.run_id.clone()),
        role: Set(new.role.clone()),
        content: Set(new.content.clone()),
        created_at: Set(new.created_at),
        input_tokens: Set(input),
        output_tokens: Set(output),
        cost: Set(cost),
    }
}

/// The update that counts a new message on its session.
pub(super) fn counted(new: &NewMessage) -> UpdateMany<session::Entity> {
    session::Entity::update_many()
        .col_expr(
            session::Column::MessageCount,
            Expr::col(session::Column::MessageCount).add(1),
        )
        .col_expr(session::Column::UpdatedAt, Expr::value(new.created_at))
        .filter(session::Column::Id.eq(new.session_id.as_str()))
}
