package server

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/auth"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

// gatedServer is securedServer with a failed-authentication budget of 3 per
// minute, no per-client rate limit, and a count of token verifications.
func gatedServer(t *testing.T) (*testServer, *auth.DevKey, *atomic.Int64) {
	t.Helper()
	s, dev, _ := securedServer(t, false)
	verified := &atomic.Int64{}
	authn := s.cfg.Authenticate
	callerOf := s.cfg.CallerOf
	g := newTestServer(t, func(c *Config) {
		c.Authenticate = func(next http.Handler) http.Handler {
			inner := authn(next)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				verified.Add(1)
				inner.ServeHTTP(w, r)
			})
		}
		c.CallerOf = callerOf
		c.AuthFailuresPerMinute = 3
		c.AdminToken = strings.Repeat("a", MinAdminTokenLength)
	})
	return g, dev, verified
}

// from sends a request from remote address addr.
func (s *testServer) from(t testing.TB, addr, method, path string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(string(minimal(t, nil))))
	req.RemoteAddr = addr
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

// TestFailureGate: past its failed-authentication budget an address gets
// 429 with Retry-After, and its tokens are not even verified; other
// addresses, and successful traffic, are not affected; refusals are counted
// per reason, not audited one row each.
func TestFailureGate(t *testing.T) {
	s, dev, verified := gatedServer(t)
	const path = "/cds-services/lumbar-mri-order-sign"
	garbage := map[string]string{"Authorization": "Bearer garbage"}

	// Successes spend no budget: an EHR behind NAT is not slowed.
	var got []int
	for range 10 {
		tok, _ := dev.Mint("http://cds.test/cds-services", time.Minute)
		got = append(got, s.from(t, "203.0.113.7:4000", http.MethodGet, "/cds-services", map[string]string{"Authorization": "Bearer " + tok}).Code)
	}
	for range 6 {
		got = append(got, s.from(t, "203.0.113.7:4001", http.MethodPost, path, garbage).Code)
	}
	want := []int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 401, 429, 429, 429}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("statuses (-got +want):\n%s", diff)
	}
	if n := verified.Load(); n != 13 {
		t.Errorf("tokens verified = %d, want 13: none once the budget is spent", n)
	}
	rec := s.from(t, "203.0.113.7:4002", http.MethodPost, path, garbage)
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); rec.Code != 429 || err != nil || ra < 1 || ra > 60 {
		t.Errorf("throttled answer: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	// A valid token from the throttled address waits like the rest: it is
	// not verified either.
	tok, _ := dev.Mint("http://cds.test"+path, time.Minute)
	if rec := s.from(t, "203.0.113.7:4003", http.MethodPost, path, map[string]string{"Authorization": "Bearer " + tok}); rec.Code != 429 {
		t.Errorf("valid token from a throttled address: %d, want 429", rec.Code)
	}
	// Another address (and another IPv6 /64) is not affected.
	tok, _ = dev.Mint("http://cds.test"+path, time.Minute)
	if rec := s.from(t, "198.51.100.9:4000", http.MethodPost, path, map[string]string{"Authorization": "Bearer " + tok}); rec.Code != 200 {
		t.Errorf("other address: %d, want 200", rec.Code)
	}
	for range 3 {
		s.from(t, "[2001:db8:1:2::1]:5000", http.MethodPost, path, garbage)
	}
	if rec := s.from(t, "[2001:db8:1:2::99]:5000", http.MethodPost, path, garbage); rec.Code != 429 {
		t.Errorf("same IPv6 /64: %d, want 429", rec.Code)
	}
	if rec := s.from(t, "[2001:db8:1:3::1]:5000", http.MethodPost, path, garbage); rec.Code != 401 {
		t.Errorf("other IPv6 /64: %d, want 401", rec.Code)
	}
	// Failed admin attempts spend the same budget.
	for range 3 {
		s.from(t, "192.0.2.44:1", http.MethodGet, "/admin/report", map[string]string{"Authorization": "Bearer guess"})
	}
	if rec := s.from(t, "192.0.2.44:1", http.MethodGet, "/admin/report", map[string]string{"Authorization": "Bearer " + s.cfg.AdminToken}); rec.Code != 429 {
		t.Errorf("admin after 3 failures: %d, want 429", rec.Code)
	}

	if err := s.FlushRefused(t.Context()); err != nil {
		t.Fatal(err)
	}
	from, to := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	refused, err := s.db.Refused(t.Context(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	wantRefused := []store.Refusal{{Reason: RefusedAuthThrottled, N: 7}, {Reason: RefusedUnauthenticated, N: 7}, {Reason: RefusedAdminToken, N: 3}}
	if diff := cmp.Diff(refused, wantRefused); diff != "" {
		t.Errorf("refused counts (-got +want):\n%s", diff)
	}
	r, err := s.db.Report(t.Context(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	if r.Calls != 1 {
		t.Errorf("audit rows = %d, want 1 (the one call that reached the service)", r.Calls)
	}
}

// TestRateLimitZeroKeepsGate: --rate-limit 0 turns off the per-client limit
// only; the failure budget still holds.
func TestRateLimitZeroKeepsGate(t *testing.T) {
	s, _, _ := gatedServer(t)
	if s.limiter != nil {
		t.Fatal("rate limiter on with RatePerSecond 0")
	}
	var got []int
	for range 5 {
		got = append(got, s.from(t, "203.0.113.8:1", http.MethodGet, "/cds-services", nil).Code)
	}
	if diff := cmp.Diff(got, []int{401, 401, 401, 429, 429}); diff != "" {
		t.Errorf("statuses (-got +want):\n%s", diff)
	}
}

// TestAdminToken: the token is taken from the Authorization header only;
// the report is never cached and never framed.
func TestAdminToken(t *testing.T) {
	token := strings.Repeat("x", MinAdminTokenLength)
	s := newTestServer(t, func(c *Config) { c.AdminToken = token })
	tests := []struct {
		name, url, authz string
		want             int
	}{
		{"token in the URL", "/admin/report?token=" + token, "", 401},
		{"wrong token", "/admin/report", "Bearer " + strings.Repeat("y", MinAdminTokenLength), 401},
		{"not a bearer", "/admin/report", "Basic " + token, 401},
		{"header", "/admin/report", "Bearer " + token, 200},
	}
	for _, tt := range tests {
		h := map[string]string{}
		if tt.authz != "" {
			h["Authorization"] = tt.authz
		}
		rec := s.do(t, http.MethodGet, tt.url, nil, h)
		if rec.Code != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, rec.Code, tt.want)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", tt.name, cc)
		}
		if tt.want == 200 && !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q lacks frame-ancestors 'none'", tt.name, rec.Header().Get("Content-Security-Policy"))
		}
	}
}

// TestCORSLoopback: the development default allows loopback origins only.
func TestCORSLoopback(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.CORSOrigins = nil; c.CORSLoopback = true })
	tests := map[string]bool{
		"http://localhost:3000":      true,
		"http://127.0.0.1:5173":      true,
		"http://[::1]:8000":          true,
		"https://localhost":          true,
		"https://evil.example":       false,
		"http://localhost.evil.test": false,
		"null":                       false,
		"http://10.0.0.5:3000":       false,
	}
	got := map[string]bool{}
	for origin := range tests {
		rec := s.do(t, http.MethodOptions, "/cds-services/lumbar-mri-order-sign", nil, map[string]string{"Origin": origin})
		got[origin] = rec.Header().Get("Access-Control-Allow-Origin") == origin
		if a := rec.Header().Get("Access-Control-Allow-Origin"); a == "*" {
			t.Errorf("%s: answered *", origin)
		}
	}
	if diff := cmp.Diff(got, tests); diff != "" {
		t.Errorf("allowed (-got +want):\n%s", diff)
	}
}

