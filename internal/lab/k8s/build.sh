#!/usr/bin/env bash
# Builds the real Kubernetes components netdoctor's tests run (kube-apiserver for now) from the Go
# module proxy, through a wrapper module OUTSIDE the repository, and caches the binaries keyed on
# the version: /var/cache/netdoctor/k8s-$VERSION/bin/<component>. A second run only checks the
# cache. Nothing is ever written into the repository.
#
#   test/k8s/build.sh [component...]     (default: kube-apiserver)
#
# Components: kube-apiserver, kube-controller-manager, kube-proxy, kube-scheduler, kubelet, kubectl,
# helm, flanneld (flannel has its own wrapper: the proxy refuses one of its cloud SDK modules).
#
# Environment: NETDOCTOR_K8S_VERSION (v1.37.2), NETDOCTOR_K8S_CACHE (/var/cache/netdoctor).
# Prints the bin directory on stdout as its last line; progress goes to stderr.
set -euo pipefail

version=${NETDOCTOR_K8S_VERSION:-v1.37.2}
cache=${NETDOCTOR_K8S_CACHE:-/var/cache/netdoctor}
staging=v0.${version#v1.}            # v1.37.2 → v0.37.2 (the staging modules' version)
dir=$cache/k8s-$version
bin=$dir/bin
comps=("$@")
((${#comps[@]})) || comps=(kube-apiserver)

mkdir -p "$dir/src" "$bin"
exec 9>"$dir/.lock"
flock 9    # one build at a time, even when several test packages ask at once

# helm is its own module (helm.sh/helm/v3), installed as is: no wrapper needed.
helm_version=${NETDOCTOR_HELM_VERSION:-v3.22.0}
need=()
for c in "${comps[@]}"; do
  if [ "$c" = helm ]; then
    if [ ! -x "$bin/helm-$helm_version" ]; then
      echo "build.sh: building helm $helm_version…" >&2
      GOFLAGS= GOWORK=off CGO_ENABLED=0 GOBIN="$dir/helm-gobin" go install "helm.sh/helm/v3/cmd/helm@$helm_version" >&2
      mv "$dir/helm-gobin/helm" "$bin/helm-$helm_version"
    fi
    ln -sf "helm-$helm_version" "$bin/helm"
    continue
  fi
  if [ "$c" = flanneld ]; then
    flannel_version=${NETDOCTOR_FLANNEL_VERSION:-v0.28.10}
    if [ ! -x "$bin/flanneld-$flannel_version" ]; then
      echo "build.sh: building flanneld $flannel_version…" >&2
      mkdir -p "$dir/flannel-src"
      (
        cd "$dir/flannel-src"
        # The tencent backend is never used; the proxy refuses the vpc module version flannel pins.
        printf 'module netdoctor.dev/flannel-wrapper\n\ngo 1.26\n\nrequire github.com/flannel-io/flannel %s\n\nreplace github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc => github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc v1.0.1000\n' "$flannel_version" >go.mod
        printf 'package main\n\nimport _ "github.com/flannel-io/flannel"\n' >tools.go
        GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 go mod tidy >"$dir/flannel-tidy.log" 2>&1 || true
        GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X github.com/flannel-io/flannel/pkg/version.Version=$flannel_version" \
          -o "$bin/.flanneld.tmp" github.com/flannel-io/flannel >&2
      )
      mv "$bin/.flanneld.tmp" "$bin/flanneld-$flannel_version"
    fi
    ln -sf "flanneld-$flannel_version" "$bin/flanneld"
    continue
  fi
  [ -x "$bin/$c" ] || need+=("$c")
done
if ((${#need[@]} == 0)); then echo "$bin"; exit 0; fi

cd "$dir/src"
# The replace block mirrors k8s.io/kubernetes' own (./staging/src/k8s.io/X → k8s.io/X $staging),
# minus sample-cli-plugin and sample-controller, which the proxy refuses and nothing needs.
mods=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
      cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
      cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt
      kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
      mount-utils pod-security-admission sample-apiserver streaming)
{
  echo "module netdoctor.dev/k8s-wrapper"
  echo
  echo "go 1.26"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  echo "replace ("
  for m in "${mods[@]}"; do echo "	k8s.io/$m => k8s.io/$m $staging"; done
  echo ")"
} >go.mod

mkmain() { # component, import path of app, constructor expression
  mkdir -p "$1"
  cat >"$1/main.go" <<GO
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"$2"
)

func main() { os.Exit(cli.Run($3)) }
GO
}
for c in "${need[@]}"; do
  case $c in
    kube-apiserver) mkmain kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver/app "app.NewAPIServerCommand()" ;;
    kube-controller-manager) mkmain kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager/app "app.NewControllerManagerCommand()" ;;
    kube-proxy) mkmain kube-proxy k8s.io/kubernetes/cmd/kube-proxy/app "app.NewProxyCommand()" ;;
    kube-scheduler) mkmain kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler/app "app.NewSchedulerCommand()" ;;
    kubelet) mkmain kubelet k8s.io/kubernetes/cmd/kubelet/app "app.NewKubeletCommand(context.Background())"
      sed -i 's|^import (|import (\n\t"context"|' kubelet/main.go ;;
    kubectl)
      mkdir -p kubectl
      cat >kubectl/main.go <<'GO'
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
GO
      ;;
    *) echo "build.sh: unknown component $c" >&2; exit 2 ;;
  esac
done

export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
major=${version#v}; major=${major%%.*}
minor=${version#v*.}; minor=${minor%%.*}
ld="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor"
ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$version"
echo "build.sh: resolving modules for kubernetes $version (first run only)…" >&2
go mod tidy >&2 2>"$dir/tidy.log" || { cat "$dir/tidy.log" >&2; exit 1; }
for c in "${need[@]}"; do
  echo "build.sh: building $c $version (cold: ~3.5 min on 2 cores; cached afterwards in $bin)…" >&2
  start=$(date +%s)
  go build -trimpath -ldflags "$ld" -o "$bin/.$c.tmp" "./$c"
  mv "$bin/.$c.tmp" "$bin/$c"
  echo "build.sh: $c built in $(( $(date +%s) - start )) s" >&2
done
echo "$bin"
