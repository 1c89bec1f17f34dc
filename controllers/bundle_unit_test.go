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

package controllers

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// Unit tests of the bundle controller's decisions: what goes into an
// issuer's bundle, which namespaces get it, which objects certsmith may
// write, and what status.bundle reports. They need no API server; the few
// that run a whole pass use controller-runtime's fake client.

// unitOperatorNamespace is the operator's namespace in the unit tests.
const unitOperatorNamespace = "certsmith-system"

// unitNow is the time of the unit tests' certificates.
var unitNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// unitRootCA returns a self-signed ECDSA root CA.
func unitRootCA(t *testing.T, cn string) *pki.CA {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.NewSelfSignedCA(key, pki.CATemplate{Subject: pkix.Name{CommonName: cn}, Duration: 365 * 24 * time.Hour, MaxPathLen: -1}, unitNow)
	if err != nil {
		t.Fatal(err)
	}
	return &pki.CA{Certificate: cert, Key: key}
}

// unitIntermediateCA returns a CA signed by parent, with its chain.
func unitIntermediateCA(t *testing.T, parent *pki.CA, cn string) *pki.CA {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewIntermediateCA(parent, key, pki.IntermediateTemplate{Subject: pkix.Name{CommonName: cn}, Duration: 180 * 24 * time.Hour, MaxPathLen: 0}, unitNow)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// unitCASecret is a CA Secret as the ClusterIssuer controller stores it:
// tls.crt the CA and its chain, tls.key its key, and ca.crt (left out when
// bundle is nil).
func unitCASecret(t *testing.T, name string, ca *pki.CA, bundle []byte) *corev1.Secret {
	t.Helper()
	keyPEM, err := pki.EncodePrivateKeyPEM(ca.Key, pki.KeyEncodingPKCS8)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string][]byte{
		corev1.TLSCertKey:       pki.EncodeCertificatesPEM(append([]*x509.Certificate{ca.Certificate}, ca.Chain...)...),
		corev1.TLSPrivateKeyKey: keyPEM,
	}
	if bundle != nil {
		data[caCertKey] = bundle
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: unitOperatorNamespace, Name: name}, Type: corev1.SecretTypeTLS, Data: data}
}

// unitScheme knows the Kubernetes and certsmith types.
func unitScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := certsmithv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return scheme
}

var unitUIDs atomic.Int64

// unitFakeClient is a fake client that, like an API server, gives every
// object it creates a UID, and serves the ClusterIssuer status subresource.
func unitFakeClient(t *testing.T, objects ...client.Object) client.WithWatch {
	t.Helper()
	return unitFakeClientBuilder(t, objects...).Build()
}

func unitFakeClientBuilder(t *testing.T, objects ...client.Object) *fake.ClientBuilder {
	t.Helper()
	return fake.NewClientBuilder().WithScheme(unitScheme(t)).
		WithObjects(objects...).
		WithStatusSubresource(&certsmithv1alpha1.ClusterIssuer{}, &certificatesv1.CertificateSigningRequest{}).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(tctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if obj.GetUID() == "" {
				obj.SetUID(types.UID(fmt.Sprintf("uid-%d", unitUIDs.Add(1))))
			}
			return c.Create(tctx, obj, opts...)
		}})
}

// unitEvents drains a fake recorder: "<type> <reason> <note>" each.
func unitEvents(recorder *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func unitCertsOf(t *testing.T, bundle []byte) []*x509.Certificate {
	t.Helper()
	certs, err := pki.ParseCertificatesPEM(bundle)
	if err != nil {
		t.Fatalf("bundle does not parse: %v", err)
	}
	return certs
}

func unitSubjectsOf(certs []*x509.Certificate) []string {
	out := make([]string, 0, len(certs))
	for _, c := range certs {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

func TestBundleContentOfCASecret(t *testing.T) {
	active, next, retiring := unitRootCA(t, "active"), unitRootCA(t, "next"), unitRootCA(t, "retiring")
	intermediate := unitIntermediateCA(t, active, "intermediate")
	rotating := pki.EncodeCertificatesPEM(retiring.Certificate, active.Certificate, next.Certificate)

	tests := []struct {
		name   string
		secret *corev1.Secret
		// want lists the common names of the bundle's certificates, in order.
		want    []string
		wantErr bool
	}{
		{name: "ca.crt lists every root of a rotation, in the order stored",
			secret: unitCASecret(t, "x-ca", active, rotating), want: []string{"retiring", "active", "next"}},
		{name: "ca.crt with text around the PEM blocks is re-encoded",
			secret: unitCASecret(t, "x-ca", active, append(append([]byte("# roots\n"), rotating...), "\n\n"...)), want: []string{"retiring", "active", "next"}},
		{name: "no ca.crt: the root CA itself",
			secret: unitCASecret(t, "x-ca", active, nil), want: []string{"active"}},
		{name: "no ca.crt: an intermediate's root, never the intermediate",
			secret: unitCASecret(t, "x-ca", intermediate, nil), want: []string{"active"}},
		{name: "a ca.crt that is no PEM falls back to the CA's anchors",
			secret: unitCASecret(t, "x-ca", intermediate, []byte("not a certificate")), want: []string{"active"}},
		{name: "neither ca.crt nor a CA",
			secret: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: unitOperatorNamespace, Name: "x-ca"}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle, err := bundleOfCASecret(tt.secret)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got a bundle of %d bytes, want an error", len(bundle))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			certs := unitCertsOf(t, bundle)
			if got := unitSubjectsOf(certs); !slices.Equal(got, tt.want) {
				t.Fatalf("bundle holds %v, want %v", got, tt.want)
			}
			if want := pki.EncodeCertificatesPEM(certs...); string(bundle) != string(want) {
				t.Fatal("the bundle is not in canonical PEM: byte comparisons with what is distributed would flap")
			}
			if got := fingerprints(bundle); len(got) != len(tt.want) || got[0] != pki.FingerprintSHA256(certs[0]) {
				t.Fatalf("status fingerprints %v do not follow the bundle", got)
			}
		})
	}
}

func TestBundleIsReadFromTheIssuersCASecret(t *testing.T) {
	own, imported := unitRootCA(t, "own"), unitRootCA(t, "imported")
	generated := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "gen"}}
	importer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "imp"},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{CA: certsmithv1alpha1.CASource{SecretRef: &certsmithv1alpha1.SecretReference{Name: "user-ca"}}}}
	c := unitFakeClient(t,
		unitCASecret(t, "gen-ca", own, nil),
		unitCASecret(t, "imp-imported-ca", imported, nil),
		// The user's own Secret is not what certsmith distributes: its copy is.
		unitCASecret(t, "user-ca", own, nil))
	for issuer, want := range map[*certsmithv1alpha1.ClusterIssuer]string{generated: "own", importer: "imported"} {
		bundle, err := issuerBundle(context.Background(), c, unitOperatorNamespace, issuer)
		if err != nil {
			t.Fatal(err)
		}
		if got := unitSubjectsOf(unitCertsOf(t, bundle)); !slices.Equal(got, []string{want}) {
			t.Errorf("issuer %s: bundle holds %v, want [%s]", issuer.Name, got, want)
		}
	}
	missing := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "none"}}
	if _, err := issuerBundle(context.Background(), c, unitOperatorNamespace, missing); !apierrors.IsNotFound(err) {
		t.Fatalf("an issuer without a CA Secret: %v, want NotFound (nothing to distribute yet)", err)
	}
}

