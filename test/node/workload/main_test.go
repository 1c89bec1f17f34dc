package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

const serverName = "workload.test"

type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func newCA(t *testing.T, cn string) *ca {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a server certificate for serverName with the serial, and
// its key, both PEM.
func (c *ca) issue(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: serverName},
		DNSNames:     []string{serverName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// writeAtomic replaces a file as a whole, as the kubelet's swap of a
// Secret volume's files does for each one.
func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func servedSerial(t *testing.T, k *keyPair) string {
	t.Helper()
	pair, err := k.get(nil)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if pair.Leaf == nil {
		t.Fatal("get returned a pair without its leaf")
	}
	return pair.Leaf.SerialNumber.Text(16)
}

func TestKeyPairReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	authority := newCA(t, "CA one")
	cert1, key1 := authority.issue(t, 0x11)
	cert2, key2 := authority.issue(t, 0x22)
	cert3, key3 := authority.issue(t, 0x33)
	k := &keyPair{certFile: certFile, keyFile: keyFile}

	writeAtomic(t, certFile, cert1)
	writeAtomic(t, keyFile, key1)
	if got := servedSerial(t, k); got != "11" {
		t.Fatalf("serial %s, want 11", got)
	}
	first, _ := k.get(nil)
	if again, _ := k.get(nil); again != first {
		t.Error("unchanged files: get parsed the pair again instead of keeping it")
	}

	// A whole new pair is picked up.
	writeAtomic(t, certFile, cert2)
	writeAtomic(t, keyFile, key2)
	if got := servedSerial(t, k); got != "22" {
		t.Fatalf("after the swap to 22: serial %s", got)
	}

	// Half swapped: the new certificate with the old key keeps the pair
	// loaded before, until the key follows.
	writeAtomic(t, certFile, cert3)
	if got := servedSerial(t, k); got != "22" {
		t.Fatalf("new certificate with the old key: serial %s, want 22 kept", got)
	}
	writeAtomic(t, keyFile, key3)
	if got := servedSerial(t, k); got != "33" {
		t.Fatalf("after the key followed: serial %s, want 33", got)
	}

	// The old key with the new certificate the other way round.
	writeAtomic(t, keyFile, key1)
	if got := servedSerial(t, k); got != "33" {
		t.Fatalf("new key with the old certificate: serial %s, want 33 kept", got)
	}

	// A file that is gone or not PEM keeps the pair too.
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, k); got != "33" {
		t.Fatalf("key file missing: serial %s, want 33 kept", got)
	}
	if err := os.Remove(certFile); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, k); got != "33" {
		t.Fatalf("both files missing: serial %s, want 33 kept", got)
	}
	writeAtomic(t, certFile, []byte("not PEM"))
	writeAtomic(t, keyFile, key3)
	if got := servedSerial(t, k); got != "33" {
		t.Fatalf("certificate not PEM: serial %s, want 33 kept", got)
	}

	// And a good pair again is loaded.
	writeAtomic(t, certFile, cert1)
	writeAtomic(t, keyFile, key1)
	if got := servedSerial(t, k); got != "11" {
		t.Fatalf("back to 11: serial %s", got)
	}
}

func TestKeyPairFirstLoadFails(t *testing.T) {
	authority := newCA(t, "CA one")
	cert1, key1 := authority.issue(t, 1)
	_, key2 := authority.issue(t, 2)
	for _, tc := range []struct {
		name       string
		cert, key  []byte // nil: no file
		wantErrSub string
	}{
		{"no files", nil, nil, "no such file"},
		{"no key", cert1, nil, "no such file"},
		{"no certificate", nil, key1, "no such file"},
		{"mismatched", cert1, key2, "private key does not match"},
		{"not PEM", []byte("junk"), []byte("junk"), "failed to find"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			k := &keyPair{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
			if tc.cert != nil {
				writeAtomic(t, k.certFile, tc.cert)
			}
			if tc.key != nil {
				writeAtomic(t, k.keyFile, tc.key)
			}
			pair, err := k.get(nil)
			if err == nil {
				t.Fatalf("get = %v, want an error", pair)
			}
			if !strings.Contains(err.Error(), tc.wantErrSub) {
				t.Errorf("error %q, want it to mention %q", err, tc.wantErrSub)
			}
		})
	}
}

