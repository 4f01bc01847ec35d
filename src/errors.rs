//! Every way a tool call can fail, and the one mapping to words a person can act on.
//!
//! These become tool results with `isError: true`; only protocol misuse (an unknown tool)
//! becomes a JSON-RPC error.

use std::time::Duration;

/// Where a token is made, said in every credentials message.
macro_rules! where_tokens_are_made {
    () => {
        "in the DCD under Management > Token Manager (or with GET https://api.ionos.com/auth/v1/tokens/generate using your username and password)"
    };
}

/// How to get going without a token.
pub const TOKEN_HELP: &str = concat!(
    "Create one ",
    where_tokens_are_made!(),
    ", set it as IONOS_TOKEN in the MCP client's configuration, and restart the client"
);

/// Where to make a new token when one is configured; `Credentials::renewal` then says where to
/// put it.
pub const NEW_TOKEN: &str = concat!("Create a new one ", where_tokens_are_made!());

/// The same without the password route, for accounts whose password alone does not sign in
/// (2-factor authentication).
pub const TOKEN_HELP_2FA: &str = "Sign in to the DCD (with your second factor) and create one under Management > Token Manager, set it as IONOS_TOKEN in the MCP client's configuration, and restart the client";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("Invalid arguments for {tool}: {problems}. Expected: {expected}")]
    InvalidArguments {
        tool: String,
        problems: String,
        expected: String,
    },

    #[error(
        "{tool} changes your IONOS account and is disabled: this server serves {served} tools only. Start it with IONOS_MCP_TOOL_SCOPE={needs} to serve it{also}"
    )]
    WritesDisabled {
        tool: String,
        /// What the server serves (`read-only`, `read and write`).
        served: &'static str,
        /// The scope the tool needs (`write`, `destructive`).
        needs: &'static str,
        /// Note on the older variable, for write tools.
        also: &'static str,
    },

    #[error(
        "IONOS could not {action} the server: request {request_id} FAILED: {reason}. The server is as it was; get_server shows its state."
    )]
    RequestFailed {
        action: &'static str,
        request_id: String,
        reason: String,
    },

    #[error(
        "The confirmation could not be recorded or checked ({detail}), so nothing was sent. Try again in a moment."
    )]
    ConfirmationUnavailable { detail: String },

    #[error(
        "IONOS_TOKEN is not set (nor IONOS_TOKEN_FILE, IONOS_USERNAME/IONOS_PASSWORD or a profile in ~/.ionos/config), so IONOS cannot be asked. {TOKEN_HELP}."
    )]
    MissingToken,

    #[error(
        "{tool} is not served: IONOS_TOOLSETS does not include `{toolset}`. Add it to IONOS_TOOLSETS (or unset the variable to serve every toolset) and restart the client."
    )]
    NotSelected { tool: String, toolset: String },

    #[error("{variable} expired at {at}, so IONOS cannot be asked. {NEW_TOKEN}, then {renewal}.")]
    TokenExpired {
        variable: String,
        at: String,
        /// How to put the new token where this server reads it (`Credentials::renewal`).
        renewal: String,
    },

    #[error(
        "IONOS_TOKEN_FILE {path} cannot be used: {problem}. Put a token from the DCD (Management > Token Manager) in that file."
    )]
    TokenFile { path: String, problem: String },

    #[error(
        "IONOS rejected {origin} (401 Unauthorized){detail}. Check them; accounts with 2-factor authentication cannot use a password here and need a token: {TOKEN_HELP_2FA}."
    )]
    BasicRejected { origin: String, detail: String },

    #[error("{origin} cannot be sent: {problem}. Copy it again, without line breaks or spaces.")]
    CredentialsUnusable { origin: String, problem: String },

    #[error(
        "IONOS rejected the token from {origin} (401 Unauthorized): it is expired, revoked or not an IONOS token{detail}. {NEW_TOKEN}, then {renewal}."
    )]
    Unauthorized {
        origin: String,
        detail: String,
        renewal: String,
    },

    #[error(
        "IONOS refused access (403 Forbidden){detail}. The {product} tools need {privilege}. Ask the contract owner or an administrator to grant it, or use a token of a user who has it."
    )]
    Forbidden {
        product: String,
        privilege: String,
        detail: String,
    },

    #[error(
        "Not found (404): {what}{detail}. Check the id with the matching list tool{list_hint}."
    )]
    NotFound {
        what: String,
        detail: String,
        list_hint: String,
    },

    #[error(
        "IONOS is rate-limiting this account (429 Too Many Requests){retry}. Wait before calling again, and prefer fewer, narrower calls (depth, filters, limit)."
    )]
    RateLimited { retry: String },

    #[error(
        "IONOS answered {status}{detail}. This is a problem on the IONOS side; try again in a minute."
    )]
    ServerError { status: u16, detail: String },

    #[error("IONOS answered {status}{detail}.")]
    Rejected { status: u16, detail: String },

    #[error(
        "IONOS did not answer within {0:?}. The service may be slow or unreachable; try again, or narrow the request (lower depth, a limit, filters)."
    )]
    Timeout(Duration),

    #[error(
        "Could not reach IONOS at {url}: {detail}. Check the network and the base URL ({variable})."
    )]
    Unreachable {
        url: String,
        detail: String,
        variable: String,
    },

    #[error(
        "The answer is larger than {limit_mb} MB and was not read. Narrow the request: a lower depth, a limit, or filters."
    )]
    TooLarge { limit_mb: usize },

    #[error("IONOS sent an answer that could not be read ({detail}).")]
    BadResponse { detail: String },

    #[error(
        "{tool} needs an Object Storage access key pair, and {missing} not set. Create a key pair in the DCD under Object Storage > Access Keys (the secret key is shown once, at creation), set IONOS_S3_ACCESS_KEY and IONOS_S3_SECRET_KEY in the MCP client's configuration, and restart the client. All other tools work without them."
    )]
    S3KeysMissing { tool: String, missing: String },

    #[error("Object Storage refused the request ({status} {code}){message}. {hint}")]
    /// `message` is `: …` without a closing full stop, as [`ionos_detail`] gives it.
    S3Refused {
        status: u16,
        code: String,
        message: String,
        hint: String,
    },
}

/// Formats an IONOS error body's messages for appending to a sentence.
pub fn ionos_detail(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let msgs: Vec<String> = v
        .get("messages")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let text = m.get("message")?.as_str()?;
            let code = m.get("errorCode").and_then(|c| {
                c.as_str()
                    .map(str::to_string)
                    .or(c.as_i64().map(|n| n.to_string()))
            });
            // The sentence goes on after the detail, so its own full stop would double.
            let text = text.trim().trim_end_matches('.');
            Some(match code {
                Some(c) => format!("{text} [IONOS error {c}]"),
                None => text.to_string(),
            })
        })
        .take(3)
        .map(|m| m.chars().take(300).collect())
        .collect();
    if msgs.is_empty() {
        String::new()
    } else {
        format!(": {}", msgs.join("; "))
    }
}

/// `s` cut to `max` characters, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}
