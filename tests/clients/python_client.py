"""Drives `ionos-mcp --demo` with the official Python MCP client (package `mcp`) over stdio.

    python3 -m venv .venv-mcp && .venv-mcp/bin/pip install mcp==2.3.0
    cargo build --release
    .venv-mcp/bin/python tests/clients/python_client.py target/release/ionos-mcp

Exits non-zero when a check fails.
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.client.stdio import StdioServerParameters


def rows_of(table):
    """The items of a list the server wrote as a table: each row zipped with the columns."""
    assert isinstance(table["columns"], list) and isinstance(table["rows"], list), table
    return [{c: v for c, v in zip(table["columns"], row) if v is not None} for row in table["rows"]]


async def main(exe: str) -> None:
    params = StdioServerParameters(command=exe, args=["--demo"], env={})
    async with Client(params, mode="auto") as c:
        tools, cursor = [], None
        while True:
            page = await c.list_tools(cursor=cursor)
            tools += page.tools
            cursor = page.next_cursor
            if not cursor:
                break
        names = {t.name for t in tools}
        print(f"tools/list: {len(tools)} tools")
        assert all(t.annotations and t.annotations.read_only_hint for t in tools)

        def call_ok(r, what):
            assert not r.is_error, f"{what}: {r.content}"
            assert isinstance(r.structured_content, dict), f"{what}: no structured content"
            return r.structured_content

        dcs = call_ok(await c.call_tool("list_datacenters", {}), "list_datacenters")
        print("list_datacenters:", [d["properties"]["name"] for d in dcs["items"]])
        dc = next(d for d in dcs["items"] if d["properties"]["name"] == "production")["id"]

        servers = call_ok(await c.call_tool("list_servers", {"datacenter_id": dc}), "list_servers")
        print("list_servers:", [(s["properties"]["name"], s["properties"].get("vmState")) for s in servers["items"]])
        sid = servers["items"][0]["id"]

        server = call_ok(await c.call_tool("get_server", {"datacenter_id": dc, "server_id": sid}), "get_server")
        print("get_server:", server["properties"]["name"], server["properties"]["cores"], "cores")

        clusters = call_ok(await c.call_tool("list_k8s_clusters", {}), "list_k8s_clusters")
        print("list_k8s_clusters:", [k["properties"]["name"] for k in clusters["items"]])

        # One tool of every other product.
        zones = call_ok(await c.call_tool("list_dns_zones", {}), "list_dns_zones")
        zone = zones["items"][0]["id"]
        zf = await c.call_tool("get_dns_zone_file", {"zone_id": zone})
        assert not zf.is_error and zf.content[0].text.startswith("$ORIGIN "), zf.content
        print("get_dns_zone_file:", zf.content[0].text.splitlines()[0])
        profile = call_ok(await c.call_tool("get_billing_profile", {}), "get_billing_profile")
        contract = int(profile["companies"][0]["contractId"])
        inv = call_ok(await c.call_tool("list_billing_invoices", {"contract": contract}), "list_billing_invoices")
        print("list_billing_invoices:", [i["id"] for i in inv["invoices"]])
        certs = call_ok(await c.call_tool("list_cert_certificates", {}), "list_cert_certificates")
        assert "privateKey" not in json.dumps(certs)
        print("list_cert_certificates:", [x["metadata"]["commonName"] for x in certs["items"]])
        ev = call_ok(await c.call_tool("list_activitylog_events", {"contract": contract}), "list_activitylog_events")
        events = rows_of(ev["events"])
        assert events and all("time" in e and "user" in e for e in events), ev
        print("list_activitylog_events:", len(events), "of", ev["total"], "in the last 7 days")
        keys = call_ok(await c.call_tool("list_object_storage_access_keys", {}), "list_object_storage_access_keys")
        assert "secretKey" not in json.dumps(keys)
        print("list_object_storage_access_keys:", len(keys["items"]))
        buckets = call_ok(await c.call_tool("list_object_storage_buckets", {}), "list_object_storage_buckets")
        print("list_object_storage_buckets:", [b["Name"] for b in buckets["Buckets"]])
        for b in buckets["Buckets"]:
            loc = call_ok(await c.call_tool("get_object_storage_bucket_location", {"bucket": b["Name"]}), "location")
            print(f"  {b['Name']}: region {loc['LocationConstraint']}")
        objs = call_ok(await c.call_tool("list_object_storage_objects", {"bucket": "shop-backups", "prefix": "db/", "max_keys": 3}), "list_object_storage_objects")
        print("list_object_storage_objects:", [o["Key"] for o in rows_of(objs["Contents"])], "truncated:", objs["IsTruncated"])
        tokens = call_ok(await c.call_tool("list_auth_tokens", {}), "list_auth_tokens")
        print("list_auth_tokens:", len(tokens["tokens"]))

        bad = await c.call_tool("get_server", {"datacenter_id": dc})
        assert bad.is_error, "missing server_id accepted"
        print("bad input:", bad.content[0].text[:120])
        assert "list_datacenters" in names and "get_k8s_default_version" in names


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "target/release/ionos-mcp"))
