package auth

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

// servers are the JWKS endpoints of the main test setup.
type servers struct {
	ehr      *jwksServer // the ehr issuer's jwks_url (TLS)
	allowed  *jwksServer // a jku the other issuer allows (loopback http)
	unlisted *jwksServer // a jku nobody allows: must never be fetched
}

// mainSetup trusts two issuers: ehrIssuer with ES384 and RS384 keys at a
// jwks_url, and otherIssuer with a local JWKS and one allowed jku.
func mainSetup(t *testing.T) (*harness, servers) {
	t.Helper()
	testKeys(t)
	s := servers{
		ehr:      newJWKSServer(t, true, jwksOf(t, ecKey, rsaKey)),
		allowed:  newJWKSServer(t, false, jwksOf(t, jkuKey)),
		unlisted: newJWKSServer(t, false, jwksOf(t, ecKey2)),
	}
	h := newHarness(t, VerifierConfig{
		Clients: []Client{
			{Issuer: ehrIssuer, JWKSURL: s.ehr.URL + "/jwks.json"},
			{
				Issuer:     otherIssuer,
				JWKS:       jwksOf(t, otherKey),
				JKUAllowed: []string{s.allowed.URL + "/jwks.json"},
				Algorithms: []string{"ES384"},
			},
		},
		HTTPClient: s.ehr.Client(),
	})
	return h, s
}

