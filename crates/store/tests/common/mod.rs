//! Runs each behavioural test against every backend: SQLite in a temporary directory, and
//! PostgreSQL in a database created for the test and dropped after it.
//!
//! PostgreSQL is found at `CALLHOOK_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, a role allowed to create databases). When it is
//! not reachable the PostgreSQL variants say so on stderr and pass, unless
//! `CALLHOOK_REQUIRE_POSTGRES=1`, which makes a missing PostgreSQL a failure (CI sets it).

#![allow(dead_code)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use callhook_store::{PostgresStore, SqliteStore, Store};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

/// Keeps a test's storage alive; dropping it removes the storage.
pub enum Guard {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

pub fn admin_url() -> String {
    std::env::var("CALLHOOK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn postgres_required() -> bool {
    std::env::var("CALLHOOK_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

pub async fn sqlite() -> (Guard, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    (Guard::Sqlite(dir), Arc::new(s))
}

/// Whether the PostgreSQL variant of `test` can run; prints why not when it cannot, and fails
/// instead when PostgreSQL is required.
pub async fn postgres_available(test: &str) -> bool {
    let url = admin_url();
    let attempt = async {
        let options = PgConnectOptions::from_str(&url)?;
        let mut conn = tokio::time::timeout(Duration::from_secs(5), options.connect())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        conn.ping().await?;
        conn.close().await
    };
    match attempt.await {
        Ok(()) => true,
        Err(e) if postgres_required() => {
            panic!("CALLHOOK_REQUIRE_POSTGRES=1 but PostgreSQL at {url} is not reachable: {e}")
        }
        Err(e) => {
            // Straight to stderr: libtest captures eprintln! of passing tests.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED the PostgreSQL variant of {test}: PostgreSQL at {url} is not reachable ({e}); \
                 set CALLHOOK_REQUIRE_POSTGRES=1 to fail instead"
            );
            false
        }
    }
}

/// A database created for one test, dropped (with its connections) when this is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let admin = admin_url();
        let name = format!("callhook_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnectOptions::from_str(&admin)
            .unwrap()
            .connect()
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let url = PgConnectOptions::from_str(&admin)
            .unwrap()
            .database(&name)
            .to_url_lossy()
            .to_string();
        TestDatabase { name, url }
    }

    pub async fn store(&self, pool_size: u32) -> PostgresStore {
        let options = PgConnectOptions::from_str(&self.url).unwrap();
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .connect_with(options)
            .await
            .unwrap();
        PostgresStore::from_pool(pool).await.unwrap()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = admin_url();
        let name = self.name.clone();
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let mut conn = PgConnectOptions::from_str(&admin)?.connect().await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
            .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {done:?}", self.name);
        }
    }
}

pub async fn postgres() -> (Guard, Arc<dyn Store>) {
    let db = TestDatabase::create().await;
    let store = db.store(8).await;
    (Guard::Postgres(db), Arc::new(store))
}

/// Turns `async fn name() { … store().await … }` items into one module per test with a
/// `sqlite` and a `postgres` test; inside each, `store()` opens that backend.
macro_rules! backend_tests {
    ($( $(#[$meta:meta])* async fn $name:ident() $body:block )*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test]
                async fn sqlite() {
                    #[allow(dead_code)]
                    async fn store() -> ($crate::common::Guard, std::sync::Arc<dyn callhook_store::Store>) {
                        $crate::common::sqlite().await
                    }
                    $body
                }

                #[tokio::test]
                async fn postgres() {
                    #[allow(dead_code)]
                    async fn store() -> ($crate::common::Guard, std::sync::Arc<dyn callhook_store::Store>) {
                        $crate::common::postgres().await
                    }
                    if !$crate::common::postgres_available(module_path!()).await {
                        return;
                    }
                    $body
                }
            }
        )*
    };
}
