//! Confirmation before a destructive tool call is sent, with the best mechanism the client
//! has:
//!
//! 1. a 2026-07-28 client that declares form elicitation gets an `InputRequiredResult`
//!    (MRTR) whose request state is sealed (HMAC-SHA256, at most 5 minutes, bound to the
//!    caller, the tool and a digest of the arguments) and used once;
//! 2. a session client with elicitation is asked with an `elicitation/create` request;
//! 3. any other client gets a preview result with a single-use `confirmation_token` (5
//!    minutes, bound likewise), which the repeated call carries.
//!
//! Decline, cancel, no answer in time, a bad token or a bad state: nothing is sent. The
//! target is read first, so a server that does not exist, is already where it was asked to
//! go, or is the wrong kind (a CUBE server asked to stop) is answered without a token.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequest,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema, InputRequest,
    InputRequests, InputRequiredResult, ProtocolVersion,
};
use rmcp::service::{ElicitationMode, RequestContext};
use rmcp::{RoleServer, ServiceError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::access::confirmations::{Binding, Confirmations, Redeemed, id_of};
use crate::access::guard::Principal;
use crate::errors::ToolError;
use crate::tools::dispatch::Dispatcher;
use crate::tools::power::{self, Check, Target, Verb};
use crate::tools::table::ToolSpec;

/// How long a confirmation (token or sealed state) is good for; never more than 5 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// How long a session client's user has to answer the elicitation.
pub const DEFAULT_ASK_TIMEOUT: Duration = Duration::from_secs(120);
/// The caller on stdio (and HTTP without keys): the one local user.
pub const LOCAL_CALLER: &str = "local";
/// The key of the confirmation in an MRTR `inputRequests` map.
const INPUT_KEY: &str = "confirm";
/// The form's one field.
const FIELD: &str = "confirm";
/// Mixed into every seal, so a seal made for something else never opens here.
const SEAL_CONTEXT: &[u8] = b"ionos-mcp confirmation state v1\n";

/// What the handler does after [`Confirmer::confirm`].
pub enum Decision {
    /// The person agreed: send it.
    Proceed,
    /// Answer this and send nothing.
    Answer(Box<CallToolResponse>),
}

impl Decision {
    fn answer(response: CallToolResponse) -> Decision {
        Decision::Answer(Box::new(response))
    }
}

/// Asks for confirmations and keeps the single-use records.
pub struct Confirmer {
    store: Arc<dyn Confirmations>,
    key: OnceCell<Vec<u8>>,
    ttl: Duration,
    ask_timeout: Duration,
}

/// The sealed MRTR request state's contents (signed, not secret).
#[derive(Debug, Serialize, Deserialize)]
struct State {
    /// The single-use nonce, kept in the store by its SHA-256.
    n: String,
    c: String,
    t: String,
    d: String,
    /// Expiry, Unix seconds.
    e: i64,
}

impl Confirmer {
    pub fn new(store: Arc<dyn Confirmations>) -> Confirmer {
        Confirmer {
            store,
            key: OnceCell::new(),
            ttl: DEFAULT_TTL,
            ask_timeout: DEFAULT_ASK_TIMEOUT,
        }
    }

    /// Shorter lifetimes (tests); a lifetime over 5 minutes is cut to 5 minutes.
    pub fn with_times(mut self, ttl: Duration, ask_timeout: Duration) -> Confirmer {
        self.ttl = ttl.min(DEFAULT_TTL);
        self.ask_timeout = ask_timeout;
        self
    }

    /// Decides about one call of the destructive `tool` with its validated `args`.
    pub async fn confirm(
        &self,
        dispatcher: &Dispatcher,
        tool: &'static ToolSpec,
        verb: Verb,
        args: &Value,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<Decision, ToolError> {
        let binding = Binding {
            caller: caller(context),
            tool: tool.name.to_string(),
            args: digest(args),
            label: String::new(),
        };
        if let Some(token) = args.get("confirmation_token").and_then(Value::as_str) {
            let outcome = self.redeem(id_of(token.trim()), binding).await?;
            return Ok(match outcome {
                Redeemed::Valid => Decision::Proceed,
                refused => Decision::answer(token_refused(tool, args, &refused).into()),
            });
        }
        if let Some(state) = &request.request_state {
            return self.resume(tool, args, state, request, binding).await;
        }
        let target = match power::check(dispatcher, verb, args).await? {
            Check::Go(target) => target,
            Check::Stop { message, error } => {
                let result = if error {
                    CallToolResult::error(vec![ContentBlock::text(message)])
                } else {
                    CallToolResult::structured(json!({"executed": false, "message": message}))
                };
                return Ok(Decision::answer(result.into()));
            }
        };
        let binding = Binding {
            label: target.describe(),
            ..binding
        };
        let question = question(verb, &target);
        let modern = context
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
        if modern {
            if declares_form(context) {
                return self.input_required(binding, &question, verb, &target).await;
            }
        } else if context
            .peer
            .supported_elicitation_modes()
            .contains(&ElicitationMode::Form)
        {
            return Ok(self.ask(context, tool, &question, verb, &target).await);
        }
        self.preview(tool, verb, &target, binding).await
    }

    async fn key(&self) -> Result<&[u8], ToolError> {
        self.key
            .get_or_try_init(|| self.store.sealing_key())
            .await
            .map(Vec::as_slice)
            .map_err(store_error)
    }

    async fn redeem(&self, id: String, binding: Binding) -> Result<Redeemed, ToolError> {
        self.store
            .redeem(id, binding, crate::access::now())
            .await
            .map_err(store_error)
    }

    /// MRTR: the elicitation, and the sealed state the retry brings back.
    async fn input_required(
        &self,
        binding: Binding,
        question: &str,
        verb: Verb,
        target: &Target,
    ) -> Result<Decision, ToolError> {
        let nonce = random_token("n_")?;
        let expires_at = crate::access::now() + self.ttl.as_secs() as i64;
        let state = State {
            n: nonce.clone(),
            c: binding.caller.clone(),
            t: binding.tool.clone(),
            d: binding.args.clone(),
            e: expires_at,
        };
        let sealed = seal(self.key().await?, &state)?;
        self.store
            .issue(id_of(&nonce), binding, expires_at)
            .await
            .map_err(store_error)?;
        let mut requests = InputRequests::new();
        requests.insert(
            INPUT_KEY.to_string(),
            InputRequest::Elicitation(ElicitRequest::new(form(question, verb, target))),
        );
        Ok(Decision::answer(
            InputRequiredResult::new(Some(requests), Some(sealed)).into(),
        ))
    }

    /// MRTR retry: the state must open (our seal, in time, this call) and be unused; then the
    /// answer decides.
    async fn resume(
        &self,
        tool: &ToolSpec,
        args: &Value,
        state: &str,
        request: &CallToolRequestParams,
        binding: Binding,
    ) -> Result<Decision, ToolError> {
        let opened = open(self.key().await?, state);
        let state = match opened {
            Some(s) if s.c == binding.caller && s.t == binding.tool && s.d == binding.args => s,
            Some(s) if s.c == binding.caller => {
                return Ok(Decision::answer(
                    state_refused(tool, args, "was made for another call").into(),
                ));
            }
            _ => {
                return Ok(Decision::answer(
                    state_refused(tool, args, "is not one this server made for you").into(),
                ));
            }
        };
        if state.e <= crate::access::now() {
            return Ok(Decision::answer(
                state_refused(tool, args, "has expired").into(),
            ));
        }
        let answer = request
            .input_responses
            .as_ref()
            .and_then(|r| r.get(INPUT_KEY))
            .and_then(|v| serde_json::from_value::<ElicitResult>(v.clone()).ok());
        // Used up whatever the answer, so a declined state cannot be accepted later.
        match self.redeem(id_of(&state.n), binding).await? {
            Redeemed::Valid => {}
            Redeemed::AlreadyUsed => {
                return Ok(Decision::answer(
                    state_refused(tool, args, "was already used").into(),
                ));
            }
            Redeemed::Expired => {
                return Ok(Decision::answer(
                    state_refused(tool, args, "has expired").into(),
                ));
            }
            _ => {
                return Ok(Decision::answer(
                    state_refused(tool, args, "is not one this server made for you").into(),
                ));
            }
        }
        Ok(match answer {
            Some(r) if accepted(&r) => Decision::Proceed,
            Some(r) => Decision::answer(not_done(tool, outcome_word(&r)).into()),
            None => Decision::answer(not_done(tool, "gave no answer").into()),
        })
    }

    /// A session client's user is asked, within the timeout.
    async fn ask(
        &self,
        context: &RequestContext<RoleServer>,
        tool: &ToolSpec,
        question: &str,
        verb: Verb,
        target: &Target,
    ) -> Decision {
        let asked = context
            .peer
            .create_elicitation_with_timeout(form(question, verb, target), Some(self.ask_timeout))
            .await;
        match asked {
            Ok(r) if accepted(&r) => Decision::Proceed,
            Ok(r) => Decision::answer(not_done(tool, outcome_word(&r)).into()),
            Err(ServiceError::Timeout { .. }) => {
                Decision::answer(not_done(tool, "did not answer in time").into())
            }
            Err(e) => {
                tracing::info!(error = %e, "the confirmation request failed");
                Decision::answer(not_done(tool, "could not be asked").into())
            }
        }
    }

    /// Clients without elicitation: the preview, with a token for the repeated call.
    async fn preview(
        &self,
        tool: &ToolSpec,
        verb: Verb,
        target: &Target,
        binding: Binding,
    ) -> Result<Decision, ToolError> {
        let token = random_token("ct_")?;
        let expires_at = crate::access::now() + self.ttl.as_secs() as i64;
        self.store
            .issue(id_of(&token), binding, expires_at)
            .await
            .map_err(store_error)?;
        let preview = json!({
            "executed": false,
            "confirmation_required": true,
            "action": tool.name,
            "target": target.to_json(),
            "effect": verb.effect(),
            "confirmation_token": token,
            "expires_in_seconds": self.ttl.as_secs(),
            "next": format!(
                "Nothing was sent yet. Show the user what will happen ({} {}) and ask them to confirm. Only if they agree, call {} again with the same arguments plus confirmation_token; it works once, for this server, for {} seconds.",
                verb.title(),
                target.describe(),
                tool.name,
                self.ttl.as_secs()
            ),
        });
        Ok(Decision::answer(CallToolResult::structured(preview).into()))
    }
}

/// Who calls: the API key over HTTP, the local user otherwise.
pub fn caller(context: &RequestContext<RoleServer>) -> String {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<Principal>())
        .map_or_else(|| LOCAL_CALLER.to_string(), |p| p.key_id().to_string())
}

/// Whether the request declares form elicitation (`elicitation: {}` means form).
fn declares_form(context: &RequestContext<RoleServer>) -> bool {
    context
        .client_capabilities()
        .and_then(|c| c.elicitation)
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

/// SHA-256 of the arguments that decide what happens: all but `wait` and
/// `confirmation_token`, keys sorted.
pub fn digest(args: &Value) -> String {
    fn canonical(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let sorted: Map<String, Value> = keys
                    .into_iter()
                    .map(|k| (k.clone(), canonical(&m[k])))
                    .collect();
                Value::Object(sorted)
            }
            Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    let mut relevant = args.as_object().cloned().unwrap_or_default();
    relevant.remove("wait");
    relevant.remove("confirmation_token");
    let mut pairs: Vec<(String, Value)> = relevant
        .into_iter()
        .map(|(k, v)| (k, canonical(&v)))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let text = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", serde_json::to_string(k).unwrap_or_default(), v))
        .collect::<Vec<_>>()
        .join("\n");
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `prefix` + 128 random bits, URL-safe.
fn random_token(prefix: &str) -> Result<String, ToolError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ToolError::ConfirmationUnavailable {
        detail: format!("no randomness: {e}"),
    })?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

fn store_error(e: crate::access::store::StoreError) -> ToolError {
    ToolError::ConfirmationUnavailable {
        detail: e.to_string(),
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8]) -> HmacSha256 {
    // An HMAC takes a key of any length.
    let mut mac = <HmacSha256 as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(SEAL_CONTEXT);
    mac
}

/// `base64url(payload).base64url(HMAC-SHA256(key, context || base64url(payload)))`.
fn seal(key: &[u8], state: &State) -> Result<String, ToolError> {
    let payload = serde_json::to_vec(state).map_err(|e| ToolError::ConfirmationUnavailable {
        detail: format!("cannot encode the request state: {e}"),
    })?;
    let body = URL_SAFE_NO_PAD.encode(payload);
    let mut m = mac(key);
    m.update(body.as_bytes());
    let tag = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    Ok(format!("{body}.{tag}"))
}

/// The state, if `sealed` carries our tag (compared in constant time).
fn open(key: &[u8], sealed: &str) -> Option<State> {
    let (body, tag) = sealed.split_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    let mut m = mac(key);
    m.update(body.as_bytes());
    m.verify_slice(&tag).ok()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()
}

/// The question for the person: which server, its state, what will happen.
fn question(verb: Verb, target: &Target) -> String {
    format!(
        "{} {}? {} Nothing is sent to IONOS unless you confirm.",
        verb.title(),
        target.describe(),
        verb.effect()
    )
}

/// The elicitation: one required yes/no field.
fn form(question: &str, verb: Verb, target: &Target) -> ElicitRequestParams {
    let schema = ElicitationSchema::builder()
        .required_bool_with(FIELD, |b| {
            b.title(format!("{} {} now", verb.title(), target.name))
                .description("Tick to confirm; anything else sends nothing.")
                .with_default(false)
        })
        .build()
        .unwrap_or_else(|_| ElicitationSchema::new(Default::default()));
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: question.to_string(),
        requested_schema: schema,
    }
}

/// Accepted, with the box ticked.
fn accepted(r: &ElicitResult) -> bool {
    r.action == ElicitationAction::Accept
        && r.content
            .as_ref()
            .and_then(|c| c.get(FIELD))
            .and_then(Value::as_bool)
            == Some(true)
}

fn outcome_word(r: &ElicitResult) -> &'static str {
    match r.action {
        ElicitationAction::Accept => "did not tick the confirmation",
        ElicitationAction::Decline => "declined",
        _ => "cancelled",
    }
}

