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
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// Unit tests of the CA injector's decisions: which objects get a caBundle,
// which fields of them, what it refuses, and what status.bundle.injection
// counts. They need no API server.

// unitTarget builds an injection target of a kind from its JSON.
func unitTarget(t *testing.T, kind, name, body string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := json.Unmarshal([]byte(body), &obj.Object); err != nil {
		t.Fatal(err)
	}
	obj.SetGroupVersionKind(injectables[kind].gvk)
	obj.SetName(name)
	return obj
}

// unitApplied renders an apply object as JSON with its identity removed.
func unitApplied(t *testing.T, apply *unstructured.Unstructured) string {
	t.Helper()
	if apply == nil {
		return "null"
	}
	rest := apply.DeepCopy().Object
	delete(rest, "apiVersion")
	delete(rest, "kind")
	if meta, _ := rest["metadata"].(map[string]any); len(meta) != 1 || meta["name"] == nil {
		t.Fatalf("the apply object's metadata holds more than the name: %v", meta)
	}
	delete(rest, "metadata")
	raw, err := json.Marshal(rest)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestInjectionTargetFields(t *testing.T) {
	const bundle = "TkVX" // base64, as in JSON
	tests := []struct {
		name, kind, body string
		// want is the apply object without its identity; "null" for none.
		want        string
		wantChanged bool
	}{
		{name: "every webhook of a ValidatingWebhookConfiguration, named by its key", kind: "ValidatingWebhookConfiguration",
			body: `{"webhooks":[{"name":"a.example.com","clientConfig":{"caBundle":"T0xE","service":{"name":"svc"}},"rules":[{}]},{"name":"b.example.com","clientConfig":{}}]}`,
			want: `{"webhooks":[{"clientConfig":{"caBundle":"TkVX"},"name":"a.example.com"},{"clientConfig":{"caBundle":"TkVX"},"name":"b.example.com"}]}`, wantChanged: true},
		{name: "a MutatingWebhookConfiguration already holding the bundle", kind: "MutatingWebhookConfiguration",
			body: `{"webhooks":[{"name":"m.example.com","clientConfig":{"caBundle":"TkVX"}}]}`,
			want: `{"webhooks":[{"clientConfig":{"caBundle":"TkVX"},"name":"m.example.com"}]}`},
		{name: "one stale webhook among up-to-date ones", kind: "MutatingWebhookConfiguration",
			body: `{"webhooks":[{"name":"a","clientConfig":{"caBundle":"TkVX"}},{"name":"b","clientConfig":{"caBundle":"T0xE"}}]}`,
			want: `{"webhooks":[{"clientConfig":{"caBundle":"TkVX"},"name":"a"},{"clientConfig":{"caBundle":"TkVX"},"name":"b"}]}`, wantChanged: true},
		{name: "one stale webhook before up-to-date ones", kind: "ValidatingWebhookConfiguration",
			body: `{"webhooks":[{"name":"a","clientConfig":{"caBundle":"T0xE"}},{"name":"b","clientConfig":{"caBundle":"TkVX"}}]}`,
			want: `{"webhooks":[{"clientConfig":{"caBundle":"TkVX"},"name":"a"},{"clientConfig":{"caBundle":"TkVX"},"name":"b"}]}`, wantChanged: true},
		{name: "a webhook configuration without webhooks has nothing to keep", kind: "ValidatingWebhookConfiguration", body: `{}`, want: "null"},
		{name: "an APIService's spec.caBundle, nothing else of its spec", kind: "APIService",
			body: `{"spec":{"group":"metrics.k8s.io","version":"v1beta1","service":{"name":"metrics"},"groupPriorityMinimum":100}}`,
			want: `{"spec":{"caBundle":"TkVX"}}`, wantChanged: true},
		{name: "a CRD's conversion webhook, without owning the strategy", kind: "CustomResourceDefinition",
			body: `{"spec":{"conversion":{"strategy":"Webhook","webhook":{"clientConfig":{"service":{"name":"conv"}},"conversionReviewVersions":["v1"]}}}}`,
			want: `{"spec":{"conversion":{"webhook":{"clientConfig":{"caBundle":"TkVX"}}}}}`, wantChanged: true},
		{name: "a CRD without conversion webhook has no caBundle", kind: "CustomResourceDefinition",
			body: `{"spec":{"conversion":{"strategy":"None"}}}`, want: "null"},
		{name: "a CRD without conversion", kind: "CustomResourceDefinition", body: `{"spec":{}}`, want: "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := unitTarget(t, tt.kind, "target", tt.body)
			before := obj.DeepCopy()
			apply, changed := injectables[tt.kind].inject(obj, bundle)
			if got := unitApplied(t, apply); got != tt.want || changed != tt.wantChanged {
				t.Fatalf("apply %s changed %v, want %s %v", got, changed, tt.want, tt.wantChanged)
			}
			if apply != nil && (apply.GetName() != "target" || apply.GroupVersionKind() != injectables[tt.kind].gvk) {
				t.Fatalf("apply object for %s %s", apply.GroupVersionKind(), apply.GetName())
			}
			if fmt.Sprint(before.Object) != fmt.Sprint(obj.Object) {
				t.Fatal("inject changed the observed object")
			}
		})
	}
	for _, kind := range []string{"Secret", "ConfigMap", "Service", "Pod"} {
		if _, ok := injectables[kind]; ok {
			t.Errorf("the injector writes into %s", kind)
		}
	}
}

