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

package crlserver

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/pki"
	"github.com/certsmith/certsmith/internal/revocation"
)

const (
	testNamespace = "certsmith-system"
	testIssuer    = "internal"
	// unknownCAID is a well-formed CA ID of no CA.
	unknownCAID = "0123456789abcdef"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// countingReader counts the reads that reach the reader, and fails them
// with err when it is set.
type countingReader struct {
	client.Reader
	gets atomic.Int32
	err  error
}

func (r *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.gets.Add(1)
	if r.err != nil {
		return r.err
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// newTestCA makes a root CA valid for a year from now.
func newTestCA(t *testing.T, name string, now time.Time) *pki.CA {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeySpec{Algorithm: pki.KeyAlgorithmECDSA})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.NewSelfSignedCA(key, pki.CATemplate{Subject: pkix.Name{CommonName: name}, Duration: 365 * 24 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	return &pki.CA{Certificate: cert, Key: key}
}

// newTestRecord is a record with a CRL of each CA signed at now, the first
// CA's listing one revoked serial.
func newTestRecord(t *testing.T, now time.Time, cas ...*pki.CA) *revocation.Record {
	t.Helper()
	rec := &revocation.Record{}
	entry := revocation.Entry{CA: revocation.CAID(cas[0].Certificate), Revoked: pki.Revoked{Serial: big.NewInt(42), RevokedAt: now, Reason: pki.ReasonSuperseded}}
	if _, err := rec.Add(entry); err != nil {
		t.Fatal(err)
	}
	var planned []revocation.CA
	for _, ca := range cas {
		planned = append(planned, revocation.CA{Certificate: ca.Certificate, Signer: ca})
	}
	rec, _, err := revocation.Plan(rec, planned, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.CRLs) != len(cas) {
		t.Fatalf("Plan made %d CRLs for %d CAs", len(rec.CRLs), len(cas))
	}
	return rec
}

// recordSecret is the record Secret of issuer as the revocation controller
// writes it.
func recordSecret(t *testing.T, issuer string, rec *revocation.Record) *corev1.Secret {
	t.Helper()
	data, err := rec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   testNamespace,
			Name:        revocation.SecretName(issuer),
			Labels:      map[string]string{certsmithv1alpha1.LabelRevocations: "true"},
			Annotations: map[string]string{certsmithv1alpha1.AnnotationIssuerName: issuer},
		},
		Type: revocation.SecretType,
		Data: data,
	}
}

// fixture is a handler over a fake client that holds objects.
type fixture struct {
	handler http.Handler
	reader  *countingReader
	client  client.Client
	clock   *clocktesting.FakePassiveClock
}

func newFixture(objects ...client.Object) *fixture {
	c := fake.NewClientBuilder().WithObjects(objects...).Build()
	f := &fixture{reader: &countingReader{Reader: c}, client: c, clock: clocktesting.NewFakePassiveClock(testNow)}
	f.handler = NewHandler(f.reader, testNamespace, f.clock)
	return f
}

// do serves one request and returns the response.
func (f *fixture) do(method, path string, header http.Header) *http.Response {
	req := httptest.NewRequest(method, "/", nil)
	req.URL.Path = path
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec.Result()
}

func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestServesEachCAsCRL: during a rotation an issuer has two CAs, and each
// CA's path serves exactly the DER the record holds, a CRL signed by that
// CA, with the cache headers of its thisUpdate and nextUpdate; HEAD gets
// the same headers and no body.
func TestServesEachCAsCRL(t *testing.T) {
	current, next := newTestCA(t, "current", testNow), newTestCA(t, "next", testNow)
	rec := newTestRecord(t, testNow, current, next)
	f := newFixture(recordSecret(t, testIssuer, rec))

	for _, ca := range []*pki.CA{current, next} {
		id := revocation.CAID(ca.Certificate)
		stored, _ := rec.CRLOf(id)
		path := "/crl/" + testIssuer + "/" + id + ".crl"
		resp := f.do(http.MethodGet, path, nil)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if !bytes.Equal(body, stored.DER) {
			t.Errorf("GET %s: the body is not the stored DER", path)
		}
		crl, err := x509.ParseRevocationList(body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if err := crl.CheckSignatureFrom(ca.Certificate); err != nil {
			t.Errorf("GET %s: %v", path, err)
		}
		want := http.Header{
			"Content-Type":  {ContentTypeCRL},
			"Last-Modified": {stored.ThisUpdate.Format(http.TimeFormat)},
			"Expires":       {stored.NextUpdate.Format(http.TimeFormat)},
			"Cache-Control": {"public, max-age=300"},
		}
		for key, value := range want {
			if got := resp.Header.Get(key); got != value[0] {
				t.Errorf("GET %s: %s is %q, want %q", path, key, got, value[0])
			}
		}
		etag := resp.Header.Get("ETag")
		if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
			t.Errorf("GET %s: ETag %q is not a quoted strong tag", path, etag)
		}

		head := f.do(http.MethodHead, path, nil)
		if body := readBody(t, head); head.StatusCode != http.StatusOK || len(body) != 0 || head.Header.Get("ETag") != etag {
			t.Errorf("HEAD %s: %d, %d bytes, ETag %q; want 200, no body, ETag %q", path, head.StatusCode, len(body), head.Header.Get("ETag"), etag)
		}
	}
}

// TestServesPEMBundle: /crl/<issuer>.pem is exactly rec.PEM(), what the
// bundle ConfigMaps carry; it expires with the first of its CRLs.
func TestServesPEMBundle(t *testing.T) {
	first := newTestCA(t, "first", testNow)
	rec := newTestRecord(t, testNow, first)
	later := newTestCA(t, "later", testNow)
	rec, _, err := revocation.Plan(rec, []revocation.CA{
		{Certificate: first.Certificate, Signer: first},
		{Certificate: later.Certificate, Signer: later},
	}, testNow.Add(time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(recordSecret(t, testIssuer, rec))

	resp := f.do(http.MethodGet, "/crl/"+testIssuer+".pem", nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, rec.PEM()) {
		t.Fatalf("GET the PEM bundle: %d, body equal to rec.PEM(): %v", resp.StatusCode, bytes.Equal(body, rec.PEM()))
	}
	if got := resp.Header.Get("Content-Type"); got != ContentTypePEM {
		t.Errorf("Content-Type %q, want %q", got, ContentTypePEM)
	}
	if got, want := resp.Header.Get("Expires"), testNow.Add(24*time.Hour).Format(http.TimeFormat); got != want {
		t.Errorf("Expires %q, want the first nextUpdate %q", got, want)
	}
	if got, want := resp.Header.Get("Last-Modified"), testNow.Add(time.Hour).Format(http.TimeFormat); got != want {
		t.Errorf("Last-Modified %q, want the last thisUpdate %q", got, want)
	}
}

// TestNotFound: what is not an issuer's CRL is 404 with a short body, and
// so is a Secret of the record's name that the revocation controller did
// not make (anyone who can create Secrets in the namespace can make one).
func TestNotFound(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	rec := newTestRecord(t, testNow, ca)
	id := revocation.CAID(ca.Certificate)

	wrongType := recordSecret(t, "wrong-type", rec)
	wrongType.Type = corev1.SecretTypeOpaque
	wrongAnnotation := recordSecret(t, "wrong-annotation", rec)
	wrongAnnotation.Annotations[certsmithv1alpha1.AnnotationIssuerName] = testIssuer
	noLabel := recordSecret(t, "no-label", rec)
	delete(noLabel.Labels, certsmithv1alpha1.LabelRevocations)
	otherNamespace := recordSecret(t, "elsewhere", rec)
	otherNamespace.Namespace = "tenant"
	noCRLs := recordSecret(t, "no-crls", &revocation.Record{})
	f := newFixture(recordSecret(t, testIssuer, rec), wrongType, wrongAnnotation, noLabel, otherNamespace, noCRLs)

	for _, path := range []string{
		"/", "/crl/", "/crl", "/metrics", "/crl/" + testIssuer, "/crl/" + testIssuer + "/",
		"/crl/unknown.pem", "/crl/unknown/" + id + ".crl",
		"/crl/" + testIssuer + "/" + unknownCAID + ".crl",
		"/crl/wrong-type.pem", "/crl/wrong-type/" + id + ".crl",
		"/crl/wrong-annotation.pem", "/crl/wrong-annotation/" + id + ".crl",
		"/crl/no-label.pem", "/crl/no-label/" + id + ".crl",
		"/crl/elsewhere.pem",
		"/crl/no-crls.pem", "/crl/no-crls/" + id + ".crl",
	} {
		resp := f.do(http.MethodGet, path, nil)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusNotFound || len(body) > 64 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("GET %s: %d %q (%s), want a short plain-text 404", path, resp.StatusCode, body, resp.Header.Get("Content-Type"))
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", path, got)
		}
	}
}

// TestMethodNotAllowed: only GET and HEAD, refused before any read.
func TestMethodNotAllowed(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	f := newFixture(recordSecret(t, testIssuer, newTestRecord(t, testNow, ca)))
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, "PROPFIND"} {
		resp := f.do(method, "/crl/"+testIssuer+".pem", nil)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q; want 405, Allow GET, HEAD", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if n := f.reader.gets.Load(); n != 0 {
		t.Errorf("refused methods read %d times, want none", n)
	}
}

// TestIfNoneMatch: a client that has the current CRL gets 304 with the
// cache headers and no body; one with another gets the CRL.
func TestIfNoneMatch(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	f := newFixture(recordSecret(t, testIssuer, newTestRecord(t, testNow, ca)))
	path := "/crl/" + testIssuer + "/" + revocation.CAID(ca.Certificate) + ".crl"
	etag := f.do(http.MethodGet, path, nil).Header.Get("ETag")

	for _, c := range []struct {
		ifNoneMatch string
		want        int
	}{
		{etag, http.StatusNotModified},
		{`"stale", ` + etag, http.StatusNotModified},
		{"W/" + etag, http.StatusNotModified},
		{"*", http.StatusNotModified},
		{`"stale"`, http.StatusOK},
		{strings.Trim(etag, `"`), http.StatusOK},
	} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp := f.do(method, path, http.Header{"If-None-Match": {c.ifNoneMatch}})
			body := readBody(t, resp)
			if resp.StatusCode != c.want {
				t.Errorf("%s If-None-Match %s: %d, want %d", method, c.ifNoneMatch, resp.StatusCode, c.want)
			}
			if c.want == http.StatusNotModified && (len(body) != 0 || resp.Header.Get("ETag") != etag || resp.Header.Get("Cache-Control") != "public, max-age=300") {
				t.Errorf("%s If-None-Match %s: 304 with %d bytes, ETag %q, Cache-Control %q", method, c.ifNoneMatch, len(body), resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"))
			}
		}
	}
}

// TestHostilePaths: paths of hostile size or characters are 404 before
// any read, and the response does not carry them back.
func TestHostilePaths(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	f := newFixture(recordSecret(t, testIssuer, newTestRecord(t, testNow, ca)))
	id := revocation.CAID(ca.Certificate)
	long := strings.Repeat("a", 254)
	for _, path := range []string{
		"/crl/" + long + ".pem",
		"/crl/" + long + "/" + id + ".crl",
		"/crl/" + strings.Repeat("a.", 200) + "a.pem",
		"/crl/" + strings.Repeat("x", 1<<20),
		"/crl/" + testIssuer + "/" + strings.Repeat("0", 1<<16) + ".crl",
		"/crl/UPPER.pem",
		"/crl/" + testIssuer + "/" + strings.ToUpper(id) + ".crl",
		"/crl/" + testIssuer + "/" + id[:15] + ".crl",
		"/crl/" + testIssuer + "/" + id + "0.crl",
		"/crl/" + testIssuer + "/0123456789abcdeg.crl",
		"/crl/" + testIssuer + "/" + id + ".der",
		"/crl/" + testIssuer + "/" + id + ".crl/x",
		"/crl/" + testIssuer + "/" + id,
		"/crl/" + testIssuer + "/x/" + id + ".crl",
		"/crl/" + testIssuer + ".pem/x",
		"/crl/../" + testIssuer + ".pem",
		"/crl/a..b.pem",
		"/crl/-a.pem",
		"/crl/.pem",
		"/crl/" + testIssuer + "%2F" + id + ".crl",
		"/crl/<script>alert(1)</script>.pem",
		"/crl/" + testIssuer + "\x00.pem",
		"/crl/" + testIssuer + "\r\nX-Injected: 1.pem",
		"/crl/" + testIssuer + " .pem",
		"/crl/ïssuer.pem",
		"/crl//" + id + ".crl",
		"//crl/" + testIssuer + ".pem",
	} {
		resp := f.do(http.MethodGet, path, nil)
		body := readBody(t, resp)
		shown := path
		if len(shown) > 80 {
			shown = shown[:80] + "..."
		}
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %q: %d, want 404", shown, resp.StatusCode)
		}
		if len(body) > 64 || bytes.Contains(body, []byte("script")) || bytes.Contains(body, []byte("Injected")) || resp.Header.Get("X-Injected") != "" {
			t.Errorf("GET %q: the response carries input back: %q", shown, body)
		}
	}
	if n := f.reader.gets.Load(); n != 0 {
		t.Errorf("hostile paths read %d times, want none", n)
	}
}