// tlsServer serves "ok\n" over TLS with the key pair on a loopback port
// until the test ends, and returns its address.
func tlsServer(t *testing.T, certPEM, keyPEM []byte, answer string) string {
	t.Helper()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, answer)
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestHandshake(t *testing.T) {
	one, two := newCA(t, "CA one"), newCA(t, "CA two")
	certPEM, keyPEM := one.issue(t, 0xabc)
	addr := tlsServer(t, certPEM, keyPEM, "ok\n")
	dir := t.TempDir()
	caFile := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	onlyOne := caFile("one.crt", one.pem)
	onlyTwo := caFile("two.crt", two.pem)
	both := caFile("both.crt", append(append([]byte{}, two.pem...), one.pem...))
	bothAnchors := []string{fingerprint(one.cert), fingerprint(two.cert)}
	sort.Strings(bothAnchors)
	ctx := context.Background()

	t.Run("trusted", func(t *testing.T) {
		res, err := handshake(ctx, clientConfig{caFile: onlyOne, serverName: serverName}, addr)
		anchors, peer := res.anchors, res.peer
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		if got := peer.SerialNumber.Text(16); got != "abc" {
			t.Errorf("peer serial %s, want abc", got)
		}
		if peer.Issuer.CommonName != "CA one" {
			t.Errorf("peer issuer %q", peer.Issuer.CommonName)
		}
		if want := []string{fingerprint(one.cert)}; !reflect.DeepEqual(anchors, want) {
			t.Errorf("anchors %q, want %q", anchors, want)
		}
	})

	t.Run("bundle of two", func(t *testing.T) {
		res, err := handshake(ctx, clientConfig{caFile: both, serverName: serverName}, addr)
		anchors, peer := res.anchors, res.peer
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		if peer == nil {
			t.Fatal("no peer certificate")
		}
		if !reflect.DeepEqual(anchors, bothAnchors) {
			t.Errorf("anchors %q, want the sorted %q", anchors, bothAnchors)
		}
	})

	t.Run("wrong server name", func(t *testing.T) {
		res, err := handshake(ctx, clientConfig{caFile: onlyOne, serverName: "other.test"}, addr)
		anchors, peer := res.anchors, res.peer
		var hostErr x509.HostnameError
		if !errors.As(err, &hostErr) {
			t.Fatalf("error %v (%T), want an x509.HostnameError", err, err)
		}
		if peer != nil {
			t.Error("a peer certificate with a failed handshake")
		}
		if len(anchors) != 1 {
			t.Errorf("anchors %q: the CA file was read, want its one anchor", anchors)
		}
	})

	t.Run("untrusted CA", func(t *testing.T) {
		res, err := handshake(ctx, clientConfig{caFile: onlyTwo, serverName: serverName}, addr)
		anchors, peer := res.anchors, res.peer
		var authErr x509.UnknownAuthorityError
		if !errors.As(err, &authErr) {
			t.Fatalf("error %v (%T), want an x509.UnknownAuthorityError", err, err)
		}
		if peer != nil {
			t.Error("a peer certificate with a failed handshake")
		}
		if want := []string{fingerprint(two.cert)}; !reflect.DeepEqual(anchors, want) {
			t.Errorf("anchors %q, want %q", anchors, want)
		}
	})

	for _, tc := range []struct {
		name, content, wantErrSub string
	}{
		{"empty CA file", "", "holds no certificate"},
		{"non-PEM CA file", "this is not PEM\n", "holds no certificate"},
		{"PEM block not a certificate", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})), "x509"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := caFile(strings.ReplaceAll(tc.name, " ", "-"), []byte(tc.content))
			res, err := handshake(ctx, clientConfig{caFile: p, serverName: serverName}, addr)
			anchors, peer := res.anchors, res.peer
			if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
				t.Fatalf("error %v, want it to mention %q", err, tc.wantErrSub)
			}
			if anchors != nil || peer != nil {
				t.Errorf("anchors %q, peer %v with an unusable CA file", anchors, peer)
			}
		})
	}

	t.Run("missing CA file", func(t *testing.T) {
		_, err := handshake(ctx, clientConfig{caFile: filepath.Join(dir, "missing.crt"), serverName: serverName}, addr)
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("error %v, want not exist", err)
		}
	})

	t.Run("unexpected answer", func(t *testing.T) {
		other := tlsServer(t, certPEM, keyPEM, "nope\n")
		res, err := handshake(ctx, clientConfig{caFile: onlyOne, serverName: serverName}, other)
		peer := res.peer
		if err == nil || !strings.Contains(err.Error(), "unexpected answer") {
			t.Fatalf("error %v, want an unexpected answer", err)
		}
		if peer != nil {
			t.Error("a peer certificate with a failed exchange")
		}
	})

	t.Run("nothing listening", func(t *testing.T) {
		_, err := handshake(ctx, clientConfig{caFile: onlyOne, serverName: serverName}, freeAddr(t))
		if err == nil {
			t.Fatal("handshake with no server succeeded")
		}
	})
}

