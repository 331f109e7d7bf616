//! Ingest of online meetings, ad hoc calls, their transcripts and recordings, and call events:
//!
//! - `PUT …/onlineMeetings/{id}`, `PUT …/adhocCalls/{id}`
//! - `PUT …/{onlineMeetings|adhocCalls}/{parentId}/{transcripts|recordings}/{id}` (JSON metadata)
//! - `PUT …/transcripts/{id}/content` and `…/metadataContent` (`text/vtt`),
//!   `PUT …/recordings/{id}/content` (`video/mp4`)
//! - `POST …/callEvents`
//!
//! An artifact is published (readable through Graph, and notified) once its metadata and its
//! content are both stored, whichever arrives last; content without metadata is a 404.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{MatchedPath, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use callhook_model::{
    AdhocCall, CallEvent, CallRecording, CallTranscript, GraphType, OnlineMeeting,
};
use callhook_store::{
    AdhocCallWrite, ArtifactKey, ArtifactKind, ArtifactParent, ArtifactStream, ArtifactWrite,
    ArtifactWritten, CallEventWrite, OnlineMeetingWrite,
};

use super::{body_with_path_id, json_body, model_error, parse_batch, require_tenant};
use crate::error::{GraphError, GraphResult};
use crate::AppState;

/// Call events per batch request.
pub const MAX_CALL_EVENTS: usize = 1000;

pub(super) fn status_for(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

fn path_id(what: &str, id: &str) -> GraphResult<()> {
    callhook_model::validate_artifact_id(id)
        .map_err(|m| GraphError::bad_request(format!("{what} (path): {m}")))
}

pub(super) fn to_text(v: &Value) -> GraphResult<String> {
    serde_json::to_string(v).map_err(|_| GraphError::internal())
}

/// The organizer's object id, which must be a valid id.
fn organizer_id(found: Option<&str>, at: &str) -> GraphResult<String> {
    let id =
        found.ok_or_else(|| GraphError::bad_request(format!("{at}: missing required property")))?;
    callhook_model::validate_id(id).map_err(|m| GraphError::bad_request(format!("{at}: {m}")))?;
    Ok(id.to_string())
}

/// `PUT /ingest/v1/tenants/{tenant}/onlineMeetings/{id}`
pub async fn put_online_meeting(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    require_tenant(&state, &tenant).await?;
    let bytes = json_body(&state, &headers, body)?;
    path_id("id", &id)?;
    let doc = body_with_path_id(&bytes, &id)?;
    let meeting = callhook_model::from_value::<OnlineMeeting>(doc).map_err(model_error)?;
    let organizer = organizer_id(
        meeting.organizer_user_id(),
        "participants.organizer.identity.user.id",
    )?;
    let graph = meeting.to_graph_value();
    let write = OnlineMeetingWrite {
        id: meeting.id.clone(),
        organizer_id: organizer,
        join_web_url: meeting.join_web_url.clone(),
        user_ids: meeting.user_ids(),
        body: to_text(&graph)?,
    };
    let w = state.store.put_online_meeting(&tenant, &write).await?;
    Ok((status_for(w.created), Json(graph)).into_response())
}

/// `PUT /ingest/v1/tenants/{tenant}/adhocCalls/{id}`
pub async fn put_adhoc_call(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    require_tenant(&state, &tenant).await?;
    let bytes = json_body(&state, &headers, body)?;
    path_id("id", &id)?;
    let doc = body_with_path_id(&bytes, &id)?;
    let call = callhook_model::from_value::<AdhocCall>(doc).map_err(model_error)?;
    let organizer = organizer_id(call.organizer_user_id(), "organizer.user.id")?;
    if let (Some(s), Some(e)) = (call.start_date_time, call.end_date_time) {
        if e < s {
            return Err(GraphError::bad_request(
                "endDateTime: must not be earlier than startDateTime",
            ));
        }
    }
    let graph = call.to_graph_value();
    let write = AdhocCallWrite {
        id: call.id.clone(),
        organizer_id: organizer,
        body: to_text(&graph)?,
    };
    let w = state.store.put_adhoc_call(&tenant, &write).await?;
    Ok((status_for(w.created), Json(graph)).into_response())
}

/// Which artifact route matched: parent kind, artifact kind and stream, read from the route
/// template so one handler serves the meeting and ad hoc forms.
struct Route {
    parent: ArtifactParent,
    kind: ArtifactKind,
    stream: Option<ArtifactStream>,
}

fn route_of(matched: &MatchedPath) -> Route {
    let p = matched.as_str();
    Route {
        parent: if p.contains("/adhocCalls/") {
            ArtifactParent::AdhocCall
        } else {
            ArtifactParent::OnlineMeeting
        },
        kind: if p.contains("/recordings/") {
            ArtifactKind::Recording
        } else {
            ArtifactKind::Transcript
        },
        stream: if p.ends_with("/metadataContent") {
            Some(ArtifactStream::MetadataContent)
        } else if p.ends_with("/content") {
            Some(ArtifactStream::Content)
        } else {
            None
        },
    }
}

fn parent_label(parent: ArtifactParent) -> &'static str {
    match parent {
        ArtifactParent::OnlineMeeting => "Online meeting",
        ArtifactParent::AdhocCall => "Ad hoc call",
    }
}

