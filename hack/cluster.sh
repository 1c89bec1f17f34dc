#!/usr/bin/env bash
# Starts or stops a local control plane: etcd and kube-apiserver from
# bin/k8s, running in the background, with RBAC on and an admin kubeconfig
# at bin/cluster/kubeconfig. There is no kubelet, scheduler or
# controller-manager: objects are stored and served, Pods never run, and no
# garbage collector deletes dependents.
#
#   hack/cluster.sh up      start (idempotent; waits until /readyz is ok)
#   hack/cluster.sh down    stop and delete all state
#   hack/cluster.sh status  print whether it runs
#   hack/cluster.sh stop-apiserver|start-apiserver|stop-etcd|start-etcd
#                           stop one component, keeping its state, or start
#                           it again (fault tests)
#
# Directory: CLUSTER_DIR (default bin/cluster). Ports: CLUSTER_ETCD_PORT
# (default 32379), CLUSTER_API_PORT (default 36443).
#
# Whoever runs bin/manager against the control plane (test/internal/harness
# for the e2e suite and the benchmark, hack/demo.sh) records its pid in
# CLUSTER_DIR/manager.pid; "down" stops that manager too if it still runs,
# so that a run that was killed before its cleanup does not leave it behind.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${CLUSTER_DIR:-$root/bin/cluster}
k8s=$root/bin/k8s
etcd_port=${CLUSTER_ETCD_PORT:-32379}
etcd_peer_port=$((etcd_port + 1))
api_port=${CLUSTER_API_PORT:-36443}
# hack/node.sh sets these four: the address the API server binds to and
# is reached at (a bridge address that pods can reach), more names for its
# certificate, more kube-apiserver flags (word-split) and the authorization
# modes (Node,RBAC for a cluster with a kubelet).
api_address=${CLUSTER_API_ADDRESS:-127.0.0.1}
api_sans=${CLUSTER_API_SANS:-}
read -r -d '' -a extra_flags <<< "${CLUSTER_APISERVER_FLAGS:-}" || true
authorization_mode=${CLUSTER_AUTHORIZATION_MODE:-RBAC}

