#!/usr/bin/env bash
# The main job on the embedded lab: build netdoctor, bring up a faulty lab, diagnose it, show the report.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh >/dev/null
CGO_ENABLED=0 go build -o bin/netdoctor .
exec bin/netdoctor lab demo "$@"