func TestInjectionRequests(t *testing.T) {
	deleting := metav1.Now()
	tests := []struct {
		name        string
		annotations map[string]string
		deleting    bool
		want        string
	}{
		{name: "annotated", annotations: map[string]string{certsmithv1alpha1.AnnotationInjectCABundleFrom: "web"}, want: "web"},
		{name: "not annotated"},
		{name: "an empty annotation", annotations: map[string]string{certsmithv1alpha1.AnnotationInjectCABundleFrom: ""}},
		{name: "cert-manager's annotation is not certsmith's", annotations: map[string]string{"cert-manager.io/inject-ca-from": "ns/cert"}},
		{name: "being deleted", annotations: map[string]string{certsmithv1alpha1.AnnotationInjectCABundleFrom: "web"}, deleting: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := unitTarget(t, "APIService", "v1.example.com", `{}`)
			obj.SetAnnotations(tt.annotations)
			if tt.deleting {
				obj.SetDeletionTimestamp(&deleting)
			}
			if got := injectionRequested(obj); got != tt.want {
				t.Fatalf("asks for %q, want %q", got, tt.want)
			}
			// The watch and the index follow the annotation (deletion aside).
			index := injectCAFrom(obj)
			targets := annotatedTarget("APIService")(context.Background(), obj)
			requests := issuerOfTarget(context.Background(), obj)
			if named := tt.annotations[certsmithv1alpha1.AnnotationInjectCABundleFrom]; named != "" {
				if !slices.Equal(index, []string{named}) || len(targets) != 1 || targets[0] != (injectionTarget{Kind: "APIService", Name: "v1.example.com"}) ||
					len(requests) != 1 || requests[0].Name != named {
					t.Fatalf("index %v, targets %v, requests %v", index, targets, requests)
				}
			} else if index != nil || targets != nil || requests != nil {
				t.Fatalf("an object that asks for nothing is indexed %v, watched %v, %v", index, targets, requests)
			}
		})
	}
}

func TestInjectionRefusals(t *testing.T) {
	ready := func(status metav1.ConditionStatus, reason, message string) *certsmithv1alpha1.ClusterIssuer {
		return &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Status: certsmithv1alpha1.ClusterIssuerStatus{
			Conditions: []metav1.Condition{{Type: certsmithv1alpha1.ConditionReady, Status: status, Reason: reason, Message: message}}}}
	}
	tests := []struct {
		name       string
		issuer     *certsmithv1alpha1.ClusterIssuer
		wantReason string
		wantNote   string
	}{
		{name: "an issuer that does not exist", wantReason: certsmithv1alpha1.ReasonIssuerNotFound,
			wantNote: "ClusterIssuer web named by annotation certsmith.io/inject-ca-from does not exist"},
		{name: "an issuer without conditions", issuer: &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "web"}},
			wantReason: certsmithv1alpha1.ReasonIssuerNotReady, wantNote: "it has no Ready condition yet"},
		{name: "an issuer that is not Ready says why", issuer: ready(metav1.ConditionFalse, "CASecretInvalid", "tls.key is missing"),
			wantReason: certsmithv1alpha1.ReasonIssuerNotReady, wantNote: "not Ready (CASecretInvalid: tls.key is missing)"},
		{name: "Ready unknown", issuer: ready(metav1.ConditionUnknown, "Pending", "starting"), wantReason: certsmithv1alpha1.ReasonIssuerNotReady},
		{name: "a Ready issuer", issuer: ready(metav1.ConditionTrue, "CAReady", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, note := injectionRefusal("web", tt.issuer)
			if reason != tt.wantReason || !strings.Contains(note, tt.wantNote) || (reason == "") != (note == "") {
				t.Fatalf("reason %q note %q, want %q with %q", reason, note, tt.wantReason, tt.wantNote)
			}
		})
	}
}