func TestMiddleware(t *testing.T) {
	testKeys(t)
	type tc struct {
		name     string
		key      testKey
		iss      string
		audPath  string // aud = testBase + audPath (default the path called)
		callPath string // default servicePath
		claims   func(c jwt.MapClaims, now time.Time)
		header   map[string]any
		raw      func(h *harness, s servers) []string // Authorization values, instead of a signed token
		want     func(name string) result
	}
	okEHR := func(name string) result { return ok(ehrIssuer, name) }
	refused := func(reason string) func(string) result {
		return func(string) result { return unauthorized(reason) }
	}
	tests := []tc{
		{name: "valid ES384", key: ecKey, want: okEHR},
		{name: "valid RS384", key: rsaKey, want: okEHR},
		{name: "valid for discovery", key: ecKey, callPath: discovery, want: okEHR},
		{name: "valid for feedback", key: rsaKey, callPath: feedbackPath, want: okEHR},
		{name: "typ absent is accepted", key: ecKey, header: map[string]any{"typ": nil}, want: okEHR},
		{name: "aud as array", key: ecKey, claims: func(c jwt.MapClaims, _ time.Time) {
			c["aud"] = []string{"https://elsewhere.example.org/cds-services", testBase + servicePath}
		}, want: okEHR},
		{name: "expired within clock skew", key: ecKey, claims: func(c jwt.MapClaims, now time.Time) {
			c["iat"] = now.Add(-5 * time.Minute).Unix()
			c["exp"] = now.Add(-30 * time.Second).Unix()
		}, want: okEHR},
		{name: "sub and tenant are accepted", key: ecKey, claims: func(c jwt.MapClaims, _ time.Time) {
			c["sub"] = "some-client"
			c["tenant"] = "org-1"
		}, want: func(name string) result {
			b, _ := json.Marshal(Caller{Issuer: ehrIssuer, JTI: name, Tenant: "org-1"})
			return result{Status: http.StatusOK, Body: string(b) + "\n"}
		}},
		{name: "known kid with unlisted jku needs no fetch", key: ecKey,
			header: map[string]any{"jku": "http://127.0.0.1:1/never.json"}, want: okEHR},
		{name: "unknown kid with allowed jku is fetched", key: jkuKey, iss: otherIssuer,
			raw: nil, header: nil, claims: nil, want: func(name string) result { return ok(otherIssuer, name) }},

		{name: "no Authorization header", raw: func(*harness, servers) []string { return nil }, want: refused(ReasonMissing)},
		{name: "Authorization null", raw: func(*harness, servers) []string { return []string{"null"} }, want: refused(ReasonMissing)},
		{name: "Bearer null", raw: func(*harness, servers) []string { return []string{"Bearer null"} }, want: refused(ReasonMalformed)},
		{name: "Basic credentials", raw: func(*harness, servers) []string { return []string{"Basic dXNlcjpwYXNz"} }, want: refused(ReasonMissing)},
		{name: "malformed token", raw: func(*harness, servers) []string { return []string{"Bearer abc.def.ghi"} }, want: refused(ReasonMalformed)},
		{name: "two Authorization headers", raw: func(h *harness, _ servers) []string {
			tok := sign(t, ecKey, h.claims(ehrIssuer, servicePath), nil)
			return []string{"Bearer " + tok, "Bearer " + tok}
		}, want: refused(ReasonMalformed)},
		{name: "alg none", raw: func(h *harness, _ servers) []string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, h.claims(ehrIssuer, servicePath))
			tok.Header["kid"] = ecKey.kid
			s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			if err != nil {
				t.Fatal(err)
			}
			return []string{"Bearer " + s}
		}, want: refused(ReasonBadAlg)},
		{name: "HS256 with the public key as secret", raw: func(h *harness, _ servers) []string {
			der, err := x509.MarshalPKIXPublicKey(ecKey.public())
			if err != nil {
				t.Fatal(err)
			}
			secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, h.claims(ehrIssuer, servicePath))
			tok.Header["kid"] = ecKey.kid
			s, err := tok.SignedString(secret)
			if err != nil {
				t.Fatal(err)
			}
			return []string{"Bearer " + s}
		}, want: refused(ReasonBadAlg)},
		{name: "alg not allowed for the issuer", raw: func(h *harness, _ servers) []string {
			k := rsaKey
			k.kid = otherKey.kid
			return []string{"Bearer " + sign(t, k, h.claims(otherIssuer, servicePath), nil)}
		}, want: refused(ReasonBadAlg)},
		{name: "RS384 header on an EC kid", raw: func(h *harness, _ servers) []string {
			k := rsaKey
			k.kid = ecKey.kid
			return []string{"Bearer " + sign(t, k, h.claims(ehrIssuer, servicePath), nil)}
		}, want: refused(ReasonBadAlg)},
		{name: "typ other than JWT", key: ecKey, header: map[string]any{"typ": "at+jwt"}, want: refused(ReasonBadTyp)},
		{name: "crit naming an unknown extension", key: ecKey, header: map[string]any{"crit": []string{"exp-ext"}, "exp-ext": true}, want: refused(ReasonBadCrit)},
		{name: "crit empty", key: ecKey, header: map[string]any{"crit": []string{}}, want: refused(ReasonBadCrit)},
		{name: "bad signature", key: rogueKey, want: refused(ReasonBadSignature)},
		{name: "tampered payload", raw: func(h *harness, _ servers) []string {
			tok := sign(t, ecKey, h.claims(ehrIssuer, servicePath), nil)
			parts := strings.Split(tok, ".")
			c := h.claims(ehrIssuer, servicePath)
			c["tenant"] = "injected"
			b, _ := json.Marshal(c)
			parts[1] = base64.RawURLEncoding.EncodeToString(b)
			return []string{"Bearer " + strings.Join(parts, ".")}
		}, want: refused(ReasonBadSignature)},
		{name: "unknown kid", key: ecKey2, want: refused(ReasonUnknownKID)},
		{name: "missing kid", key: ecKey, header: map[string]any{"kid": nil}, want: refused(ReasonMissingKID)},
		{name: "untrusted issuer", key: ecKey, iss: "https://evil.example.org", want: refused(ReasonUnknownIssuer)},
		{name: "no issuer", key: ecKey, claims: func(c jwt.MapClaims, _ time.Time) { delete(c, "iss") }, want: refused(ReasonUnknownIssuer)},
		{name: "another service's aud", key: ecKey, claims: func(c jwt.MapClaims, _ time.Time) {
			c["aud"] = "https://other-cds.example.org/cds-services/lumbar-mri-order-sign"
		}, want: refused(ReasonBadAudience)},
		{name: "discovery aud on a service call", key: ecKey, audPath: discovery, want: refused(ReasonBadAudience)},
		{name: "service aud on feedback", key: ecKey, audPath: servicePath, callPath: feedbackPath, want: refused(ReasonBadAudience)},
		// The service routes ".../x" and ".../x/" to one endpoint; an EHR
		// may name either in aud, whichever form it calls.
		{name: "aud with trailing slash", key: ecKey, audPath: servicePath + "/", want: okEHR},
		{name: "aud with trailing slash, called with it", key: ecKey, audPath: servicePath + "/", callPath: servicePath + "/", want: okEHR},
		{name: "aud without trailing slash, called with it", key: ecKey, audPath: servicePath, callPath: servicePath + "/", want: okEHR},
		{name: "aud with a longer path", key: ecKey, audPath: servicePath + "/x", want: refused(ReasonBadAudience)},
		{name: "no aud", key: ecKey, claims: func(c jwt.MapClaims, _ time.Time) { delete(c, "aud") }, want: refused(ReasonBadAudience)},
		{name: "expired", key: ecKey, claims: func(c jwt.MapClaims, now time.Time) {
			c["iat"] = now.Add(-10 * time.Minute).Unix()
			c["exp"] = now.Add(-2 * time.Minute).Unix()
		}, want: refused(ReasonExpired)},
		{name: "iat in the future", key: ecKey, claims: func(c jwt.MapClaims, now time.Time) {
			c["iat"] = now.Add(2 * time.Minute).Unix()
			c["exp"] = now.Add(7 * time.Minute).Unix()
		}, want: refused(ReasonIatFuture)},
		{name: "nbf in the future", key: ecKey, claims: func(c jwt.MapClaims, now time.Time) {
			c["nbf"] = now.Add(3 * time.Minute).Unix()
		}, want: refused(ReasonNotYetValid)},
		// RFC 7519: NumericDate is a JSON number; digits in a string are not one.
		{name: "exp as a string", key: ecKey, claims: func(c jwt.MapClaims, now time.Time) {
			c["exp"] = strconv.FormatInt(now.Add(time.Minute).Unix(), 10)
		}, want: refused(ReasonMalformed)},
		{name: "iat as a string", key: ecKey, claims: func(c jwt.MapClaims, now time.Time) { c["iat"] = strconv.FormatInt(now.Unix(), 10) }, want: refused(ReasonMalformed)},
		// Claim names are case-sensitive: an expired exp beside a fresh
		// "Exp" the JSON decoding would match is refused.
		{name: "Exp beside an expired exp", key: ecKey, claims: func(c jwt.MapClaims, now time.Time) {
			c["iat"] = now.Add(-20 * time.Minute).Unix()
			c["exp"] = now.Add(-16 * time.Minute).Unix()
			c["Exp"] = now.Add(30 * time.Minute).Unix()
		}, want: refused(ReasonMalformed)},
		{name: "ISS beside iss", key: ecKey, claims: func(c jwt.MapClaims, _ time.Time) { c["ISS"] = "https://evil.example.org" }, want: refused(ReasonMalformed)},
		{name: "missing exp", key: ecKey, claims: func(c jwt.MapClaims, _ time.Time) { delete(c, "exp") }, want: refused(ReasonMissingExp)},
		{name: "missing iat", key: ecKey, claims: func(c jwt.MapClaims, _ time.Time) { delete(c, "iat") }, want: refused(ReasonMissingIat)},
		{name: "missing jti", key: ecKey, claims: func(c jwt.MapClaims, _ time.Time) { delete(c, "jti") }, want: refused(ReasonMissingJTI)},
		{name: "exp of the wrong type", key: ecKey, claims: func(c jwt.MapClaims, _ time.Time) { c["exp"] = "tomorrow" }, want: refused(ReasonMalformed)},
		{name: "lifetime over an hour", key: ecKey, claims: func(c jwt.MapClaims, now time.Time) {
			c["iat"] = now.Add(-time.Minute).Unix()
			c["exp"] = now.Add(60 * time.Minute).Unix()
		}, want: refused(ReasonLifetime)},
		{name: "unknown kid with unlisted jku", raw: func(h *harness, s servers) []string {
			return []string{"Bearer " + sign(t, ecKey2, h.claims(ehrIssuer, servicePath), map[string]any{"jku": s.unlisted.URL + "/jwks.json"})}
		}, want: refused(ReasonJKUNotAllowed)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, s := mainSetup(t)
			callPath := tt.callPath
			if callPath == "" {
				callPath = servicePath
			}
			var auth []string
			var token string
			if tt.raw != nil {
				auth = tt.raw(h, s)
			} else {
				iss := tt.iss
				if iss == "" {
					iss = ehrIssuer
				}
				audPath := tt.audPath
				if audPath == "" {
					audPath = callPath
				}
				c := h.claims(iss, audPath)
				c["jti"] = tt.name
				if tt.claims != nil {
					tt.claims(c, h.clock.Now())
				}
				header := tt.header
				if tt.key.kid == jkuKey.kid && header == nil {
					header = map[string]any{"jku": s.allowed.URL + "/jwks.json"}
				}
				token = sign(t, tt.key, c, header)
				auth = []string{"Bearer " + token}
			}
			got := h.call(http.MethodPost, callPath, auth...)
			if diff := cmp.Diff(got, tt.want(tt.name)); diff != "" {
				t.Errorf("call (-got +want):\n%s", diff)
			}
			if n := s.unlisted.hits.Load(); n != 0 {
				t.Errorf("unlisted jku fetched %d times, want never", n)
			}
			for _, a := range auth {
				tok := strings.TrimPrefix(a, "Bearer ")
				if len(tok) > 20 && strings.Contains(h.logs.String(), tok) {
					t.Errorf("log contains the token")
				}
			}
			// Each failure line says "authentication failed" once: the
			// detail adds what the reason does not, without repeating it.
			for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
				if strings.Count(line, "authentication failed") > 1 || strings.Contains(line, "detail=\"\"") {
					t.Errorf("log line repeats itself: %s", line)
				}
			}
		})
	}
}

