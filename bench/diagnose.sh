#!/usr/bin/env bash
# Wall time of `netdoctor diagnose` on every fault of the lab catalogue, from one run, with the
# verdict, whether it matches the catalogue's kind, and the slowest check. Run as root:
#   bash bench/diagnose.sh [FAULT...]
# It builds the binary, brings up one lab per fault (in a private lab directory), diagnoses it as a
# user would, and tears the lab down. Nothing is left behind. DIAG_ARGS adds diagnose flags, e.g.
# DIAG_ARGS=--drop-tracer=false for the same run without the eBPF drop tracer.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
name=ndbench$$
cleanup() { [[ -x $work/netdoctor ]] && "$work/netdoctor" lab down --name "$name" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
export NETDOCTOR_LAB_DIR=$work/labs
CGO_ENABLED=0 go build -o "$work/netdoctor" .
go build -o "$work/labrequest" ./bench/labrequest
nd=$work/netdoctor
faults=("$@")
if ((${#faults[@]} == 0)); then
  mapfile -t faults < <("$nd" lab list | awk 'NR>1{print $1}')
fi
printf '%-30s %-20s %-20s %6s %8s  %s\n' FAULT EXPECTED VERDICT MATCH WALL_S "SLOWEST STEP"
for f in "${faults[@]}"; do
  "$nd" lab up --name "$name" --fault "$f" >/dev/null
  mapfile -t req < <("$work/labrequest" "$name")
  want=${req[-1]}
  unset 'req[-1]'
  args=(diagnose --lab "$name" -o json "${req[@]}" ${DIAG_ARGS:-})
  start=$(date +%s.%N)
  "$nd" "${args[@]}" >"$work/out.json" || true
  end=$(date +%s.%N)
  python3 - "$work/out.json" "$f" "$want" "$start" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
f, want, start, end = sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
kind = r["verdict"]["kind"]
steps = [t for t in r.get("timings", []) if t["step"] not in ("checks",)]
slow = max(steps, key=lambda t: t["ms"]) if steps else {"step": "-", "ms": 0}
print(f"{f:30s} {want:20s} {kind:20s} {'yes' if kind == want else 'NO':>6s} {end-start:8.2f}  {slow['step']} ({slow['ms']:.0f} ms)")
PY
  "$nd" lab down --name "$name" >/dev/null
done
