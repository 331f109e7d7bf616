//! `callhook collect`: a consumer of Microsoft Graph's call records (or a callhook server's) that
//! subscribes, receives, fetches and stores every record in a SQL database people can query.
//!
//! - [`auth`]: app-only tokens (client secret or certificate assertion).
//! - [`graph`]: the Graph client with its retry policy and the complete fetch of one record.
//! - [`flatten`]: a record's JSON → rows (sessions, segments, one row per stream, participants).
//! - [`store`]: SQLite or PostgreSQL, each statement written once for both.
//! - [`collector`]: the work queue's fetchers, the reconciliation sweep (poll mode) and reports.
//! - [`webhook`]: the listener (notifications, lifecycle events, `/metrics`) and subscriptions.
//! - [`reports`]: the report functions, by day.

pub mod auth;
pub mod collector;
pub mod emergency;
pub mod error;
pub mod flatten;
pub mod graph;
pub mod metrics;
pub mod reports;
pub mod status;
pub mod store;
pub mod webhook;

pub use collector::{Collector, CollectorOptions, Source};
pub use error::{CollectError, Result};
pub use store::Store;

#[cfg(test)]
mod ddl {
    //! Prints the DDL of the flattened tables (`cargo test -p callhook-collector print_ddl --
    //! --ignored --nocapture`), the starting point of a migration that adds columns.
    use crate::flatten::{self, Col, Kind};

    fn ddl(table: &str, cols: &[Col], pg: bool, tail: &str) -> String {
        let ty = |k: Kind| match (k, pg) {
            (Kind::Text | Kind::List, _) => "TEXT",
            (Kind::Int, true) => "BIGINT",
            (Kind::Int, false) => "INTEGER",
            (Kind::Real | Kind::Millis, true) => "DOUBLE PRECISION",
            (Kind::Real | Kind::Millis, false) => "REAL",
            (Kind::Bool, _) => "BOOLEAN",
            (Kind::Time, true) => "TIMESTAMPTZ",
            (Kind::Time, false) => "TEXT",
        };
        let mut lines: Vec<String> = cols
            .iter()
            .map(|c| {
                let not_null = if c.name == "tenant_id"
                    || (c.name == "call_id" && table.starts_with("call_"))
                {
                    " NOT NULL"
                } else {
                    ""
                };
                format!("    {} {}{not_null}", c.name, ty(c.kind))
            })
            .collect();
        if !tail.is_empty() {
            lines.push(format!("    {tail}"));
        }
        format!("CREATE TABLE {table} (\n{}\n);\n", lines.join(",\n"))
    }

    #[test]
    #[ignore]
    fn print_ddl() {
        for pg in [false, true] {
            println!("-- {}", if pg { "postgres" } else { "sqlite" });
            println!(
                "{}",
                ddl("call_sessions", flatten::session_columns(), pg, "")
            );
            println!(
                "{}",
                ddl("call_segments", flatten::segment_columns(), pg, "")
            );
            println!("{}", ddl("call_streams", flatten::stream_columns(), pg, ""));
            println!(
                "{}",
                ddl("call_participants", flatten::participant_columns(), pg, "")
            );
            for s in crate::reports::specs() {
                println!(
                    "{}",
                    ddl(s.table, &s.columns, pg, "PRIMARY KEY (tenant_id, id)")
                );
            }
        }
    }
}
