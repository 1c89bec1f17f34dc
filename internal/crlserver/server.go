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

// Package crlserver serves the issuers' CRLs over plain HTTP, from every
// replica of the manager: CRLs are signed, public and read-only, so no
// replica needs the leader-election lease to serve them, and clients that
// follow a certificate's CRL distribution point reach whichever replica the
// Service picks.
//
//	GET /crl/<issuer>/<CA ID>.crl   one CA's CRL, DER (RFC 5280 §4.2.1.13)
//	GET /crl/<issuer>.pem           all the issuer's current CRLs, PEM (what
//	                                the bundle ConfigMaps carry as ca.crl)
//	GET /healthz                    "ok"
//
// The handler reads each issuer's revocation record Secret through a
// client.Reader (the manager's cache, which holds the operator namespace's
// Secrets whole) and serves it only when the Secret really is that issuer's
// record: its type, label and annotation, which the revocation controller
// (the record's only writer) sets. It never writes anything.
//
// The request path is the one input the handler parses itself: it is
// bounded and checked (a DNS subdomain of at most 253 characters for the
// issuer, 16 lowercase hex digits for the CA) before any read, and no
// response echoes it. Responses carry ETag, Last-Modified (thisUpdate),
// Expires (nextUpdate) and a max-age of at most five minutes, so that
// clients and caches in front of the server look again soon after a
// revocation.
package crlserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	certsmithv1alpha1 "github.com/certsmith/certsmith/api/v1alpha1"
	"github.com/certsmith/certsmith/internal/revocation"
)

// Paths and media types the server serves.
const (
	// PathPrefix begins the path of every CRL.
	PathPrefix = "/crl/"
	// HealthzPath answers "ok" while the server runs, for a load
	// balancer's or an Ingress controller's health check.
	HealthzPath = "/healthz"
	// PEMSuffix ends the path of an issuer's PEM bundle of CRLs.
	PEMSuffix = ".pem"
	// ContentTypeCRL is the media type of a DER CRL (RFC 2585).
	ContentTypeCRL = "application/pkix-crl"
	// ContentTypePEM is the media type of the PEM bundle.
	ContentTypePEM = "application/x-pem-file"
)

// DisabledBindAddress is the bind address that turns the server off, as
// for the manager's metrics endpoint.
const DisabledBindAddress = "0"

// Bounds of what the server reads, keeps and promises.
const (
	// maxCacheAge caps Cache-Control max-age: a CRL re-signed after a
	// revocation reaches clients and caches within it.
	maxCacheAge = 5 * time.Minute
	// caIDLength is the length of a CA ID (revocation.CAID).
	caIDLength = 16
	// maxPathLength is the longest path that can name a CRL; anything
	// longer is refused before it is parsed.
	maxPathLength = len(PathPrefix) + validation.DNS1123SubdomainMaxLength + len("/") + caIDLength + len(revocation.CRLKeySuffix)
	// recordReadTimeout bounds one read of a record through the reader.
	recordReadTimeout = 5 * time.Second
	// maxPublications bounds how many issuers' prepared responses the
	// handler keeps; past it, one is dropped for each new one.
	maxPublications = 64
)

// Timeouts and limits of the HTTP server: requests are tiny and bodies
// are at most a record's CRLs (below 1 MiB).
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	// shutdownTimeout is how long requests in flight may take to finish
	// when the manager stops; the Pod's grace period is 10s.
	shutdownTimeout = 5 * time.Second
)

// requests counts the server's responses; docs/metrics.md describes it.
var requests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "certsmith_crl_http_requests_total",
	Help: "HTTP requests to the CRL server, by status code.",
}, []string{"code"})

func init() {
	ctrlmetrics.Registry.MustRegister(requests)
}

// errNoRecord says that an issuer has no revocation record the server may
// serve: none exists, or the Secret of its name is not the record.
var errNoRecord = errors.New("no revocation record")

// document is one response body and what its headers say of it.
type document struct {
	body []byte
	// etag is a strong entity tag: a quoted hash of the body.
	etag string
	// thisUpdate is Last-Modified; nextUpdate, when the body goes stale,
	// is Expires and bounds max-age.
	thisUpdate, nextUpdate time.Time
}

func newDocument(body []byte, thisUpdate, nextUpdate time.Time) *document {
	sum := sha256.Sum256(body)
	return &document{body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, thisUpdate: thisUpdate, nextUpdate: nextUpdate}
}

// publication is what the server serves of one version of an issuer's
// record, prepared once per resourceVersion of its Secret: decoding a
// record of thousands of entries and hashing its CRLs on every request
// would let any client spend the manager's CPU.
type publication struct {
	uid             types.UID
	resourceVersion string
	// crls are the documents of the CAs' CRLs, by CA ID.
	crls map[string]*document
	// pem is the PEM bundle, nil while the issuer has no CRL.
	pem *document
	// err says that the record is unreadable.
	err error
}