func TestInjectionCoverage(t *testing.T) {
	root := unitRootCA(t, "root")
	bundle := pki.EncodeCertificatesPEM(root.Certificate)
	encoded := base64.StdEncoding.EncodeToString(bundle)
	deleting := metav1.Now()
	webhook := func(caBundle string) string {
		return `{"webhooks":[{"name":"w","clientConfig":{"caBundle":"` + caBundle + `"}}]}`
	}
	tally := newInjectionTally(bundle)
	add := func(kind, name, body, rejected string, mutate func(*unstructured.Unstructured)) {
		obj := unitTarget(t, kind, name, body)
		if mutate != nil {
			mutate(obj)
		}
		tally.add(injectionTarget{Kind: kind, Name: name}, obj, rejected)
	}
	add("ValidatingWebhookConfiguration", "current", webhook(encoded), "", nil)
	add("MutatingWebhookConfiguration", "stale", webhook("T0xE"), "", nil)
	add("APIService", "refused", `{"spec":{"insecureSkipTLSVerify":true}}`, encoded, nil)
	add("APIService", "refused-before", `{"spec":{}}`, "T0xE", nil) // refused an older bundle: not this one
	add("CustomResourceDefinition", "no-webhook", `{"spec":{"conversion":{"strategy":"None"}}}`, "", nil)
	add("ValidatingWebhookConfiguration", "going", webhook("T0xE"), "", func(o *unstructured.Unstructured) { o.SetDeletionTimestamp(&deleting) })
	add("Unknown", "x", `{}`, "", nil)
	got := tally.result()
	want := &certsmithv1alpha1.InjectionStatus{Targets: 4, UpToDate: 1, Rejected: 1,
		NotUpToDate:        []string{"MutatingWebhookConfiguration stale", "APIService refused", "APIService refused-before"},
		FingerprintsSHA256: []string{pki.FingerprintSHA256(root.Certificate)}}
	if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", *want) {
		t.Fatalf("coverage %+v\nwant     %+v", *got, *want)
	}

	many := newInjectionTally(bundle)
	for i := range 3 * maxNamedTargets {
		obj := unitTarget(t, "APIService", fmt.Sprintf("v%d.example.com", i), `{"spec":{}}`)
		many.add(injectionTarget{Kind: "APIService", Name: obj.GetName()}, obj, "")
	}
	if got := many.result(); got.Targets != 3*maxNamedTargets || len(got.NotUpToDate) != maxNamedTargets {
		t.Fatalf("%d targets, %d named; want %d, %d", got.Targets, len(got.NotUpToDate), 3*maxNamedTargets, maxNamedTargets)
	}
	long := newInjectionTally(bundle)
	obj := unitTarget(t, "APIService", strings.Repeat("n", 1000), `{"spec":{}}`)
	long.add(injectionTarget{Kind: "APIService", Name: obj.GetName()}, obj, "")
	if got := long.result(); len(got.NotUpToDate[0]) > 300 {
		t.Fatalf("a target named in %d bytes", len(got.NotUpToDate[0]))
	}

	none := newInjectionTally(bundle)
	add2 := unitTarget(t, "CustomResourceDefinition", "plain", `{"spec":{}}`)
	none.add(injectionTarget{Kind: "CustomResourceDefinition", Name: "plain"}, add2, "")
	if got := none.result(); got != nil {
		t.Fatalf("an issuer without targets reports %+v, want no injection status", got)
	}
}

func TestInjectionStatusWrites(t *testing.T) {
	a := &certsmithv1alpha1.InjectionStatus{Targets: 1, UpToDate: 1}
	b := &certsmithv1alpha1.InjectionStatus{Targets: 1}
	tests := []struct {
		name                  string
		current, last, status *certsmithv1alpha1.InjectionStatus
		wrote                 bool
		want                  bool
	}{
		{name: "nothing to report, nothing reported", want: true},
		{name: "as the issuer shows", current: a, status: a.DeepCopy(), want: true},
		{name: "what this process wrote, not yet in the cache", current: b, last: a, wrote: true, status: a.DeepCopy(), want: true},
		{name: "changed", current: b, status: a},
		{name: "changed back after a write the cache has not seen", current: b, last: a, wrote: true, status: b.DeepCopy(), want: true},
		{name: "the last targets are gone", current: a, last: a, wrote: true},
		{name: "the targets are gone, after a restart", current: a},
		{name: "first report", status: a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := injectionStatusUnchanged(tt.current, tt.last, tt.wrote, tt.status); got != tt.want {
				t.Fatalf("unchanged %v, want %v", got, tt.want)
			}
		})
	}
}