func TestReplay(t *testing.T) {
	h, _ := mainSetup(t)
	c := h.claims(ehrIssuer, servicePath)
	c["jti"] = "once"
	tok := sign(t, ecKey, c, nil)

	// The same jti from another issuer is a different token.
	oc := h.claims(otherIssuer, servicePath)
	oc["jti"] = "once"
	otherTok := sign(t, otherKey, oc, nil)

	got := []result{
		h.bearer(servicePath, tok),
		h.bearer(servicePath, tok),
		h.bearer(servicePath, otherTok),
	}
	h.clock.Advance(4 * time.Minute) // still within exp + skew
	got = append(got, h.bearer(servicePath, tok))
	want := []result{
		ok(ehrIssuer, "once"),
		unauthorized(ReasonReplayed),
		ok(otherIssuer, "once"),
		unauthorized(ReasonReplayed),
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}
}

func TestReplayCacheFull(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, false, jwksOf(t, ecKey))
	h := newHarness(t, VerifierConfig{
		Clients:        []Client{{Issuer: ehrIssuer, JWKSURL: s.URL}},
		ReplayCapacity: 2,
	})
	mint := func() string { return sign(t, ecKey, h.claims(ehrIssuer, servicePath), nil) }
	var got []int
	for range 3 {
		got = append(got, h.bearer(servicePath, mint()).Status)
	}
	// Once the first two tokens expired (exp + skew), there is room again.
	h.clock.Advance(5*time.Minute + DefaultSkew)
	got = append(got, h.bearer(servicePath, mint()).Status)
	want := []int{200, 200, 401, 200}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("statuses (-got +want):\n%s", diff)
	}
}