// freeAddr returns a loopback address with a port nothing listens on
// (serve and client take a port, not a listener).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// eventually polls cond every 20ms until it holds, for at most 10s.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s, still not %s: %s", what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getStatus(addr string) (Status, error) {
	var st Status
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return st, fmt.Errorf("content type %q", ct)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// waitStatus polls the client's status until cond holds and returns it.
func waitStatus(t *testing.T, addr, what string, cond func(Status) bool) Status {
	t.Helper()
	var st Status
	eventually(t, what, func() (bool, string) {
		var err error
		st, err = getStatus(addr)
		if err != nil {
			return false, err.Error()
		}
		return cond(st), fmt.Sprintf("%+v", st)
	})
	return st
}

type role struct {
	name string
	done chan error
}

func start(ctx context.Context, name string, run func(context.Context, []string) error, args ...string) role {
	r := role{name: name, done: make(chan error, 1)}
	go func() { r.done <- run(ctx, args) }()
	return r
}

// stop waits for a role to return after its context was cancelled.
func (r role) stop(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("%s returned %v", r.name, err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not return within 10s of its context's end", r.name)
	}
}

func TestServeAndClient(t *testing.T) {
	old, next := newCA(t, "CA old"), newCA(t, "CA new")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	oldCert, oldKey := old.issue(t, 0x1001)
	newCert, newKey := next.issue(t, 0x2002)
	writeAtomic(t, certFile, oldCert)
	writeAtomic(t, keyFile, oldKey)
	bundle := filepath.Join(dir, "bundle.crt")
	writeAtomic(t, bundle, append(append([]byte{}, old.pem...), next.pem...))
	oldOnly := filepath.Join(dir, "old.crt")
	writeAtomic(t, oldOnly, old.pem)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serveAddr := freeAddr(t)
	server := start(ctx, "serve", serve, "-cert", certFile, "-key", keyFile, "-listen", serveAddr)
	// The server is up before the client starts: the client must count
	// no failure.
	eventually(t, "serving", func() (bool, string) {
		select {
		case err := <-server.done:
			t.Fatalf("serve returned early: %v", err)
		default:
		}
		_, err := handshake(ctx, clientConfig{caFile: bundle, serverName: serverName}, serveAddr)
		return err == nil, fmt.Sprint(err)
	})

	statusAddr := freeAddr(t)
	cli := start(ctx, "client", client,
		"-ca", bundle, "-server-name", serverName, "-addr", serveAddr,
		"-status", statusAddr, "-interval", "20ms")
	st := waitStatus(t, statusAddr, "handshaking with the old certificate", func(st Status) bool {
		return st.Handshakes >= 3 && st.PeerSerial == "1001"
	})
	if st.Failures != 0 || st.LastError != "" || !st.FirstErrorAt.IsZero() {
		t.Fatalf("failures before the swap: %+v", st)
	}
	if st.PeerIssuer != "CA old" {
		t.Errorf("peer issuer %q, want CA old", st.PeerIssuer)
	}
	wantAnchors := []string{fingerprint(old.cert), fingerprint(next.cert)}
	sort.Strings(wantAnchors)
	if !reflect.DeepEqual(st.Anchors, wantAnchors) {
		t.Errorf("anchors %q, want %q", st.Anchors, wantAnchors)
	}
	before := st.Handshakes

	// Swap the server's files to a certificate of the new CA, one file
	// after the other as the kubelet does: the server keeps the old pair
	// until both are new, and the client, trusting both CAs, never fails.
	writeAtomic(t, certFile, newCert)
	time.Sleep(50 * time.Millisecond) // a few handshakes see the half-swapped files
	writeAtomic(t, keyFile, newKey)
	st = waitStatus(t, statusAddr, "handshaking with the new certificate", func(st Status) bool {
		return st.PeerSerial == "2002"
	})
	if st.PeerIssuer != "CA new" {
		t.Errorf("peer issuer %q, want CA new", st.PeerIssuer)
	}
	if st.Handshakes <= before {
		t.Errorf("handshakes %d, not grown from %d", st.Handshakes, before)
	}
	if st.Failures != 0 || st.LastError != "" {
		t.Errorf("failures across the swap: %+v", st)
	}
	grown := st.Handshakes
	st = waitStatus(t, statusAddr, "still handshaking", func(st Status) bool { return st.Handshakes >= grown+3 })
	if st.Failures != 0 || st.PeerSerial != "2002" {
		t.Errorf("after the swap: %+v", st)
	}

	// A client trusting only the old CA fails against the new
	// certificate, and says why.
	strictAddr := freeAddr(t)
	strict := start(ctx, "strict client", client,
		"-ca", oldOnly, "-server-name", serverName, "-addr", serveAddr,
		"-status", strictAddr, "-interval", "20ms")
	st = waitStatus(t, strictAddr, "failing", func(st Status) bool { return st.Failures >= 2 })
	if !strings.Contains(st.LastError, "unknown authority") {
		t.Errorf("lastError %q, want an unknown authority", st.LastError)
	}
	if st.FirstErrorAt.IsZero() || time.Since(st.FirstErrorAt) > time.Minute {
		t.Errorf("firstErrorAt %s", st.FirstErrorAt)
	}
	if st.Handshakes < st.Failures {
		t.Errorf("handshakes %d < failures %d", st.Handshakes, st.Failures)
	}
	if st.PeerSerial != "" {
		t.Errorf("peer serial %q without a successful handshake", st.PeerSerial)
	}

	cancel()
	for _, r := range []role{strict, cli, server} {
		r.stop(t)
	}
	// The client's status server is closed with it.
	if _, err := getStatus(statusAddr); err == nil {
		t.Error("the status server still answers after the client returned")
	}
}

