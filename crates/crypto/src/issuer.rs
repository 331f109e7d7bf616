//! The forms callhook's tokens take (`--token-form`): Entra's v1.0 or v2.0 issuer and claims,
//! or callhook's own authority. Access tokens and `validationTokens` follow the same choice;
//! the discovery documents name the matching issuer.

/// Entra's v1.0 issuer host (`https://sts.windows.net/{tid}/`).
pub const ENTRA_V1_HOST: &str = "https://sts.windows.net";
/// Entra's v2.0 issuer host (`https://login.microsoftonline.com/{tid}/v2.0`).
pub const ENTRA_V2_HOST: &str = "https://login.microsoftonline.com";

/// Which issuer and claim names a token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenForm {
    /// `iss https://sts.windows.net/{tid}/`, `ver 1.0`, publisher in `appid`/`appidacr` — and
    /// also in `azp`/`azpacr`, which v1.0 tokens do not carry but Microsoft's Java SDK checks,
    /// so one token passes the Node sample, the .NET SDK and the Java SDK.
    #[default]
    EntraV1,
    /// `iss https://login.microsoftonline.com/{tid}/v2.0`, `ver 2.0`, publisher in `azp`/`azpacr`.
    EntraV2,
    /// `iss {callhook base URL}/{tid}/v2.0`, `ver 2.0`: the authority of callhook's own token
    /// endpoint (callhook before Entra's forms).
    Callhook,
}

impl TokenForm {
    /// The `iss` of a token for `tenant_id`; `base_url` matters only for [`TokenForm::Callhook`].
    pub fn issuer(self, base_url: &str, tenant_id: &str) -> String {
        match self {
            TokenForm::EntraV1 => entra_v1_issuer(tenant_id),
            TokenForm::EntraV2 => entra_v2_issuer(tenant_id),
            TokenForm::Callhook => callhook_issuer(base_url, tenant_id),
        }
    }

    /// The `ver` claim.
    pub fn version(self) -> &'static str {
        match self {
            TokenForm::EntraV1 => "1.0",
            TokenForm::EntraV2 | TokenForm::Callhook => "2.0",
        }
    }

    /// The flag's spelling.
    pub fn name(self) -> &'static str {
        match self {
            TokenForm::EntraV1 => "entra-v1",
            TokenForm::EntraV2 => "entra-v2",
            TokenForm::Callhook => "callhook",
        }
    }
}

pub fn entra_v1_issuer(tenant_id: &str) -> String {
    format!("{ENTRA_V1_HOST}/{tenant_id}/")
}

pub fn entra_v2_issuer(tenant_id: &str) -> String {
    format!("{ENTRA_V2_HOST}/{tenant_id}/v2.0")
}

pub fn callhook_issuer(base_url: &str, tenant_id: &str) -> String {
    format!("{}/{tenant_id}/v2.0", base_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_entras_own_strings() {
        assert_eq!(
            TokenForm::EntraV1.issuer("http://x", "t"),
            "https://sts.windows.net/t/"
        );
        assert_eq!(
            TokenForm::EntraV2.issuer("http://x", "t"),
            "https://login.microsoftonline.com/t/v2.0"
        );
        assert_eq!(
            TokenForm::Callhook.issuer("http://x:1/", "t"),
            "http://x:1/t/v2.0"
        );
        assert_eq!(TokenForm::default(), TokenForm::EntraV1);
    }
}
