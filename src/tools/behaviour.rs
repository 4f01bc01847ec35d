//! Server-side behaviour a manifest entry declares (`date_window`, `exclude_items`), applied by
//! the dispatcher around the generated request: no tool has code of its own.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::tools::table::{TOOLS, ToolSpec};

#[derive(Debug, Clone, Deserialize)]
pub struct Behaviour {
    pub date_window: Option<DateWindow>,
    pub exclude_items: Option<ExcludeItems>,
    #[serde(default)]
    pub item_filters: Vec<ItemFilter>,
    pub summarize: Option<Summarize>,
}

/// Totals per group and the largest entries (see the manifest's `summarize`).
#[derive(Debug, Clone, Deserialize)]
pub struct Summarize {
    pub items: String,
    pub value: String,
    pub unit: Option<String>,
    pub group_arg: String,
    pub groups: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    pub top_arg: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ItemFilter {
    pub arg: String,
    pub items: String,
    pub pointer: String,
    #[serde(rename = "match")]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DateWindow {
    pub start: String,
    pub end: String,
    pub default_days: u32,
    pub max_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExcludeItems {
    pub items: String,
    pub pointer: String,
    pub contains: Option<String>,
    #[serde(default)]
    pub zero: bool,
    pub unless: String,
    pub count: Option<String>,
}

impl Behaviour {
    /// Where the list sits that item filters and exclusions act on.
    pub fn items_pointer(&self) -> Option<&str> {
        self.exclude_items
            .as_ref()
            .map(|x| x.items.as_str())
            .or_else(|| self.item_filters.first().map(|f| f.items.as_str()))
    }
}

/// The length of the list at `pointer` (0 when there is none).
pub fn list_len(answer: &Value, pointer: &str) -> usize {
    answer
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

/// The tool's behaviour, parsed once.
pub fn of(tool: &ToolSpec) -> Option<&'static Behaviour> {
    static ALL: OnceLock<HashMap<&'static str, Behaviour>> = OnceLock::new();
    ALL.get_or_init(|| {
        TOOLS
            .iter()
            .filter_map(|t| Some((t.name, serde_json::from_str(t.behaviour?).ok()?)))
            .collect()
    })
    .get(tool.name)
}

/// Before the request: fills a missing date range and checks it. `Err` names the problem.
pub fn prepare(b: &Behaviour, args: &mut Value, today: Day) -> Result<(), String> {
    let Some(w) = &b.date_window else {
        return Ok(());
    };
    let parse = |name: &str, args: &Value| -> Result<Option<Day>, String> {
        match args.get(name).and_then(Value::as_str) {
            None => Ok(None),
            Some(text) => Day::parse(text).map(Some).ok_or_else(|| {
                format!("argument `{name}`: `{text}` is not a date; expected YYYY-MM-DD")
            }),
        }
    };
    let start = parse(&w.start, args)?;
    let end = parse(&w.end, args)?;
    let default_span = i64::from(w.default_days);
    let (start, end) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, Day(s.0 + default_span).min(today)),
        (None, Some(e)) => (Day(e.0 - default_span), e),
        (None, None) => (Day(today.0 - default_span), today),
    };
    if end.0 < start.0 {
        return Err(format!(
            "`{}` ({end}) is before `{}` ({start}); expected a start on or before the end",
            w.end, w.start
        ));
    }
    let span = end.0 - start.0;
    if span > i64::from(w.max_days) {
        return Err(format!(
            "the range {start} to {end} spans {span} days; at most {} days can be asked at once, so split it",
            w.max_days
        ));
    }
    if let Some(obj) = args.as_object_mut() {
        obj.insert(w.start.clone(), json!(start.to_string()));
        obj.insert(w.end.clone(), json!(end.to_string()));
    }
    Ok(())
}

