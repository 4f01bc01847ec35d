//! Property tests: arbitrary and adversarial arguments for every tool never panic, and either
//! produce a request whose path is the tool's template with each segment encoded, or a clear
//! validation error. Arbitrary YAML never panics the generator.

use ionos_mcp::errors::ToolError;
use ionos_mcp::tools::dispatch::Dispatcher;
use ionos_mcp::tools::table::TOOLS;
use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Map, Value, json};

use crate::support::config_for;

/// Strings a model (or an attacker) might send as ids.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9-]{1,40}",
        Just("..".to_string()),
        Just(".".to_string()),
        Just(String::new()),
        Just("../../um/users".to_string()),
        Just("a/b?c=d#e".to_string()),
        Just("%2F%2e%2E".to_string()),
        Just("x\u{0}y\r\nz".to_string()),
        "\\PC{0,30}",
        "[./%?#\\\\ ]{1,12}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        nasty_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Arguments: mostly the tool's own names (so calls get through validation), some strangers.
fn arguments(names: Vec<String>) -> impl Strategy<Value = Map<String, Value>> {
    let key = if names.is_empty() {
        "[a-z_]{1,10}".boxed()
    } else {
        prop_oneof![4 => prop::sample::select(names), 1 => "[a-z_]{1,10}"].boxed()
    };
    prop::collection::btree_map(
        key,
        prop_oneof![3 => nasty_string().prop_map(Value::from), 1 => value()],
        0..6,
    )
    .prop_map(|m| m.into_iter().collect())
}

/// The request path matches the template: same literal segments, and each placeholder is
/// one segment that decodes to a non-empty value other than `.` and `..`.
fn path_fits(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| {
            if t.starts_with('{') {
                let decoded = percent_decode_str(p).decode_utf8_lossy();
                !p.is_empty() && decoded != "." && decoded != ".." && !p.contains(['?', '#'])
            } else {
                t == p
            }
        })
}

/// A runner whose values follow from `seed`, for drawing several cases inside one.
fn seeded_runner(seed: u64) -> proptest::test_runner::TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    proptest::test_runner::TestRunner::new_with_rng(
        ProptestConfig::default(),
        proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &bytes,
        ),
    )
}