func TestBundleTargetNames(t *testing.T) {
	tests := []struct {
		name               string
		bundle             *certsmithv1alpha1.BundleSpec
		wantName, wantKey  string
		signerName, wantCT string
	}{
		{name: "defaults", bundle: &certsmithv1alpha1.BundleSpec{}, wantName: "web-ca", wantKey: "ca.crt",
			wantCT: "clusterissuers.certsmith.io:web:bundle"},
		{name: "no bundle spec", wantName: "web-ca", wantKey: "ca.crt", wantCT: "clusterissuers.certsmith.io:web:bundle"},
		{name: "custom name and key", bundle: &certsmithv1alpha1.BundleSpec{ConfigMap: &certsmithv1alpha1.ConfigMapTarget{Name: "trust", Key: "root.pem"}},
			wantName: "trust", wantKey: "root.pem", wantCT: "clusterissuers.certsmith.io:web:bundle"},
		{name: "custom key only", bundle: &certsmithv1alpha1.BundleSpec{ConfigMap: &certsmithv1alpha1.ConfigMapTarget{Key: "root.pem"}},
			wantName: "web-ca", wantKey: "root.pem", wantCT: "clusterissuers.certsmith.io:web:bundle"},
		{name: "custom signer name", bundle: &certsmithv1alpha1.BundleSpec{}, signerName: "example.com/team-a",
			wantName: "web-ca", wantKey: "ca.crt", wantCT: "example.com:team-a:bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec: certsmithv1alpha1.ClusterIssuerSpec{Bundle: tt.bundle, SignerName: tt.signerName}}
			if name, key := bundleTarget(issuer); name != tt.wantName || key != tt.wantKey {
				t.Errorf("ConfigMap %s key %s, want %s key %s", name, key, tt.wantName, tt.wantKey)
			}
			if got := clusterTrustBundleName(issuer.EffectiveSignerName()); got != tt.wantCT {
				t.Errorf("ClusterTrustBundle %s, want %s", got, tt.wantCT)
			}
		})
	}
}

func TestBundleNamespaceSelection(t *testing.T) {
	deleting := metav1.NewTime(unitNow)
	namespaces := []corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "zeta", Labels: map[string]string{"trust": "yes"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "alpha", Labels: map[string]string{"trust": "yes", "tier": "prod"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "beta"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gone", Labels: map[string]string{"trust": "yes"}, DeletionTimestamp: &deleting}},
	}
	tests := []struct {
		name     string
		selector *metav1.LabelSelector
		want     []string
		wantErr  bool
	}{
		{name: "no selector: every namespace that is not being deleted, sorted", want: []string{"alpha", "beta", "zeta"}},
		{name: "matchLabels", selector: &metav1.LabelSelector{MatchLabels: map[string]string{"trust": "yes"}}, want: []string{"alpha", "zeta"}},
		{name: "matchExpressions", selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpDoesNotExist}}}, want: []string{"beta", "zeta"}},
		{name: "matches nothing", selector: &metav1.LabelSelector{MatchLabels: map[string]string{"trust": "no"}}},
		{name: "invalid selector", selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: "Near"}}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec: certsmithv1alpha1.ClusterIssuerSpec{Bundle: &certsmithv1alpha1.BundleSpec{NamespaceSelector: tt.selector}}}
			selector, err := bundleNamespaceSelector(issuer)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "bundle.namespaceSelector of ClusterIssuer web") {
					t.Fatalf("err %v, want one naming the field and the issuer", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := bundleNamespaces(selector, namespaces); !slices.Equal(got, tt.want) {
				t.Fatalf("namespaces %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBundleOwnershipPlan(t *testing.T) {
	labels := bundleLabels("web")
	const want = "wanted-hash"
	mine := func(uid types.UID) *ownedObject { return &ownedObject{Name: "web-ca", UID: uid} }
	found := func(uid types.UID, claim, hash string, labels map[string]string, immutable bool) *observedObject {
		return &observedObject{uid: uid, claim: claim, contentHash: hash, labels: labels, labelsSet: labels != nil, immutable: immutable}
	}
	tests := []struct {
		name     string
		entry    *ownedObject
		observed *observedObject
		want     bundlePlan
	}{
		{name: "nothing there, nothing recorded: create with a fresh claim token",
			want: bundlePlan{action: bundleCreate, entry: &ownedObject{Name: "web-ca", Token: "fresh"}}},
		{name: "nothing there, an intent recorded: create with the intent's token",
			entry: &ownedObject{Name: "web-ca", Token: "earlier"},
			want:  bundlePlan{action: bundleCreate, entry: &ownedObject{Name: "web-ca", Token: "earlier"}}},
		{name: "certsmith's object was deleted: create anew",
			entry: mine("u1"),
			want:  bundlePlan{action: bundleCreate, entry: &ownedObject{Name: "web-ca", Token: "fresh"}}},
		{name: "an object certsmith never recorded is a conflict, even with certsmith's labels and content",
			observed: found("u9", "", want, labels, false),
			want:     bundlePlan{action: bundleConflict, why: "certsmith did not create it"}},
		{name: "an object that replaced certsmith's (another UID) is a conflict, and the entry goes",
			entry: mine("u1"), observed: found("u9", "", want, labels, false),
			want: bundlePlan{action: bundleConflict, dropEntry: true, why: "certsmith's was replaced by one it did not create"}},
		{name: "an object carrying another claim token than the intent is a conflict",
			entry: &ownedObject{Name: "web-ca", Token: "mine"}, observed: found("u9", "guessed", want, labels, false),
			want: bundlePlan{action: bundleConflict, dropEntry: true, why: "certsmith did not create it"}},
		{name: "an object carrying the intent's token is certsmith's (a crash before recording its UID)",
			entry: &ownedObject{Name: "web-ca", Token: "mine"}, observed: found("u2", "mine", want, labels, false),
			want: bundlePlan{action: bundleUpToDate, entry: mine("u2")}},
		{name: "certsmith's, as wanted",
			entry: mine("u1"), observed: found("u1", "", want, labels, false),
			want: bundlePlan{action: bundleUpToDate, entry: mine("u1")}},
		{name: "certsmith's, content edited: patch",
			entry: mine("u1"), observed: found("u1", "", "edited", labels, false),
			want: bundlePlan{action: bundlePatch, entry: mine("u1"), observedLabels: labels, labelsSet: true}},
		{name: "certsmith's, a label removed: patch the labels back",
			entry: mine("u1"), observed: found("u1", "", want, map[string]string{certsmithv1alpha1.LabelManagedBy: "certsmith"}, false),
			want: bundlePlan{action: bundlePatch, entry: mine("u1"), observedLabels: map[string]string{certsmithv1alpha1.LabelManagedBy: "certsmith"}, labelsSet: true}},
		{name: "certsmith's but made immutable with other content: a conflict it keeps recording",
			entry: mine("u1"), observed: found("u1", "", "edited", labels, true),
			want: bundlePlan{action: bundleConflict, entry: mine("u1"), why: "immutable"}},
		{name: "certsmith's, immutable but as wanted: up to date",
			entry: mine("u1"), observed: found("u1", "", want, labels, true),
			want: bundlePlan{action: bundleUpToDate, entry: mine("u1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planBundleObject(tt.entry, tt.observed, "web-ca", want, labels, "fresh")
			if got.action != tt.want.action || got.dropEntry != tt.want.dropEntry || got.why != tt.want.why || got.labelsSet != tt.want.labelsSet {
				t.Fatalf("plan %+v, want %+v", got, tt.want)
			}
			if (got.entry == nil) != (tt.want.entry == nil) || (got.entry != nil && *got.entry != *tt.want.entry) {
				t.Fatalf("record entry %+v, want %+v", got.entry, tt.want.entry)
			}
			if fmt.Sprint(got.observedLabels) != fmt.Sprint(tt.want.observedLabels) {
				t.Fatalf("labels to repair from %v, want %v", got.observedLabels, tt.want.observedLabels)
			}
		})
	}
}

// unitStatusError is an API error of a given HTTP status reason.
func unitStatusError(reason metav1.StatusReason, message string) error {
	gr := schema.GroupResource{Resource: "configmaps"}
	switch reason {
	case metav1.StatusReasonAlreadyExists:
		return apierrors.NewAlreadyExists(gr, "web-ca")
	case metav1.StatusReasonNotFound:
		return apierrors.NewNotFound(gr, "web-ca")
	case metav1.StatusReasonForbidden:
		return apierrors.NewForbidden(gr, "web-ca", errors.New(message))
	case metav1.StatusReasonInvalid:
		return apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "web-ca", field.ErrorList{field.Forbidden(field.NewPath("data"), message)})
	case metav1.StatusReasonRequestEntityTooLarge:
		return apierrors.NewRequestEntityTooLargeError(message)
	case metav1.StatusReasonConflict:
		return apierrors.NewConflict(gr, "web-ca", errors.New(message))
	}
	return apierrors.NewServerTimeout(gr, "patch", 1)
}

// namespaceTerminatingError is what the API server answers a create in a
// namespace that is being deleted (the NamespaceLifecycle admission plugin).
func namespaceTerminatingError() error {
	err := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "web-ca",
		errors.New("unable to create new content in namespace web because it is being terminated"))
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type: corev1.NamespaceTerminatingCause, Message: "namespace web is being terminated", Field: "metadata.namespace"})
	return err
}