func TestServeRefusesMissingKeyPair(t *testing.T) {
	dir := t.TempDir()
	err := serve(context.Background(), []string{
		"-cert", filepath.Join(dir, "tls.crt"), "-key", filepath.Join(dir, "tls.key"), "-listen", freeAddr(t),
	})
	if err == nil || !strings.Contains(err.Error(), "loading the key pair") {
		t.Fatalf("serve without a key pair: %v", err)
	}
}

func TestClientNeedsServerNameAndAddr(t *testing.T) {
	for _, args := range [][]string{
		{"-addr", "127.0.0.1:1"},
		{"-server-name", serverName},
		{},
	} {
		if err := client(context.Background(), args); err == nil {
			t.Errorf("client %q returned no error", args)
		}
	}
}

// spiffeID is the SPIFFE ID of a ServiceAccount as certsmith issues it.
func spiffeID(namespace, serviceAccount string) string {
	return "spiffe://cluster.local/ns/" + namespace + "/sa/" + serviceAccount
}

// intermediate returns a CA signed by c.
func (c *ca) intermediate(t *testing.T, cn string) *ca {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// svid describes a pod certificate to issue.
type svid struct {
	serial int64
	uris   []string
	usages []x509.ExtKeyUsage // default client and server
	isCA   bool
	// chain are the intermediates that follow the leaf in the bundle.
	chain []*ca
}

// issueBundle returns a kubelet credential bundle with a certificate like
// certsmith's pod certificates (an empty subject, URI SANs only), signed
// by c: the PKCS#8 key, then the leaf and the chain.
func (c *ca) issueBundle(t *testing.T, s svid) []byte {
	t.Helper()
	key := newKey(t)
	usages := s.usages
	if usages == nil {
		usages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(s.serial),
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           usages,
		IsCA:                  s.isCA,
		BasicConstraintsValid: true,
	}
	for _, u := range s.uris {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	for _, i := range s.chain {
		out = append(out, i.pem...)
	}
	return out
}

// bundleCerts parses the certificates of a credential bundle, leaf first.
func bundleCerts(t *testing.T, bundle []byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return certs
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, cert)
	}
}

