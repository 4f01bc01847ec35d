//! Every tool, called in process against the simulator: the request it sends (method, path,
//! query, bearer token) and what comes back. A second test holds every recorded request
//! against the public API facts in `../shared/ionos-api/facts/compute.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ionos_mcp::simulator::{DEMO_TOKEN, RecordedRequest};
use ionos_mcp::tools::table::{Access, TOOLS};
use serde_json::{Value, json};

use crate::support::{Harness, is_error, items_of, text};

const PROD: &str = "b5634021-a867-4b94-a0ff-eafb37fd3e19";
const STAGING: &str = "a4a88589-68a0-440e-bdfb-1d539ea57e95";
const WEB01: &str = "f08daf45-aff9-46b7-8327-9da5be749620";
const WEB01_NIC: &str = "60ed6e63-53ec-4817-8ec0-f65b8b19653a";
const WEB01_FW_HTTPS: &str = "69cae476-63c4-4395-845b-3437c0d3e0c9";
const GPU_SERVER: &str = "b81d0459-2475-4693-993b-809b01671c5b";
const GPU: &str = "b78c3f03-b240-467d-9264-45823d9f167c";
const LEGACY: &str = "e77d8d89-4119-4c22-91e9-72ebdea412fd";
const VOLUME: &str = "4a2a3640-81c6-4098-b166-b23601580214";
const SNAPSHOT: &str = "dda7fdbc-0955-4289-a44b-a4784c96d870";
const IMAGE: &str = "cc37c46d-17a2-49b4-a405-9ba55f39120b";
const IPBLOCK: &str = "900e6247-c821-4d03-a5a8-7feac00ecfbf";
const PCC: &str = "60efba1a-5343-4651-a24a-8471a0aa77ce";
const NAT: &str = "5a09bb97-1910-4b73-b645-326f90e4320a";
const NAT_RULE: &str = "589ab668-783d-4fe8-ad38-c25c694df4db";
const SG: &str = "9cbfd358-db76-4f09-bc2c-e1b5add2ef37";
const SG_RULE: &str = "3f28492c-d4e9-4964-8ef7-e8581d39640a";
const CLB: &str = "8c6981d8-1fd9-43d8-a939-e245d8ea3a94";
const NLB: &str = "0061c11c-036b-437c-adb5-78668d3a2b1f";
const NLB_RULE: &str = "5838a372-5e28-4dfb-b05b-136aaaf7b8b3";
const ALB: &str = "8e670b17-999c-40d3-a496-1a266bf0c533";
const ALB_RULE: &str = "0ed14c73-968e-4844-9d2e-49b1537ffbfa";
const TARGET_GROUP: &str = "5f2cf3f6-624d-40ff-8fac-7d1e07f91409";
const REQUEST: &str = "02b43646-c168-4d3d-be5f-3f82509b27d4";
const TEMPLATE: &str = "23d00f63-e921-4b15-b816-85102d082f3f";
const CLUSTER: &str = "fedb619e-a826-41f4-8cc7-3c658b1ec890";
const NODEPOOL: &str = "73ea32d4-5d30-4175-a475-9b6371a43f10";
const NODE: &str = "c595ec71-c40f-459b-8a2e-09a4475e6133";
const ZONE: &str = "e74d0d15-f567-4b7d-9d3a-26b3a0e1f7a2";
const RECORD: &str = "a1f3c2d4-1b2e-4c5d-8e9f-0a1b2c3d4e02";
const SECONDARY: &str = "5d7f9b1c-2e4a-4c6e-8a0c-2e4a6c8e0a13";
const REVERSE: &str = "7e9a1c3e-5f7b-4d9f-b1d3-5f7b9d1f3b57";
const CERT: &str = "b8c1f0d2-4e6a-4c8e-9f1b-3d5f7a9c1e20";
const AUTO_CERT: &str = "2d4f6a8c-0e2b-4d6f-8a0c-2e4b6d8f0a21";
const PROVIDER: &str = "7f9b1d3f-5c7e-4a9b-b3d5-7f9b1d3f5c72";
const ACCESS_KEY: &str = "3c5e7a9c-1e3b-4d5f-a7c9-1e3b5d7f9a33";
const CONTRACT: i64 = 31_000_000;
const AUTH_TOKEN: &str = "6b1d9e2a-7c3f-4a8b-b5d1-2e9f0c4a7b63";

