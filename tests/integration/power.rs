//! Power actions end to end with rmcp clients in process: the three ways a person confirms a
//! destructive call (MRTR for 2026-07-28 clients, elicitation for session clients, a preview
//! with a single-use token for the rest), what is refused and why, and following IONOS's
//! request afterwards (progress, cancellation, FAILED, a wait that runs out). The simulator
//! records every request it receives, so "nothing was sent" is checked, not assumed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ionos_mcp::access::confirmations::MemoryConfirmations;
use ionos_mcp::config::LoadMode;
use ionos_mcp::mcp::IonosServer;
use ionos_mcp::simulator::Simulator;
use ionos_mcp::tools::dispatch::Dispatcher;
use ionos_mcp::tools::table::Access;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ClientRequest, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationCapability,
    FormElicitationCapability, Implementation, ProgressNotificationParam, ProtocolVersion, Request,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, NotificationContext, PeerRequestOptions, RequestContext,
    RunningService,
};
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::{Map, Value, json};

use crate::support::{config_for, is_error, text};

const PROD: &str = "b5634021-a867-4b94-a0ff-eafb37fd3e19";
const STAGING: &str = "a4a88589-68a0-440e-bdfb-1d539ea57e95";
const WEB01: &str = "f08daf45-aff9-46b7-8327-9da5be749620";
const WEB02: &str = "12162318-0bc5-411c-b04a-496db641b374";
const CUBE: &str = "8aa25130-32ec-495b-821c-90387a15b5d0";
const LEGACY: &str = "e77d8d89-4119-4c22-91e9-72ebdea412fd";

/// What the simulated person answers when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Accept,
    /// Accepts the form without ticking the box.
    Untick,
    Decline,
    Cancel,
    /// Never answers.
    Never,
}

/// One `notifications/progress` as received: progress, total, message.
pub type Note = (f64, Option<f64>, String);

/// A client that declares form elicitation (or not), answers as told, and records the
/// questions and progress it sees.
#[derive(Clone)]
pub struct Person {
    reply: Reply,
    elicitation: bool,
    pub asked: Arc<Mutex<Vec<String>>>,
    pub progress: Arc<Mutex<Vec<Note>>>,
}

impl Person {
    pub fn new(reply: Reply) -> Person {
        Person {
            reply,
            elicitation: true,
            asked: Arc::default(),
            progress: Arc::default(),
        }
    }

    /// A client without elicitation.
    pub fn mute() -> Person {
        Person {
            elicitation: false,
            ..Person::new(Reply::Never)
        }
    }

    pub fn questions(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl ClientHandler for Person {
    fn get_info(&self) -> ClientConfig {
        let mut caps = ClientCapabilities::default();
        if self.elicitation {
            let mut e = ElicitationCapability::new();
            e.form = Some(FormElicitationCapability::default());
            caps.elicitation = Some(e);
        }
        ClientConfig::new(caps, Implementation::new("power-test", "1"))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &request {
            self.asked.lock().unwrap().push(message.clone());
        }
        let result = |action, content: Option<Value>| {
            let mut r = ElicitResult::new(action);
            r.content = content;
            r
        };
        Ok(match self.reply {
            Reply::Accept => result(ElicitationAction::Accept, Some(json!({"confirm": true}))),
            Reply::Untick => result(ElicitationAction::Accept, Some(json!({"confirm": false}))),
            Reply::Decline => result(ElicitationAction::Decline, None),
            Reply::Cancel => result(ElicitationAction::Cancel, None),
            Reply::Never => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                result(ElicitationAction::Cancel, None)
            }
        })
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push((
            params.progress,
            params.total,
            params.message.unwrap_or_default(),
        ));
    }
}

/// Which protocol generation the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2025-11-25: `initialize`, a session, server-to-client requests.
    Legacy,
    /// 2026-07-28: per-request metadata, MRTR.
    Modern,
}

pub struct Setup {
    pub client: RunningService<RoleClient, Person>,
    pub person: Person,
    pub sim: Simulator,
}

impl Setup {
    pub async fn start(person: Person, era: Era) -> Setup {
        Setup::with_times(
            person,
            era,
            Duration::from_secs(300),
            Duration::from_secs(30),
        )
        .await
    }

