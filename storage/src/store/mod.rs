//! The store API: a cheap `Clone` handle over one connection pool. Every method is one
//! short unit of work (a statement or a transaction); nothing here knows what a role means.

mod approvals;
mod audit;
mod commit;
mod events;
mod leases;
mod messages;
mod runs;
mod scope;
mod sessions;
mod tokens;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::StoreError;
use crate::migration::Migrator;

pub use approvals::{ApprovalRecord, NewApproval};
pub use audit::{AuditEntry, AuditPrincipal, AuditQuery, NewAuditEntry};
pub use commit::{LogAppend, RunChange, Write};
pub use events::{EventRecord, NewEvent};
pub use leases::Lease;
pub use messages::{MessageRecord, NewMessage};
pub use runs::{IDEMPOTENCY_WINDOW_MS, NewRun, RunFinish, RunRecord};
pub use sessions::{NewSession, SessionQuery, SessionRecord};
pub use tokens::{NewToken, TokenRecord};

/// The advisory lock PostgreSQL migrations take (an arbitrary constant: "sb-migr").
const MIGRATION_LOCK: i64 = 0x0073_622d_6d69_6772;

/// How long a SQLite writer waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The store: SQLite or PostgreSQL, chosen by the URL.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    committer: commit::Committer,
}

impl Store {
    /// Connects to `url` (`sqlite://PATH[?mode=rwc]` or `postgres://…`). For SQLite the file's
    /// folder is created and the file too (`mode=rwc` is added when the URL has no query), in
    /// WAL mode with `synchronous = NORMAL`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let mut options = if let Some(rest) = url.strip_prefix("sqlite:") {
            let url = prepare_sqlite(rest)?;
            let mut options = ConnectOptions::new(url);
            options.max_connections(8).map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
            });
            options
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut options = ConnectOptions::new(url.to_owned());
            options.max_connections(16);
            options
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        options
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        let db = Database::connect(options).await?;
        let committer = commit::Committer::start(db.clone());
        Ok(Store { db, committer })
    }

    /// Applies every pending migration. On PostgreSQL, nodes starting together take turns:
    /// an advisory lock, held by a transaction of its own, is taken around the migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            Migrator::up(&self.db, None).await?;
            return Ok(());
        }
        let turn = self.db.begin().await?;
        turn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await?;
        let migrated = Migrator::up(&self.db, None).await;
        turn.commit().await?;
        migrated?;
        Ok(())
    }

    /// Names of the migrations not yet applied.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        Ok(Migrator::get_pending_migrations(&self.db)
            .await?
            .iter()
            .map(|m| m.name().to_owned())
            .collect())
    }

    /// Answers when the database answers (`SELECT 1`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => "sqlite",
            DbBackend::Postgres => "postgres",
            _ => "other",
        }
    }

    /// Closes the pool, waiting for open connections to finish (a clean SQLite checkpoint).
    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await?;
        Ok(())
    }

    fn conn(&self) -> &DatabaseConnection {
        &self.db
    }
}

/// Creates the SQLite file's folder and asks for the file to be created if missing.
fn prepare_sqlite(rest: &str) -> Result<String, StoreError> {
    let rest = rest.trim_start_matches("//");
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let folder = Path::new(path)
        .parent()
        .filter(|d| path != ":memory:" && !d.as_os_str().is_empty());
    if let Some(dir) = folder {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    Ok(match query {
        Some(query) => format!("sqlite://{path}?{query}"),
        None => format!("sqlite://{path}?mode=rwc"),
    })
}

/// Now as unix milliseconds, the store's time unit.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