func TestBundleWriteOutcome(t *testing.T) {
	tests := []struct {
		name        string
		action      bundleAction
		err         error
		wantOutcome bundleOutcome
		wantWhy     string
		wantRetry   bool
	}{
		{name: "created", action: bundleCreate, wantOutcome: outcomeUpToDate},
		{name: "patched", action: bundlePatch, wantOutcome: outcomeUpToDate},
		{name: "someone else's came first", action: bundleCreate, err: unitStatusError(metav1.StatusReasonAlreadyExists, ""),
			wantOutcome: outcomeConflict, wantWhy: "certsmith did not create it"},
		{name: "made immutable meanwhile", action: bundlePatch, err: unitStatusError(metav1.StatusReasonInvalid, "field is immutable"),
			wantOutcome: outcomeConflict, wantWhy: "immutable"},
		{name: "an admission policy refuses", action: bundleCreate, err: unitStatusError(metav1.StatusReasonForbidden, "denied by policy"),
			wantOutcome: outcomeConflict, wantWhy: "rejected by the API server: "},
		{name: "too large", action: bundlePatch, err: unitStatusError(metav1.StatusReasonRequestEntityTooLarge, "too big"),
			wantOutcome: outcomeConflict, wantWhy: "rejected by the API server: "},
		{name: "deleted before the patch: its delete event comes back", action: bundlePatch, err: unitStatusError(metav1.StatusReasonNotFound, ""),
			wantOutcome: outcomePending},
		{name: "a create that finds no namespace is retried", action: bundleCreate, err: unitStatusError(metav1.StatusReasonNotFound, ""),
			wantOutcome: outcomePending, wantRetry: true},
		{name: "the UID test failed (replaced meanwhile) is retried, to be planned again", action: bundlePatch, err: unitStatusError(metav1.StatusReasonConflict, "uid"),
			wantOutcome: outcomePending, wantRetry: true},
		{name: "a timeout is retried", action: bundlePatch, err: unitStatusError(metav1.StatusReasonTimeout, ""),
			wantOutcome: outcomePending, wantRetry: true},
		{name: "a namespace that began terminating is neither a conflict nor retried", action: bundleCreate, err: namespaceTerminatingError(),
			wantOutcome: outcomePending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outcome, why, retry := bundleWriteOutcome(tt.action, tt.err)
			if outcome != tt.wantOutcome || retry != tt.wantRetry || !strings.HasPrefix(why, tt.wantWhy) || (tt.wantWhy == "") != (why == "") {
				t.Fatalf("outcome %d why %q retry %v, want %d %q… %v", outcome, why, retry, tt.wantOutcome, tt.wantWhy, tt.wantRetry)
			}
		})
	}
	long := unitStatusError(metav1.StatusReasonForbidden, strings.Repeat("x", 10000))
	if _, why, _ := bundleWriteOutcome(bundlePatch, long); len(why) > 300 {
		t.Fatalf("a refusal's message is not bounded: %d bytes", len(why))
	}
}

