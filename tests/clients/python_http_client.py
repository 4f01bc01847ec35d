"""Drives `ionos-mcp --demo serve --transport http` with the official Python MCP client (package
`mcp`) over Streamable HTTP, with API keys in the `Authorization` header.

    python3 -m venv .venv-mcp && .venv-mcp/bin/pip install mcp==2.3.0
    cargo build
    .venv-mcp/bin/python tests/clients/python_http_client.py target/debug/ionos-mcp

In a temporary directory it creates two keys (every scope; `dns:read` only), and one in another
key database, starts the server on a free loopback port, and for each way the client connects (`legacy`: the 2025-11-25
initialize handshake and a session; `auto`: probe `server/discover`, fall back to initialize;
`2026-07-28`: that version, stateless) checks that
- the full key lists every tool and calls `list_datacenters` and `list_dns_zones`;
- the `dns:read` key lists only DNS tools, and `list_datacenters` is refused (HTTP 403
  `insufficient_scope`) and reaches the client as an error;
- a wrong key (`mcp_sk_` and 44 random characters; a real key of another key database) is
  refused (HTTP 401 `invalid_api_key`) and the client fails.
Then it stops the server with SIGTERM, which must exit 0 within a few seconds.

The SDK reports every HTTP refusal as `MCPError(-32603, "Server returned an error response")`,
without the status or the body, so an httpx2 response hook records both for the checks.

The keys are never printed. Exits non-zero when a check fails.
"""

import asyncio
import json
import logging
import os
import random
import re
import signal
import string
import subprocess
import sys
import tempfile
import time
import urllib.request

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

MODES = ["legacy", "auto", "2026-07-28"]


