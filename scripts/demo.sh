#!/usr/bin/env bash
# The main job on the embedded lab: build netdoctor, bring up a faulty lab, diagnose it, show the report.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh >/dev/null
CGO_ENABLED=0 go build -o bin/netdoctor .
# Real CoreDNS for the lab's DNS pods (cached after the first build); without it the lab answers DNS
# with its built-in server.
bash scripts/coredns.sh >/dev/null || echo "demo: could not build CoreDNS; the lab uses its built-in DNS server" >&2
exec bin/netdoctor lab demo "$@"