/// What a result must contain.
enum Check {
    /// The value at a JSON pointer equals this.
    Eq(&'static str, Value),
    /// A list of exactly this many items at `/items`.
    Items(usize),
    /// A list with at least this many items at `/items`, each with an `id`.
    AtLeast(usize),
    /// The string at a JSON pointer contains this.
    Contains(&'static str, &'static str),
    /// Nothing at this JSON pointer (a redacted secret).
    Absent(&'static str),
}

fn today() -> String {
    ionos_mcp::tools::behaviour::Day::today().to_string()
}

fn week_ago() -> String {
    ionos_mcp::tools::behaviour::Day(ionos_mcp::tools::behaviour::Day::today().0 - 7).to_string()
}

/// `YYYY-MM` of the month before this one.
fn last_month() -> String {
    let today = ionos_mcp::tools::behaviour::Day::today().to_string();
    let first =
        ionos_mcp::tools::behaviour::Day::parse(&format!("{}-01", &today[..7])).expect("date");
    ionos_mcp::tools::behaviour::Day(first.0 - 1).to_string()[..7].to_string()
}

fn invoice_id() -> String {
    format!("{}0042", last_month().replace('-', ""))
}

pub(crate) struct Case {
    pub(crate) tool: &'static str,
    pub(crate) args: Value,
    /// Path below the product's base path (`/cloudapi/v6`, `/auth/v1`, ...).
    path: String,
    /// Every query pair sent, in any order.
    query: &'static [(&'static str, &'static str)],
    checks: Vec<Check>,
}

fn case(
    tool: &'static str,
    args: Value,
    path: String,
    query: &'static [(&'static str, &'static str)],
    checks: Vec<Check>,
) -> Case {
    Case {
        tool,
        args,
        path,
        query,
        checks,
    }
}

use Check::{Absent, AtLeast, Contains, Eq, Items};

const LIST: &[(&str, &str)] = &[("pretty", "false"), ("depth", "1")];
const GET: &[(&str, &str)] = &[("pretty", "false")];
const NO_QUERY: &[(&str, &str)] = &[];

fn name(n: &str) -> Check {
    Eq("/properties/name", json!(n))
}

/// One call per read tool (the S3 tools are in s3.rs), with arguments the simulator answers.
pub(crate) fn cases() -> Vec<Case> {
    let dc = format!("/datacenters/{PROD}");
    let web = format!("{dc}/servers/{WEB01}");
    let nic = format!("{web}/nics/{WEB01_NIC}");
    let stg = format!("/datacenters/{STAGING}");
    vec![
        // data centers
        case(
            "list_datacenters",
            json!({"limit": 2, "offset": 1, "filters": {"location": "de/txl"}}),
            "/datacenters".into(),
            &[
                ("pretty", "false"),
                ("depth", "1"),
                ("offset", "1"),
                ("limit", "2"),
                ("filter.location", "de/txl"),
            ],
            vec![Items(0)],
        ),
        case(
            "get_datacenter",
            json!({"datacenter_id": PROD, "depth": 0}),
            dc.clone(),
            &[("pretty", "false"), ("depth", "0")],
            vec![
                name("production"),
                Eq("/properties/location", json!("de/fra")),
            ],
        ),
        // servers
        case(
            "list_servers",
            json!({"datacenter_id": PROD, "filters": {"name": "web-01"}}),
            format!("{dc}/servers"),
            &[
                ("pretty", "false"),
                ("depth", "1"),
                ("filter.name", "web-01"),
            ],
            vec![Items(1), Eq("/items/0/id", json!(WEB01))],
        ),
        case(
            "get_server",
            json!({"datacenter_id": PROD, "server_id": WEB01}),
            web.clone(),
            GET,
            vec![name("web-01"), Eq("/properties/vmState", json!("RUNNING"))],
        ),
        case(
            "list_server_volumes",
            json!({"datacenter_id": PROD, "server_id": WEB01}),
            format!("{web}/volumes"),
            LIST,
            vec![AtLeast(1)],
        ),
        case(
            "list_server_cdroms",
            json!({"datacenter_id": STAGING, "server_id": LEGACY}),
            format!("{stg}/servers/{LEGACY}/cdroms"),
            LIST,
            vec![AtLeast(1)],
        ),
        case(
            "list_server_gpus",
            json!({"datacenter_id": PROD, "server_id": GPU_SERVER, "limit": 5}),
            format!("{dc}/servers/{GPU_SERVER}/gpus"),
            LIST,
            vec![Items(1), Eq("/items/0/id", json!(GPU))],
        ),
        case(
            "get_server_gpu",
            json!({"datacenter_id": PROD, "server_id": GPU_SERVER, "gpu_id": GPU}),
            format!("{dc}/servers/{GPU_SERVER}/gpus/{GPU}"),
            GET,
            vec![Eq("/id", json!(GPU))],
        ),
        case(
            "get_server_remote_console",
            json!({"datacenter_id": PROD, "server_id": WEB01}),
            format!("{web}/remoteconsole"),
            GET,
            vec![],
        ),
        case(
            "list_nics",
            json!({"datacenter_id": PROD, "server_id": WEB01}),
            format!("{web}/nics"),
            LIST,
            vec![Items(2)],
        ),
        case(
            "get_nic",
            json!({"datacenter_id": PROD, "server_id": WEB01, "nic_id": WEB01_NIC}),
            nic.clone(),
            GET,
            vec![name("public")],
        ),
        case(
            "list_firewall_rules",
            json!({"datacenter_id": PROD, "server_id": WEB01, "nic_id": WEB01_NIC, "limit": 2}),
            format!("{nic}/firewallrules"),
            &[("pretty", "false"), ("depth", "1"), ("limit", "2")],
            vec![Items(2)],
        ),
        case(
            "get_firewall_rule",
            json!({"datacenter_id": PROD, "server_id": WEB01, "nic_id": WEB01_NIC, "firewallrule_id": WEB01_FW_HTTPS}),
            format!("{nic}/firewallrules/{WEB01_FW_HTTPS}"),
            GET,
            vec![name("allow-https")],
        ),
        // storage and images
        case(
            "list_volumes",
            json!({"datacenter_id": PROD}),
            format!("{dc}/volumes"),
            LIST,
            vec![Items(6)],
        ),
        case(
            "get_volume",
            json!({"datacenter_id": PROD, "volume_id": VOLUME}),
            format!("{dc}/volumes/{VOLUME}"),
            GET,
            vec![name("web-01-boot")],
        ),
        case(
            "list_snapshots",
            json!({"limit": 1}),
            "/snapshots".into(),
            LIST,
            vec![Items(1)],
        ),
        case(
            "get_snapshot",
            json!({"snapshot_id": SNAPSHOT}),
            format!("/snapshots/{SNAPSHOT}"),
            GET,
            vec![name("db-01-boot-before-pg16")],
        ),
        case(
            "list_images",
            json!({"filters": {"imageType": "CDROM"}}),
            "/images".into(),
            &[
                ("pretty", "false"),
                ("depth", "1"),
                ("filter.imageType", "CDROM"),
            ],
            vec![AtLeast(1)],
        ),
        case(
            "get_image",
            json!({"image_id": IMAGE}),
            format!("/images/{IMAGE}"),
            GET,
            vec![Eq("/id", json!(IMAGE))],
        ),
        // networking
        case(
            "list_lans",
            json!({"datacenter_id": PROD}),
            format!("{dc}/lans"),
            LIST,
            vec![Items(3)],
        ),
        case(
            "get_lan",
            json!({"datacenter_id": PROD, "lan_id": "1"}),
            format!("{dc}/lans/1"),
            GET,
            vec![name("public")],
        ),
        case(
            "list_lan_nics",
            json!({"datacenter_id": PROD, "lan_id": "1"}),
            format!("{dc}/lans/1/nics"),
            LIST,
            vec![AtLeast(1)],
        ),
        case(
            "list_ip_blocks",
            json!({"offset": 4}),
            "/ipblocks".into(),
            &[("pretty", "false"), ("depth", "1"), ("offset", "4")],
            vec![Items(1)],
        ),
        case(
            "get_ip_block",
            json!({"ipblock_id": IPBLOCK}),
            format!("/ipblocks/{IPBLOCK}"),
            GET,
            vec![name("production-web")],
        ),
        case(
            "list_private_cross_connects",
            json!({}),
            "/pccs".into(),
            LIST,
            vec![Items(1)],
        ),
        case(
            "get_private_cross_connect",
            json!({"pcc_id": PCC}),
            format!("/pccs/{PCC}"),
            GET,
            vec![name("production-staging")],
        ),
        case(
            "list_nat_gateways",
            json!({"datacenter_id": STAGING}),
            format!("{stg}/natgateways"),
            LIST,
            vec![Items(1)],
        ),
        case(
            "get_nat_gateway",
            json!({"datacenter_id": STAGING, "nat_gateway_id": NAT}),
            format!("{stg}/natgateways/{NAT}"),
            GET,
            vec![name("nat-staging")],
        ),
        case(
            "list_nat_gateway_rules",
            json!({"datacenter_id": STAGING, "nat_gateway_id": NAT}),
            format!("{stg}/natgateways/{NAT}/rules"),
            LIST,
            vec![Items(2)],
        ),
        case(
            "get_nat_gateway_rule",
            json!({"datacenter_id": STAGING, "nat_gateway_id": NAT, "nat_gateway_rule_id": NAT_RULE}),
            format!("{stg}/natgateways/{NAT}/rules/{NAT_RULE}"),
            GET,
            vec![name("dns-udp")],
        ),
        case(
            "list_security_groups",
            json!({"datacenter_id": PROD}),
            format!("{dc}/securitygroups"),
            LIST,
            vec![Items(2)],
        ),
        case(
            "get_security_group",
            json!({"datacenter_id": PROD, "security_group_id": SG}),
            format!("{dc}/securitygroups/{SG}"),
            GET,
            vec![name("web")],
        ),
        case(
            "list_security_group_rules",
            json!({"datacenter_id": PROD, "security_group_id": SG}),
            format!("{dc}/securitygroups/{SG}/rules"),
            LIST,
            vec![Items(3)],
        ),
        case(
            "get_security_group_rule",
            json!({"datacenter_id": PROD, "security_group_id": SG, "rule_id": SG_RULE}),
            format!("{dc}/securitygroups/{SG}/rules/{SG_RULE}"),
            GET,
            vec![name("https")],
        ),
        // load balancing
        case(
            "list_loadbalancers",
            json!({"datacenter_id": PROD}),
            format!("{dc}/loadbalancers"),
            LIST,
            vec![Items(1)],
        ),
        case(
            "get_loadbalancer",
            json!({"datacenter_id": PROD, "loadbalancer_id": CLB}),
            format!("{dc}/loadbalancers/{CLB}"),
            GET,
            vec![name("legacy-lb")],
        ),
        case(
            "list_loadbalancer_nics",
            json!({"datacenter_id": PROD, "loadbalancer_id": CLB}),
            format!("{dc}/loadbalancers/{CLB}/balancednics"),
            LIST,
            vec![AtLeast(1)],
        ),
        case(
            "list_network_loadbalancers",
            json!({"datacenter_id": PROD}),
            format!("{dc}/networkloadbalancers"),
            LIST,
            vec![Items(1)],
        ),
        case(
            "get_network_loadbalancer",
            json!({"datacenter_id": PROD, "network_loadbalancer_id": NLB}),
            format!("{dc}/networkloadbalancers/{NLB}"),
            GET,
            vec![name("nlb-production")],
        ),
        case(
            "list_nlb_forwarding_rules",
            json!({"datacenter_id": PROD, "network_loadbalancer_id": NLB}),
            format!("{dc}/networkloadbalancers/{NLB}/forwardingrules"),
            LIST,
            vec![Items(2)],
        ),
        case(
            "get_nlb_forwarding_rule",
            json!({"datacenter_id": PROD, "network_loadbalancer_id": NLB, "forwarding_rule_id": NLB_RULE}),
            format!("{dc}/networkloadbalancers/{NLB}/forwardingrules/{NLB_RULE}"),
            GET,
            vec![name("postgres-tcp")],
        ),
        case(
            "list_application_loadbalancers",
            json!({"datacenter_id": PROD}),
            format!("{dc}/applicationloadbalancers"),
            LIST,
            vec![Items(1)],
        ),
        case(
            "get_application_loadbalancer",
            json!({"datacenter_id": PROD, "application_loadbalancer_id": ALB}),
            format!("{dc}/applicationloadbalancers/{ALB}"),
            GET,
            vec![name("alb-web")],
        ),
        case(
            "list_alb_forwarding_rules",
            json!({"datacenter_id": PROD, "application_loadbalancer_id": ALB}),
            format!("{dc}/applicationloadbalancers/{ALB}/forwardingrules"),
            LIST,
            vec![Items(2)],
        ),
        case(
            "get_alb_forwarding_rule",
            json!({"datacenter_id": PROD, "application_loadbalancer_id": ALB, "forwarding_rule_id": ALB_RULE}),
            format!("{dc}/applicationloadbalancers/{ALB}/forwardingrules/{ALB_RULE}"),
            GET,
            vec![name("https")],
        ),
        case(
            "list_target_groups",
            json!({}),
            "/targetgroups".into(),
            LIST,
            vec![Items(1)],
        ),
        case(
            "get_target_group",
            json!({"target_group_id": TARGET_GROUP}),
            format!("/targetgroups/{TARGET_GROUP}"),
            GET,
            vec![name("web-pool")],
        ),
        // account, catalogue, requests
        case("get_contract", json!({}), "/contracts".into(), GET, vec![]),
        case(
            "list_requests",
            json!({"limit": 2}),
            "/requests".into(),
            &[("pretty", "false"), ("depth", "1"), ("limit", "2")],
            vec![Items(2)],
        ),
        case(
            "get_request",
            json!({"request_id": REQUEST}),
            format!("/requests/{REQUEST}"),
            GET,
            vec![Eq("/id", json!(REQUEST))],
        ),
        case(
            "get_request_status",
            json!({"request_id": REQUEST}),
            format!("/requests/{REQUEST}/status"),
            GET,
            vec![Eq("/metadata/status", json!("DONE"))],
        ),
        case(
            "list_templates",
            json!({}),
            "/templates".into(),
            // The templates endpoints take no `pretty`.
            &[("depth", "1")],
            vec![Items(6)],
        ),
        case(
            "get_template",
            json!({"template_id": TEMPLATE}),
            format!("/templates/{TEMPLATE}"),
            NO_QUERY,
            vec![name("Basic Cube S")],
        ),
        case(
            "list_locations",
            json!({"offset": 8}),
            "/locations".into(),
            LIST,
            vec![Items(2)],
        ),
        case(
            "get_location",
            json!({"region_id": "de", "location_id": "fra"}),
            "/locations/de/fra".into(),
            GET,
            vec![Eq("/id", json!("de/fra"))],
        ),
        // Kubernetes
        case(
            "list_k8s_clusters",
            json!({}),
            "/k8s".into(),
            LIST,
            vec![Items(1), Eq("/items/0/id", json!(CLUSTER))],
        ),
        case(
            "get_k8s_cluster",
            json!({"k8s_cluster_id": CLUSTER}),
            format!("/k8s/{CLUSTER}"),
            GET,
            vec![name("prod-k8s")],
        ),
        case(
            "list_k8s_nodepools",
            json!({"k8s_cluster_id": CLUSTER}),
            format!("/k8s/{CLUSTER}/nodepools"),
            LIST,
            vec![Items(2)],
        ),
        case(
            "get_k8s_nodepool",
            json!({"k8s_cluster_id": CLUSTER, "nodepool_id": NODEPOOL}),
            format!("/k8s/{CLUSTER}/nodepools/{NODEPOOL}"),
            GET,
            vec![name("general")],
        ),
        case(
            "list_k8s_nodepool_nodes",
            json!({"k8s_cluster_id": CLUSTER, "nodepool_id": NODEPOOL, "limit": 2}),
            format!("/k8s/{CLUSTER}/nodepools/{NODEPOOL}/nodes"),
            LIST,
            vec![Items(2)],
        ),
        case(
            "get_k8s_node",
            json!({"k8s_cluster_id": CLUSTER, "nodepool_id": NODEPOOL, "node_id": NODE}),
            format!("/k8s/{CLUSTER}/nodepools/{NODEPOOL}/nodes/{NODE}"),
            GET,
            vec![name("general-51aad")],
        ),
        case(
            "list_k8s_versions",
            json!({}),
            "/k8s/versions".into(),
            NO_QUERY,
            vec![Eq("/items", json!(["1.29.10", "1.30.6", "1.31.2"]))],
        ),
        // Cloud DNS
        case(
            "list_dns_zones",
            json!({"zone_name": "example-shop", "limit": 10}),
            "/zones".into(),
            &[("filter.zoneName", "example-shop"), ("limit", "10")],
            vec![Items(2)],
        ),
        case(
            "get_dns_zone",
            json!({"zone_id": ZONE}),
            format!("/zones/{ZONE}"),
            NO_QUERY,
            vec![Eq("/properties/zoneName", json!("example-shop.de"))],
        ),
        case(
            "get_dns_zone_file",
            json!({"zone_id": ZONE}),
            format!("/zones/{ZONE}/zonefile"),
            NO_QUERY,
            vec![
                Contains("", "$ORIGIN example-shop.de.\n"),
                Contains("", "www\t3600\tIN\tA\t203.0.113.21"),
            ],
        ),
        case(
            "list_dns_records",
            json!({"record_type": "A", "offset": 1}),
            "/records".into(),
            &[("filter.type", "A"), ("offset", "1")],
            vec![AtLeast(3)],
        ),
        case(
            "list_dns_zone_records",
            json!({"zone_id": ZONE, "limit": 3}),
            format!("/zones/{ZONE}/records"),
            NO_QUERY,
            vec![Items(3), Eq("/total", json!(7))],
        ),
        case(
            "get_dns_record",
            json!({"zone_id": ZONE, "record_id": RECORD}),
            format!("/zones/{ZONE}/records/{RECORD}"),
            NO_QUERY,
            vec![Eq("/metadata/fqdn", json!("www.example-shop.de"))],
        ),
        case(
            "list_dns_secondary_zones",
            json!({}),
            "/secondaryzones".into(),
            NO_QUERY,
            vec![Items(1)],
        ),
        case(
            "get_dns_secondary_zone",
            json!({"secondary_zone_id": SECONDARY}),
            format!("/secondaryzones/{SECONDARY}"),
            NO_QUERY,
            vec![Eq("/properties/zoneName", json!("partner-mirror.eu"))],
        ),
        case(
            "list_dns_secondary_zone_records",
            json!({"secondary_zone_id": SECONDARY, "limit": 1}),
            format!("/secondaryzones/{SECONDARY}/records"),
            &[("limit", "1")],
            vec![Eq("/items/0/metadata/rootName", json!("partner-mirror.eu"))],
        ),
        case(
            "get_dns_secondary_zone_axfr",
            json!({"secondary_zone_id": SECONDARY}),
            format!("/secondaryzones/{SECONDARY}/axfr"),
            NO_QUERY,
            vec![Eq("/items/1/status", json!("FAILED"))],
        ),
        case(
            "list_dns_reverse_records",
            json!({"limit": 2}),
            "/reverserecords".into(),
            &[("limit", "2")],
            vec![Items(2)],
        ),
        case(
            "get_dns_reverse_record",
            json!({"reverse_record_id": REVERSE}),
            format!("/reverserecords/{REVERSE}"),
            NO_QUERY,
            vec![Eq("/properties/ip", json!("203.0.113.21"))],
        ),
        case(
            "list_dns_zone_dnssec_keys",
            json!({"zone_id": ZONE}),
            format!("/zones/{ZONE}/keys"),
            NO_QUERY,
            vec![Eq("/metadata/items/0/keyTag", json!(30417))],
        ),
        case(
            "get_dns_quota",
            json!({}),
            "/quota".into(),
            NO_QUERY,
            vec![Eq("/quotaLimits/zones", json!(100))],
        ),
        // Certificate Manager (private keys and EAB secrets are redacted)
        case(
            "list_cert_certificates",
            json!({"common_name": "www.example"}),
            "/certificates".into(),
            &[("filter.commonName", "www.example")],
            vec![
                Items(1),
                Eq("/items/0/properties/name", json!("www-example-shop-de")),
            ],
        ),
        case(
            "get_cert_certificate",
            json!({"certificate_id": CERT}),
            format!("/certificates/{CERT}"),
            NO_QUERY,
            vec![
                Eq("/metadata/commonName", json!("www.example-shop.de")),
                Absent("/properties/privateKey"),
            ],
        ),
        case(
            "list_cert_auto_certificates",
            json!({}),
            "/auto-certificates".into(),
            NO_QUERY,
            vec![Items(1)],
        ),
        case(
            "get_cert_auto_certificate",
            json!({"auto_certificate_id": AUTO_CERT}),
            format!("/auto-certificates/{AUTO_CERT}"),
            NO_QUERY,
            vec![Eq("/properties/keyAlgorithm", json!("ECDSA256"))],
        ),
        case(
            "list_cert_providers",
            json!({"limit": 5}),
            "/providers".into(),
            &[("limit", "5")],
            vec![
                Items(2),
                Absent("/items/1/properties/externalAccountBinding/keySecret"),
            ],
        ),
        case(
            "get_cert_provider",
            json!({"provider_id": PROVIDER}),
            format!("/providers/{PROVIDER}"),
            NO_QUERY,
            vec![
                Eq(
                    "/properties/externalAccountBinding/keyId",
                    json!("kid-SIMULATED-1"),
                ),
                Absent("/properties/externalAccountBinding/keySecret"),
            ],
        ),
        // Object Storage management (secret keys are redacted)
        case(
            "list_object_storage_access_keys",
            json!({}),
            "/accesskeys".into(),
            NO_QUERY,
            vec![Items(2), Absent("/items/0/properties/secretKey")],
        ),
        case(
            "get_object_storage_access_key",
            json!({"access_key_id": ACCESS_KEY}),
            format!("/accesskeys/{ACCESS_KEY}"),
            NO_QUERY,
            vec![
                Eq("/properties/accessKey", json!("EXAMPLEACCESSKEY0001")),
                Absent("/properties/secretKey"),
            ],
        ),
        case(
            "list_object_storage_regions",
            json!({"offset": 1, "limit": 2}),
            "/regions".into(),
            &[("offset", "1"), ("limit", "2")],
            vec![Items(2), Eq("/items/0/id", json!("eu-central-4"))],
        ),
        case(
            "get_object_storage_region",
            json!({"region": "eu-central-3"}),
            "/regions/eu-central-3".into(),
            NO_QUERY,
            // The simulator's regions point at its own S3 endpoints.
            vec![Contains("/properties/endpoint", "/s3/eu-central-3")],
        ),
        // Activity Log
        case(
            "list_activitylog_contracts",
            json!({}),
            "/activitylog/v1/contracts".into(),
            NO_QUERY,
            vec![Eq("/items/0/id", json!(CONTRACT))],
        ),
        case(
            "list_activitylog_events",
            json!({"contract": CONTRACT, "date_start": week_ago(), "date_end": today(), "limit": 5}),
            format!("/activitylog/v1/contracts/{CONTRACT}"),
            &[("dateStart", "*"), ("dateEnd", "*"), ("limit", "5")],
            vec![Contains("/omitted/why", "include_status_updates")],
        ),
        // Billing
        case(
            "get_billing_profile",
            json!({}),
            "/profile".into(),
            NO_QUERY,
            vec![Eq("/companies/0/contractId", json!("31000000"))],
        ),
        case(
            "list_billing_invoices",
            json!({"contract": CONTRACT}),
            format!("/{CONTRACT}/invoices"),
            NO_QUERY,
            vec![Eq("/metadata/contractId", json!("31000000"))],
        ),
        case(
            "list_billing_invoices_by_period",
            json!({"period": last_month()}),
            format!("/invoices/{}", last_month()),
            NO_QUERY,
            vec![Eq("/items/0/metadata/postingPeriod", json!(last_month()))],
        ),
        case(
            "get_billing_invoice",
            json!({"contract": CONTRACT, "invoice_id": invoice_id()}),
            format!("/{CONTRACT}/invoices/{}", invoice_id()),
            NO_QUERY,
            vec![
                Eq("/metadata/invoiceId", json!(invoice_id())),
                Eq("/total/unit", json!("EUR")),
            ],
        ),
        case(
            "list_billing_evn",
            json!({"contract": CONTRACT}),
            format!("/{CONTRACT}/evn"),
            NO_QUERY,
            vec![Eq("/datacenters/0/vdcUUID", json!(PROD))],
        ),
        case(
            "list_billing_evn_by_period",
            json!({"contract": CONTRACT, "period": last_month()}),
            format!("/{CONTRACT}/evn/{}", last_month()),
            NO_QUERY,
            vec![Eq("/metadata/period", json!(last_month()))],
        ),
        case(
            "list_billing_traffic",
            json!({"contract": CONTRACT, "ip": true}),
            format!("/{CONTRACT}/traffic"),
            &[("ip", "true")],
            vec![Eq("/metadata/unit", json!("GB"))],
        ),
        case(
            "list_billing_traffic_by_period",
            json!({"contract": CONTRACT, "period": last_month()}),
            format!("/{CONTRACT}/traffic/{}", last_month()),
            NO_QUERY,
            vec![Eq("/trafficObj/vdc/0/vdcName", json!("production"))],
        ),
        case(
            "list_billing_usage",
            json!({"contract": CONTRACT, "period": last_month()}),
            format!("/{CONTRACT}/usage"),
            &[("period", "*")],
            vec![Eq("/datacenters/0/meters/0/meterId", json!("C01000"))],
        ),
        case(
            "get_billing_usage_by_datacenter",
            json!({"contract": CONTRACT, "datacenter_id": STAGING}),
            format!("/{CONTRACT}/usage/{STAGING}"),
            NO_QUERY,
            vec![Eq("/datacenters/0/name", json!("staging"))],
        ),
        case(
            "list_billing_utilization",
            json!({"contract": CONTRACT, "datacenter_id": PROD}),
            format!("/{CONTRACT}/utilization"),
            &[("dc", PROD)],
            vec![Eq("/datacenters/0/id", json!(PROD))],
        ),
        case(
            "list_billing_utilization_by_period",
            json!({"contract": CONTRACT, "period": last_month()}),
            format!("/{CONTRACT}/utilization/{}", last_month()),
            NO_QUERY,
            vec![Eq("/startDate", json!(format!("{}-01", last_month())))],
        ),
        case(
            "get_billing_utilization_daily",
            json!({"contract": CONTRACT, "date": "2026-01-15"}),
            format!("/{CONTRACT}/utilization/daily/2026-01-15"),
            NO_QUERY,
            vec![Eq("/startDate", json!("2026-01-15"))],
        ),
        case(
            "list_billing_products",
            json!({"contract": CONTRACT}),
            format!("/{CONTRACT}/products"),
            NO_QUERY,
            vec![Eq("/products/0/unitCost/unit", json!("EUR"))],
        ),
        // Authentication: token metadata, never values
        case(
            "list_auth_tokens",
            json!({"limit": 2, "offset": 1}),
            "/tokens".into(),
            NO_QUERY,
            vec![
                Eq("/total", json!(4)),
                Eq("/tokens/0/id", json!(AUTH_TOKEN)),
            ],
        ),
        case(
            "get_auth_token",
            json!({"token_id": AUTH_TOKEN}),
            format!("/tokens/{AUTH_TOKEN}"),
            NO_QUERY,
            vec![Eq("/id", json!(AUTH_TOKEN))],
        ),
        case(
            "get_k8s_default_version",
            json!({}),
            "/k8s/versions/default".into(),
            NO_QUERY,
            vec![Eq("/value", json!("1.31.2"))],
        ),
    ]
}

/// The path of the tool's product base URL, as the simulator serves it.
fn base_path(tool: &str) -> &'static str {
    let product = ionos_mcp::tools::table::tool(tool)
        .expect("known tool")
        .product;
    match product {
        "compute" | "kubernetes" => "/cloudapi/v6",
        "auth" => "/auth/v1",
        "dns" => "/dns",
        "certmanager" => "/certmanager",
        "objectstorage" => "/s3-management",
        "billing" => "/billing",
        "activitylog" => "",
        other => panic!("no simulator layout for {other}"),
    }
}

/// The facts file describing a spec's API.
fn facts_file(spec: &str) -> &'static str {
    match spec {
        "specs/cloudapi-v6.yaml" => "compute.json",
        "specs/dns.yaml" => "dns.json",
        "specs/billing.yaml" => "billing.json",
        "specs/certmanager.yaml" => "certmanager.json",
        "specs/activitylog.yaml" => "activitylog.json",
        "specs/objectstorage-management.yaml" => "objectstorage-management.json",
        "specs/objectstorage-s3.yaml" => "objectstorage-s3.json",
        "specs/auth.yaml" => "auth.json",
        other => panic!("no facts file known for {other}"),
    }
}

