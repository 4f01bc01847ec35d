//! What `tools/list` costs a client on every turn, counted with the o200k tokenizer.

use ionos_mcp::tools::table::{DOCUMENTS, TOOLS};

/// Upper bound for the list served by default (tokens); docs/benchmarks.md records the
/// measured value.
const TOOLS_LIST_TOKEN_BUDGET: usize = 22_000;

#[test]
fn tools_list_fits_its_token_budget() {
    let config =
        ionos_mcp::config::Config::from_env(&std::collections::BTreeMap::<String, String>::new())
            .expect("the empty environment is valid");
    let tools: Vec<_> = TOOLS
        .iter()
        .filter(|t| config.serves(t))
        .map(|t| t.to_mcp())
        .chain(DOCUMENTS.iter().map(|d| d.to_mcp()))
        .collect();
    let json = serde_json::to_string(&serde_json::json!({ "tools": tools })).expect("json");
    let bpe = tiktoken_rs::o200k_base().expect("o200k vocabulary is bundled");
    let tokens = bpe.encode_with_special_tokens(&json).len();
    eprintln!(
        "tools/list: {} tools, {} bytes, {tokens} o200k tokens",
        tools.len(),
        json.len()
    );
    assert!(
        tokens <= TOOLS_LIST_TOKEN_BUDGET,
        "tools/list is {tokens} tokens; budget {TOOLS_LIST_TOKEN_BUDGET}"
    );
    for t in TOOLS.iter().map(|t| t.to_mcp()) {
        let one = serde_json::to_string(&t).expect("json");
        let n = bpe.encode_with_special_tokens(&one).len();
        assert!(n <= 600, "{} alone is {n} tokens", t.name);
    }
}