func TestBundleCoverageReport(t *testing.T) {
	root := unitRootCA(t, "root")
	bundle := pki.EncodeCertificatesPEM(root.Certificate)
	results := []bundleNamespaceResult{
		{namespace: "c", outcome: outcomeConflict, why: "certsmith did not create it"},
		{namespace: "a", outcome: outcomeUpToDate},
		{namespace: "b", outcome: outcomePending},
		{namespace: "d", outcome: outcomeConflict, why: "immutable"},
	}
	status, conflicts := bundleCoverage(bundle, results)
	if status.Namespaces != 4 || status.UpToDate != 1 || status.Conflicts != 2 {
		t.Fatalf("namespaces %d, up to date %d, conflicts %d; want 4, 1, 2", status.Namespaces, status.UpToDate, status.Conflicts)
	}
	if !slices.Equal(status.ConflictNamespaces, []string{"c", "d"}) {
		t.Fatalf("conflictNamespaces %v", status.ConflictNamespaces)
	}
	if !slices.Equal(conflicts, []string{"c (certsmith did not create it)", "d (immutable)"}) {
		t.Fatalf("conflicts for the Event %v", conflicts)
	}
	if !slices.Equal(status.FingerprintsSHA256, []string{pki.FingerprintSHA256(root.Certificate)}) {
		t.Fatalf("fingerprints %v", status.FingerprintsSHA256)
	}

	// Many conflicts: all counted, the first few named, sorted.
	var many []bundleNamespaceResult
	for i := range 40 {
		many = append(many, bundleNamespaceResult{namespace: fmt.Sprintf("ns-%02d", 39-i), outcome: outcomeConflict, why: "x"})
	}
	status, conflicts = bundleCoverage(bundle, many)
	if status.Conflicts != 40 || len(conflicts) != 40 || len(status.ConflictNamespaces) != maxConflictNamespaces {
		t.Fatalf("%d conflicts, %d described, %d named; want 40, 40, %d", status.Conflicts, len(conflicts), len(status.ConflictNamespaces), maxConflictNamespaces)
	}
	if status.ConflictNamespaces[0] != "ns-00" || !slices.IsSorted(status.ConflictNamespaces) {
		t.Fatalf("named %v, want the first ones sorted", status.ConflictNamespaces)
	}

	if status, _ := bundleCoverage(bundle, nil); status.Namespaces != 0 || status.ConflictNamespaces != nil {
		t.Fatalf("no namespace: %+v", status)
	}
}

func TestBundleWithdrawal(t *testing.T) {
	configMaps := unwantedConfigMap([]string{"a", "b"}, "web-ca")
	for _, tt := range []struct {
		key   string
		entry ownedObject
		want  bool
	}{
		{"a", ownedObject{Name: "web-ca", UID: "u"}, false},
		{"c", ownedObject{Name: "web-ca", UID: "u"}, true},           // the namespace no longer wants it
		{"b", ownedObject{Name: "old-name", UID: "u"}, true},         // renamed
		{"c", ownedObject{Name: "web-ca", Token: "tok"}, true},       // an intent in a namespace that left
		{recordKeyClusterTrustBundle, ownedObject{Name: "x"}, false}, // not a ConfigMap
	} {
		if got := configMaps(tt.key, tt.entry); got != tt.want {
			t.Errorf("ConfigMap entry %s=%+v: withdraw %v, want %v", tt.key, tt.entry, got, tt.want)
		}
	}
	const name = "clusterissuers.certsmith.io:web:bundle"
	for _, tt := range []struct {
		wanted bool
		key    string
		entry  string
		want   bool
	}{
		{true, recordKeyClusterTrustBundle, name, false},
		{false, recordKeyClusterTrustBundle, name, true},               // spec.bundle.clusterTrustBundle: false
		{true, recordKeyClusterTrustBundle, "old:signer:bundle", true}, // the signerName changed
		{false, "a", name, false},                                      // a ConfigMap entry
	} {
		if got := unwantedClusterTrustBundle(tt.wanted, name)(tt.key, ownedObject{Name: tt.entry}); got != tt.want {
			t.Errorf("wanted %v, entry %s=%s: withdraw %v, want %v", tt.wanted, tt.key, tt.entry, got, tt.want)
		}
	}
	for _, tt := range []struct {
		spec *bool
		want bool
	}{{nil, true}, {ptr.To(true), true}, {ptr.To(false), false}} {
		issuer := &certsmithv1alpha1.ClusterIssuer{Spec: certsmithv1alpha1.ClusterIssuerSpec{Bundle: &certsmithv1alpha1.BundleSpec{ClusterTrustBundle: tt.spec}}}
		if got := wantsClusterTrustBundle(issuer); got != tt.want {
			t.Errorf("clusterTrustBundle %v: wanted %v, want %v", tt.spec, got, tt.want)
		}
	}
}

func TestBundleClusterTrustBundleOutcome(t *testing.T) {
	const signer = "clusterissuers.certsmith.io/web"
	tests := []struct {
		name     string
		plan     bundlePlan
		writeErr error
		want     clusterTrustBundleResult
		// wantConflict is a part of the conflict message.
		wantConflict string
	}{
		{name: "up to date", plan: bundlePlan{action: bundleUpToDate}, want: clusterTrustBundleResult{upToDate: true}},
		{name: "someone else's", plan: bundlePlan{action: bundleConflict, why: "certsmith did not create it"},
			wantConflict: "exists that certsmith did not create (certsmith did not create it); delete it"},
		{name: "created", plan: bundlePlan{action: bundleCreate}, want: clusterTrustBundleResult{upToDate: true}},
		{name: "patched", plan: bundlePlan{action: bundlePatch}, want: clusterTrustBundleResult{upToDate: true}},
		{name: "no attest verb: say what to grant, drop the intent", plan: bundlePlan{action: bundleCreate},
			writeErr: unitStatusError(metav1.StatusReasonForbidden, "attest"), want: clusterTrustBundleResult{forbidden: true, dropIntent: true},
			wantConflict: "grant certsmith the attest verb on signers/" + signer},
		{name: "a create that lost the race", plan: bundlePlan{action: bundleCreate},
			writeErr: unitStatusError(metav1.StatusReasonAlreadyExists, ""), want: clusterTrustBundleResult{dropIntent: true}, wantConflict: "certsmith did not create it"},
		{name: "a patch refused keeps the record", plan: bundlePlan{action: bundlePatch},
			writeErr: unitStatusError(metav1.StatusReasonInvalid, "bad bundle"), wantConflict: "rejected by the API server"},
		{name: "deleted before the patch", plan: bundlePlan{action: bundlePatch}, writeErr: unitStatusError(metav1.StatusReasonNotFound, "")},
		{name: "a timeout is retried", plan: bundlePlan{action: bundlePatch}, writeErr: unitStatusError(metav1.StatusReasonTimeout, ""),
			want: clusterTrustBundleResult{retry: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clusterTrustBundleOutcome(tt.plan, tt.writeErr, signer)
			conflict := got.conflict
			got.conflict = ""
			if got != tt.want {
				t.Fatalf("%+v, want %+v", got, tt.want)
			}
			if (tt.wantConflict == "") != (conflict == "") || !strings.Contains(conflict, tt.wantConflict) {
				t.Fatalf("conflict %q, want one with %q", conflict, tt.wantConflict)
			}
		})
	}
	huge := clusterTrustBundleOutcome(bundlePlan{action: bundlePatch}, unitStatusError(metav1.StatusReasonForbidden, strings.Repeat("x", 5000)), strings.Repeat("s", 5000))
	if len(huge.conflict) > maxClusterTrustBundleConflict {
		t.Fatalf("conflict of %d bytes, more than %d", len(huge.conflict), maxClusterTrustBundleConflict)
	}
}

