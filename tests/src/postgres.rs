//! PostgreSQL for the tests that run on both stores: a fresh database per test, dropped
//! afterwards. The server is taken from `SWITCHBOARD_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); when none answers, the caller prints
//! "skipped: no PostgreSQL at …" and goes on.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database};

/// The PostgreSQL server the tests use.
pub fn pg_admin_url() -> String {
    std::env::var("SWITCHBOARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database created for one test; dropped when this is dropped.
#[derive(Debug)]
pub struct PgDatabase {
    /// URL of the fresh database.
    pub url: String,
    name: String,
}

/// A fresh, empty database, or `None` (after printing why) when no PostgreSQL answers.
pub async fn pg_database() -> Option<PgDatabase> {
    let admin = pg_admin_url();
    let mut options = ConnectOptions::new(admin.clone());
    options
        .connect_timeout(Duration::from_secs(2))
        .max_connections(1)
        .sqlx_logging(false);
    let db = match Database::connect(options).await {
        Ok(db) => db,
        Err(e) => {
            println!("skipped: no PostgreSQL at {admin} ({e})");
            return None;
        }
    };
    let mut random = [0u8; 6];
    getrandom_fill(&mut random);
    let name = format!(
        "sb_test_{}",
        random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let _ = db.close().await;
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin);
    Some(PgDatabase {
        url: format!("{base}/{name}"),
        name,
    })
}

fn getrandom_fill(buf: &mut [u8]) {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    for chunk in buf.chunks_mut(8) {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .elapsed()
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        let bytes = h.finish().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = pg_admin_url();
        let name = self.name.clone();
        // Drop needs async I/O; do it on a thread with its own small runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(db) = Database::connect(admin).await {
                    let _ = db
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = db.close().await;
                }
            });
        })
        .join();
    }
}
