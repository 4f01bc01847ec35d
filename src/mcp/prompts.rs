//! MCP prompts for the two everyday flows: `inventory` (data centers and servers with their
//! power state) and `stop_server_safely` (find it, confirm, stop, verify), with completions
//! of data center and server names and ids read from the account.

use rmcp::model::{
    CompleteResult, CompletionInfo, GetPromptResult, Prompt, PromptArgument, PromptMessage, Role,
};
use serde_json::{Value, json};

use crate::tools::dispatch::Dispatcher;

pub const INVENTORY: &str = "inventory";
pub const STOP_SAFELY: &str = "stop_server_safely";

/// The tool a prompt leads to; it is listed only where that tool is served and allowed.
pub fn needs(prompt: &str) -> Option<&'static str> {
    match prompt {
        INVENTORY => Some("list_servers"),
        STOP_SAFELY => Some("stop_server"),
        _ => None,
    }
}

/// The definitions.
pub fn definitions() -> Vec<Prompt> {
    let datacenter = |required: bool| {
        PromptArgument::new("datacenter")
            .with_title("Data center")
            .with_description(if required {
                "Name or id of the server's data center."
            } else {
                "Name or id of one data center; all of them when left out."
            })
            .with_required(required)
    };
    let mut inventory = Prompt::new(
        INVENTORY,
        Some("Data centers and their servers with each server's power state (vmState) and type."),
        Some(vec![datacenter(false)]),
    );
    inventory.title = Some("Inventory".into());
    let mut stop = Prompt::new(
        STOP_SAFELY,
        Some(
            "Find a server by name or id, have the user confirm, stop it, and check that it is off.",
        ),
        Some(vec![
            datacenter(true),
            PromptArgument::new("server")
                .with_title("Server")
                .with_description("Name or id of the server to stop.")
                .with_required(true),
        ]),
    );
    stop.title = Some("Stop a server safely".into());
    vec![inventory, stop]
}

/// A data center or server as completions and look-ups see it.
struct Named {
    id: String,
    name: String,
}

async fn datacenters(d: &Dispatcher) -> Vec<Named> {
    named(
        d.read("list_datacenters", json!({"depth": 1, "limit": 1000}))
            .await,
    )
}

async fn servers(d: &Dispatcher, datacenter_id: &str) -> Vec<Named> {
    named(
        d.read(
            "list_servers",
            json!({"datacenter_id": datacenter_id, "depth": 1, "limit": 1000}),
        )
        .await,
    )
}

