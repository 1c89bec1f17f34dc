// Command workload is the test workload of the node suite (test/node): one
// static binary, built into a local image by hack/node.sh, with three
// roles.
//
//	workload pause
//	    blocks until SIGTERM or SIGINT: the pod sandbox ("pause") image.
//	workload serve -cert F -key F [-listen :8443]
//	    serves TLS with the key pair in the files, reloaded whenever the
//	    files change (as the kubelet swaps a mounted Secret's files).
//	workload client -ca F -server-name N -addr HOST:PORT [-status :9000]
//	    opens a new TLS connection every -interval, trusting only the
//	    certificates in -ca (read again for every connection, so that a
//	    bundle the kubelet refreshes is used at once) and checking that the
//	    server's certificate is valid for -server-name; counts handshakes
//	    and failures and serves them as JSON on -status (GET /status).
package main

import (
	"context"
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
// change. A read that straddles the kubelet's swap of the files (a new
// certificate with the old key) keeps the pair loaded before.
type keyPair struct {
	certFile, keyFile string
	mu                sync.Mutex
	sum               [32]byte
	current           *tls.Certificate
}

func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	certPEM, err1 := os.ReadFile(k.certFile)
	keyPEM, err2 := os.ReadFile(k.keyFile)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := errors.Join(err1, err2); err != nil {
		if k.current != nil {
			return k.current, nil
		}
		return nil, err
	}
	sum := sha256.Sum256(append(append([]byte{}, certPEM...), keyPEM...))
	if k.current != nil && sum == k.sum {
		return k.current, nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
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
	log.Printf("serving certificate serial %s issued by %q, valid until %s", leaf.SerialNumber.Text(16), leaf.Issuer.CommonName, leaf.NotAfter.Format(time.RFC3339))
	return k.current, nil
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	certFile := fs.String("cert", "/tls/tls.crt", "certificate chain (PEM)")
	keyFile := fs.String("key", "/tls/tls.key", "private key (PEM)")
	listen := fs.String("listen", ":8443", "address to serve TLS on")
	_ = fs.Parse(args)
	pair := &keyPair{certFile: *certFile, keyFile: *keyFile}
	if _, err := pair.get(nil); err != nil {
		return fmt.Errorf("loading the key pair: %w", err)
	}
	srv := &http.Server{
		Addr:              *listen,
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         &tls.Config{GetCertificate: pair.get, MinVersion: tls.VersionTLS12},
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
	// newest successful handshake.
	PeerSerial string `json:"peerSerial,omitempty"`
	PeerIssuer string `json:"peerIssuer,omitempty"`
	// Anchors are the SHA-256 fingerprints of the certificates in the CA
	// file the newest connection trusted, sorted.
	Anchors []string `json:"anchors,omitempty"`
}

func client(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	caFile := fs.String("ca", "/trust/ca.crt", "the only certificates to trust (PEM)")
	serverName := fs.String("server-name", "", "the name the server's certificate must be valid for")
	addr := fs.String("addr", "", "host:port of the server")
	statusAddr := fs.String("status", ":9000", "address to serve GET /status on")
	interval := fs.Duration("interval", 200*time.Millisecond, "time between connections")
	_ = fs.Parse(args)
	if *serverName == "" || *addr == "" {
		return errors.New("client needs -server-name and -addr")
	}
	var mu sync.Mutex
	var st Status
	mux := http.NewServeMux()
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	statusSrv := &http.Server{Addr: *statusAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := statusSrv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Printf("status server: %v", err)
		}
	}()
	defer statusSrv.Close()
	log.Printf("connecting to %s as %s every %s, trusting %s", *addr, *serverName, *interval, *caFile)
	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		anchors, peer, err := handshake(ctx, *caFile, *serverName, *addr)
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
			if serial := peer.SerialNumber.Text(16); serial != st.PeerSerial {
				log.Printf("server presents serial %s issued by %q", serial, peer.Issuer.CommonName)
				st.PeerSerial = serial
			}
			st.PeerIssuer = peer.Issuer.CommonName
			st.Anchors = anchors
		}
		mu.Unlock()
	}
}

// handshake makes one TLS connection that trusts only the certificates in
// caFile and reads the server's answer.
func handshake(ctx context.Context, caFile, serverName, addr string) ([]string, *x509.Certificate, error) {
	data, err := os.ReadFile(caFile)
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
			return nil, nil, fmt.Errorf("%s: %w", caFile, err)
		}
		pool.AddCert(cert)
		sum := sha256.Sum256(cert.Raw)
		anchors = append(anchors, hex.EncodeToString(sum[:]))
	}
	if len(anchors) == 0 {
		return nil, nil, fmt.Errorf("%s holds no certificate", caFile)
	}
	sort.Strings(anchors)
	dialer := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 3 * time.Second},
		Config:    &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12},
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := dialer.DialContext(dctx, "tcp", addr)
	if err != nil {
		return anchors, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\nHost: "+serverName+"\r\n\r\n"); err != nil {
		return anchors, nil, err
	}
	body, err := io.ReadAll(io.LimitReader(conn, 4096))
	if err != nil {
		return anchors, nil, err
	}
	if !strings.Contains(string(body), "ok") {
		return anchors, nil, fmt.Errorf("unexpected answer %q", body)
	}
	peer := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
	return anchors, peer, nil
}
