//! SQL written once for SQLite and PostgreSQL: `$N` placeholders (both accept them), conditions
//! added only for the filters given, and one body run on either pool.

use chrono::{DateTime, Utc};

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Time(DateTime<Utc>),
}

/// A statement being built: its text and its binds in `$N` order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_string(),
            binds: Vec::new(),
        }
    }

    /// Appends text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Binds a value and returns its placeholder.
    pub fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    /// ` AND column >= from AND column < to` for the given bounds.
    pub fn range(&mut self, column: &str, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) {
        if let Some(f) = from {
            let p = self.bind(Bind::Time(f));
            self.text.push_str(&format!(" AND {column} >= {p}"));
        }
        if let Some(t) = to {
            let p = self.bind(Bind::Time(t));
            self.text.push_str(&format!(" AND {column} < {p}"));
        }
    }

    /// ` AND LOWER(column) = LOWER(value)` when a value is given.
    pub fn eq(&mut self, column: &str, value: &Option<String>) {
        if let Some(v) = value {
            let p = self.bind(Bind::Text(v.clone()));
            self.text
                .push_str(&format!(" AND LOWER({column}) = LOWER({p})"));
        }
    }

    /// ` AND (LOWER(a) = LOWER(v) OR LOWER(b) = …)` when a value is given.
    pub fn eq_any(&mut self, columns: &[&str], value: &Option<String>) {
        if let Some(v) = value {
            let p = self.bind(Bind::Text(v.clone()));
            let alts: Vec<String> = columns
                .iter()
                .map(|c| format!("LOWER({c}) = LOWER({p})"))
                .collect();
            self.text.push_str(&format!(" AND ({})", alts.join(" OR ")));
        }
    }
}

/// Runs `$body` with `$pool` bound to the concrete pool of the store's backend.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            callhook_collector::store::Db::Sqlite($pool) => $body,
            callhook_collector::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Fetches every row of `$sql` (a [`Sql`]) on `$pool`.
macro_rules! fetch_all {
    ($sql:expr, $pool:expr) => {{
        let mut q = sqlx::query(&$sql.text);
        for b in &$sql.binds {
            q = match b {
                $crate::sql::Bind::Text(t) => q.bind(t.clone()),
                $crate::sql::Bind::Time(t) => q.bind(*t),
            };
        }
        q.fetch_all($pool).await
    }};
}
pub(crate) use fetch_all;
