/*
Copyright 2026 The certsmith Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package manifests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// gitOpsFieldManager stands for a GitOps tool that applies with server-side
// apply under a field manager of its own, as Argo CD (ServerSideApply=true)
// and Flux do.
const gitOpsFieldManager = "gitops"

// TestSamplesAreStableUnderServerSideApply applies config/samples twice
// with server-side apply, as a GitOps tool does on every sync, and checks
// that the second apply changes nothing: every object is reported
// serverside-applied, keeps its resourceVersion (nothing was written) and
// generation (no spec change), and "kubectl diff --server-side" finds no
// difference. The manifests must not depend on a defaulting or normalising
// write by the API server.
//
// No operator runs here, so this covers the manifests only; that certsmith
// writes status and never spec is covered by the e2e and integration suites.
func TestSamplesAreStableUnderServerSideApply(t *testing.T) {
	installDefault(t)
	createImportedCASecret(t)

	samples := decodeAll(t, kustomize(t, "config/samples"))
	apply := []string{"apply", "--server-side", "--field-manager=" + gitOpsFieldManager, "-k", filepath.Join(repoRoot, "config", "samples")}
	mustKubectl(t, "", apply...)
	before := liveVersions(t)
	if len(before) != len(samples) {
		t.Fatalf("kubectl get -k config/samples found %d objects, the kustomization has %d", len(before), len(samples))
	}

	second := mustKubectl(t, "", apply...)
	lines := strings.Split(strings.TrimSpace(second), "\n")
	if len(lines) != len(samples) {
		t.Errorf("the second apply reported %d objects, want %d:\n%s", len(lines), len(samples), second)
	}
	for _, line := range lines {
		if !strings.HasSuffix(line, " serverside-applied") {
			t.Errorf("the second apply reported %q, want every object serverside-applied", line)
		}
	}

	after := liveVersions(t)
	for key, was := range before {
		now, ok := after[key]
		switch {
		case !ok:
			t.Errorf("%s is gone after the second apply", key)
		case now.version != was.version:
			hint := ""
			if len(was.managers) == 0 && slices.Contains(now.managers, "before-first-apply") {
				hint = "; its manifest sets no field but its name, so the first apply recorded no field manager " +
					"and this one wrote a before-first-apply entry: give it a label"
			}
			t.Errorf("%s was written again by the second apply: resourceVersion and generation %s -> %s%s", key, was.version, now.version, hint)
		}
	}

	for _, manager := range []string{gitOpsFieldManager, ""} {
		args := []string{"diff", "--server-side", "-k", filepath.Join(repoRoot, "config", "samples")}
		if manager != "" {
			args = append(args, "--field-manager="+manager)
		}
		if stdout, stderr, err := kubectl(t, "", args...); err != nil {
			t.Errorf("kubectl %s found differences (%v):\n%s%s", strings.Join(args, " "), err, stdout, stderr)
		}
	}
}

// liveObject is what the test compares of an object in the cluster.
type liveObject struct {
	// version is "resourceVersion generation".
	version string
	// managers are the field managers in managedFields.
	managers []string
}

// liveVersions returns every object of config/samples in the cluster, by
// "kind namespace/name".
func liveVersions(t *testing.T) map[string]liveObject {
	t.Helper()
	out := mustKubectl(t, "", "get", "-k", filepath.Join(repoRoot, "config", "samples"), "-o", "json", "--show-managed-fields")
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("decoding kubectl get: %v", err)
	}
	versions := map[string]liveObject{}
	for _, item := range list.Items {
		obj := unstructured.Unstructured{Object: item}
		key := obj.GetKind() + " " + obj.GetNamespace() + "/" + obj.GetName()
		live := liveObject{version: obj.GetResourceVersion() + " " + strconv.FormatInt(obj.GetGeneration(), 10)}
		for _, entry := range obj.GetManagedFields() {
			live.managers = append(live.managers, entry.Manager)
		}
		versions[key] = live
	}
	return versions
}

// createImportedCASecret stores a CA made here with crypto/x509 in the
// Secret certsmith-system/imported-ca, which the sample ClusterIssuer
// "imported" names (the API server does not check that; the operator would).
func createImportedCASecret(t *testing.T) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	publicKey, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	subjectKeyID := sha1.Sum(publicKey)
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "Imported Root CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          subjectKeyID[:],
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := mustKubectl(t, "", "-n", operatorNamespace, "create", "secret", "tls", "imported-ca",
		"--cert="+certFile, "--key="+keyFile, "--dry-run=client", "-o", "yaml")
	mustKubectl(t, secret, "apply", "--server-side", "--force-conflicts", "-f", "-")
}
