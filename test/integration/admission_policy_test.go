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

package integration

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

var _ = Describe("The sample admission policy config/samples/podcertificaterequests-from-nodes.yaml", func() {
	It("lets only the pod's own node create a request for a certsmith signer", func() {
		issuer := newPodIssuer(uniqueName("policy"), certsmithv1alpha1.PodCertificatePolicy{})
		signer := issuer.Status.SignerName
		fixture := newPod(newNamespace("policy", nil), "app", "worker", nodeName, signer, nil)
		asAdmin := func() error {
			pcr := kubeletRequest(fixture, signer, newKey("ECDSAP256"))
			err := k8sClient.Create(ctx, pcr)
			if err == nil {
				_ = k8sClient.Delete(ctx, pcr)
			}
			return err
		}
		applySample("podcertificaterequests-from-nodes.yaml", asAdmin)

		By("refusing a request that a user who is not a node makes, even with the pod's real UIDs")
		Eventually(asAdmin).WithTimeout(30 * time.Second).Should(MatchError(ContainSubstring("only the kubelet of the pod's node")))

		By("letting the node's kubelet through, and leaving other signers alone")
		issuedChain(createAsNode(kubeletRequest(fixture, signer, newKey("ECDSAP256"))))
		foreign := kubeletRequest(fixture, "example.com/foreign", newKey("ECDSAP256"))
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, foreign) })
	})
})

// applySample creates the objects of a file in config/samples, deleted
// again after the spec; then it waits until allowed (a create the policy
// refuses) succeeds: admission drops a deleted policy a moment later, and
// later specs must not see it.
func applySample(name string, allowed func() error) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", name))
	Expect(err).NotTo(HaveOccurred())
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); err != nil {
			Expect(errors.Is(err, io.EOF)).To(BeTrue(), "decoding %s: %v", name, err)
			break
		}
		if len(obj.Object) == 0 {
			continue
		}
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		DeferCleanup(func() {
			Expect(k8sClient.Delete(ctx, obj)).To(Succeed())
			if obj.GetKind() == "ValidatingAdmissionPolicyBinding" {
				Eventually(allowed).WithTimeout(30 * time.Second).Should(Succeed())
			}
		})
	}
}
