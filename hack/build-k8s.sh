#!/usr/bin/env bash
# Builds the Kubernetes binaries that the tests and the demo run against:
# kube-apiserver, etcd and kubectl, and kube-controller-manager,
# kube-scheduler and kubelet for the one-node cluster (hack/node.sh), at the Kubernetes version that matches the
# k8s.io/api version in go.mod, from the Go module proxy.
#
# setup-envtest cannot be used on machines without internet access (it
# downloads prebuilt binaries from a bucket), so this script compiles the same
# binaries from source. A cold build takes about 15 minutes on two cores.
#
# The binaries land in bin/k8s/ and a copy is kept in a per-user cache
# (${XDG_CACHE_HOME:-~/.cache}/certsmith/k8s/<version>) so that a fresh clone
# on the same machine reuses them. The script is idempotent: it only rebuilds
# when the version changes or a binary is missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

api_version=$(sed -nE 's/^[[:space:]]*(require[[:space:]]+)?k8s[.]io[/]api[[:space:]]+(v[0-9.]+).*/\2/p' go.mod | head -n1)
if [[ -z "$api_version" ]]; then
  echo "build-k8s: k8s.io/api not found in go.mod" >&2
  exit 1
fi
# k8s.io/api v0.37.2 belongs to Kubernetes v1.37.2.
k8s_version="v1.${api_version#v0.}"
staging_version="$api_version"
etcd_version=${ETCD_VERSION:-v3.7.0}

cache_root=${CERTSMITH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/certsmith}
cache="$cache_root/k8s/$k8s_version"
out="$root/bin/k8s"
binaries=(kube-apiserver etcd kubectl kube-controller-manager kube-scheduler kubelet)

have_all() {
  local dir=$1
  for b in "${binaries[@]}"; do [[ -x "$dir/$b" ]] || return 1; done
  [[ "$(cat "$dir/VERSION" 2>/dev/null)" == "$k8s_version" ]]
}

if have_all "$out"; then
  echo "build-k8s: $k8s_version already in bin/k8s"
  exit 0
fi

if ! have_all "$cache"; then
  echo "build-k8s: building kube-apiserver, etcd, kubectl, kube-controller-manager, kube-scheduler and kubelet $k8s_version (etcd $etcd_version) from source; a cold build takes about 15 minutes on two cores"
  work="$cache_root/k8s/build-$k8s_version"
  rm -rf "$work"
  mkdir -p "$work/etcd"
  cd "$work"

  {
    echo "module certsmith.local/k8sbuild"
    echo
    echo "go 1.26"
    echo
    echo "replace ("
    for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go \
      cloud-provider cluster-bootstrap code-generator component-base component-helpers \
      controller-manager cri-api cri-client cri-streaming csi-translation-lib \
      dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator \
      kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics \
      mount-utils pod-security-admission sample-apiserver sample-cli-plugin \
      sample-controller streaming; do
      echo "	k8s.io/$m => k8s.io/$m $staging_version"
    done
    echo ")"
  } > go.mod

  cat > etcd/main.go <<'GO'
// Command etcd runs the etcd server from its library entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO

  echo "build-k8s: resolving modules"
  # go get on the command packages records every module they need.
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$k8s_version" \
    "k8s.io/kubernetes/cmd/kubectl@$k8s_version" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@$k8s_version" \
    "k8s.io/kubernetes/cmd/kube-scheduler@$k8s_version" \
    "k8s.io/kubernetes/cmd/kubelet@$k8s_version" \
    "go.etcd.io/etcd/server/v3/etcdmain@$etcd_version"

  minor=$(echo "$k8s_version" | cut -d. -f2)
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$now"
  done
  mkdir -p out
  export CGO_ENABLED=0
  # One go build for the five Kubernetes commands: their shared packages
  # compile once. kube-controller-manager, kube-scheduler and the kubelet
  # are for the one-node cluster (they build without cgo, like the others).
  echo "build-k8s: [1/2] kube-apiserver, kubectl, kube-controller-manager, kube-scheduler, kubelet"
  go build -trimpath -ldflags "-s -w $ldflags" -o out/ k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet
  echo "build-k8s: [2/2] etcd"
  go build -trimpath -ldflags "-s -w" -o out/etcd ./etcd
  echo "$k8s_version" > out/VERSION

  rm -rf "$cache"
  mkdir -p "$(dirname "$cache")"
  mv out "$cache"
  cd "$root"
  rm -rf "$work"
fi

mkdir -p "$out"
for b in "${binaries[@]}"; do cp "$cache/$b" "$out/$b"; done
cp "$cache/VERSION" "$out/VERSION"
echo "build-k8s: $k8s_version ready in bin/k8s"