class Refusals:
    """Records the HTTP status (and, for refusals, the JSON error) of every response the client gets."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, dict | None]] = []

    async def hook(self, response: httpx2.Response) -> None:
        error = None
        if response.status_code >= 400:
            await response.aread()
            try:
                error = response.json().get("error")
            except ValueError:
                error = None
        self.seen.append((response.request.method, response.status_code, error))

    def refused(self, status: int) -> list[dict | None]:
        return [e for _, s, e in self.seen if s == status]


def http_client(key: str, log: Refusals) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {key}"},
        timeout=httpx2.Timeout(30.0, read=60.0),
        event_hooks={"response": [log.hook]},
    )


async def list_all_tools(c: Client) -> list:
    tools, cursor = [], None
    while True:
        page = await c.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            return tools


def era(c: Client, mode: str) -> str:
    s = c.session
    how = "initialize" if s.initialize_result is not None else "pinned" if mode == s.protocol_version else "discover"
    return f"{s.protocol_version}, {how}"


def innermost(e: BaseException) -> BaseException:
    """The one error inside nested exception groups (anyio task groups wrap what they raise)."""
    while len(getattr(e, "exceptions", ())) == 1:
        e = e.exceptions[0]
    return e


async def full_access(url: str, key: str, mode: str) -> None:
    log = Refusals()
    async with http_client(key, log) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as c:
            tools = await list_all_tools(c)
            assert len(tools) > 100, f"only {len(tools)} tools"
            names = {t.name for t in tools}
            assert {"list_datacenters", "list_dns_zones"} <= names
            r = await c.call_tool("list_datacenters", {})
            assert not r.is_error, f"list_datacenters: {r.content}"
            assert isinstance(r.structured_content, dict) and isinstance(r.structured_content.get("items"), list), (
                "list_datacenters: no structured items"
            )
            dcs = [d["properties"]["name"] for d in r.structured_content["items"]]
            assert dcs, "list_datacenters: no datacenters"
            r = await c.call_tool("list_dns_zones", {})
            assert not r.is_error, f"list_dns_zones: {r.content}"
            zones = [z["properties"]["zoneName"] for z in r.structured_content["items"]]
            assert zones, "list_dns_zones: no zones"
            print(f"  [{mode}] full key ({era(c, mode)}): {len(tools)} tools; list_datacenters {dcs}; list_dns_zones {zones}")
    assert not [s for _, s, _ in log.seen if s >= 400], f"refusals for the full key: {log.seen}"
    deletes = [s for m, s, _ in log.seen if m == "DELETE"]
    if deletes:
        print(f"  [{mode}] session closed with DELETE: HTTP {deletes}")


async def dns_only(url: str, key: str, mode: str) -> None:
    log = Refusals()
    async with http_client(key, log) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as c:
            tools = await list_all_tools(c)
            names = sorted(t.name for t in tools)
            assert names, "dns:read key: no tools listed"
            assert all("dns" in n for n in names), f"dns:read key lists other tools: {[n for n in names if 'dns' not in n]}"
            r = await c.call_tool("list_dns_zones", {})
            assert not r.is_error, f"list_dns_zones with dns:read: {r.content}"
            try:
                r = await c.call_tool("list_datacenters", {})
            except Exception as e:  # the SDK turns an HTTP refusal into an MCPError
                reported = f"{type(e).__name__}: {e}"
            else:
                assert r.is_error, "list_datacenters succeeded with a dns:read key"
                reported = f"isError: {r.content[0].text[:80]}"
    refused = log.refused(403)
    assert refused and refused[0] and refused[0].get("code") == "insufficient_scope", (
        f"list_datacenters with dns:read: expected HTTP 403 insufficient_scope, saw {log.seen}"
    )
    print(f"  [{mode}] dns:read key: {len(names)} tools, all DNS; list_dns_zones ok; "
          f"list_datacenters -> HTTP 403 {refused[0]['code']}, client: {reported}")
    assert "compute:read" in refused[0].get("message", ""), f"403 does not name the scope needed: {refused[0]}"


async def wrong_key(url: str, mode: str, what: str, bad: str) -> None:
    log = Refusals()
    where = "connect"
    try:
        async with http_client(bad, log) as http:
            async with Client(streamable_http_client(url, http_client=http), mode=mode) as c:
                # A pinned modern version connects without a request; its first request fails.
                where = "first request"
                await c.list_tools(cursor=None)
    except Exception as e:  # an MCPError, possibly inside an ExceptionGroup
        inner = innermost(e)
        reported = f"{type(inner).__name__} at {where}: {inner}"
    else:
        raise AssertionError("a wrong key was accepted")
    refused = log.refused(401)
    assert refused and refused[0] and refused[0].get("code") == "invalid_api_key", (
        f"wrong key: expected HTTP 401 invalid_api_key, saw {log.seen}"
    )
    print(f"  [{mode}] {what}: HTTP 401 {refused[0]['code']} ({refused[0].get('message', '')[:48]}...), client: {reported}")


def create_key(exe: str, db: str, name: str, *scopes: str) -> str:
    args = [exe, "keys", "create", "--name", name, "--db", db, "--json"]
    if scopes:
        args += ["--scopes", ",".join(scopes)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    key = json.loads(out)["key"]
    assert key.startswith("mcp_sk_"), "keys create: no mcp_sk_ key in its JSON"
    return key


def start_server(exe: str, db: str, log_path: str) -> tuple[subprocess.Popen, str]:
    """Starts the server on port 0 and reads the address it bound from its first line."""
    log = open(log_path, "w")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IONOS_", "RUST_LOG"))}
    proc = subprocess.Popen(
        [exe, "--demo", "serve", "--transport", "http", "--db", db, "--http-addr", "127.0.0.1:0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=env,
    )
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(log_path) as f:
            m = re.search(r"serving MCP on http://(127\.0\.0\.1:\d+)/mcp", f.read())
        if m:
            base = f"http://{m.group(1)}"
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                    if r.status == 200 and r.read().strip() == b"ok":
                        return proc, base
            except OSError:
                pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    with open(log_path) as f:
        raise AssertionError(f"the server did not start:\n{f.read()}")


def stop_server(proc: subprocess.Popen) -> None:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the server did not exit within 5 s of SIGTERM")
    assert rc == 0, f"the server exited {rc} on SIGTERM"
    print(f"SIGTERM: exit 0 after {time.monotonic() - started:.2f} s")


async def checks(base: str, full: str, dns: str, foreign: str) -> None:
    url = f"{base}/mcp"
    garbage = "mcp_sk_" + "".join(random.choices(string.ascii_letters + string.digits, k=44))
    for mode in MODES:
        await full_access(url, full, mode)
        await dns_only(url, dns, mode)
        await wrong_key(url, mode, "garbage key", garbage)
        await wrong_key(url, mode, "key of another database", foreign)


def main(exe: str) -> None:
    # rmcp answers a session's DELETE with 202, which the SDK logs as a failure; it is printed above.
    logging.getLogger("mcp.client.streamable_http").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="ionos-mcp-http-") as tmp:
        db = os.path.join(tmp, "keys.db")
        full = create_key(exe, db, "ci-full")
        dns = create_key(exe, db, "ci-dns", "dns:read")
        foreign = create_key(exe, os.path.join(tmp, "other.db"), "ci-elsewhere")
        print("keys create: a full-access key and a dns:read key; a key in another database")
        proc, base = start_server(exe, db, os.path.join(tmp, "server.log"))
        print(f"server: {base}/mcp, /healthz ok")
        try:
            asyncio.run(checks(base, full, dns, foreign))
        except BaseException:
            proc.kill()
            proc.wait()
            with open(os.path.join(tmp, "server.log")) as f:
                sys.stderr.write(f"--- server log ---\n{f.read()}------------------\n")
            raise
        stop_server(proc)
    print("python http client: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/debug/ionos-mcp")