// TestAuditKeepsNoClientText: an unknown hook name and a free-text order id
// are not stored as sent.
func TestAuditKeepsNoClientText(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := newTestServer(t, func(c *Config) { c.Store = db })
	const freeText = "Jane Doe's MRI, call 555-0100 <script>"
	body := minimal(t, func(m map[string]any) {
		entry := m["context"].(map[string]any)["draftOrders"].(map[string]any)["entry"].([]any)[0].(map[string]any)
		entry["resource"].(map[string]any)["id"] = freeText
		m["hookInstance"] = freeText // CDS Hooks: a UUID; a client may send anything
	})
	if rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", body, nil); rec.Code != 200 {
		t.Fatalf("free-text order id: %d %s", rec.Code, rec.Body)
	}
	bad := minimal(t, func(m map[string]any) { m["hook"] = "x-" + freeText })
	if rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", bad, nil); rec.Code != 400 {
		t.Fatalf("unknown hook: %d %s", rec.Code, rec.Body)
	}
	// An id-shaped hookInstance is no UUID: not kept as sent either; nor is
	// a service id this server does not have.
	idShaped := minimal(t, func(m map[string]any) { m["hookInstance"] = "JaneDoe-MRN-555" })
	if rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", idShaped, nil); rec.Code != 200 {
		t.Fatalf("id-shaped hookInstance: %d %s", rec.Code, rec.Body)
	}
	if rec := s.do(t, http.MethodPost, "/cds-services/Jane-Doe-MRN-555", idShaped, nil); rec.Code != 404 {
		t.Fatalf("unknown service: %d %s", rec.Code, rec.Body)
	}
	ro, err := sql.Open("sqlite", "file:"+filepath.Join(dir, store.DBFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var hooks, orders, cards, instances, serviceIDs []string
	for q, dst := range map[string]*[]string{
		"SELECT service_id FROM calls":                                                  &serviceIDs,
		"SELECT hook FROM calls":                                                        &hooks,
		"SELECT hook_instance FROM calls WHERE hook_instance <> ''":                     &instances,
		"SELECT json_extract(o.value, '$.id') FROM calls, json_each(calls.orders) AS o": &orders,
		"SELECT order_id FROM cards":                                                    &cards,
	} {
		rows, err := ro.QueryContext(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			*dst = append(*dst, v)
		}
		rows.Close()
	}
	all := strings.Join(slices.Concat(hooks, orders, cards, instances, serviceIDs), "|")
	if strings.Contains(all, "Jane") || strings.Contains(all, "555") {
		t.Errorf("client text stored: %s", all)
	}
	if diff := cmp.Diff(hooks, []string{"order-sign", "unknown", "order-sign", ""}); diff != "" {
		t.Errorf("hooks (-got +want):\n%s", diff)
	}
	if len(orders) != 2 || !strings.HasPrefix(orders[0], "sha256:") || len(orders[0]) != len("sha256:")+16 || orders[1] != "mri-1" {
		t.Errorf("order ids = %v, want a short hash for free text, then the FHIR id mri-1", orders)
	}
	if len(serviceIDs) != 4 || !strings.HasPrefix(serviceIDs[3], "sha256:") {
		t.Errorf("service ids = %v, want a short hash for the unknown one", serviceIDs)
	}
	if len(instances) != 3 || !strings.HasPrefix(instances[2], "sha256:") {
		t.Errorf("hook instances = %v, want a short hash for the id-shaped one", instances)
	}
	if len(instances) == 0 || !strings.HasPrefix(instances[0], "sha256:") {
		t.Errorf("hook instances = %v, want a short hash for free text", instances)
	}
}

// TestReplaySaturationVisible: /readyz and /metrics show each issuer's
// replay-cache fill; a saturated share does not make the service unready.
func TestReplaySaturationVisible(t *testing.T) {
	fill := []ReplayFill{{Issuer: "https://a.example", Entries: 5, Capacity: 5}, {Issuer: "https://b.example", Entries: 1, Capacity: 5}}
	s := newTestServer(t, func(c *Config) { c.ReplayUsage = func() []ReplayFill { return fill } })
	rec := s.do(t, http.MethodGet, "/readyz", nil, nil)
	var body struct {
		Status      string `json:"status"`
		ReplayCache []struct {
			Issuer    string `json:"issuer"`
			Saturated bool   `json:"saturated"`
		} `json:"replay_cache"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 200 || body.Status != "ready" || len(body.ReplayCache) != 2 || !body.ReplayCache[0].Saturated || body.ReplayCache[1].Saturated {
		t.Errorf("readyz: %d %s", rec.Code, rec.Body)
	}
	m := s.do(t, http.MethodGet, "/metrics", nil, nil).Body.String()
	for _, line := range []string{
		`lumbar_mri_cds_replay_cache_entries{issuer="https://a.example"} 5`,
		`lumbar_mri_cds_replay_cache_capacity{issuer="https://b.example"} 5`,
	} {
		if !strings.Contains(m, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
}

// TestRefusalsWrittenWithoutMoreTraffic: counts reach the store on their
// own shortly after a burst ends, without a later call or a shutdown.
func TestRefusalsWrittenWithoutMoreTraffic(t *testing.T) {
	s, _, _ := gatedServer(t)
	s.refused.every = 10 * time.Millisecond
	for range 5 {
		s.from(t, "203.0.113.9:1", http.MethodGet, "/cds-services", nil)
	}
	want := []store.Refusal{{Reason: RefusedUnauthenticated, N: 3}, {Reason: RefusedAuthThrottled, N: 2}}
	var got []store.Refusal
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		got, err = s.db.Refused(t.Context(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if cmp.Equal(got, want) {
			return
		}
	}
	t.Errorf("refused counts in the store (-got +want):\n%s", cmp.Diff(got, want))
}

// TestFailureGateBounded: failures from more addresses than the gate keeps
// do not grow its memory past the bound.
func TestFailureGateBounded(t *testing.T) {
	g := newFailureGate(3)
	now := time.Now()
	for i := range maxGateEntries + maxGateEntries/2 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		g.fail(netip.PrefixFrom(a, 32), now)
	}
	if n := len(g.buckets); n > maxGateEntries {
		t.Errorf("gate holds %d addresses, bound %d", n, maxGateEntries)
	}
}

// TestTrustedProxies: behind a trusted reverse proxy, each client named by
// X-Forwarded-For has its own failed-authentication budget, so one caller
// cannot spend everyone's; from an untrusted peer the header is ignored,
// so a client cannot pick the address its failures count against.
func TestTrustedProxies(t *testing.T) {
	const path = "/cds-services/lumbar-mri-order-sign"
	garbage := func(xff string) map[string]string {
		return map[string]string{"Authorization": "Bearer garbage", "X-Forwarded-For": xff}
	}
	behindProxy := newTestServer(t, func(c *Config) {
		c.AuthFailuresPerMinute = 3
		c.TrustedProxies = []string{"10.0.0.0/8"}
		secure, _, _ := securedServer(t, false)
		c.Authenticate, c.CallerOf = secure.cfg.Authenticate, secure.cfg.CallerOf
	})
	var got []int
	for range 4 {
		got = append(got, behindProxy.from(t, "10.1.2.3:5000", http.MethodPost, path, garbage("203.0.113.7")).Code)
	}
	// Another client through the same proxy still has its budget; a
	// spoofed left-most entry does not change who the proxy saw.
	got = append(got, behindProxy.from(t, "10.1.2.3:5001", http.MethodPost, path, garbage("203.0.113.8")).Code)
	got = append(got, behindProxy.from(t, "10.1.2.3:5002", http.MethodPost, path, garbage("198.51.100.1, 203.0.113.7")).Code)
	if diff := cmp.Diff(got, []int{401, 401, 401, 429, 401, 429}); diff != "" {
		t.Errorf("behind a trusted proxy (-got +want):\n%s", diff)
	}

	direct := newTestServer(t, func(c *Config) {
		c.AuthFailuresPerMinute = 3
		secure, _, _ := securedServer(t, false)
		c.Authenticate, c.CallerOf = secure.cfg.Authenticate, secure.cfg.CallerOf
	})
	got = got[:0]
	for i := range 4 {
		got = append(got, direct.from(t, "203.0.113.9:5000", http.MethodPost, path, garbage(fmt.Sprintf("192.0.2.%d", i))).Code)
	}
	if diff := cmp.Diff(got, []int{401, 401, 401, 429}); diff != "" {
		t.Errorf("X-Forwarded-For from an untrusted peer must be ignored (-got +want):\n%s", diff)
	}
	if err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.1", "fd00::/8"}); err != nil {
		t.Errorf("valid list refused: %v", err)
	}
	for _, bad := range []string{"proxy.internal", "0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96", "0.0.0.0/1", "::ffff:10.0.0.0/100"} {
		if err := ParseTrustedProxies([]string{bad}); err == nil {
			t.Errorf("%q was accepted as a trusted proxy", bad)
		}
	}
	// X-Real-IP is not read, even from a trusted proxy: a proxy that does
	// not set it passes the client's own on.
	got = got[:0]
	for i := range 4 {
		realIP := map[string]string{"Authorization": "Bearer garbage", "X-Real-IP": fmt.Sprintf("192.0.2.%d", 70+i)}
		got = append(got, behindProxy.from(t, "10.9.9.9:1", http.MethodPost, path, realIP).Code)
	}
	if diff := cmp.Diff(got, []int{401, 401, 401, 429}); diff != "" {
		t.Errorf("X-Real-IP must not pick the budget (-got +want):\n%s", diff)
	}
}

// TestAuthUnavailableCountedApart: when the verifier cannot check a token
// (503: the shared replay store is down), the refusal is counted as
// auth-unavailable, not as a failed authentication, and the caller's
// failed-authentication budget is not spent.
func TestAuthUnavailableCountedApart(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		c.AuthFailuresPerMinute = 3
		c.Authenticate = func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, `{"error":"replay store unavailable"}`, http.StatusServiceUnavailable)
			})
		}
	})
	for i := range 5 {
		if rec := s.from(t, "203.0.113.20:1", http.MethodPost, "/cds-services/lumbar-mri-order-sign", nil); rec.Code != 503 {
			t.Fatalf("call %d: %d, want 503 (never 429: the budget is for failed authentications)", i, rec.Code)
		}
	}
	if err := s.FlushRefused(t.Context()); err != nil {
		t.Fatal(err)
	}
	refused, err := s.db.Refused(t.Context(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(refused, []store.Refusal{{Reason: RefusedAuthUnavailable, N: 5}}); diff != "" {
		t.Errorf("refused counts (-got +want):\n%s", diff)
	}
}

// TestDevelopmentGuard: a development instance verifies no token, so it
// answers only requests addressed to a loopback host (a page whose DNS name
// is rebound to 127.0.0.1 calls it as its own origin, where CORS does not
// apply) and refuses a browser page of an origin CORS does not allow (a
// text/plain POST needs no preflight: it would run, the answer merely
// hidden). Secured mode keeps answering any Host.
func TestDevelopmentGuard(t *testing.T) {
	dev := newTestServer(t, func(c *Config) {
		c.CORSOrigins = nil
		c.CORSLoopback = true
		c.LoopbackHostsOnly = true
		c.BaseURL = "http://127.0.0.1:8080"
	})
	secured := newTestServer(t, func(c *Config) { c.CORSOrigins = nil })
	tests := []struct {
		name, host, origin string
		server             *testServer
		want               int
	}{
		{"loopback address", "127.0.0.1:8080", "", dev, http.StatusOK},
		{"localhost", "localhost:8080", "", dev, http.StatusOK},
		{"LOCALHOST. without port", "LOCALHOST.", "", dev, http.StatusOK},
		{"IPv6 loopback", "[::1]:8080", "", dev, http.StatusOK},
		{"loopback page", "127.0.0.1:8080", "http://localhost:3000", dev, http.StatusOK},
		{"rebound DNS name", "evil.example:8080", "http://evil.example:8080", dev, http.StatusForbidden},
		{"rebound DNS name, no Origin", "evil.example:8080", "", dev, http.StatusForbidden},
		{"name that starts like localhost", "localhost.evil.example:8080", "", dev, http.StatusForbidden},
		{"foreign page, simple POST", "127.0.0.1:8080", "https://evil.example", dev, http.StatusForbidden},
		{"opaque origin", "127.0.0.1:8080", "null", dev, http.StatusForbidden},
		{"secured mode, any host", "cds.example.org", "", secured, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/cds-services/lumbar-mri-order-sign", bytes.NewReader(minimal(t, nil)))
			req.Host = tt.host
			req.Header.Set("Content-Type", "text/plain")
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			rec := httptest.NewRecorder()
			tt.server.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d", rec.Code, tt.want)
			}
		})
	}
	// Refusals are counted like the other refusals before the service runs.
	if err := dev.FlushRefused(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, err := dev.db.Refused(t.Context(), testNow.Add(-24*time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range got {
		if r.Reason == RefusedForeignHost {
			n += r.N
		}
	}
	if n != 5 {
		t.Errorf("foreign-host refusals counted: %d, want 5", n)
	}
}
