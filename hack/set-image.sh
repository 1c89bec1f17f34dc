#!/usr/bin/env bash
# Sets the manager's image in a kustomization's images entry, as
# "make deploy IMG=..." does for config/manager/kustomization.yaml:
#
#   hack/set-image.sh IMAGE [KUSTOMIZATION]
#   hack/set-image.sh --print IMAGE      print "NAME newTag TAG" or "NAME digest DIGEST"
#
# IMAGE is a reference as docker and the kubelet read it:
#
#   certsmith                          name certsmith, tag latest
#   certsmith:v1                       name certsmith, tag v1
#   registry:5000/certsmith            name registry:5000/certsmith, tag latest
#   registry:5000/team/certsmith:v1    name registry:5000/team/certsmith, tag v1
#   registry/certsmith@sha256:<hex>    name registry/certsmith, digest sha256:<hex>
#   registry/certsmith:v1@sha256:<hex> the same: a digest wins over a tag
#
# The tag is what follows the last ':' only if that part has no '/' (a ':'
# before a '/' is a registry's port); without a tag or digest the tag is
# "latest", as docker pull assumes. test/manifests runs this on examples.
set -euo pipefail

usage() { echo "usage: $0 IMAGE [KUSTOMIZATION] | $0 --print IMAGE" >&2; exit 2; }

print=false
if [[ "${1:-}" == --print ]]; then
  print=true
  shift
  [[ $# -eq 1 ]] || usage
fi
[[ $# -ge 1 && $# -le 2 ]] || usage
image=$1
kustomization=${2:-$(cd "$(dirname "$0")/.." && pwd)/config/manager/kustomization.yaml}

fail() { echo "$0: $image: $*" >&2; exit 1; }

# Only what an image reference may hold, which also keeps sed's replacement
# below free of its special characters.
[[ "$image" =~ ^[A-Za-z0-9._/:@-]+$ ]] || fail "not an image reference (want [registry[:port]/]name[:tag][@digest])"

name=$image field=newTag value=latest
if [[ "$name" == *@* ]]; then
  value=${name#*@} name=${name%%@*} field=digest
  [[ "$value" =~ ^[a-z0-9]+([+._-][a-z0-9]+)*:[A-Za-z0-9=_-]{32,}$ ]] || fail "the digest '$value' is not algorithm:hex"
fi
last=${name##*:}
if [[ "$name" == *:* && "$last" != */* ]]; then
  name=${name%:*}
  [[ -n "$last" ]] || fail "the tag after ':' is empty"
  [[ "$last" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || fail "the tag '$last' is not a valid tag"
  # A digest wins over a tag, as it does for the container runtime.
  [[ $field == digest ]] || value=$last
fi
[[ -n "$name" && "$name" != */ && "$name" != /* && "$name" != *//* ]] || fail "the name is empty or has an empty path component"
# What is left of a ':' in the name is a registry's port: host:port/path.
[[ "$name" != *:* || "$name" =~ ^[^/:]+:[0-9]+/[^:]+$ ]] || fail "a ':' in the name must be a registry's port (host:port/name)"

if $print; then
  echo "$name $field $value"
  exit 0
fi

[[ -f "$kustomization" ]] || fail "no kustomization at $kustomization"
grep -q '^  newName: ' "$kustomization" || fail "$kustomization has no images entry with newName"
# The entry holds newTag or digest, never both: replace whichever is there.
sed -i.bak -e "s|^  newName: .*|  newName: $name|" \
  -e "s|^  newTag: .*|  $field: $value|" -e "s|^  digest: .*|  $field: $value|" "$kustomization"
rm -f "$kustomization.bak"
echo "$kustomization: image $name $field $value"
