//! Session leases (many nodes): one node at a time runs a session's runs. A lease names its
//! node and a token (fresh at every acquisition, so a release never drops a newer lease) and
//! lapses at `expires_at` unless renewed. Also what a survivor needs to take over from a node
//! that died: the sessions whose lease lapsed with runs unfinished, and what those runs said.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, Value,
};
use switchboard_api::RunStatus;

use super::{RunRecord, Store};
use crate::StoreError;
use crate::entity::{event, run};

/// Who holds a session's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The node.
    pub node_id: String,
    /// The acquisition's token.
    pub token: String,
    /// When it lapses, unix ms.
    pub expires_at: i64,
}

impl Store {
    /// `sql` written with `$1, $2, …` (each once, in order), as this backend writes it.
    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        let backend = self.conn().get_database_backend();
        let sql = if backend == DbBackend::Postgres {
            sql.to_owned()
        } else {
            let mut out = String::with_capacity(sql.len());
            let mut chars = sql.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                    while chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                    out.push('?');
                } else {
                    out.push(c);
                }
            }
            out
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    /// Takes the lease of `session_id` for `node_id` until `expires_at` when it is free, lapsed
    /// (before `now`) or already this node's; answers who holds it afterwards (this node with
    /// `token`, or the other node that holds it).
    pub async fn acquire_lease(
        &self,
        session_id: &str,
        node_id: &str,
        token: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Lease, StoreError> {
        let take = self.statement(
            "INSERT INTO session_leases (session_id, node_id, token, expires_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (session_id) DO UPDATE SET node_id = excluded.node_id, \
             token = excluded.token, expires_at = excluded.expires_at \
             WHERE session_leases.expires_at < $5 OR session_leases.node_id = excluded.node_id",
            vec![
                session_id.into(),
                node_id.into(),
                token.into(),
                expires_at.into(),
                now.into(),
            ],
        );
        self.conn().execute_raw(take).await?;
        self.lease(session_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                table: "session_leases",
                detail: format!("the lease of {session_id} vanished while it was taken"),
            })
    }

    /// The lease of `session_id`, if any (lapsed or not).
    pub async fn lease(&self, session_id: &str) -> Result<Option<Lease>, StoreError> {
        let read = self.statement(
            "SELECT node_id, token, expires_at FROM session_leases WHERE session_id = $1",
            vec![session_id.into()],
        );
        let Some(row) = self.conn().query_one_raw(read).await? else {
            return Ok(None);
        };
        Ok(Some(Lease {
            node_id: row.try_get("", "node_id")?,
            token: row.try_get("", "token")?,
            expires_at: row.try_get("", "expires_at")?,
        }))
    }

    /// Extends every lease `node_id` holds to `expires_at`; how many it holds.
    pub async fn renew_leases(&self, node_id: &str, expires_at: i64) -> Result<u64, StoreError> {
        let renew = self.statement(
            "UPDATE session_leases SET expires_at = $1 WHERE node_id = $2",
            vec![expires_at.into(), node_id.into()],
        );
        Ok(self.conn().execute_raw(renew).await?.rows_affected())
    }

    /// Gives up the lease of `session_id` taken with `token` (a newer lease stays).
    pub async fn release_lease(&self, session_id: &str, token: &str) -> Result<(), StoreError> {
        let release = self.statement(
            "DELETE FROM session_leases WHERE session_id = $1 AND token = $2",
            vec![session_id.into(), token.into()],
        );
        self.conn().execute_raw(release).await?;
        Ok(())
    }

    /// Gives up every lease `node_id` holds (it stops).
    pub async fn release_node_leases(&self, node_id: &str) -> Result<u64, StoreError> {
        let release = self.statement(
            "DELETE FROM session_leases WHERE node_id = $1",
            vec![node_id.into()],
        );
        Ok(self.conn().execute_raw(release).await?.rows_affected())
    }

    /// Sessions with a queued or started run and no live lease (none, or lapsed before `now`):
    /// runs a node that died left behind. At most `limit`.
    pub async fn orphaned_sessions(&self, now: i64, limit: u64) -> Result<Vec<String>, StoreError> {
        let find = self.statement(
            "SELECT DISTINCT r.session_id AS session_id FROM runs r \
             LEFT JOIN session_leases l ON l.session_id = r.session_id \
             WHERE r.status IN ('queued', 'started') \
             AND (l.session_id IS NULL OR l.expires_at < $1) LIMIT $2",
            vec![now.into(), i64::try_from(limit).unwrap_or(i64::MAX).into()],
        );
        let rows = self.conn().query_all_raw(find).await?;
        rows.iter()
            .map(|row| {
                row.try_get::<String>("", "session_id")
                    .map_err(StoreError::from)
            })
            .collect()
    }

    /// The queued or started runs of a session, oldest first.
    pub async fn unfinished_runs(&self, session_id: &str) -> Result<Vec<RunRecord>, StoreError> {
        Ok(run::Entity::find()
            .filter(run::Column::SessionId.eq(session_id))
            .filter(
                run::Column::Status
                    .is_in([RunStatus::Queued.as_str(), RunStatus::Started.as_str()]),
            )
            .order_by_asc(run::Column::CreatedAt)
            .all(self.conn())
            .await?)
    }

    /// Of `session_ids`, the ones with a started run, each with that run's id.
    pub async fn running_runs(
        &self,
        session_ids: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if session_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(run::Entity::find()
            .filter(run::Column::SessionId.is_in(session_ids.iter().cloned()))
            .filter(run::Column::Status.eq(RunStatus::Started.as_str()))
            .all(self.conn())
            .await?
            .into_iter()
            .map(|r| (r.session_id, r.id))
            .collect())
    }

    /// The reply so far of a run, as its last stored `chat` event carried it (`chunk`).
    pub async fn last_chunk(
        &self,
        session_id: &str,
        run_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let last = event::Entity::find()
            .filter(event::Column::SessionId.eq(session_id))
            .filter(event::Column::RunId.eq(run_id))
            .filter(event::Column::Event.eq("chat"))
            .order_by_desc(event::Column::Seq)
            .limit(1)
            .one(self.conn())
            .await?;
        Ok(last.and_then(|e| {
            serde_json::from_str::<serde_json::Value>(&e.payload)
                .ok()
                .and_then(|p| p["chunk"].as_str().map(str::to_owned))
        }))
    }

    /// Sessions with events stored at or after `since` (unix ms), each with the lowest such
    /// `seq`: what a node that could not hear the others since then must catch up on.
    pub async fn sessions_with_events_since(
        &self,
        since: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let find = self.statement(
            "SELECT session_id, MIN(seq) AS first_seq FROM events WHERE created_at >= $1 \
             GROUP BY session_id",
            vec![since.into()],
        );
        let rows = self.conn().query_all_raw(find).await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get::<String>("", "session_id")?,
                    row.try_get::<i64>("", "first_seq")?,
                ))
            })
            .collect()
    }
}