    pub async fn with_times(person: Person, era: Era, ttl: Duration, ask: Duration) -> Setup {
        Setup::build(person, era, ttl, ask, LoadMode::Eager).await
    }

    pub async fn build(
        person: Person,
        era: Era,
        ttl: Duration,
        ask: Duration,
        mode: LoadMode,
    ) -> Setup {
        let sim = Simulator::start().await.expect("simulator");
        sim.set_request_duration(Duration::from_millis(600));
        let mut config = config_for(&format!("http://{}", sim.addr()));
        config.tool_scope = Access::Destructive;
        config.load_mode = mode;
        let dispatcher = Arc::new(Dispatcher::new(config));
        let server = IonosServer::new(dispatcher).with_confirmation_times(
            Arc::new(MemoryConfirmations::new()),
            ttl,
            ask,
        );
        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            if let Ok(running) = server.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        let client = match era {
            Era::Legacy => person.clone().serve(client_io).await.expect("connects"),
            Era::Modern => person
                .clone()
                .serve_with_lifecycle(
                    client_io,
                    ClientLifecycleMode::Discover {
                        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                    },
                )
                .await
                .expect("connects"),
        };
        Setup {
            client,
            person,
            sim,
        }
    }

    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        self.client
            .call_tool(params(tool, args))
            .await
            .expect("tools/call answers")
    }

    /// POSTs the simulator received.
    pub fn posts(&self) -> Vec<String> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .map(|r| r.path)
            .collect()
    }
}

pub fn params(tool: &str, args: Value) -> CallToolRequestParams {
    let mut p = CallToolRequestParams::new(tool.to_string());
    p.arguments = match args {
        Value::Object(o) => Some(o),
        _ => Some(Map::new()),
    };
    p
}

fn structured(r: &CallToolResult) -> Value {
    r.structured_content.clone().unwrap_or(Value::Null)
}

fn stop_path(dc: &str, server: &str) -> String {
    format!("/cloudapi/v6/datacenters/{dc}/servers/{server}/stop")
}

