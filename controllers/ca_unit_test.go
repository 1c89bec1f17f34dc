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
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/certsmith/certsmith/internal/pki"
)

// TestCAMemo: a CA Secret is parsed once per content; any change to its
// bytes (another CA under the same name, a changed key, a new ca.crt, or
// a change made by the caller after the parse) is parsed afresh, a broken
// Secret is never remembered, and the memo stays bounded.
func TestCAMemo(t *testing.T) {
	secretOf := func(ca *pki.CA) *corev1.Secret {
		t.Helper()
		keyPEM, err := pki.EncodePrivateKeyPEM(ca.Key, pki.KeyEncodingPKCS8)
		if err != nil {
			t.Fatal(err)
		}
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "certsmith-system", Name: "corp-ca"},
			Data: map[string][]byte{corev1.TLSCertKey: pki.EncodeCertificatesPEM(ca.Certificate), corev1.TLSPrivateKeyKey: keyPEM}}
	}
	m := caMemo{of: map[types.NamespacedName]parsedCA{}}
	first := secretOf(scTestCA(t, "first", scTestNow))
	a, err := m.parse(first)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := m.parse(first.DeepCopy()); err != nil || b != a {
		t.Fatalf("the same content parsed again (%v)", err)
	}

	second := secretOf(scTestCA(t, "second", scTestNow)) // the same Secret, another CA
	b, err := m.parse(second)
	if err != nil || b == a || b.Certificate.Subject.CommonName != "second" {
		t.Fatalf("another CA under the same name: %v %v", b.Certificate.Subject, err)
	}
	withRoots := second.DeepCopy()
	withRoots.Data[caCertKey] = second.Data[corev1.TLSCertKey]
	if c, err := m.parse(withRoots); err != nil || c == b {
		t.Fatalf("a new ca.crt was not parsed afresh (%v)", err)
	}

	// A caller that changes the Secret's bytes in place after the parse.
	mutated := first.DeepCopy()
	if _, err := m.parse(mutated); err != nil {
		t.Fatal(err)
	}
	copy(mutated.Data[corev1.TLSCertKey][30:], "garbage")
	if _, err := m.parse(mutated); err == nil {
		t.Fatal("a Secret changed in place after its parse is answered from the memo")
	}

	broken := first.DeepCopy()
	broken.Name = "broken-ca"
	delete(broken.Data, corev1.TLSPrivateKeyKey)
	if _, err := m.parse(broken); err == nil {
		t.Fatal("a CA Secret without a key parsed")
	}
	if _, ok := m.of[types.NamespacedName{Namespace: "certsmith-system", Name: "broken-ca"}]; ok {
		t.Fatal("a failure is remembered")
	}

	for i := range 2 * caMemoSize {
		s := first.DeepCopy()
		s.Name = "ca-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if _, err := m.parse(s); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.of) > caMemoSize {
		t.Fatalf("%d CAs remembered, more than %d", len(m.of), caMemoSize)
	}
}
