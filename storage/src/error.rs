//! The store's one error type.

/// What can go wrong talking to the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed the operation.
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// A row holds a value this version cannot read (e.g. an unknown role name).
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// The table the row lives in.
        table: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// Another run already holds this idempotency key (within the key's window).
    #[error("a run with this idempotency key exists")]
    DuplicateKey,
    /// Another session already holds this session key.
    #[error("a session with this key exists")]
    DuplicateSessionKey,
    /// The store's writer task stopped (the runtime is shutting down).
    #[error("the store's writer stopped")]
    WriterStopped,
    /// The storage URL names a backend other than SQLite or PostgreSQL.
    #[error("unsupported storage url `{0}` (expected sqlite:// or postgres://)")]
    UnsupportedUrl(String),
    /// The SQLite data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why not.
        source: std::io::Error,
    },
}
