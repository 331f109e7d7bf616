//! `GET /ingest/v1/openapi.json`: the ingest API described in OpenAPI 3.1.

use axum::Json;
use serde_json::{json, Value};

fn collection_body(item_ref: &str, max: u32) -> Value {
    json!({
        "required": true,
        "content": { "application/json": { "schema": {
            "type": "object", "required": ["value"],
            "properties": { "value": { "type": "array", "maxItems": max, "items": { "$ref": item_ref } } }
        } } }
    })
}

fn errors() -> Value {
    json!({
        "400": { "$ref": "#/components/responses/BadRequest" },
        "401": { "$ref": "#/components/responses/Unauthorized" },
        "404": { "$ref": "#/components/responses/NotFound" },
        "413": { "$ref": "#/components/responses/TooLarge" }
    })
}

fn with_errors(mut ok: Value) -> Value {
    if let (Value::Object(m), Value::Object(e)) = (&mut ok, errors()) {
        m.extend(e);
    }
    ok
}

pub async fn document() -> Json<Value> {
    let tenant = json!({ "name": "tenantId", "in": "path", "required": true, "schema": { "type": "string" } });
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "maxLength": 256 } });
    let graph_object =
        |desc: &str| json!({ "type": "object", "description": desc, "additionalProperties": true });
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "callhook ingest API",
            "version": "1",
            "description": "Feeds call records, report rows, directory users, online meetings, ad hoc calls, transcripts, recordings and call events into callhook. Bodies use Microsoft Graph's JSON shapes; see docs/ingest-api.md."
        },
        "security": [{ "ingestKey": [] }],
        "paths": {
            "/ingest/v1/tenants/{tenantId}/callRecords/{id}": {
                "put": {
                    "summary": "Store a call record (new id: version 1; existing id: replaced, version + 1)",
                    "parameters": [tenant, id],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/callRecord" } } } },
                    "responses": with_errors(json!({
                        "201": { "description": "Stored as a new record", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/written" } } } },
                        "200": { "description": "Replaced an existing record", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/written" } } } }
                    }))
                }
            },
            "/ingest/v1/tenants/{tenantId}/callRecords": {
                "post": {
                    "summary": "Store up to 100 call records, all or nothing",
                    "parameters": [tenant],
                    "requestBody": collection_body("#/components/schemas/callRecord", 100),
                    "responses": with_errors(json!({
                        "200": { "description": "All stored", "content": { "application/json": { "schema": {
                            "type": "object", "properties": { "value": { "type": "array", "items": { "$ref": "#/components/schemas/written" } } } } } } }
                    }))
                }
            },
            "/ingest/v1/tenants/{tenantId}/reports/{report}": {
                "post": {
                    "summary": "Store up to 1,000 report rows, all or nothing",
                    "parameters": [tenant, { "name": "report", "in": "path", "required": true, "schema": {
                        "type": "string", "enum": ["pstnCalls", "directRoutingCalls", "smsLog", "pstnBlockedUsersLog", "pstnOnlineMeetingDialout"] } }],
                    "requestBody": collection_body("#/components/schemas/reportRow", 1000),
                    "responses": with_errors(json!({
                        "200": { "description": "All stored", "content": { "application/json": { "schema": {
                            "type": "object", "properties": { "accepted": { "type": "integer" } } } } } }
                    }))
                }
            },
            "/ingest/v1/tenants/{tenantId}/users/{id}": {
                "put": {
                    "summary": "Store a directory user",
                    "parameters": [tenant, id],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/user" } } } },
                    "responses": with_errors(json!({ "200": { "description": "Stored", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/user" } } } } }))
                }
            },
            "/ingest/v1/tenants/{tenantId}/users": {
                "post": {
                    "summary": "Store up to 1,000 directory users, all or nothing",
                    "parameters": [tenant],
                    "requestBody": collection_body("#/components/schemas/user", 1000),
                    "responses": with_errors(json!({ "200": { "description": "All stored" } }))
                }
            }
        },
        "components": {
            "securitySchemes": { "ingestKey": { "type": "http", "scheme": "bearer", "description": "The ingestKey of DATA_DIR/credentials.json" } },
            "schemas": {
                "callRecord": graph_object("A microsoft.graph.callRecords.callRecord as Graph returns it fully expanded: its properties, organizer_v2, participants_v2 and sessions with segments. Required: id (or the path id), type, modalities, startDateTime, endDateTime."),
                "reportRow": graph_object("A row of the report named in the path, with Graph's property names (pstnCallLogRow, directRoutingLogRow, smsLogRow, pstnBlockedUsersLogRow, or a dial-out usage row with usageDateTime)."),
                "user": {
                    "type": "object", "required": ["id"],
                    "properties": {
                        "id": { "type": "string" }, "displayName": { "type": ["string", "null"] },
                        "userPrincipalName": { "type": ["string", "null"] }, "mail": { "type": ["string", "null"] }
                    }
                },
                "written": {
                    "type": "object",
                    "properties": { "id": { "type": "string" }, "version": { "type": "integer" }, "lastModifiedDateTime": { "type": "string", "format": "date-time" } }
                },
                "error": {
                    "type": "object",
                    "properties": { "error": { "type": "object", "properties": {
                        "code": { "type": "string" }, "message": { "type": "string" }, "innerError": { "type": "object" } } } }
                }
            },
            "responses": {
                "BadRequest": { "description": "Malformed body; the message names the field", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/error" } } } },
                "Unauthorized": { "description": "Missing or wrong ingest key", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/error" } } } },
                "NotFound": { "description": "Unknown tenant or report", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/error" } } } },
                "UnsupportedMediaType": { "description": "Wrong Content-Type for the stream", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/error" } } } },
                "TooLarge": { "description": "Body over 8 MiB", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/error" } } } }
            }
        }
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        paths.extend(meeting_paths(&tenant));
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        schemas.extend(meeting_schemas());
    }
    Json(doc)
}

/// Online meetings, ad hoc calls, their transcripts and recordings, and call events.
fn meeting_paths(tenant: &Value) -> serde_json::Map<String, Value> {
    let artifact_id = |name: &str| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string", "maxLength": 1024 } });
    let parent = json!({ "name": "parent", "in": "path", "required": true, "schema": { "type": "string", "enum": ["onlineMeetings", "adhocCalls"] } });
    let json_body = |schema: &str| json!({ "required": true, "content": { "application/json": { "schema": { "$ref": schema } } } });
    let raw_body = |media: &str| json!({ "required": true, "content": { media: { "schema": { "type": "string", "format": "binary" } } } });
    let paths = json!({
            "/ingest/v1/tenants/{tenantId}/onlineMeetings/{id}": {
                "put": {
                    "summary": "Store an online meeting (new id: 201; existing id: replaced, 200)",
                    "parameters": [tenant, artifact_id("id")],
                    "requestBody": json_body("#/components/schemas/onlineMeeting"),
                    "responses": with_errors(json!({
                        "201": { "description": "Stored as a new meeting" },
                        "200": { "description": "Replaced an existing meeting" }
                    }))
                }
            },
            "/ingest/v1/tenants/{tenantId}/adhocCalls/{id}": {
                "put": {
                    "summary": "Store an ad hoc call, the owner of its transcripts and recordings",
                    "parameters": [tenant, artifact_id("id")],
                    "requestBody": json_body("#/components/schemas/adhocCall"),
                    "responses": with_errors(json!({ "201": { "description": "Stored" }, "200": { "description": "Replaced" } }))
                }
            },
            "/ingest/v1/tenants/{tenantId}/{parent}/{parentId}/transcripts/{id}": {
                "put": {
                    "summary": "Store a transcript's metadata; it is published once its content is stored",
                    "parameters": [tenant, parent.clone(), artifact_id("parentId"), artifact_id("id")],
                    "requestBody": json_body("#/components/schemas/callTranscript"),
                    "responses": with_errors(json!({
                        "201": { "description": "Stored", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/artifactWritten" } } } },
                        "200": { "description": "Replaced", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/artifactWritten" } } } }
                    }))
                }
            },
            "/ingest/v1/tenants/{tenantId}/{parent}/{parentId}/transcripts/{id}/content": {
                "put": {
                    "summary": "Store a transcript's WebVTT content (publishes the transcript)",
                    "parameters": [tenant, parent.clone(), artifact_id("parentId"), artifact_id("id")],
                    "requestBody": raw_body("text/vtt"),
                    "responses": with_errors(json!({ "200": { "description": "Stored", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/artifactWritten" } } } },
                        "415": { "$ref": "#/components/responses/UnsupportedMediaType" } }))
                }
            },
            "/ingest/v1/tenants/{tenantId}/{parent}/{parentId}/transcripts/{id}/metadataContent": {
                "put": {
                    "summary": "Store a transcript's metadataContent (WebVTT with one JSON object per cue)",
                    "parameters": [tenant, parent.clone(), artifact_id("parentId"), artifact_id("id")],
                    "requestBody": raw_body("text/vtt"),
                    "responses": with_errors(json!({ "200": { "description": "Stored" }, "415": { "$ref": "#/components/responses/UnsupportedMediaType" } }))
                }
            },
            "/ingest/v1/tenants/{tenantId}/{parent}/{parentId}/recordings/{id}": {
                "put": {
                    "summary": "Store a recording's metadata; it is published once its content is stored",
                    "parameters": [tenant, parent.clone(), artifact_id("parentId"), artifact_id("id")],
                    "requestBody": json_body("#/components/schemas/callRecording"),
                    "responses": with_errors(json!({ "201": { "description": "Stored" }, "200": { "description": "Replaced" } }))
                }
            },
            "/ingest/v1/tenants/{tenantId}/{parent}/{parentId}/recordings/{id}/content": {
                "put": {
                    "summary": "Store a recording's MP4 bytes (publishes the recording)",
                    "parameters": [tenant, parent, artifact_id("parentId"), artifact_id("id")],
                    "requestBody": raw_body("video/mp4"),
                    "responses": with_errors(json!({ "200": { "description": "Stored" }, "415": { "$ref": "#/components/responses/UnsupportedMediaType" } }))
                }
            },
            "/ingest/v1/tenants/{tenantId}/callEvents": {
                "post": {
                    "summary": "Store up to 1,000 call events, all or nothing; an id already stored is kept as it is",
                    "parameters": [tenant],
                    "requestBody": collection_body("#/components/schemas/callEvent", 1000),
                    "responses": with_errors(json!({ "200": { "description": "All stored", "content": { "application/json": { "schema": {
                        "type": "object", "properties": { "value": { "type": "array", "items": {
                            "type": "object", "properties": { "id": { "type": "string" }, "created": { "type": "boolean" } } } } } } } } } }))
                }
            },
            "/ingest/v1/tenants/{tenantId}/emergencyPolicies/{name}": {
                "put": {
                    "summary": "Store or replace an emergency policy: its name and the dial strings (emergency numbers) it covers",
                    "parameters": [tenant, { "name": "name", "in": "path", "required": true, "schema": { "type": "string", "maxLength": 256 } }],
                    "requestBody": json_body("#/components/schemas/emergencyPolicy"),
                    "responses": with_errors(json!({ "201": { "description": "Stored" }, "200": { "description": "Replaced" } }))
                }
            },
            "/ingest/v1/tenants/{tenantId}/emergencyCallEvents": {
                "post": {
                    "summary": "Store up to 1,000 emergency call events, all or nothing; each notifies its policy's getEmergencyEventsByPolicy subscriptions",
                    "parameters": [tenant],
                    "requestBody": collection_body("#/components/schemas/emergencyCallEvent", 1000),
                    "responses": with_errors(json!({ "200": { "description": "All stored", "content": { "application/json": { "schema": {
                        "type": "object", "properties": { "value": { "type": "array", "items": {
                            "type": "object", "properties": { "id": { "type": "string" }, "created": { "type": "boolean" }, "policyName": { "type": "string" } } } } } } } } } }))
                }
            }
    });
    match paths {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

fn meeting_schemas() -> serde_json::Map<String, Value> {
    let graph_object =
        |desc: &str| json!({ "type": "object", "description": desc, "additionalProperties": true });
    let schemas = json!({
                "onlineMeeting": graph_object("A microsoft.graph.onlineMeeting: id, creationDateTime, startDateTime, endDateTime, joinWebUrl, subject, isBroadcast, externalId, videoTeleconferenceId, allowRecording, allowTranscription, recordAutomatically, participants (organizer required, with identity.user.id), chatInfo, joinMeetingIdSettings."),
                "adhocCall": graph_object("A microsoft.graph.adhocCall (id) with the ingest-only organizer (identitySet; user.id required), startDateTime and endDateTime."),
                "callTranscript": graph_object("A microsoft.graph.callTranscript: id, callId, createdDateTime (default: now), endDateTime, contentCorrelationId. meetingId must be absent or equal the path's meeting (null for ad hoc calls); meetingOrganizer and transcriptContentUrl are set by the server."),
                "callRecording": graph_object("A microsoft.graph.callRecording: as callTranscript, with recordingContentUrl set by the server."),
                "callEvent": graph_object("A microsoft.graph.callEvent (id optional, callEventType and eventDateTime required, participants) with the ingest-only userId, direction, callId, joinCallUrl (a user's feed) and joinWebUrl (a meeting's feed); userId or joinWebUrl is required."),
                "emergencyPolicy": graph_object("callhook's emergency policy: name (optional, must equal the path's), dialStrings (1 to 50 strings of digits, '*', '#', a leading '+'; at most 15 characters) and description."),
                "emergencyCallEvent": graph_object("A microsoft.graph.emergencyCallEvent: id (optional), callEventType, eventDateTime, emergencyNumberDialed and callerInfo required; policyName optional (default: the tenant's policy whose dialStrings hold emergencyNumberDialed; a named policy must exist and hold the number); callerInfo = displayName, upn, phoneNumber, tenantId (set to the path's tenant), location {address {street, city, state, countryOrRegion, postalCode, additionalData {companyName, additionalInfo, houseNumber, county, streetSuffix}}, coordinates {latitude, longitude} (strings)}."),
                "artifactWritten": {
                    "type": "object",
                    "properties": { "id": { "type": "string" }, "published": { "type": "boolean" }, "contentLength": { "type": "integer" } }
                }
    });
    match schemas {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}