fn query_set(q: &[(String, String)]) -> BTreeSet<(String, String)> {
    q.iter().cloned().collect()
}

/// Calls every case and returns what the simulator recorded per tool.
async fn run_all(h: &Harness) -> BTreeMap<&'static str, RecordedRequest> {
    let mut seen = BTreeMap::new();
    let mut failures = Vec::new();
    for c in cases() {
        h.sim.clear_requests();
        let r = h.call(c.tool, c.args.clone()).await;
        if is_error(&r) {
            failures.push(format!("{}: error result: {}", c.tool, text(&r)));
            continue;
        }
        let sent = h.sim.requests();
        // A list whose declared filters left items out asks for further pages until `limit`
        // items are kept: the first request is the one the arguments make.
        let pages_on = ionos_mcp::tools::table::tool(c.tool)
            .and_then(ionos_mcp::tools::behaviour::of)
            .is_some_and(|b| b.items_pointer().is_some() && b.summarize.is_none());
        if sent.is_empty() || (sent.len() != 1 && !pages_on) {
            failures.push(format!(
                "{}: {} requests sent: {sent:?}",
                c.tool,
                sent.len()
            ));
            continue;
        }
        let req = &sent[0];
        let want_path = format!("{}{}", base_path(c.tool), c.path);
        if req.method != "GET" || req.path != want_path {
            failures.push(format!(
                "{}: sent {} {}, expected GET {want_path}",
                c.tool, req.method, req.path
            ));
        }
        let want_query: BTreeSet<(String, String)> = c
            .query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sent_query: BTreeSet<(String, String)> = query_set(&req.query)
            .into_iter()
            .map(|(k, v)| {
                let wildcard = want_query.contains(&(k.clone(), "*".to_string()));
                (k, if wildcard { "*".to_string() } else { v })
            })
            .collect();
        if sent_query != want_query {
            failures.push(format!(
                "{}: query {:?}, expected {:?}",
                c.tool, req.query, want_query
            ));
        }
        if req.authorization.as_deref() != Some(&format!("Bearer {DEMO_TOKEN}")) {
            failures.push(format!("{}: no bearer token sent", c.tool));
        }
        let tool = ionos_mcp::tools::table::tool(c.tool).expect("known tool");
        let result = match r.structured_content.clone() {
            Some(result) => {
                // The text block carries the same JSON.
                let from_text: Value = serde_json::from_str(&text(&r)).unwrap_or(Value::Null);
                if from_text != result {
                    failures.push(format!("{}: text and structured content differ", c.tool));
                }
                result
            }
            // Text answers (a zone file) come as text, and only for tools without a JSON shape.
            None if tool.output_schema.is_none() => Value::String(text(&r)),
            None => {
                failures.push(format!("{}: no structured result", c.tool));
                continue;
            }
        };
        // No result carries a private key, a secret key or an ACME key secret.
        for secret in crate::support::secrets_in(&result) {
            failures.push(format!("{}: the result contains {secret}", c.tool));
        }
        for check in &c.checks {
            match check {
                Eq(pointer, want) => {
                    if result.pointer(pointer) != Some(want) {
                        failures.push(format!(
                            "{}: {pointer} is {:?}, expected {want}",
                            c.tool,
                            result.pointer(pointer)
                        ));
                    }
                }
                Absent(pointer) => {
                    if let Some(v) = result.pointer(pointer) {
                        failures.push(format!("{}: {pointer} is present: {v}", c.tool));
                    }
                }
                Contains(pointer, needle) => {
                    let found = result.pointer(pointer).and_then(Value::as_str);
                    if !found.is_some_and(|t| t.contains(needle)) {
                        failures.push(format!(
                            "{}: {pointer} does not contain {needle:?}: {found:?}",
                            c.tool
                        ));
                    }
                }
                Items(n) | AtLeast(n) => {
                    let items = result["items"].as_array();
                    let len = items.map_or(usize::MAX, Vec::len);
                    let ok = match check {
                        Items(_) => len == *n,
                        _ => len != usize::MAX && len >= *n,
                    };
                    if !ok || items.is_some_and(|i| i.iter().any(|x| x.get("id").is_none())) {
                        failures.push(format!(
                            "{}: expected {} items with ids, got {}",
                            c.tool,
                            if matches!(check, Items(_)) {
                                "exactly"
                            } else {
                                "at least"
                            },
                            result["items"]
                        ));
                    }
                }
            }
        }
        seen.insert(c.tool, req.clone());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    seen
}

