/// A refusal with Graph's HTTP status, error code and message; the API turns it into Graph's
/// error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct NotifyError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Why, in an operator's words ("connection refused", "certificate: UnknownIssuer"), with
    /// the host it concerns: logged, and sent in callhook's own `innerError.callhookCause`
    /// while Graph's message stays exact.
    pub cause: Option<Cause>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub host: String,
    pub text: String,
}

impl NotifyError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            cause: None,
        }
    }

    pub fn with_cause(mut self, host: impl Into<String>, text: impl Into<String>) -> Self {
        self.cause = Some(Cause {
            host: host.into(),
            text: text.into(),
        });
        self
    }

    /// `400 InvalidRequest`, the subscription service's usual refusal.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidRequest", message)
    }
}