func TestParseCredentialBundle(t *testing.T) {
	root := newCA(t, "root")
	mid := root.intermediate(t, "intermediate")
	id := spiffeID("ns", "app")
	good := root.issueBundle(t, svid{serial: 7, uris: []string{id}})
	chained := mid.issueBundle(t, svid{serial: 8, uris: []string{id}, chain: []*ca{mid}})
	other := root.issueBundle(t, svid{serial: 9, uris: []string{id}})
	keyBlock, certs := splitBundle(t, good)
	otherKey, _ := splitBundle(t, other)
	ecKey, _ := pem.Decode(keyBlock)
	parsedKey, err := x509.ParsePKCS8PrivateKey(ecKey.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(parsedKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	sec1PEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	t.Run("key and leaf", func(t *testing.T) {
		pair, err := parseCredentialBundle(good)
		if err != nil {
			t.Fatal(err)
		}
		if pair.Leaf == nil || pair.Leaf.SerialNumber.Int64() != 7 || len(pair.Certificate) != 1 {
			t.Fatalf("pair %+v", pair)
		}
		if _, err := tls.X509KeyPair(certs, keyBlock); err != nil {
			t.Fatalf("the test's bundle is no key pair: %v", err)
		}
	})
	t.Run("key, leaf and intermediate", func(t *testing.T) {
		pair, err := parseCredentialBundle(chained)
		if err != nil {
			t.Fatal(err)
		}
		if len(pair.Certificate) != 2 || pair.Leaf.SerialNumber.Int64() != 8 {
			t.Fatalf("%d certificates, leaf %v", len(pair.Certificate), pair.Leaf.SerialNumber)
		}
	})
	for _, tc := range []struct {
		name, data, wantErrSub string
	}{
		{"empty", "", "does not start with a PRIVATE KEY"},
		{"not PEM", "junk", "does not start with a PRIVATE KEY"},
		{"certificate first", string(cat(certs, keyBlock)), "does not start with a PRIVATE KEY"},
		{"SEC 1 key instead of PKCS#8", string(cat(sec1PEM, certs)), "does not start with a PRIVATE KEY"},
		{"PKCS#8 block with junk", string(cat(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}), certs)), "credential bundle:"},
		{"key only", string(keyBlock), "no certificate"},
		{"another key", string(cat(otherKey, certs)), "does not match"},
		{"two keys", string(cat(keyBlock, keyBlock, certs)), "a PRIVATE KEY block after the key"},
		{"certificate not DER", string(cat(keyBlock, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))), "certificate 1"},
		{"trailing data", string(cat(good, []byte("junk\n"))), "data after the last PEM block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCredentialBundle([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
				t.Fatalf("error %v, want it to mention %q", err, tc.wantErrSub)
			}
		})
	}
	t.Run("trailing newlines", func(t *testing.T) {
		if _, err := parseCredentialBundle(cat(good, []byte("\n\n"))); err != nil {
			t.Fatal(err)
		}
	})
}

// splitBundle returns the key block and the certificate blocks of a
// credential bundle.
func splitBundle(t *testing.T, bundle []byte) (keyPEM, certsPEM []byte) {
	t.Helper()
	block, rest := pem.Decode(bundle)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatal("no key block first")
	}
	return pem.EncodeToMemory(block), rest
}

func TestKeyPairCredentialBundleReload(t *testing.T) {
	authority := newCA(t, "CA one")
	file := filepath.Join(t.TempDir(), "credentials.pem")
	k := &keyPair{bundleFile: file}
	if _, err := k.get(nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no file: %v", err)
	}
	writeAtomic(t, file, authority.issueBundle(t, svid{serial: 0x11, uris: []string{spiffeID("ns", "a")}}))
	if got := servedSerial(t, k); got != "11" {
		t.Fatalf("serial %s, want 11", got)
	}
	first, _ := k.get(nil)
	if again, _ := k.get(nil); again != first {
		t.Error("unchanged file: get parsed the bundle again instead of keeping it")
	}
	writeAtomic(t, file, authority.issueBundle(t, svid{serial: 0x22, uris: []string{spiffeID("ns", "a")}}))
	if got := servedSerial(t, k); got != "22" {
		t.Fatalf("after the refresh: serial %s, want 22", got)
	}
	// A bundle that does not parse, or is gone, keeps the one loaded.
	writeAtomic(t, file, []byte("junk"))
	if got := servedSerial(t, k); got != "22" {
		t.Fatalf("broken bundle: serial %s, want 22 kept", got)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, k); got != "22" {
		t.Fatalf("bundle gone: serial %s, want 22 kept", got)
	}
	pair, err := k.clientCertificate(nil)
	if err != nil || pair.Leaf.SerialNumber.Int64() != 0x22 {
		t.Fatalf("clientCertificate = %v, %v", pair, err)
	}
}