# running NAME: the process in NAME.pid runs and names this directory in
# its command line (a pid file from before a reboot may name another
# process now, which stop must not kill).
running() {
  local pid
  [[ -f "$dir/$1.pid" ]] || return 1
  pid=$(cat "$dir/$1.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  # Without /proc (not Linux) the pid is trusted.
  [[ -r "/proc/$pid/cmdline" ]] || return 0
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$dir"
}

# stop_manager kills the manager recorded in manager.pid, only if that pid
# still runs bin/manager: the check reads /proc, so elsewhere than on Linux
# it does nothing. A binary rebuilt since it started reads "<path> (deleted)".
stop_manager() {
  local pid_file=$dir/manager.pid pid exe
  [[ -f "$pid_file" ]] || return 0
  pid=$(cat "$pid_file")
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || exe=
  if [[ -n "$exe" && "$exe" == "$(readlink -f "$root/bin/manager")"* ]]; then
    echo "cluster: stopping the manager (pid $pid) that still runs against it" >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
}

stop() {
  stop_manager
  stop_one kube-apiserver
  stop_one etcd
}

make_pki() {
  local pki=$dir/pki
  mkdir -p "$pki"
  [[ -f "$pki/admin.crt" ]] && return
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=certsmith-local-cluster-ca" -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:%s,DNS:localhost,DNS:kubernetes.default.svc%s\nextendedKeyUsage=serverAuth\n' \
    "$api_address" "${api_sans:+,$api_sans}" > "$pki/apiserver.ext"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 365 -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=system:masters/CN=admin" \
    -keyout "$pki/admin.key" -out "$pki/admin.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' > "$pki/admin.ext"
  openssl x509 -req -in "$pki/admin.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 365 -extfile "$pki/admin.ext" -out "$pki/admin.crt" 2>/dev/null
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key" 2>/dev/null
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
}

write_kubeconfig() {
  local pki=$dir/pki
  cat > "$dir/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://$api_address:$api_port
    certificate-authority: $pki/ca.crt
users:
- name: admin
  user:
    client-certificate: $pki/admin.crt
    client-key: $pki/admin.key
contexts:
- name: local
  context:
    cluster: local
    user: admin
current-context: local
KUBECONFIG
}

# stop_one NAME: stops etcd or kube-apiserver (SIGTERM, then SIGKILL after
# 10 s), keeping its state, so that start_NAME brings it back.
stop_one() {
  local p=$1
  if running "$p"; then
    kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do running "$p" || break; sleep 0.2; done
    running "$p" && kill -9 "$(cat "$dir/$p.pid")" 2>/dev/null || true
  fi
  rm -f "$dir/$p.pid"
}

start_etcd() {
  running etcd && return
  "$k8s/etcd" --name local --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "local=http://127.0.0.1:$etcd_peer_port" \
    --unsafe-no-fsync --log-level warn >> "$dir/etcd.log" 2>&1 &
  echo $! > "$dir/etcd.pid"
  # kube-apiserver gives etcd 20 s; wait for etcd first, so that an etcd
  # that cannot start (its port taken by a leftover process, say) is
  # reported as such, with its log.
  echo -n "cluster: waiting for etcd on 127.0.0.1:$etcd_port"
  for _ in $(seq 1 60); do
    if ! running etcd; then
      echo; echo "cluster: etcd exited; see $dir/etcd.log" >&2; tail -20 "$dir/etcd.log" >&2; exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$etcd_port") 2>/dev/null; then
      echo " ready"
      return
    fi
    echo -n .; sleep 0.5
  done
  echo; echo "cluster: etcd did not open its port; see $dir/etcd.log" >&2
  exit 1
}

# start_apiserver [wait]: starts kube-apiserver; with "wait" (the default)
# it waits until /readyz is ok, which needs etcd.
start_apiserver() {
  local pki=$dir/pki
  if ! running kube-apiserver; then
    "$k8s/kube-apiserver" \
      --etcd-servers "http://127.0.0.1:$etcd_port" \
      --bind-address "$api_address" --advertise-address "$api_address" --secure-port "$api_port" \
      --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
      --client-ca-file "$pki/ca.crt" \
      --service-account-issuer https://kubernetes.default.svc \
      --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
      --service-cluster-ip-range 10.0.0.0/16 \
      --authorization-mode "$authorization_mode" \
      --cert-dir "$dir/apiserver-certs" \
      --allow-privileged=true \
      --endpoint-reconciler-type none \
      "${extra_flags[@]}" \
      --v=0 >> "$dir/kube-apiserver.log" 2>&1 &
    echo $! > "$dir/kube-apiserver.pid"
  fi
  echo -n "cluster: waiting for kube-apiserver on $api_address:$api_port"
  for _ in $(seq 1 120); do
    if "$k8s/kubectl" --kubeconfig "$dir/kubeconfig" get --raw /readyz >/dev/null 2>&1; then
      echo " ready"
      echo "cluster: export KUBECONFIG=$dir/kubeconfig"
      return
    fi
    if ! running kube-apiserver; then
      echo; echo "cluster: kube-apiserver exited; see $dir/kube-apiserver.log" >&2; tail -20 "$dir/kube-apiserver.log" >&2; exit 1
    fi
    echo -n .; sleep 1
  done
  echo; echo "cluster: kube-apiserver did not become ready; see $dir/kube-apiserver.log" >&2
  exit 1
}

start() {
  for b in etcd kube-apiserver kubectl; do
    [[ -x "$k8s/$b" ]] || { echo "cluster: $k8s/$b is missing; run 'make k8s-binaries'" >&2; exit 1; }
  done
  mkdir -p "$dir"
  if running kube-apiserver && running etcd; then
    echo "cluster: already running (KUBECONFIG=$dir/kubeconfig)"
    return
  fi
  stop
  for port in "$etcd_port" "$etcd_peer_port" "$api_port"; do
    if (exec 3<>"/dev/tcp/$api_address/$port") 2>/dev/null || (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "cluster: port $port is already in use (a control plane left over from an earlier run?); stop it or set other ports" >&2
      exit 1
    fi
  done
  make_pki
  write_kubeconfig
  : > "$dir/etcd.log"
  : > "$dir/kube-apiserver.log"
  start_etcd
  start_apiserver
}

case "${1:-}" in
  up) start ;;
  down) stop; rm -rf "$dir"; echo "cluster: stopped" ;;
  status) if running kube-apiserver && running etcd; then echo "cluster: running"; else echo "cluster: stopped"; exit 1; fi ;;
  # For fault tests: stop one component, keeping all state, and start it again.
  stop-apiserver) stop_one kube-apiserver; echo "cluster: kube-apiserver stopped" ;;
  start-apiserver) start_apiserver ;;
  stop-etcd) stop_one etcd; echo "cluster: etcd stopped" ;;
  start-etcd) start_etcd ;;
  *) echo "usage: $0 up|down|status|stop-apiserver|start-apiserver|stop-etcd|start-etcd" >&2; exit 2 ;;
esac