// TestReadsOnlyTheNamedRecord: a well-formed path reads exactly one Secret,
// the record of the issuer it names (and only its record is served);
// /healthz reads nothing.
func TestReadsOnlyTheNamedRecord(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	f := newFixture(recordSecret(t, testIssuer, newTestRecord(t, testNow, ca)))
	if resp := f.do(http.MethodGet, HealthzPath, nil); resp.StatusCode != http.StatusOK || string(readBody(t, resp)) != "ok" {
		t.Errorf("GET %s: %d", HealthzPath, resp.StatusCode)
	}
	if n := f.reader.gets.Load(); n != 0 {
		t.Errorf("%s read %d times, want none", HealthzPath, n)
	}
	f.do(http.MethodGet, "/crl/"+testIssuer+".pem", nil)
	f.do(http.MethodGet, "/crl/other/"+unknownCAID+".crl", nil)
	if n := f.reader.gets.Load(); n != 2 {
		t.Errorf("two requests read %d times, want 2", n)
	}
}

// TestMaxAge: max-age runs down to nextUpdate, at most 5 minutes, and is
// never negative, also for a CRL past its nextUpdate (the revocation
// controller has not re-signed it: clients must look again, not cache).
func TestMaxAge(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	rec := newTestRecord(t, testNow, ca)
	f := newFixture(recordSecret(t, testIssuer, rec))
	nextUpdate := rec.CRLs[0].NextUpdate
	for _, c := range []struct {
		now  time.Time
		want string
	}{
		{testNow, "public, max-age=300"},
		{nextUpdate.Add(-5 * time.Minute), "public, max-age=300"},
		{nextUpdate.Add(-2 * time.Minute), "public, max-age=120"},
		{nextUpdate.Add(-1500 * time.Millisecond), "public, max-age=1"},
		{nextUpdate, "public, max-age=0"},
		{nextUpdate.Add(time.Second), "public, max-age=0"},
		{nextUpdate.Add(30 * 24 * time.Hour), "public, max-age=0"},
	} {
		f.clock.SetTime(c.now)
		for _, path := range []string{"/crl/" + testIssuer + ".pem", "/crl/" + testIssuer + "/" + rec.CRLs[0].CA + ".crl"} {
			resp := f.do(http.MethodGet, path, nil)
			if got := resp.Header.Get("Cache-Control"); resp.StatusCode != http.StatusOK || got != c.want {
				t.Errorf("GET %s at nextUpdate%+v: %d, Cache-Control %q, want %q", path, c.now.Sub(nextUpdate), resp.StatusCode, got, c.want)
			}
			if got := resp.Header.Get("Expires"); got != nextUpdate.Format(http.TimeFormat) {
				t.Errorf("GET %s: Expires %q, want nextUpdate", path, got)
			}
		}
	}
}

