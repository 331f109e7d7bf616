//! `GET /v1.0/$metadata` and `/beta/$metadata`: the CSDL document of what callhook serves at
//! that version, generated from the model's own type declarations (`callhook_model::schema`)
//! and the report functions' table. Served without a token, as Graph does.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{reports, ApiVersion};

pub async fn v1() -> Response {
    document(ApiVersion::V1)
}

pub async fn beta() -> Response {
    document(ApiVersion::Beta)
}

fn document(version: ApiVersion) -> Response {
    let xml = callhook_model::schema::csdl(version.is_beta(), &reports::declared(version));
    let mut resp = (StatusCode::OK, xml).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    h.insert("odata-version", HeaderValue::from_static("4.0"));
    resp
}