func TestBundleStatusKeepsTheInjectorsPart(t *testing.T) {
	injection := &certsmithv1alpha1.InjectionStatus{Targets: 2, UpToDate: 1}
	computed := func() *certsmithv1alpha1.BundleStatus {
		return &certsmithv1alpha1.BundleStatus{Namespaces: 3, UpToDate: 3}
	}
	tests := []struct {
		name     string
		current  *certsmithv1alpha1.BundleStatus
		computed *certsmithv1alpha1.BundleStatus
		want     *certsmithv1alpha1.BundleStatus
	}{
		{name: "first status", computed: computed(), want: computed()},
		{name: "the injector's counts are kept", current: &certsmithv1alpha1.BundleStatus{Namespaces: 1, Injection: injection}, computed: computed(),
			want: &certsmithv1alpha1.BundleStatus{Namespaces: 3, UpToDate: 3, Injection: injection}},
		{name: "bundle turned off: only the injector's counts stay", current: &certsmithv1alpha1.BundleStatus{Namespaces: 1, Injection: injection},
			want: &certsmithv1alpha1.BundleStatus{Injection: injection}},
		{name: "bundle turned off, no injection: no status.bundle", current: &certsmithv1alpha1.BundleStatus{Namespaces: 1}},
		{name: "the bundle controller never writes an injection of its own", current: &certsmithv1alpha1.BundleStatus{},
			computed: &certsmithv1alpha1.BundleStatus{Injection: injection}, want: &certsmithv1alpha1.BundleStatus{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bundleStatusToWrite(tt.current, tt.computed)
			if fmt.Sprintf("%+v", bundleStatusValue(got)) != fmt.Sprintf("%+v", bundleStatusValue(tt.want)) || (got == nil) != (tt.want == nil) {
				t.Fatalf("status %+v, want %+v", bundleStatusValue(got), bundleStatusValue(tt.want))
			}
		})
	}
}

func bundleStatusValue(s *certsmithv1alpha1.BundleStatus) any {
	if s == nil {
		return nil
	}
	return *s
}

func TestBundleConflictEvents(t *testing.T) {
	recorder := events.NewFakeRecorder(10)
	r := &BundleReconciler{Recorder: recorder}
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: certsmithv1alpha1.ClusterIssuerSpec{Bundle: &certsmithv1alpha1.BundleSpec{}}}
	steps := []struct {
		name         string
		status       certsmithv1alpha1.BundleStatus
		conflicts    []string
		ctbForbidden bool
		want         []string // reasons
	}{
		{name: "no conflict", status: certsmithv1alpha1.BundleStatus{Namespaces: 2, UpToDate: 2}},
		{name: "a tenant's ConfigMap", status: certsmithv1alpha1.BundleStatus{Namespaces: 2, UpToDate: 1, Conflicts: 1, ConflictNamespaces: []string{"b"}},
			conflicts: []string{"b (certsmith did not create it)"}, want: []string{certsmithv1alpha1.ReasonBundleConflict}},
		{name: "the same conflict again: no second Event", status: certsmithv1alpha1.BundleStatus{Namespaces: 2, UpToDate: 1, Conflicts: 1, ConflictNamespaces: []string{"b"}},
			conflicts: []string{"b (certsmith did not create it)"}},
		{name: "another namespace", status: certsmithv1alpha1.BundleStatus{Namespaces: 2, UpToDate: 1, Conflicts: 1, ConflictNamespaces: []string{"c"}},
			conflicts: []string{"c (immutable)"}, want: []string{certsmithv1alpha1.ReasonBundleConflict}},
		{name: "no attest verb", status: certsmithv1alpha1.BundleStatus{Namespaces: 2, UpToDate: 2, ClusterTrustBundleConflict: "grant it"},
			ctbForbidden: true, want: []string{reasonClusterTrustBundleForbidden}},
		{name: "a foreign ClusterTrustBundle", status: certsmithv1alpha1.BundleStatus{Namespaces: 2, UpToDate: 2, ClusterTrustBundleConflict: "delete it"},
			want: []string{certsmithv1alpha1.ReasonClusterTrustBundleConflict}},
		{name: "the same again", status: certsmithv1alpha1.BundleStatus{Namespaces: 2, UpToDate: 2, ClusterTrustBundleConflict: "delete it"}},
	}
	for _, step := range steps {
		status := step.status
		r.reportConflicts(issuer, &status, step.conflicts, step.ctbForbidden)
		var reasons []string
		for _, e := range unitEvents(recorder) {
			fields := strings.SplitN(e, " ", 3)
			if fields[0] != corev1.EventTypeWarning {
				t.Errorf("%s: event %q is not a Warning", step.name, e)
			}
			if fields[1] == certsmithv1alpha1.ReasonBundleConflict && !strings.Contains(e, step.conflicts[0]) {
				t.Errorf("%s: event %q does not name the conflict", step.name, e)
			}
			reasons = append(reasons, fields[1])
		}
		if !slices.Equal(reasons, step.want) {
			t.Fatalf("%s: events %v, want %v", step.name, reasons, step.want)
		}
		issuer.Status.Bundle = &status
	}
}