// TestReplaySharePerIssuer: one issuer filling its share of the replay cache
// (for example anyone holding the public sandbox key) cannot make another
// issuer's fresh tokens fail; the fill is visible per issuer.
func TestReplaySharePerIssuer(t *testing.T) {
	h, _ := mainSetup(t)
	h.v.replay.capacity = 3
	var got []int
	for range 5 {
		got = append(got, h.bearer(servicePath, sign(t, ecKey, h.claims(ehrIssuer, servicePath), nil)).Status)
	}
	for range 3 {
		got = append(got, h.bearer(servicePath, sign(t, otherKey, h.claims(otherIssuer, servicePath), nil)).Status)
	}
	want := []int{200, 200, 200, 401, 401, 200, 200, 200}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("statuses (-got +want):\n%s", diff)
	}
	usage := map[string]ReplayShare{}
	for _, u := range h.v.ReplayUsage() {
		usage[u.Issuer] = u
	}
	wantUsage := map[string]ReplayShare{
		ehrIssuer:   {Issuer: ehrIssuer, Entries: 3, Capacity: 3},
		otherIssuer: {Issuer: otherIssuer, Entries: 3, Capacity: 3},
	}
	if diff := cmp.Diff(usage, wantUsage); diff != "" {
		t.Errorf("usage (-got +want):\n%s", diff)
	}
}