func TestVerifyPeerID(t *testing.T) {
	root, other := newCA(t, "root"), newCA(t, "other root")
	mid := root.intermediate(t, "intermediate")
	want := spiffeID("ns", "server")
	roots := x509.NewCertPool()
	roots.AddCert(root.cert)
	rootFP := fingerprint(root.cert)
	for _, tc := range []struct {
		name       string
		bundle     []byte
		usage      x509.ExtKeyUsage
		wantErrSub string // "" for verified
	}{
		{"the identity, as server", root.issueBundle(t, svid{serial: 1, uris: []string{want}}), x509.ExtKeyUsageServerAuth, ""},
		{"the identity, as client", root.issueBundle(t, svid{serial: 1, uris: []string{want}}), x509.ExtKeyUsageClientAuth, ""},
		{"through an intermediate", mid.issueBundle(t, svid{serial: 2, uris: []string{want}, chain: []*ca{mid}}), x509.ExtKeyUsageServerAuth, ""},
		{"intermediate not sent", mid.issueBundle(t, svid{serial: 2, uris: []string{want}}), x509.ExtKeyUsageServerAuth, "unknown authority"},
		{"another ServiceAccount", root.issueBundle(t, svid{serial: 3, uris: []string{spiffeID("ns", "client")}}), x509.ExtKeyUsageServerAuth,
			"peer ID spiffe://cluster.local/ns/ns/sa/client, want " + want},
		{"another namespace", root.issueBundle(t, svid{serial: 3, uris: []string{spiffeID("other", "server")}}), x509.ExtKeyUsageServerAuth, "peer ID"},
		{"a longer path", root.issueBundle(t, svid{serial: 3, uris: []string{want + "/x"}}), x509.ExtKeyUsageServerAuth, "peer ID"},
		{"another trust domain", root.issueBundle(t, svid{serial: 3, uris: []string{"spiffe://example.org/ns/ns/sa/server"}}), x509.ExtKeyUsageServerAuth, "peer ID"},
		{"no URI", root.issueBundle(t, svid{serial: 4}), x509.ExtKeyUsageServerAuth, "carries 0 URIs"},
		{"a second URI", root.issueBundle(t, svid{serial: 5, uris: []string{want, spiffeID("ns", "client")}}), x509.ExtKeyUsageServerAuth, "carries 2 URIs"},
		{"untrusted CA", other.issueBundle(t, svid{serial: 6, uris: []string{want}}), x509.ExtKeyUsageServerAuth, "unknown authority"},
		{"server only, as client", root.issueBundle(t, svid{serial: 7, uris: []string{want}, usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}),
			x509.ExtKeyUsageClientAuth, "incompatible key usage"},
		{"a CA", root.issueBundle(t, svid{serial: 8, uris: []string{want}, isCA: true}), x509.ExtKeyUsageServerAuth, "is a CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			anchor, err := verifyPeerID(bundleCerts(t, tc.bundle), roots, tc.usage, want)
			if tc.wantErrSub == "" {
				if err != nil {
					t.Fatal(err)
				}
				if anchor != rootFP {
					t.Errorf("anchor %s, want the root's %s", anchor, rootFP)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
				t.Fatalf("error %v, want it to mention %q", err, tc.wantErrSub)
			}
			if anchor != "" {
				t.Errorf("anchor %s with a failed verification", anchor)
			}
		})
	}
	if _, err := verifyPeerID(nil, roots, x509.ExtKeyUsageServerAuth, want); err == nil {
		t.Error("no certificate verified")
	}
}

