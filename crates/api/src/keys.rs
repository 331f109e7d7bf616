//! OData key segments: Graph accepts `callRecords('{id}')` wherever it accepts
//! `callRecords/{id}`, and names its segments case-insensitively (notifications even write
//! `adhoccalls`). This layer rewrites a Graph path into the one form the route table knows
//! before routing, so every route gets both spellings and the logic lives once.
//!
//! Only entity sets and navigations are rewritten: function calls
//! (`getPstnCalls(fromDateTime=…,toDateTime=…)`, `getAllTranscripts(…)`) and alternate keys
//! (`onlineMeetings(joinWebUrl='…')`) keep their parentheses for their handlers.

use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use crate::error::GraphError;
use crate::graph::encode_segment;

/// Collections whose next segment is a key, in Graph's spelling.
const COLLECTIONS: &[&str] = &[
    "callRecords",
    "users",
    "subscriptions",
    "onlineMeetings",
    "adhocCalls",
    "transcripts",
    "recordings",
    "callEvents",
];

/// Other segment names callhook serves, in Graph's spelling.
const NAMES: &[&str] = &[
    "communications",
    "sessions",
    "participants_v2",
    "organizer_v2",
    "reauthorize",
    "content",
    "metadataContent",
    "delta",
    "meetingCallEvents",
];

/// Whether callhook serves a key after the segment `name` (Graph's spelling).
pub fn is_collection(name: &str) -> bool {
    COLLECTIONS.contains(&name)
}

/// Whether `name` is a segment name callhook serves (Graph's spelling).
pub fn is_name(name: &str) -> bool {
    COLLECTIONS.contains(&name) || NAMES.contains(&name)
}

fn canonical(name: &str) -> Option<&'static str> {
    COLLECTIONS
        .iter()
        .chain(NAMES)
        .find(|n| n.eq_ignore_ascii_case(name))
        .copied()
}

/// Graph's answer to a key segment it cannot parse.
fn bad_key() -> GraphError {
    GraphError::bad_request("Bad Request - Error in query syntax.")
}

/// The key of a quoted OData string literal (`'a''b'` → `a'b`), from a percent-decoded
/// segment's parentheses; `None` when it is not one.
fn string_literal(inner: &str) -> Option<String> {
    let body = inner.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\'' {
            // A quote inside a literal is written twice.
            if chars.next() != Some('\'') {
                return None;
            }
        }
        out.push(c);
    }
    Some(out)
}

