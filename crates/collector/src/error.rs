//! What can go wrong, in words an operator can act on.

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Flags, files or configuration.
    #[error("{0}")]
    Config(String),
    /// The token endpoint refused the app's credentials.
    #[error("{0}")]
    Auth(String),
    /// Graph (or the token endpoint) could not be reached.
    #[error("cannot reach {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// Graph answered 403: the app lacks an application permission.
    #[error("Graph refused {url} (403 {code}): the app needs the application permission {permission}, granted with admin consent ({message})")]
    Permission {
        url: String,
        code: String,
        permission: &'static str,
        message: String,
    },
    /// Any other answer that retrying does not fix, or retries exhausted.
    #[error("{method} {url}: {status} {code}: {message}")]
    Graph {
        method: String,
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("store: {0}")]
    Store(#[from] sqlx::Error),
    #[error("store migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Other(String),
}

impl CollectError {
    /// Whether a later attempt can succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Graph { status, .. } => *status == 429 || *status >= 500 || *status == 408,
            Self::Store(_) => true,
            _ => false,
        }
    }
}

pub type Result<T, E = CollectError> = std::result::Result<T, E>;
