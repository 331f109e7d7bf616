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
    Json(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "callhook ingest API",
            "version": "1",
            "description": "Feeds call records, report rows and directory users into callhook. Bodies use Microsoft Graph's JSON shapes; see docs/ingest-api.md."
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
                "TooLarge": { "description": "Body over 8 MiB", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/error" } } } }
            }
        }
    }))
}