fn named(list: Result<Value, crate::errors::ToolError>) -> Vec<Named> {
    list.ok()
        .and_then(|v| v.get("items").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|i| {
            Some(Named {
                id: i.get("id")?.as_str()?.to_string(),
                name: i
                    .pointer("/properties/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            })
        })
        .collect()
}

/// The one item whose id or name is `wanted` (names compared without case).
fn find<'a>(items: &'a [Named], wanted: &str) -> Option<&'a Named> {
    let wanted = wanted.trim();
    items.iter().find(|i| i.id == wanted).or_else(|| {
        let mut by_name = items.iter().filter(|i| i.name.eq_ignore_ascii_case(wanted));
        match (by_name.next(), by_name.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    })
}

/// Names and ids that start with (or, for names, contain) what was typed, names first.
fn matching(items: &[Named], typed: &str) -> Vec<String> {
    let typed = typed.trim().to_ascii_lowercase();
    let mut names: Vec<String> = items
        .iter()
        .filter(|i| !i.name.is_empty() && i.name.to_ascii_lowercase().contains(&typed))
        .map(|i| i.name.clone())
        .collect();
    names.sort();
    names.dedup();
    let ids = items
        .iter()
        .filter(|i| i.id.to_ascii_lowercase().starts_with(&typed))
        .map(|i| i.id.clone());
    names.extend(ids);
    names.truncate(CompletionInfo::MAX_VALUES);
    names
}

/// `completion/complete` for a prompt argument: `datacenter`, or `server` (in the data
/// center already given, else in all of them).
pub async fn complete(
    d: &Dispatcher,
    argument: &str,
    typed: &str,
    datacenter: Option<&str>,
) -> CompleteResult {
    let values = match argument {
        "datacenter" => matching(&datacenters(d).await, typed),
        "server" => {
            let dcs = datacenters(d).await;
            let chosen: Vec<&Named> = match datacenter.and_then(|w| find(&dcs, w)) {
                Some(dc) => vec![dc],
                None => dcs.iter().collect(),
            };
            let mut all = Vec::new();
            for dc in chosen {
                all.extend(servers(d, &dc.id).await);
            }
            matching(&all, typed)
        }
        _ => Vec::new(),
    };
    CompleteResult::new(CompletionInfo::with_all_values(values).unwrap_or_default())
}

/// The prompt's messages, with the names the user gave resolved to ids where they match.
pub async fn get(
    d: &Dispatcher,
    name: &str,
    arguments: &serde_json::Map<String, Value>,
) -> Result<GetPromptResult, String> {
    let arg = |k: &str| {
        arguments
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let dcs = datacenters(d).await;
    let text = match name {
        INVENTORY => {
            let scope = match arg("datacenter") {
                None => "every data center (list_datacenters)".to_string(),
                Some(w) => match find(&dcs, w) {
                    Some(dc) => format!("the data center {} (id {})", dc.name, dc.id),
                    None => format!(
                        "the data center \"{w}\" (find its id with list_datacenters; if none matches, say so)"
                    ),
                },
            };
            format!(
                "Give an inventory of {scope} in my IONOS Cloud account. For each data center call list_servers with its datacenter_id and depth 1, and show a table per data center: server name, id, type (ENTERPRISE, CUBE, VCPU, GPU), cores, RAM and vmState (RUNNING, SHUTOFF, SUSPENDED, …). End with how many servers are running and how many are off. Only read; change nothing."
            )
        }
        STOP_SAFELY => {
            let (Some(dc_given), Some(server_given)) = (arg("datacenter"), arg("server")) else {
                return Err("stop_server_safely needs the arguments datacenter and server".into());
            };
            let found = match find(&dcs, dc_given) {
                None => format!(
                    "Find the data center \"{dc_given}\" with list_datacenters (by name or id) and the server \"{server_given}\" in it with list_servers."
                ),
                Some(dc) => {
                    let list = servers(d, &dc.id).await;
                    match find(&list, server_given) {
                        Some(s) => format!(
                            "The server is {} (id {}) in data center {} (id {}); check it with get_server.",
                            s.name, s.id, dc.name, dc.id
                        ),
                        None => format!(
                            "Find the server \"{server_given}\" in data center {} (id {}) with list_servers (by name or id); if there is none, or more than one, ask me which one I mean.",
                            dc.name, dc.id
                        ),
                    }
                }
            };
            format!(
                "Stop one of my IONOS servers safely.\n\
                 1. Find it. {found} Tell me its name, id, type and vmState. If it is already off (SHUTOFF), say so and stop here. If it is a CUBE server, it cannot be stopped: offer suspend_server instead.\n\
                 2. Confirm. Call stop_server with its datacenter_id and server_id. The server asks me to confirm; if instead it answers with a preview and a confirmation_token, show me the preview, and only if I agree call stop_server again with the same arguments plus that confirmation_token. If I decline, do nothing more.\n\
                 3. Stop. stop_server waits for IONOS and reports the request's status. If it is still running, follow it with get_request_status.\n\
                 4. Verify. Call get_server and tell me its vmState; it should be SHUTOFF."
            )
        }
        other => return Err(format!("no prompt `{other}`; prompts/list names them")),
    };
    let mut result = GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]);
    result.description = definitions()
        .into_iter()
        .find(|p| p.name == name)
        .and_then(|p| p.description);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<Named> {
        [
            ("a1", "web-01"),
            ("b2", "web-02"),
            ("c3", "db-01"),
            ("d4", "Web-01"),
        ]
        .iter()
        .map(|(id, name)| Named {
            id: id.to_string(),
            name: name.to_string(),
        })
        .collect()
    }

    #[test]
    fn names_and_ids_are_matched() {
        let items = items();
        assert_eq!(matching(&items, "web"), ["Web-01", "web-01", "web-02"]);
        assert_eq!(matching(&items, "c"), ["c3"]);
        assert_eq!(matching(&items, "").len(), 8);
        assert_eq!(find(&items, "c3").map(|i| i.name.as_str()), Some("db-01"));
        assert_eq!(find(&items, "DB-01").map(|i| i.id.as_str()), Some("c3"));
        // Two servers of that name: not guessed.
        assert!(find(&items, "web-01").is_none());
    }
}
