//! Group commit: the writes on a run's hot path — recording a run with its user message,
//! appending to a session's log with the run's start or end — go through one writer task.
//! It takes every write waiting at that moment and applies them in one transaction, so N
//! concurrent sessions cost one commit instead of N, and SQLite writers never wait on each
//! other's lock. A write is answered only once its transaction has committed.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
    TransactionTrait,
};
use switchboard_api::RunStatus;
use tokio::sync::{mpsc, oneshot};

use super::events::rows;
use super::messages::message_row;
use super::{NewEvent, NewMessage, NewRun, RunFinish, SessionRecord, Store};
use crate::StoreError;
use crate::entity::{event, message, run, session};

/// Writes waiting for the writer, at most (then `commit` waits for room).
const QUEUE: usize = 1024;
/// Writes applied in one transaction, at most.
const MAX_BATCH: usize = 256;

/// One atomic write: all of it is stored, or none of it.
#[derive(Debug, Clone)]
pub enum Write {
    /// A queued run, with the user message that asked for it (which joins the transcript
    /// when the run starts: [`RunChange::Started`]).
    RecordRun(NewRun),
    /// Events appended to a session's log, with the start or end of runs they report.
    Log(LogAppend),
}

/// Events numbered `expected_last + 1, + 2, …` by the session's one writer. Nothing is
/// written when the session's counter is no longer at `expected_last`.
#[derive(Debug, Clone)]
pub struct LogAppend {
    /// The session.
    pub session_id: String,
    /// The session's last sequence number before these events.
    pub expected_last: i64,
    /// The events, in order.
    pub events: Vec<NewEvent>,
    /// Runs that start or end with these events.
    pub runs: Vec<RunChange>,
}

/// A run's change of state, stored with the events that report it.
#[derive(Debug, Clone)]
pub enum RunChange {
    /// The run started at this time (unix ms); its user message joins the transcript.
    Started {
        /// The run.
        run_id: String,
        /// When.
        at: i64,
        /// The user's message, appended to the session's messages now.
        prompt: Box<NewMessage>,
    },
    /// The run ended: its reply (if any) is stored and its usage added to the session.
    Finished {
        /// The run.
        run_id: String,
        /// How it ended.
        finish: Box<RunFinish>,
        /// The user's message, for a run that ends without having started (aborted while
        /// queued): it joins the transcript now, before the reply.
        prompt: Option<Box<NewMessage>>,
        /// The assistant's reply.
        reply: Option<Box<NewMessage>>,
    },
}

/// What a committed write gives back: for a log append, the session as it now is.
type Output = Option<SessionRecord>;

struct Request {
    write: Write,
    done: oneshot::Sender<Result<Output, StoreError>>,
}

/// The handle to the writer task.
#[derive(Debug, Clone)]
pub(super) struct Committer {
    tx: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request").finish_non_exhaustive()
    }
}

impl Committer {
    /// Starts the writer over `db`; it stops when every handle is gone.
    pub(super) fn start(db: DatabaseConnection) -> Committer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(db, rx));
        Committer { tx }
    }
}

impl Store {
    /// Applies `write` atomically, together with whatever other writes are waiting; answers
    /// once it is committed — for a [`Write::Log`], with the session as it now is.
    pub async fn commit(&self, write: Write) -> Result<Option<SessionRecord>, StoreError> {
        let (done, answer) = oneshot::channel();
        self.committer
            .tx
            .send(Request { write, done })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn write_batches(db: DatabaseConnection, mut rx: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let together = if batch.len() == 1 {
            Err(None)
        } else {
            apply_together(&db, &batch).await.map_err(Some)
        };
        match together {
            Ok(outputs) => {
                for (request, output) in batch.drain(..).zip(outputs) {
                    let _ = request.done.send(Ok(output));
                }
            }
            Err(_) => {
                // One write failed (or there is just one): each alone, so a conflict in one
                // session does not fail the others.
                for request in batch.drain(..) {
                    let result = apply_alone(&db, &request.write)
                        .await
                        .map_err(|e| duplicate_key(&request.write, e));
                    let _ = request.done.send(result);
                }
            }
        }
    }
}

/// A run recorded with an idempotency key another run holds: [`StoreError::DuplicateKey`].
fn duplicate_key(write: &Write, e: StoreError) -> StoreError {
    let keyed = matches!(write, Write::RecordRun(run) if run.idempotency_key.is_some());
    match &e {
        StoreError::Db(db)
            if keyed
                && matches!(
                    db.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(ref what))
                        if what.contains("idempotency")
                ) =>
        {
            StoreError::DuplicateKey
        }
        _ => e,
    }
}

async fn apply_together(
    db: &DatabaseConnection,
    batch: &[Request],
) -> Result<Vec<Output>, StoreError> {
    let txn = db.begin().await?;
    let mut outputs = Vec::with_capacity(batch.len());
    // The updates go one by one (each checks its own session); the new rows of every write go
    // in a few multi-row inserts at the end.
    let mut staged = Staged::default();
    for request in batch {
        outputs.push(stage(&txn, &request.write, &mut staged).await?);
    }
    staged.insert(&txn).await?;
    txn.commit().await?;
    Ok(outputs)
}

async fn apply_alone(db: &DatabaseConnection, write: &Write) -> Result<Output, StoreError> {
    let txn = db.begin().await?;
    let mut staged = Staged::default();
    let output = stage(&txn, write, &mut staged).await?;
    staged.insert(&txn).await?;
    txn.commit().await?;
    Ok(output)
}