/// The organizer of an artifact's meeting or call; 404 if that is not stored.
async fn parent_organizer(
    state: &AppState,
    tenant: &str,
    parent: ArtifactParent,
    parent_id: &str,
) -> GraphResult<String> {
    let found = match parent {
        ArtifactParent::OnlineMeeting => state
            .store
            .online_meeting(tenant, parent_id)
            .await?
            .map(|m| m.organizer_id),
        ArtifactParent::AdhocCall => state
            .store
            .adhoc_call(tenant, parent_id)
            .await?
            .map(|c| c.organizer_id),
    };
    found.ok_or_else(|| {
        GraphError::not_found(format!(
            "{} '{}' does not exist; store it before its transcripts and recordings.",
            parent_label(parent),
            parent_id.escape_default()
        ))
    })
}

fn artifact_answer(w: &ArtifactWritten) -> Value {
    json!({ "id": w.key.id, "published": w.seq.is_some() })
}

/// `PUT …/{onlineMeetings|adhocCalls}/{parentId}/{transcripts|recordings}/{id}`
pub async fn put_artifact(
    State(state): State<AppState>,
    matched: MatchedPath,
    Path((tenant, parent_id, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    let route = route_of(&matched);
    require_tenant(&state, &tenant).await?;
    let bytes = json_body(&state, &headers, body)?;
    path_id("parent id", &parent_id)?;
    path_id("id", &id)?;
    let organizer = parent_organizer(&state, &tenant, route.parent, &parent_id).await?;
    let doc = body_with_path_id(&bytes, &id)?;
    let organizer_set = callhook_model::meeting_organizer(&organizer, &tenant);
    let now = state.clock.now();
    let meeting_id = match route.parent {
        ArtifactParent::OnlineMeeting => Some(parent_id.clone()),
        ArtifactParent::AdhocCall => None,
    };
    let check_meeting_id = |sent: &Option<String>| match sent {
        Some(_) if *sent != meeting_id => Err(GraphError::bad_request(match route.parent {
            ArtifactParent::OnlineMeeting => "meetingId: must equal the meeting id in the path",
            ArtifactParent::AdhocCall => "meetingId: must be null for an ad hoc call's artifact",
        })),
        _ => Ok(()),
    };
    // The server owns meetingId, meetingOrganizer and the content URL (computed when read);
    // Graph always reports when an artifact was created, so that defaults to its arrival.
    let (artifact_id, created, correlation, body) = match route.kind {
        ArtifactKind::Transcript => {
            let t = callhook_model::from_value::<CallTranscript>(doc).map_err(model_error)?;
            check_meeting_id(&t.meeting_id)?;
            let created = t.created_date_time.unwrap_or(now);
            let (id, correlation) = (t.id.clone(), t.content_correlation_id.clone());
            let body = CallTranscript {
                meeting_id: meeting_id.clone(),
                created_date_time: Some(created),
                transcript_content_url: None,
                meeting_organizer: Some(organizer_set),
                ..t
            };
            (id, created, correlation, body.to_graph_value())
        }
        ArtifactKind::Recording => {
            let r = callhook_model::from_value::<CallRecording>(doc).map_err(model_error)?;
            check_meeting_id(&r.meeting_id)?;
            let created = r.created_date_time.unwrap_or(now);
            let (id, correlation) = (r.id.clone(), r.content_correlation_id.clone());
            let body = CallRecording {
                meeting_id: meeting_id.clone(),
                created_date_time: Some(created),
                recording_content_url: None,
                meeting_organizer: Some(organizer_set),
                ..r
            };
            (id, created, correlation, body.to_graph_value())
        }
    };
    let write = ArtifactWrite {
        key: ArtifactKey {
            kind: route.kind,
            parent: route.parent,
            parent_id,
            id: artifact_id,
        },
        organizer_id: organizer,
        created,
        received: now,
        content_correlation_id: correlation,
        body: to_text(&body)?,
    };
    let w = state.store.put_artifact(&tenant, &write).await?;
    Ok((status_for(w.inserted), Json(artifact_answer(&w))).into_response())
}

/// The media type of a request, lower-cased and without parameters.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// A WebVTT file starts with `WEBVTT` (after an optional BOM), then a space, tab or line end.
fn check_webvtt(bytes: &[u8]) -> GraphResult<()> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| GraphError::bad_request(format!("The WebVTT body is not UTF-8: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let ok = text
        .strip_prefix("WEBVTT")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\n', '\r']));
    if ok {
        Ok(())
    } else {
        Err(GraphError::bad_request(
            "The body is not WebVTT: it must start with the line 'WEBVTT'.",
        ))
    }
}

/// An MP4 (ISO base media) file starts with its `ftyp` box.
fn check_mp4(bytes: &[u8]) -> GraphResult<()> {
    let size = bytes
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
    match (size, bytes.get(4..8)) {
        (Some(size), Some(b"ftyp")) if size >= 8 && size <= bytes.len() => Ok(()),
        _ => Err(GraphError::bad_request(
            "The body is not an MP4 file: it must start with an 'ftyp' box.",
        )),
    }
}

/// `PUT …/transcripts/{id}/content`, `…/transcripts/{id}/metadataContent`,
/// `…/recordings/{id}/content`
pub async fn put_artifact_stream(
    State(state): State<AppState>,
    matched: MatchedPath,
    Path((tenant, parent_id, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    let route = route_of(&matched);
    let stream = route.stream.unwrap_or(ArtifactStream::Content);
    require_tenant(&state, &tenant).await?;
    let expected = match route.kind {
        ArtifactKind::Transcript => "text/vtt",
        ArtifactKind::Recording => "video/mp4",
    };
    if media_type(&headers) != expected {
        return Err(GraphError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("The request body must be sent with Content-Type: {expected}."),
        ));
    }
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            GraphError::payload_too_large(state.config.max_body_bytes)
        } else {
            GraphError::bad_request(format!("The request body could not be read: {rejection}"))
        }
    })?;
    path_id("parent id", &parent_id)?;
    path_id("id", &id)?;
    match route.kind {
        ArtifactKind::Transcript => check_webvtt(&bytes)?,
        ArtifactKind::Recording => check_mp4(&bytes)?,
    }
    let key = ArtifactKey {
        kind: route.kind,
        parent: route.parent,
        parent_id,
        id,
    };
    let w = state
        .store
        .put_artifact_stream(&tenant, &key, stream, &bytes, state.clock.now())
        .await?
        .ok_or_else(|| {
            GraphError::not_found(format!(
                "{} '{}' of {} '{}' does not exist; store its metadata first.",
                match key.kind {
                    ArtifactKind::Transcript => "Transcript",
                    ArtifactKind::Recording => "Recording",
                },
                key.id.escape_default(),
                parent_label(key.parent).to_ascii_lowercase(),
                key.parent_id.escape_default()
            ))
        })?;
    if w.published {
        state.notify.wake.notify_one();
    }
    let mut answer = artifact_answer(&w);
    answer["contentLength"] = json!(bytes.len());
    Ok(Json(answer).into_response())
}

/// Stores call events (of any feed, emergency ones included) and wakes the notifier for the
/// notifications queued with them.
pub(super) async fn store_call_events(
    state: &AppState,
    tenant: &str,
    writes: &[CallEventWrite],
) -> GraphResult<Vec<callhook_store::CallEventWritten>> {
    let out = state
        .store
        .put_call_events(tenant, writes, state.clock.now())
        .await?;
    state.notify.wake.notify_one();
    Ok(out)
}

/// `POST /ingest/v1/tenants/{tenant}/callEvents` with `{"value": [callEvent, ...]}`
pub async fn post_call_events(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    let events: Vec<CallEvent> = parse_batch(
        &state,
        &tenant,
        &headers,
        body,
        MAX_CALL_EVENTS,
        "call events",
    )
    .await?;
    let mut writes = Vec::with_capacity(events.len());
    for (i, mut e) in events.into_iter().enumerate() {
        if e.user_id.is_none() && e.join_web_url.is_none() {
            return Err(GraphError::bad_request(format!(
                "value[{i}]: a call event needs userId (a user's feed) or joinWebUrl (a meeting's feed)"
            )));
        }
        if let Some(u) = &e.user_id {
            callhook_model::validate_id(u)
                .map_err(|m| GraphError::bad_request(format!("value[{i}].userId: {m}")))?;
        }
        let id =
            e.id.get_or_insert_with(|| uuid::Uuid::new_v4().to_string())
                .clone();
        writes.push(CallEventWrite {
            id,
            event_type: e.call_event_type.as_str().to_string(),
            event_time: e.event_date_time,
            user_id: e.user_id.clone(),
            join_web_url: e.join_web_url.clone(),
            call_id: e.call_id.clone(),
            policy_name: None,
            body: to_text(&e.to_graph_value())?,
        });
    }
    let out = store_call_events(&state, &tenant, &writes).await?;
    let value: Vec<Value> = out
        .iter()
        .map(|w| json!({ "id": w.id, "created": w.created }))
        .collect();
    Ok(Json(json!({ "value": value })).into_response())
}

#[cfg(test)]
mod tests {
    use super::{check_mp4, check_webvtt};

    #[test]
    fn webvtt_needs_its_signature_line() {
        assert!(check_webvtt(b"WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n").is_ok());
        assert!(check_webvtt(b"WEBVTT").is_ok());
        assert!(check_webvtt("\u{feff}WEBVTT - title\n".as_bytes()).is_ok());
        assert!(check_webvtt(b"WEBVTTX\n").is_err());
        assert!(check_webvtt(b"webvtt\n").is_err());
        assert!(check_webvtt(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn mp4_needs_a_leading_ftyp_box() {
        let mut ok = vec![0, 0, 0, 16];
        ok.extend_from_slice(b"ftypisom\0\0\0\0");
        assert!(check_mp4(&ok).is_ok());
        assert!(check_mp4(b"\0\0\0\x10moovxxxxxxxx").is_err());
        assert!(
            check_mp4(b"\0\0\x10\0ftypisom").is_err(),
            "box longer than the body"
        );
        assert!(check_mp4(b"").is_err());
    }
}
