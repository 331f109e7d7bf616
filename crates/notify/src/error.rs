/// A refusal with Graph's HTTP status, error code and message; the API turns it into Graph's
/// error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct NotifyError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl NotifyError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// `400 InvalidRequest`, the subscription service's usual refusal.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidRequest", message)
    }
}