/// After the answer: applies the item filters the caller's arguments ask for, then drops the
/// excluded items unless asked for them. Returns how many excluded items were dropped.
pub fn finish(b: &Behaviour, args: &Value, answer: &mut Value) -> usize {
    for f in &b.item_filters {
        let Some(wanted) = args.get(&f.arg).filter(|v| !v.is_null()) else {
            continue;
        };
        for_each_list(answer, &f.items, &mut |items| {
            items.retain(|item| matches(item.pointer(&f.pointer), wanted, &f.kind));
        });
    }
    let dropped = exclude(b, args, answer);
    if let Some(sm) = &b.summarize {
        summarize(sm, args, answer);
    }
    dropped
}

fn exclude(b: &Behaviour, args: &Value, answer: &mut Value) -> usize {
    let Some(x) = &b.exclude_items else {
        return 0;
    };
    if args.get(&x.unless).and_then(Value::as_bool) == Some(true) {
        return 0;
    }
    let mut dropped = 0;
    for_each_list(answer, &x.items, &mut |items| {
        let before = items.len();
        items.retain(|item| {
            let v = item.pointer(&x.pointer);
            let excluded = match &x.contains {
                Some(text) => v
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.contains(text.as_str())),
                None => v.is_some_and(is_zero),
            };
            !excluded
        });
        dropped += before - items.len();
    });
    if dropped > 0
        && let Some(count) = &x.count
        && let Some(n) = answer.pointer_mut(count)
        && let Some(v) = n.as_u64()
    {
        *n = json!(v.saturating_sub(dropped as u64));
    }
    dropped
}

/// With a group argument: replaces the list with totals per group and unit, largest first
/// (at most `top_n`). With only `top_n`: keeps the `top_n` largest items across the lists.
fn summarize(sm: &Summarize, args: &Value, answer: &mut Value) {
    let group = args
        .get(&sm.group_arg)
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty());
    let top = args
        .get(&sm.top_arg)
        .and_then(Value::as_u64)
        .map(|n| n as usize);
    if group.is_none() && top.is_none() {
        return;
    }
    let number = |v: Option<&Value>| -> Option<f64> {
        match v? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    };
    let Some(group) = group else {
        // Only the largest items, in place.
        let mut all: Vec<f64> = Vec::new();
        for_each_list(answer, &sm.items, &mut |items| {
            all.extend(items.iter().filter_map(|i| number(i.pointer(&sm.value))));
        });
        let n = top.unwrap_or(usize::MAX);
        if all.len() <= n {
            return;
        }
        all.sort_by(|a, b| b.total_cmp(a));
        let threshold = all[n.saturating_sub(1).min(all.len() - 1)];
        let mut kept = 0;
        for_each_list(answer, &sm.items, &mut |items| {
            items.retain(|i| {
                let keep = kept < n && number(i.pointer(&sm.value)).is_some_and(|v| v >= threshold);
                kept += usize::from(keep);
                keep
            });
        });
        return;
    };
    let Some(key_pointer) = sm.groups.get(group) else {
        return;
    };
    let label_pointer = sm.labels.get(group);
    // (key, unit) -> (label, total, count), in order of first appearance.
    type Totals = (Option<String>, f64, usize);
    let mut totals: Vec<((String, String), Totals)> = Vec::new();
    visit_items(answer, &sm.items, None, &mut |holder, item| {
        let read = |pointer: &str| -> Option<Value> {
            match pointer.strip_prefix('^') {
                Some(p) => holder.and_then(|h| h.pointer(p)).cloned(),
                None => item.pointer(pointer).cloned(),
            }
        };
        let key = read(key_pointer)
            .and_then(|v| text_value(&v))
            .unwrap_or_else(|| "(none)".into());
        let unit = sm
            .unit
            .as_deref()
            .and_then(|u| item.pointer(u))
            .and_then(text_value)
            .unwrap_or_default();
        let label = label_pointer
            .and_then(|p| read(p))
            .and_then(|v| text_value(&v));
        let value = number(item.pointer(&sm.value)).unwrap_or(0.0);
        match totals.iter_mut().find(|(k, _)| k.0 == key && k.1 == unit) {
            Some((_, t)) => {
                t.1 += value;
                t.2 += 1;
            }
            None => totals.push(((key, unit), (label, value, 1))),
        }
    });
    totals.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    let total_groups = totals.len();
    if let Some(n) = top {
        totals.truncate(n);
    }
    let groups: Vec<Value> = totals
        .into_iter()
        .map(|((key, unit), (label, total, count))| {
            let mut g = serde_json::Map::new();
            g.insert("key".into(), json!(key));
            if let Some(l) = label {
                g.insert("label".into(), json!(l));
            }
            g.insert("total".into(), json!((total * 1e6).round() / 1e6));
            if !unit.is_empty() {
                g.insert("unit".into(), json!(unit));
            }
            g.insert("entries".into(), json!(count));
            Value::Object(g)
        })
        .collect();
    // The grouped list replaces the detailed one; other top-level fields stay.
    let root = sm.items.split('/').nth(1).unwrap_or_default().to_string();
    if let Value::Object(map) = answer {
        map.shift_remove(&root);
        map.insert("group_by".into(), json!(group));
        map.insert("groups".into(), Value::Array(groups));
        map.insert("group_count".into(), json!(total_groups));
    }
}