func TestBundleAdoptionOfEarlierReleases(t *testing.T) {
	root, other := unitRootCA(t, "root"), unitRootCA(t, "other")
	anchors := map[string]bool{pki.FingerprintSHA256(root.Certificate): true}
	rootPEM := string(pki.EncodeCertificatesPEM(root.Certificate))
	cm := func(mutate func(*corev1.ConfigMap)) *corev1.ConfigMap {
		c := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-ca", Labels: bundleLabels("web")}, Data: map[string]string{"ca.crt": rootPEM}}
		if mutate != nil {
			mutate(c)
		}
		return c
	}
	tests := []struct {
		name string
		cm   *corev1.ConfigMap
		want bool
	}{
		{name: "exactly what an earlier release wrote", cm: cm(nil), want: true},
		{name: "labelled for another issuer", cm: cm(func(c *corev1.ConfigMap) { c.Labels = bundleLabels("other") })},
		{name: "not labelled", cm: cm(func(c *corev1.ConfigMap) { c.Labels = nil })},
		{name: "a second key", cm: cm(func(c *corev1.ConfigMap) { c.Data["extra"] = "x" })},
		{name: "binary data", cm: cm(func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"b": {1}} })},
		{name: "under another key", cm: cm(func(c *corev1.ConfigMap) { c.Data = map[string]string{"root.pem": rootPEM} })},
		{name: "immutable", cm: cm(func(c *corev1.ConfigMap) { c.Immutable = ptr.To(true) })},
		{name: "a certificate the issuer never trusted", cm: cm(func(c *corev1.ConfigMap) {
			c.Data["ca.crt"] = rootPEM + string(pki.EncodeCertificatesPEM(other.Certificate))
		})},
		{name: "no certificate", cm: cm(func(c *corev1.ConfigMap) { c.Data["ca.crt"] = "" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := adoptableConfigMap(tt.cm, "web", "ca.crt", anchors); got != tt.want {
				t.Fatalf("adopted %v, want %v", got, tt.want)
			}
		})
	}
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	ctb := &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Labels: bundleLabels("web")},
		Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: issuer.EffectiveSignerName(), TrustBundle: rootPEM}}
	if !adoptableClusterTrustBundle(ctb, issuer, anchors) {
		t.Fatal("the ClusterTrustBundle an earlier release wrote is not adopted")
	}
	ctb.Spec.SignerName = "example.com/other"
	if adoptableClusterTrustBundle(ctb, issuer, anchors) {
		t.Fatal("a ClusterTrustBundle of another signer is adopted")
	}
}

func TestBundleObservedFromCacheAndServer(t *testing.T) {
	content := map[string]string{"ca.crt": strings.Repeat("x", 1<<20)}
	full := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-ca", Namespace: "a", UID: "u1",
		Labels:      map[string]string{certsmithv1alpha1.LabelManagedBy: "certsmith", certsmithv1alpha1.LabelBundleIssuer: "web", "team": "a"},
		Annotations: map[string]string{annotationBundleClaim: strings.Repeat("a", claimTokenLength), cachedContentHashAnnotation: "forged"}},
		Data: content}
	fromServer := observedFrom(full)
	if fromServer.contentHash != configMapContentHash(content, nil) {
		t.Fatal("an object read from the API server is not judged by its content")
	}
	if _, ok := fromServer.labels["team"]; ok || len(fromServer.labels) != 2 {
		t.Fatalf("labels compared %v, want only certsmith's", fromServer.labels)
	}

	cached, err := stripConfigMapContent(full.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	stripped := cached.(*corev1.ConfigMap)
	if len(stripped.Data) != 0 || stripped.Labels["team"] != "" {
		t.Fatalf("the cache kept the content (%d keys) or foreign labels", len(stripped.Data))
	}
	fromCache := observedFrom(stripped)
	if fromCache.contentHash != fromServer.contentHash || fromCache.uid != "u1" || fromCache.claim != full.Annotations[annotationBundleClaim] {
		t.Fatalf("the cached copy is judged %+v, the server's %+v", fromCache, fromServer)
	}
	again, _ := stripConfigMapContent(stripped)
	if observedFrom(again.(*corev1.ConfigMap)).contentHash != fromServer.contentHash {
		t.Fatal("the cache transform is not idempotent")
	}

	full.Annotations[annotationBundleClaim] = strings.Repeat("a", 10<<10)
	cached, _ = stripConfigMapContent(full.DeepCopy())
	if claim := cached.(*corev1.ConfigMap).Annotations[annotationBundleClaim]; claim != "" {
		t.Fatalf("the cache kept a claim of %d bytes", len(claim))
	}

	partial := &metav1.PartialObjectMetadata{ObjectMeta: *full.ObjectMeta.DeepCopy()}
	partial.SelfLink = strippedMarker //nolint:staticcheck // as the cache marks its copies
	if got := observedFrom(partial).contentHash; got != "" {
		t.Fatal("metadata alone stands for some content")
	}
}

func TestBundleRecordEncoding(t *testing.T) {
	for _, entry := range []ownedObject{{Name: "web-ca", UID: "0f3c"}, {Name: "web-ca", Token: "abc"}} {
		got, ok := decodeOwned(entry.encode())
		if !ok || got != entry {
			t.Errorf("%+v encoded and decoded is %+v (%v)", entry, got, ok)
		}
	}
	for _, raw := range []string{"", "uid", "/name", "uid/", "?/name"} {
		if got, ok := decodeOwned(raw); ok {
			t.Errorf("malformed entry %q decoded as %+v", raw, got)
		}
	}
	long := strings.Repeat("a", 253)
	names := map[string]bool{}
	for shard := range bundleRecordShards {
		name := bundleRecordName(long, shard)
		if len(name) > 253 || names[name] {
			t.Fatalf("shard %d of a long issuer: %q (%d bytes)", shard, name, len(name))
		}
		names[name] = true
	}
	if bundleRecordName(long, 0) == bundleRecordName(long[:252]+"b", 0) {
		t.Fatal("two long issuer names share a record")
	}
	if got := bundleRecordName("web", 2); got != "web-bundle-owners-2" {
		t.Fatalf("record of web: %s", got)
	}
	for _, key := range []string{"a", "kube-system", recordKeyClusterTrustBundle} {
		if s := shardOf(key); s < 0 || s >= bundleRecordShards || s != shardOf(key) {
			t.Fatalf("key %s in shard %d", key, s)
		}
	}
}

func TestBundleRecordBelongsToItsIssuer(t *testing.T) {
	forged := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: unitOperatorNamespace, Name: bundleRecordName("web", 1),
		Annotations: map[string]string{annotationBundleRecordOf: "other"}},
		Data: map[string][]byte{"a": []byte("uid-x/web-ca")}}
	c := unitFakeClient(t, forged)
	if _, err := loadBundleRecord(context.Background(), c, &bundleRecords{}, unitOperatorNamespace, "web"); err == nil {
		t.Fatal("a Secret that is not the issuer's record was read as its record")
	}

	good := forged.DeepCopy()
	good.ResourceVersion = ""
	good.Annotations[annotationBundleRecordOf] = "web"
	good.Data = map[string][]byte{"a": []byte("uid-x/web-ca"), "b": []byte("garbage"), recordKeyMigrated: []byte("true"), "_future": []byte("uid-z/web-ca"),
		recordKeyClusterTrustBundle: []byte("uid-y/ctb")}
	c = unitFakeClient(t, good)
	record, err := loadBundleRecord(context.Background(), c, &bundleRecords{}, unitOperatorNamespace, "web")
	if err != nil {
		t.Fatal(err)
	}
	// Shard 1 holds whatever its Secret lists (get looks keys up by their own shard).
	if got := record.entries[1]; len(got) != 2 || got["a"].UID != "uid-x" || got[recordKeyClusterTrustBundle].UID != "uid-y" {
		t.Fatalf("entries %+v: want a and the ClusterTrustBundle, without the malformed one or the reserved keys", got)
	}
}

