//! Every store a test should run on: SQLite always, PostgreSQL when one answers.

use switchboard_storage::Store;
use switchboard_tests::{PgDatabase, pg_database};
use tempfile::TempDir;

/// One migrated, empty store and what keeps it alive.
pub struct Backend {
    pub name: &'static str,
    pub store: Store,
    _dir: Option<TempDir>,
    _pg: Option<PgDatabase>,
}

/// A fresh SQLite store in a temporary folder, and a fresh PostgreSQL database when one
/// answers (otherwise "skipped: no PostgreSQL at …" is printed).
pub async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/switchboard.db", dir.path().display());
    let sqlite = Store::connect(&url).await.unwrap();
    sqlite.migrate().await.unwrap();
    let mut all = vec![Backend {
        name: "sqlite",
        store: sqlite,
        _dir: Some(dir),
        _pg: None,
    }];
    if let Some(pg) = pg_database().await {
        let store = Store::connect(&pg.url).await.unwrap();
        store.migrate().await.unwrap();
        all.push(Backend {
            name: "postgres",
            store,
            _dir: None,
            _pg: Some(pg),
        });
    }
    all
}
