#!/usr/bin/env bash
# Starts or stops a one-node Kubernetes cluster on this machine, for the
# node suite (test/node), "make node-up" and "make demo NODE=1":
#
#   etcd + kube-apiserver   hack/cluster.sh, with Node and RBAC authorization
#                           and the NodeRestriction admission plugin
#   kube-controller-manager garbage collector, namespace controller, CSR
#                           cleaner, ServiceAccount tokens, kube-root-ca.crt
#   kube-scheduler          places the Pods of Deployments
#   containerd + runc       from Debian's packages, with its own config,
#                           state and socket under the node's directory
#   kubelet                 registered as Node "certsmith-node" with its
#                           own client certificate (system:node:...)
#
# Pods get addresses on a bridge of their own (certsmith0, 10.213.0.0/24)
# from the CNI bridge plugin; the API server binds to the bridge's address
# 10.213.0.1. Filter rules (chain CERTSMITH-NODE) drop what other
# interfaces send to the bridge's network and what pods send anywhere but
# the bridge, so traffic stays on this machine. There is no kube-proxy: one
# DNAT rule, for packets from the pods only, does what it would do for the
# one Service pods need, kubernetes.default (10.0.0.1:443). Images cannot be pulled (no registry
# is reachable): hack/node.sh images builds the pause image, the test
# workload and the manager as OCI archives (hack/ociimage, no base image)
# and "up" imports them with ctr.
#
#   hack/node.sh up       start (idempotent); kubeconfig at NODE_DIR/kubeconfig
#   hack/node.sh down     stop, remove the pods' containers, mounts, the
#                         bridge and the DNAT rule, and delete all state
#   hack/node.sh status   print whether it runs
#   hack/node.sh images   build the images into bin/images (NODE_IMAGES_DIR)
#
# Needs root (containerd, the kubelet and the bridge do) and, once, Debian's
# containerd, runc, containernetworking-plugins, iptables and procps
# packages: "up" installs them with apt-get when they are missing. One node
# runs on a machine at a time (the kubelet owns the kubepods cgroups, the
# bridge and the rules are the machine's): "up" refuses while another runs,
# and "down" for another directory leaves the running node's alone.
#
# Directory: NODE_DIR (default bin/node). Ports: NODE_ETCD_PORT (default
# 27379), NODE_API_PORT (default 27443).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd -P)
# Canonical, as /proc/self/mounts names the mounts to undo under it.
dir=$(realpath -m -- "${NODE_DIR:-$root/bin/node}")
[[ "$dir" != *[[:space:]]* ]] || { echo "node: NODE_DIR=$dir has white space, which mount tables escape; choose another" >&2; exit 2; }
[[ "$dir" != / && "$dir" != "$HOME" ]] || { echo "node: NODE_DIR=$dir would be deleted by down; choose a directory of its own" >&2; exit 2; }
# "up" marks the directory; "down" deletes only a marked one.
marker=$dir/.certsmith-node
k8s=$root/bin/k8s
etcd_port=${NODE_ETCD_PORT:-27379}
api_port=${NODE_API_PORT:-27443}
node_name=certsmith-node
bridge=certsmith0
bridge_ip=10.213.0.1
pod_subnet=10.213.0.0/24
service_ip=10.0.0.1
chain=CERTSMITH-NODE
lock=/run/certsmith-node.dir
images_dir=${NODE_IMAGES_DIR:-$root/bin/images}
# The images the node imports. The workload image is also the sandbox
# ("pause") image.
pause_image=certsmith.local/workload:node
manager_image=certsmith.local/manager:node

log() { echo "node: $*" >&2; }
die() { log "$*"; exit 1; }

# pid_of_node PIDFILE NODEDIR: the pid in the file, if that process runs and
# names the node's directory in its command line (a pid file from before a
# reboot may name another process now).
pid_of_node() {
  local pid
  [[ -f "$1" ]] || return 1
  pid=$(cat "$1")
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
  echo "$pid"
}

running() { pid_of_node "$dir/$1.pid" "$dir" >/dev/null; }

# other_node prints the directory of another node whose kubelet runs.
other_node() {
  local other
  [[ -f "$lock" ]] || return 1
  other=$(cat "$lock")
  [[ "$other" != "$dir" ]] && pid_of_node "$other/kubelet.pid" "$other" >/dev/null || return 1
  echo "$other"
}

