//! Ranked search over the served tools: BM25 over names, titles, descriptions and argument
//! names.

use std::collections::HashMap;

use rmcp::model::Tool;
use serde_json::Value;

/// BM25 parameters: term-frequency saturation and length normalisation.
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Added, in proportion, when the query holds the words of a tool's name: `list servers` is
/// `list_servers` before `list_server_gpus`.
const NAME_MATCH_BONUS: f64 = 3.0;

/// How much each part of a tool counts: a word in the name says more than one in a sentence.
const NAME_WEIGHT: usize = 3;
const TITLE_WEIGHT: usize = 2;
const TEXT_WEIGHT: usize = 1;

/// One searchable tool: its index in the served list and its words with their weights.
struct Doc {
    terms: HashMap<String, f64>,
    len: f64,
    /// The words of the name: a query naming all of them names this tool.
    name: Vec<String>,
}

/// The index, built once per server from the tools it serves.
pub struct Index {
    docs: Vec<Doc>,
    /// In how many tools each term occurs.
    df: HashMap<String, usize>,
    avg_len: f64,
}

/// Lower-case words of `text`, split at anything not a letter or digit (so `list_servers`
/// is `list` and `server`), with a plural `s` taken off.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| stem(&w.to_lowercase()))
        .collect()
}

fn stem(word: &str) -> String {
    if word.len() > 3 && word.ends_with("ies") {
        format!("{}y", &word[..word.len() - 3])
    } else if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        word[..word.len() - 1].to_string()
    } else {
        word.to_string()
    }
}

impl Index {
    pub fn new(tools: &[Tool]) -> Index {
        let docs: Vec<Doc> = tools
            .iter()
            .map(|t| {
                let mut terms: HashMap<String, f64> = HashMap::new();
                let mut len = 0.0;
                let mut add = |text: &str, weight: usize| {
                    for w in words(text) {
                        *terms.entry(w).or_default() += weight as f64;
                        len += weight as f64;
                    }
                };
                add(&t.name, NAME_WEIGHT);
                add(t.title.as_deref().unwrap_or(""), TITLE_WEIGHT);
                add(t.description.as_deref().unwrap_or(""), TEXT_WEIGHT);
                if let Some(props) = t.input_schema.get("properties").and_then(Value::as_object) {
                    for name in props.keys() {
                        add(name, TEXT_WEIGHT);
                    }
                }
                Doc {
                    terms,
                    len,
                    name: words(&t.name),
                }
            })
            .collect();
        let mut df: HashMap<String, usize> = HashMap::new();
        for d in &docs {
            for term in d.terms.keys() {
                *df.entry(term.clone()).or_default() += 1;
            }
        }
        let avg_len = docs.iter().map(|d| d.len).sum::<f64>() / docs.len().max(1) as f64;
        Index { docs, df, avg_len }
    }

    /// The tools matching `query`, best first, as (index into the served list, score); only
    /// indices `keep` accepts. Ties keep the served order.
    pub fn search(&self, query: &str, keep: impl Fn(usize) -> bool) -> Vec<(usize, f64)> {
        let mut terms = words(query);
        // "certificates" asks for a list; "certificate" for one.
        let plural = query
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w.len() > 3 && stem(&w.to_lowercase()) != w.to_lowercase());
        if plural && !terms.iter().any(|t| t == "get" || t == "list") {
            terms.push("list".into());
        }
        let n = self.docs.len() as f64;
        let mut hits: Vec<(usize, f64)> = self
            .docs
            .iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .filter_map(|(i, d)| {
                let score: f64 = terms
                    .iter()
                    .filter_map(|t| {
                        let tf = *d.terms.get(t)?;
                        let df = *self.df.get(t)? as f64;
                        let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                        Some(
                            idf * tf * (K1 + 1.0)
                                / (tf + K1 * (1.0 - B + B * d.len / self.avg_len)),
                        )
                    })
                    .sum();
                let named = d.name.iter().filter(|w| terms.contains(w)).count();
                let bonus = if score > 0.0 && !d.name.is_empty() {
                    NAME_MATCH_BONUS * named as f64 / d.name.len() as f64
                } else {
                    0.0
                };
                (score > 0.0).then_some((i, score + bonus))
            })
            .collect();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_names_and_drop_plurals() {
        assert_eq!(words("list_servers"), ["list", "server"]);
        assert_eq!(words("DNS zones, policies"), ["dns", "zone", "policy"]);
        assert_eq!(words("access"), ["access"]);
    }
}