fn not_done(tool: &ToolSpec, why: &str) -> CallToolResult {
    CallToolResult::structured(json!({
        "executed": false,
        "message": format!("The user {why}: {} was not carried out and nothing was sent to IONOS. Do not retry unless the user asks again.", tool.name),
    }))
}

/// The arguments for a fresh preview: the same, without the token.
fn fresh_args(args: &Value) -> Value {
    let mut a = args.as_object().cloned().unwrap_or_default();
    a.remove("confirmation_token");
    Value::Object(a)
}

fn token_refused(tool: &ToolSpec, args: &Value, outcome: &Redeemed) -> CallToolResult {
    let why = match outcome {
        Redeemed::Valid => "is valid",
        Redeemed::Unknown => "is not one this server issued",
        Redeemed::Expired => "has expired",
        Redeemed::AlreadyUsed => "was already used",
        Redeemed::OtherCaller => "was not issued to you",
        Redeemed::OtherTarget { .. } => "was issued for another call",
    };
    let for_what = match outcome {
        Redeemed::OtherTarget { label } if !label.is_empty() => format!(" ({label})"),
        _ => String::new(),
    };
    CallToolResult::error(vec![ContentBlock::text(format!(
        "confirmation_token refused: it {why}{for_what}. Nothing was sent. For a fresh preview call {} with {} (no confirmation_token), show it to the user, and send the new token only once they agree.",
        tool.name,
        fresh_args(args)
    ))])
}

