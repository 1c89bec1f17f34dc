// Command workload is the test workload of the node suite (test/node): one
// static binary, built into a local image by hack/node.sh, with three
// roles.
//
//	workload pause
//	    blocks until SIGTERM or SIGINT: the pod sandbox ("pause") image.
//	workload serve -cert F -key F [-listen :8443]
//	    serves TLS with the key pair in the files, reloaded whenever the
//	    files change (as the kubelet swaps a mounted Secret's files).
//	workload serve -credential-bundle F -ca F -peer-id ID [-status :9000]
//	    mutual TLS with pod certificates: serves with the key and chain of
//	    a kubelet credential bundle (a podCertificate volume's
//	    credentialBundlePath), reloaded whenever it changes, and accepts
//	    only clients whose certificate chains to the anchors in -ca (read
//	    again for every handshake) and carries exactly the SPIFFE ID -peer-id;
//	    counts accepted and rejected clients on -status (GET /status).
//	workload client -ca F -server-name N -addr HOST:PORT [-status :9000]
//	    opens a new TLS connection every -interval, trusting only the
//	    certificates in -ca (read again for every connection, so that a
//	    bundle the kubelet refreshes is used at once) and checking that the
//	    server's certificate is valid for -server-name; counts handshakes
//	    and failures and serves them as JSON on -status (GET /status).
//	workload client -credential-bundle F -ca F -peer-id ID -addr HOST:PORT
//	    the same with mutual TLS: presents the credential bundle's
//	    certificate and, instead of a host name (pod certificates carry
//	    none), requires the server's certificate to carry exactly the
//	    SPIFFE ID -peer-id.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: workload pause|serve|client [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	switch os.Args[1] {
	case "pause":
		<-ctx.Done()
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "client":
		err = client(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown role %q", os.Args[1])
	}
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// keyPair reloads a certificate and key from files when their contents
// change: a certificate file and a key file, or one kubelet credential
// bundle. A read that straddles the kubelet's swap of the files (a new
// certificate with the old key) keeps the pair loaded before.
type keyPair struct {
	certFile, keyFile string
	// bundleFile, when set, holds the key and the chain instead
	// (parseCredentialBundle).
	bundleFile string
	mu         sync.Mutex
	sum        [32]byte
	current    *tls.Certificate
}

// contents reads the pair's files and returns what identifies them and how
// to parse them.
func (k *keyPair) contents() ([]byte, func() (tls.Certificate, error), error) {
	if k.bundleFile != "" {
		data, err := os.ReadFile(k.bundleFile)
		return data, func() (tls.Certificate, error) { return parseCredentialBundle(data) }, err
	}
	certPEM, err1 := os.ReadFile(k.certFile)
	keyPEM, err2 := os.ReadFile(k.keyFile)
	parse := func() (tls.Certificate, error) { return tls.X509KeyPair(certPEM, keyPEM) }
	return append(append([]byte{}, certPEM...), keyPEM...), parse, errors.Join(err1, err2)
}

func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	data, parse, err := k.contents()
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		if k.current != nil {
			return k.current, nil
		}
		return nil, err
	}
	sum := sha256.Sum256(data)
	if k.current != nil && sum == k.sum {
		return k.current, nil
	}
	pair, err := parse()
	if err != nil {
		if k.current != nil {
			return k.current, nil
		}
		return nil, err
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	pair.Leaf = leaf
	k.sum, k.current = sum, &pair
	log.Printf("using certificate serial %s issued by %q, valid until %s%s", leaf.SerialNumber.Text(16), leaf.Issuer.CommonName,
		leaf.NotAfter.Format(time.RFC3339), uriSuffix(leaf))
	return k.current, nil
}

// clientCertificate is get for the client's side of a handshake.
func (k *keyPair) clientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return k.get(nil)
}

// uriSuffix names a certificate's URI SANs for the log, "" without any.
func uriSuffix(cert *x509.Certificate) string {
	if len(cert.URIs) == 0 {
		return ""
	}
	return fmt.Sprintf(" for %s", cert.URIs)
}