/// A finished power action: DONE and the server's new state.
fn assert_done(r: &CallToolResult, vm_state: &str) {
    assert!(!is_error(r), "{}", text(r));
    let v = structured(r);
    assert_eq!(v["status"], "DONE", "{v}");
    assert_eq!(v["vm_state"], vm_state, "{v}");
    assert!(
        v["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{v}"
    );
}

/// Not carried out, and said so.
fn assert_not_done(r: &CallToolResult, says: &str) {
    let v = structured(r);
    assert_eq!(v["executed"], false, "{}", text(r));
    assert!(text(r).contains(says), "{}", text(r));
}

#[tokio::test]
async fn a_2026_client_confirms_through_input_required() {
    let s = Setup::start(Person::new(Reply::Accept), Era::Modern).await;
    let r = s
        .call(
            "stop_server",
            json!({"datacenter_id": PROD, "server_id": WEB01}),
        )
        .await;
    assert_done(&r, "SHUTOFF");
    let asked = s.person.questions();
    assert_eq!(asked.len(), 1, "{asked:?}");
    for word in ["web-01", WEB01, "production", "RUNNING", "pulling the plug"] {
        assert!(asked[0].contains(word), "{word} not in {}", asked[0]);
    }
    assert_eq!(s.posts(), [stop_path(PROD, WEB01)]);
    // Progress came with the request's statuses, increasing.
    let progress = s.person.progress.lock().unwrap().clone();
    assert!(!progress.is_empty(), "no progress notification");
    assert!(progress.windows(2).all(|w| w[0].0 < w[1].0), "{progress:?}");
    assert!(
        progress.iter().any(|p| p.2.contains("DONE")),
        "{progress:?}"
    );
}

/// The request state is sealed and used once: a replay, a change, or a state made for
/// another server sends nothing.
#[tokio::test]
async fn the_request_state_is_sealed_and_single_use() {
    let s = Setup::start(Person::new(Reply::Accept), Era::Modern).await;
    let args = json!({"datacenter_id": PROD, "server_id": WEB01});
    let first = s
        .client
        .call_tool_once(params("stop_server", args.clone()))
        .await
        .expect("answers");
    let CallToolResponse::InputRequired(question) = first else {
        panic!("expected InputRequiredResult, got {first:?}");
    };
    let state = question.request_state.clone().expect("a request state");
    let requests = question.input_requests.clone().expect("input requests");
    assert!(requests.contains_key("confirm"));
    assert!(s.posts().is_empty(), "sent before confirmation");

    let retry = |args: Value, state: String| {
        let mut p = params("stop_server", args);
        p.request_state = Some(state);
        p.input_responses = Some(
            [(
                "confirm".to_string(),
                json!({"action": "accept", "content": {"confirm": true}}),
            )]
            .into_iter()
            .collect(),
        );
        p
    };
    let once = |p: CallToolRequestParams| async {
        match s.client.call_tool_once(p).await.expect("answers") {
            CallToolResponse::Complete(r) => r,
            other => panic!("expected a result, got {other:?}"),
        }
    };
    // Tampered: refused.
    let mut tampered = state.clone();
    tampered.insert(3, 'x');
    let r = once(retry(args.clone(), tampered)).await;
    assert!(
        is_error(&r) && text(&r).contains("not one this server made"),
        "{}",
        text(&r)
    );
    // For another server: refused.
    let r = once(retry(
        json!({"datacenter_id": PROD, "server_id": WEB02}),
        state.clone(),
    ))
    .await;
    assert!(
        is_error(&r) && text(&r).contains("another call"),
        "{}",
        text(&r)
    );
    assert!(s.posts().is_empty(), "sent on a bad state");
    // The real answer: carried out once.
    let r = once(retry(args.clone(), state.clone())).await;
    assert_done(&r, "SHUTOFF");
    // A replay: refused, with the arguments to ask anew.
    let r = once(retry(args.clone(), state)).await;
    assert!(
        is_error(&r) && text(&r).contains("already used"),
        "{}",
        text(&r)
    );
    assert!(text(&r).contains(WEB01), "{}", text(&r));
    assert_eq!(s.posts().len(), 1);
}

#[tokio::test]
async fn declining_cancelling_or_not_ticking_sends_nothing() {
    for (era, reply, says) in [
        (Era::Modern, Reply::Decline, "declined"),
        (Era::Modern, Reply::Cancel, "cancelled"),
        (Era::Modern, Reply::Untick, "did not tick"),
        (Era::Legacy, Reply::Decline, "declined"),
        (Era::Legacy, Reply::Cancel, "cancelled"),
    ] {
        let s = Setup::start(Person::new(reply), era).await;
        let r = s
            .call(
                "reboot_server",
                json!({"datacenter_id": PROD, "server_id": WEB01}),
            )
            .await;
        assert_not_done(&r, says);
        assert_eq!(s.person.questions().len(), 1, "{era:?} {reply:?}");
        assert!(
            s.posts().is_empty(),
            "{era:?} {reply:?}: sent {:?}",
            s.posts()
        );
    }
}

#[tokio::test]
async fn a_session_client_is_asked_with_elicitation() {
    let s = Setup::start(Person::new(Reply::Accept), Era::Legacy).await;
    let r = s
        .call(
            "suspend_server",
            json!({"datacenter_id": STAGING, "server_id": CUBE}),
        )
        .await;
    assert_done(&r, "SUSPENDED");
    let asked = s.person.questions();
    assert_eq!(asked.len(), 1);
    assert!(
        asked[0].contains("app-cube-01") && asked[0].contains("staging"),
        "{asked:?}"
    );
    // Resuming is a write, not destructive: no question.
    let r = s
        .call(
            "resume_server",
            json!({"datacenter_id": STAGING, "server_id": CUBE}),
        )
        .await;
    assert_done(&r, "RUNNING");
    assert_eq!(s.person.questions().len(), 1);
}

#[tokio::test]
async fn no_answer_in_time_sends_nothing() {
    let s = Setup::with_times(
        Person::new(Reply::Never),
        Era::Legacy,
        Duration::from_secs(300),
        Duration::from_millis(300),
    )
    .await;
    let r = s
        .call(
            "stop_server",
            json!({"datacenter_id": PROD, "server_id": WEB01}),
        )
        .await;
    assert_not_done(&r, "did not answer in time");
    assert!(s.posts().is_empty());
}

/// Clients without elicitation (either generation) get a preview and a token.
#[tokio::test]
async fn without_elicitation_a_preview_and_a_single_use_token() {
    for era in [Era::Legacy, Era::Modern] {
        let s = Setup::start(Person::mute(), era).await;
        let args = json!({"datacenter_id": PROD, "server_id": WEB01});
        let preview = s.call("stop_server", args.clone()).await;
        assert!(!is_error(&preview), "{}", text(&preview));
        let v = structured(&preview);
        assert_eq!(v["executed"], false);
        assert_eq!(v["confirmation_required"], true);
        assert_eq!(v["target"]["name"], "web-01");
        assert_eq!(v["target"]["datacenter"], "production");
        assert_eq!(v["target"]["vm_state"], "RUNNING");
        assert!(
            v["effect"]
                .as_str()
                .is_some_and(|e| e.contains("pulling the plug"))
        );
        let token = v["confirmation_token"].as_str().expect("token").to_string();
        assert!(s.posts().is_empty(), "a preview sent something");

        // A token for web-01 does not stop web-02, and is not used up by trying.
        let mut other = json!({"datacenter_id": PROD, "server_id": WEB02});
        other["confirmation_token"] = json!(token);
        let r = s.call("stop_server", other).await;
        assert!(is_error(&r), "{}", text(&r));
        assert!(
            text(&r).contains("another call") && text(&r).contains("web-01"),
            "{}",
            text(&r)
        );
        assert!(
            text(&r).contains(WEB02),
            "fresh-preview arguments: {}",
            text(&r)
        );
        // Nor does it reboot web-01.
        let mut reboot = args.clone();
        reboot["confirmation_token"] = json!(token);
        let r = s.call("reboot_server", reboot).await;
        assert!(
            is_error(&r) && text(&r).contains("another call"),
            "{}",
            text(&r)
        );
        // A made-up token.
        let mut wrong = args.clone();
        wrong["confirmation_token"] = json!("ct_AAAAAAAAAAAAAAAAAAAAAA");
        let r = s.call("stop_server", wrong).await;
        assert!(
            is_error(&r) && text(&r).contains("not one this server issued"),
            "{}",
            text(&r)
        );
        assert!(s.posts().is_empty());

        let mut confirmed = args.clone();
        confirmed["confirmation_token"] = json!(token);
        let r = s.call("stop_server", confirmed.clone()).await;
        assert_done(&r, "SHUTOFF");
        assert_eq!(s.posts(), [stop_path(PROD, WEB01)]);
        let r = s.call("stop_server", confirmed).await;
        assert!(
            is_error(&r) && text(&r).contains("already used"),
            "{}",
            text(&r)
        );
        assert_eq!(s.posts().len(), 1, "{era:?}");
    }
}

/// Through `ionos_call_tool` (the dynamic load mode) the same confirmation holds.
#[tokio::test]
async fn the_dynamic_mode_confirms_the_same_way() {
    let s = Setup::build(
        Person::mute(),
        Era::Legacy,
        Duration::from_secs(300),
        Duration::from_secs(30),
        LoadMode::Dynamic,
    )
    .await;
    let args = json!({"datacenter_id": PROD, "server_id": WEB01});
    let preview = s
        .call(
            "ionos_call_tool",
            json!({"name": "stop_server", "arguments": args}),
        )
        .await;
    let token = structured(&preview)["confirmation_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a preview: {}", text(&preview)))
        .to_string();
    assert!(s.posts().is_empty());
    let mut confirmed = args.clone();
    confirmed["confirmation_token"] = json!(token);
    let r = s
        .call(
            "ionos_call_tool",
            json!({"name": "stop_server", "arguments": confirmed}),
        )
        .await;
    assert_done(&r, "SHUTOFF");
    assert_eq!(s.posts(), [stop_path(PROD, WEB01)]);

    let s = Setup::build(
        Person::new(Reply::Accept),
        Era::Modern,
        Duration::from_secs(300),
        Duration::from_secs(30),
        LoadMode::Dynamic,
    )
    .await;
    let r = s
        .call(
            "ionos_call_tool",
            json!({"name": "stop_server", "arguments": args}),
        )
        .await;
    assert_done(&r, "SHUTOFF");
    assert_eq!(s.person.questions().len(), 1);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let s = Setup::with_times(
        Person::mute(),
        Era::Legacy,
        Duration::from_secs(1),
        Duration::from_secs(30),
    )
    .await;
    let args = json!({"datacenter_id": PROD, "server_id": WEB01});
    let preview = s.call("stop_server", args.clone()).await;
    let token = structured(&preview)["confirmation_token"]
        .as_str()
        .expect("token")
        .to_string();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut late = args;
    late["confirmation_token"] = json!(token);
    let r = s.call("stop_server", late).await;
    assert!(is_error(&r) && text(&r).contains("expired"), "{}", text(&r));
    assert!(s.posts().is_empty());
}

