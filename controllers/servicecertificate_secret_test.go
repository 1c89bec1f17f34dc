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
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
)

// secretFixture is a signed certificate of shop/web and what desiredSecret
// builds from: its material, the issuer's bundle, and a reconciler on a
// fake client that holds the keystore password Secret.
type secretFixture struct {
	r        *ServiceCertificateReconciler
	issued   *issuedCertificate
	material *certificateMaterial
	bundle   []byte
	req      *certificateRequest
}

// passwordSecret is the keystore password Secret of the tests.
func passwordSecret(password string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "keystore-password"},
		Data: map[string][]byte{"password": []byte(password)}}
}

// newSecretFixture issues a certificate; objs are held by the fake client.
func newSecretFixture(t *testing.T, objs ...client.Object) *secretFixture {
	sc := scTestCertificate(nil)
	req := scTestRequest(t, sc)
	ca := scTestCA(t, "corp root", scTestNow.Add(-time.Hour))
	issued := scTestIssued(t, sc, req, ca, scTestNow, 90*24*time.Hour)
	c := scTestClient(t, objs...)
	return &secretFixture{
		r:      &ServiceCertificateReconciler{Client: c, APIReader: c},
		issued: issued, req: req,
		material: &certificateMaterial{chain: issued.chain, chainPEM: issued.secret.Data[corev1.TLSCertKey],
			key: issued.key, keyPEM: issued.secret.Data[corev1.TLSPrivateKeyKey]},
		bundle: pki.EncodeCertificatesPEM(ca.Certificate),
	}
}

// emptySecret is the Secret certsmith creates for sc.
func emptySecret(sc *certsmithv1alpha1.ServiceCertificate) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: sc.Namespace, Name: sc.Status.SecretName}, Type: corev1.SecretTypeTLS}
}

// TestServiceCertificateDesiredSecret checks the Secret certsmith writes: its keys, annotations, label and owner reference.
func TestServiceCertificateDesiredSecret(t *testing.T) {
	f := newSecretFixture(t)
	sc := scTestCertificate(nil)
	base := emptySecret(sc)
	base.Data = map[string][]byte{"extra": []byte("a tenant's key")}
	base.Annotations = map[string]string{certsmithv1alpha1.AnnotationRevision: "1", "tenant/note": "kept"}
	desired, err := f.r.desiredSecret(context.Background(), sc, base, f.material, f.bundle, issuedAnnotations(sc, f.req, 2))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string][]byte{corev1.TLSCertKey: f.material.chainPEM, corev1.TLSPrivateKeyKey: f.material.keyPEM,
		caCertKey: f.bundle, "extra": []byte("a tenant's key")} {
		if !bytes.Equal(desired.Data[key], want) {
			t.Errorf("%s: %q, want %q", key, desired.Data[key], want)
		}
	}
	if len(desired.Data) != 4 {
		t.Errorf("data keys %d, want 4: no output nobody asked for", len(desired.Data))
	}
	if got := desired.Annotations[certsmithv1alpha1.AnnotationRevision]; got != "2" {
		t.Errorf("revision %q: certsmith's annotations override what the Secret had", got)
	}
	if desired.Annotations["tenant/note"] != "kept" || desired.Annotations[certsmithv1alpha1.AnnotationDNSNames] != "web.shop.svc" ||
		desired.Annotations[certsmithv1alpha1.AnnotationIssuerName] != "corp" || desired.Annotations[certsmithv1alpha1.AnnotationServiceCertificate] != "web" {
		t.Errorf("annotations %v", desired.Annotations)
	}
	if desired.Labels[certsmithv1alpha1.LabelManagedBy] != certsmithv1alpha1.ManagedByValue {
		t.Errorf("labels %v: no managed-by label, the cache would not see it", desired.Labels)
	}
	owner := metav1.GetControllerOf(desired)
	if owner == nil || owner.UID != sc.UID || owner.Kind != "ServiceCertificate" {
		t.Errorf("controller reference %+v, want the ServiceCertificate", owner)
	}
	if base.Data[corev1.TLSCertKey] != nil || base.Labels != nil {
		t.Error("desiredSecret changed its base")
	}

	retained := scTestCertificate(func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
		spec.SecretDeletionPolicy = certsmithv1alpha1.SecretDeletionPolicyRetain
	})
	kept, err := f.r.desiredSecret(context.Background(), retained, desired, f.material, f.bundle, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept.OwnerReferences) != 0 {
		t.Errorf("Retain kept owner references %+v: deleting the ServiceCertificate would delete the Secret", kept.OwnerReferences)
	}
}