// unitApply is one server-side apply the injector made.
type unitApply struct {
	object       map[string]any
	fieldManager string
	force        bool
}

// TestInjectionReconcile runs the injector on a fake client whose applies
// are recorded (and answered with applyErr).
func TestInjectionReconcile(t *testing.T) {
	root := unitRootCA(t, "root")
	bundle := pki.EncodeCertificatesPEM(root.Certificate)
	encoded := base64.StdEncoding.EncodeToString(bundle)
	readyIssuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:   certsmithv1alpha1.ClusterIssuerSpec{CA: certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}}},
		Status: certsmithv1alpha1.ClusterIssuerStatus{Conditions: []metav1.Condition{{Type: certsmithv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "CAReady"}}}}
	notReady := readyIssuer.DeepCopy()
	notReady.Status.Conditions[0].Status, notReady.Status.Conditions[0].Reason = metav1.ConditionFalse, "CASecretInvalid"
	vwc := func(annotation, caBundle string) *admissionregistrationv1.ValidatingWebhookConfiguration {
		obj := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "hooks"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "v.example.com", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: []byte(caBundle)}}}}
		if annotation != "" {
			obj.Annotations = map[string]string{certsmithv1alpha1.AnnotationInjectCABundleFrom: annotation}
		}
		return obj
	}
	invalid := apierrors.NewInvalid(schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}, "hooks",
		field.ErrorList{field.Invalid(field.NewPath("webhooks").Index(0).Child("clientConfig", "caBundle"), "", "bad")})
	tests := []struct {
		name      string
		issuer    *certsmithv1alpha1.ClusterIssuer
		target    client.Object
		kind      string
		applyErr  error
		wantApply bool
		wantEvent string // reason
		wantErr   bool
		wantNoted bool // the rejection is remembered for the coverage
	}{
		{name: "injects the issuer's bundle into every webhook", issuer: readyIssuer, target: vwc("web", ""), wantApply: true, wantEvent: reasonCABundleInjected},
		{name: "up to date: no write, no Event", issuer: readyIssuer, target: vwc("web", string(bundle))},
		{name: "not annotated: left alone", issuer: readyIssuer, target: vwc("", "")},
		{name: "an issuer that does not exist: caBundle left alone, and why", target: vwc("web", ""), wantEvent: certsmithv1alpha1.ReasonIssuerNotFound},
		{name: "an issuer that is not Ready", issuer: notReady, target: vwc("web", ""), wantEvent: certsmithv1alpha1.ReasonIssuerNotReady},
		{name: "the object's spec forbids a caBundle: a Warning, no hot retry", issuer: readyIssuer, target: vwc("web", ""),
			applyErr: invalid, wantApply: true, wantEvent: reasonCABundleRejected, wantNoted: true},
		{name: "a transient failure is retried", issuer: readyIssuer, target: vwc("web", ""),
			applyErr: apierrors.NewServerTimeout(schema.GroupResource{}, "patch", 1), wantApply: true, wantErr: true},
		{name: "a kind the injector does not keep", issuer: readyIssuer, target: vwc("web", ""), kind: "Secret"},
		{name: "a target that is gone", issuer: readyIssuer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objects := []client.Object{unitCASecret(t, "web-ca", root, bundle)}
			if tt.issuer != nil {
				objects = append(objects, tt.issuer.DeepCopy())
			}
			if tt.target != nil {
				objects = append(objects, tt.target)
			}
			var applies []unitApply
			c := interceptor.NewClient(unitFakeClient(t, objects...), interceptor.Funcs{
				Apply: func(_ context.Context, _ client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
					raw, err := json.Marshal(obj)
					if err != nil {
						return err
					}
					applied := unitApply{object: map[string]any{}}
					if err := json.Unmarshal(raw, &applied.object); err != nil {
						return err
					}
					options := (&client.ApplyOptions{}).ApplyOptions(opts)
					applied.fieldManager, applied.force = options.FieldManager, options.Force != nil && *options.Force
					applies = append(applies, applied)
					return tt.applyErr
				}})
			recorder := events.NewFakeRecorder(10)
			r := &CAInjectorReconciler{Client: c, Cache: c, Recorder: recorder, Namespace: unitOperatorNamespace}
			kind := tt.kind
			if kind == "" {
				kind = "ValidatingWebhookConfiguration"
			}
			target := injectionTarget{Kind: kind, Name: "hooks"}
			_, err := r.Reconcile(context.Background(), target)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want an error: %v", err, tt.wantErr)
			}
			if len(applies) != map[bool]int{true: 1}[tt.wantApply] {
				t.Fatalf("%d applies, want one: %v", len(applies), tt.wantApply)
			}
			if tt.wantApply {
				a := applies[0]
				hooks, _, _ := unstructured.NestedSlice(a.object, "webhooks")
				caBundle, _, _ := unstructured.NestedString(hooks[0].(map[string]any), "clientConfig", "caBundle")
				if caBundle != encoded || a.fieldManager != CAInjectorFieldManager || !a.force || len(a.object) != 4 {
					t.Fatalf("applied %v as %q (force %v), want the bundle under %s", a.object, a.fieldManager, a.force, CAInjectorFieldManager)
				}
			}
			evts := unitEvents(recorder)
			if tt.wantEvent == "" && len(evts) > 0 || tt.wantEvent != "" && (len(evts) != 1 || !strings.Contains(evts[0], " "+tt.wantEvent+" ")) {
				t.Fatalf("events %q, want %q", evts, tt.wantEvent)
			}
			if noted := r.rejectedWith(target) == encoded; noted != tt.wantNoted {
				t.Fatalf("rejection remembered %v, want %v", noted, tt.wantNoted)
			}
		})
	}
}