/// The target is read first: no such server, already off, or a CUBE server asked to stop
/// are answered without a question or a token, and nothing is sent.
#[tokio::test]
async fn the_preview_reads_the_target_first() {
    for era in [Era::Legacy, Era::Modern] {
        let s = Setup::start(Person::new(Reply::Accept), era).await;
        let r = s
            .call(
                "stop_server",
                json!({"datacenter_id": PROD, "server_id": "no-such-server"}),
            )
            .await;
        assert!(is_error(&r), "{}", text(&r));
        assert!(
            text(&r).contains("There is no server `no-such-server`"),
            "{}",
            text(&r)
        );

        let r = s
            .call(
                "stop_server",
                json!({"datacenter_id": STAGING, "server_id": LEGACY}),
            )
            .await;
        assert!(!is_error(&r), "{}", text(&r));
        assert_not_done(&r, "already off");

        let r = s
            .call(
                "stop_server",
                json!({"datacenter_id": STAGING, "server_id": CUBE}),
            )
            .await;
        assert!(is_error(&r), "{}", text(&r));
        assert!(text(&r).contains("suspend_server"), "{}", text(&r));

        let r = s
            .call(
                "suspend_server",
                json!({"datacenter_id": PROD, "server_id": WEB01}),
            )
            .await;
        assert!(
            is_error(&r) && text(&r).contains("stop_server"),
            "{}",
            text(&r)
        );

        assert!(
            s.person.questions().is_empty(),
            "asked: {:?}",
            s.person.questions()
        );
        assert!(s.posts().is_empty());
        let r = structured(&r);
        assert!(r.get("confirmation_token").is_none());
    }
}