// TestServiceCertificateAdditionalOutputFormats checks the combined PEM and DER outputs, added and removed with the spec.
func TestServiceCertificateAdditionalOutputFormats(t *testing.T) {
	f := newSecretFixture(t)
	sc := scTestCertificate(func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
		spec.AdditionalOutputFormats = []certsmithv1alpha1.AdditionalOutputFormat{
			{Type: certsmithv1alpha1.CombinedPEMOutput}, {Type: certsmithv1alpha1.DEROutput}}
	})
	desired, err := f.r.desiredSecret(context.Background(), sc, emptySecret(sc), f.material, f.bundle, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]byte{}, f.material.keyPEM...), f.material.chainPEM...); !bytes.Equal(desired.Data[combinedPEMKey], want) {
		t.Errorf("%s is not the key followed by the chain", combinedPEMKey)
	}
	key, err := x509.ParsePKCS8PrivateKey(desired.Data[derKeyKey])
	if err != nil || !pki.KeyMatchesCertificate(asSigner(t, key), f.issued.leaf()) {
		t.Errorf("%s is not the certificate's key in PKCS#8 DER: %v", derKeyKey, err)
	}

	sc.Spec.AdditionalOutputFormats = sc.Spec.AdditionalOutputFormats[1:]
	fewer, err := f.r.desiredSecret(context.Background(), sc, desired, f.material, f.bundle, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fewer.Data[combinedPEMKey]; ok || len(fewer.Data[derKeyKey]) == 0 {
		t.Errorf("after CombinedPEM was dropped from the spec: keys %v", dataKeys(fewer))
	}
}

// TestServiceCertificateKeystores checks the PKCS#12 keystores: written, not re-encoded when nothing changed, re-encoded for a new password, removed.
func TestServiceCertificateKeystores(t *testing.T) {
	f := newSecretFixture(t, passwordSecret("changeit"))
	sc := scTestCertificate(func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
		spec.Keystores = &certsmithv1alpha1.Keystores{PKCS12: &certsmithv1alpha1.PKCS12Keystore{
			PasswordSecretRef: certsmithv1alpha1.SecretKeySelector{Name: "keystore-password", Key: "password"}}}
	})
	ctx := context.Background()
	first, err := f.r.desiredSecret(ctx, sc, emptySecret(sc), f.material, f.bundle, nil)
	if err != nil {
		t.Fatal(err)
	}
	hash := first.Annotations[annotationKeystoreHash]
	if len(first.Data[keystorePKCS12Key]) == 0 || len(first.Data[truststorePKCS12Key]) == 0 || hash == "" {
		t.Fatalf("keys %v, hash %q: no keystore", dataKeys(first), hash)
	}
	if strings.Contains(hash, "changeit") {
		t.Fatal("the keystore hash reveals the password")
	}
	again, err := f.r.desiredSecret(ctx, sc, first, f.material, f.bundle, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Data[keystorePKCS12Key], first.Data[keystorePKCS12Key]) || !secretUnchanged(first, again) {
		t.Fatal("the keystore was re-encoded although nothing changed: every reconcile would write the Secret")
	}

	other := newSecretFixture(t, passwordSecret("another"))
	other.material = f.material
	changed, err := other.r.desiredSecret(ctx, sc, first, f.material, f.bundle, nil)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Annotations[annotationKeystoreHash] == hash || bytes.Equal(changed.Data[keystorePKCS12Key], first.Data[keystorePKCS12Key]) {
		t.Fatal("a new password did not re-encode the keystore")
	}

	sc.Spec.Keystores = nil
	dropped, err := f.r.desiredSecret(ctx, sc, first, f.material, f.bundle, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := dropped.Data[keystorePKCS12Key]; ok || dropped.Annotations[annotationKeystoreHash] != "" {
		t.Fatalf("after keystores were dropped: keys %v", dataKeys(dropped))
	}
}

