#!/usr/bin/env bash
# Builds real CoreDNS (only the plugins the labs use: file and template for `lab up`, kubernetes,
# forward, loop, reload and loadbalance for `lab up --k8s`, and errors, log, health, ready, cache) from the Go module proxy, through a small wrapper module OUTSIDE the repository, and caches
# the binary: $NETDOCTOR_K8S_CACHE (default /var/cache/netdoctor)/coredns-$VERSION/bin/coredns.
# `netdoctor lab up` runs it in the lab's CoreDNS pods when it is there (or $NETDOCTOR_COREDNS).
# Prints the binary's path. A second run only checks the cache (~40 s cold on 2 cores).
set -euo pipefail
version=${NETDOCTOR_COREDNS_VERSION:-v1.15.0}
cache=${NETDOCTOR_K8S_CACHE:-/var/cache/netdoctor}
dir=$cache/coredns-$version
bin=$dir/bin/coredns
plugins="reload ready health errors log loadbalance cache template kubernetes file loop forward"
stamp=$dir/bin/.plugins   # a build with another plugin set is rebuilt
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$plugins" ]; then echo "$bin"; exit 0; fi
mkdir -p "$dir/src" "$dir/bin"
exec 9>"$dir/.lock"
flock 9
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$plugins" ]; then echo "$bin"; exit 0; fi
cd "$dir/src"
{
  echo "// A CoreDNS with only the plugins netdoctor's labs use."
  echo "package main"
  echo
  echo "import ("
  echo '	"github.com/coredns/coredns/core/dnsserver"'
  echo '	"github.com/coredns/coredns/coremain"'
  echo
  for p in $plugins; do echo "	_ \"github.com/coredns/coredns/plugin/$p\""; done
  echo ")"
  echo
  echo "// The directives in upstream's plugin.cfg order (the order a query walks them)."
  printf 'func init() { dnsserver.Directives = []string{'
  sep=""; for p in $plugins; do printf '%s"%s"' "$sep" "$p"; sep=", "; done
  echo '} }'
  echo
  echo "func main() { coremain.Run() }"
} >main.go
printf 'module netdoctor.dev/coredns-wrapper\n\ngo 1.26\n\nrequire github.com/coredns/coredns %s\n' "$version" >go.mod
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
echo "coredns.sh: building CoreDNS $version (first run only)…" >&2
go mod tidy >"$dir/tidy.log" 2>&1 || { cat "$dir/tidy.log" >&2; exit 1; }
go build -trimpath -ldflags "-s -w" -o "$bin.tmp" .
mv "$bin.tmp" "$bin"
echo "$plugins" >"$stamp"
echo "$bin"
