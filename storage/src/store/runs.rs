//! Runs: record, start, finish, find by idempotency key, and fail the ones a crash left.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, UpdateMany};
use switchboard_api::RunStatus;

use super::Store;
use crate::StoreError;
use crate::entity::run;

/// How long a run holds its idempotency key (10 minutes): within it, a second run with the same
/// principal and key cannot be recorded ([`crate::StoreError::DuplicateKey`]).
pub const IDEMPOTENCY_WINDOW_MS: i64 = 600_000;

/// A run to record.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Run id.
    pub id: String,
    /// Its session.
    pub session_id: String,
    /// Its agent.
    pub agent_id: String,
    /// Who asked.
    pub principal: String,
    /// The caller's idempotency key.
    pub idempotency_key: Option<String>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// The user's message: kept on the run while it waits, it joins the transcript when the
    /// run starts.
    pub message: String,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunFinish {
    /// Final status.
    pub status: RunStatus,
    /// Why it stopped.
    pub stop_reason: Option<String>,
    /// The failure, if any.
    pub error: Option<String>,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cost.
    pub cost: f64,
    /// End time, unix ms.
    pub finished_at: i64,
}

/// A stored run.
pub type RunRecord = run::Model;

impl RunRecord {
    /// The run's status as a type (`Failed` for a value this version does not know).
    pub fn run_status(&self) -> RunStatus {
        RunStatus::parse(&self.status).unwrap_or(RunStatus::Failed)
    }
}

impl Store {
    /// Records a queued run.
    pub async fn insert_run(&self, new: NewRun) -> Result<(), StoreError> {
        run::Entity::insert(queued_row(new))
            .exec_without_returning(self.conn())
            .await?;
        Ok(())
    }

    /// Marks a run started.
    pub async fn start_run(&self, id: &str, at: i64) -> Result<(), StoreError> {
        run::Entity::update_many()
            .col_expr(
                run::Column::Status,
                Expr::value(RunStatus::Started.as_str()),
            )
            .col_expr(run::Column::StartedAt, Expr::value(at))
            .filter(run::Column::Id.eq(id))
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Records how a run ended.
    pub async fn finish_run(&self, id: &str, end: RunFinish) -> Result<(), StoreError> {
        finish_update(id, &end).exec(self.conn()).await?;
        Ok(())
    }

    /// One run by id.
    pub async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(run::Entity::find_by_id(id.to_owned())
            .one(self.conn())
            .await?)
    }

    /// The newest run of `principal` with idempotency key `key` created at or after `since`.
    pub async fn find_run_by_idempotency_key(
        &self,
        principal: &str,
        key: &str,
        since: i64,
    ) -> Result<Option<RunRecord>, StoreError> {
        Ok(run::Entity::find()
            .filter(run::Column::Principal.eq(principal))
            .filter(run::Column::IdempotencyKey.eq(key))
            .filter(run::Column::CreatedAt.gte(since))
            .order_by_desc(run::Column::CreatedAt)
            .one(self.conn())
            .await?)
    }

    /// Marks every queued or started run failed with `reason` (runs a crash interrupted).
    /// A run that never started puts its user message into the transcript now, so no accepted
    /// message is lost. Returns the affected runs.
    pub async fn fail_unfinished_runs(
        &self,
        reason: &str,
        at: i64,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let unfinished = run::Entity::find()
            .filter(
                run::Column::Status
                    .is_in([RunStatus::Queued.as_str(), RunStatus::Started.as_str()]),
            )
            .all(self.conn())
            .await?;
        for r in &unfinished {
            if r.run_status() == RunStatus::Queued
                && let Some(content) = &r.message
            {
                self.append_message(super::NewMessage {
                    session_id: r.session_id.clone(),
                    run_id: Some(r.id.clone()),
                    role: "user".to_owned(),
                    content: content.clone(),
                    created_at: r.created_at,
                    usage: None,
                })
                .await?;
            }
            self.finish_run(
                &r.id,
                RunFinish {
                    status: RunStatus::Failed,
                    stop_reason: Some("error".to_owned()),
                    error: Some(reason.to_owned()),
                    input_tokens: r.input_tokens,
                    output_tokens: r.output_tokens,
                    cost: r.cost,
                    finished_at: at,
                },
            )
            .await?;
        }
        Ok(unfinished)
    }
}

/// The row of a run just queued.
pub(super) fn queued_row(new: NewRun) -> run::ActiveModel {
    run::ActiveModel {
        id: Set(new.id),
        session_id: Set(new.session_id),
        agent_id: Set(new.agent_id),
        principal: Set(new.principal),
        status: Set(RunStatus::Queued.as_str().to_owned()),
        stop_reason: Set(None),
        error: Set(None),
        idempotency_key: Set(new.idempotency_key),
        created_at: Set(new.created_at),
        started_at: Set(None),
        finished_at: Set(None),
        input_tokens: Set(0),
        output_tokens: Set(0),
        cost: Set(0.0),
        message: Set(Some(new.message)),
    }
}

/// The update that records how run `id` ended.
pub(super) fn finish_update(id: &str, end: &RunFinish) -> UpdateMany<run::Entity> {
    run::Entity::update_many()
        .col_expr(run::Column::Status, Expr::value(end.status.as_str()))
        .col_expr(
            run::Column::StopReason,
            Expr::value(end.stop_reason.clone()),
        )
        .col_expr(run::Column::Error, Expr::value(end.error.clone()))
        .col_expr(run::Column::InputTokens, Expr::value(end.input_tokens))
        .col_expr(run::Column::OutputTokens, Expr::value(end.output_tokens))
        .col_expr(run::Column::Cost, Expr::value(end.cost))
        .col_expr(run::Column::FinishedAt, Expr::value(end.finished_at))
        .filter(run::Column::Id.eq(id))
}