cluster() {
  CLUSTER_DIR=$dir CLUSTER_ETCD_PORT=$etcd_port CLUSTER_API_PORT=$api_port \
    CLUSTER_API_ADDRESS=$bridge_ip CLUSTER_API_SANS="IP:$service_ip,DNS:kubernetes,DNS:kubernetes.default" \
    CLUSTER_AUTHORIZATION_MODE=Node,RBAC \
    CLUSTER_APISERVER_FLAGS="--enable-admission-plugins NodeRestriction
      --kubelet-client-certificate $dir/pki/admin.crt --kubelet-client-key $dir/pki/admin.key
      --kubelet-preferred-address-types InternalIP" \
    "$root/hack/cluster.sh" "$@"
}

kubectl() { "$k8s/kubectl" --kubeconfig "$dir/kubeconfig" "$@"; }

install_packages() {
  local need=()
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  [[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
  command -v iptables >/dev/null || need+=(iptables)
  command -v ip >/dev/null || need+=(iproute2)
  command -v pkill >/dev/null || need+=(procps)
  ((${#need[@]} == 0)) && return
  log "installing ${need[*]} with apt-get"
  # A fresh machine's unattended upgrades may hold the dpkg lock a while.
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${need[@]}" >/dev/null
}

# build_images writes the OCI archives: the test workload (also the pause
# image) and the manager, static binaries built for this machine.
build_images() {
  mkdir -p "$images_dir"
  (cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$images_dir/workload" ./test/node/workload)
  (cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$images_dir/manager" .)
  (cd "$root" && go build -o "$images_dir/ociimage" ./hack/ociimage)
  "$images_dir/ociimage" -name "$pause_image" -file "$images_dir/workload=/workload" \
    -entrypoint /workload -cmd pause -o "$images_dir/workload.tar"
  "$images_dir/ociimage" -name "$manager_image" -file "$images_dir/manager=/manager" \
    -entrypoint /manager -o "$images_dir/manager.tar"
}

# sign NAME SUBJECT EXT: a key and certificate NAME signed by the cluster CA.
sign() {
  local pki=$dir/pki name=$1 subj=$2 ext=$3
  [[ -f "$pki/$name.crt" ]] && return
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subj" \
    -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" > "$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 365 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
}

# component_kubeconfig NAME: a kubeconfig for the client certificate NAME.
component_kubeconfig() {
  local name=$1
  cat > "$dir/$name.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://$bridge_ip:$api_port
    certificate-authority: $dir/pki/ca.crt
users:
- name: $name
  user:
    client-certificate: $dir/pki/$name.crt
    client-key: $dir/pki/$name.key
contexts:
- name: local
  context: {cluster: local, user: $name}
current-context: local
KUBECONFIG
}

network_up() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    if ip -4 -o addr show | grep -qF " ${bridge_ip}/"; then
      die "$bridge_ip is already an address of this machine ($(ip -4 -o addr show | grep -F " ${bridge_ip}/" | awk '{print $2}')); the node's network would collide with it"
    fi
    ip link add "$bridge" type bridge
  fi
  ip addr replace "$bridge_ip/24" dev "$bridge"
  ip link set "$bridge" up
  # What kube-proxy would do for kubernetes.default, for the pods only:
  # their in-cluster configuration dials 10.0.0.1:443.
  iptables -t nat -N "$chain" 2>/dev/null || iptables -t nat -F "$chain"
  iptables -t nat -A "$chain" -i "$bridge" -s "$pod_subnet" -d "$service_ip/32" -p tcp --dport 443 \
    -j DNAT --to-destination "$bridge_ip:$api_port"
  iptables -t nat -C PREROUTING -j "$chain" 2>/dev/null || iptables -t nat -I PREROUTING -j "$chain"
  # Traffic stays on this machine: nothing from other interfaces reaches
  # the bridge's network, and pods reach nothing but the bridge (the host's
  # own address on it included). Pod to pod is accepted, whatever the
  # FORWARD policy (Docker sets DROP).
  iptables -N "$chain-IN" 2>/dev/null || iptables -F "$chain-IN"
  iptables -A "$chain-IN" -i "$bridge" -j RETURN
  iptables -A "$chain-IN" -i lo -j RETURN
  iptables -A "$chain-IN" -d "$pod_subnet" -j DROP
  iptables -N "$chain-FWD" 2>/dev/null || iptables -F "$chain-FWD"
  iptables -A "$chain-FWD" -i "$bridge" -o "$bridge" -j ACCEPT
  iptables -A "$chain-FWD" -d "$pod_subnet" ! -i "$bridge" -j DROP
  iptables -A "$chain-FWD" -s "$pod_subnet" -i "$bridge" -j DROP
  iptables -C INPUT -j "$chain-IN" 2>/dev/null || iptables -I INPUT -j "$chain-IN"
  iptables -C FORWARD -j "$chain-FWD" 2>/dev/null || iptables -I FORWARD -j "$chain-FWD"
}

network_down() {
  while iptables -t nat -D PREROUTING -j "$chain" 2>/dev/null; do :; done
  iptables -t nat -F "$chain" 2>/dev/null || true
  iptables -t nat -X "$chain" 2>/dev/null || true
  while iptables -D INPUT -j "$chain-IN" 2>/dev/null; do :; done
  while iptables -D FORWARD -j "$chain-FWD" 2>/dev/null; do :; done
  for c in "$chain-IN" "$chain-FWD"; do
    iptables -F "$c" 2>/dev/null || true
    iptables -X "$c" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
}

write_containerd_config() {
  mkdir -p "$dir/containerd" "$dir/cni/net.d" "$dir/cni/ipam"
  cat > "$dir/containerd/config.toml" <<TOML
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$dir/containerd/containerd.sock"
[ttrpc]
  address = "$dir/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  enable_cdi = false
  # Root on this kind of machine may lack CAP_SYS_RESOURCE; lowering a
  # container's oom_score_adj below containerd's own (the kubelet asks -998
  # for sandboxes) then fails in runc ("can't get final child's PID from
  # pipe"). This keeps every container at or above containerd's score.
  restrict_oom_score_adj = true
  # Pods' network namespaces under the state directory, where "down"
  # finds (and unmounts) what a pod left behind; by default they are
  # under /run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
TOML
  cat > "$dir/cni/net.d/10-certsmith.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "certsmith-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$dir/cni/ipam",
        "ranges": [[{"subnet": "$pod_subnet", "rangeStart": "${pod_subnet%.0/24}.10", "gateway": "$bridge_ip"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
JSON
}

write_kubelet_config() {
  mkdir -p "$dir/kubelet" "$dir/pod-logs"
  cat > "$dir/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $bridge_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $dir/pki/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$dir/containerd/containerd.sock
# This machine has cgroup v1 (hybrid): without RuntimeConfig in the CRI the
# kubelet uses the driver set here.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
podLogsDir: $dir/pod-logs
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
# Short periods: a mounted Secret or ConfigMap is refreshed within seconds
# (the default sync is one minute).
syncFrequency: 5s
configMapAndSecretChangeDetectionStrategy: Watch
nodeStatusUpdateFrequency: 5s
serializeImagePulls: false
# The test machine's disk may be fuller than a node's would be; eviction
# would only stop the suite.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
rotateCertificates: false
serverTLSBootstrap: false
YAML
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq 1 "$seconds"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "$what did not happen within ${seconds}s"
}

start_bg() { # start_bg NAME COMMAND...: run in the background, pid in NAME.pid
  local name=$1
  shift
  "$@" > "$dir/$name.log" 2>&1 &
  echo $! > "$dir/$name.pid"
}

up() {
  [[ $(id -u) == 0 ]] || die "the node needs root (containerd, the kubelet and a bridge)"
  for b in kube-controller-manager kube-scheduler kubelet; do
    [[ -x "$k8s/$b" ]] || die "$k8s/$b is missing; run 'make k8s-binaries'"
  done
  local other
  if other=$(other_node); then
    die "another node runs from $other; stop it first (NODE_DIR=$other hack/node.sh down)"
  fi
  if running kubelet && running containerd && cluster status >/dev/null 2>&1; then
    log "already running (KUBECONFIG=$dir/kubeconfig)"
    return
  fi
  # Unix socket paths have at most 107 bytes; containerd's ttrpc socket is
  # the longest the node makes.
  local longest=$dir/containerd/containerd.sock.ttrpc
  ((${#longest} <= 100)) || die "NODE_DIR is too long for containerd's sockets (${#longest} > 100 bytes: $longest); choose a shorter one"
  install_packages
  if [[ -d "$dir" && ! -f "$marker" && -n "$(ls -A "$dir")" ]]; then
    die "$dir exists and is not a node's directory; choose another NODE_DIR"
  fi
  mkdir -p "$dir"
  touch "$marker"
  echo "$dir" > "$lock"
  [[ -f "$images_dir/workload.tar" && -f "$images_dir/manager.tar" ]] || build_images
  network_up
  cluster up
  local pki=$dir/pki
  sign kube-controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
  sign kube-scheduler "/CN=system:kube-scheduler" "extendedKeyUsage=clientAuth"
  sign kubelet "/O=system:nodes/CN=system:node:$node_name" "extendedKeyUsage=clientAuth"
  for c in kube-controller-manager kube-scheduler kubelet; do component_kubeconfig "$c"; done

  running kube-controller-manager || start_bg kube-controller-manager "$k8s/kube-controller-manager" \
    --kubeconfig "$dir/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$dir/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$dir/kube-controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 \
    --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --controllers '*' --terminated-pod-gc-threshold 50 \
    --v=1
  running kube-scheduler || start_bg kube-scheduler "$k8s/kube-scheduler" \
    --kubeconfig "$dir/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$dir/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$dir/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false --v=1

  write_containerd_config
  running containerd || start_bg containerd containerd --config "$dir/containerd/config.toml"
  local ctr=(ctr --address "$dir/containerd/containerd.sock" -n k8s.io)
  wait_for 30 "containerd's socket" "${ctr[@]}" version
  for image in workload manager; do
    "${ctr[@]}" images import --no-unpack=false "$images_dir/$image.tar" >/dev/null
  done

  write_kubelet_config
  running kubelet || start_bg kubelet "$k8s/kubelet" --config "$dir/kubelet.yaml" \
    --kubeconfig "$dir/kubelet.kubeconfig" --root-dir "$dir/kubelet" \
    --hostname-override "$node_name" --node-ip "$bridge_ip" --v=1
  echo -n "node: waiting for Node $node_name to be Ready" >&2
  for i in $(seq 1 120); do
    if kubectl get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True; then
      echo " ready" >&2
      break
    fi
    running kubelet || { echo >&2; tail -30 "$dir/kubelet.log" >&2; die "the kubelet exited; see $dir/kubelet.log"; }
    ((i == 120)) && { echo >&2; tail -30 "$dir/kubelet.log" >&2; die "Node $node_name is not Ready after 120s; see $dir/kubelet.log"; }
    echo -n . >&2
    sleep 1
  done
  wait_for 60 "the default ServiceAccount" kubectl get serviceaccount default -n default
  log "export KUBECONFIG=$dir/kubeconfig"
}

stop_pid() {
  local name=$1
  running "$name" || { rm -f "$dir/$name.pid"; return 0; }
  kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
  for _ in $(seq 1 50); do running "$name" || break; sleep 0.2; done
  running "$name" && kill -9 "$(cat "$dir/$name.pid")" 2>/dev/null || true
  rm -f "$dir/$name.pid"
}

down() {
  [[ $(id -u) == 0 ]] || die "stopping the node needs root"
  if [[ -d "$dir" && ! -f "$marker" && -n "$(ls -A "$dir")" ]]; then
    die "$dir is not a node's directory (no $(basename "$marker")); not touching it"
  fi
  # The bridge, the rules and the kubepods cgroups are the machine's: they
  # go only when no other node runs.
  local other=
  other=$(other_node) || other=
  # No controller may re-create pods meanwhile; then the pods go first, so
  # that the kubelet tears their networks down.
  stop_pid kube-scheduler
  stop_pid kube-controller-manager
  if running kubelet && cluster status >/dev/null 2>&1; then
    kubectl delete pods --all --all-namespaces --grace-period 1 --wait=true --timeout 30s >/dev/null 2>&1 || true
  fi
  stop_pid kubelet
  local sock=$dir/containerd/containerd.sock
  if running containerd; then
    local ctr=(ctr --address "$sock" -n k8s.io)
    for task in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
      "${ctr[@]}" tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
    done
    sleep 1
    for task in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks delete -f "$task" >/dev/null 2>&1 || true; done
    for c in $("${ctr[@]}" containers ls -q 2>/dev/null); do "${ctr[@]}" containers delete "$c" >/dev/null 2>&1 || true; done
  fi
  stop_pid containerd
  # containerd's shims outlive it; each serves one pod of this node.
  pkill -9 -f "containerd-shim-runc-v2 .*-address $sock" 2>/dev/null || true
  if [[ -z "$other" ]]; then
    # Whatever a shim left running is in the kubepods cgroups.
    find /sys/fs/cgroup -path '*kubepods*' -name cgroup.procs 2>/dev/null | while read -r procs; do
      while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done < "$procs"
    done
  fi
  # Secret and ConfigMap volumes are tmpfs mounts, images overlay mounts,
  # pods' network namespaces bind mounts (netns_mounts_under_state_dir):
  # unmount everything under the directory, deepest first, then delete it
  # without leaving its file system.
  if [[ -d "$dir" ]]; then
    awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
  fi
  cluster down >/dev/null 2>&1 || true
  [[ -z "$other" ]] && network_down
  rm -rf --one-file-system "$dir"
  [[ -f "$lock" && "$(cat "$lock")" == "$dir" ]] && rm -f "$lock"
  if [[ -n "$other" ]]; then
    log "stopped (the node of $other keeps running, with the bridge and the rules)"
  else
    log "stopped"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  images) build_images ;;
  status)
    if running kubelet && running containerd && cluster status >/dev/null 2>&1; then echo "node: running"; else echo "node: stopped"; exit 1; fi ;;
  *) echo "usage: $0 up|down|status|images" >&2; exit 2 ;;
esac
