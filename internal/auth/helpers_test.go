package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

const (
	testBase     = "https://cds.example.org"
	servicePath  = "/cds-services/lumbar-mri-order-sign"
	feedbackPath = "/cds-services/lumbar-mri-order-sign/feedback"
	discovery    = "/cds-services"
	ehrIssuer    = "https://ehr.example.org"
	otherIssuer  = "https://other.example.org"
)

// testClock is a settable clock shared by a verifier and the tokens minted
// for it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testKey is a generated signing key with the kid and alg it is published as.
type testKey struct {
	kid  string
	alg  string
	priv any // *ecdsa.PrivateKey or *rsa.PrivateKey
}

func (k testKey) public() any {
	switch p := k.priv.(type) {
	case *ecdsa.PrivateKey:
		return &p.PublicKey
	case *rsa.PrivateKey:
		return &p.PublicKey
	}
	return nil
}

var (
	keysOnce sync.Once
	ecKey    testKey
	rsaKey   testKey
	ecKey2   testKey
	otherKey testKey
	jkuKey   testKey
	rogueKey testKey
)

// testKeys generates the keys once per test binary (RSA generation is slow).
func testKeys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		ec := func(kid string) testKey {
			k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return testKey{kid: kid, alg: "ES384", priv: k}
		}
		r, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		ecKey = ec("ec-1")
		ecKey2 = ec("ec-2")
		otherKey = ec("other-1")
		jkuKey = ec("other-2")
		rogueKey = ec("ec-1") // same kid as ecKey, different key
		rsaKey = testKey{kid: "rsa-1", alg: "RS384", priv: r}
	})
}

// jwksOf returns the public JWK Set of keys.
func jwksOf(t *testing.T, keys ...testKey) []byte {
	t.Helper()
	var set jwkset.JWKSMarshal
	for _, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k.public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.ALG(k.alg), USE: jwkset.UseSig},
		})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwksServer serves a replaceable JWKS and counts its requests.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	body []byte
	code int
}

func newJWKSServer(t *testing.T, tls bool, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{body: body, code: http.StatusOK}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.code)
		_, _ = w.Write(s.body)
	})
	if tls {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h) // 127.0.0.1: loopback http is allowed
	}
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(code int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.code, s.body = code, body
}

// harness is a verifier wrapped around a real handler, with the reasons
// reported to OnFailure and everything logged.
type harness struct {
	t       *testing.T
	clock   *testClock
	v       *Verifier
	handler http.Handler
	mu      sync.Mutex
	reasons []string
	logs    *bytes.Buffer
	jti     atomic.Int64
}

func newHarness(t *testing.T, cfg VerifierConfig) *harness {
	t.Helper()
	h := &harness{t: t, clock: newClock(), logs: &bytes.Buffer{}}
	if cfg.BaseURL == "" {
		cfg.BaseURL = testBase + "/"
	}
	if cfg.Now == nil {
		cfg.Now = h.clock.Now
	}
	cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: h.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.OnFailure = func(reason string) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.reasons = append(h.reasons, reason)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(v.Close)
	h.v = v
	h.handler = v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := CallerFrom(r.Context())
		if !ok {
			http.Error(w, "no caller", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c)
	}))
	return h
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (h *harness) takeReasons() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.reasons
	h.reasons = nil
	return r
}

// claims returns valid claims for a call to path by iss.
func (h *harness) claims(iss, path string) jwt.MapClaims {
	now := h.clock.Now()
	return jwt.MapClaims{
		"iss": iss,
		"aud": testBase + path,
		"iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
		"jti": fmt.Sprintf("jti-%d", h.jti.Add(1)),
	}
}

// sign signs claims with k, with header kid and typ JWT; edit may change the
// header (a nil value removes the member).
func sign(t *testing.T, k testKey, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), claims)
	tok.Header["kid"] = k.kid
	for name, v := range header {
		if v == nil {
			delete(tok.Header, name)
		} else {
			tok.Header[name] = v
		}
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// result is what a call through the middleware returned.
type result struct {
	Status          int
	WWWAuthenticate string
	Body            string
	Reasons         []string
}

// call sends a request to path with the given Authorization header values.
func (h *harness) call(method, path string, authorization ...string) result {
	h.t.Helper()
	req := httptest.NewRequest(method, "http://internal:8080"+path, nil)
	for _, a := range authorization {
		req.Header.Add("Authorization", a)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return result{
		Status:          rec.Code,
		WWWAuthenticate: rec.Header().Get("WWW-Authenticate"),
		Body:            rec.Body.String(),
		Reasons:         h.takeReasons(),
	}
}

func (h *harness) bearer(path, token string) result {
	h.t.Helper()
	return h.call(http.MethodPost, path, "Bearer "+token)
}

// unauthorized is the result of a refused call with the given reason.
func unauthorized(reason string) result {
	return result{
		Status:          http.StatusUnauthorized,
		WWWAuthenticate: "Bearer",
		Body:            unauthorizedBody,
		Reasons:         []string{reason},
	}
}

// ok is the result of an accepted call by iss with jti.
func ok(iss, jti string) result {
	b, _ := json.Marshal(Caller{Issuer: iss, JTI: jti})
	return result{Status: http.StatusOK, Body: string(b) + "\n"}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
