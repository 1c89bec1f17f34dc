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
	"encoding/json"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// tenantConfigMap creates, as a tenant would, a ConfigMap with certsmith's
// labels for an issuer.
func tenantConfigMap(namespace, name, issuer string, data map[string]string, immutable bool) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: bundleLabels(issuer)},
		Data:       data,
	}
	if immutable {
		cm.Immutable = ptr.To(true)
	}
	Expect(k8sClient.Create(ctx, cm)).To(Succeed())
	return cm
}

// getConfigMap reads a ConfigMap with the admin client.
func getConfigMap(namespace, name string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, cm)).To(Succeed())
	return cm
}

// bundleStatusOf reads an issuer's status.bundle (never nil).
func bundleStatusOf(name string) certsmithv1alpha1.BundleStatus {
	issuer := &certsmithv1alpha1.ClusterIssuer{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, issuer)).To(Succeed())
	if issuer.Status.Bundle == nil {
		return certsmithv1alpha1.BundleStatus{}
	}
	return *issuer.Status.Bundle
}

// issuerEventNotes returns the notes of the Events on an issuer with a reason.
func issuerEventNotes(name, reason string) []string {
	var list eventsv1.EventList
	Expect(k8sClient.List(ctx, &list)).To(Succeed())
	var notes []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "ClusterIssuer" && e.Regarding.Name == name && e.Reason == reason {
			notes = append(notes, e.Note)
		}
	}
	return notes
}

// recordSecrets lists the ownership record Secrets of an issuer.
func recordSecrets(issuer string) []corev1.Secret {
	var list corev1.SecretList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(operatorNamespace), client.MatchingLabels{labelBundleRecord: "true"})).To(Succeed())
	var out []corev1.Secret
	for _, s := range list.Items {
		if s.Annotations[annotationBundleRecordOf] == issuer {
			out = append(out, s)
		}
	}
	return out
}

// writeRecordEntry puts one entry into an issuer's ownership record, as
// certsmith would have before a crash.
func writeRecordEntry(issuer, key string, entry ownedObject) {
	Eventually(func() error {
		shard := &corev1.Secret{}
		name := types.NamespacedName{Namespace: operatorNamespace, Name: bundleRecordName(issuer, shardOf(key))}
		if err := k8sClient.Get(ctx, name, shard); apierrors.IsNotFound(err) {
			shard = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name.Name, Namespace: name.Namespace,
				Labels:      map[string]string{certsmithv1alpha1.LabelManagedBy: certsmithv1alpha1.ManagedByValue, labelBundleRecord: "true"},
				Annotations: map[string]string{annotationBundleRecordOf: issuer}},
				Data: map[string][]byte{key: []byte(entry.encode())}}
			return k8sClient.Create(ctx, shard)
		} else if err != nil {
			return err
		}
		if shard.Data == nil {
			shard.Data = map[string][]byte{}
		}
		shard.Data[key] = []byte(entry.encode())
		return k8sClient.Update(ctx, shard)
	}, timeout, interval).Should(Succeed())
}

// selectedBundle is a bundle spec for the namespaces labelled key=yes.
func selectedBundle(name, key string) *certsmithv1alpha1.BundleSpec {
	return &certsmithv1alpha1.BundleSpec{
		ConfigMap:          &certsmithv1alpha1.ConfigMapTarget{Name: name},
		NamespaceSelector:  &metav1.LabelSelector{MatchLabels: map[string]string{key: "yes"}},
		ClusterTrustBundle: ptr.To(false),
	}
}

