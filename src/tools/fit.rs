//! Every answer within a size budget (`IONOS_MCP_MAX_ANSWER_TOKENS`): a longer list is cut at
//! an item boundary, and the answer says what was left out and how to ask for the rest. It is
//! never cut silently.

use serde_json::{Map, Value, json};

use super::compact::{COLUMNS, ROWS};

/// Characters per token in a run of letters, of digits and of other symbols. Measured against
/// the o200k tokenizer on IONOS answers (ids, dates, names, JSON punctuation), rounded so the
/// estimate comes out a little above the real count.
const LETTERS_PER_TOKEN: usize = 4;
const DIGITS_PER_TOKEN: usize = 3;
const SYMBOLS_PER_TOKEN: usize = 2;

/// About how many o200k tokens `text` is, counted a little high so the budget holds: runs of
/// letters, digits and symbols each cost their length over their characters per token.
pub fn estimate_tokens(text: &str) -> usize {
    #[derive(PartialEq, Clone, Copy)]
    enum Run {
        Letters,
        Digits,
        Symbols,
        Space,
    }
    let cost = |run: Run, n: usize| match run {
        Run::Letters => n.div_ceil(LETTERS_PER_TOKEN),
        Run::Digits => n.div_ceil(DIGITS_PER_TOKEN),
        Run::Symbols => n.div_ceil(SYMBOLS_PER_TOKEN),
        Run::Space => 0,
    };
    let mut tokens = 0;
    let mut run = Run::Space;
    let mut len = 0;
    for c in text.chars() {
        let kind = if c.is_alphabetic() {
            Run::Letters
        } else if c.is_ascii_digit() {
            Run::Digits
        } else if c.is_whitespace() {
            Run::Space
        } else {
            Run::Symbols
        };
        if kind != run {
            tokens += cost(run, len);
            run = kind;
            len = 0;
        }
        len += 1;
    }
    tokens + cost(run, len)
}

/// The most lists one answer is cut in.
const MAX_CUTS: usize = 8;

/// A value as compact JSON: the text a tool result carries beside its `structuredContent`.
pub fn compact_text(v: &Value) -> String {
    // Serialising a `Value` cannot fail: its map keys are strings.
    serde_json::to_string(v).unwrap_or_default()
}

/// The estimated tokens of a value as compact JSON.
fn size(v: &Value) -> usize {
    estimate_tokens(&compact_text(v))
}

/// Whether `text` is within `max_tokens`. The estimate never counts more tokens than a text
/// has bytes, so a text no longer than the budget is within it without being counted.
fn within(text: &str, max_tokens: usize) -> bool {
    text.len() <= max_tokens || estimate_tokens(text) <= max_tokens
}

/// An answer as fitted to the budget.
#[derive(Debug)]
pub struct Fitted {
    /// The answer as compact JSON, made once here and sent as the result's text.
    pub text: String,
    /// Whether lists were cut (the answer then says so under `truncated`).
    pub cut: bool,
}