/// FAILED is an error result with IONOS's reason; the server stays as it was.
#[tokio::test]
async fn a_failed_request_is_an_error_naming_the_reason() {
    let s = Setup::start(Person::mute(), Era::Legacy).await;
    s.sim.set_contract_limit("coresPerContract", 46);
    let r = s
        .call(
            "start_server",
            json!({"datacenter_id": STAGING, "server_id": LEGACY}),
        )
        .await;
    assert!(is_error(&r), "{}", text(&r));
    let t = text(&r);
    assert!(t.contains("FAILED") && t.contains("46 cores"), "{t}");
}

/// `wait: 0` answers at once; a wait that runs out says how to follow the request.
#[tokio::test]
async fn a_request_still_running_is_answered_with_how_to_follow_it() {
    let s = Setup::start(Person::mute(), Era::Legacy).await;
    s.sim.set_request_duration(Duration::from_secs(8));
    let started = std::time::Instant::now();
    let r = s
        .call(
            "start_server",
            json!({"datacenter_id": STAGING, "server_id": LEGACY, "wait": 0}),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(2), "wait 0 waited");
    assert!(!is_error(&r), "{}", text(&r));
    let v = structured(&r);
    let id = v["request_id"].as_str().expect("request id").to_string();
    assert!(
        v["follow_up"]
            .as_str()
            .is_some_and(|f| f.contains("get_request_status") && f.contains(&id)),
        "{v}"
    );

    let r = s
        .call(
            "resume_server",
            json!({"datacenter_id": STAGING, "server_id": CUBE, "wait": 1}),
        )
        .await;
    // CUBE is running: nothing to resume, refused by IONOS at once.
    assert!(is_error(&r), "{}", text(&r));

    let status = s
        .call("get_request_status", json!({"request_id": id}))
        .await;
    assert!(!is_error(&status), "{}", text(&status));
}

