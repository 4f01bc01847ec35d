"""Power actions with the official Python MCP client (package `mcp`) against `ionos-mcp --demo`
over stdio, with IONOS_MCP_TOOL_SCOPE=destructive: the preview and its single-use
confirmation_token for a client without elicitation, and confirmation by elicitation, both as
MRTR (2026-07-28) and as an elicitation request (2025-11-25 session), accepted and declined.

    python3 -m venv .venv-mcp && .venv-mcp/bin/pip install mcp==2.3.0
    cargo build --release
    .venv-mcp/bin/python tests/clients/python_confirm.py target/release/ionos-mcp

Exits non-zero when a check fails.
"""

import asyncio
import sys

from mcp import Client, types
from mcp.client.stdio import StdioServerParameters

PROD = "b5634021-a867-4b94-a0ff-eafb37fd3e19"
WEB01 = "f08daf45-aff9-46b7-8327-9da5be749620"
WEB02 = "12162318-0bc5-411c-b04a-496db641b374"
DB01 = "f7adc815-1cfa-43ce-9e94-d4b4d8f2b935"


def server(exe: str) -> StdioServerParameters:
    return StdioServerParameters(command=exe, args=["--demo"], env={"IONOS_MCP_TOOL_SCOPE": "destructive"})


def answering(action: str, asked: list):
    async def elicit(context, params):
        asked.append(params.message)
        if action == "accept":
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action=action)

    return elicit


def structured(r, what):
    assert not r.is_error, f"{what}: {r.content}"
    assert isinstance(r.structured_content, dict), f"{what}: no structured content"
    return r.structured_content


def error_text(r, what):
    assert r.is_error, f"{what}: expected an error, got {r.structured_content}"
    return " ".join(getattr(c, "text", "") for c in r.content)


async def vm_state(c, server_id):
    s = structured(await c.call_tool("get_server", {"datacenter_id": PROD, "server_id": server_id}), "get_server")
    return s["properties"]["vmState"]


async def fallback(exe: str) -> None:
    """No elicitation: a preview, then the token carries the call out once."""
    async with Client(server(exe), mode="legacy") as c:
        args = {"datacenter_id": PROD, "server_id": WEB01}
        preview = structured(await c.call_tool("stop_server", args), "preview")
        assert preview["executed"] is False and preview["confirmation_required"] is True, preview
        assert preview["target"]["name"] == "web-01", preview
        token = preview["confirmation_token"]
        assert await vm_state(c, WEB01) == "RUNNING", "the preview stopped the server"
        print("fallback: preview with token for", preview["target"]["name"])

        other = error_text(await c.call_tool("stop_server", {"datacenter_id": PROD, "server_id": WEB02,
                                                             "confirmation_token": token}), "other server")
        assert "another call" in other, other

        progress = []

        async def on_progress(done, total, message):
            progress.append((done, total, message))

        done = structured(await c.call_tool("stop_server", {**args, "confirmation_token": token},
                                            progress_callback=on_progress), "confirmed stop")
        assert done["status"] == "DONE" and done["vm_state"] == "SHUTOFF", done
        assert progress and progress[-1][0] == 3, progress
        print("fallback: stopped with the token:", done["status"], done["vm_state"], "progress", progress)

        again = error_text(await c.call_tool("stop_server", {**args, "confirmation_token": token}), "reuse")
        assert "already used" in again, again
        print("fallback: a reused token is refused")


async def elicitation(exe: str, mode: str) -> None:
    """Elicitation (MRTR in auto mode, an elicitation request in legacy mode)."""
    asked: list = []
    async with Client(server(exe), mode=mode, elicitation_callback=answering("decline", asked)) as c:
        r = structured(await c.call_tool("reboot_server", {"datacenter_id": PROD, "server_id": DB01}), "declined")
        assert r["executed"] is False and "declined" in r["message"], r
        assert len(asked) == 1 and "db-01" in asked[0], asked
        print(f"{mode}: declined, nothing sent")

    asked = []
    async with Client(server(exe), mode=mode, elicitation_callback=answering("accept", asked)) as c:
        r = structured(await c.call_tool("stop_server", {"datacenter_id": PROD, "server_id": WEB02}), "accepted")
        assert r["status"] == "DONE" and r["vm_state"] == "SHUTOFF", r
        assert len(asked) == 1 and "web-02" in asked[0] and "production" in asked[0], asked
        print(f"{mode}: confirmed and stopped:", r["status"], r["vm_state"])


async def main(exe: str) -> None:
    await fallback(exe)
    await elicitation(exe, "auto")
    await elicitation(exe, "legacy")
    print("python_confirm: all checks passed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