/// What one segment becomes.
enum Rewrite {
    Keep,
    /// The canonical spelling of a name.
    Name(&'static str),
    /// `name('key')` → `name/key` (the key percent-encoded again).
    Keyed(&'static str, String),
}

fn rewrite_segment(segment: &str, key_expected: bool) -> Result<Rewrite, GraphError> {
    if key_expected {
        return Ok(Rewrite::Keep);
    }
    let Some(open) = segment.find('(') else {
        return Ok(canonical(segment).map_or(Rewrite::Keep, Rewrite::Name));
    };
    let Some(name) = canonical(&segment[..open]) else {
        return Ok(Rewrite::Keep); // a function call or an unknown segment: its handler decides
    };
    if !COLLECTIONS.contains(&name) {
        return Ok(Rewrite::Keep);
    }
    let decoded = percent_decode_str(&segment[open..])
        .decode_utf8()
        .map_err(|_| bad_key())?;
    let inner = decoded
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(bad_key)?;
    // `name=value` is an alternate key (`onlineMeetings(joinWebUrl='…')`): its handler's.
    if let Some(eq) = inner.find('=') {
        if !inner[..eq].contains('\'') {
            return Ok(Rewrite::Keep);
        }
    }
    let key = string_literal(inner.trim()).ok_or_else(bad_key)?;
    if key.is_empty() {
        return Err(bad_key());
    }
    Ok(Rewrite::Keyed(name, encode_segment(&key)))
}

/// The path with key segments and names in the route table's form; `None` when nothing changes.
pub fn normalise(path: &str) -> Result<Option<String>, GraphError> {
    let mut segments = path.split('/');
    let Some(first) = segments.next() else {
        return Ok(None);
    };
    let mut out = String::with_capacity(path.len() + 8);
    out.push_str(first);
    let mut changed = false;
    let mut key_expected = false;
    let mut version = true; // the segment after the leading `/` is `v1.0` or `beta`
    for segment in segments {
        out.push('/');
        if version {
            version = false;
            out.push_str(segment);
            continue;
        }
        match rewrite_segment(segment, key_expected)? {
            Rewrite::Keep => {
                out.push_str(segment);
                key_expected = false;
            }
            Rewrite::Name(name) => {
                changed |= name != segment;
                out.push_str(name);
                key_expected = COLLECTIONS.contains(&name);
            }
            Rewrite::Keyed(name, key) => {
                changed = true;
                out.push_str(name);
                out.push('/');
                out.push_str(&key);
                key_expected = false;
            }
        }
    }
    Ok(changed.then_some(out))
}

/// The layer: rewrites `/v1.0/…` and `/beta/…` paths before routing.
pub async fn normalise_keys(mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !(path.starts_with("/v1.0/") || path.starts_with("/beta/")) {
        return next.run(req).await;
    }
    match normalise(path) {
        Ok(None) => {}
        Ok(Some(new_path)) => {
            let path_and_query = match req.uri().query() {
                Some(q) => format!("{new_path}?{q}"),
                None => new_path,
            };
            let mut parts = req.uri().clone().into_parts();
            match path_and_query.parse() {
                Ok(pq) => parts.path_and_query = Some(pq),
                Err(_) => return bad_key().into_response(),
            }
            match Uri::from_parts(parts) {
                Ok(uri) => *req.uri_mut() = uri,
                Err(_) => return bad_key().into_response(),
            }
        }
        Err(e) => return e.into_response(),
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::normalise;
    use proptest::prelude::*;

    fn n(p: &str) -> String {
        normalise(p).unwrap().unwrap_or_else(|| p.to_string())
    }

    #[test]
    fn key_segments_become_path_segments() {
        assert_eq!(
            n("/v1.0/communications/callRecords('abc')"),
            "/v1.0/communications/callRecords/abc"
        );
        assert_eq!(
            n("/beta/users/u1/onlineMeetings('m1')/transcripts('t1')/content"),
            "/beta/users/u1/onlineMeetings/m1/transcripts/t1/content"
        );
        assert_eq!(n("/v1.0/users('u1')"), "/v1.0/users/u1");
        assert_eq!(
            n("/v1.0/communications/callRecords('a')/sessions"),
            "/v1.0/communications/callRecords/a/sessions"
        );
        assert_eq!(
            n("/beta/users('u')/communications/callEvents('e')"),
            "/beta/users/u/communications/callEvents/e"
        );
    }

    #[test]
    fn quotes_are_doubled_and_keys_percent_encoded() {
        assert_eq!(n("/v1.0/users('o''brien')"), "/v1.0/users/o%27brien");
        assert_eq!(n("/v1.0/users(%27a%20b%27)"), "/v1.0/users/a%20b");
        assert_eq!(n("/v1.0/users('a%2Fb')"), "/v1.0/users/a%2Fb");
    }

    #[test]
    fn names_are_case_insensitive_keys_are_not() {
        assert_eq!(
            n("/v1.0/users/U1/adhoccalls/Ab/recordings('R')"),
            "/v1.0/users/U1/adhocCalls/Ab/recordings/R"
        );
        // A key that happens to spell a name stays as it is.
        assert_eq!(n("/v1.0/users/Delta"), "/v1.0/users/Delta");
    }

    #[test]
    fn functions_and_alternate_keys_are_left_alone() {
        for p in [
            "/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2024-01-01,toDateTime=2024-01-02)",
            "/beta/users/u/onlineMeetings/getAllTranscripts(meetingOrganizerUserId='u')",
            "/beta/communications/onlineMeetings(joinWebUrl='https%3A%2F%2Fteams')/meetingCallEvents",
            "/v1.0/communications/callRecords/microsoft.graph.callRecords.getDirectRoutingCalls(fromDateTime=2024-01-01,toDateTime=2024-01-02)",
        ] {
            assert_eq!(normalise(p).unwrap(), None, "{p}");
        }
    }

    #[test]
    fn malformed_keys_are_graphs_400() {
        for p in [
            "/v1.0/users('a'b')",
            "/v1.0/users(abc)",
            "/v1.0/users('abc)",
            "/v1.0/users('')",
            "/v1.0/communications/callRecords('x'",
            "/v1.0/users(%FF)",
        ] {
            let e = normalise(p).expect_err(p);
            assert_eq!(e.status.as_u16(), 400, "{p}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any key round-trips: quoted and encoded, it comes back as its encoded path segment.
        #[test]
        fn any_key_round_trips(key in "[^\u{0}]{1,20}") {
            let quoted = key.replace('\'', "''");
            let p = format!("/v1.0/users({})", crate::graph::encode_segment(&format!("'{quoted}'")));
            prop_assert_eq!(n(&p), format!("/v1.0/users/{}", crate::graph::encode_segment(&key)));
        }

        #[test]
        fn any_path_never_panics(p in "/v1\\.0/[a-zA-Z()'%0-9/=,]{0,40}") {
            let _ = normalise(&p);
        }
    }
}
