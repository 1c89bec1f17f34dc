#!/usr/bin/env bash
# Runs certsmith for real, end to end, on a throwaway local control plane
# (run by "make demo", after "make build k8s-binaries"):
#
#   1. starts etcd + kube-apiserver in bin/demo-cluster on ports of its own,
#      so it never collides with "make cluster-up";
#   2. applies config/default (CRDs, namespace, ServiceAccount, generated RBAC);
#   3. runs bin/manager in the background as that ServiceAccount, not as
#      admin (log: bin/demo-cluster/manager.log);
#   4. makes with openssl the CA that the sample ClusterIssuer "imported"
#      imports (Secret certsmith-system/imported-ca), applies config/samples
#      and waits for every sample ClusterIssuer and the ServiceCertificate
#      to become Ready;
#   5. checks the issued certificate with openssl: prints it, verifies it
#      against the distributed CA and does a real TLS handshake that checks
#      the hostname web.demo.svc.cluster.local.
#
# Everything it starts is stopped on exit, success or not; a failure exits
# non-zero and shows the end of the manager's log. Safe to run again.
#
# Environment: DEMO_ETCD_PORT (default 42379), DEMO_API_PORT (46443),
# DEMO_PROBE_PORT (48081, the manager's health probes).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export CLUSTER_DIR=$root/bin/demo-cluster
export CLUSTER_ETCD_PORT=${DEMO_ETCD_PORT:-42379}
export CLUSTER_API_PORT=${DEMO_API_PORT:-46443}
probe_port=${DEMO_PROBE_PORT:-48081}
crl_port=${DEMO_CRL_PORT:-48089}

kubectl_bin=$root/bin/k8s/kubectl
manager_bin=$root/bin/manager
manager_log=$CLUSTER_DIR/manager.log
manager_pid_file=$CLUSTER_DIR/manager.pid
host=web.demo.svc.cluster.local
# The ClusterIssuers in config/samples.
issuers=(selfsigned platform-root platform-intermediate imported serving)

# Bold and green only on a terminal, so that logs of "make demo" stay plain.
bold= green= plain=
if [[ -t 1 ]]; then bold=$'\033[1m' green=$'\033[1;32m' plain=$'\033[0m'; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
fail() { echo "demo: $*" >&2; exit 1; }
kubectl() { "$kubectl_bin" --kubeconfig "$CLUSTER_DIR/kubeconfig" "$@"; }

# hack/cluster.sh checks etcd, kube-apiserver and kubectl itself.
[[ -x "$manager_bin" ]] || fail "$manager_bin is missing; run 'make build'"
for tool in openssl curl base64; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done

work_dir=
manager_pid=
server_pid=
cleanup() {
  local rc=$?
  set +e
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  if [[ -n "$manager_pid" ]]; then
    kill "$manager_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$manager_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$manager_pid" 2>/dev/null
    wait "$manager_pid" 2>/dev/null
  fi
  if [[ $rc -ne 0 && -f "$manager_log" ]]; then
    echo >&2
    echo "demo: FAILED (exit $rc). Last lines of the manager log:" >&2
    tail -n 40 "$manager_log" >&2
    cp "$manager_log" "$root/bin/demo-manager.log"
    echo "demo: the whole manager log is in bin/demo-manager.log" >&2
  fi
  [[ -n "$work_dir" ]] && rm -rf "$work_dir"
  hack/cluster.sh down >/dev/null
  exit "$rc"
}
trap cleanup EXIT

step "Starting a local control plane in bin/demo-cluster (API server on 127.0.0.1:$CLUSTER_API_PORT)"
# Start from nothing: a previous run that was killed may have left state,
# and a manager, which "down" stops (it finds it in manager.pid).
rm -f "$root/bin/demo-manager.log"
hack/cluster.sh down >/dev/null
hack/cluster.sh up

step "Installing certsmith: kubectl apply -k config/default"
kubectl apply -k config/default
kubectl wait --for=condition=Established --timeout=60s \
  crd/clusterissuers.certsmith.io crd/servicecertificates.certsmith.io \
  crd/certificaterevocations.certsmith.io crd/clustercertificaterevocations.certsmith.io

step "Starting bin/manager as the ServiceAccount certsmith-system/certsmith-controller-manager"
hack/e2e-operator-kubeconfig.sh "$CLUSTER_DIR/kubeconfig" "$CLUSTER_DIR/operator.kubeconfig"
KUBECONFIG=$CLUSTER_DIR/operator.kubeconfig "$manager_bin" \
  --leader-elect=false --metrics-bind-address=0 \
  --health-probe-bind-address="127.0.0.1:$probe_port" \
  --crl-bind-address="127.0.0.1:$crl_port" \
  --namespace certsmith-system --cluster-domain cluster.local \
  >"$manager_log" 2>&1 &
manager_pid=$!
# hack/cluster.sh down stops it from this file if this script cannot.
echo "$manager_pid" >"$manager_pid_file"
echo -n "waiting for the manager's readiness probe"
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$probe_port/readyz" >/dev/null 2>&1 && break
  kill -0 "$manager_pid" 2>/dev/null || { echo; fail "the manager exited"; }
  echo -n .; sleep 1
done
curl -fsS "http://127.0.0.1:$probe_port/readyz" >/dev/null || { echo; fail "the manager did not become ready"; }
echo " ready"
grep -m1 '"starting"' "$manager_log" || true

work_dir=$(mktemp -d)