// parseCredentialBundle parses a kubelet credential bundle as the
// podCertificate projected volume writes it: one PKCS#8 "PRIVATE KEY"
// block, then the certificate chain as "CERTIFICATE" blocks, leaf first,
// and nothing else. The key must be the leaf's. Being strict means a
// change of that format fails the node suite instead of passing unseen.
func parseCredentialBundle(data []byte) (tls.Certificate, error) {
	var pair tls.Certificate
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return pair, errors.New("credential bundle: does not start with a PRIVATE KEY block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return pair, fmt.Errorf("credential bundle: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return pair, fmt.Errorf("credential bundle: a %T is no signing key", key)
	}
	pair.PrivateKey = signer
	for {
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return pair, fmt.Errorf("credential bundle: a %s block after the key, want only CERTIFICATE blocks", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return pair, fmt.Errorf("credential bundle: certificate %d: %w", len(pair.Certificate)+1, err)
		}
		pair.Certificate = append(pair.Certificate, block.Bytes)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return pair, errors.New("credential bundle: data after the last PEM block")
	}
	if len(pair.Certificate) == 0 {
		return pair, errors.New("credential bundle: no certificate after the key")
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return pair, err
	}
	type publicKey interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := leaf.PublicKey.(publicKey); !ok || !pub.Equal(signer.Public()) {
		return pair, errors.New("credential bundle: the private key does not match the first certificate")
	}
	pair.Leaf = leaf
	return pair, nil
}

// readAnchors reads the only certificates to trust from a PEM file and
// returns them with their SHA-256 fingerprints, sorted.
func readAnchors(file string) (*x509.CertPool, []string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	var anchors []string
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		pool.AddCert(cert)
		anchors = append(anchors, fingerprintOf(cert))
	}
	if len(anchors) == 0 {
		return nil, nil, fmt.Errorf("%s holds no certificate", file)
	}
	sort.Strings(anchors)
	return pool, anchors, nil
}

func fingerprintOf(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// verifyPeerID verifies a peer's certificates, leaf first as the peer sent
// them, the way SPIFFE verifies an X.509-SVID: a chain to one of roots for
// the usage, no host name (a pod certificate has none), a leaf that is no
// CA and carries exactly one URI SAN, equal to wantID. It returns the
// fingerprint of the anchor the chain ends at.
func verifyPeerID(certs []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage, wantID string) (string, error) {
	if len(certs) == 0 {
		return "", errors.New("the peer sent no certificate")
	}
	leaf := certs[0]
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return "", err
	}
	if leaf.IsCA {
		return "", errors.New("the peer's certificate is a CA")
	}
	if len(leaf.URIs) != 1 {
		return "", fmt.Errorf("the peer's certificate carries %d URIs %q, want exactly %s", len(leaf.URIs), leaf.URIs, wantID)
	}
	if got := leaf.URIs[0].String(); got != wantID {
		return "", fmt.Errorf("peer ID %s, want %s", got, wantID)
	}
	chain := chains[0]
	return fingerprintOf(chain[len(chain)-1]), nil
}

// peerID is the SPIFFE ID a verified certificate carries.
func peerID(cert *x509.Certificate) string {
	if len(cert.URIs) != 1 {
		return ""
	}
	return cert.URIs[0].String()
}

// serveStatus serves GET /status with the JSON of what snapshot returns,
// until the returned server is closed.
func serveStatus(addr string, snapshot func() any) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(snapshot())
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Printf("status server: %v", err)
		}
	}()
	return srv
}

// ServerStatus is what serve reports on GET /status when it verifies
// clients (-peer-id). A client that gives up on the server's certificate
// sends none of its own, and is not counted.
type ServerStatus struct {
	// Accepted counts the client certificates that verified, by the
	// client's SPIFFE ID and then by the fingerprint of the trust anchor
	// the client's chain ended at.
	Accepted map[string]map[string]int64 `json:"accepted,omitempty"`
	// Rejected counts the client certificates refused; LastRejection says
	// why the newest was.
	Rejected      int64  `json:"rejected"`
	LastRejection string `json:"lastRejection,omitempty"`
	// Anchors are the SHA-256 fingerprints of the certificates in the CA
	// file the newest verification trusted, sorted.
	Anchors []string `json:"anchors,omitempty"`
}

// clientVerifier checks client certificates for serve: the anchors of
// caFile, read again for every handshake, and exactly one SPIFFE ID.
type clientVerifier struct {
	caFile, wantID string
	mu             sync.Mutex
	st             ServerStatus
}

