package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/server"
)

// securedInstance starts serve with a development trust file and returns
// its base URL, a token minter and the log.
func securedInstance(t *testing.T, args ...string) (string, func(path string) string, *syncBuffer) {
	t.Helper()
	data := t.TempDir()
	var out syncBuffer
	if err := run(context.Background(), []string{"token", "--init", "--data-dir", data}, env(nil), strings.NewReader(""), &out, &syncBuffer{}); err != nil {
		t.Fatal(err)
	}
	trust := filepath.Join(data, "trust.yaml")
	if err := os.WriteFile(trust, []byte(out.String()[strings.Index(out.String(), "clients:"):]), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	base, done, stderr := startServe(t, ctx, append([]string{"--addr", "127.0.0.1:0", "--data-dir", data, "--trust", trust}, args...), nil)
	t.Cleanup(func() { cancel(); <-done })
	mint := func(path string) string {
		var tok syncBuffer
		if err := run(context.Background(), []string{"token", "--data-dir", data, "--aud", base + path}, env(nil), strings.NewReader(""), &tok, &syncBuffer{}); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(tok.String())
	}
	return base, mint, stderr
}

// fhirCall is a scenario request without prefetch, sending fhirServer and
// an access token, so everything must come from the FHIR server.
func fhirCall(t *testing.T, fhirServer string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "scenarios", "02-cauda-equina.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req map[string]any
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	delete(req, "prefetch")
	req["fhirServer"] = fhirServer
	req["fhirAuthorization"] = map[string]any{"access_token": "fhir-access-token", "token_type": "Bearer", "expires_in": 300, "scope": "user/*.read", "subject": "cds"}
	out, _ := json.Marshal(req)
	return out
}

// TestSecuredModeRefusesLoopbackFHIR: with a trust file and no --fhir-allow,
// a valid call naming a loopback FHIR server (by address or by name) is not
// fetched, and start-up warns; a listed host:port is fetched over http.
func TestSecuredModeRefusesLoopbackFHIR(t *testing.T) {
	var hits atomic.Int64
	fhirSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[]}`))
	}))
	defer fhirSrv.Close()
	port := fhirSrv.URL[strings.LastIndex(fhirSrv.URL, ":")+1:]
	const path = "/cds-services/lumbar-mri-order-sign"
	call := func(base, token, fhirServer string) int {
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(fhirCall(t, fhirServer)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	base, mint, stderr := securedInstance(t)
	for _, fs := range []string{fhirSrv.URL + "/fhir", "http://localhost:" + port + "/fhir", "https://localhost:" + port + "/fhir", "https://[::ffff:127.0.0.1]:" + port + "/fhir"} {
		if code := call(base, mint(path), fs); code != http.StatusPreconditionFailed {
			t.Errorf("%s: %d, want 412 (nothing could be fetched)", fs, code)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("loopback FHIR server got %d requests from a secured instance without --fhir-allow", n)
	}
	if !strings.Contains(stderr.String(), "--fhir-allow is not set") {
		t.Errorf("no start-up warning about --fhir-allow:\n%s", stderr)
	}

	base, mint, stderr = securedInstance(t, "--fhir-allow", "127.0.0.1:"+port)
	if code := call(base, mint(path), fhirSrv.URL+"/fhir"); code != http.StatusOK {
		t.Errorf("listed host:port: %d, want 200\n%s", code, stderr)
	}
	if hits.Load() == 0 {
		t.Error("listed FHIR server was not queried")
	}
}

// TestShortAdminTokenRefused: an admin token under 32 characters stops
// start-up with the reason.
func TestShortAdminTokenRefused(t *testing.T) {
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--admin-token", "x"}, env(nil), strings.NewReader(""), &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("one-character admin token: %v, want a refusal giving the minimum", err)
	}
}

// TestDevelopmentCORS: development answers loopback origins, not others.
func TestDevelopmentCORS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	base, done, _ := startServe(t, ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, nil)
	defer func() { cancel(); <-done }()
	for origin, want := range map[string]string{"http://localhost:3000": "http://localhost:3000", "https://evil.example": ""} {
		req, _ := http.NewRequest(http.MethodOptions, base+"/cds-services", nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != want {
			t.Errorf("origin %s: Access-Control-Allow-Origin %q, want %q", origin, got, want)
		}
	}
	// A page whose DNS name was rebound to 127.0.0.1 calls as its own
	// origin, where CORS does not apply: the Host is refused.
	req, _ := http.NewRequest(http.MethodGet, base+"/cds-services", nil)
	req.Host = "rebound.example:8080"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("development instance called with Host %s: status %d, want 403", req.Host, resp.StatusCode)
	}
}

// TestComposeSecuredSettings: each compose service replica allow-lists the HAPI
// server it is pointed at (plain http on the compose network) and has an
// admin token long enough for serve to start.
func TestComposeSecuredSettings(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	replicas := 0
	for name, svc := range compose.Services {
		vars := svc.Environment
		if vars["LUMBAR_MRI_CDS_ADDR"] == "" {
			continue // not a service replica (keys, seed, the proxy, the databases)
		}
		replicas++
		if vars["LUMBAR_MRI_CDS_TRUST_FILE"] == "" {
			t.Fatalf("compose runs %s without a trust file", name)
		}
		_, c := serveFlags(env(vars), &syncBuffer{})
		u, err := url.Parse(fhirCallTarget)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(splitList(c.fhirAllow), u.Host) {
			t.Errorf("%s: --fhir-allow %q does not list %s, the HAPI server of the README's compose example", name, c.fhirAllow, u.Host)
		}
		if len(c.adminToken) < 32 {
			t.Errorf("%s: compose admin token has %d characters, serve needs 32", name, len(c.adminToken))
		}
		// Behind the compose proxy, the proxy's address must be trusted
		// for X-Forwarded-For, or every EHR shares one budget.
		if err := server.ParseTrustedProxies(splitList(c.trustedProxies)); err != nil || c.trustedProxies == "" {
			t.Errorf("%s: --trusted-proxies %q (%v): the replicas sit behind the compose proxy", name, c.trustedProxies, err)
		}
	}
	if replicas == 0 {
		t.Fatal("no service replica in docker-compose.yml")
	}
}

// fhirCallTarget is the fhirServer the README's compose example sends.
const fhirCallTarget = "http://fhir:8080/fhir"