// TestServiceCertificateKeystorePasswordProblems checks the terminal problems of a keystore password Secret.
func TestServiceCertificateKeystorePasswordProblems(t *testing.T) {
	cases := []struct {
		name    string
		objs    []client.Object
		ref     certsmithv1alpha1.SecretKeySelector
		message string
	}{
		{name: "no Secret", ref: certsmithv1alpha1.SecretKeySelector{Name: "missing", Key: "password"},
			message: "keystores.pkcs12.passwordSecretRef: Secret shop/missing does not exist"},
		{name: "no key", objs: []client.Object{passwordSecret("x")}, ref: certsmithv1alpha1.SecretKeySelector{Name: "keystore-password", Key: "pass"},
			message: `keystores.pkcs12.passwordSecretRef: Secret shop/keystore-password has no key "pass"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newSecretFixture(t, tc.objs...)
			sc := scTestCertificate(func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
				spec.Keystores = &certsmithv1alpha1.Keystores{PKCS12: &certsmithv1alpha1.PKCS12Keystore{PasswordSecretRef: tc.ref}}
			})
			_, err := f.r.desiredSecret(context.Background(), sc, emptySecret(sc), f.material, f.bundle, nil)
			var te *terminalError
			if !errors.As(err, &te) || te.reason != certsmithv1alpha1.ReasonInvalidSpec || te.message != tc.message {
				t.Fatalf("error %v, want InvalidSpec %q", err, tc.message)
			}
		})
	}
}

// TestServiceCertificateSecretTemplate checks secretTemplate: applied, unable to override certsmith keys, removed when dropped.
func TestServiceCertificateSecretTemplate(t *testing.T) {
	sc := scTestCertificate(func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
		spec.SecretTemplate = &certsmithv1alpha1.SecretTemplate{
			Labels: map[string]string{"team": "shop", certsmithv1alpha1.LabelManagedBy: "someone-else", "certsmith.io/x": "y"},
			Annotations: map[string]string{"reloader/watch": "true", certsmithv1alpha1.AnnotationIssuerName: "forged",
				certsmithv1alpha1.AnnotationSecretTemplateKeys: "label:x"},
		}
	})
	secret := emptySecret(sc)
	secret.Labels = map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue, "owner": "a person"}
	secret.Annotations = map[string]string{certsmithv1alpha1.AnnotationIssuerName: "corp"}
	applyTemplate(sc, secret)
	if secret.Labels["team"] != "shop" || secret.Annotations["reloader/watch"] != "true" {
		t.Fatalf("template not applied: labels %v annotations %v", secret.Labels, secret.Annotations)
	}
	if secret.Labels[certsmithv1alpha1.LabelManagedBy] != certsmithv1alpha1.ManagedByValue || secret.Annotations[certsmithv1alpha1.AnnotationIssuerName] != "corp" {
		t.Fatal("the template overrode certsmith's own label or annotation")
	}
	if _, ok := secret.Labels["certsmith.io/x"]; ok {
		t.Fatal("the template set a certsmith.io/ label")
	}
	if got := secret.Annotations[certsmithv1alpha1.AnnotationSecretTemplateKeys]; got != "annotation:reloader/watch,label:team" {
		t.Fatalf("template keys %q", got)
	}

	sc.Spec.SecretTemplate = &certsmithv1alpha1.SecretTemplate{Labels: map[string]string{"team": "shop"}}
	applyTemplate(sc, secret)
	if _, ok := secret.Annotations["reloader/watch"]; ok {
		t.Fatal("an annotation dropped from the template stayed")
	}
	if secret.Labels["owner"] != "a person" || secret.Labels["team"] != "shop" {
		t.Fatalf("labels %v: one set by someone else, or still in the template, was removed", secret.Labels)
	}
	if got := secret.Annotations[certsmithv1alpha1.AnnotationSecretTemplateKeys]; got != "label:team" {
		t.Fatalf("template keys %q", got)
	}
	sc.Spec.SecretTemplate = nil
	applyTemplate(sc, secret)
	if _, ok := secret.Labels["team"]; ok || secret.Annotations[certsmithv1alpha1.AnnotationSecretTemplateKeys] != "" {
		t.Fatalf("with no template: labels %v annotations %v", secret.Labels, secret.Annotations)
	}
}

// TestServiceCertificateIssuedAnnotations checks the annotations a Secret gets with a new certificate.
func TestServiceCertificateIssuedAnnotations(t *testing.T) {
	sc := scTestCertificate(func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
		spec.IPAddresses = []string{"10.0.0.2", "10.0.0.1"}
	})
	sc.Annotations = map[string]string{certsmithv1alpha1.AnnotationRenewRequestedAt: "monday"}
	req := scTestRequest(t, sc)
	got := issuedAnnotations(sc, req, 7)
	want := map[string]string{
		certsmithv1alpha1.AnnotationServiceCertificate: "web", certsmithv1alpha1.AnnotationIssuerName: "corp",
		certsmithv1alpha1.AnnotationDNSNames: "web.shop.svc", certsmithv1alpha1.AnnotationIPAddresses: "10.0.0.1,10.0.0.2",
		certsmithv1alpha1.AnnotationRevision: "7", certsmithv1alpha1.AnnotationCertificateHash: req.hash(),
		certsmithv1alpha1.AnnotationRenewRequestedAt: "monday",
	}
	if len(got) != len(want) {
		t.Fatalf("annotations %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	sc.Annotations = nil
	if _, ok := issuedAnnotations(sc, req, 7)[certsmithv1alpha1.AnnotationRenewRequestedAt]; ok {
		t.Error("an empty trigger is recorded")
	}
}

// TestServiceCertificateRepairWritesOnlyWhatChanged checks that a repair writes nothing when the Secret is as it should be, and only ca.crt after a bundle change.
func TestServiceCertificateRepairWritesOnlyWhatChanged(t *testing.T) {
	sc := scTestCertificate(nil)
	f := newSecretFixture(t)
	stored, err := f.r.desiredSecret(context.Background(), sc, f.issued.secret, f.material, f.bundle, nil)
	if err != nil {
		t.Fatal(err)
	}
	stored.UID = ""
	patches := 0
	c := fake.NewClientBuilder().WithScheme(scTestScheme(t)).WithObjects(stored).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			patches++
			return c.Patch(ctx, obj, patch, opts...)
		}}).Build()
	r := &ServiceCertificateReconciler{Client: c, APIReader: c}
	current := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(stored), current); err != nil {
		t.Fatal(err)
	}
	ca := &signingCA{bundle: f.bundle}
	if err := r.repairSecret(context.Background(), sc, decodeSecret(current), ca); err != nil {
		t.Fatal(err)
	}
	if patches != 0 {
		t.Fatalf("%d writes of a Secret that is as it should be", patches)
	}

	rotated := append(append([]byte{}, f.bundle...), pki.EncodeCertificatesPEM(scTestCA(t, "next root", scTestNow).Certificate)...)
	if err := r.repairSecret(context.Background(), sc, decodeSecret(current), &signingCA{bundle: rotated}); err != nil {
		t.Fatal(err)
	}
	repaired := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(stored), repaired); err != nil {
		t.Fatal(err)
	}
	if patches != 1 || !bytes.Equal(repaired.Data[caCertKey], rotated) {
		t.Fatalf("%d writes, ca.crt updated: %v; want one write with the new bundle", patches, bytes.Equal(repaired.Data[caCertKey], rotated))
	}
	if !bytes.Equal(repaired.Data[corev1.TLSCertKey], f.material.chainPEM) || !bytes.Equal(repaired.Data[corev1.TLSPrivateKeyKey], f.material.keyPEM) {
		t.Fatal("a repair changed the certificate or the key")
	}
}

// dataKeys lists the data keys of secret.
func dataKeys(secret *corev1.Secret) []string {
	var keys []string
	for k := range secret.Data {
		keys = append(keys, k)
	}
	return keys
}

// asSigner returns a parsed PKCS#8 key as a crypto.Signer.
func asSigner(t *testing.T, key any) crypto.Signer {
	t.Helper()
	signer, ok := key.(crypto.Signer)
	if !ok {
		t.Fatalf("%T is not a signer", key)
	}
	return signer
}

// TestServiceCertificateStoreSecretCreatesWithoutReading checks that the
// first issuance creates its Secret without a read past the cache, and
// that a Secret made meanwhile under that name is still never written
// over unless it is certsmith's own: the create fails, and then the
// Secret is read and judged as before.
func TestServiceCertificateStoreSecretCreatesWithoutReading(t *testing.T) {
	sc := scTestCertificate(nil)
	for _, tc := range []struct {
		name     string
		existing *corev1.Secret
		// wantReads is the reads past the cache; wantConflict a SecretConflict.
		wantReads    int
		wantConflict bool
	}{
		{name: "no Secret: one create, no read"},
		{name: "someone else's Secret made since the CSR: refused, left alone", wantReads: 1, wantConflict: true,
			existing: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: sc.Namespace, Name: sc.Status.SecretName},
				Data: map[string][]byte{"theirs": []byte("keep")}}},
		{name: "certsmith's own without its label: written over", wantReads: 1,
			existing: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: sc.Namespace, Name: sc.Status.SecretName,
				Annotations: map[string]string{certsmithv1alpha1.AnnotationServiceCertificate: sc.Name}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSecretFixture(t)
			objs := []client.Object{}
			if tc.existing != nil {
				objs = append(objs, tc.existing.DeepCopy())
			}
			reads, creates := 0, 0
			c := fake.NewClientBuilder().WithScheme(scTestScheme(t)).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
				Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					if _, ok := obj.(*corev1.Secret); ok {
						reads++
					}
					return c.Get(ctx, key, obj, opts...)
				},
				Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
					creates++
					return c.Create(ctx, obj, opts...)
				}}).Build()
			r := &ServiceCertificateReconciler{Client: c, APIReader: c}
			wrote, err := r.storeSecret(context.Background(), sc, nil, f.material, f.bundle, issuedAnnotations(sc, f.req, 1))
			var conflict *terminalError
			if tc.wantConflict {
				if !errors.As(err, &conflict) || conflict.reason != certsmithv1alpha1.ReasonSecretConflict {
					t.Fatalf("storeSecret: %v, want a %s", err, certsmithv1alpha1.ReasonSecretConflict)
				}
			} else if err != nil {
				t.Fatalf("storeSecret: %v", err)
			}
			if reads != tc.wantReads || creates != 1 {
				t.Fatalf("%d reads and %d creates of the Secret, want %d and 1", reads, creates, tc.wantReads)
			}
			stored := &corev1.Secret{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: sc.Namespace, Name: sc.Status.SecretName}, stored); err != nil {
				t.Fatal(err)
			}
			if tc.wantConflict {
				if string(stored.Data["theirs"]) != "keep" || stored.Data[corev1.TLSCertKey] != nil {
					t.Fatalf("someone else's Secret was written: %v", dataKeys(stored))
				}
				return
			}
			if !bytes.Equal(stored.Data[corev1.TLSCertKey], f.material.chainPEM) || !bytes.Equal(stored.Data[corev1.TLSPrivateKeyKey], f.material.keyPEM) {
				t.Fatal("the Secret does not hold the certificate and key")
			}
			if stored.Labels[certsmithv1alpha1.LabelManagedBy] != certsmithv1alpha1.ManagedByValue || wrote.Data[corev1.TLSCertKey] == nil {
				t.Fatalf("labels %v; returned Secret with tls.crt: %v", stored.Labels, wrote.Data[corev1.TLSCertKey] != nil)
			}
		})
	}
}

// TestStoredSecrets: a Secret this controller wrote is found again only
// at the very UID and resourceVersion of that write, as a copy; at most
// storedSecretsMax are kept, the oldest dropped first.
func TestStoredSecrets(t *testing.T) {
	s := newStoredSecrets()
	secret := func(name, uid, rv string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(uid), ResourceVersion: rv},
			Data: map[string][]byte{corev1.TLSCertKey: []byte("cert of " + name + "@" + rv)}}
	}
	s.remember(secret("web-tls", "u1", "10"))
	got := s.lookup(secret("web-tls", "u1", "10"))
	if got == nil || string(got.Data[corev1.TLSCertKey]) != "cert of web-tls@10" {
		t.Fatalf("lookup of the written version: %v", got)
	}
	got.Data[corev1.TLSCertKey] = []byte("changed by a caller")
	if again := s.lookup(secret("web-tls", "u1", "10")); string(again.Data[corev1.TLSCertKey]) != "cert of web-tls@10" {
		t.Fatal("lookup returned the remembered Secret itself, not a copy")
	}
	for _, other := range []*corev1.Secret{secret("web-tls", "u1", "11"), secret("web-tls", "u2", "10"), secret("api-tls", "u1", "10")} {
		if s.lookup(other) != nil {
			t.Fatalf("%s uid %s rv %s: found, but it is not the version written", other.Name, other.UID, other.ResourceVersion)
		}
	}
	s.remember(secret("no-rv", "u3", "")) // not returned by the API server: not kept
	if s.len() != 1 {
		t.Fatalf("%d remembered, want 1", s.len())
	}
	for i := range 3 * storedSecretsMax {
		s.remember(secret(fmt.Sprintf("cert-%d", i%(storedSecretsMax+10)), "u", strconv.Itoa(i)))
	}
	if n := s.len(); n > storedSecretsMax {
		t.Fatalf("%d remembered, more than %d", n, storedSecretsMax)
	}
	if len(s.order) > 2*storedSecretsMax {
		t.Fatalf("the order has %d entries, more than %d", len(s.order), 2*storedSecretsMax)
	}
	last := 3*storedSecretsMax - 1
	if s.lookup(secret(fmt.Sprintf("cert-%d", last%(storedSecretsMax+10)), "u", strconv.Itoa(last))) == nil {
		t.Fatal("the last write was dropped")
	}
}

// TestCurrentSecretReadsOnlyWhatItDidNotWrite: the cache holds
// certificate Secrets without data; after its own write the controller
// reads nothing more, and after anyone else's it reads the Secret again.
func TestCurrentSecretReadsOnlyWhatItDidNotWrite(t *testing.T) {
	sc := scTestCertificate(nil)
	f := newSecretFixture(t)
	backing := unitFakeClientBuilder(t).Build() // sets UIDs, as the API server does
	reads := 0
	// The cache: Secrets without their data, as CacheOptions keeps them.
	cached := interceptor.NewClient(backing, interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if err := c.Get(ctx, key, obj, opts...); err != nil {
			return err
		}
		if s, ok := obj.(*corev1.Secret); ok {
			s.Data = nil
		}
		return nil
	}})
	direct := interceptor.NewClient(backing, interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		reads++
		return c.Get(ctx, key, obj, opts...)
	}})
	r := &ServiceCertificateReconciler{Client: cached, APIReader: direct, stored: newStoredSecrets()}
	if _, err := r.storeSecret(context.Background(), sc, nil, f.material, f.bundle, issuedAnnotations(sc, f.req, 1)); err != nil {
		t.Fatal(err)
	}
	got, err := r.currentSecret(context.Background(), sc)
	if err != nil || got == nil || !bytes.Equal(got.Data[corev1.TLSCertKey], f.material.chainPEM) {
		t.Fatalf("currentSecret after the write: %v, %v", got, err)
	}
	if reads != 0 {
		t.Fatalf("%d reads past the cache of a Secret just written", reads)
	}
	// Someone else changes it: a new resourceVersion, read again.
	changed := &corev1.Secret{}
	if err := backing.Get(context.Background(), client.ObjectKey{Namespace: sc.Namespace, Name: sc.Status.SecretName}, changed); err != nil {
		t.Fatal(err)
	}
	changed.Data[corev1.TLSCertKey] = []byte("not what certsmith wrote")
	if err := backing.Update(context.Background(), changed); err != nil {
		t.Fatal(err)
	}
	got, err = r.currentSecret(context.Background(), sc)
	if err != nil || string(got.Data[corev1.TLSCertKey]) != "not what certsmith wrote" || reads != 1 {
		t.Fatalf("after someone else's write: %d reads, tls.crt %q, %v; want it read again", reads, got.Data[corev1.TLSCertKey], err)
	}
}