func (v *clientVerifier) verifyConnection(cs tls.ConnectionState) error {
	roots, anchors, err := readAnchors(v.caFile)
	var anchor string
	if err == nil {
		anchor, err = verifyPeerID(cs.PeerCertificates, roots, x509.ExtKeyUsageClientAuth, v.wantID)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if anchors != nil {
		v.st.Anchors = anchors
	}
	if err != nil {
		v.st.Rejected++
		v.st.LastRejection = err.Error()
		log.Printf("client certificate %d rejected: %v", v.st.Rejected, err)
		return err
	}
	id := peerID(cs.PeerCertificates[0])
	if v.st.Accepted == nil {
		v.st.Accepted = map[string]map[string]int64{}
	}
	if v.st.Accepted[id] == nil {
		v.st.Accepted[id] = map[string]int64{}
		log.Printf("accepting client %s", id)
	}
	v.st.Accepted[id][anchor]++
	return nil
}

// status is a copy of what the verifier counted.
func (v *clientVerifier) status() any {
	v.mu.Lock()
	defer v.mu.Unlock()
	st := v.st
	st.Accepted = make(map[string]map[string]int64, len(v.st.Accepted))
	for id, byAnchor := range v.st.Accepted {
		st.Accepted[id] = make(map[string]int64, len(byAnchor))
		for anchor, n := range byAnchor {
			st.Accepted[id][anchor] = n
		}
	}
	return st
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	certFile := fs.String("cert", "/tls/tls.crt", "certificate chain (PEM)")
	keyFile := fs.String("key", "/tls/tls.key", "private key (PEM)")
	bundleFile := fs.String("credential-bundle", "", "a kubelet credential bundle (PKCS#8 key, then the chain) instead of -cert and -key")
	caFile := fs.String("ca", "", "with -peer-id: the only certificates to trust for client certificates (PEM)")
	wantID := fs.String("peer-id", "", "require a client certificate carrying exactly this SPIFFE ID")
	statusAddr := fs.String("status", "", "address to serve GET /status on (with -peer-id)")
	listen := fs.String("listen", ":8443", "address to serve TLS on")
	_ = fs.Parse(args)
	set := setFlags(fs)
	if *bundleFile != "" && (set["cert"] || set["key"]) {
		return errors.New("serve takes -credential-bundle or -cert and -key, not both")
	}
	if (*wantID == "") != (*caFile == "") || (*statusAddr != "" && *wantID == "") {
		return errors.New("serve verifies clients with -peer-id and -ca, both, and reports on -status only then")
	}
	pair := &keyPair{certFile: *certFile, keyFile: *keyFile, bundleFile: *bundleFile}
	if _, err := pair.get(nil); err != nil {
		return fmt.Errorf("loading the key pair: %w", err)
	}
	tlsConfig := &tls.Config{GetCertificate: pair.get, MinVersion: tls.VersionTLS12}
	if *wantID != "" {
		verifier := &clientVerifier{caFile: *caFile, wantID: *wantID}
		// The standard verification would check the chain only: the
		// verifier checks it against a trust file it reads every time, and
		// the identity.
		tlsConfig.ClientAuth = tls.RequireAnyClientCert
		tlsConfig.VerifyConnection = verifier.verifyConnection
		if *statusAddr != "" {
			defer serveStatus(*statusAddr, verifier.status).Close()
		}
	}
	srv := &http.Server{
		Addr:              *listen,
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         tlsConfig,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "ok\n")
		}),
	}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	log.Printf("serving TLS on %s", *listen)
	if err := srv.ListenAndServeTLS("", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Status is what the client reports on GET /status.
type Status struct {
	Handshakes int64 `json:"handshakes"`
	Failures   int64 `json:"failures"`
	// LastError is the newest failure's message, FirstErrorAt when the
	// first failure happened.
	LastError    string    `json:"lastError,omitempty"`
	FirstErrorAt time.Time `json:"firstErrorAt,omitzero"`
	// PeerSerial and PeerIssuer describe the server's certificate of the
	// newest successful handshake, PeerID its SPIFFE ID (if it has one) and
	// PeerAnchor the SHA-256 fingerprint of the trust anchor its chain
	// ended at.
	PeerSerial string `json:"peerSerial,omitempty"`
	PeerIssuer string `json:"peerIssuer,omitempty"`
	PeerID     string `json:"peerID,omitempty"`
	PeerAnchor string `json:"peerAnchor,omitempty"`
	// Anchors are the SHA-256 fingerprints of the certificates in the CA
	// file the newest connection trusted, sorted.
	Anchors []string `json:"anchors,omitempty"`
}

func client(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	var c clientConfig
	fs.StringVar(&c.caFile, "ca", "/trust/ca.crt", "the only certificates to trust (PEM)")
	fs.StringVar(&c.serverName, "server-name", "", "the name the server's certificate must be valid for")
	fs.StringVar(&c.peerID, "peer-id", "", "instead of -server-name: the SPIFFE ID the server's certificate must carry, exactly")
	bundleFile := fs.String("credential-bundle", "", "present the certificate of this kubelet credential bundle (PKCS#8 key, then the chain)")
	addr := fs.String("addr", "", "host:port of the server")
	statusAddr := fs.String("status", ":9000", "address to serve GET /status on")
	interval := fs.Duration("interval", 200*time.Millisecond, "time between connections")
	_ = fs.Parse(args)
	if *addr == "" || (c.serverName == "") == (c.peerID == "") {
		return errors.New("client needs -addr and one of -server-name (a host name check) or -peer-id (a SPIFFE ID check)")
	}
	if *bundleFile != "" {
		c.credentials = &keyPair{bundleFile: *bundleFile}
		if _, err := c.credentials.get(nil); err != nil {
			return fmt.Errorf("loading the credential bundle: %w", err)
		}
	}
	var mu sync.Mutex
	var st Status
	defer serveStatus(*statusAddr, func() any {
		mu.Lock()
		defer mu.Unlock()
		return st
	}).Close()
	expect := "as " + c.serverName
	if c.peerID != "" {
		expect = "expecting " + c.peerID
	}
	log.Printf("connecting to %s %s every %s, trusting %s", *addr, expect, *interval, c.caFile)
	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		res, err := handshake(ctx, c, *addr)
		mu.Lock()
		st.Handshakes++
		if err != nil {
			st.Failures++
			st.LastError = err.Error()
			if st.FirstErrorAt.IsZero() {
				st.FirstErrorAt = time.Now().UTC()
			}
			log.Printf("handshake %d failed: %v", st.Handshakes, err)
		} else {
			if serial := res.peer.SerialNumber.Text(16); serial != st.PeerSerial {
				log.Printf("server presents serial %s issued by %q%s", serial, res.peer.Issuer.CommonName, uriSuffix(res.peer))
				st.PeerSerial = serial
			}
			st.PeerIssuer = res.peer.Issuer.CommonName
			st.PeerID = peerID(res.peer)
			st.PeerAnchor = res.peerAnchor
			st.Anchors = res.anchors
		}
		mu.Unlock()
	}
}