func TestBundleLabelRepair(t *testing.T) {
	want := bundleLabels("web")
	if ops := labelOps(nil, false, want); len(ops) != 1 || ops[0].Path != "/metadata/labels" {
		t.Fatalf("no labels at all: %+v", ops)
	}
	ops := labelOps(map[string]string{certsmithv1alpha1.LabelManagedBy: "certsmith", certsmithv1alpha1.LabelBundleIssuer: "other"}, true, want)
	if len(ops) != 1 || ops[0].Path != "/metadata/labels/certsmith.io~1bundle-issuer" || ops[0].Value != "web" {
		t.Fatalf("a changed label: %+v", ops)
	}
	if ops := labelOps(want, true, want); len(ops) != 0 {
		t.Fatalf("labels as wanted: %+v", ops)
	}
}

func TestBundleNamedList(t *testing.T) {
	if got := namedList([]string{"a (x)", "b (y)"}, 2, 640); got != "a (x), b (y)" {
		t.Fatalf("%q", got)
	}
	if got := namedList([]string{"a", "b", "c"}, 5, 3); got != "a … and 4 more" {
		t.Fatalf("%q", got)
	}
	if got := namedList(nil, 3, 640); got != "… and 3 more" {
		t.Fatalf("%q", got)
	}
}

// unitBundleIssuer is a Ready-looking issuer that distributes its bundle.
func unitBundleIssuer(spec *certsmithv1alpha1.BundleSpec) *certsmithv1alpha1.ClusterIssuer {
	return &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{CA: certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}}, Bundle: spec}}
}

func unitNamespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// TestBundleDistributionPass runs whole passes of the bundle controller on a
// fake client: the selected namespaces get the bundle, a tenant's ConfigMap
// of the same name and labels is reported, never written, and what a
// namespace no longer wants is withdrawn.
func TestBundleDistributionPass(t *testing.T) {
	root := unitRootCA(t, "root")
	bundle := pki.EncodeCertificatesPEM(root.Certificate)
	tenants := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "web-ca", Labels: bundleLabels("web")},
		Data: map[string]string{"ca.crt": "the tenant's own"}}
	issuer := unitBundleIssuer(&certsmithv1alpha1.BundleSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"trust": "yes"}}})
	c := unitFakeClient(t, issuer, unitCASecret(t, "web-ca", root, bundle),
		unitNamespace("a", map[string]string{"trust": "yes"}), unitNamespace("b", map[string]string{"trust": "yes"}), unitNamespace("c", nil),
		tenants)
	recorder := events.NewFakeRecorder(10)
	r := &BundleReconciler{Client: c, APIReader: c, Recorder: recorder, Namespace: unitOperatorNamespace}
	tctx := context.Background()
	pass := func() *certsmithv1alpha1.BundleStatus {
		t.Helper()
		if _, err := r.Reconcile(tctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "web"}}); err != nil {
			t.Fatal(err)
		}
		got := &certsmithv1alpha1.ClusterIssuer{}
		if err := c.Get(tctx, types.NamespacedName{Name: "web"}, got); err != nil {
			t.Fatal(err)
		}
		return got.Status.Bundle
	}

	status := pass()
	if status == nil || status.Namespaces != 2 || status.UpToDate != 1 || status.Conflicts != 1 || !slices.Equal(status.ConflictNamespaces, []string{"b"}) {
		t.Fatalf("status.bundle %+v: want 2 namespaces, 1 up to date, b in conflict", status)
	}
	cm := &corev1.ConfigMap{}
	if err := c.Get(tctx, types.NamespacedName{Namespace: "a", Name: "web-ca"}, cm); err != nil || cm.Data["ca.crt"] != string(bundle) {
		t.Fatalf("namespace a: %v, data %q", err, cm.Data["ca.crt"])
	}
	if err := c.Get(tctx, types.NamespacedName{Namespace: "b", Name: "web-ca"}, cm); err != nil || cm.Data["ca.crt"] != "the tenant's own" {
		t.Fatalf("the tenant's ConfigMap in b was written: %v %q", err, cm.Data["ca.crt"])
	}
	if err := c.Get(tctx, types.NamespacedName{Namespace: "c", Name: "web-ca"}, cm); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace c, which the selector does not match, got a ConfigMap: %v", err)
	}
	if evts := unitEvents(recorder); len(evts) != 1 || !strings.Contains(evts[0], certsmithv1alpha1.ReasonBundleConflict) || !strings.Contains(evts[0], "b (certsmith did not create it)") {
		t.Fatalf("events %q, want one BundleConflict naming b", evts)
	}

	// An edit of certsmith's copy is repaired; the second pass emits no new Event.
	if err := c.Get(tctx, types.NamespacedName{Namespace: "a", Name: "web-ca"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["ca.crt"] = "edited"
	if err := c.Update(tctx, cm); err != nil {
		t.Fatal(err)
	}
	status = pass()
	if err := c.Get(tctx, types.NamespacedName{Namespace: "a", Name: "web-ca"}, cm); err != nil || cm.Data["ca.crt"] != string(bundle) {
		t.Fatalf("the edit in a was not repaired: %v %q", err, cm.Data["ca.crt"])
	}
	if status.UpToDate != 1 || len(unitEvents(recorder)) != 0 {
		t.Fatalf("second pass: %+v", status)
	}

	// Namespace a stops matching: certsmith's copy goes, the tenant's stays.
	ns := &corev1.Namespace{}
	if err := c.Get(tctx, types.NamespacedName{Name: "a"}, ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels = nil
	if err := c.Update(tctx, ns); err != nil {
		t.Fatal(err)
	}
	status = pass()
	if err := c.Get(tctx, types.NamespacedName{Namespace: "a", Name: "web-ca"}, cm); !apierrors.IsNotFound(err) {
		t.Fatalf("certsmith's ConfigMap in a namespace that left stayed: %v", err)
	}
	if status.Namespaces != 1 || status.UpToDate != 0 || status.Conflicts != 1 {
		t.Fatalf("status after a left: %+v", status)
	}

	// The issuer is deleted: what it distributed and its record go; the tenant's stays.
	if err := c.Delete(tctx, issuer); err != nil {
		t.Fatal(err)
	}
	pass2 := func() {
		if _, err := r.Reconcile(tctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "web"}}); err != nil {
			t.Fatal(err)
		}
	}
	pass2()
	if err := c.Get(tctx, types.NamespacedName{Namespace: "b", Name: "web-ca"}, cm); err != nil {
		t.Fatalf("the tenant's ConfigMap went with the issuer: %v", err)
	}
	var secrets corev1.SecretList
	if err := c.List(tctx, &secrets, client.InNamespace(unitOperatorNamespace), client.MatchingLabels{labelBundleRecord: "true"}); err != nil || len(secrets.Items) != 0 {
		t.Fatalf("records left behind: %d (%v)", len(secrets.Items), err)
	}
}

