//! The validation handshake: before creating a subscription, Graph POSTs to the notification URL
//! with `?validationToken=…`, and the endpoint must answer within 10 seconds with `200 OK`,
//! `text/plain`, and the URL-decoded token as the whole body.

/// The query parameter Graph sends the token in.
pub const VALIDATION_TOKEN_PARAM: &str = "validationToken";

/// The answer a receiver must send to a validation request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeResponse {
    /// Always 200.
    pub status: u16,
    /// Always `text/plain; charset=utf-8`.
    pub content_type: &'static str,
    /// The decoded token, exactly.
    pub body: String,
}

/// The decoded `validationToken` of a request's query string (with or without the leading
/// `?`), or `None` when the request is not a validation request.
pub fn validation_token(query: &str) -> Option<String> {
    let query = query.strip_prefix('?').unwrap_or(query);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name.eq_ignore_ascii_case(VALIDATION_TOKEN_PARAM))
        .map(|(_, value)| value.into_owned())
}

/// Like [`validation_token`], from a whole request URL. `None` for a URL that does not parse.
pub fn validation_token_from_url(request_url: &str) -> Option<String> {
    let parsed = url::Url::parse(request_url).ok()?;
    validation_token(parsed.query()?)
}

/// The response to send when the query string carries a `validationToken`; `None` means the
/// POST is a notification to process. Answer before any other work: Graph waits 10 seconds.
pub fn handshake_response(query: &str) -> Option<HandshakeResponse> {
    validation_token(query).map(|body| HandshakeResponse {
        status: 200,
        content_type: "text/plain; charset=utf-8",
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_url_decoded() {
        assert_eq!(
            validation_token("validationToken=Validation%3a+Testing+client+application+reachability+for+subscription+Request-Id%3a+abc").as_deref(),
            Some("Validation: Testing client application reachability for subscription Request-Id: abc")
        );
        assert_eq!(
            validation_token("?a=1&validationToken=x%2By").as_deref(),
            Some("x+y")
        );
        assert_eq!(validation_token("a=1"), None);
        assert_eq!(validation_token(""), None);
    }

    #[test]
    fn response_is_plain_text_200() {
        let r = handshake_response("validationToken=%3Cscript%3E").unwrap();
        assert_eq!(r.status, 200);
        assert!(r.content_type.starts_with("text/plain"));
        assert_eq!(r.body, "<script>");
        assert!(handshake_response("clientState=x").is_none());
    }

    #[test]
    fn token_from_a_whole_url() {
        assert_eq!(
            validation_token_from_url("https://h/api/notify?tenant=a&validationToken=abc%20d")
                .as_deref(),
            Some("abc d")
        );
        assert_eq!(validation_token_from_url("https://h/api/notify"), None);
        assert_eq!(validation_token_from_url("not a url"), None);
    }
}