var _ = Describe("Bundle ownership", func() {
	It("never writes or deletes a tenant's ConfigMap with the bundle's name and certsmith's labels, even when the namespace stops matching or the issuer is deleted", func() {
		name, selector := uniqueName("squat"), uniqueName("certsmith-test/squat")
		issuerName := uniqueName("owned")
		squatted, clean := newNamespace(), newNamespace()
		squatter := tenantConfigMap(squatted, name, issuerName, map[string]string{"ca.crt": "the tenant's own"}, false)
		setNamespaceLabel(squatted, selector, "yes")
		setNamespaceLabel(clean, selector, "yes")
		issuer := namedBundleIssuer(issuerName, selectedBundle(name, selector), nil, 0)
		fp := caFingerprint(issuer)

		Eventually(func() []string { return configMapBundle(clean, name, "ca.crt") }, timeout, interval).Should(Equal([]string{fp}))
		Eventually(func(g Gomega) {
			b := bundleStatusOf(issuerName)
			g.Expect(b.Namespaces).To(Equal(int32(2)))
			g.Expect(b.UpToDate).To(Equal(int32(1)))
			g.Expect(b.Conflicts).To(Equal(int32(1)))
			g.Expect(b.ConflictNamespaces).To(Equal([]string{squatted}))
		}, timeout, interval).Should(Succeed())
		Eventually(func() string {
			return strings.Join(issuerEventNotes(issuerName, certsmithv1alpha1.ReasonBundleConflict), "\n")
		}, timeout, interval).
			Should(ContainSubstring(squatted + " (certsmith did not create it)"))
		unchanged := func(g Gomega) {
			got := getConfigMap(squatted, name)
			g.Expect(got.UID).To(Equal(squatter.UID))
			g.Expect(got.Data).To(Equal(map[string]string{"ca.crt": "the tenant's own"}))
		}
		Consistently(unchanged, 2*time.Second, 200*time.Millisecond).Should(Succeed())

		By("an edit by the tenant (to what the bundle holds) does not make it certsmith's either")
		Eventually(func() error {
			cm := getConfigMap(squatted, name)
			cm.Data = map[string]string{"ca.crt": string(injectionBundle(issuerName)), "extra": "x"}
			return k8sClient.Update(ctx, cm)
		}, timeout, interval).Should(Succeed())
		Consistently(func() map[string]string { return getConfigMap(squatted, name).Data }, 2*time.Second, 200*time.Millisecond).Should(HaveKey("extra"))

		By("the namespaces stop matching: certsmith's own ConfigMap goes, the tenant's stays")
		setNamespaceLabel(squatted, selector, "no")
		setNamespaceLabel(clean, selector, "no")
		Eventually(func() []string { return configMapBundle(clean, name, "ca.crt") }, timeout, interval).Should(BeNil())
		Consistently(func() types.UID { return getConfigMap(squatted, name).UID }, 2*time.Second, 200*time.Millisecond).Should(Equal(squatter.UID))

		By("the issuer is deleted: what it made goes with its record, the tenant's stays")
		setNamespaceLabel(clean, selector, "yes")
		Eventually(func() []string { return configMapBundle(clean, name, "ca.crt") }, timeout, interval).Should(Equal([]string{fp}))
		setNamespaceLabel(squatted, selector, "yes")
		Expect(recordSecrets(issuerName)).NotTo(BeEmpty())
		Expect(k8sClient.Delete(ctx, issuer)).To(Succeed())
		Eventually(func() []string { return configMapBundle(clean, name, "ca.crt") }, timeout, interval).Should(BeNil())
		Eventually(func() []corev1.Secret { return recordSecrets(issuerName) }, timeout, interval).Should(BeEmpty())
		Consistently(func() types.UID { return getConfigMap(squatted, name).UID }, 2*time.Second, 200*time.Millisecond).Should(Equal(squatter.UID))
	})

	It("recovers an object it created but crashed before recording, and no other", func() {
		name, selector := uniqueName("crash"), uniqueName("certsmith-test/crash")
		issuer := bundleIssuer(selectedBundle(name, selector), nil, 0)
		fp := caFingerprint(issuer)
		ours, copied := newNamespace(), newNamespace()
		// The state a crash leaves between the create and the UID's record:
		// an intent (a token) in the record, and an object that carries it.
		token, stolen := newClaimToken(), newClaimToken()
		for ns, claim := range map[string]string{ours: token, copied: stolen} {
			cm := tenantConfigMap(ns, name, issuer.Name, map[string]string{"ca.crt": "stale"}, false)
			cm.Annotations = map[string]string{annotationBundleClaim: claim}
			Expect(k8sClient.Update(ctx, cm)).To(Succeed())
		}
		oursUID := getConfigMap(ours, name).UID
		setNamespaceLabel(ours, selector, "yes")
		setNamespaceLabel(copied, selector, "yes")
		// Seen, and not recorded: conflicts, both left alone.
		Eventually(func() []string { return bundleStatusOf(issuer.Name).ConflictNamespaces }, timeout, interval).Should(ConsistOf(ours, copied))
		// (The intent is written while the namespace is wanted: an intent for
		// an unwanted namespace makes certsmith delete its object.)
		writeRecordEntry(issuer.Name, ours, ownedObject{Name: name, Token: token})

		Eventually(func() []string {
			nudgeIssuer(issuer.Name) // the record is only read on a pass
			return configMapBundle(ours, name, "ca.crt")
		}, timeout, time.Second).Should(Equal([]string{fp}))
		Expect(getConfigMap(ours, name).UID).To(Equal(oursUID), "recovered in place, not recreated")
		Eventually(func(g Gomega) {
			shard := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: bundleRecordName(issuer.Name, shardOf(ours))}, shard)).To(Succeed())
			g.Expect(string(shard.Data[ours])).To(Equal(ownedObject{Name: name, UID: oursUID}.encode()))
		}, timeout, interval).Should(Succeed())
		Eventually(func() []string { return bundleStatusOf(issuer.Name).ConflictNamespaces }, timeout, interval).Should(Equal([]string{copied}))
		Expect(getConfigMap(copied, name).Data).To(Equal(map[string]string{"ca.crt": "stale"}), "a token it did not record proves nothing")
	})

	It("adopts, once, what an earlier release made, and reports the rest as conflicts", func() {
		name, selector := uniqueName("upgrade"), uniqueName("certsmith-test/upgrade")
		issuer := bundleIssuer(selectedBundle(name, selector), nil, 0)
		Eventually(func() []string { return bundleStatusOf(issuer.Name).FingerprintsSHA256 }, timeout, interval).ShouldNot(BeEmpty())
		bundle := map[string]string{"ca.crt": string(injectionBundle(issuer.Name))}
		exact, edited, frozen, unlabelled := newNamespace(), newNamespace(), newNamespace(), newNamespace()
		// What the earlier release left: labelled, no record.
		exactCM := tenantConfigMap(exact, name, issuer.Name, bundle, false)
		tenantConfigMap(edited, name, issuer.Name, map[string]string{"ca.crt": bundle["ca.crt"], "extra": "x"}, false)
		tenantConfigMap(frozen, name, issuer.Name, bundle, true)
		Expect(k8sClient.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: unlabelled}, Data: bundle})).To(Succeed())
		for _, ns := range []string{exact, edited, frozen, unlabelled} {
			setNamespaceLabel(ns, selector, "yes")
		}
		Eventually(func() int32 { return bundleStatusOf(issuer.Name).Conflicts }, timeout, interval).Should(Equal(int32(4)))

		By("the record is gone, as before the upgrade: the one-time adoption runs")
		for _, s := range recordSecrets(issuer.Name) {
			Expect(k8sClient.Delete(ctx, &s)).To(Succeed())
		}
		Eventually(func(g Gomega) {
			b := bundleStatusOf(issuer.Name)
			g.Expect(b.Conflicts).To(Equal(int32(3)))
			g.Expect(b.ConflictNamespaces).To(ConsistOf(edited, frozen, unlabelled))
		}, timeout, interval).Should(Succeed())
		Expect(issuerEventNotes(issuer.Name, certsmithv1alpha1.ReasonBundleAdopted)).NotTo(BeEmpty())

		By("once: a labelled copy made after the adoption stays a conflict")
		later := newNamespace()
		tenantConfigMap(later, name, issuer.Name, bundle, false)
		setNamespaceLabel(later, selector, "yes")
		Eventually(func() []string { return bundleStatusOf(issuer.Name).ConflictNamespaces }, timeout, interval).Should(ContainElement(later))

		By("the adopted one is certsmith's: deleting the issuer deletes it, and only it")
		Expect(k8sClient.Delete(ctx, issuer)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(exactCM), &corev1.ConfigMap{}))
		}, timeout, interval).Should(BeTrue())
		for _, ns := range []string{edited, frozen, unlabelled, later} {
			Expect(getConfigMap(ns, name).Data).To(HaveKey("ca.crt"))
		}
	})

	It("caches a tenant's labelled 1 MiB ConfigMap without its content", func() {
		namespace := newNamespace()
		big := strings.Repeat("x", 1000*1024)
		foreign := tenantConfigMap(namespace, "big", "some-issuer", map[string]string{"blob": big}, false)
		foreign.Annotations = map[string]string{"tenant/huge": strings.Repeat("a", 200*1024), annotationBundleClaim: strings.Repeat("b", 100)}
		foreign.Labels["tenant/extra"] = "x"
		Expect(k8sClient.Update(ctx, foreign)).To(Succeed())

		// A cache with the manager's options (CacheOptions), as the operator builds it.
		opts := CacheOptions(operatorNamespace)
		opts.Scheme = testScheme
		informers, err := cache.New(testEnv.Config, opts)
		Expect(err).NotTo(HaveOccurred())
		cacheCtx, stop := context.WithCancel(ctx)
		DeferCleanup(stop)
		go func() { _ = informers.Start(cacheCtx) }()
		cached := &corev1.ConfigMap{}
		Eventually(func() error { return informers.Get(ctx, client.ObjectKeyFromObject(foreign), cached) }, timeout, interval).Should(Succeed())
		Expect(cached.Data).To(BeNil())
		Expect(cached.BinaryData).To(BeNil())
		Expect(cached.Labels).To(Equal(bundleLabels("some-issuer")))
		Expect(cached.Annotations).To(HaveKeyWithValue(cachedContentHashAnnotation, configMapContentHash(map[string]string{"blob": big}, nil)))
		Expect(cached.Annotations).NotTo(HaveKey("tenant/huge"))
		Expect(cached.Annotations).NotTo(HaveKey(annotationBundleClaim), "a claim of the wrong size is dropped")
		Expect(cached.ManagedFields).To(BeEmpty())
		encoded, err := json.Marshal(cached)
		Expect(err).NotTo(HaveOccurred())
		Expect(len(encoded)).To(BeNumerically("<", 1024), "cached: %s", encoded)
		AddReportEntry("cache cost of a labelled foreign 1 MiB ConfigMap", fmt.Sprintf("%d bytes as JSON", len(encoded)))
		GinkgoWriter.Printf("cached foreign ConfigMap: %d bytes as JSON: %s\n", len(encoded), bytes.TrimSpace(encoded))
	})
})