func newPublication(secret *corev1.Secret) *publication {
	p := &publication{uid: secret.UID, resourceVersion: secret.ResourceVersion, crls: map[string]*document{}}
	rec, err := revocation.Decode(secret.Data)
	if err != nil {
		p.err = fmt.Errorf("the revocation record %s/%s is unreadable: %w", secret.Namespace, secret.Name, err)
		return p
	}
	var thisUpdate, nextUpdate time.Time
	for _, crl := range rec.CRLs {
		if len(crl.DER) == 0 {
			continue
		}
		p.crls[crl.CA] = newDocument(crl.DER, crl.ThisUpdate, crl.NextUpdate)
		if crl.ThisUpdate.After(thisUpdate) {
			thisUpdate = crl.ThisUpdate
		}
		if nextUpdate.IsZero() || crl.NextUpdate.Before(nextUpdate) {
			nextUpdate = crl.NextUpdate
		}
	}
	if body := rec.PEM(); len(body) > 0 {
		// The bundle changes when any CRL does and is stale when the
		// first one is.
		p.pem = newDocument(body, thisUpdate, nextUpdate)
	}
	return p
}

// handler serves CRLs from the record Secrets in namespace.
type handler struct {
	reader    client.Reader
	namespace string
	clock     clock.PassiveClock

	mu sync.Mutex
	// publications are the prepared responses, by issuer.
	publications map[string]*publication
}

// NewHandler returns the CRL server's handler: it reads the revocation
// record Secrets of namespace (the operator's) through reader, tells time
// by clk, and counts its responses in certsmith_crl_http_requests_total.
func NewHandler(reader client.Reader, namespace string, clk clock.PassiveClock) http.Handler {
	return promhttp.InstrumentHandlerCounter(requests, newHandler(reader, namespace, clk))
}

func newHandler(reader client.Reader, namespace string, clk clock.PassiveClock) *handler {
	return &handler{reader: reader, namespace: namespace, clock: clk, publications: map[string]*publication{}}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		fail(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if r.URL.Path == HealthzPath {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "ok")
		return
	}
	issuer, caID, ok := parsePath(r.URL.Path)
	if !ok {
		fail(w, http.StatusNotFound, "not found")
		return
	}
	p, err := h.publication(r.Context(), issuer)
	switch {
	case errors.Is(err, errNoRecord):
		fail(w, http.StatusNotFound, "no CRL for this issuer")
		return
	case err != nil:
		w.Header().Set("Retry-After", "10")
		fail(w, http.StatusServiceUnavailable, "the CRL is unavailable, try again later")
		return
	}
	doc, contentType := p.pem, ContentTypePEM
	if caID != "" {
		doc, contentType = p.crls[caID], ContentTypeCRL
	}
	if doc == nil {
		fail(w, http.StatusNotFound, "no CRL for this CA")
		return
	}
	serveDocument(w, r, doc, contentType, h.clock.Now())
}

