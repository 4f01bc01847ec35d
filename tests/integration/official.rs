//! Drop-in compatibility with the official IONOS MCP server: every read tool it has exists here
//! under the same name, in the same product, read-only, with every argument it takes. Reads
//! `../shared/ionos-api/official-tools.md`; skips, saying so, where it is absent.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ionos_mcp::tools::table::{DOCUMENTS, TOOLS};
use serde_json::Value;

/// (product, tool, argument names) of each row of the reference table.
fn official_tools(text: &str) -> Vec<(String, String, Vec<String>)> {
    let ident = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .filter(|w| {
                !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
            .map(str::to_string)
            .collect()
    };
    let mut out: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut base: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("| ")) {
        let cols: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if cols.len() < 4 {
            continue;
        }
        let Some(name) = ident(cols[1]).into_iter().next() else {
            continue;
        };
        let mut args_text = cols[3].to_string();
        // Notes are in parentheses, after a dash or after the first sentence.
        while let (Some(a), Some(b)) = (args_text.find('('), args_text.find(')')) {
            if b < a {
                break;
            }
            args_text.replace_range(a..=b, "");
        }
        for cut in [" — ", ". "] {
            if let Some(i) = args_text.find(cut) {
                args_text.truncate(i);
            }
        }
        let mut args = if args_text.starts_with('—') {
            Vec::new()
        } else {
            ident(&args_text)
        };
        // "same + `x`": the arguments of the last row that spelled its own out, and `x`.
        if args_text.starts_with("same") {
            let mut inherited = base.clone();
            inherited.append(&mut args);
            args = inherited;
        } else {
            base = args.clone();
        }
        out.push((cols[0].to_string(), name, args));
    }
    out
}

#[test]
fn every_official_read_tool_is_here_with_its_arguments() {
    let file =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/ionos-api/official-tools.md");
    let Ok(text) = std::fs::read_to_string(&file) else {
        eprintln!(
            "SKIPPED: {} is absent; the drop-in check needs the shared reference material",
            file.display()
        );
        return;
    };
    let rows = official_tools(&text);
    // The read tools of the seven products (the write tools' table has no product column).
    let products = [
        "compute",
        "kubernetes",
        "objectstorage",
        "dns",
        "billing",
        "certmanager",
        "activitylog",
    ];
    let read_rows: Vec<_> = rows
        .iter()
        .filter(|(p, _, _)| products.contains(&p.as_str()))
        .collect();
    assert_eq!(read_rows.len(), 118, "the reference lists 118 read tools");

    let mut problems = Vec::new();
    let mut per_product: BTreeMap<&str, usize> = BTreeMap::new();
    for (product, name, args) in read_rows {
        if let Some(d) = DOCUMENTS.iter().find(|d| d.name == name) {
            if d.product != product {
                problems.push(format!(
                    "{name}: product {} here, {product} there",
                    d.product
                ));
            }
            *per_product.entry(product.as_str()).or_default() += 1;
            continue;
        }
        let Some(tool) = TOOLS.iter().find(|t| t.name == name) else {
            problems.push(format!("{name}: missing"));
            continue;
        };
        if tool.product().family != product {
            problems.push(format!(
                "{name}: product {} here, {product} there",
                tool.product().family
            ));
        }
        if !tool.is_read_only() {
            problems.push(format!("{name}: not read-only"));
        }
        let schema: Value = serde_json::from_str(tool.input_schema).expect("schema is JSON");
        for a in args {
            if schema["properties"].get(a).is_none() {
                problems.push(format!("{name}: no argument `{a}`"));
            }
        }
        *per_product.entry(product.as_str()).or_default() += 1;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(per_product["kubernetes"], 8);
    assert_eq!(per_product["objectstorage"], 23);
    assert_eq!(per_product["dns"], 14);
    assert_eq!(per_product["billing"], 15);
    assert_eq!(per_product["certmanager"], 6);
    assert_eq!(per_product["activitylog"], 2);
    assert!(per_product["compute"] >= 50);
}

#[test]
fn the_reference_table_is_read_as_intended() {
    let rows = official_tools(
        "| dns | `get_dns_zone` | `ZonesFindById` | `zone_id`* — returns (`x`) |\n\
         | billing | `a` | GET | `contract`*, `group_by` (''/'meter'), `top_n` int. Filtering `no` |\n\
         | billing | `b` | GET | same + `period`* |\n\
         | billing | `c` | GET | same + `date`* |\n\
         | compute | `list_images` | GET | — (filterable). There is **no `get_image`**. |",
    );
    assert_eq!(
        rows,
        vec![
            (
                "dns".into(),
                "get_dns_zone".into(),
                vec!["zone_id".to_string()]
            ),
            (
                "billing".into(),
                "a".into(),
                vec!["contract".to_string(), "group_by".into(), "top_n".into()]
            ),
            (
                "billing".into(),
                "b".into(),
                vec![
                    "contract".to_string(),
                    "group_by".into(),
                    "top_n".into(),
                    "period".into()
                ]
            ),
            (
                "billing".into(),
                "c".into(),
                vec![
                    "contract".to_string(),
                    "group_by".into(),
                    "top_n".into(),
                    "date".into()
                ]
            ),
            ("compute".into(), "list_images".into(), vec![]),
        ]
    );
}