var _ = DescribeTable("planBundleObject: only a recorded UID, or the recorded claim token, makes an object certsmith's",
	func(entry *ownedObject, observed *observedObject, want bundleAction, wantEntry *ownedObject, wantDrop bool) {
		plan := planBundleObject(entry, observed, "b", "h", map[string]string{"l": "v"}, "fresh")
		Expect(plan.action).To(Equal(want))
		Expect(plan.entry).To(Equal(wantEntry))
		Expect(plan.dropEntry).To(Equal(wantDrop))
	},
	Entry("nothing there, nothing recorded: create, recording the intent first", nil, nil,
		bundleCreate, &ownedObject{Name: "b", Token: "fresh"}, false),
	Entry("an intent whose create never happened: create with the same token", &ownedObject{Name: "b", Token: "t"}, nil,
		bundleCreate, &ownedObject{Name: "b", Token: "t"}, false),
	Entry("ours was deleted: create anew", &ownedObject{Name: "b", UID: "u"}, nil,
		bundleCreate, &ownedObject{Name: "b", Token: "fresh"}, false),
	Entry("labelled, but not recorded: a conflict", nil,
		&observedObject{uid: "x", contentHash: "h", labels: map[string]string{"l": "v"}}, bundleConflict, nil, false),
	Entry("ours, replaced by someone else's: a conflict, the entry goes", &ownedObject{Name: "b", UID: "u"},
		&observedObject{uid: "x", contentHash: "h", labels: map[string]string{"l": "v"}}, bundleConflict, nil, true),
	Entry("an intent, and an object with another token: a conflict", &ownedObject{Name: "b", Token: "t"},
		&observedObject{uid: "x", claim: "other"}, bundleConflict, nil, true),
	Entry("an intent, and the object that carries it: ours, recorded", &ownedObject{Name: "b", Token: "t"},
		&observedObject{uid: "x", claim: "t", contentHash: "h", labels: map[string]string{"l": "v"}}, bundleUpToDate, &ownedObject{Name: "b", UID: "x"}, false),
	Entry("ours, edited: patch", &ownedObject{Name: "b", UID: "u"},
		&observedObject{uid: "u", contentHash: "other", labels: map[string]string{"l": "v"}}, bundlePatch, &ownedObject{Name: "b", UID: "u"}, false),
	Entry("ours, label removed: patch", &ownedObject{Name: "b", UID: "u"},
		&observedObject{uid: "u", contentHash: "h", labels: map[string]string{}}, bundlePatch, &ownedObject{Name: "b", UID: "u"}, false),
	Entry("ours, made immutable and out of date: a conflict, still ours", &ownedObject{Name: "b", UID: "u"},
		&observedObject{uid: "u", contentHash: "other", immutable: true}, bundleConflict, &ownedObject{Name: "b", UID: "u"}, false),
)