// clientConfig is how the client connects: whom it trusts, how it checks
// the server, and what it presents.
type clientConfig struct {
	// caFile holds the only certificates to trust, read for every
	// connection.
	caFile string
	// serverName is the host name the server's certificate must be valid
	// for; peerID, instead, the SPIFFE ID it must carry.
	serverName, peerID string
	// credentials, when set, is the client certificate.
	credentials *keyPair
}

// handshakeResult describes one connection.
type handshakeResult struct {
	// anchors are the fingerprints of the CA file's certificates, sorted;
	// set once the file was read, also when the connection failed.
	anchors []string
	// peer is the server's certificate and peerAnchor the fingerprint of
	// the anchor its chain ended at, after a successful exchange.
	peer       *x509.Certificate
	peerAnchor string
}

// handshake makes one TLS connection that trusts only the certificates in
// c.caFile, checks the server as c says, and reads the server's answer.
func handshake(ctx context.Context, c clientConfig, addr string) (handshakeResult, error) {
	var res handshakeResult
	pool, anchors, err := readAnchors(c.caFile)
	if err != nil {
		return res, err
	}
	res.anchors = anchors
	config := &tls.Config{RootCAs: pool, ServerName: c.serverName, MinVersion: tls.VersionTLS12}
	var peerAnchor string
	if c.peerID != "" {
		// No host name to check: the chain and the identity are checked
		// here instead of by crypto/tls.
		config.InsecureSkipVerify = true
		config.VerifyConnection = func(cs tls.ConnectionState) error {
			var err error
			peerAnchor, err = verifyPeerID(cs.PeerCertificates, pool, x509.ExtKeyUsageServerAuth, c.peerID)
			return err
		}
	}
	if c.credentials != nil {
		config.GetClientCertificate = c.credentials.clientCertificate
	}
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 3 * time.Second}, Config: config}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := dialer.DialContext(dctx, "tcp", addr)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	host := c.serverName
	if host == "" {
		host = addr
	}
	// In TLS 1.3 a server refuses the client's certificate after the
	// client's handshake ended: the refusal shows when reading the answer.
	if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\nHost: "+host+"\r\n\r\n"); err != nil {
		return res, err
	}
	body, err := io.ReadAll(io.LimitReader(conn, 4096))
	if err != nil {
		return res, err
	}
	if !strings.Contains(string(body), "ok") {
		return res, fmt.Errorf("unexpected answer %q", body)
	}
	state := conn.(*tls.Conn).ConnectionState()
	res.peer = state.PeerCertificates[0]
	if len(state.VerifiedChains) > 0 {
		chain := state.VerifiedChains[0]
		peerAnchor = fingerprintOf(chain[len(chain)-1])
	}
	res.peerAnchor = peerAnchor
	return res, nil
}
