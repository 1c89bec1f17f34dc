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
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
)

// service is a Service of the namespace shop with the given cluster IPs.
func service(name string, ips ...string) corev1.Service {
	svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: corev1.ServiceSpec{ClusterIPs: ips}}
	if len(ips) > 0 {
		svc.Spec.ClusterIP = ips[0]
	}
	return svc
}

// TestServiceCertificateResolveRequest checks how the spec and the Service resolve into a request, and the spec problems it reports.
func TestServiceCertificateResolveRequest(t *testing.T) {
	services := []corev1.Service{service("web", "10.0.0.9", "fd00::9"), service("db", "10.0.0.5"), service("headless")}
	cases := []struct {
		name       string
		edit       func(spec *certsmithv1alpha1.ServiceCertificateSpec)
		wantDNS    []string
		wantIPs    string
		wantCN     string
		wantUsages []string
		reason     string // of the terminal error, "" for none
		message    string
	}{
		{name: "a Service's names and cluster IPs, with the spec's", edit: func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.DNSNames = []string{"WWW.example.com", "www.example.com"}
			spec.IPAddresses = []string{"192.0.2.1", "10.0.0.9"}
			spec.Service = &certsmithv1alpha1.ServiceReference{Name: "web"}
		}, wantDNS: []string{"web.shop.svc", "web.shop.svc.cluster.local", "www.example.com"}, wantIPs: "10.0.0.9,192.0.2.1,fd00::9",
			wantCN: "web.shop.svc", wantUsages: []string{"digital signature", "server auth"}},
		{name: "an explicit common name and usages", edit: func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.CommonName = "web"
			spec.Usages = []certsmithv1alpha1.KeyUsage{certsmithv1alpha1.UsageClientAuth, certsmithv1alpha1.UsageServerAuth, certsmithv1alpha1.UsageClientAuth}
		}, wantDNS: []string{"web.shop.svc"}, wantCN: "web", wantUsages: []string{"client auth", "server auth"}},
		{name: "RSA keys get key encipherment", edit: func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.PrivateKey = &certsmithv1alpha1.PrivateKey{Algorithm: "RSA", Size: 2048}
		}, wantDNS: []string{"web.shop.svc"}, wantCN: "web.shop.svc", wantUsages: []string{"digital signature", "key encipherment", "server auth"}},
		{name: "a URI that is not absolute", edit: func(spec *certsmithv1alpha1.ServiceCertificateSpec) { spec.URIs = []string{"ns/shop"} },
			reason: certsmithv1alpha1.ReasonInvalidSpec, message: `spec.uris: "ns/shop" is not an absolute URI`},
		{name: "an IP address that is not one", edit: func(spec *certsmithv1alpha1.ServiceCertificateSpec) { spec.IPAddresses = []string{"10.0.0"} },
			reason: certsmithv1alpha1.ReasonInvalidSpec, message: `spec.ipAddresses: "10.0.0" is not an IP address`},
		{name: "a Service that does not exist", edit: func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.Service = &certsmithv1alpha1.ServiceReference{Name: "cache"}
		}, reason: certsmithv1alpha1.ReasonServiceNotFound, message: "Service shop/cache does not exist; the certificate is issued once it does"},
		{name: "no name at all", edit: func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.DNSNames = nil
		}, reason: certsmithv1alpha1.ReasonInvalidSpec,
			message: "the certificate would carry no name: the Service has no cluster IP and no dnsNames or ipAddresses are set"},
		{name: "a usage certsmith does not know", edit: func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.Usages = []certsmithv1alpha1.KeyUsage{"teleport"}
		}, reason: certsmithv1alpha1.ReasonInvalidSpec},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := scTestCertificate(tc.edit)
			req, err := requestFromSpec(sc, scTestIssuer())
			var namespaceIPs []string
			if err == nil {
				got, addErr := req.addService(sc, services, "cluster.local")
				for _, ip := range got {
					namespaceIPs = append(namespaceIPs, ip.String())
				}
				err = addErr
			}
			if err == nil {
				err = req.complete(sc)
			}
			if tc.reason != "" {
				var te *terminalError
				if !errors.As(err, &te) || te.reason != tc.reason || (tc.message != "" && te.message != tc.message) {
					t.Fatalf("error %v, want %s: %s", err, tc.reason, tc.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(namespaceIPs, ",") != "10.0.0.9,fd00::9,10.0.0.5" {
				t.Errorf("namespace IPs %q, want every Service's", namespaceIPs)
			}
			if !slices.Equal(req.dnsNames, tc.wantDNS) || joinIPs(req.ipAddresses) != tc.wantIPs || req.subject.CommonName != tc.wantCN ||
				!slices.Equal(req.usages, tc.wantUsages) {
				t.Fatalf("dns %v ips %q cn %q usages %v", req.dnsNames, joinIPs(req.ipAddresses), req.subject.CommonName, req.usages)
			}
			if req.signerName != "clusterissuers.certsmith.io/corp" || req.duration != defaultCertificateDuration {
				t.Fatalf("signer %q duration %s", req.signerName, req.duration)
			}
		})
	}
}

// TestServiceCertificateRequestHash checks that what re-issues changes the request hash, and renewBefore does not.
func TestServiceCertificateRequestHash(t *testing.T) {
	sc := scTestCertificate(nil)
	base := scTestRequest(t, sc).hash()
	if again := scTestRequest(t, scTestCertificate(nil)).hash(); again != base {
		t.Fatal("the hash of the same request changed")
	}
	for name, edit := range map[string]func(*certsmithv1alpha1.ServiceCertificateSpec){
		"names":    func(spec *certsmithv1alpha1.ServiceCertificateSpec) { spec.DNSNames = []string{"api.shop.svc"} },
		"issuer":   func(spec *certsmithv1alpha1.ServiceCertificateSpec) { spec.IssuerRef.Name = "other" },
		"duration": func(spec *certsmithv1alpha1.ServiceCertificateSpec) { spec.Duration = &metav1.Duration{Duration: 1} },
		"encoding": func(spec *certsmithv1alpha1.ServiceCertificateSpec) {
			spec.PrivateKey = &certsmithv1alpha1.PrivateKey{Encoding: "PKCS8"}
		},
	} {
		sc := scTestCertificate(edit)
		issuer := scTestIssuer()
		issuer.Name = sc.Spec.IssuerRef.Name
		req, err := requestFromSpec(sc, issuer)
		if err == nil {
			err = req.complete(sc)
		}
		if err != nil {
			t.Fatal(err)
		}
		if req.hash() == base {
			t.Errorf("a changed %s keeps the hash: the Secret would not be re-issued", name)
		}
	}
	renewEarlier := scTestCertificate(func(spec *certsmithv1alpha1.ServiceCertificateSpec) { spec.RenewBefore = &metav1.Duration{Duration: 1} })
	if scTestRequest(t, renewEarlier).hash() != base {
		t.Error("renewBefore changes the hash: it would re-issue instead of moving the renewal time")
	}
}
