#!/usr/bin/env bash
# Writes a kubeconfig that authenticates as the operator's ServiceAccount,
# certsmith-system/certsmith-controller-manager, with a short-lived token.
#
# The manager runs outside the cluster in the demo and the e2e suite; with
# this kubeconfig it has exactly the permissions of the RBAC generated into
# config/rbac (applied by config/default), not the admin's, so a missing or
# excessive permission fails there instead of in a user's cluster.
#
#   hack/e2e-operator-kubeconfig.sh ADMIN_KUBECONFIG OUTPUT [TOKEN_DURATION]
#
# The server and its CA are copied from ADMIN_KUBECONFIG; TOKEN_DURATION
# defaults to 2h. config/default must already be applied.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 ADMIN_KUBECONFIG OUTPUT [TOKEN_DURATION]" >&2
  exit 2
fi
admin_kubeconfig=$1
output=$2
token_duration=${3:-2h}

root=$(cd "$(dirname "$0")/.." && pwd)
kubectl=${KUBECTL:-$root/bin/k8s/kubectl}
namespace=certsmith-system
service_account=certsmith-controller-manager

admin() { "$kubectl" --kubeconfig "$admin_kubeconfig" "$@"; }

server=$(admin config view --minify -o jsonpath='{.clusters[0].cluster.server}')
ca_file=$(admin config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')
if [[ -z "$server" || -z "$ca_file" ]]; then
  echo "$0: $admin_kubeconfig has no server or certificate-authority file" >&2
  exit 1
fi
token=$(admin create token "$service_account" -n "$namespace" --duration "$token_duration")

# The token is a credential: keep the file private to this user.
umask 077
rm -f "$output"
out() { "$kubectl" --kubeconfig "$output" "$@" >/dev/null; }
out config set-cluster local --server "$server" --certificate-authority "$ca_file" --embed-certs
out config set-credentials "$service_account" --token "$token"
out config set-context local --cluster local --user "$service_account" --namespace "$namespace"
out config use-context local
