package server

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/auth"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

// securedServer is the real router with a verifier trusting an ES384
// development key and an RS384 key, both real.
func securedServer(t *testing.T, openDiscovery bool) (*testServer, *auth.DevKey, *rsa.PrivateKey) {
	t.Helper()
	dev, err := auth.LoadOrCreateDevKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaJWKS, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS384",
		"n": base64.RawURLEncoding.EncodeToString(rk.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(rk.E)).Bytes()),
	}}})
	v, err := auth.NewVerifier(auth.VerifierConfig{
		Clients: []auth.Client{
			{Issuer: auth.DevIssuer, JWKS: dev.JWKS()},
			{Issuer: "https://ehr.example", JWKS: rsaJWKS},
		},
		BaseURL: "http://cds.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	s := newTestServer(t, func(c *Config) {
		c.Authenticate = v.Middleware
		c.OpenDiscovery = openDiscovery
		c.CallerOf = func(r *http.Request) string {
			cl, _ := auth.CallerFrom(r.Context())
			return cl.Issuer
		}
	})
	return s, dev, rk
}

func rs384(t *testing.T, k *rsa.PrivateKey, aud string) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS384, jwt.MapClaims{
		"iss": "https://ehr.example", "aud": aud, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": "jti-" + now.Format(time.RFC3339Nano),
	})
	tok.Header["kid"] = "rsa-1"
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthenticationThroughTheRouter(t *testing.T) {
	s, dev, rk := securedServer(t, false)
	const svc = "http://cds.test/cds-services/lumbar-mri-order-sign"
	es, _ := dev.Mint(svc, time.Minute)
	replayed, _ := dev.Mint(svc, time.Minute)
	_ = s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, nil), map[string]string{"Authorization": "Bearer " + replayed})
	discovery, _ := dev.Mint("http://cds.test/cds-services", time.Minute)
	tests := []struct {
		name, method, path, authz string
		want                      int
	}{
		{"ES384 service call", http.MethodPost, "/cds-services/lumbar-mri-order-sign", "Bearer " + es, 200},
		{"RS384 service call", http.MethodPost, "/cds-services/lumbar-mri-order-sign", "Bearer " + rs384(t, rk, svc), 200},
		{"no header", http.MethodPost, "/cds-services/lumbar-mri-order-sign", "", 401},
		{"Authorization: null", http.MethodPost, "/cds-services/lumbar-mri-order-sign", "null", 401},
		{"replayed jti", http.MethodPost, "/cds-services/lumbar-mri-order-sign", "Bearer " + replayed, 401},
		{"discovery token on a service", http.MethodPost, "/cds-services/lumbar-mri-order-sign", "Bearer " + discovery, 401},
		{"discovery needs a token", http.MethodGet, "/cds-services", "", 401},
		{"discovery with its token", http.MethodGet, "/cds-services", "Bearer " + discovery, 200},
		{"feedback needs a token", http.MethodPost, "/cds-services/lumbar-mri-order-sign/feedback", "", 401},
		{"health is open", http.MethodGet, "/healthz", "", 200},
		{"questionnaire is open", http.MethodGet, "/fhir/Questionnaire/lumbar-mri-pa", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"Origin": "https://ehr.example"}
			if tt.authz != "" {
				h["Authorization"] = tt.authz
			}
			rec := s.do(t, tt.method, tt.path, minimal(t, nil), h)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if tt.want == 401 {
				if rec.Header().Get("WWW-Authenticate") == "" || rec.Header().Get("Access-Control-Allow-Origin") == "" {
					t.Errorf("401 lacks WWW-Authenticate or CORS headers: %v", rec.Header())
				}
				if strings.Contains(rec.Body.String(), "jti") || strings.Contains(rec.Body.String(), "aud") {
					t.Errorf("401 body tells why: %s", rec.Body)
				}
			}
		})
	}
	// 401s are counted per reason and minute, not audited one row each.
	if err := s.FlushRefused(t.Context()); err != nil {
		t.Fatal(err)
	}
	from, to := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	r, err := s.db.Report(t.Context(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range r.Outcomes {
		if strings.Contains(o.Label, "401") {
			t.Errorf("401s have audit rows: %+v", r.Outcomes)
		}
	}
	refused, err := s.db.Refused(t.Context(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(refused, []store.Refusal{{Reason: RefusedUnauthenticated, N: 6}}); diff != "" {
		t.Errorf("refused counts (-got +want):\n%s", diff)
	}
}

func TestOpenDiscovery(t *testing.T) {
	s, _, _ := securedServer(t, true)
	if rec := s.do(t, http.MethodGet, "/cds-services", nil, nil); rec.Code != 200 {
		t.Errorf("open discovery: %d", rec.Code)
	}
	if rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, nil), nil); rec.Code != 401 {
		t.Errorf("service call without token under open discovery: %d", rec.Code)
	}
}

// A call refused over the rate limit (429, Retry-After) has not used its
// token: the same token sent again once the limit allows is served, and a
// third send is a replay.
func TestRateLimitedTokenCanRetry(t *testing.T) {
	dev, err := auth.LoadOrCreateDevKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierConfig{Clients: []auth.Client{{Issuer: auth.DevIssuer, JWKS: dev.JWKS()}}, BaseURL: "http://cds.test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	s := newTestServer(t, func(c *Config) {
		c.Authenticate = v.Middleware
		c.CallerOf = func(r *http.Request) string { cl, _ := auth.CallerFrom(r.Context()); return cl.Issuer }
		c.ReleaseToken = func(r *http.Request) {
			if cl, ok := auth.CallerFrom(r.Context()); ok {
				_ = v.Release(r.Context(), cl)
			}
		}
		c.RatePerSecond, c.RateBurst = 5, 1
	})
	path := "/cds-services/lumbar-mri-order-sign"
	call := func(tok string) int {
		return s.do(t, http.MethodPost, path, minimal(t, nil), map[string]string{"Authorization": "Bearer " + tok}).Code
	}
	first, _ := dev.Mint("http://cds.test"+path, time.Minute)
	second, _ := dev.Mint("http://cds.test"+path, time.Minute)
	if got := call(first); got != http.StatusOK {
		t.Fatalf("first call: %d", got)
	}
	if got := call(second); got != http.StatusTooManyRequests {
		t.Fatalf("second call at once: %d, want 429", got)
	}
	time.Sleep(300 * time.Millisecond) // the limit refills one call per 200 ms
	if got := call(second); got != http.StatusOK {
		t.Errorf("the same token after Retry-After: %d, want 200", got)
	}
	time.Sleep(300 * time.Millisecond)
	if got := call(second); got != http.StatusUnauthorized {
		t.Errorf("the token once served, sent again: %d, want 401", got)
	}
}