// parsePath returns the issuer and CA ID a path names, an empty CA ID for
// the PEM bundle, and false for a path that names no CRL.
func parsePath(path string) (issuer, caID string, ok bool) {
	if len(path) > maxPathLength {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(path, PathPrefix)
	if !ok {
		return "", "", false
	}
	if name, ok := strings.CutSuffix(rest, PEMSuffix); ok && validIssuerName(name) {
		return name, "", true
	}
	name, file, ok := strings.Cut(rest, "/")
	if !ok {
		return "", "", false
	}
	id, ok := strings.CutSuffix(file, revocation.CRLKeySuffix)
	if !ok || !validIssuerName(name) || !validCAID(id) {
		return "", "", false
	}
	return name, id, true
}

// validIssuerName reports whether name can be a ClusterIssuer's: a DNS
// subdomain (which has no '/' and no "..").
func validIssuerName(name string) bool {
	return len(validation.IsDNS1123Subdomain(name)) == 0
}

// validCAID reports whether id is a CA ID: 16 lowercase hex digits.
func validCAID(id string) bool {
	if len(id) != caIDLength {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isRevocationRecord reports whether secret is the revocation record of
// issuer, as the revocation controller makes it (controllers'
// isRevocationRecord): a Secret of the record's name that someone else
// made is not served.
func isRevocationRecord(secret *corev1.Secret, issuer string) bool {
	return secret.Type == revocation.SecretType && secret.Labels[certsmithv1alpha1.LabelRevocations] == "true" &&
		secret.Annotations[certsmithv1alpha1.AnnotationIssuerName] == issuer
}

// publication returns what the server serves of an issuer's record:
// errNoRecord when there is none, another error when it cannot be read.
func (h *handler) publication(ctx context.Context, issuer string) (*publication, error) {
	log := logf.FromContext(ctx).WithValues("clusterIssuer", issuer)
	readCtx, cancel := context.WithTimeout(ctx, recordReadTimeout)
	defer cancel()
	secret := &corev1.Secret{}
	// The cached object itself, not a copy of up to a MiB per request: it
	// is only read here.
	if err := h.reader.Get(readCtx, types.NamespacedName{Namespace: h.namespace, Name: revocation.SecretName(issuer)}, secret, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, errNoRecord
		}
		if ctx.Err() == nil {
			// Not when the client went away.
			log.Error(err, "reading a revocation record")
		}
		return nil, fmt.Errorf("reading the revocation record of ClusterIssuer %s: %w", issuer, err)
	}
	if !isRevocationRecord(secret, issuer) {
		return nil, errNoRecord
	}

	h.mu.Lock()
	p, ok := h.publications[issuer]
	h.mu.Unlock()
	if ok && secret.ResourceVersion != "" && p.uid == secret.UID && p.resourceVersion == secret.ResourceVersion {
		return p, p.err
	}
	p = newPublication(secret)
	if p.err != nil {
		// Once per version of the record, however often it is asked for.
		log.Error(p.err, "serving no CRLs")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.publications[issuer]; !ok && len(h.publications) >= maxPublications {
		for other := range h.publications {
			delete(h.publications, other)
			break
		}
	}
	h.publications[issuer] = p
	return p, p.err
}

// serveDocument writes doc with its cache headers. http.ServeContent
// answers HEAD, If-None-Match (with the ETag set here), If-Modified-Since
// and ranges.
func serveDocument(w http.ResponseWriter, r *http.Request, doc *document, contentType string, now time.Time) {
	header := w.Header()
	header.Set("Content-Type", contentType)
	header.Set("X-Content-Type-Options", "nosniff")
	header.Set("ETag", doc.etag)
	header.Set("Expires", doc.nextUpdate.UTC().Format(http.TimeFormat))
	header.Set("Cache-Control", "public, max-age="+strconv.FormatInt(maxAge(doc.nextUpdate, now), 10))
	http.ServeContent(w, r, "", doc.thisUpdate, bytes.NewReader(doc.body))
}

// maxAge is how many seconds a client or cache may keep a document that
// goes stale at nextUpdate: until then, at most maxCacheAge, never less
// than 0.
func maxAge(nextUpdate, now time.Time) int64 {
	age := min(nextUpdate.Sub(now), maxCacheAge)
	return max(int64(age/time.Second), 0)
}

// fail writes a short plain-text error that no cache keeps.
func fail(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, message, code)
}

// Server runs a handler on a bind address, as a manager.Runnable that
// runs in every replica, not only in the leader.
type Server struct {
	bindAddress string
	handler     http.Handler
}

var (
	_ manager.Runnable               = &Server{}
	_ manager.LeaderElectionRunnable = &Server{}
)

// NewServer returns a Server that serves handler on bindAddress
// (host:port); DisabledBindAddress turns it off.
func NewServer(bindAddress string, handler http.Handler) *Server {
	return &Server{bindAddress: bindAddress, handler: handler}
}

// maxInFlight bounds the requests served at once; more get 503 with
// Retry-After, so that a flood of clients costs them, not the manager.
const maxInFlight = 64

// limitInFlight serves at most n requests of next at once.
func limitInFlight(next http.Handler, n int) http.Handler {
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests in flight", http.StatusServiceUnavailable)
		}
	})
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every
// replica serves CRLs.
func (s *Server) NeedLeaderElection() bool {
	return false
}

// Start implements manager.Runnable: it listens on the bind address and
// serves until ctx ends. With DisabledBindAddress it returns at once.
func (s *Server) Start(ctx context.Context) error {
	if s.bindAddress == DisabledBindAddress {
		logf.FromContext(ctx).WithName("crl-server").Info("the CRL server is disabled")
		return nil
	}
	listener, err := net.Listen("tcp", s.bindAddress)
	if err != nil {
		return fmt.Errorf("listening on %s for the CRL server: %w", s.bindAddress, err)
	}
	return s.Serve(ctx, listener)
}

// Serve serves on listener until ctx ends, then shuts down gracefully:
// requests in flight get 5 seconds to finish. It closes listener.
func (s *Server) Serve(ctx context.Context, listener net.Listener) error {
	log := logf.FromContext(ctx).WithName("crl-server")
	ctx = logf.IntoContext(ctx, log)
	server := s.httpServer(ctx)
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	log.Info("serving CRLs", "address", listener.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("serving CRLs: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down the CRL server: %w", err)
	}
	<-served
	log.Info("stopped serving CRLs")
	return nil
}

// httpServer is the HTTP server of Serve, with every timeout set: the
// port is open to every namespace, so no client may hold a connection or
// a goroutine for long.
func (s *Server) httpServer(ctx context.Context) *http.Server {
	return &http.Server{
		Handler:           limitInFlight(s.handler, maxInFlight),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// Requests log as the server but are not cancelled with ctx:
		// Shutdown lets them finish.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}
