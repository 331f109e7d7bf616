//! Graph's OData error body, built in one place. Every error callhook answers on a Graph or
//! ingest route goes through [`GraphError`].

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::context;

/// An error answer: HTTP status, Graph `code` and `message`.
#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra response headers (e.g. `WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(header::HeaderName, String)>,
    /// callhook's own `innerError.callhookCause`: why, for an operator, where Graph's message
    /// is generic (Graph clients ignore unknown `innerError` members).
    pub cause: Option<String>,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
            cause: None,
        }
    }

    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// An error for a bare status (an answer made outside the handlers), with Graph's code
    /// for it.
    pub fn from_status(status: StatusCode, message: impl Into<String>) -> Self {
        let code = match status {
            StatusCode::BAD_REQUEST => "BadRequest",
            StatusCode::UNAUTHORIZED => "InvalidAuthenticationToken",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::NOT_FOUND => "NotFound",
            StatusCode::METHOD_NOT_ALLOWED => "BadRequest",
            StatusCode::NOT_ACCEPTABLE => "NotAcceptable",
            StatusCode::REQUEST_TIMEOUT => "RequestTimeout",
            StatusCode::CONFLICT => "Conflict",
            StatusCode::LENGTH_REQUIRED => "LengthRequired",
            StatusCode::PRECONDITION_FAILED => "PreconditionFailed",
            StatusCode::PAYLOAD_TOO_LARGE => "RequestEntityTooLarge",
            StatusCode::URI_TOO_LONG => "RequestUriTooLong",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaType",
            StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "RequestHeaderFieldsTooLarge",
            StatusCode::SERVICE_UNAVAILABLE => "serviceNotAvailable",
            s if s.is_server_error() => "generalException",
            _ => "BadRequest",
        };
        Self::new(status, code, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    /// Graph's 403 for a missing permission: code `Forbidden`, empty message.
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", "")
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)
            .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"\", authorization_uri=\"\", client_id=\"00000003-0000-0000-c000-000000000000\"")
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "An internal server error occurred.",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Try again later.",
        )
        .with_header(header::RETRY_AFTER, "1")
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("The request body exceeds the maximum of {limit} bytes."),
        )
    }

    /// The body as Graph writes it, with this request's ids.
    pub fn body(&self) -> serde_json::Value {
        let ids = context::current();
        let mut body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "request-id": ids.request_id,
                    "client-request-id": ids.client_request_id,
                }
            }
        });
        if let Some(cause) = &self.cause {
            body["error"]["innerError"]["callhookCause"] = json!(cause);
        }
        body
    }
}

impl From<callhook_store::StoreError> for GraphError {
    fn from(e: callhook_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        match e {
            callhook_store::StoreError::Database(_) => GraphError::unavailable(),
            _ => GraphError::internal(),
        }
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        resp
    }
}

pub type GraphResult<T> = Result<T, GraphError>;