func getServerStatus(addr string) (ServerStatus, error) {
	var st ServerStatus
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// waitServerStatus polls the server's status until cond holds.
func waitServerStatus(t *testing.T, addr, what string, cond func(ServerStatus) bool) ServerStatus {
	t.Helper()
	var st ServerStatus
	eventually(t, what, func() (bool, string) {
		var err error
		st, err = getServerStatus(addr)
		if err != nil {
			return false, err.Error()
		}
		return cond(st), fmt.Sprintf("%+v", st)
	})
	return st
}

// TestMutualTLS runs serve and client with pod certificates as the node
// suite does: credential bundles, trust files and SPIFFE IDs, then a CA
// rotation under them.
func TestMutualTLS(t *testing.T) {
	old, next := newCA(t, "CA old"), newCA(t, "CA new")
	oldFP, nextFP := fingerprint(old.cert), fingerprint(next.cert)
	serverID, clientID := spiffeID("ns", "server"), spiffeID("ns", "client")
	dir := t.TempDir()
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		writeAtomic(t, p, data)
		return p
	}
	trust := file("trust.pem", old.pem)
	serverCreds := file("server.pem", old.issueBundle(t, svid{serial: 0x5001, uris: []string{serverID}}))
	clientCreds := file("client.pem", old.issueBundle(t, svid{serial: 0xc001, uris: []string{clientID}}))
	intruderCreds := file("intruder.pem", old.issueBundle(t, svid{serial: 0xbad, uris: []string{spiffeID("ns", "intruder")}}))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serveAddr, serverStatus := freeAddr(t), freeAddr(t)
	server := start(ctx, "serve", serve, "-credential-bundle", serverCreds, "-ca", trust, "-peer-id", clientID,
		"-listen", serveAddr, "-status", serverStatus)
	good := clientConfig{caFile: trust, peerID: serverID, credentials: &keyPair{bundleFile: clientCreds}}
	eventually(t, "serving", func() (bool, string) {
		select {
		case err := <-server.done:
			t.Fatalf("serve returned early: %v", err)
		default:
		}
		_, err := handshake(ctx, good, serveAddr)
		return err == nil, fmt.Sprint(err)
	})

	t.Run("handshake results", func(t *testing.T) {
		res, err := handshake(ctx, good, serveAddr)
		if err != nil {
			t.Fatal(err)
		}
		if res.peer.SerialNumber.Int64() != 0x5001 || peerID(res.peer) != serverID || res.peerAnchor != oldFP {
			t.Errorf("peer %v %s, anchor %s", res.peer.SerialNumber, peerID(res.peer), res.peerAnchor)
		}
		for _, tc := range []struct {
			name       string
			c          clientConfig
			wantErrSub string
		}{
			{"expecting another server", clientConfig{caFile: trust, peerID: spiffeID("ns", "other"), credentials: good.credentials}, "peer ID " + serverID + ", want"},
			{"a host name check of a certificate without names", clientConfig{caFile: trust, serverName: "server.ns.svc", credentials: good.credentials}, "certificate"},
			{"no client certificate", clientConfig{caFile: trust, peerID: serverID}, "certificate required"},
			{"another client", clientConfig{caFile: trust, peerID: serverID, credentials: &keyPair{bundleFile: intruderCreds}}, "bad certificate"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, err := handshake(ctx, tc.c, serveAddr)
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
					t.Fatalf("error %v, want it to mention %q", err, tc.wantErrSub)
				}
				if res.peer != nil {
					t.Error("a peer certificate with a failed handshake")
				}
			})
		}
		st, err := getServerStatus(serverStatus)
		if err != nil {
			t.Fatal(err)
		}
		if st.Rejected != 1 || !strings.Contains(st.LastRejection, "peer ID "+spiffeID("ns", "intruder")+", want "+clientID) {
			t.Errorf("server status %+v, want the intruder's one rejection", st)
		}
		if _, ok := st.Accepted[spiffeID("ns", "intruder")]; ok || len(st.Accepted) != 1 || st.Accepted[clientID][oldFP] < 2 {
			t.Errorf("accepted %v, want only %s under the old CA", st.Accepted, clientID)
		}
		if want := []string{oldFP}; !reflect.DeepEqual(st.Anchors, want) {
			t.Errorf("server anchors %q, want %q", st.Anchors, want)
		}
	})

	clientStatus := freeAddr(t)
	cli := start(ctx, "client", client, "-credential-bundle", clientCreds, "-ca", trust, "-peer-id", serverID,
		"-addr", serveAddr, "-status", clientStatus, "-interval", "20ms")
	st := waitStatus(t, clientStatus, "handshaking", func(st Status) bool { return st.Handshakes >= 3 })
	if st.Failures != 0 || st.PeerID != serverID || st.PeerSerial != "5001" || st.PeerAnchor != oldFP {
		t.Fatalf("client status %+v", st)
	}
	wrongStatus := freeAddr(t)
	wrong := start(ctx, "client expecting another server", client, "-credential-bundle", clientCreds, "-ca", trust,
		"-peer-id", spiffeID("ns", "other"), "-addr", serveAddr, "-status", wrongStatus, "-interval", "20ms")
	st = waitStatus(t, wrongStatus, "failing", func(st Status) bool { return st.Failures >= 2 })
	if st.Handshakes != st.Failures || st.PeerSerial != "" || st.PeerID != "" || !strings.Contains(st.LastError, "want "+spiffeID("ns", "other")) {
		t.Errorf("client expecting another server: %+v", st)
	}

	// A CA rotation as certsmith does it: the next CA joins the trust
	// file, a new client gets a certificate of the next CA and talks to
	// the server that still holds the old one; then the server's bundle is
	// refreshed and the old client talks to it.
	writeAtomic(t, trust, append(append([]byte{}, old.pem...), next.pem...))
	newClientCreds := file("new-client.pem", next.issueBundle(t, svid{serial: 0xc002, uris: []string{clientID}}))
	newStatus := freeAddr(t)
	newCli := start(ctx, "new client", client, "-credential-bundle", newClientCreds, "-ca", trust, "-peer-id", serverID,
		"-addr", serveAddr, "-status", newStatus, "-interval", "20ms")
	st = waitStatus(t, newStatus, "the new client handshaking", func(st Status) bool { return st.Handshakes >= 3 })
	if st.Failures != 0 || st.PeerAnchor != oldFP {
		t.Errorf("new client: %+v, want the server's old-CA certificate", st)
	}
	waitServerStatus(t, serverStatus, "the new client accepted under the next CA", func(st ServerStatus) bool {
		return st.Accepted[clientID][nextFP] > 0 && st.Accepted[clientID][oldFP] > 0
	})
	writeAtomic(t, serverCreds, next.issueBundle(t, svid{serial: 0x5002, uris: []string{serverID}}))
	st = waitStatus(t, clientStatus, "the old client seeing the new server certificate", func(st Status) bool { return st.PeerSerial == "5002" })
	if st.Failures != 0 || st.PeerAnchor != nextFP {
		t.Errorf("old client after the server's refresh: %+v", st)
	}
	if st := waitServerStatus(t, serverStatus, "both anchors", func(st ServerStatus) bool { return len(st.Anchors) == 2 }); st.Rejected != 1 {
		t.Errorf("server rejected more than the intruder: %+v", st)
	}

	cancel()
	for _, r := range []role{wrong, newCli, cli, server} {
		r.stop(t)
	}
	if _, err := getServerStatus(serverStatus); err == nil {
		t.Error("the server's status still answers after serve returned")
	}
}