fn state_refused(tool: &ToolSpec, args: &Value, why: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!(
        "The confirmation state {why}. Nothing was sent. Call {} again with {} to be asked anew.",
        tool.name,
        fresh_args(args)
    ))])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(e: i64) -> State {
        State {
            n: "n_1".into(),
            c: "key_1".into(),
            t: "stop_server".into(),
            d: "abc".into(),
            e,
        }
    }

    #[test]
    fn seals_open_only_untouched_and_with_the_key() {
        let key = [7u8; 32];
        let sealed = seal(&key, &state(10)).expect("seals");
        let opened = open(&key, &sealed).expect("opens");
        assert_eq!((opened.n.as_str(), opened.e), ("n_1", 10));
        assert!(open(&[8u8; 32], &sealed).is_none(), "another key");
        let (body, tag) = sealed.split_once('.').expect("two parts");
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&State {
                c: "key_2".into(),
                ..state(10)
            })
            .expect("json"),
        );
        assert!(
            open(&key, &format!("{forged}.{tag}")).is_none(),
            "changed body"
        );
        assert!(open(&key, body).is_none(), "no tag");
        assert!(open(&key, "").is_none());
    }

    #[test]
    fn the_digest_ignores_order_wait_and_token() {
        let a = digest(&json!({"datacenter_id": "d", "server_id": "s"}));
        let b = digest(
            &json!({"server_id": "s", "datacenter_id": "d", "wait": 5, "confirmation_token": "ct_x"}),
        );
        assert_eq!(a, b);
        assert_ne!(a, digest(&json!({"datacenter_id": "d", "server_id": "t"})));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = random_token("ct_").expect("token");
        let b = random_token("ct_").expect("token");
        assert!(a.starts_with("ct_") && a.len() == 25, "{a}");
        assert_ne!(a, b);
    }
}
