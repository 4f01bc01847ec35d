//! Server power actions (start, stop, reboot, suspend, resume): what each needs of the server,
//! and following the request IONOS answers them with (202 and a `Location` naming the
//! request's status) until it is done, failed, or the caller's `wait` is over.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::dispatch::{Dispatcher, Output};
use crate::errors::ToolError;
use crate::tools::table::ToolSpec;
use crate::upstream::BoxFuture;

/// How long a power tool waits for IONOS unless `wait` says otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);
/// The longest `wait` (the schema allows no more).
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// Progress of a long call, reported as it happens (`notifications/progress` over MCP).
pub trait Progress: Send + Sync {
    /// Step `done` of `total`, with what is happening.
    fn report(&self, done: u32, total: u32, message: String) -> BoxFuture<'_, ()>;
}

/// Progress nobody listens to.
pub struct NoProgress;

impl Progress for NoProgress {
    fn report(&self, _done: u32, _total: u32, _message: String) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// One of the power actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Start,
    Stop,
    Reboot,
    Suspend,
    Resume,
}

impl Verb {
    /// The action a tool performs, by its IONOS operation.
    pub fn of(tool: &ToolSpec) -> Option<Verb> {
        Some(match tool.operation_id {
            "datacentersServersStartPost" => Verb::Start,
            "datacentersServersStopPost" => Verb::Stop,
            "datacentersServersRebootPost" => Verb::Reboot,
            "datacentersServersSuspendPost" => Verb::Suspend,
            "datacentersServersResumePost" => Verb::Resume,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Reboot => "reboot",
            Verb::Suspend => "suspend",
            Verb::Resume => "resume",
        }
    }

    /// The server's `vmState` once the action is done.
    pub fn done_state(self) -> &'static str {
        match self {
            Verb::Stop => "SHUTOFF",
            Verb::Suspend => "SUSPENDED",
            Verb::Start | Verb::Reboot | Verb::Resume => "RUNNING",
        }
    }

    /// What the action does to the server, in words for the person confirming it.
    pub fn effect(self) -> &'static str {
        match self {
            Verb::Start => "It will be powered on; its cores and RAM are billed again.",
            Verb::Stop => {
                "It will be powered off hard, like pulling the plug: programs are not shut down and unsaved data is lost. Its cores and RAM are freed, and a public IPv4 address that is not reserved is given back."
            }
            Verb::Reboot => {
                "It will be reset hard, like pressing its reset button: programs are not shut down and unsaved data is lost."
            }
            Verb::Suspend => {
                "It will be suspended: it stops running but is kept, and stays billed."
            }
            Verb::Resume => "It will be resumed.",
        }
    }

    /// The imperative for a form's title: "Stop web-01".
    pub fn title(self) -> &'static str {
        match self {
            Verb::Start => "Start",
            Verb::Stop => "Stop",
            Verb::Reboot => "Reboot",
            Verb::Suspend => "Suspend",
            Verb::Resume => "Resume",
        }
    }
}

/// The server a power action is about, as read before it is confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub datacenter_id: String,
    pub datacenter_name: Option<String>,
    pub server_id: String,
    pub name: String,
    pub vm_state: String,
    pub server_type: String,
}

impl Target {
    pub fn to_json(&self) -> Value {
        json!({
            "datacenter_id": self.datacenter_id,
            "datacenter": self.datacenter_name,
            "server_id": self.server_id,
            "name": self.name,
            "vm_state": self.vm_state,
            "type": self.server_type,
        })
    }

    /// "web-01 (f08d…, ENTERPRISE, RUNNING) in data center production (b563…)".
    pub fn describe(&self) -> String {
        let dc = match &self.datacenter_name {
            Some(name) => format!("{name} ({})", self.datacenter_id),
            None => self.datacenter_id.clone(),
        };
        format!(
            "server {} (id {}, type {}, vmState {}) in data center {dc}",
            self.name, self.server_id, self.server_type, self.vm_state
        )
    }
}

/// What reading the server says about an action.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The action makes sense for this server.
    Go(Target),
    /// It does not (no such server, already in that state, the wrong kind of server):
    /// nothing is sent, and `message` says why. `error` when the caller asked for
    /// something that cannot be done, not when the server is already where asked.
    Stop { message: String, error: bool },
}