/// The JSON pointer of the largest array of two or more items in `v`, by its bytes (a single
/// item cannot be cut further: the cut goes inside it). A table is cut in its rows only: a row
/// is one item's values, never cut itself, though a list among its values may be.
fn largest_array(v: &Value) -> Option<(String, usize)> {
    /// What a value is to the cut: a table's `rows`, one of those rows, or anything else.
    #[derive(PartialEq, Clone, Copy)]
    enum Role {
        Plain,
        Rows,
        Row,
    }
    fn walk(v: &Value, at: String, role: Role, best: &mut Option<(String, usize)>) {
        match v {
            Value::Array(items) => {
                let n = size(v);
                if role != Role::Row && items.len() > 1 && best.as_ref().is_none_or(|(_, b)| n > *b)
                {
                    *best = Some((at.clone(), n));
                }
                let inner = if role == Role::Rows {
                    Role::Row
                } else {
                    Role::Plain
                };
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{at}/{i}"), inner, best);
                }
            }
            Value::Object(obj) => {
                let table = obj.contains_key(COLUMNS);
                for (k, item) in obj {
                    let role = match k.as_str() {
                        // The names of a table's columns go with every row.
                        COLUMNS if table => continue,
                        ROWS if table => Role::Rows,
                        _ => Role::Plain,
                    };
                    let key = k.replace('~', "~0").replace('/', "~1");
                    walk(item, format!("{at}/{key}"), role, best);
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk(v, String::new(), Role::Plain, &mut best);
    best
}

/// The member `field` of an item of the list at `at`: of the object, or, for a row of a table,
/// the value in the column of that name.
fn item_field<'a>(answer: &'a Value, at: &str, item: &'a Value, field: &str) -> Option<&'a Value> {
    match item {
        Value::Array(values) => {
            let table = answer.pointer(at.strip_suffix(&format!("/{ROWS}"))?)?;
            let columns = table.get(COLUMNS)?.as_array()?;
            let i = columns.iter().position(|c| c.as_str() == Some(field))?;
            values.get(i)
        }
        _ => item.get(field),
    }
}

/// One list that was cut.
struct Cut {
    at: String,
    kept: usize,
    of: usize,
    /// The last item kept (for the continuation).
    last: Option<Value>,
}

/// How the caller asks for the rest of a list.
#[derive(Debug, Clone, Copy, Default)]
pub struct Continuation {
    /// The tool pages by `offset`: the offset this answer started at.
    pub offset: Option<u64>,
    /// The tool takes `start_after` (S3 keys).
    pub start_after: bool,
}

/// Cuts `answer` to `max_tokens` (about); `next` says how the main list continues. Returns
/// the answer's compact text and whether anything was cut.
pub fn fit(answer: &mut Value, max_tokens: usize, next: Continuation) -> Fitted {
    let max = max_tokens;
    let text = compact_text(answer);
    if within(&text, max) {
        return Fitted { text, cut: false };
    }
    let mut cuts: Vec<Cut> = Vec::new();
    // The note itself takes room; keep some for it.
    let room = max.saturating_sub(200);
    while size(answer) > room && cuts.len() < MAX_CUTS {
        let Some((at, _)) = largest_array(answer) else {
            break;
        };
        let Some(Value::Array(items)) = answer.pointer(&at).cloned() else {
            break;
        };
        let of = items.len();
        // The most items that fit, by halving: sizes grow with the count.
        let (mut lo, mut hi) = (0usize, of);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if let Some(slot) = answer.pointer_mut(&at) {
                *slot = Value::Array(items[..mid].to_vec());
            }
            if size(answer) <= room {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        // Not even one item fits: keep one and cut inside it next.
        let kept = lo.max(1).min(of);
        if let Some(slot) = answer.pointer_mut(&at) {
            *slot = Value::Array(items[..kept].to_vec());
        }
        if kept < of || cuts.iter().all(|c| c.at != at) {
            match cuts.iter_mut().find(|c| c.at == at) {
                Some(c) => c.kept = kept,
                None => cuts.push(Cut {
                    at,
                    kept,
                    of,
                    last: items.get(kept.saturating_sub(1)).cloned(),
                }),
            }
        }
        if kept == of {
            break;
        }
    }
    let cuts: Vec<&Cut> = cuts.iter().filter(|c| c.kept < c.of).collect();
    if cuts.is_empty() {
        let text = compact_text(answer);
        if within(&text, max) {
            return Fitted { text, cut: false };
        }
    }
    let lists: Vec<Value> = cuts
        .iter()
        .map(|c| json!({"list": c.at, "returned": c.kept, "of": c.of}))
        .collect();
    let mut note = Map::new();
    note.insert("why".into(), Value::String(format!(
        "the answer was larger than about {max_tokens} tokens (IONOS_MCP_MAX_ANSWER_TOKENS), so lists were cut at an item boundary"
    )));
    note.insert("lists".into(), Value::Array(lists));
    // The main list (the first cut, near the top) continues where it stopped; the API's own
    // continuation (NextContinuationToken, NextMarker, links) would skip what was cut.
    if let Some(main) = cuts.first().filter(|c| c.at.matches('/').count() <= 2) {
        if let Value::Object(obj) = answer {
            obj.retain(|k, _| !k.starts_with("Next") && k != "_links");
            if obj.contains_key("IsTruncated") {
                obj.insert("IsTruncated".into(), Value::Bool(true));
            }
        }
        if let Some(offset) = next.offset {
            note.insert("next_offset".into(), json!(offset + main.kept as u64));
        } else if let Some(key) = main
            .last
            .as_ref()
            .filter(|_| next.start_after)
            .and_then(|l| item_field(answer, &main.at, l, "Key"))
            .and_then(Value::as_str)
        {
            note.insert("next_start_after".into(), json!(key));
        }
    }
    note.insert(
        "next".into(),
        json!("ask for the rest with the continuation above, or narrow the request: filters, a lower depth, a smaller limit"),
    );
    match &mut *answer {
        Value::Object(obj) => {
            obj.insert("truncated".into(), Value::Object(note));
        }
        other => {
            let inner = other.take();
            *other = json!({"value": inner, "truncated": note});
        }
    }
    Fitted {
        text: compact_text(answer),
        cut: true,
    }
}

/// Cuts a text answer at a line boundary, with a last line saying so.
pub fn fit_text(text: &mut String, max_tokens: usize) -> bool {
    if estimate_tokens(text) <= max_tokens {
        return false;
    }
    let total = text.lines().count();
    let mut end = 0;
    let mut kept = 0;
    let mut used = 0;
    for line in text.split_inclusive('\n') {
        let cost = estimate_tokens(line);
        if used + cost > max_tokens.saturating_sub(60) {
            break;
        }
        used += cost;
        end += line.len();
        kept += 1;
    }
    text.truncate(end);
    text.push_str(&format!(
        "… cut here: {kept} of {total} lines shown, as the answer was larger than about {max_tokens} tokens (IONOS_MCP_MAX_ANSWER_TOKENS)\n"
    ));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(n: usize) -> Value {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({"id": format!("id-{i:05}"), "properties": {"name": format!("server {i}"), "pad": "x".repeat(200)}}))
            .collect();
        json!({"id": "servers", "items": items})
    }

    #[test]
    fn small_answers_are_left_alone() {
        let mut v = big(3);
        let before = v.clone();
        let fitted = fit(&mut v, 20_000, Continuation::default());
        assert!(!fitted.cut);
        assert_eq!(v, before);
        assert_eq!(serde_json::from_str::<Value>(&fitted.text).unwrap(), before);
    }

    #[test]
    fn a_long_list_is_cut_at_an_item_with_the_next_offset() {
        let mut v = big(2000);
        let next = Continuation {
            offset: Some(10),
            start_after: false,
        };
        let fitted = fit(&mut v, 5_000, next);
        assert!(fitted.cut);
        assert!(size(&v) <= 5_000);
        assert_eq!(
            fitted.text,
            compact_text(&v),
            "the text is the answer as cut"
        );
        let kept = v["items"].as_array().unwrap().len();
        assert!(kept > 10 && kept < 2000, "{kept}");
        assert_eq!(v["items"][kept - 1]["id"], format!("id-{:05}", kept - 1));
        let note = &v["truncated"];
        assert_eq!(note["lists"][0]["returned"], kept);
        assert_eq!(note["lists"][0]["of"], 2000);
        assert_eq!(note["next_offset"], 10 + kept);
    }

    #[test]
    fn one_item_too_large_is_cut_inside() {
        let inner: Vec<Value> = (0..3000)
            .map(|i| json!({"n": i, "pad": "y".repeat(50)}))
            .collect();
        let mut v = json!({"items": [{"id": "dc-1", "entities": {"servers": {"items": inner}}}, {"id": "dc-2"}]});
        assert!(fit(&mut v, 4_000, Continuation::default()).cut);
        assert!(size(&v) <= 4_000);
        assert_eq!(v["items"][0]["id"], "dc-1");
        assert!(!v["truncated"]["lists"].as_array().unwrap().is_empty());
    }

    #[test]
    fn s3_listings_continue_after_the_last_key() {
        let contents: Vec<Value> = (0..3000)
            .map(|i| json!({"Key": format!("logs/{i:05}.gz"), "Size": i}))
            .collect();
        let mut v = json!({"Name": "b", "Contents": contents});
        let next = Continuation {
            offset: None,
            start_after: true,
        };
        assert!(fit(&mut v, 3_000, next).cut);
        let kept = v["Contents"].as_array().unwrap().len();
        assert_eq!(
            v["truncated"]["next_start_after"],
            format!("logs/{:05}.gz", kept - 1)
        );
    }

    #[test]
    fn tables_are_cut_at_a_row_and_continue_after_its_key() {
        let rows: Vec<Value> = (0..3000)
            .map(|i| json!([format!("logs/{i:05}.gz"), i]))
            .collect();
        let mut v = json!({"Name": "b", "Contents": {"columns": ["Key", "Size"], "rows": rows}});
        let next = Continuation {
            offset: None,
            start_after: true,
        };
        assert!(fit(&mut v, 3_000, next).cut);
        assert!(size(&v) <= 3_000);
        let kept = v["Contents"]["rows"].as_array().unwrap();
        assert!(kept.len() > 10 && kept.len() < 3000, "{}", kept.len());
        assert!(kept.iter().all(|r| r.as_array().map(Vec::len) == Some(2)));
        assert_eq!(v["Contents"]["columns"], json!(["Key", "Size"]));
        assert_eq!(v["truncated"]["lists"][0]["list"], "/Contents/rows");
        assert_eq!(
            v["truncated"]["next_start_after"],
            format!("logs/{:05}.gz", kept.len() - 1)
        );
        // A single row too large is kept whole, not cut into fewer values.
        let mut v =
            json!({"Contents": {"columns": ["Key", "Body"], "rows": [["k", "z".repeat(40_000)]]}});
        let before = v.clone();
        fit(&mut v, 1_000, next);
        assert!(v["Contents"] == before["Contents"], "the table was changed");
    }

    #[test]
    fn short_texts_are_within_the_budget_without_counting() {
        // Every estimate is at most the byte count, so the shortcut agrees with counting.
        for text in [
            "",
            "a",
            "{\"id\":\"x\"}",
            "1234567890",
            "~~~~",
            "ünïcödé",
            "a b c",
        ] {
            assert!(estimate_tokens(text) <= text.len(), "{text}");
        }
        assert!(within("{\"a\":1}", 7));
        let wide = "~".repeat(100);
        assert!(!within(&wide, 49), "100 symbols are 50 tokens");
        assert!(within(&wide, 50));
    }

    #[test]
    fn text_is_cut_at_a_line() {
        let mut t: String = (0..5000)
            .map(|i| format!("record-{i} IN A 192.0.2.1\n"))
            .collect();
        assert!(fit_text(&mut t, 1_000));
        assert!(estimate_tokens(&t) <= 1_000);
        assert!(t.contains("cut here"));
        assert!(t.lines().rev().nth(1).unwrap().starts_with("record-"));
    }
}
