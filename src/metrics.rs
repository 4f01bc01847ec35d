//! What the HTTP server counts, for `/metrics` in the Prometheus text format: requests by
//! status, tool calls by tool and outcome, request and tool latencies, IONOS latency and
//! errors by product, rate-limit refusals and key database errors.
//!
//! One process-wide set of atomic counters: recording costs a few relaxed atomic additions and
//! never takes a lock. Every label takes values from a fixed set (tool names from the tool
//! table, products, outcomes), so nothing a client sends can grow the output; unknown tool
//! names count as `other`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::tools::table::{DOCUMENTS, PRODUCTS, TOOLS};

/// The process's counters.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram: cumulative buckets are computed when rendering.
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// Paths whose requests are counted apart.
const PATHS: [&str; 4] = ["/mcp", "/healthz", "/metrics", "other"];
/// Status codes 100..=599, one counter each.
const STATUSES: usize = 500;

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolOutcome {
    Ok,
    /// The tool ran and reported an error (IONOS refused, a resource was missing).
    ToolError,
    /// A protocol error: unknown tool, bad arguments the MCP layer refused.
    Error,
}

const OUTCOMES: [&str; 3] = ["ok", "tool_error", "error"];

/// What a rate limit refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Tool calls over the key's rate.
    Calls,
    /// Housekeeping requests over their ceiling.
    Housekeeping,
    /// An address with too many failed authentications.
    FailedAuth,
}

const REFUSALS: [&str; 3] = ["calls", "housekeeping", "failed_auth"];

/// The meta-tools of the dynamic load mode, counted by name like the generated tools (the MCP
/// layer checks at compile time that these are its names).
pub const META_TOOLS: [&str; 3] = [
    "ionos_search_tools",
    "ionos_describe_tools",
    "ionos_call_tool",
];

/// Kinds of IONOS failure, as `upstream` names them.
pub const UPSTREAM_ERRORS: [&str; 11] = [
    "unauthorized",
    "forbidden",
    "not_found",
    "rate_limited",
    "server_error",
    "rejected",
    "timeout",
    "unreachable",
    "bad_response",
    "request_failed",
    "local",
];

pub struct Metrics {
    requests: Vec<[AtomicU64; STATUSES]>,
    request_latency: Histogram,
    tool_names: Vec<&'static str>,
    tool_index: HashMap<&'static str, usize>,
    tool_calls: Vec<[AtomicU64; OUTCOMES.len()]>,
    tool_latency: Histogram,
    products: HashMap<&'static str, usize>,
    upstream_latency: Vec<Histogram>,
    upstream_errors: Vec<[AtomicU64; UPSTREAM_ERRORS.len()]>,
    refusals: [AtomicU64; REFUSALS.len()],
    db_errors: AtomicU64,
    usage_dropped: AtomicU64,
    usage_pending: AtomicU64,
}

fn zeros<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