// TestUnavailable: a record that does not decode, or a failing read, is
// 503 (the CRL exists but cannot be served now), not 404.
func TestUnavailable(t *testing.T) {
	broken := recordSecret(t, testIssuer, &revocation.Record{})
	broken.Data[revocation.KeyState] = []byte("{not json")
	f := newFixture(broken)
	for _, path := range []string{"/crl/" + testIssuer + ".pem", "/crl/" + testIssuer + "/" + unknownCAID + ".crl"} {
		for range 2 {
			if resp := f.do(http.MethodGet, path, nil); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("GET %s of an unreadable record: %d, Retry-After %q; want 503 with Retry-After", path, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
	}

	f = newFixture()
	f.reader.err = errors.New("the cache is not synced")
	if resp := f.do(http.MethodGet, "/crl/"+testIssuer+".pem", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET with a failing read: %d, want 503", resp.StatusCode)
	}
}

// TestServesNewVersion: a new version of the record (a CRL re-signed after
// a revocation) is served at once; the prepared responses of the old one
// are not.
func TestServesNewVersion(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	rec := newTestRecord(t, testNow, ca)
	f := newFixture(recordSecret(t, testIssuer, rec))
	path := "/crl/" + testIssuer + "/" + rec.CRLs[0].CA + ".crl"
	before := readBody(t, f.do(http.MethodGet, path, nil))

	if _, err := rec.Add(revocation.Entry{CA: rec.CRLs[0].CA, Revoked: pki.Revoked{Serial: big.NewInt(43), RevokedAt: testNow}}); err != nil {
		t.Fatal(err)
	}
	rec, _, err := revocation.Plan(rec, []revocation.CA{{Certificate: ca.Certificate, Signer: ca}}, testNow.Add(time.Minute), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{}
	if err := f.client.Get(context.Background(), client.ObjectKey{Namespace: testNamespace, Name: revocation.SecretName(testIssuer)}, secret); err != nil {
		t.Fatal(err)
	}
	if secret.Data, err = rec.Encode(); err != nil {
		t.Fatal(err)
	}
	if err := f.client.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}

	after := readBody(t, f.do(http.MethodGet, path, nil))
	if bytes.Equal(before, after) || !bytes.Equal(after, rec.CRLs[0].DER) {
		t.Error("after the record changed, the server does not serve its new CRL")
	}
}

// TestPreparedResponsesAreBounded: the handler keeps prepared responses
// of at most maxPublications issuers, however many there are.
func TestPreparedResponsesAreBounded(t *testing.T) {
	var objects []client.Object
	for i := range maxPublications + 10 {
		objects = append(objects, recordSecret(t, fmt.Sprintf("issuer-%d", i), &revocation.Record{}))
	}
	c := fake.NewClientBuilder().WithObjects(objects...).Build()
	h := newHandler(c, testNamespace, clocktesting.NewFakePassiveClock(testNow))
	for i := range maxPublications + 10 {
		req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/crl/issuer-%d.pem", i), nil)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if n := len(h.publications); n != maxPublications {
		t.Errorf("the handler keeps %d issuers' responses, want %d", n, maxPublications)
	}
}

// TestCountsResponses: certsmith_crl_http_requests_total counts responses
// by status code.
func TestCountsResponses(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	f := newFixture(recordSecret(t, testIssuer, newTestRecord(t, testNow, ca)))
	counts := func() (ok, notFound, notAllowed float64) {
		return promtestutil.ToFloat64(requests.WithLabelValues("200")), promtestutil.ToFloat64(requests.WithLabelValues("404")),
			promtestutil.ToFloat64(requests.WithLabelValues("405"))
	}
	ok0, notFound0, notAllowed0 := counts()
	f.do(http.MethodGet, "/crl/"+testIssuer+".pem", nil)
	f.do(http.MethodGet, "/crl/unknown.pem", nil)
	f.do(http.MethodGet, "/nothing", nil)
	f.do(http.MethodPost, "/crl/"+testIssuer+".pem", nil)
	ok1, notFound1, notAllowed1 := counts()
	if ok1-ok0 != 1 || notFound1-notFound0 != 2 || notAllowed1-notAllowed0 != 1 {
		t.Errorf("counted 200: %v, 404: %v, 405: %v; want 1, 2, 1", ok1-ok0, notFound1-notFound0, notAllowed1-notAllowed0)
	}
}

// TestServerServesAndStops: the Server serves on its listener, with every
// timeout set, and shuts down when its context ends; it runs in every
// replica.
func TestServerServesAndStops(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := NewServer("unused", newFixture().handler)
	if server.NeedLeaderElection() {
		t.Error("NeedLeaderElection is true: only the leader would serve CRLs")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, listener) }()

	url := "http://" + listener.Addr().String() + HealthzPath
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Errorf("GET %s: %d %q", url, resp.StatusCode, body)
	}
	_ = resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after its context ended, want nil", err)
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if conn, err := net.Dial("tcp", listener.Addr().String()); err == nil {
		_ = conn.Close()
		t.Error("the listener still accepts connections after Serve returned")
	}

	s := server.httpServer(context.Background())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Errorf("the HTTP server lacks a bound: %+v", s)
	}
}

// TestServerStart: "0" turns the server off; an address it cannot listen
// on is an error, which stops the manager.
func TestServerStart(t *testing.T) {
	handler := newFixture().handler
	done := make(chan error, 1)
	go func() { done <- NewServer(DisabledBindAddress, handler).Start(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start with %q: %v, want nil", DisabledBindAddress, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Start with %q did not return", DisabledBindAddress)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = taken.Close() }()
	if err := NewServer(taken.Addr().String(), handler).Start(context.Background()); err == nil {
		t.Errorf("Start on %s, which is taken, returned nil", taken.Addr())
	}
}

// TestLimitInFlight: past n requests at once, the server answers 503 with
// Retry-After instead of queueing without bound.
func TestLimitInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := limitInFlight(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}), 2)
	done := make(chan struct{}, 2)
	for range 2 {
		go func() {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/crl/x.pem", nil))
			done <- struct{}{}
		}()
	}
	<-entered
	<-entered
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/crl/x.pem", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("third request at once: %d %v, want 503 with Retry-After", rec.Code, rec.Header())
	}
	close(release)
	<-done
	<-done
	// The slots are free again: the next request is served.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/crl/x.pem", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("a request once the others finished: %d, want 200", rec.Code)
	}
}