fn dispatcher() -> Dispatcher {
    Dispatcher::new(config_for("http://127.0.0.1:9"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_tool_builds_a_fitting_request_or_says_why(
        index in 0..TOOLS.len(),
        seed in any::<u64>(),
    ) {
        let tool = &TOOLS[index];
        let names: Vec<String> = tool
            .input_schema_object()
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let mut runner = seeded_runner(seed);
        let d = dispatcher();
        for _ in 0..8 {
            let args = arguments(names.clone())
                .new_tree(&mut runner)
                .expect("strategy")
                .current();
            match d.prepare(tool, Some(args.clone())) {
                Ok((req, _)) => {
                    prop_assert!(
                        path_fits(tool.path, &req.path),
                        "{}: {:?} built path {} for template {}",
                        tool.name, args, req.path, tool.path
                    );
                    prop_assert_eq!(req.method, tool.method);
                }
                Err(ToolError::InvalidArguments { problems, expected, .. }) => {
                    prop_assert!(!problems.is_empty() && !expected.is_empty());
                }
                Err(other) => prop_assert!(false, "{}: unexpected error {other}", tool.name),
            }
        }
    }

    #[test]
    fn arbitrary_manifests_never_panic_the_generator(text in "\\PC{0,400}") {
        let _ = ionos_mcp_codegen::manifest::parse(&text);
        let _ = ionos_mcp_codegen::Spec::parse("spec.yaml", text.as_bytes());
    }

    #[test]
    fn mangled_real_manifests_never_panic_the_generator(cut in 0usize..4000, junk in "\\PC{0,20}") {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("tool-manifest.yaml")).expect("manifest");
        let cut = cut.min(text.len());
        let cut = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let mangled = format!("{}{}{}", &text[..cut], junk, &text[cut..]);
        if let Ok(manifest) = ionos_mcp_codegen::manifest::parse(&mangled)
            && let Ok((_, specs, _)) = ionos_mcp_codegen::load(root, "tool-manifest.yaml")
        {
            let _ = ionos_mcp_codegen::tool_table(&manifest, &specs);
        }
    }
}

#[test]
fn the_path_check_itself_rejects_escapes() {
    assert!(path_fits("/a/{x}/b", "/a/abc/b"));
    assert!(!path_fits("/a/{x}/b", "/a/../b"));
    assert!(!path_fits("/a/{x}/b", "/a/x/y/b"));
    assert!(!path_fits("/a/{x}/b", "/a/%2E%2E/b"));
    assert!(!path_fits("/a/{x}/b", "/a//b"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever an S3 endpoint sends, reading it as XML never panics: it is JSON or an error,
    /// and a declared list is a JSON array whenever it is present.
    #[test]
    fn any_xml_answer_is_json_or_an_error(
        index in 0..TOOLS.len(),
        elements in proptest::collection::vec(
            ("(Contents|Key|Size|IsTruncated|CommonPrefixes|Prefix|Buckets|Bucket|Name|TagSet|Tag|X)",
             "[a-z0-9 &<>]{0,8}",
             0usize..3),
            0..12),
        garbage in ".{0,40}",
    ) {
        let xml_tools: Vec<_> = TOOLS.iter().filter(|t| t.xml_schema.is_some()).collect();
        let tool = xml_tools[index % xml_tools.len()];
        let schema: Value = serde_json::from_str(tool.xml_schema.unwrap_or("{}")).expect("schema");
        // A random, well-formed nesting of known and unknown elements.
        let mut doc = String::from("<Root>");
        let mut open: Vec<String> = Vec::new();
        for (name, text, action) in &elements {
            match action {
                0 => {
                    doc.push_str(&format!("<{name}>"));
                    open.push(name.clone());
                }
                1 => {
                    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
                    doc.push_str(&format!("<{name}>{escaped}</{name}>"));
                }
                _ => {
                    if let Some(n) = open.pop() {
                        doc.push_str(&format!("</{n}>"));
                    }
                }
            }
        }
        while let Some(n) = open.pop() {
            doc.push_str(&format!("</{n}>"));
        }
        doc.push_str("</Root>");
        let v = ionos_mcp::upstream::s3::xml::to_json(&doc, &schema).expect("well-formed XML converts");
        prop_assert!(v.is_object());
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, sub) in props {
                if sub.get("type") == Some(&Value::String("array".into()))
                    && let Some(present) = v.get(name)
                {
                    prop_assert!(present.is_array(), "{}: {} is {present}", tool.name, name);
                }
            }
        }
        // Not XML at all: an error, never a panic.
        let _ = ionos_mcp::upstream::s3::xml::to_json(&garbage, &schema);
        let _ = ionos_mcp::upstream::s3::xml::s3_error(garbage.as_bytes());
    }
}

/// Values near every limit the tools' schemas set: bounds, enum members, dates, lengths.
fn telling_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-2i64..12).prop_map(Value::from),
        (9_998i64..10_002).prop_map(Value::from),
        prop::sample::select(vec![0.0, 1.0, 1.5, 2.0, -0.5, 1e300]).prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "A",
            "MX",
            "TXT",
            "AVAILABLE",
            "FAILED",
            "SERVER",
            "meter",
            "2026-11",
            "2026-13",
            "2026-11-30",
            "2026-02-31",
            "2026-1-01",
            "x2026-11",
            "2026-11\n",
        ])
        .prop_map(Value::from),
        (1020usize..1030).prop_map(|n| Value::from("é".repeat(n))),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!({"name": "web"})),
        Just(json!({"name": 1})),
        Just(json!(["a", 2])),
        value(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The server's own schema check agrees with an independent JSON Schema validator on
    /// every tool's arguments: valid where it says valid, refused where it refuses.
    #[test]
    fn argument_checks_agree_with_a_reference_validator(index in 0..TOOLS.len(), seed in any::<u64>()) {
        let tool = &TOOLS[index];
        let schema_map = tool.validation_schema_object();
        let ours = ionos_mcp::tools::schema::Schema::compile(&schema_map).expect("compiles");
        let reference = jsonschema::validator_for(&Value::Object((*schema_map).clone()))
            .expect("the reference compiles it");
        let names: Vec<String> = schema_map
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let key = if names.is_empty() {
            "[a-z_]{1,10}".boxed()
        } else {
            prop_oneof![6 => prop::sample::select(names), 1 => "[a-z_]{1,10}"].boxed()
        };
        let strategy = prop::collection::btree_map(key, telling_value(), 0..5);
        let mut runner = seeded_runner(seed);
        for _ in 0..16 {
            let args = Value::Object(strategy.new_tree(&mut runner).expect("strategy").current().into_iter().collect());
            let problems = ours.problems(&args, 5);
            prop_assert_eq!(
                problems.is_empty(),
                reference.is_valid(&args),
                "{}: {} -> ours {:?}",
                tool.name, args, problems
            );
        }
    }
}
