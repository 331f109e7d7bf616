//! Bearer tokens on Graph routes: the claims callhook issues and the middleware that checks them.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::GraphError;
use crate::AppState;

/// Graph's resource ids, as `aud` of an access token.
pub const GRAPH_AUDIENCES: &[&str] = &[
    "https://graph.microsoft.com",
    "00000003-0000-0000-c000-000000000000",
];

/// Claims of an access token, in Entra's shape: an app's (`roles`, `idtyp: app`) or a user's
/// (`scp`, `idtyp: user`, `oid` = the user's object id).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    pub appid: String,
    pub azp: String,
    #[serde(default)]
    pub app_displayname: Option<String>,
    #[serde(default)]
    pub idtyp: Option<String>,
    pub oid: String,
    pub sub: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Delegated permissions, space-separated (user tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub uti: String,
    pub ver: String,
}

/// Who is calling: set by [`require_token`] for every Graph route.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant_id: String,
    pub app_id: String,
    /// Application permissions (empty for a user's token).
    pub roles: Vec<String>,
    /// The signed-in user's object id, for a delegated token.
    pub user_id: Option<String>,
    /// Delegated permissions (empty for an app's token).
    pub scopes: Vec<String>,
}

impl Caller {
    /// A user's token (delegated permissions) rather than an app's.
    pub fn is_delegated(&self) -> bool {
        self.user_id.is_some()
    }

    /// `Ok` if the caller is an app holding any of the application permissions `roles`;
    /// Graph's 403 otherwise (always for a delegated token, which carries no roles).
    pub fn require_any(&self, roles: &[&str]) -> Result<(), GraphError> {
        if self.roles.iter().any(|r| roles.contains(&r.as_str())) {
            Ok(())
        } else {
            Err(GraphError::forbidden())
        }
    }
}

/// The credentials of an `Authorization: Bearer …` value. The scheme is case-insensitive
/// (RFC 7235 §2.1), and any run of spaces or tabs may separate it from the token.
pub fn bearer_credentials(value: &str) -> Option<&str> {
    let value = value.trim_start_matches([' ', '\t']);
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("bearer") || !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some(rest.trim_matches([' ', '\t']))
}

fn bearer(req: &Request) -> Result<String, GraphError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| GraphError::unauthenticated("Access token is empty."))?;
    let value = value.to_str().map_err(|_| {
        GraphError::unauthenticated("Access token validation failure. Invalid audience.")
    })?;
    let token = bearer_credentials(value).unwrap_or("");
    if token.is_empty() {
        return Err(GraphError::unauthenticated("Access token is empty."));
    }
    Ok(token.to_string())
}

/// Checks the bearer token and records the [`Caller`]; answers Graph's 401 otherwise.
pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let token = match bearer(&req) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let base = state.base_url(req.headers());
    match authenticate(&state, &token, &base).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// How far in the future `nbf` and `iat` may lie: the clocks of several nodes (or of a node
/// and `callhook token`) may differ by this much. Entra's libraries allow the same 5 minutes.
pub const CLOCK_SKEW_SECS: i64 = 300;

/// The longest lifetime (`exp` − `nbf`) accepted. Entra's configurable access-token lifetime
/// ends at one day, and callhook issues 1-hour tokens: anything longer was not minted by a
/// server in its right configuration, and a leaked long-lived token must not stay usable.
pub const MAX_LIFETIME_SECS: i64 = 24 * 3600;

/// The lifetime and issuer checks beyond the signature, audience and expiry.
fn check_claims(claims: &AccessClaims, base_url: &str, now: i64) -> Result<(), GraphError> {
    let not_yet =
        || GraphError::unauthenticated("Lifetime validation failed, the token is not yet valid.");
    if claims.nbf > now + CLOCK_SKEW_SECS || claims.iat > now + CLOCK_SKEW_SECS {
        return Err(not_yet());
    }
    if claims.exp - claims.nbf.min(claims.iat) > MAX_LIFETIME_SECS {
        return Err(GraphError::unauthenticated(
            "Lifetime validation failed, the token lifetime exceeds the maximum allowed.",
        ));
    }
    // Every form callhook has issued in, whatever `--token-form` says now, so switching the
    // flag does not void the tokens clients hold.
    let tid = claims.tid.as_str();
    let accepted = [
        callhook_crypto::entra_v1_issuer(tid),
        callhook_crypto::entra_v2_issuer(tid),
        callhook_crypto::callhook_issuer(base_url, tid),
    ];
    if !accepted.contains(&claims.iss) {
        return Err(GraphError::unauthenticated(
            "Access token validation failure. Invalid issuer.",
        ));
    }
    if claims.azp != claims.appid {
        return Err(GraphError::unauthenticated(
            "Access token validation failure. The azp claim does not match appid.",
        ));
    }
    Ok(())
}

async fn authenticate(state: &AppState, token: &str, base_url: &str) -> Result<Caller, GraphError> {
    use callhook_crypto::TokenError as T;
    let now = state.clock.now().timestamp();
    // `nbf` gets the skew here; `exp` is checked exactly below.
    let claims: AccessClaims = state
        .keys()
        .verify(token, GRAPH_AUDIENCES, now, CLOCK_SKEW_SECS)
        .map_err(|e| {
            GraphError::unauthenticated(match e {
                T::Expired => "Lifetime validation failed, the token is expired.",
                T::NotYetValid => "Lifetime validation failed, the token is not yet valid.",
                T::WrongAudience => "Access token validation failure. Invalid audience.",
                T::BadSignature | T::UnknownKey => {
                    "Access token validation failure. Invalid signature."
                }
                T::Malformed | T::WrongAlgorithm => {
                    "Invalid JWT token. The token is not well formed."
                }
            })
        })?;
    if now >= claims.exp {
        return Err(GraphError::unauthenticated(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    check_claims(&claims, base_url, now)?;
    // A token outlives neither its tenant nor its app registration.
    let app = state.store.app(&claims.appid).await?;
    match app {
        Some(app) if app.tenant_id == claims.tid => {}
        _ => {
            return Err(GraphError::unauthenticated(
                "Access token validation failure. The application or its tenant no longer exists.",
            ))
        }
    }
    let Some(scp) = claims.scp else {
        return Ok(Caller {
            tenant_id: claims.tid,
            app_id: claims.appid,
            roles: claims.roles,
            user_id: None,
            scopes: Vec::new(),
        });
    };
    // A user's token outlives neither the user.
    if state
        .store
        .sign_in_user(&claims.tid, &claims.oid)
        .await?
        .is_none_or(|u| u.id != claims.oid)
    {
        return Err(GraphError::unauthenticated(
            "Access token validation failure. The user no longer exists.",
        ));
    }
    Ok(Caller {
        tenant_id: claims.tid,
        app_id: claims.appid,
        roles: Vec::new(),
        user_id: Some(claims.oid),
        scopes: scp
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}