// TestInjectionStatusReconcile runs the injection status reporter on a fake
// client: it counts the targets that name the issuer, by the index.
func TestInjectionStatusReconcile(t *testing.T) {
	root := unitRootCA(t, "root")
	bundle := pki.EncodeCertificatesPEM(root.Certificate)
	issuer := &certsmithv1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: certsmithv1alpha1.ClusterIssuerSpec{CA: certsmithv1alpha1.CASource{SelfSigned: &certsmithv1alpha1.GeneratedCA{}}}}
	hook := func(name, issuerName string, caBundle []byte) *admissionregistrationv1.MutatingWebhookConfiguration {
		return &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name,
			Annotations: map[string]string{certsmithv1alpha1.AnnotationInjectCABundleFrom: issuerName}},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "m.example.com", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: caBundle}}}}
	}
	base := unitFakeClientWithIndex(t, issuer, unitCASecret(t, "web-ca", root, bundle),
		hook("current", "web", bundle), hook("stale", "web", []byte("old")), hook("other", "another", nil))
	// Kinds whose types the fake client does not know (APIService, CRD) list as empty.
	c := interceptor.NewClient(base, interceptor.Funcs{List: func(tctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if u, ok := list.(*unstructured.UnstructuredList); ok && !strings.Contains(u.GetKind(), "WebhookConfiguration") {
			return nil
		}
		return c.List(tctx, list, opts...)
	}})
	s := &injectionStatusReconciler{injector: &CAInjectorReconciler{Client: c, Cache: c, Namespace: unitOperatorNamespace}}
	tctx := context.Background()
	if _, err := s.Reconcile(tctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(issuer)}); err != nil {
		t.Fatal(err)
	}
	got := &certsmithv1alpha1.ClusterIssuer{}
	if err := c.Get(tctx, client.ObjectKeyFromObject(issuer), got); err != nil {
		t.Fatal(err)
	}
	injection := got.Status.Bundle.Injection
	if injection == nil || injection.Targets != 2 || injection.UpToDate != 1 || !slices.Equal(injection.NotUpToDate, []string{"MutatingWebhookConfiguration stale"}) {
		t.Fatalf("status.bundle.injection %+v", injection)
	}
	if got.Status.Bundle.Namespaces != 0 || got.Status.Bundle.ConflictNamespaces != nil {
		t.Fatalf("the injector wrote the bundle controller's part: %+v", got.Status.Bundle)
	}
}

// unitFakeClientWithIndex is unitFakeClient with the injector's index on
// the webhook configuration kinds.
func unitFakeClientWithIndex(t *testing.T, objects ...client.Object) client.WithWatch {
	t.Helper()
	builder := unitFakeClientBuilder(t, objects...)
	for _, kind := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
		builder = builder.WithIndex(newUnstructured(injectables[kind].gvk), indexInjectCAFrom, injectCAFrom)
	}
	return builder.Build()
}