step "Making the CA for the sample ClusterIssuer imported with openssl: Secret certsmith-system/imported-ca"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/CN=Imported Root CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -addext subjectKeyIdentifier=hash \
  -keyout "$work_dir/imported-ca.key" -out "$work_dir/imported-ca.crt" 2>/dev/null \
  || fail "openssl could not make the imported CA"
openssl x509 -in "$work_dir/imported-ca.crt" -noout -subject -enddate
kubectl -n certsmith-system create secret tls imported-ca \
  --cert="$work_dir/imported-ca.crt" --key="$work_dir/imported-ca.key"

step "Applying the samples: kubectl apply -k config/samples"
kubectl apply -k config/samples
kubectl wait --for=condition=Ready --timeout=120s "${issuers[@]/#/clusterissuer/}" || {
  kubectl get clusterissuers -o 'custom-columns=NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,REASON:.status.conditions[?(@.type=="Ready")].reason,MESSAGE:.status.conditions[?(@.type=="Ready")].message' >&2
  fail "not every sample ClusterIssuer became Ready"
}
kubectl wait --for=condition=Ready --timeout=120s -n demo servicecertificate/web

step "kubectl get clusterissuers"
kubectl get clusterissuers
step "kubectl get servicecertificates -A"
kubectl get servicecertificates -A

step "The certificate in Secret demo/web-tls"
for key in tls.crt tls.key ca.crt; do
  kubectl get secret web-tls -n demo -o "jsonpath={.data.${key//./\\.}}" | base64 -d >"$work_dir/$key"
done
openssl x509 -in "$work_dir/tls.crt" -noout -subject -issuer -dates -ext subjectAltName

step "openssl verify -x509_strict -CAfile ca.crt tls.crt"
(cd "$work_dir" && openssl verify -x509_strict -CAfile ca.crt tls.crt)

step "TLS handshake: openssl s_server with the Secret's certificate, s_client checking $host"
# Port 0: the kernel picks a free port and s_server prints it ("ACCEPT 127.0.0.1:PORT").
openssl s_server -accept 127.0.0.1:0 -cert "$work_dir/tls.crt" -key "$work_dir/tls.key" -www \
  >"$work_dir/s_server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 1 50); do
  port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work_dir/s_server.log")
  [[ -n "$port" ]] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n "$port" ]] || { cat "$work_dir/s_server.log" >&2; fail "openssl s_server did not start"; }
echo "s_server listening on 127.0.0.1:$port"
openssl s_client -connect "127.0.0.1:$port" -servername "$host" \
  -verify_return_error -verify_hostname "$host" -CAfile "$work_dir/ca.crt" \
  </dev/null >"$work_dir/s_client.log" 2>&1 \
  || { cat "$work_dir/s_client.log" >&2; fail "the TLS handshake failed"; }
grep -E '^(depth=|Verified peername:)|Cipher is|Verify return code:' "$work_dir/s_client.log" \
  | sed 's/^ *//' | awk '!seen[$0]++'
grep -q 'Verify return code: 0 (ok)' "$work_dir/s_client.log" \
  || { cat "$work_dir/s_client.log" >&2; fail "s_client did not verify the certificate"; }

step "Revoking it: a CertificateRevocation (keyCompromise) for demo/web"
cp "$work_dir/tls.crt" "$work_dir/revoked.crt"
kubectl apply -f - <<'YAML'
apiVersion: certsmith.io/v1alpha1
kind: CertificateRevocation
metadata:
  name: web-key-leaked
  namespace: demo
spec:
  serviceCertificateName: web
  reason: keyCompromise
YAML
# Published: the CRL lists it (at most ten seconds after the revocation).
kubectl wait --for=jsonpath='{.status.conditions[?(@.type=="Revoked")].reason}'=Published \
  --timeout=60s -n demo certificaterevocation/web-key-leaked
kubectl get certificaterevocation -n demo web-key-leaked

step "The CRL over HTTP: curl http://127.0.0.1:$crl_port/crl/selfsigned.pem"
curl -fsS "http://127.0.0.1:$crl_port/crl/selfsigned.pem" >"$work_dir/crl.pem"
openssl crl -in "$work_dir/crl.pem" -noout -text | grep -E 'Issuer:|Next Update:|X509v3 CRL Number|Serial Number:|CRL Reason Code' -A1 | grep -v '^--$' | sed 's/^ *//' | awk '!seen[$0]++'

step "openssl verify -crl_check: the revoked certificate is refused"
if (cd "$work_dir" && openssl verify -crl_check -CRLfile crl.pem -CAfile ca.crt revoked.crt) >"$work_dir/verify-revoked.log" 2>&1; then
  cat "$work_dir/verify-revoked.log" >&2
  fail "openssl accepted the revoked certificate"
fi
grep -m1 'certificate revoked' "$work_dir/verify-revoked.log" || { cat "$work_dir/verify-revoked.log" >&2; fail "openssl refused the certificate, but not as revoked"; }

step "The re-issued certificate (a new key) passes the same check"
kubectl wait --for=jsonpath='{.status.revision}'=2 --timeout=60s -n demo servicecertificate/web
kubectl get secret web-tls -n demo -o 'jsonpath={.data.tls\.crt}' | base64 -d >"$work_dir/reissued.crt"
(cd "$work_dir" && openssl verify -crl_check -CRLfile crl.pem -CAfile ca.crt reissued.crt)

printf '\n%sdemo: success: certsmith issued a certificate for %s that verifies against its CA in a real TLS handshake, revoked it into a CRL that openssl checks, and re-issued it.%s\n' \
  "$green" "$host" "$plain"
