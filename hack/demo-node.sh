#!/usr/bin/env bash
# "make demo NODE=1": certsmith as users run it, on a one-node cluster of
# this machine (hack/node.sh; needs root), ending with two pods that talk
# TLS through certsmith's certificate and bundle:
#
#   1. builds the manager and test workload images (OCI archives, no
#      registry) and starts the node in bin/demo-node: etcd, kube-apiserver,
#      kube-controller-manager, kube-scheduler, containerd, kubelet;
#   2. deploys certsmith from config/default, with the local image, and
#      waits for the Deployment's readiness probe;
#   3. creates a ClusterIssuer whose bundle goes to every namespace, a
#      Service and its ServiceCertificate;
#   4. starts a server pod that mounts the certificate's Secret and a client
#      pod that trusts only the bundle (from a clusterTrustBundle projected
#      volume) and checks the host name, and shows the client's handshakes.
#
# Everything is stopped on exit, success or not, unless DEMO_KEEP=1 (then:
# KUBECONFIG=bin/demo-node/kubeconfig, and "NODE_DIR=bin/demo-node
# hack/node.sh down"). hack/node.sh refuses to start while another node runs.
# Environment: DEMO_NODE_ETCD_PORT (default 47379), DEMO_NODE_API_PORT (47443).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export NODE_DIR=$root/bin/demo-node
export NODE_ETCD_PORT=${DEMO_NODE_ETCD_PORT:-47379}
export NODE_API_PORT=${DEMO_NODE_API_PORT:-47443}
ns=demo
host=web.$ns.svc

bold= green= plain=
if [[ -t 1 ]]; then bold=$'\033[1m' green=$'\033[1;32m' plain=$'\033[0m'; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
fail() { echo "demo: $*" >&2; exit 1; }
kubectl() { "$root/bin/k8s/kubectl" --kubeconfig "$NODE_DIR/kubeconfig" "$@"; }

[[ $(id -u) == 0 ]] || fail "the node demo needs root (containerd, the kubelet and a network bridge); plain 'make demo' does not"
command -v curl >/dev/null || fail "curl is not installed (the demo reads the client pod's status with it)"

overlay=
cleanup() {
  local rc=$?
  set +e
  [[ -n "$overlay" ]] && rm -rf "$overlay"
  if ((rc != 0)) && [[ -f "$NODE_DIR/kubeconfig" ]]; then
    echo "demo: failed; the manager's log ends with:" >&2
    kubectl -n certsmith-system logs deployment/certsmith-controller-manager --tail=20 >&2
    kubectl get pods -A -o wide >&2
  fi
  if [[ "${DEMO_KEEP:-}" == 1 ]]; then
    echo "demo: the node keeps running: export KUBECONFIG=$NODE_DIR/kubeconfig; stop it with NODE_DIR=$NODE_DIR hack/node.sh down"
  else
    step "Stopping the node"
    hack/node.sh down
  fi
  exit "$rc"
}
trap cleanup EXIT

step "Building the images and starting a one-node cluster in bin/demo-node"
hack/node.sh images
hack/node.sh down >/dev/null 2>&1 || true
hack/node.sh up
kubectl get nodes -o wide

step "Deploying certsmith from config/default (image certsmith.local/manager:node)"
overlay=$(mktemp -d "$root/bin/demo-node-overlay.XXXXXX")
cat > "$overlay/kustomization.yaml" <<YAML
resources:
- $(realpath --relative-to="$overlay" "$root/config/default")
images:
- {name: certsmith/manager, newName: certsmith.local/manager, newTag: node}
YAML
kubectl apply --server-side -k "$overlay" >/dev/null
kubectl -n certsmith-system rollout status deployment/certsmith-controller-manager --timeout=120s
kubectl -n certsmith-system get pods -o wide

step "Creating a ClusterIssuer, the Service $ns/web and its ServiceCertificate"
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: certsmith.io/v1alpha1
kind: ClusterIssuer
metadata: {name: demo-root}
spec:
  ca:
    selfSigned:
      subject: {commonName: certsmith demo root}
  bundle: {}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{name: https, port: 8443}]
---
apiVersion: certsmith.io/v1alpha1
kind: ServiceCertificate
metadata: {name: web, namespace: demo}
spec:
  issuerRef: {name: demo-root}
  service: {name: web}
  secretName: web-tls
YAML
kubectl wait --for=condition=Ready --timeout=60s clusterissuer/demo-root
kubectl -n "$ns" wait --for=condition=Ready --timeout=60s servicecertificate/web
kubectl -n "$ns" get servicecertificate web -o wide

pod() { # pod NAME LABEL ARGS VOLUME
  cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $ns, labels: {app: $2}}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: workload
    image: certsmith.local/workload:node
    args: [$3]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    volumeMounts: [{name: files, mountPath: /files, readOnly: true}]
  volumes:
  - name: files
$4
YAML
}

step "Starting a server pod that mounts the Secret web-tls"
pod server web '"serve", "-cert", "/files/tls.crt", "-key", "/files/tls.key"' "    secret: {secretName: web-tls}" | kubectl apply -f -
kubectl -n "$ns" wait --for=condition=Ready --timeout=90s pod/server
server_ip=$(kubectl -n "$ns" get pod server -o jsonpath='{.status.podIP}')

step "Starting a client pod that trusts only the ClusterTrustBundle of clusterissuers.certsmith.io/demo-root and checks $host"
pod client client "\"client\", \"-ca\", \"/files/ca.crt\", \"-server-name\", \"$host\", \"-addr\", \"$server_ip:8443\"" \
  "    projected:
      sources:
      - clusterTrustBundle:
          signerName: clusterissuers.certsmith.io/demo-root
          labelSelector: {matchLabels: {certsmith.io/bundle-issuer: demo-root}}
          path: ca.crt" | kubectl apply -f -
kubectl -n "$ns" wait --for=condition=Ready --timeout=90s pod/client
client_ip=$(kubectl -n "$ns" get pod client -o jsonpath='{.status.podIP}')

step "The client's handshakes (GET http://$client_ip:9000/status)"
status=
for _ in $(seq 1 30); do
  status=$(curl -s -m 3 "http://$client_ip:9000/status" || true)
  if [[ "$status" == *'"handshakes":'* && "$status" != *'"handshakes":0,'* && "$status" == *'"failures":0,'* && "$status" == *'"peerSerial"'* ]]; then
    break
  fi
  sleep 1
done
echo "$status"
[[ "$status" == *'"failures":0,'* && "$status" == *'"peerSerial"'* ]] || fail "the client did not complete a handshake"
kubectl -n "$ns" logs client --tail=3
kubectl -n "$ns" logs server --tail=3
printf '\n%sdemo: two pods talk TLS with certsmith'"'"'s certificate and bundle%s\n' "$green" "$plain"
