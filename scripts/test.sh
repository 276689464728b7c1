#!/usr/bin/env bash
# Runs every netdoctor test, after installing what the tests need. Run as root: the tests build
# network namespaces. NETDOCTOR_STRICT=1 makes any skipped privileged test fail.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
export NETDOCTOR_STRICT=${NETDOCTOR_STRICT:-$([ "$(id -u)" = 0 ] && echo 1 || echo 0)}
echo "== real Kubernetes components (built once from the Go module proxy, cached in /var/cache/netdoctor)"
test/k8s/build.sh kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl flanneld helm >/dev/null
echo "== real CoreDNS for the lab (built once from the Go module proxy, cached)"
bash scripts/coredns.sh >/dev/null
echo "== go vet"
go vet ./...
echo "== go test (strict=$NETDOCTOR_STRICT)"
go test -count=1 -timeout 40m "$@" ./...