#[tokio::test]
async fn every_read_tool_sends_its_request_and_returns_its_answer() {
    let h = Harness::start().await;
    let seen = run_all(&h).await;
    let untested: Vec<&str> = TOOLS
        .iter()
        // The S3 tools sign their requests and find bucket regions first: see s3.rs.
        .filter(|t| {
            t.access == Access::Read
                && !seen.contains_key(t.name)
                && t.product != "objectstorage_s3"
        })
        .map(|t| t.name)
        .collect();
    assert!(
        untested.is_empty(),
        "tools without a call case: {untested:?}"
    );
}

fn facts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/ionos-api/facts")
}

/// `/datacenters/{datacenterId}/servers` matches `/datacenters/abc/servers`.
fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

#[tokio::test]
async fn requests_match_the_public_api_facts() {
    let dir = facts_dir();
    if !dir.is_dir() {
        eprintln!(
            "SKIPPED: {} is absent; the facts-fidelity check needs the shared reference material",
            dir.display()
        );
        return;
    }
    let mut ops: BTreeMap<String, Value> = BTreeMap::new();
    for spec in TOOLS.iter().map(|t| t.spec).collect::<BTreeSet<_>>() {
        let bytes = std::fs::read(dir.join(facts_file(spec))).expect("facts file");
        let facts: Value = serde_json::from_slice(&bytes).expect("facts are JSON");
        for o in facts["operations"].as_array().expect("operations") {
            let id = o["operation"].as_str().unwrap_or_default();
            let mut c = id.chars();
            let lower = c
                .next()
                .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
                .unwrap_or_default();
            ops.insert(format!("{spec}#{lower}"), o.clone());
        }
    }

    let h = Harness::start().await;
    let seen = run_all(&h).await;
    let mut problems = Vec::new();
    for tool in TOOLS.iter().filter(|t| t.access == Access::Read) {
        let Some(op) = ops.get(&format!("{}#{}", tool.spec, tool.operation_id)) else {
            problems.push(format!(
                "{}: operation {} is not in the facts",
                tool.name, tool.operation_id
            ));
            continue;
        };
        let Some(req) = seen.get(tool.name) else {
            continue;
        };
        let method = op["method"].as_str().unwrap_or_default();
        let template = format!(
            "{}{}",
            base_path(tool.name),
            op["path"].as_str().unwrap_or_default()
        );
        if req.method != method || !template_matches(&template, &req.path) {
            problems.push(format!(
                "{}: sent {} {}, facts say {method} {template}",
                tool.name, req.method, req.path
            ));
        }
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for (name, _) in &req.query {
            // `filter.<property>` is the Cloud API's generic filter syntax on every collection.
            let generic_filter = name.starts_with("filter.") && tool.product == "compute";
            if !declared.contains(name.as_str()) && !generic_filter {
                problems.push(format!(
                    "{}: sends query `{name}`, which {} does not declare",
                    tool.name, op["operation"]
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Write tools are served by scope class: none by default, `write` adds start and resume,
/// `destructive` adds stop, reboot and suspend; refused calls send nothing.
#[tokio::test]
async fn write_tools_follow_the_tool_scope() {
    use ionos_mcp::tools::table::Access;
    let args = json!({"datacenter_id": PROD, "server_id": WEB01});
    let h = Harness::start().await;
    let listed = h.client.list_all_tools().await.expect("tools/list");
    assert!(listed.iter().all(|t| t.name != "stop_server"));
    h.sim.clear_requests();
    let r = h.call("stop_server", args.clone()).await;
    assert!(is_error(&r));
    assert!(
        text(&r).contains("IONOS_MCP_TOOL_SCOPE=destructive"),
        "{}",
        text(&r)
    );
    let r = h.call("start_server", args.clone()).await;
    assert!(is_error(&r));
    assert!(text(&r).contains("IONOS_ENABLE_WRITES"), "{}", text(&r));
    assert!(
        h.sim.requests().is_empty(),
        "a refused write sent a request"
    );

    for (scope, served, unserved) in [
        (
            Access::Write,
            &["start_server", "resume_server"][..],
            &["stop_server", "reboot_server", "suspend_server"][..],
        ),
        (
            Access::Destructive,
            &[
                "start_server",
                "resume_server",
                "stop_server",
                "reboot_server",
                "suspend_server",
            ][..],
            &[][..],
        ),
    ] {
        let sim = ionos_mcp::simulator::Simulator::start()
            .await
            .expect("simulator");
        let mut config = crate::support::config_for(&format!("http://{}", sim.addr()));
        config.tool_scope = scope;
        let h = Harness::with_config(sim, config).await;
        let listed = h.client.list_all_tools().await.expect("tools/list");
        for name in served {
            let tool = listed
                .iter()
                .find(|t| t.name == *name)
                .unwrap_or_else(|| panic!("{name} served with {scope:?}"));
            let hints = tool.annotations.as_ref().expect("annotations");
            assert_eq!(hints.read_only_hint, Some(false), "{name}");
            let destructive = matches!(*name, "stop_server" | "reboot_server" | "suspend_server");
            assert_eq!(hints.destructive_hint, Some(destructive), "{name}");
            assert_eq!(
                hints.idempotent_hint,
                Some(*name != "reboot_server"),
                "{name}"
            );
        }
        for name in unserved {
            assert!(listed.iter().all(|t| t.name != *name), "{name} served");
        }
    }
}

/// The secrets the simulator sends (private keys, EAB key secrets, S3 secret keys) never reach
/// the client: the raw answer has them, the tool result does not.
#[tokio::test]
async fn secrets_in_answers_are_redacted() {
    let h = Harness::start().await;
    let raw = reqwest::Client::new()
        .get(format!(
            "{}/certificates/{CERT}",
            h.sim.base_url("certmanager").expect("simulated")
        ))
        .bearer_auth("demo-token")
        .send()
        .await
        .expect("raw GET")
        .text()
        .await
        .expect("body");
    assert!(
        raw.contains("PRIVATE KEY"),
        "the simulator sends no key: {raw}"
    );
    for (tool, args, secret) in [
        (
            "get_cert_certificate",
            json!({"certificate_id": CERT}),
            "PRIVATE KEY",
        ),
        ("list_cert_certificates", json!({}), "PRIVATE KEY"),
        (
            "get_cert_provider",
            json!({"provider_id": PROVIDER}),
            "SIMULATED-EAB-SECRET",
        ),
        ("list_cert_providers", json!({}), "SIMULATED-EAB-SECRET"),
        (
            "get_object_storage_access_key",
            json!({"access_key_id": ACCESS_KEY}),
            "SIMULATED-SECRET",
        ),
        (
            "list_object_storage_access_keys",
            json!({}),
            "SIMULATED-SECRET",
        ),
    ] {
        let r = h.call(tool, args).await;
        assert!(!is_error(&r), "{tool}: {}", text(&r));
        let all = format!("{}{:?}", text(&r), r.structured_content);
        assert!(!all.contains(secret), "{tool} leaked {secret}: {all}");
    }
}

/// The activity log defaults to the last 7 days and 25 events, refuses bad ranges before
/// sending, and leaves status polls out unless asked.
#[tokio::test]
async fn activity_log_ranges_and_status_updates() {
    let h = Harness::start().await;
    h.sim.clear_requests();
    let r = h
        .call("list_activitylog_events", json!({"contract": CONTRACT}))
        .await;
    assert!(!is_error(&r), "{}", text(&r));
    let sent = h.sim.requests();
    let q: BTreeMap<String, String> = sent[0].query.iter().cloned().collect();
    assert_eq!(q.get("dateStart"), Some(&week_ago()));
    assert_eq!(q.get("dateEnd"), Some(&today()));
    assert_eq!(q.get("limit").map(String::as_str), Some("25"));
    let v = r.structured_content.expect("structured");
    let hits = items_of(&v, "events");
    assert!(!hits.is_empty());
    assert!(
        hits.iter().all(|e| !e
            .pointer("/uri")
            .and_then(Value::as_str)
            .unwrap_or("")
            .contains("/status")),
        "a status poll was returned"
    );
    let with = h
        .call(
            "list_activitylog_events",
            json!({"contract": CONTRACT, "include_status_updates": true}),
        )
        .await
        .structured_content
        .expect("structured");
    assert!(items_of(&with, "events").len() > hits.len());

    for (args, mention) in [
        (
            json!({"contract": CONTRACT, "date_start": "2026-01-01", "date_end": "2026-06-01"}),
            "at most 90 days",
        ),
        (
            json!({"contract": CONTRACT, "date_start": "2026-06-10", "date_end": "2026-06-01"}),
            "before",
        ),
        (
            json!({"contract": CONTRACT, "date_start": "2026-02-30"}),
            "YYYY-MM-DD",
        ),
    ] {
        h.sim.clear_requests();
        let r = h.call("list_activitylog_events", args.clone()).await;
        assert!(is_error(&r), "{args}");
        assert!(text(&r).contains(mention), "{args}: {}", text(&r));
        assert!(h.sim.requests().is_empty(), "{args}: sent anyway");
    }
}

/// `limit` counts the events returned, after status polls are left out: further pages are
/// asked for, and `next_offset` continues where the answer stopped.
#[tokio::test]
async fn activity_log_limit_counts_the_events_returned() {
    let h = Harness::start().await;
    let page = |args: Value| {
        let h = &h;
        async move {
            let r = h.call("list_activitylog_events", args).await;
            assert!(!is_error(&r), "{}", text(&r));
            r.structured_content.expect("structured")
        }
    };
    let all = page(json!({"contract": CONTRACT, "limit": 100})).await;
    // Each page states the values most of its events share once (`common`): put back, the
    // pages' events are the whole list's.
    let all_ids: Vec<Value> = items_of(&all, "events");
    assert!(all_ids.len() > 3);
    assert!(all.get("next_offset").is_none(), "the whole list fit");
    let one = page(json!({"contract": CONTRACT, "limit": 1})).await;
    assert_eq!(items_of(&one, "events").len(), 1);
    let mut walked = Vec::new();
    let mut offset = 0;
    for _ in 0..50 {
        let v = page(json!({"contract": CONTRACT, "limit": 2, "offset": offset})).await;
        let hits = items_of(&v, "events");
        assert!(hits.len() <= 2);
        walked.extend(hits);
        match v.get("next_offset").and_then(Value::as_u64) {
            Some(next) => {
                assert!(next as usize > offset, "next_offset moves on");
                offset = next as usize;
            }
            None => break,
        }
    }
    assert_eq!(walked, all_ids, "paging returns every event once, in order");
}

/// Billing periods and dates are checked before any request.
#[tokio::test]
async fn billing_periods_are_validated_before_sending() {
    let h = Harness::start().await;
    for (tool, args) in [
        (
            "list_billing_invoices_by_period",
            json!({"period": "2026-13"}),
        ),
        (
            "list_billing_evn_by_period",
            json!({"contract": CONTRACT, "period": "26-01"}),
        ),
        (
            "get_billing_utilization_daily",
            json!({"contract": CONTRACT, "date": "2026-02-31x"}),
        ),
    ] {
        h.sim.clear_requests();
        let r = h.call(tool, args.clone()).await;
        assert!(is_error(&r), "{tool} {args}");
        assert!(text(&r).contains("does not fit"), "{tool}: {}", text(&r));
        assert!(h.sim.requests().is_empty(), "{tool}: sent anyway");
    }
}

/// Client-side arguments the official tools have: filters applied to the answer, zero meters
/// left out unless asked.
#[tokio::test]
async fn client_side_filters_narrow_the_answers() {
    let h = Harness::start().await;
    let events = |args: Value| {
        let h = &h;
        async move {
            let r = h.call("list_activitylog_events", args).await;
            assert!(!is_error(&r), "{}", text(&r));
            items_of(&r.structured_content.expect("structured"), "events")
        }
    };
    let all = events(json!({"contract": CONTRACT, "limit": 100})).await;
    let mine =
        events(json!({"contract": CONTRACT, "limit": 100, "user": "DEV@example-shop.de"})).await;
    assert!(!mine.is_empty() && mine.len() < all.len());
    assert!(
        mine.iter()
            .all(|e| e.pointer("/user") == Some(&json!("dev@example-shop.de")))
    );
    let servers =
        events(json!({"contract": CONTRACT, "limit": 100, "event_types": ["vm.server"]})).await;
    assert!(!servers.is_empty() && servers.len() < all.len());

    let usage = |args: Value| {
        let h = &h;
        async move {
            let r = h.call("list_billing_usage", args).await;
            assert!(!is_error(&r), "{}", text(&r));
            r.structured_content.expect("structured")
        }
    };
    let meters = |v: &Value| -> Vec<String> {
        v["datacenters"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|d| d["meters"].as_array().cloned().unwrap_or_default())
            .filter_map(|m| m["meterId"].as_str().map(str::to_string))
            .collect()
    };
    let default = usage(json!({"contract": CONTRACT})).await;
    assert!(
        !meters(&default).contains(&"G01000".to_string()),
        "zero meter shown"
    );
    let with_zero = usage(json!({"contract": CONTRACT, "include_zero": true})).await;
    assert!(meters(&with_zero).contains(&"G01000".to_string()));
    let one_dc = usage(json!({"contract": CONTRACT, "datacenter_id": STAGING})).await;
    assert_eq!(one_dc["datacenters"].as_array().map(Vec::len), Some(1));

    let r = h
        .call(
            "list_billing_products",
            json!({"contract": CONTRACT, "filter": "premium"}),
        )
        .await;
    let products = r.structured_content.expect("structured")["products"].clone();
    assert_eq!(products.as_array().map(Vec::len), Some(1), "{products}");
}

/// `IONOS_TOOLSETS` narrows what is served; a tool outside it says how to add it.
#[tokio::test]
async fn toolsets_narrow_the_served_list() {
    let sim = ionos_mcp::simulator::Simulator::start()
        .await
        .expect("simulator");
    let mut config = crate::support::config_for(&format!("http://{}", sim.addr()))
        .with_base_urls(|p| sim.base_url(p));
    config.toolsets = Some(vec!["dns".into(), "compute/servers".into()]);
    let h = Harness::with_config(sim, config).await;
    let listed = h.client.list_all_tools().await.expect("tools/list");
    assert!(listed.iter().any(|t| t.name == "list_dns_zones"));
    assert!(listed.iter().any(|t| t.name == "get_server"));
    assert!(
        listed
            .iter()
            .all(|t| t.name != "list_datacenters" && t.name != "get_billing_focus_spec")
    );
    h.sim.clear_requests();
    let r = h.call("list_datacenters", json!({})).await;
    assert!(is_error(&r));
    assert!(
        text(&r).contains("IONOS_TOOLSETS") && text(&r).contains("compute/datacenters"),
        "{}",
        text(&r)
    );
    assert!(h.sim.requests().is_empty());
}