/// Reads the server named by `args` (and its data center's name) and says whether `verb`
/// makes sense for it.
pub async fn check(d: &Dispatcher, verb: Verb, args: &Value) -> Result<Check, ToolError> {
    let dc = args
        .get("datacenter_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let id = args
        .get("server_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let server = match d
        .read(
            "get_server",
            json!({"datacenter_id": dc, "server_id": id, "depth": 0}),
        )
        .await
    {
        Ok(v) => v,
        Err(ToolError::NotFound { .. }) => {
            return Ok(Check::Stop {
                message: format!(
                    "There is no server `{id}` in data center `{dc}`, so nothing was sent. list_datacenters and list_servers show the ids."
                ),
                error: true,
            });
        }
        Err(e) => return Err(e),
    };
    let text = |pointer: &str| {
        server
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let datacenter_name = d
        .read("get_datacenter", json!({"datacenter_id": dc, "depth": 0}))
        .await
        .ok()
        .and_then(|v| {
            v.pointer("/properties/name")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let target = Target {
        datacenter_id: dc,
        datacenter_name,
        server_id: id,
        name: text("/properties/name"),
        vm_state: text("/properties/vmState"),
        server_type: text("/properties/type"),
    };
    let cube = target.server_type == "CUBE";
    let state = target.vm_state.as_str();
    let already = |what: &str| Check::Stop {
        message: format!(
            "{} is already {what} (vmState {state}): nothing to do, nothing was sent.",
            target.name
        ),
        error: false,
    };
    let refuse = |why: String| Check::Stop {
        message: format!("{why} Nothing was sent."),
        error: true,
    };
    Ok(match verb {
        Verb::Stop if cube => refuse(format!(
            "{} is a CUBE server: CUBE servers are suspended, not stopped. Use suspend_server with the same datacenter_id and server_id.",
            target.name
        )),
        Verb::Start if cube => refuse(format!(
            "{} is a CUBE server: CUBE servers are resumed, not started. Use resume_server with the same datacenter_id and server_id.",
            target.name
        )),
        Verb::Suspend | Verb::Resume if !cube => refuse(format!(
            "{} is a {} server; only CUBE servers are suspended and resumed. Use {} instead.",
            target.name,
            target.server_type,
            if verb == Verb::Suspend {
                "stop_server"
            } else {
                "start_server"
            }
        )),
        Verb::Stop if state == "SHUTOFF" => already("off"),
        Verb::Start | Verb::Resume if state == "RUNNING" => already("running"),
        Verb::Suspend if state == "SUSPENDED" => already("suspended"),
        Verb::Reboot if state != "RUNNING" => refuse(format!(
            "{} is not running (vmState {state}), so it cannot be rebooted; start_server (resume_server for CUBE) powers it on.",
            target.name
        )),
        Verb::Suspend if state != "RUNNING" => refuse(format!(
            "{} is not running (vmState {state}), so it cannot be suspended.",
            target.name
        )),
        Verb::Resume if state != "SUSPENDED" => refuse(format!(
            "{} is not suspended (vmState {state}), so it cannot be resumed.",
            target.name
        )),
        _ => Check::Go(target),
    })
}

/// The request id in a `Location` such as `https://api.ionos.com/cloudapi/v6/requests/{id}/status`.
pub fn request_id(location: &str) -> Option<String> {
    let path = location.split(['?', '#']).next().unwrap_or(location);
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let last = segments.next()?;
    let id = if last == "status" {
        segments.next()?
    } else {
        last
    };
    (segments.next() == Some("requests") && !id.is_empty()).then(|| id.to_string())
}

/// The `wait` argument: how long to follow the request (default [`DEFAULT_WAIT`]).
pub fn wait_of(args: &Value) -> Duration {
    args.get("wait")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_WAIT, Duration::from_secs)
        .min(MAX_WAIT)
}

/// Steps of a request, for progress: QUEUED 1, RUNNING 2, DONE or FAILED 3.
const STEPS: u32 = 3;

fn step(status: &str) -> u32 {
    match status {
        "QUEUED" => 1,
        "RUNNING" => 2,
        _ => STEPS,
    }
}

/// The next pause between two polls: 250 ms, doubling, at most 4 s.
fn backoff(previous: Duration) -> Duration {
    (previous * 2).clamp(Duration::from_millis(250), Duration::from_secs(4))
}

/// After IONOS accepted `verb` (the dispatcher's answer `accepted`, with the `Location`):
/// follows the request with backoff for up to `wait`, reporting each new status, then reads
/// the server's `vmState`. FAILED is an error naming IONOS's reason; a request still
/// running when the wait is over is answered with how to follow it.
pub async fn follow(
    d: &Dispatcher,
    verb: Verb,
    args: &Value,
    accepted: &Value,
    progress: &dyn Progress,
) -> Result<Output, ToolError> {
    let started = Instant::now();
    let deadline = started + wait_of(args);
    let location = accepted.get("location").and_then(Value::as_str);
    let request = location.and_then(request_id);
    let server_args = json!({
        "datacenter_id": args.get("datacenter_id").cloned().unwrap_or(Value::Null),
        "server_id": args.get("server_id").cloned().unwrap_or(Value::Null),
        "depth": 0,
    });
    let mut answer = Map::new();
    answer.insert("action".into(), json!(verb.as_str()));
    answer.insert("datacenter_id".into(), server_args["datacenter_id"].clone());
    answer.insert("server_id".into(), server_args["server_id"].clone());
    answer.insert("request_id".into(), json!(request));
    let Some(request) = request else {
        answer.insert("status".into(), json!("ACCEPTED"));
        answer.insert(
            "note".into(),
            json!("IONOS accepted the action but named no request to follow; get_server shows the server's state."),
        );
        return Ok(Output::Json(Value::Object(answer)));
    };
    // Until IONOS is asked (never, with `wait: 0`), all that is known is that it accepted.
    let mut status = "ACCEPTED".to_string();
    let mut message = String::new();
    let mut reported = 0;
    let mut pause = Duration::ZERO;
    loop {
        if Instant::now() >= deadline {
            break;
        }
        pause = backoff(pause);
        let remaining = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(pause.min(remaining)).await;
        let polled = d
            .read("get_request_status", json!({"request_id": request}))
            .await?;
        status = polled
            .pointer("/metadata/status")
            .and_then(Value::as_str)
            .unwrap_or("QUEUED")
            .to_string();
        message = polled
            .pointer("/metadata/message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if step(&status) > reported {
            reported = step(&status);
            progress
                .report(
                    reported,
                    STEPS,
                    format!("IONOS request {request} for {}: {status}", verb.as_str()),
                )
                .await;
        }
        if matches!(status.as_str(), "DONE" | "FAILED") {
            break;
        }
    }
    if status == "FAILED" {
        return Err(ToolError::RequestFailed {
            action: verb.as_str(),
            request_id: request,
            reason: if message.is_empty() {
                "IONOS gave no reason".into()
            } else {
                message
            },
        });
    }
    // The server's state changes shortly after the request is done: looked at again soon.
    let mut vm_state = None;
    pause = Duration::ZERO;
    loop {
        let server = d.read("get_server", server_args.clone()).await.ok();
        if let Some(s) = &server {
            answer.insert(
                "name".into(),
                s.pointer("/properties/name")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
            vm_state = s
                .pointer("/properties/vmState")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        let settled = vm_state.as_deref() == Some(verb.done_state());
        if status != "DONE" || settled || Instant::now() >= deadline {
            break;
        }
        pause = backoff(pause);
        let remaining = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(pause.min(remaining)).await;
    }
    answer.insert("status".into(), json!(status));
    if !message.is_empty() {
        answer.insert("message".into(), json!(message));
    }
    answer.insert("vm_state".into(), json!(vm_state));
    answer.insert(
        "waited_seconds".into(),
        json!((started.elapsed().as_millis() as f64 / 100.0).round() / 10.0),
    );
    if status != "DONE" {
        answer.insert(
            "follow_up".into(),
            json!(format!(
                "IONOS is still working on it ({status}). Call get_request_status with request_id {request} until it says DONE or FAILED, then get_server for the new vmState."
            )),
        );
    } else if vm_state.as_deref() != Some(verb.done_state()) {
        answer.insert(
            "follow_up".into(),
            json!(format!(
                "The request is done; the server's vmState should become {} shortly (get_server shows it).",
                verb.done_state()
            )),
        );
    }
    Ok(Output::Json(Value::Object(answer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_come_from_the_location() {
        for (location, id) in [
            (
                "https://api.ionos.com/cloudapi/v6/requests/5e1f-7a3c/status",
                Some("5e1f-7a3c"),
            ),
            (
                "http://127.0.0.1:1/cloudapi/v6/requests/abc/status?x=1",
                Some("abc"),
            ),
            ("/cloudapi/v6/requests/abc", Some("abc")),
            ("https://api.ionos.com/cloudapi/v6/datacenters/x", None),
            ("", None),
        ] {
            assert_eq!(request_id(location).as_deref(), id, "{location}");
        }
    }

    #[test]
    fn wait_defaults_and_is_bounded() {
        assert_eq!(wait_of(&json!({})), DEFAULT_WAIT);
        assert_eq!(wait_of(&json!({"wait": 0})), Duration::ZERO);
        assert_eq!(wait_of(&json!({"wait": 5})), Duration::from_secs(5));
        assert_eq!(wait_of(&json!({"wait": 100_000})), MAX_WAIT);
    }

    #[test]
    fn polls_back_off() {
        let mut pause = Duration::ZERO;
        let mut seen = Vec::new();
        for _ in 0..7 {
            pause = backoff(pause);
            seen.push(pause.as_millis());
        }
        assert_eq!(seen, [250, 500, 1000, 2000, 4000, 4000, 4000]);
    }
}