func TestMutualTLSFlags(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials.pem")
	writeAtomic(t, creds, newCA(t, "CA").issueBundle(t, svid{serial: 1, uris: []string{spiffeID("ns", "a")}}))
	writeAtomic(t, filepath.Join(dir, "junk.pem"), []byte("junk"))
	for _, tc := range []struct {
		name       string
		run        func(context.Context, []string) error
		args       []string
		wantErrSub string
	}{
		{"serve: bundle and key pair", serve, []string{"-credential-bundle", creds, "-cert", creds}, "not both"},
		{"serve: peer ID without trust", serve, []string{"-credential-bundle", creds, "-peer-id", "spiffe://x/y"}, "-peer-id and -ca"},
		{"serve: trust without peer ID", serve, []string{"-credential-bundle", creds, "-ca", creds}, "-peer-id and -ca"},
		{"serve: status without peer ID", serve, []string{"-credential-bundle", creds, "-status", freeAddr(t)}, "-status only"},
		{"serve: bundle missing", serve, []string{"-credential-bundle", filepath.Join(dir, "missing.pem"), "-listen", freeAddr(t)}, "loading the key pair"},
		{"client: both checks", client, []string{"-addr", "127.0.0.1:1", "-server-name", serverName, "-peer-id", "spiffe://x/y"}, "one of"},
		{"client: bundle missing", client, []string{"-addr", "127.0.0.1:1", "-peer-id", "spiffe://x/y", "-credential-bundle", filepath.Join(dir, "missing.pem")},
			"loading the credential bundle"},
		{"client: bundle broken", client, []string{"-addr", "127.0.0.1:1", "-peer-id", "spiffe://x/y", "-credential-bundle", filepath.Join(dir, "junk.pem")},
			"loading the credential bundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(context.Background(), tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
				t.Fatalf("error %v, want it to mention %q", err, tc.wantErrSub)
			}
		})
	}
}
