//! The event log: append with gap-free per-session sequence numbers, read after a sequence.

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::Store;
use crate::StoreError;
use crate::entity::{event, session};

/// An event to append; its `seq` is given by the store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The run that emitted it.
    pub run_id: Option<String>,
    /// Event name.
    pub event: String,
    /// Payload as JSON text.
    pub payload: String,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// A stored event.
pub type EventRecord = event::Model;

impl Store {
    /// Appends events to a session's log in one transaction and returns their sequence
    /// numbers, consecutive after the session's last one. The counter is advanced with one
    /// atomic `UPDATE … RETURNING`, so concurrent appenders never share a number.
    pub async fn append_events(
        &self,
        session_id: &str,
        events: &[NewEvent],
    ) -> Result<Vec<i64>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let n = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let txn = self.conn().begin().await?;
        let bump = Query::update()
            .table(session::Entity)
            .value(
                session::Column::LastSeq,
                Expr::col(session::Column::LastSeq).add(n),
            )
            .and_where(Expr::col(session::Column::Id).eq(session_id))
            .returning_col(session::Column::LastSeq)
            .to_owned();
        let Some(row) = txn.query_one(&bump).await? else {
            return Err(StoreError::Db(sea_orm::DbErr::RecordNotFound(format!(
                "session {session_id}"
            ))));
        };
        let last: i64 = row.try_get("", "last_seq")?;
        let first = last - n + 1;
        let seqs: Vec<i64> = (first..=last).collect();
        event::Entity::insert_many(rows(session_id, first, events))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(seqs)
    }

    /// Appends events whose sequence numbers the caller chose: `expected_last + 1, + 2, …`.
    /// The session's counter moves only if it still is `expected_last` (one writer per session;
    /// anything else is a conflict and nothing is written). Returns the new last seq.
    pub async fn append_events_after(
        &self,
        session_id: &str,
        expected_last: i64,
        events: &[NewEvent],
    ) -> Result<i64, StoreError> {
        if events.is_empty() {
            return Ok(expected_last);
        }
        let last = expected_last + i64::try_from(events.len()).unwrap_or(i64::MAX);
        let txn = self.conn().begin().await?;
        let moved = session::Entity::update_many()
            .col_expr(session::Column::LastSeq, Expr::value(last))
            .filter(session::Column::Id.eq(session_id))
            .filter(session::Column::LastSeq.eq(expected_last))
            .exec(&txn)
            .await?;
        if moved.rows_affected != 1 {
            return Err(StoreError::Corrupt {
                table: "sessions",
                detail: format!("session {session_id}: event sequence is not at {expected_last}"),
            });
        }
        event::Entity::insert_many(rows(session_id, expected_last + 1, events))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(last)
    }

    /// Up to `limit` events of a session with `seq > after_seq`, in order.
    pub async fn events_after(
        &self,
        session_id: &str,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        Ok(event::Entity::find()
            .filter(event::Column::SessionId.eq(session_id))
            .filter(event::Column::Seq.gt(after_seq))
            .order_by_asc(event::Column::Seq)
            .limit(limit)
            .all(self.conn())
            .await?)
    }
}

/// The rows of `events`, numbered from `first`.
pub(super) fn rows<'a>(
    session_id: &'a str,
    first: i64,
    events: &'a [NewEvent],
) -> impl Iterator<Item = event::ActiveModel> + 'a {
    events
        .iter()
        .zip(first..)
        .map(move |(e, seq)| event::ActiveModel {
            id: NotSet,
            session_id: Set(session_id.to_owned()),
            seq: Set(seq),
            run_id: Set(e.run_id.clone()),
            event: Set(e.event.clone()),
            payload: Set(e.payload.clone()),
            created_at: Set(e.created_at),
        })
}