/// Cancelling the call during the wait stops the polling.
#[tokio::test]
async fn cancelling_the_wait_stops_polling() {
    let s = Setup::start(Person::mute(), Era::Legacy).await;
    s.sim.set_request_duration(Duration::from_secs(30));
    let request = ClientRequest::CallToolRequest(Request::new(params(
        "start_server",
        json!({"datacenter_id": STAGING, "server_id": LEGACY}),
    )));
    let handle = s
        .client
        .peer()
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .expect("sent");
    let polls = || {
        s.sim
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("/requests/") && r.path.ends_with("/status"))
            .count()
    };
    for _ in 0..100 {
        if polls() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(polls() >= 2, "the request was not being followed");
    handle
        .cancel(Some("the user stopped waiting".into()))
        .await
        .expect("cancelled");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_cancel = polls();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(polls(), after_cancel, "polling went on after the cancel");
}

mod over_http {
    //! Over HTTP with API keys: power tools need `compute:write`, and a confirmation given
    //! through one server is honoured by another on the same key store.

    use std::sync::Arc;

    use ionos_mcp::access::guard::{Guard, GuardOptions};
    use ionos_mcp::access::scopes::Scopes;
    use ionos_mcp::access::sqlite::SqliteStore;
    use ionos_mcp::access::store::{KeyStore, NewKey};
    use ionos_mcp::tools::dispatch::Dispatcher;
    use ionos_mcp::tools::table::Access;
    use ionos_mcp::transport::http::{self, HttpOptions};
    use serde_json::{Value, json};

    use super::{PROD, WEB01, WEB02, stop_path};
    use crate::http::TeamServer;
    use crate::support::config_for;