// TestMaxLifetimeConfigurable: exp - iat above MaxLifetime is refused, and
// each jti is remembered until its own exp (+ skew), however long that is.
func TestMaxLifetimeConfigurable(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, false, jwksOf(t, ecKey))
	h := newHarness(t, VerifierConfig{Clients: []Client{{Issuer: ehrIssuer, JWKSURL: s.URL}}, MaxLifetime: 10 * time.Minute})
	long := h.claims(ehrIssuer, servicePath)
	long["exp"] = h.clock.Now().Add(11 * time.Minute).Unix()
	c := h.claims(ehrIssuer, servicePath)
	c["exp"] = h.clock.Now().Add(10 * time.Minute).Unix()
	c["jti"] = "ten-minutes"
	tok := sign(t, ecKey, c, nil)
	got := []result{h.bearer(servicePath, sign(t, ecKey, long, nil)), h.bearer(servicePath, tok)}
	h.clock.Advance(10*time.Minute + DefaultSkew - time.Second)
	got = append(got, h.bearer(servicePath, tok))
	want := []result{unauthorized(ReasonLifetime), ok(ehrIssuer, "ten-minutes"), unauthorized(ReasonReplayed)}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}
}

func TestKeyRotationAndRefreshRate(t *testing.T) {
	h, s := mainSetup(t)
	if got := s.ehr.hits.Load(); got != 1 {
		t.Fatalf("fetches at start = %d, want 1", got)
	}
	s.ehr.set(http.StatusOK, jwksOf(t, ecKey, rsaKey, ecKey2))
	rotated := func() string { return sign(t, ecKey2, h.claims(ehrIssuer, servicePath), nil) }
	unknown := func(kid string) string {
		k := ecKey2
		k.kid = kid
		return sign(t, k, h.claims(ehrIssuer, servicePath), nil)
	}

	type step struct {
		Status int
		Hits   int64
	}
	var got []step
	record := func(r result) { got = append(got, step{r.Status, s.ehr.hits.Load()}) }

	record(h.bearer(servicePath, rotated())) // within the refresh rate of the start fetch: no fetch
	h.clock.Advance(DefaultRefreshRate)
	record(h.bearer(servicePath, rotated())) // refresh, new kid accepted
	record(h.bearer(servicePath, rotated())) // known now: no fetch
	h.clock.Advance(2 * DefaultRefreshRate)
	record(h.bearer(servicePath, unknown("ghost-1"))) // one fetch
	record(h.bearer(servicePath, unknown("ghost-2"))) // rate-limited: no fetch
	record(h.bearer(servicePath, unknown("ghost-3")))

	want := []step{{401, 1}, {200, 2}, {200, 2}, {401, 3}, {401, 3}, {401, 3}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("steps (-got +want):\n%s", diff)
	}
}

func TestReadyAndRetry(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, false, []byte("oops"))
	s.set(http.StatusInternalServerError, []byte("oops"))
	h := newHarness(t, VerifierConfig{Clients: []Client{{Issuer: ehrIssuer, JWKSURL: s.URL + "/jwks.json"}}})
	if err := h.v.Ready(); err == nil {
		t.Fatal("Ready() = nil with an unreachable jwks_url")
	}
	s.set(http.StatusOK, jwksOf(t, ecKey))
	h.clock.Advance(DefaultRefreshRate)
	c := h.claims(ehrIssuer, servicePath)
	c["jti"] = "after-retry"
	if diff := cmp.Diff(h.bearer(servicePath, sign(t, ecKey, c, nil)), ok(ehrIssuer, "after-retry")); diff != "" {
		t.Errorf("call (-got +want):\n%s", diff)
	}
	if err := h.v.Ready(); err != nil {
		t.Errorf("Ready() = %v after a successful fetch", err)
	}
}

func TestJWKSFetchLimits(t *testing.T) {
	testKeys(t)
	big := append([]byte(`{"keys":[],"pad":"`), make([]byte, maxJWKSBytes)...)
	tests := []struct {
		name string
		code int
		body []byte
	}{
		{"server error", http.StatusInternalServerError, jwksOf(t, ecKey)},
		{"oversized", http.StatusOK, big},
		{"not a JWKS", http.StatusOK, []byte(`<html>`)},
		{"no usable key", http.StatusOK, []byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newJWKSServer(t, false, nil)
			s.set(tt.code, tt.body)
			h := newHarness(t, VerifierConfig{Clients: []Client{{Issuer: ehrIssuer, JWKSURL: s.URL}}})
			if h.v.Ready() == nil {
				t.Error("Ready() = nil, want an error")
			}
		})
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	testKeys(t)
	target := newJWKSServer(t, false, jwksOf(t, ecKey))
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	h := newHarness(t, VerifierConfig{Clients: []Client{{Issuer: ehrIssuer, JWKSURL: redirect.URL}}})
	if h.v.Ready() == nil || target.hits.Load() != 0 {
		t.Errorf("redirect followed: ready=%v target hits=%d", h.v.Ready(), target.hits.Load())
	}
}

