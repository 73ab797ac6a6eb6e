//! Sessions: create, read, list with a cursor, delete with everything in them.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::Store;
use crate::StoreError;
use crate::entity::{approval, event, message, run, session};

/// A session to create.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Session id.
    pub id: String,
    /// Its agent.
    pub agent_id: String,
    /// Its creator.
    pub user_id: String,
    /// Its title.
    pub title: String,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Its session key (`agent:<agentId>:<name>`), unique across sessions; `None`: addressed
    /// by id only.
    pub key: Option<String>,
}

/// A stored session.
pub type SessionRecord = session::Model;

/// A new session refused because its key is taken: [`StoreError::DuplicateSessionKey`]
/// (SQLite names the column, PostgreSQL the index).
fn duplicate_session_key(keyed: bool, e: sea_orm::DbErr) -> StoreError {
    let taken = keyed
        && matches!(
            e.sql_err(),
            Some(sea_orm::SqlErr::UniqueConstraintViolation(ref what))
                if what.contains("sessions.key") || what.contains("uq_sessions_key")
        );
    if taken {
        StoreError::DuplicateSessionKey
    } else {
        StoreError::Db(e)
    }
}

/// Filters and paging for [`Store::list_sessions`]. Sessions come newest-updated first.
#[derive(Debug, Clone, Default)]
pub struct SessionQuery {
    /// Only this agent's sessions.
    pub agent_id: Option<String>,
    /// Only this user's sessions.
    pub user_id: Option<String>,
    /// At most this many.
    pub limit: u64,
    /// Only sessions after this `(updated_at, id)` position (the last one of the previous page).
    pub after: Option<(i64, String)>,
    /// Only sessions in this scope (a scoped token's, SPEC §18).
    pub scope: Option<switchboard_api::Scope>,
}

impl Store {
    /// Creates a session with no messages and no events. [`StoreError::DuplicateSessionKey`]
    /// when another session holds its key already (read that one with
    /// [`Store::get_session_by_key`]).
    pub async fn create_session(&self, new: NewSession) -> Result<SessionRecord, StoreError> {
        let model = session::Model {
            id: new.id,
            agent_id: new.agent_id,
            user_id: new.user_id,
            title: new.title,
            created_at: new.created_at,
            updated_at: new.created_at,
            last_seq: 0,
            message_count: 0,
            input_tokens: 0,
            output_tokens: 0,
            cost: 0.0,
            key: new.key,
        };
        session::Entity::insert(session::ActiveModel {
            id: Set(model.id.clone()),
            agent_id: Set(model.agent_id.clone()),
            user_id: Set(model.user_id.clone()),
            title: Set(model.title.clone()),
            created_at: Set(model.created_at),
            updated_at: Set(model.updated_at),
            last_seq: Set(0),
            message_count: Set(0),
            input_tokens: Set(0),
            output_tokens: Set(0),
            cost: Set(0.0),
            key: Set(model.key.clone()),
        })
        .exec(self.conn())
        .await
        .map_err(|e| duplicate_session_key(model.key.is_some(), e))?;
        Ok(model)
    }

    /// The session holding session key `key`.
    pub async fn get_session_by_key(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(session::Entity::find()
            .filter(session::Column::Key.eq(key))
            .one(self.conn())
            .await?)
    }

    /// The session a key `agent:<agent_id>:<rest>` (`key`, normalised) names: the unkeyed
    /// session of that agent whose id is `rest`, else the session that stores `key`.
    pub async fn find_session_for_key(
        &self,
        agent_id: &str,
        rest: &str,
        key: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        if let Some(session) = self.get_session(rest).await?
            && session.key.is_none()
            && session.agent_id == agent_id
        {
            return Ok(Some(session));
        }
        self.get_session_by_key(key).await
    }

    /// One session by id.
    pub async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(session::Entity::find_by_id(id.to_owned())
            .one(self.conn())
            .await?)
    }

    /// A page of sessions, most recently updated first.
    pub async fn list_sessions(&self, q: &SessionQuery) -> Result<Vec<SessionRecord>, StoreError> {
        let mut find = session::Entity::find();
        if let Some(agent) = &q.agent_id {
            find = find.filter(session::Column::AgentId.eq(agent.as_str()));
        }
        if let Some(user) = &q.user_id {
            find = find.filter(session::Column::UserId.eq(user.as_str()));
        }
        if let Some(scope) = &q.scope {
            let agents = scope.agents.clone().unwrap_or_default();
            let sessions = scope.sessions.clone().unwrap_or_default();
            find = find.filter(
                Condition::any()
                    .add(session::Column::AgentId.is_in(agents))
                    .add(session::Column::Id.is_in(sessions)),
            );
        }
        if let Some((updated_at, id)) = &q.after {
            find = find.filter(
                Condition::any()
                    .add(session::Column::UpdatedAt.lt(*updated_at))
                    .add(
                        Condition::all()
                            .add(session::Column::UpdatedAt.eq(*updated_at))
                            .add(session::Column::Id.lt(id.as_str())),
                    ),
            );
        }
        Ok(find
            .order_by_desc(session::Column::UpdatedAt)
            .order_by_desc(session::Column::Id)
            .limit(q.limit)
            .all(self.conn())
            .await?)
    }

    /// Deletes a session with its messages, runs, events and approvals. `false` when there was
    /// no such session.
    pub async fn delete_session(&self, id: &str) -> Result<bool, StoreError> {
        let txn = self.conn().begin().await?;
        event::Entity::delete_many()
            .filter(event::Column::SessionId.eq(id))
            .exec(&txn)
            .await?;
        message::Entity::delete_many()
            .filter(message::Column::SessionId.eq(id))
            .exec(&txn)
            .await?;
        approval::Entity::delete_many()
            .filter(approval::Column::SessionId.eq(id))
            .exec(&txn)
            .await?;
        run::Entity::delete_many()
            .filter(run::Column::SessionId.eq(id))
            .exec(&txn)
            .await?;
        let deleted = session::Entity::delete_by_id(id.to_owned())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(deleted.rows_affected > 0)
    }

    /// Number of sessions.
    pub async fn count_sessions(&self) -> Result<u64, StoreError> {
        use sea_orm::PaginatorTrait;
        Ok(session::Entity::find().count(self.conn()).await?)
    }
}
