//! The collector's store on SQLite and on PostgreSQL (`CALLHOOK_TEST_POSTGRES_URL`; skipped with
//! a notice when unreachable unless `CALLHOOK_REQUIRE_POSTGRES=1`): versions only go up, writes
//! are idempotent, the work queue keeps a notification that arrives during a fetch, and the
//! migrations create exactly the columns `flatten` writes.

use callhook_collector::flatten::{self, Val};
use callhook_collector::store::{PutOutcome, Store};
use chrono::{Duration, Utc};
use serde_json::{json, Value};

/// One store per backend: SQLite in a temporary directory, and PostgreSQL in a fresh database.
async fn stores(test: &str) -> (Vec<Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = vec![
        Store::open(&dir.path().join("c.db").display().to_string(), 2)
            .await
            .expect("sqlite"),
    ];
    match postgres_database().await {
        Ok(url) => out.push(Store::open(&url, 4).await.expect("postgres")),
        Err(e) if std::env::var("CALLHOOK_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
            panic!("CALLHOOK_REQUIRE_POSTGRES=1 but {e}")
        }
        Err(e) => eprintln!("SKIPPED the PostgreSQL half of {test}: {e}"),
    }
    (out, dir)
}

async fn postgres_database() -> Result<String, String> {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let admin = std::env::var("CALLHOOK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let options = sqlx::postgres::PgConnectOptions::from_str(&admin).map_err(|e| e.to_string())?;
    let mut conn = options
        .connect()
        .await
        .map_err(|e| format!("PostgreSQL at {admin}: {e}"))?;
    // Named like callhook's test databases, so `.ci/run` and the callhook tests sweep them.
    let name = format!("callhook_test_{}_{}", Utc::now().timestamp(), uuid_simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(options.database(&name).to_url_lossy().to_string())
}

fn uuid_simple() -> String {
    use rand::Rng;
    let n: u128 = rand::thread_rng().gen();
    format!("{n:032x}")
}

fn record(id: &str, version: i64, streams: usize) -> Value {
    let streams: Vec<Value> = (0..streams)
        .map(|i| {
            json!({"streamDirection": if i % 2 == 0 { "callerToCallee" } else { "calleeToCaller" },
            "averageJitter": "PT0.01S", "averagePacketLossRate": 0.02, "wasMediaBypassed": false})
        })
        .collect();
    json!({
        "id": id, "version": version, "type": "groupCall", "modalities": ["audio"],
        "startDateTime": "2026-01-10T10:00:00Z", "endDateTime": "2026-01-10T10:30:00Z",
        "lastModifiedDateTime": "2026-01-10T11:00:00Z",
        "sessions": [{"id": "s1", "modalities": ["audio"], "startDateTime": "2026-01-10T10:00:00Z",
            "endDateTime": "2026-01-10T10:30:00Z",
            "segments": [{"id": "g1", "startDateTime": "2026-01-10T10:00:00Z", "endDateTime": "2026-01-10T10:30:00Z",
                "media": [{"label": "main-audio", "callerNetwork": {"subnet": "10.1.0.0", "wifiSignalStrength": 70},
                    "streams": streams}]}]}],
        "participants_v2": [{"id": "p1", "identity": {"user": {"id": "u1", "displayName": "Ann"}}}]
    })
}

#[tokio::test]
async fn versions_only_go_up_and_writes_are_idempotent() {
    let (stores, _dir) = stores("versions_only_go_up_and_writes_are_idempotent").await;
    for s in stores {
        assert_eq!(
            s.put_record("t", &record("c1", 2, 4), None)
                .await
                .expect("put"),
            PutOutcome::Stored
        );
        assert_eq!(
            s.put_record("t", &record("c1", 2, 4), None)
                .await
                .expect("put"),
            PutOutcome::Unchanged
        );
        assert_eq!(
            s.put_record("t", &record("c1", 1, 6), None)
                .await
                .expect("put"),
            PutOutcome::Unchanged
        );
        let c = s.counts("t").await.expect("counts");
        assert_eq!(
            (c.calls, c.sessions, c.segments, c.streams, c.participants),
            (1, 1, 1, 4, 1)
        );
        // A higher version replaces every row of the call.
        assert_eq!(
            s.put_record("t", &record("c1", 3, 2), None)
                .await
                .expect("put"),
            PutOutcome::Stored
        );
        let c = s.counts("t").await.expect("counts");
        assert_eq!((c.calls, c.streams), (1, 2));
        assert_eq!(s.version_of("t", "c1").await.expect("v"), Some(3));
        // Other tenants are apart.
        assert_eq!(s.counts("u").await.expect("counts").calls, 0);
        let rows = s
            .rows("call_streams", flatten::stream_columns(), "t", "c1")
            .await
            .expect("rows");
        let i = flatten::stream_columns()
            .iter()
            .position(|c| c.name == "average_jitter")
            .expect("col");
        assert_eq!(rows[0][i], Val::Real(Some(10.0)));
        s.close().await;
    }
}

#[tokio::test]
async fn a_notification_during_a_fetch_keeps_the_item_queued() {
    let (stores, _dir) = stores("a_notification_during_a_fetch_keeps_the_item_queued").await;
    for s in stores {
        let now = Utc::now();
        s.enqueue("t", &["c1".into(), "c2".into()], now)
            .await
            .expect("enqueue");
        let claimed = s
            .claim("t", "a", 10, now, Duration::minutes(5))
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 2);
        // Claimed items are not handed out twice, nor to another tenant's worker.
        assert!(s
            .claim("t", "b", 10, now, Duration::minutes(5))
            .await
            .expect("claim")
            .is_empty());
        assert!(s
            .claim("u", "b", 10, now, Duration::minutes(5))
            .await
            .expect("claim")
            .is_empty());
        let c1 = claimed.iter().find(|i| i.id == "c1").expect("c1").clone();
        let c2 = claimed.iter().find(|i| i.id == "c2").expect("c2").clone();
        // c1 is notified again while it is being fetched.
        s.enqueue("t", &["c1".into()], now)
            .await
            .expect("enqueue again");
        s.put_record("t", &record("c1", 1, 1), Some(&c1))
            .await
            .expect("put");
        s.put_record("t", &record("c2", 1, 1), Some(&c2))
            .await
            .expect("put");
        let again = s
            .claim("t", "a", 10, now, Duration::minutes(5))
            .await
            .expect("claim");
        assert_eq!(
            again.len(),
            1,
            "the newer notification of c1 is still queued and free"
        );
        assert_eq!(again[0].id, "c1");
        s.mark_gone(&again[0], now).await.expect("gone");
        let c = s.counts("t").await.expect("counts");
        assert_eq!((c.queued, c.gone), (0, 1));
        // An expired lease (a killed collector) frees the item for others.
        s.enqueue("t", &["c3".into()], now).await.expect("enqueue");
        assert_eq!(
            s.claim("t", "dead", 10, now, Duration::seconds(1))
                .await
                .expect("claim")
                .len(),
            1
        );
        let later = now + Duration::seconds(2);
        assert_eq!(
            s.claim("t", "alive", 10, later, Duration::minutes(1))
                .await
                .expect("claim")
                .len(),
            1
        );
        s.close().await;
    }
}

#[tokio::test]
async fn the_migrations_create_the_columns_flatten_writes() {
    let (stores, _dir) = stores("the_migrations_create_the_columns_flatten_writes").await;
    for s in stores {
        // Selecting every declared column of an empty call proves each one exists.
        for (table, cols) in [
            ("call_sessions", flatten::session_columns()),
            ("call_segments", flatten::segment_columns()),
            ("call_streams", flatten::stream_columns()),
            ("call_participants", flatten::participant_columns()),
        ] {
            assert!(s
                .rows(table, cols, "t", "none")
                .await
                .expect(table)
                .is_empty());
        }
        for spec in callhook_collector::reports::specs() {
            let rows: Vec<Vec<Val>> = vec![flatten::row(
                &spec.columns,
                "t",
                flatten::Scope {
                    item: Some(&json!({"id": "r1"})),
                    ..Default::default()
                },
            )];
            s.put_report_rows(spec.table, &spec.columns, &rows)
                .await
                .expect(spec.table);
            s.put_report_rows(spec.table, &spec.columns, &rows)
                .await
                .expect(spec.table);
            assert_eq!(
                s.count(spec.table, "t").await.expect("count"),
                1,
                "{}",
                spec.table
            );
        }
        s.close().await;
    }
}