func TestNewVerifierErrors(t *testing.T) {
	testKeys(t)
	good := Client{Issuer: ehrIssuer, JWKS: jwksOf(t, ecKey)}
	tests := []struct {
		name string
		cfg  VerifierConfig
	}{
		{"no clients", VerifierConfig{BaseURL: testBase}},
		{"no base URL", VerifierConfig{Clients: []Client{good}}},
		{"relative base URL", VerifierConfig{Clients: []Client{good}, BaseURL: "/cds"}},
		{"duplicate issuer", VerifierConfig{Clients: []Client{good, good}, BaseURL: testBase}},
		{"HMAC algorithm", VerifierConfig{Clients: []Client{{Issuer: ehrIssuer, JWKS: good.JWKS, Algorithms: []string{"HS256"}}}, BaseURL: testBase}},
		{"plain http jwks_url", VerifierConfig{Clients: []Client{{Issuer: ehrIssuer, JWKSURL: "http://ehr.example.org/jwks"}}, BaseURL: testBase}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.cfg)
			if err == nil {
				v.Close()
				t.Fatal("NewVerifier succeeded, want an error")
			}
		})
	}
}

func TestErrorsMatch(t *testing.T) {
	got := []bool{}
	for _, err := range []error{ErrExpired, ErrReplayed, ErrJKUNotAllowed} {
		got = append(got, err != nil && ReasonOf(err) != "" && errorsIs(err, ErrUnauthenticated))
	}
	if diff := cmp.Diff(got, []bool{true, true, true}); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

// TestReplayConcurrent: the same token sent many times at once is accepted
// exactly once.
func TestReplayConcurrent(t *testing.T) {
	h, _ := mainSetup(t)
	tok := sign(t, ecKey, h.claims(ehrIssuer, servicePath), nil)
	const n = 20
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodPost, servicePath, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			h.handler.ServeHTTP(rec, req)
			statuses <- rec.Code
		})
	}
	wg.Wait()
	close(statuses)
	got := map[int]int{}
	for s := range statuses {
		got[s]++
	}
	if diff := cmp.Diff(got, map[int]int{200: 1, 401: n - 1}); diff != "" {
		t.Errorf("statuses (-got +want):\n%s", diff)
	}
}

// TestFailureLogBounded: the header of an unverified token and the path are
// the caller's text; a refusal's log line carries a bounded part of them, so a flood of
// 16 KiB tokens (30 a minute per address) cannot fill the logs.
func TestFailureLogBounded(t *testing.T) {
	h, _ := mainSetup(t)
	long := strings.Repeat("x", 8_000) // the token stays under its 16 KiB cap
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"` + ehrIssuer + `"}`))
	for name, header := range map[string]map[string]any{
		"alg":  {"alg": long},
		"crit": {"alg": "ES256", "crit": []string{long}},
		"typ":  {"alg": "ES256", "typ": long},
	} {
		b, _ := json.Marshal(header)
		tok := base64.RawURLEncoding.EncodeToString(b) + "." + claims + ".c2ln"
		h.logs.Reset()
		if got := h.bearer(servicePath, tok); got.Status != http.StatusUnauthorized {
			t.Fatalf("%s: status %d, want 401", name, got.Status)
		}
		if n := len(h.logs.String()); n == 0 || n > 1000 {
			t.Errorf("%s: the refusal logged %d bytes, want at most 1000", name, n)
		}
	}
	// The path is the caller's text too (any service id).
	h.logs.Reset()
	if got := h.call(http.MethodPost, "/cds-services/"+long, "Bearer garbage"); got.Status != http.StatusUnauthorized {
		t.Fatalf("long path: status %d, want 401", got.Status)
	}
	if n := len(h.logs.String()); n == 0 || n > 1000 {
		t.Errorf("long path: the refusal logged %d bytes, want at most 1000", n)
	}
}
