//! Per-request ids: every response carries `request-id` and `client-request-id` headers, and
//! every error body repeats them in `innerError`, as Graph does.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

#[derive(Debug, Clone)]
pub struct RequestIds {
    pub request_id: String,
    pub client_request_id: String,
}

tokio::task_local! {
    static CURRENT: RequestIds;
}

/// The ids of the request being handled (fresh ones outside a request).
pub fn current() -> RequestIds {
    CURRENT.try_with(Clone::clone).unwrap_or_else(|_| {
        let id = uuid::Uuid::new_v4().to_string();
        RequestIds {
            request_id: id.clone(),
            client_request_id: id,
        }
    })
}

/// A client-supplied id is echoed only if it is a short, printable token.
fn acceptable_client_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| s.to_string())
}

pub async fn request_ids(req: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .and_then(acceptable_client_id)
        .unwrap_or_else(|| request_id.clone());
    let ids = RequestIds {
        request_id,
        client_request_id,
    };
    let mut resp = CURRENT.scope(ids.clone(), next.run(req)).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ids.request_id) {
        h.insert("request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ids.client_request_id) {
        h.insert("client-request-id", v);
    }
    resp
}