    fn call_body(tool: &str, args: Value, form: bool) -> Value {
        let caps = if form {
            json!({"elicitation": {"form": {}}})
        } else {
            json!({})
        };
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": caps,
            },
            "name": tool,
            "arguments": args,
        }})
    }

    /// A second server on the first one's key store and simulator; its `/mcp` URL.
    async fn replica(first: &TeamServer) -> String {
        let store = Arc::new(SqliteStore::open(&first.db).expect("store opens"));
        let mut config = config_for(&format!("http://{}", first.sim.addr()))
            .with_base_urls(|product| first.sim.base_url(product));
        config.tool_scope = Access::Destructive;
        let dispatcher = Arc::new(Dispatcher::new(config));
        let mut options = HttpOptions::new("127.0.0.1:0".parse().expect("address"));
        options.confirmations = Some(store.clone());
        let keys: Arc<dyn KeyStore> = store;
        let guard = Arc::new(Guard::new(
            keys,
            GuardOptions {
                trust_proxy: Vec::new(),
                default_rate: Some(1000),
                max_body_bytes: options.max_body_bytes,
                session_idle: options.session_idle,
                usage_retention: None,
            },
        ));
        let server = http::bind(dispatcher, options, Some(guard))
            .await
            .expect("binds");
        let url = format!(
            "http://{}{}",
            server.local_addr().expect("addr"),
            http::MCP_PATH
        );
        tokio::spawn(server.run(std::future::pending::<()>()));
        url
    }

    /// A 2026-07-28 POST; the JSON-RPC answer (from JSON or the event stream).
    async fn post(url: &str, key: &str, body: &Value) -> Value {
        let response = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header(
                "mcp-name",
                body.pointer("/params/name")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            )
            .header("authorization", format!("Bearer {key}"))
            .body(body.to_string())
            .send()
            .await
            .expect("answered");
        let text = response.text().await.unwrap_or_default();
        serde_json::from_str(&text).unwrap_or_else(|_| {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .find(|m| m.get("id").is_some())
                .unwrap_or(Value::Null)
        })
    }

    fn posts(s: &TeamServer) -> Vec<String> {
        s.sim
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .map(|r| r.path)
            .collect()
    }

    #[tokio::test]
    async fn a_confirmation_through_one_server_is_honoured_by_another() {
        let a = TeamServer::start_with(|s| s.config.tool_scope = Access::Destructive).await;
        a.sim
            .set_request_duration(std::time::Duration::from_millis(300));
        let b = replica(&a).await;
        let key = a.key().await;
        let other_key = a.key().await;
        let args = json!({"datacenter_id": PROD, "server_id": WEB01});

        let preview = post(
            &a.url(),
            &key,
            &call_body("stop_server", args.clone(), false),
        )
        .await;
        let token = preview
            .pointer("/result/structuredContent/confirmation_token")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("a preview with a token: {preview}"))
            .to_string();
        let mut confirmed = args.clone();
        confirmed["confirmation_token"] = json!(token);
        // Another key cannot use it.
        let r = post(
            &b,
            &other_key,
            &call_body("stop_server", confirmed.clone(), false),
        )
        .await;
        assert_eq!(r.pointer("/result/isError"), Some(&json!(true)), "{r}");
        assert!(r.to_string().contains("not issued to you"), "{r}");
        assert!(posts(&a).is_empty());
        // The key it was issued to can, on the other server, once.
        let r = post(
            &b,
            &key,
            &call_body("stop_server", confirmed.clone(), false),
        )
        .await;
        assert_eq!(
            r.pointer("/result/structuredContent/status"),
            Some(&json!("DONE")),
            "{r}"
        );
        assert_eq!(posts(&a), [stop_path(PROD, WEB01)]);
        let r = post(&a.url(), &key, &call_body("stop_server", confirmed, false)).await;
        assert!(r.to_string().contains("already used"), "{r}");

        // MRTR: asked through one server, answered through the other.
        let args = json!({"datacenter_id": PROD, "server_id": WEB02});
        let asked = post(
            &a.url(),
            &key,
            &call_body("reboot_server", args.clone(), true),
        )
        .await;
        assert_eq!(
            asked.pointer("/result/resultType"),
            Some(&json!("input_required")),
            "{asked}"
        );
        let state = asked
            .pointer("/result/requestState")
            .and_then(Value::as_str)
            .expect("request state")
            .to_string();
        assert!(
            asked
                .pointer("/result/inputRequests/confirm/params/message")
                .and_then(Value::as_str)
                .is_some_and(|m| m.contains("web-02")),
            "{asked}"
        );
        let mut retry = call_body("reboot_server", args.clone(), true);
        retry["params"]["requestState"] = json!(state);
        retry["params"]["inputResponses"] =
            json!({"confirm": {"action": "accept", "content": {"confirm": true}}});
        // The state is bound to the key it was made for.
        let r = post(&b, &other_key, &retry).await;
        assert_eq!(r.pointer("/result/isError"), Some(&json!(true)), "{r}");
        assert_eq!(posts(&a).len(), 1);
        let r = post(&b, &key, &retry).await;
        assert_eq!(
            r.pointer("/result/structuredContent/status"),
            Some(&json!("DONE")),
            "{r}"
        );
        assert_eq!(posts(&a).len(), 2);
    }

    #[tokio::test]
    async fn power_tools_need_compute_write() {
        let a = TeamServer::start_with(|s| s.config.tool_scope = Access::Destructive).await;
        let mut reader = NewKey::named("reader");
        reader.scopes = Scopes::parse("compute:read").expect("scopes");
        let reader = a.issue(reader).await.key.expose().to_string();
        let mut writer = NewKey::named("writer");
        writer.scopes = Scopes::parse("compute:write").expect("scopes");
        let writer = a.issue(writer).await.key.expose().to_string();
        let power = [
            "start_server",
            "stop_server",
            "reboot_server",
            "suspend_server",
            "resume_server",
        ];
        let server = &a;
        let names = |key: String| async move { server.list(&key).await.body.to_string() };
        let listed = names(reader.clone()).await;
        for tool in power {
            assert!(
                !listed.contains(&format!("\"{tool}\"")),
                "{tool} listed for compute:read"
            );
        }
        assert!(listed.contains("\"get_server\""));
        let listed = names(writer.clone()).await;
        for tool in power {
            assert!(
                listed.contains(&format!("\"{tool}\"")),
                "{tool} not listed for compute:write"
            );
        }
        let refused = a.call(&reader, "stop_server").await;
        assert_eq!(refused.status.as_u16(), 403, "{:?}", refused.body);
        assert!(
            refused.body.to_string().contains("compute:write"),
            "{:?}",
            refused.body
        );
    }
}