// TestBundleRefusedCreate: a namespace whose admission policy refuses the
// ConfigMap is a conflict, and leaves no intent in the record.
func TestBundleRefusedCreate(t *testing.T) {
	root := unitRootCA(t, "root")
	bundle := pki.EncodeCertificatesPEM(root.Certificate)
	base := unitFakeClient(t, unitBundleIssuer(&certsmithv1alpha1.BundleSpec{}), unitCASecret(t, "web-ca", root, bundle),
		unitNamespace("open", nil), unitNamespace("locked", nil))
	c := interceptor.NewClient(base, interceptor.Funcs{Create: func(tctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if _, ok := obj.(*corev1.ConfigMap); ok && obj.GetNamespace() == "locked" {
			return unitStatusError(metav1.StatusReasonForbidden, "denied by an admission policy")
		}
		return c.Create(tctx, obj, opts...)
	}})
	r := &BundleReconciler{Client: c, APIReader: c, Recorder: events.NewFakeRecorder(10), Namespace: unitOperatorNamespace}
	tctx := context.Background()
	if _, err := r.Reconcile(tctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "web"}}); err != nil {
		t.Fatal(err)
	}
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	if err := c.Get(tctx, types.NamespacedName{Name: "web"}, issuer); err != nil {
		t.Fatal(err)
	}
	if s := issuer.Status.Bundle; s.UpToDate != 1 || s.Conflicts != 1 || !slices.Equal(s.ConflictNamespaces, []string{"locked"}) {
		t.Fatalf("status.bundle %+v", s)
	}
	record, err := loadBundleRecord(tctx, c, &bundleRecords{}, unitOperatorNamespace, "web")
	if err != nil {
		t.Fatal(err)
	}
	if entry, ok := record.get("locked"); ok {
		t.Fatalf("the record keeps %+v for a namespace where nothing was created", entry)
	}
	if entry, ok := record.get("open"); !ok || entry.UID == "" {
		t.Fatalf("the record of the ConfigMap made: %+v %v", entry, ok)
	}
}

// TestBundleClusterTrustBundlePass: the ClusterTrustBundle is published when
// served, a foreign one is a conflict, and a refusal to let certsmith attest
// says what to grant.
func TestBundleClusterTrustBundlePass(t *testing.T) {
	root := unitRootCA(t, "root")
	bundle := pki.EncodeCertificatesPEM(root.Certificate)
	issuer := unitBundleIssuer(&certsmithv1alpha1.BundleSpec{})
	name := clusterTrustBundleName(issuer.EffectiveSignerName())
	tests := []struct {
		name         string
		objects      []client.Object
		createErr    error
		wantUpToDate bool
		wantConflict string
		wantEvent    string
	}{
		{name: "published", wantUpToDate: true},
		{name: "a foreign one", objects: []client.Object{&certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: bundleLabels("web")},
			Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: issuer.EffectiveSignerName(), TrustBundle: string(bundle)}}},
			wantConflict: "certsmith did not create", wantEvent: certsmithv1alpha1.ReasonClusterTrustBundleConflict},
		{name: "no attest verb", createErr: unitStatusError(metav1.StatusReasonForbidden, "no attest"),
			wantConflict: "grant certsmith the attest verb", wantEvent: reasonClusterTrustBundleForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objects := append([]client.Object{issuer.DeepCopy(), unitCASecret(t, "web-ca", root, bundle), unitNamespace("a", nil)}, tt.objects...)
			base := unitFakeClient(t, objects...)
			c := interceptor.NewClient(base, interceptor.Funcs{Create: func(tctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				if _, ok := obj.(*certificatesv1.ClusterTrustBundle); ok && tt.createErr != nil {
					return tt.createErr
				}
				return c.Create(tctx, obj, opts...)
			}})
			recorder := events.NewFakeRecorder(10)
			r := &BundleReconciler{Client: c, APIReader: c, Recorder: recorder, Namespace: unitOperatorNamespace, ClusterTrustBundles: true}
			tctx := context.Background()
			if _, err := r.Reconcile(tctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "web"}}); err != nil {
				t.Fatal(err)
			}
			got := &certsmithv1alpha1.ClusterIssuer{}
			if err := c.Get(tctx, types.NamespacedName{Name: "web"}, got); err != nil {
				t.Fatal(err)
			}
			status := got.Status.Bundle
			if status.ClusterTrustBundle != name || status.ClusterTrustBundleUpToDate != tt.wantUpToDate ||
				(tt.wantConflict == "") != (status.ClusterTrustBundleConflict == "") || !strings.Contains(status.ClusterTrustBundleConflict, tt.wantConflict) {
				t.Fatalf("status.bundle %+v", status)
			}
			if status.UpToDate != 1 {
				t.Fatalf("the ConfigMaps suffered from the ClusterTrustBundle: %+v", status)
			}
			ctb := &certificatesv1.ClusterTrustBundle{}
			err := c.Get(tctx, types.NamespacedName{Name: name}, ctb)
			switch {
			case tt.wantUpToDate && (err != nil || ctb.Spec.TrustBundle != string(bundle) || ctb.Spec.SignerName != issuer.EffectiveSignerName()):
				t.Fatalf("ClusterTrustBundle %v: %+v", err, ctb.Spec)
			case len(tt.objects) > 0 && ctb.Annotations[annotationBundleClaim] != "":
				t.Fatal("certsmith wrote on the foreign ClusterTrustBundle")
			}
			evts := unitEvents(recorder)
			if tt.wantEvent == "" && len(evts) != 0 || tt.wantEvent != "" && (len(evts) != 1 || !strings.Contains(evts[0], " "+tt.wantEvent+" ")) {
				t.Fatalf("events %q, want %q", evts, tt.wantEvent)
			}
		})
	}
}