/// Calls `f` with each item of the lists at `pointer` and the element holding the list.
fn visit_items<'a>(
    value: &'a Value,
    pointer: &str,
    holder: Option<&'a Value>,
    f: &mut dyn FnMut(Option<&'a Value>, &'a Value),
) {
    let segments: Vec<&str> = pointer.split('/').skip(1).collect();
    visit(value, &segments, holder, f);
}

fn visit<'a>(
    value: &'a Value,
    segments: &[&str],
    holder: Option<&'a Value>,
    f: &mut dyn FnMut(Option<&'a Value>, &'a Value),
) {
    match segments.split_first() {
        None => {
            if let Value::Array(items) = value {
                for i in items {
                    f(holder, i);
                }
            }
        }
        Some((&"*", rest)) => {
            if let Value::Array(items) = value {
                for item in items {
                    visit(item, rest, Some(item), f);
                }
            }
        }
        Some((key, rest)) => {
            let next = match value {
                Value::Object(map) => map.get(*key),
                Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            if let Some(next) = next {
                visit(next, rest, holder, f);
            }
        }
    }
}

/// A key or label as text (numbers and booleans spelled out).
fn text_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `0`, `0.0` or `"0"`, `"0.00"`.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.trim().parse::<f64>().ok() == Some(0.0),
        _ => false,
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_lowercase()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether an item's value matches the argument; arrays in the item match when any element does.
fn matches(value: Option<&Value>, wanted: &Value, kind: &str) -> bool {
    let Some(value) = value else {
        return false;
    };
    if let Value::Array(values) = value {
        return values.iter().any(|v| matches(Some(v), wanted, kind));
    }
    let Some(have) = text_of(value) else {
        return false;
    };
    let wanted_list: Vec<String> = match wanted {
        Value::Array(a) => a.iter().filter_map(text_of).collect(),
        other => text_of(other).into_iter().collect(),
    };
    match kind {
        "equals" | "one_of" => wanted_list.iter().any(|w| &have == w),
        "contains" => wanted_list.iter().any(|w| have.contains(w.as_str())),
        "prefix" => wanted_list.iter().any(|w| have.starts_with(w.as_str())),
        _ => true,
    }
}

/// Calls `f` on every array the pointer reaches; `*` walks every element of an array.
fn for_each_list(value: &mut Value, pointer: &str, f: &mut dyn FnMut(&mut Vec<Value>)) {
    let segments: Vec<&str> = pointer.split('/').skip(1).collect();
    walk(value, &segments, f);
}

fn walk(value: &mut Value, segments: &[&str], f: &mut dyn FnMut(&mut Vec<Value>)) {
    match segments.split_first() {
        None => {
            if let Value::Array(items) = value {
                f(items);
            }
        }
        Some((&"*", rest)) => {
            if let Value::Array(items) = value {
                for item in items {
                    walk(item, rest, f);
                }
            }
        }
        Some((key, rest)) => {
            let next = match value {
                Value::Object(map) => map.get_mut(*key),
                Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
                _ => None,
            };
            if let Some(next) = next {
                walk(next, rest, f);
            }
        }
    }
}

/// A calendar day (days since 1970-01-01, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub i64);

impl Day {
    pub fn today() -> Day {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Day(i64::try_from(secs / 86_400).unwrap_or(0))
    }

    /// `YYYY-MM-DD`, a real date.
    pub fn parse(text: &str) -> Option<Day> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let y: i64 = text[0..4].parse().ok()?;
        let m: i64 = text[5..7].parse().ok()?;
        let d: i64 = text[8..10].parse().ok()?;
        if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return None;
        }
        // Days from civil (H. Hinnant).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(Day(era * 146_097 + doe - 719_468))
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> Behaviour {
        Behaviour {
            date_window: Some(DateWindow {
                start: "date_start".into(),
                end: "date_end".into(),
                default_days: 7,
                max_days: 90,
            }),
            exclude_items: Some(ExcludeItems {
                items: "/hits/hits".into(),
                pointer: "/uri".into(),
                contains: Some("/status".into()),
                zero: false,
                unless: "include_status_updates".into(),
                count: Some("/hits/total".into()),
            }),
            item_filters: vec![ItemFilter {
                arg: "meter_types".into(),
                items: "/datacenters/*/meters".into(),
                pointer: "/meterId".into(),
                kind: "one_of".into(),
            }],
            summarize: None,
        }
    }

    #[test]
    fn item_filters_reach_nested_lists() {
        let b = window();
        let mut answer = json!({"datacenters": [
            {"meters": [{"meterId": "C01000"}, {"meterId": "R01000"}]},
            {"meters": [{"meterId": "r01000"}, {"meterId": "S01000"}]}
        ]});
        finish(&b, &json!({"meter_types": ["R01000"]}), &mut answer);
        assert_eq!(
            answer,
            json!({"datacenters": [{"meters": [{"meterId": "R01000"}]}, {"meters": [{"meterId": "r01000"}]}]})
        );
        assert!(matches(
            Some(&json!(["a.b", "sec.user"])),
            &json!(["sec"]),
            "prefix"
        ));
        assert!(!matches(Some(&json!("x")), &json!("y"), "equals"));
        assert!(matches(
            Some(&json!("Ops@Example.com")),
            &json!("ops@example.com"),
            "equals"
        ));
        assert!(is_zero(&json!("0.00")) && is_zero(&json!(0)) && !is_zero(&json!("0.5")));
    }

    #[test]
    fn days_round_trip() {
        for s in ["1970-01-01", "2000-02-29", "2026-11-24", "2024-12-31"] {
            assert_eq!(Day::parse(s).expect(s).to_string(), s);
        }
        assert_eq!(Day::parse("1970-01-02"), Some(Day(1)));
        for bad in ["2026-02-30", "2026-13-01", "26-01-01", "2026/01/01", ""] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn date_window_defaults_and_limits() {
        let b = window();
        let today = Day::parse("2026-11-24").unwrap();
        let mut args = json!({});
        prepare(&b, &mut args, today).unwrap();
        assert_eq!(
            args,
            json!({"date_start": "2026-11-17", "date_end": "2026-11-24"})
        );

        let mut args = json!({"date_start": "2026-11-10", "date_end": "2026-11-01"});
        let e = prepare(&b, &mut args, today).unwrap_err();
        assert!(e.contains("before"), "{e}");

        let mut args = json!({"date_start": "2026-01-01", "date_end": "2026-11-01"});
        let e = prepare(&b, &mut args, today).unwrap_err();
        assert!(e.contains("at most 90 days"), "{e}");

        let mut args = json!({"date_start": "2026-02-30"});
        let e = prepare(&b, &mut args, today).unwrap_err();
        assert!(
            e.contains("`date_start`") && e.contains("YYYY-MM-DD"),
            "{e}"
        );
    }

    #[test]
    fn excluded_items_unless_asked() {
        let b = window();
        let answer = json!({"hits": {"total": 3, "hits": [
            {"uri": "/cloudapi/v6/requests/1/status"},
            {"uri": "/cloudapi/v6/datacenters/1/servers"},
            {"uri": "/cloudapi/v6/requests/2/status"}
        ]}});
        let mut a = answer.clone();
        assert_eq!(finish(&b, &json!({}), &mut a), 2);
        assert_eq!(a["hits"]["hits"].as_array().map(Vec::len), Some(1));
        assert_eq!(a["hits"]["total"], json!(1));
        let mut a = answer.clone();
        assert_eq!(
            finish(&b, &json!({"include_status_updates": true}), &mut a),
            0
        );
        assert_eq!(a, answer);
    }

    fn usage() -> Value {
        json!({"period": "2026-11", "datacenters": [
            {"id": "dc1", "name": "prod", "meters": [
                {"meterId": "C01", "meterDesc": "cores", "quantity": {"quantity": 10.0, "unit": "h"}},
                {"meterId": "R01", "meterDesc": "ram", "quantity": {"quantity": "40", "unit": "GB h"}}]},
            {"id": "dc2", "name": "test", "meters": [
                {"meterId": "C01", "meterDesc": "cores", "quantity": {"quantity": 5, "unit": "h"}},
                {"meterId": "T01", "meterDesc": "traffic", "quantity": {"quantity": 1.5, "unit": "GB"}}]}]})
    }

    fn summary() -> Behaviour {
        let sm: Summarize = serde_json::from_value(json!({
            "items": "/datacenters/*/meters", "value": "/quantity/quantity",
            "unit": "/quantity/unit", "group_arg": "group_by",
            "groups": {"meter": "/meterId", "datacenter": "^/id"},
            "labels": {"meter": "/meterDesc", "datacenter": "^/name"}, "top_arg": "top_n"}))
        .unwrap();
        Behaviour {
            date_window: None,
            exclude_items: None,
            item_filters: Vec::new(),
            summarize: Some(sm),
        }
    }

    #[test]
    fn totals_per_group_and_unit_largest_first() {
        let b = summary();
        let mut v = usage();
        finish(&b, &json!({"group_by": "meter"}), &mut v);
        assert_eq!(v["period"], "2026-11");
        assert!(v.get("datacenters").is_none());
        assert_eq!(v["group_count"], 3);
        assert_eq!(
            v["groups"],
            json!([
                {"key": "R01", "label": "ram", "total": 40.0, "unit": "GB h", "entries": 1},
                {"key": "C01", "label": "cores", "total": 15.0, "unit": "h", "entries": 2},
                {"key": "T01", "label": "traffic", "total": 1.5, "unit": "GB", "entries": 1}])
        );
        let mut v = usage();
        finish(&b, &json!({"group_by": "datacenter", "top_n": 2}), &mut v);
        assert_eq!(v["group_count"], 4);
        assert_eq!(
            v["groups"],
            json!([
                {"key": "dc1", "label": "prod", "total": 40.0, "unit": "GB h", "entries": 1},
                {"key": "dc1", "label": "prod", "total": 10.0, "unit": "h", "entries": 1}])
        );
    }

    #[test]
    fn top_n_alone_keeps_the_largest_lines() {
        let b = summary();
        let mut v = usage();
        finish(&b, &json!({"top_n": 2}), &mut v);
        let kept: Vec<&str> = v["datacenters"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["meters"].as_array().unwrap())
            .map(|m| m["meterId"].as_str().unwrap())
            .collect();
        assert_eq!(kept, ["C01", "R01"]);
        let mut untouched = usage();
        finish(&b, &json!({"group_by": ""}), &mut untouched);
        assert_eq!(untouched, usage());
    }
}