mod prompts {
    //! The `inventory` and `stop_server_safely` prompts and their completions.

    use rmcp::model::{
        ArgumentInfo, CompleteRequestParams, CompletionContext, GetPromptRequestParams,
        PromptReference, Reference,
    };
    use serde_json::json;

    use super::{Era, LEGACY, Person, Setup, WEB01};

    async fn complete(
        s: &Setup,
        prompt: &str,
        arg: &str,
        typed: &str,
        dc: Option<&str>,
    ) -> Vec<String> {
        let mut params = CompleteRequestParams::new(
            Reference::Prompt(PromptReference::new(prompt)),
            ArgumentInfo::new(arg, typed),
        );
        if let Some(dc) = dc {
            let mut context = CompletionContext::new();
            context.arguments = Some([("datacenter".to_string(), dc.to_string())].into());
            params.context = Some(context);
        }
        s.client
            .peer()
            .complete(params)
            .await
            .expect("completion/complete")
            .completion
            .values
    }

    #[tokio::test]
    async fn prompts_with_arguments_and_completions_from_the_account() {
        let s = Setup::start(Person::mute(), Era::Legacy).await;
        let prompts = s
            .client
            .peer()
            .list_all_prompts()
            .await
            .expect("prompts/list");
        let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["inventory", "stop_server_safely"]);
        let stop = &prompts[1];
        let args: Vec<(&str, bool)> = stop
            .arguments
            .iter()
            .flatten()
            .map(|a| (a.name.as_str(), a.required == Some(true)))
            .collect();
        assert_eq!(args, [("datacenter", true), ("server", true)]);

        assert_eq!(
            complete(&s, "inventory", "datacenter", "pro", None).await,
            ["production"]
        );
        let dcs = complete(&s, "stop_server_safely", "datacenter", "", None).await;
        assert!(
            dcs.contains(&"staging".to_string()) && dcs.len() >= 6,
            "{dcs:?}"
        );
        // Servers of the data center already chosen, by name and by id.
        let servers = complete(
            &s,
            "stop_server_safely",
            "server",
            "web",
            Some("production"),
        )
        .await;
        assert_eq!(servers, ["web-01", "web-02"]);
        let by_id = complete(
            &s,
            "stop_server_safely",
            "server",
            &WEB01[..6],
            Some("production"),
        )
        .await;
        assert_eq!(by_id, [WEB01]);
        let anywhere = complete(&s, "stop_server_safely", "server", "legacy", None).await;
        assert_eq!(anywhere, ["legacy-app-01"]);

        let mut get = GetPromptRequestParams::new("stop_server_safely");
        get.arguments = Some(
            json!({"datacenter": "staging", "server": "legacy-app-01"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        let prompt = s.client.peer().get_prompt(get).await.expect("prompts/get");
        let text = serde_json::to_string(&prompt.messages).expect("json");
        for word in [
            LEGACY,
            "confirmation_token",
            "get_server",
            "SHUTOFF",
            "suspend_server",
        ] {
            assert!(text.contains(word), "{word} not in {text}");
        }
        let inventory = s
            .client
            .peer()
            .get_prompt(GetPromptRequestParams::new("inventory"))
            .await
            .expect("prompts/get");
        let text = serde_json::to_string(&inventory.messages).expect("json");
        assert!(
            text.contains("list_servers") && text.contains("vmState"),
            "{text}"
        );
    }

    /// Without destructive tools served, the stop prompt is not offered.
    #[tokio::test]
    async fn the_stop_prompt_needs_stop_server() {
        let h = crate::support::Harness::start().await;
        let prompts = h
            .client
            .peer()
            .list_all_prompts()
            .await
            .expect("prompts/list");
        let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["inventory"]);
        let refused = h
            .client
            .peer()
            .get_prompt(GetPromptRequestParams::new("stop_server_safely"))
            .await;
        assert!(refused.is_err());
    }
}
