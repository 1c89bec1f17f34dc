# certsmith — a Kubernetes PKI operator.

# Tools are pinned and installed into bin/.
CONTROLLER_GEN_VERSION ?= v0.23.0
CFSSL_VERSION ?= v1.6.5
HELM_VERSION ?= v4.3.2

LOCALBIN ?= $(shell pwd)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
CFSSL ?= $(LOCALBIN)/cfssl
CFSSLJSON ?= $(LOCALBIN)/cfssljson
HELM ?= $(LOCALBIN)/helm
K8S_BIN ?= $(LOCALBIN)/k8s
KUBECTL ?= $(K8S_BIN)/kubectl
CLUSTER_KUBECONFIG ?= $(LOCALBIN)/cluster/kubeconfig
IMG ?= certsmith/manager:latest

# The control-plane binaries for envtest are built from source (setup-envtest
# cannot download on machines without internet access); see hack/build-k8s.sh.
export KUBEBUILDER_ASSETS ?= $(K8S_BIN)

GO_TEST_FLAGS ?=

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods for the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC (config/crd/bases, config/rbac/role.yaml) from markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths=./... output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: docs
docs: manifests ## Generate docs/api-reference.md from the CRDs in config/crd/bases.
	go run ./hack/apidocs -crds config/crd/bases -out docs/api-reference.md

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: ## Fail on unformatted code and vet findings.
	@out=$$(gofmt -s -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

.PHONY: verify
verify: generate manifests docs chart ## Regenerate everything and fail if anything changed.
	@git diff --exit-code -- api config docs/api-reference.md charts || { echo "generated files are out of date: run 'make generate manifests docs chart' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- api config docs/api-reference.md charts)" || { git status --porcelain -- api config docs/api-reference.md charts; echo "untracked generated files"; exit 1; }
	$(MAKE) lint

##@ Test

# test builds first and runs the quick suites one after another, then the
# fault suite alone: its specs time leader hand-overs and count signed CSRs,
# which CPU contention changes. Then the other long suites two by two
# (hack/side-by-side.sh, each output printed whole when both have ended):
# they have ports and directories of their own, and the second of each pair
# (at SUITES_NICE) mostly waits: the node suite on pods, the manifests
# suite on the validators. The controllers' envtest suite is not paired
# with the e2e suite: with both on two cores its Eventually timeouts were
# missed. A failing suite fails make test after all have run. TEST_DEPS=
# makes the suites skip their prerequisites, which test has already made:
# two "go build -o bin/manager" at once would replace the binary under a
# running suite.
SUITES_NICE ?= 10
SIDE_BY_SIDE = hack/side-by-side.sh "$(MAKE) --no-print-directory TEST_DEPS="

.PHONY: test
test: check-root manifests generate lint k8s-binaries tools build test-unit test-fuzz ## Run every suite: unit, fuzz, integration (envtest), manifests, end to end, faults and on a node (as root).
	@rc=0; \
	$(MAKE) --no-print-directory TEST_DEPS= test-fault || rc=1; \
	$(SIDE_BY_SIDE) test-e2e -n $(SUITES_NICE) test-node || rc=1; \
	$(SIDE_BY_SIDE) test-integration -n $(SUITES_NICE) test-manifests || rc=1; \
	if [ $$rc -ne 0 ]; then echo "make test: a suite failed (see above)"; fi; exit $$rc

# The prerequisites of the suites that run binaries; make test sets
# TEST_DEPS empty, having made them already.
TEST_DEPS ?= build k8s-binaries tools

# The node suite, in the last step of make test, needs root: say so before
# the other suites have run for minutes.
.PHONY: check-root
check-root:
	@test "$$(id -u)" = 0 || { echo "make test runs the node suite, which needs root (containerd, the kubelet, a bridge); run it as root, or run the other suites one by one (make help)"; exit 1; }

# The packages of each suite. Unit tests need no control plane: the PKI
# core and policy (internal/), the generators (hack/), the benchmark's
# parsers and planning (test/bench: "go test" runs its unit tests only, the
# benchmark itself is "make bench") and the test harness (test/internal).
# The others start a kube-apiserver: envtest (controllers/, cmd/),
# hack/cluster.sh (test/manifests, test/e2e) or hack/node.sh, a whole
# one-node cluster (test/node; its workload's own tests are unit tests).
# check-tests fails when a package with tests is in none of them.
UNIT_PACKAGES ?= . ./internal/... ./hack/... ./test/bench/... ./test/internal/... ./test/node/workload/...
INTEGRATION_PACKAGES ?= ./controllers/... ./cmd/... ./test/integration/...
# The stepped-clock suite runs after the other envtest suites, not beside
# them: next to test/integration on two cores, that suite's 30 s wait for a
# Warning Event was missed twice.
CLOCK_PACKAGES ?= ./test/steppedclock/...
MANIFESTS_PACKAGES ?= ./test/manifests/...
E2E_PACKAGES ?= ./test/e2e/...
FAULT_PACKAGES ?= ./test/fault/...
NODE_PACKAGES ?= ./test/node

# The controllers' and the plugin's decision tests are plain Go tests next
# to their envtest suites (the Ginkgo Test functions below, which start the
# control plane): test-unit runs them without one, with KUBEBUILDER_ASSETS
# unset so that nothing can start a kube-apiserver by accident.
ENVTEST_SUITES ?= ^(TestControllers|TestKubectlCertsmith|TestPodCertificates|TestSteppedClock)$$

.PHONY: test-unit
test-unit: check-tests ## Unit tests without a control plane: internal/, hack/, test/bench, test/internal, and the controllers' decision tests.
	go test $(GO_TEST_FLAGS) $(UNIT_PACKAGES)
	env -u KUBEBUILDER_ASSETS go test $(GO_TEST_FLAGS) -skip '$(ENVTEST_SUITES)' $(INTEGRATION_PACKAGES) $(CLOCK_PACKAGES)

.PHONY: check-tests
check-tests: ## Fail if a package with tests is run by none of test-unit, test-integration, test-manifests, test-e2e, test-fault, test-node.
	@all=$$(go list -e -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./... | sort); \
	covered=$$(go list -e $(UNIT_PACKAGES) $(INTEGRATION_PACKAGES) $(CLOCK_PACKAGES) $(MANIFESTS_PACKAGES) $(E2E_PACKAGES) $(FAULT_PACKAGES) $(NODE_PACKAGES) | sort -u); \
	missing=$$(for pkg in $$all; do echo "$$covered" | grep -qxF "$$pkg" || echo "$$pkg"; done); \
	if [ -n "$$missing" ]; then echo "packages with tests that no make target runs (add them to a *_PACKAGES variable):"; echo "$$missing"; exit 1; fi

# test-fuzz runs every fuzz target (func Fuzz...) of FUZZ_PACKAGES for
# FUZZ_TIME each, one after another: nine targets, under a minute in all on
# two cores. New interesting inputs are minimized for at most
# FUZZ_MINIMIZE_TIME runs, so the time goes to fuzzing. A failing input is
# written to <package>/testdata/fuzz/<target>/, next to the checked-in corpus
# that every plain "go test" runs too. Go before 1.27 can fail a run that
# found nothing with a bare "context deadline exceeded" when FUZZ_TIME ends
# (golang/go#75804); such a run, without a failing input, counts as passed.
FUZZ_PACKAGES ?= ./internal/pki ./internal/policy
FUZZ_TIME ?= 3s
FUZZ_MINIMIZE_TIME ?= 100x

.PHONY: test-fuzz
test-fuzz: ## Fuzz the CSR, PEM and policy parsers, each target for FUZZ_TIME (default 3s).
	@set -e; for pkg in $(FUZZ_PACKAGES); do \
		targets=$$(go test -list '^Fuzz' $$pkg); \
		for target in $$(echo "$$targets" | grep '^Fuzz'); do \
			echo "go test $(GO_TEST_FLAGS) -run '^$$' -fuzz '^$$target\$$' -fuzztime $(FUZZ_TIME) -fuzzminimizetime $(FUZZ_MINIMIZE_TIME) $$pkg"; \
			rc=0; out=$$(go test $(GO_TEST_FLAGS) -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZ_TIME) -fuzzminimizetime $(FUZZ_MINIMIZE_TIME) $$pkg 2>&1) || rc=$$?; \
			echo "$$out" | grep -v '^fuzz: elapsed: [0-9]*s, \(execs\|gathering\)' || true; \
			if [ $$rc -ne 0 ]; then \
				if echo "$$out" | grep -qx '    context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written to'; then \
					echo "$$target: nothing found; ignoring Go's end-of-fuzztime race (golang/go#75804)"; \
				else exit $$rc; fi; \
			fi; \
		done; \
	done

# envtest's default of 20 s for kube-apiserver to start is short on a
# loaded two-core machine (the suites of make test run side by side); the
# controllers' and test/integration's suites set 2 minutes themselves.
export KUBEBUILDER_CONTROLPLANE_START_TIMEOUT ?= 2m

.PHONY: test-integration
test-integration: $(filter k8s-binaries,$(TEST_DEPS)) ## Integration tests against a real kube-apiserver and etcd (envtest).
	@rc=0; \
	go test -v $(GO_TEST_FLAGS) $(INTEGRATION_PACKAGES) -timeout 20m || rc=1; \
	go test -v $(GO_TEST_FLAGS) $(CLOCK_PACKAGES) -timeout 10m || rc=1; \
	exit $$rc

.PHONY: test-manifests
test-manifests: $(filter k8s-binaries,$(TEST_DEPS)) $(if $(TEST_DEPS),helm promtool) ## Manifests (also installed into another namespace), make deploy's image references, OLM bundle and Dockerfile, against a local control plane and the Operator Framework validators.
	go test -v $(GO_TEST_FLAGS) $(MANIFESTS_PACKAGES) -timeout 10m

.PHONY: test-e2e
test-e2e: $(TEST_DEPS) ## End to end: bin/manager, real kubectl and openssl against a local control plane.
	go test -v -count=1 $(GO_TEST_FLAGS) $(E2E_PACKAGES) -timeout 30m

# -count=1 for the suites that run binaries: go test's cache does not know
# bin/manager, the control plane or the node.
.PHONY: test-fault
test-fault: $(filter build k8s-binaries,$(TEST_DEPS)) ## Faults: two replicas of bin/manager with leader election; the leader killed and stopped, kube-apiserver and etcd stopped, during issuances.
	go test -v -count=1 $(GO_TEST_FLAGS) $(FAULT_PACKAGES) -timeout 15m

# The node suite needs root: hack/node.sh installs containerd, runc and the
# CNI plugins with apt-get when they are missing, builds the images and
# starts the node in bin/node-e2e; the suite deploys certsmith from
# config/default onto it.
# The node is stopped afterwards whatever happened, also when go test's
# timeout ended the run before the suite's own cleanup.
NODE_TEST_DIR ?= $(LOCALBIN)/node-e2e

.PHONY: test-node
test-node: $(filter k8s-binaries,$(TEST_DEPS)) ## On a real node (root): kubelet, containerd, controller-manager; certsmith deployed from config/default, pods that use its certificates and bundles.
	@rc=0; go test -v -count=1 $(GO_TEST_FLAGS) $(NODE_PACKAGES) -timeout 25m || rc=$$?; \
	if [ -z "$$NODE_KEEP" ]; then NODE_DIR=$(NODE_TEST_DIR) hack/node.sh down || rc=1; fi; exit $$rc

##@ Benchmarks

# Flags for the benchmark harness ("go run ./test/bench -h" lists them), for
# example BENCH_FLAGS="-n 200 -keys ECDSA -secrets 0 -gobench=false".
BENCH_FLAGS ?=

.PHONY: bench
bench: build k8s-binaries ## Benchmark bin/manager on a local control plane: issuance time, API writes, CPU, memory (see docs/benchmarks.md; not part of make test).
	go run ./test/bench $(BENCH_FLAGS)

##@ Build

.PHONY: build
build: ## Build the manager into bin/manager and the kubectl plugin into bin/kubectl-certsmith.
	go build -o $(LOCALBIN)/manager .
	go build -o $(LOCALBIN)/kubectl-certsmith ./cmd/kubectl-certsmith

.PHONY: run
run: ## Run the manager against the current KUBECONFIG (no leader election).
	go run . --leader-elect=false

##@ Local control plane

.PHONY: k8s-binaries
k8s-binaries: ## Build kube-apiserver, etcd, kubectl, kube-controller-manager, kube-scheduler and kubelet for the pinned Kubernetes version into bin/k8s.
	hack/build-k8s.sh

.PHONY: cluster-up
cluster-up: k8s-binaries ## Start etcd + kube-apiserver in the background; kubeconfig at bin/cluster/kubeconfig.
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local control plane and delete its state.
	hack/cluster.sh down

.PHONY: node-up
node-up: k8s-binaries ## Start a one-node cluster (root): control plane, kube-controller-manager, kube-scheduler, containerd, kubelet; kubeconfig at bin/node/kubeconfig.
	hack/node.sh images
	hack/node.sh up

.PHONY: node-down
node-down: ## Stop the one-node cluster and delete its state, mounts, bridge and iptables rule.
	hack/node.sh down

.PHONY: demo
# NODE=1 runs the demo on a one-node cluster instead (root): certsmith
# deployed from config/default, two pods that talk TLS (hack/demo-node.sh).
NODE ?=

demo: build k8s-binaries ## Run certsmith for real on a local control plane, issue a certificate and do a TLS handshake (NODE=1: on a node, two pods talk TLS).
	@if [ "$(NODE)" = 1 ]; then hack/demo-node.sh; else hack/demo.sh; fi

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current KUBECONFIG.
	$(KUBECTL) apply --server-side -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs (and every certsmith resource) from the cluster.
	$(KUBECTL) delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests ## Deploy CRDs, RBAC and the manager (image $(IMG); registry:5000/name:tag and name@sha256:... work) to the cluster.
	hack/set-image.sh '$(IMG)' config/manager/kustomization.yaml
	$(KUBECTL) apply --server-side -k config/default

.PHONY: undeploy
undeploy: ## Remove everything deploy created.
	$(KUBECTL) delete --ignore-not-found -k config/default

##@ Bundle

# The OLM bundle: its version is spec.version in
# hack/bundle/certsmith.clusterserviceversion.yaml. BUNDLE_MANAGER_IMG sets
# the manager image the CSV deploys (default certsmith/manager:v<version>).
BUNDLE_MANAGER_IMG ?=

.PHONY: bundle
bundle: manifests k8s-binaries ## Generate the OLM bundle: bundle/ (CSV, CRDs, metadata, scorecard) and bundle.Dockerfile.
	go run ./hack/bundle -kubectl $(KUBECTL) -image "$(BUNDLE_MANAGER_IMG)" -out bundle -dockerfile bundle.Dockerfile

##@ Tools

.PHONY: tools
tools: controller-gen cfssl helm promtool ## Install the pinned tools into bin/, and promtool.

# The Helm chart is generated from config/ (hack/chart): never edit
# charts/certsmith by hand; make verify fails when it and config/ drift.
.PHONY: chart
chart: manifests k8s-binaries ## Generate the Helm chart charts/certsmith from config/.
	go run ./hack/chart -kubectl $(KUBECTL) -out charts/certsmith

.PHONY: helm
helm: $(HELM)
$(HELM):
	GOBIN=$(LOCALBIN) go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

# promtool runs the alerts' unit tests (test/manifests TestPrometheusAlerts).
# It comes with Debian's prometheus package, installed when missing (as
# root; otherwise the test says what is missing). The package's service is
# not started where there is no init system, and is not needed.
.PHONY: promtool
promtool: ## Install promtool (Debian's prometheus package) when it is missing.
	@command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's prometheus package for promtool"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else echo "promtool is missing: install Debian's prometheus package (the alerts' tests need it)"; fi; }

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

.PHONY: cfssl
cfssl: $(CFSSL) $(CFSSLJSON)
$(CFSSL):
	GOBIN=$(LOCALBIN) go install github.com/cloudflare/cfssl/cmd/cfssl@$(CFSSL_VERSION)
$(CFSSLJSON):
	GOBIN=$(LOCALBIN) go install github.com/cloudflare/cfssl/cmd/cfssljson@$(CFSSL_VERSION)
