//! Counts what a text costs a model: reads stdin, prints its bytes and o200k tokens (the
//! tokenizer `tools/list` budgets use). For measuring answers, e.g.
//! `ionos-mcp --demo call list_servers '{"datacenter_id": "…"}' | cargo run -q --example count_tokens`.

use std::io::Read;

fn main() -> std::io::Result<()> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let bpe = tiktoken_rs::o200k_base().expect("the o200k vocabulary is bundled");
    let tokens = bpe.encode_with_special_tokens(&text).len();
    println!("{} bytes, {tokens} o200k tokens", text.len());
    Ok(())
}