impl Metrics {
    fn new() -> Metrics {
        let mut tool_names: Vec<&'static str> = TOOLS.iter().map(|t| t.name).collect();
        tool_names.extend(DOCUMENTS.iter().map(|d| d.name));
        tool_names.extend(META_TOOLS);
        tool_names.sort_unstable();
        tool_names.dedup();
        tool_names.push("other");
        let tool_index = tool_names
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, i))
            .collect();
        let products = PRODUCTS
            .iter()
            .enumerate()
            .map(|(i, p)| (p.key, i))
            .collect();
        Metrics {
            requests: (0..PATHS.len()).map(|_| zeros()).collect(),
            request_latency: Histogram::new(),
            tool_calls: (0..tool_names.len()).map(|_| zeros()).collect(),
            tool_names,
            tool_index,
            tool_latency: Histogram::new(),
            products,
            upstream_latency: (0..PRODUCTS.len()).map(|_| Histogram::new()).collect(),
            upstream_errors: (0..PRODUCTS.len()).map(|_| zeros()).collect(),
            refusals: zeros(),
            db_errors: AtomicU64::new(0),
            usage_dropped: AtomicU64::new(0),
            usage_pending: AtomicU64::new(0),
        }
    }

    /// An HTTP request answered with `status` after `elapsed` (the whole answer sent).
    pub fn request(&self, path: &str, status: u16, elapsed: Duration) {
        let p = PATHS
            .iter()
            .position(|&k| k == path)
            .unwrap_or(PATHS.len() - 1);
        if let Some(counter) = usize::from(status)
            .checked_sub(100)
            .and_then(|i| self.requests[p].get(i))
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if p == 0 {
            self.request_latency.observe(elapsed);
        }
    }

    /// A `tools/call` of `tool` that ended with `outcome` after `elapsed`.
    pub fn tool_call(&self, tool: &str, outcome: ToolOutcome, elapsed: Duration) {
        let i = self
            .tool_index
            .get(tool)
            .copied()
            .unwrap_or(self.tool_names.len() - 1);
        let o = outcome as usize;
        self.tool_calls[i][o].fetch_add(1, Ordering::Relaxed);
        self.tool_latency.observe(elapsed);
    }

    /// One request to IONOS for `product`, with its error kind (one of [`UPSTREAM_ERRORS`])
    /// when it failed.
    pub fn upstream(&self, product: &str, elapsed: Duration, error: Option<&str>) {
        let Some(&p) = self.products.get(product) else {
            return;
        };
        self.upstream_latency[p].observe(elapsed);
        if let Some(kind) = error {
            let k = UPSTREAM_ERRORS
                .iter()
                .position(|&e| e == kind)
                .unwrap_or(UPSTREAM_ERRORS.len() - 1);
            self.upstream_errors[p][k].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn refused(&self, refusal: Refusal) {
        self.refusals[refusal as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The key database failed (could not be reached, or an operation failed).
    pub fn db_error(&self) {
        self.db_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Usage events given up (beyond the memory bound while the database was away).
    pub fn usage_dropped(&self, n: u64) {
        self.usage_dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Usage events held in memory, waiting to be written.
    pub fn set_usage_pending(&self, n: usize) {
        self.usage_pending.store(n as u64, Ordering::Relaxed);
    }

    /// The key database errors counted so far.
    pub fn db_errors(&self) -> u64 {
        self.db_errors.load(Ordering::Relaxed)
    }

    /// Everything, in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
        };

        head(
            &mut out,
            "ionos_mcp_http_requests_total",
            "counter",
            "HTTP requests answered, by path and status.",
        );
        for (p, path) in PATHS.iter().enumerate() {
            for (i, counter) in self.requests[p].iter().enumerate() {
                let n = counter.load(Ordering::Relaxed);
                if n > 0 {
                    let status = i + 100;
                    let _ = writeln!(
                        out,
                        "ionos_mcp_http_requests_total{{path=\"{path}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
        head(
            &mut out,
            "ionos_mcp_http_request_duration_seconds",
            "histogram",
            "Time from a request on /mcp to the end of its answer.",
        );
        self.request_latency
            .render(&mut out, "ionos_mcp_http_request_duration_seconds", "");

        head(
            &mut out,
            "ionos_mcp_tool_calls_total",
            "counter",
            "Tool calls by tool and outcome (ok, tool_error, error).",
        );
        for (i, name) in self.tool_names.iter().enumerate() {
            for (o, outcome) in OUTCOMES.iter().enumerate() {
                let n = self.tool_calls[i][o].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "ionos_mcp_tool_calls_total{{tool=\"{name}\",outcome=\"{outcome}\"}} {n}"
                    );
                }
            }
        }
        head(
            &mut out,
            "ionos_mcp_tool_call_duration_seconds",
            "histogram",
            "Time a tool call took, all tools.",
        );
        self.tool_latency
            .render(&mut out, "ionos_mcp_tool_call_duration_seconds", "");

        head(
            &mut out,
            "ionos_mcp_upstream_request_duration_seconds",
            "histogram",
            "Time IONOS took to answer a tool's request (retries included), by product.",
        );
        for (p, product) in PRODUCTS.iter().enumerate() {
            let histogram = &self.upstream_latency[p];
            if histogram
                .counts
                .iter()
                .any(|c| c.load(Ordering::Relaxed) > 0)
            {
                histogram.render(
                    &mut out,
                    "ionos_mcp_upstream_request_duration_seconds",
                    &format!("product=\"{}\"", product.key),
                );
            }
        }
        head(
            &mut out,
            "ionos_mcp_upstream_errors_total",
            "counter",
            "Tool requests to IONOS that failed, by product and kind.",
        );
        for (p, product) in PRODUCTS.iter().enumerate() {
            for (k, kind) in UPSTREAM_ERRORS.iter().enumerate() {
                let n = self.upstream_errors[p][k].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "ionos_mcp_upstream_errors_total{{product=\"{}\",kind=\"{kind}\"}} {n}",
                        product.key
                    );
                }
            }
        }

        head(
            &mut out,
            "ionos_mcp_rate_limited_total",
            "counter",
            "Requests refused with 429: tool calls over a key's rate, housekeeping over its ceiling, addresses with too many failed authentications.",
        );
        for (i, limit) in REFUSALS.iter().enumerate() {
            let n = self.refusals[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "ionos_mcp_rate_limited_total{{limit=\"{limit}\"}} {n}");
        }

        head(
            &mut out,
            "ionos_mcp_db_errors_total",
            "counter",
            "Key database operations that failed (unreachable, timed out, refused).",
        );
        let _ = writeln!(out, "ionos_mcp_db_errors_total {}", self.db_errors());
        head(
            &mut out,
            "ionos_mcp_usage_dropped_total",
            "counter",
            "Usage records given up because the database was away longer than memory holds.",
        );
        let _ = writeln!(
            out,
            "ionos_mcp_usage_dropped_total {}",
            self.usage_dropped.load(Ordering::Relaxed)
        );
        head(
            &mut out,
            "ionos_mcp_usage_pending",
            "gauge",
            "Usage records held in memory, not yet written to the database.",
        );
        let _ = writeln!(
            out,
            "ionos_mcp_usage_pending {}",
            self.usage_pending.load(Ordering::Relaxed)
        );
        out
    }
}

/// The media type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line `series` (name and labels exactly as rendered).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counters_histograms_and_labels_render_as_prometheus_text() {
        let m = Metrics::new();
        m.request("/mcp", 200, Duration::from_millis(3));
        m.request("/mcp", 200, Duration::from_millis(30));
        m.request("/mcp", 429, Duration::from_millis(1));
        m.request("/nowhere", 404, Duration::from_millis(1));
        m.request("/mcp", 999, Duration::from_millis(1));
        let tool = TOOLS[0].name;
        m.tool_call(tool, ToolOutcome::Ok, Duration::from_millis(20));
        m.tool_call(tool, ToolOutcome::ToolError, Duration::from_millis(20));
        m.tool_call("no_such_tool", ToolOutcome::Error, Duration::from_secs(20));
        let product = PRODUCTS[0].key;
        m.upstream(product, Duration::from_millis(7), None);
        m.upstream(product, Duration::from_millis(7), Some("server_error"));
        m.upstream("no-such-product", Duration::from_millis(7), Some("timeout"));
        m.refused(Refusal::Calls);
        m.refused(Refusal::Calls);
        m.refused(Refusal::FailedAuth);
        m.db_error();
        m.usage_dropped(3);
        m.set_usage_pending(7);
        let text = m.render();

        let get =
            |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}\n{text}"));
        assert_eq!(
            get("ionos_mcp_http_requests_total{path=\"/mcp\",status=\"200\"}"),
            2.0
        );
        assert_eq!(
            get("ionos_mcp_http_requests_total{path=\"/mcp\",status=\"429\"}"),
            1.0
        );
        assert_eq!(
            get("ionos_mcp_http_requests_total{path=\"other\",status=\"404\"}"),
            1.0
        );
        assert!(!text.contains("status=\"999\""));
        // Four /mcp requests were timed (the one with an impossible status too).
        assert_eq!(
            get("ionos_mcp_http_request_duration_seconds_bucket{le=\"0.001\"}"),
            2.0
        );
        assert_eq!(
            get("ionos_mcp_http_request_duration_seconds_bucket{le=\"0.005\"}"),
            3.0
        );
        assert_eq!(
            get("ionos_mcp_http_request_duration_seconds_bucket{le=\"+Inf\"}"),
            4.0
        );
        assert_eq!(get("ionos_mcp_http_request_duration_seconds_count"), 4.0);
        assert!((get("ionos_mcp_http_request_duration_seconds_sum") - 0.035).abs() < 1e-9);

        assert_eq!(
            get(&format!(
                "ionos_mcp_tool_calls_total{{tool=\"{tool}\",outcome=\"ok\"}}"
            )),
            1.0
        );
        assert_eq!(
            get(&format!(
                "ionos_mcp_tool_calls_total{{tool=\"{tool}\",outcome=\"tool_error\"}}"
            )),
            1.0
        );
        assert_eq!(
            get("ionos_mcp_tool_calls_total{tool=\"other\",outcome=\"error\"}"),
            1.0
        );
        assert!(!text.contains("no_such_tool"));
        assert_eq!(
            get("ionos_mcp_tool_call_duration_seconds_bucket{le=\"10\"}"),
            2.0
        );
        assert_eq!(get("ionos_mcp_tool_call_duration_seconds_count"), 3.0);

        assert_eq!(
            get(&format!(
                "ionos_mcp_upstream_request_duration_seconds_count{{product=\"{product}\"}}"
            )),
            2.0
        );
        assert_eq!(
            get(&format!(
                "ionos_mcp_upstream_errors_total{{product=\"{product}\",kind=\"server_error\"}}"
            )),
            1.0
        );
        assert!(!text.contains("no-such-product"));
        assert_eq!(get("ionos_mcp_rate_limited_total{limit=\"calls\"}"), 2.0);
        assert_eq!(
            get("ionos_mcp_rate_limited_total{limit=\"housekeeping\"}"),
            0.0
        );
        assert_eq!(
            get("ionos_mcp_rate_limited_total{limit=\"failed_auth\"}"),
            1.0
        );
        assert_eq!(get("ionos_mcp_db_errors_total"), 1.0);
        assert_eq!(get("ionos_mcp_usage_dropped_total"), 3.0);
        assert_eq!(get("ionos_mcp_usage_pending"), 7.0);

        // Every family has HELP and TYPE, and every sample line belongs to one.
        let mut families = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                families.push(rest.split(' ').next().unwrap_or("").to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or("");
                assert!(
                    families.iter().any(|f| name == f
                        || name
                            .strip_prefix(f.as_str())
                            .is_some_and(|s| { ["_bucket", "_sum", "_count"].contains(&s) })),
                    "{line}"
                );
            }
        }
        assert_eq!(
            text.matches("# HELP ").count(),
            text.matches("# TYPE ").count()
        );
    }
}