/// Rows to insert once a batch's updates are done: runs first, then the messages and events
/// that may refer to them.
#[derive(Default)]
struct Staged {
    runs: Vec<run::ActiveModel>,
    messages: Vec<message::ActiveModel>,
    events: Vec<event::ActiveModel>,
}

/// Rows per `INSERT` statement, at most (SQLite allows 32 766 bound values in one).
const ROWS_PER_INSERT: usize = 500;

impl Staged {
    async fn insert(self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        insert_rows::<run::Entity>(txn, self.runs).await?;
        insert_rows::<message::Entity>(txn, self.messages).await?;
        insert_rows::<event::Entity>(txn, self.events).await
    }
}

/// Inserts `rows` in statements of at most [`ROWS_PER_INSERT`] rows each (inside `txn`'s
/// transaction, for all or nothing).
pub(super) async fn insert_rows<E: EntityTrait>(
    txn: &DatabaseTransaction,
    rows: Vec<E::ActiveModel>,
) -> Result<(), StoreError> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<E::ActiveModel> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        E::insert_many(chunk).exec_without_returning(txn).await?;
    }
    Ok(())
}

/// Applies a write's updates now and stages its new rows.
async fn stage(
    txn: &DatabaseTransaction,
    write: &Write,
    staged: &mut Staged,
) -> Result<Output, StoreError> {
    match write {
        Write::RecordRun(run) => {
            if let Some(key) = &run.idempotency_key {
                // A key is held for its window; an older run gives it up now.
                run::Entity::update_many()
                    .col_expr(
                        run::Column::IdempotencyKey,
                        Expr::value(Option::<String>::None),
                    )
                    .filter(run::Column::Principal.eq(&run.principal))
                    .filter(run::Column::IdempotencyKey.eq(key))
                    .filter(
                        run::Column::CreatedAt
                            .lt(run.created_at - super::runs::IDEMPOTENCY_WINDOW_MS),
                    )
                    .exec(txn)
                    .await?;
            }
            staged.runs.push(super::runs::queued_row(run.clone()));
            Ok(None)
        }
        Write::Log(append) => append_log(txn, append, staged).await.map(Some),
    }
}

async fn append_log(
    txn: &DatabaseTransaction,
    append: &LogAppend,
    staged: &mut Staged,
) -> Result<SessionRecord, StoreError> {
    let n = i64::try_from(append.events.len()).unwrap_or(i64::MAX);
    let mut update = session::Entity::update_many()
        .col_expr(
            session::Column::LastSeq,
            Expr::value(append.expected_last + n),
        )
        .filter(session::Column::Id.eq(append.session_id.as_str()))
        .filter(session::Column::LastSeq.eq(append.expected_last));
    let (mut replies, mut updated_at) = (0i64, None);
    let (mut input, mut output, mut cost) = (0i64, 0i64, 0.0f64);
    for change in &append.runs {
        let messages: Vec<&NewMessage> = match change {
            RunChange::Started { prompt, .. } => vec![prompt],
            RunChange::Finished {
                finish,
                prompt,
                reply,
                ..
            } => {
                input = input.saturating_add(finish.input_tokens);
                output = output.saturating_add(finish.output_tokens);
                cost += finish.cost;
                prompt.iter().chain(reply.iter()).map(|m| &**m).collect()
            }
        };
        for message in messages {
            replies += 1;
            updated_at = Some(message.created_at);
        }
    }
    if replies > 0 {
        update = update.col_expr(
            session::Column::MessageCount,
            Expr::col(session::Column::MessageCount).add(replies),
        );
    }
    if let Some(at) = updated_at {
        update = update.col_expr(session::Column::UpdatedAt, Expr::value(at));
    }
    if input != 0 || output != 0 || cost != 0.0 {
        update = update
            .col_expr(
                session::Column::InputTokens,
                Expr::col(session::Column::InputTokens).add(input),
            )
            .col_expr(
                session::Column::OutputTokens,
                Expr::col(session::Column::OutputTokens).add(output),
            )
            .col_expr(
                session::Column::Cost,
                Expr::col(session::Column::Cost).add(cost),
            );
    }
    let Some(updated) = update.exec_with_returning(txn).await?.pop() else {
        return Err(StoreError::Corrupt {
            table: "sessions",
            detail: format!(
                "session {}: event sequence is not at {}",
                append.session_id, append.expected_last
            ),
        });
    };
    staged.events.extend(rows(
        &append.session_id,
        append.expected_last + 1,
        &append.events,
    ));
    for change in &append.runs {
        match change {
            RunChange::Started { run_id, at, prompt } => {
                staged.messages.push(message_row(prompt));
                run::Entity::update_many()
                    .col_expr(
                        run::Column::Status,
                        Expr::value(RunStatus::Started.as_str()),
                    )
                    .col_expr(run::Column::StartedAt, Expr::value(*at))
                    .filter(run::Column::Id.eq(run_id.as_str()))
                    .exec(txn)
                    .await?;
            }
            RunChange::Finished {
                run_id,
                finish,
                prompt,
                reply,
            } => {
                for message in prompt.iter().chain(reply.iter()) {
                    staged.messages.push(message_row(message));
                }
                super::runs::finish_update(run_id, finish).exec(txn).await?;
            }
        }
    }
    Ok(updated)
}
