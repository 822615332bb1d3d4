package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadTrust(t *testing.T) {
	testKeys(t)
	jwks := jwksOf(t, ecKey)
	tests := []struct {
		name    string
		file    string // trust file body; the folder holds keys/ehr-jwks.json
		want    []Client
		wantErr string // substring of the error; "" for success
	}{
		{
			name: "yaml with jwks_url and jwks_file",
			file: `clients:
  - issuer: https://ehr.example.org
    jwks_url: https://ehr.example.org/.well-known/jwks.json
    jku_allowed: [https://ehr.example.org/.well-known/jwks.json]
  - issuer: https://other.example.org
    jwks_file: keys/ehr-jwks.json
    algorithms: [ES384]
`,
			want: []Client{
				{Issuer: "https://ehr.example.org", JWKSURL: "https://ehr.example.org/.well-known/jwks.json",
					JKUAllowed: []string{"https://ehr.example.org/.well-known/jwks.json"}},
				{Issuer: "https://other.example.org", JWKS: jwks, JWKSSource: "keys/ehr-jwks.json", Algorithms: []string{"ES384"}},
			},
		},
		{
			name: "json",
			file: `{"clients":[{"issuer":"https://ehr.example.org","jwks_url":"http://127.0.0.1:9000/jwks.json","algorithms":["RS384","PS384"]}]}`,
			want: []Client{{Issuer: "https://ehr.example.org", JWKSURL: "http://127.0.0.1:9000/jwks.json", Algorithms: []string{"RS384", "PS384"}}},
		},
		{
			name: "loopback http with localhost",
			file: "clients:\n  - {issuer: urn:example:dev, jwks_url: 'http://localhost:8081/jwks.json'}\n",
			want: []Client{{Issuer: "urn:example:dev", JWKSURL: "http://localhost:8081/jwks.json"}},
		},
		{name: "empty file", file: "", wantErr: "empty file"},
		{name: "no clients", file: "clients: []\n", wantErr: "no clients"},
		{name: "unknown top-level key", file: "clientz: []\n", wantErr: "clientz"},
		{name: "unknown client key", file: "clients:\n  - issuer: https://a.example\n    jwks_url: https://a.example/j\n    jwks: x\n", wantErr: "jwks"},
		{name: "missing issuer", file: "clients:\n  - jwks_url: https://a.example/j\n", wantErr: "issuer is missing"},
		{name: "issuer not a URI", file: "clients:\n  - {issuer: ehr, jwks_url: https://a.example/j}\n", wantErr: "not an absolute URI"},
		{name: "both jwks_url and jwks_file", file: "clients:\n  - {issuer: https://a.example, jwks_url: https://a.example/j, jwks_file: keys/ehr-jwks.json}\n", wantErr: "not both"},
		{name: "neither jwks_url nor jwks_file", file: "clients:\n  - {issuer: https://a.example}\n", wantErr: "set one of jwks_url and jwks_file"},
		{name: "http jwks_url not loopback", file: "clients:\n  - {issuer: https://a.example, jwks_url: 'http://a.example/j'}\n", wantErr: "must use https"},
		{name: "http jku_allowed not loopback", file: "clients:\n  - {issuer: https://a.example, jwks_url: 'https://a.example/j', jku_allowed: ['http://a.example/j']}\n", wantErr: "jku_allowed"},
		{name: "relative jwks_url", file: "clients:\n  - {issuer: https://a.example, jwks_url: /jwks.json}\n", wantErr: "absolute https URL"},
		{name: "HMAC algorithm", file: "clients:\n  - {issuer: https://a.example, jwks_url: https://a.example/j, algorithms: [HS256]}\n", wantErr: `"HS256" is not allowed`},
		{name: "none algorithm", file: "clients:\n  - {issuer: https://a.example, jwks_url: https://a.example/j, algorithms: [none]}\n", wantErr: `"none" is not allowed`},
		{name: "unsupported algorithm", file: "clients:\n  - {issuer: https://a.example, jwks_url: https://a.example/j, algorithms: [es384]}\n", wantErr: `"es384" is not allowed`},
		{name: "duplicate issuers", file: "clients:\n  - {issuer: https://a.example, jwks_url: https://a.example/j}\n  - {issuer: https://a.example, jwks_file: keys/ehr-jwks.json}\n", wantErr: "listed twice"},
		{name: "missing jwks_file", file: "clients:\n  - {issuer: https://a.example, jwks_file: keys/nope.json}\n", wantErr: "nope.json"},
		{name: "jwks_file without usable key", file: "clients:\n  - {issuer: https://a.example, jwks_file: keys/hmac.json}\n", wantErr: "no usable signing key"},
		{name: "two documents", file: "clients:\n  - {issuer: https://a.example, jwks_url: https://a.example/j}\n---\nclients: []\n", wantErr: "more than one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
				t.Fatal(err)
			}
			write := func(name string, b []byte) {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write("keys/ehr-jwks.json", jwks)
			write("keys/hmac.json", []byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`))
			write("trust.yaml", []byte(tt.file))

			got, err := LoadTrust(filepath.Join(dir, "trust.yaml"))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadTrust error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadTrust: %v", err)
			}
			for i := range got.Clients {
				if s := got.Clients[i].JWKSSource; s != "" {
					rel, err := filepath.Rel(dir, s)
					if err != nil {
						t.Fatal(err)
					}
					got.Clients[i].JWKSSource = filepath.ToSlash(rel)
				}
			}
			if diff := cmp.Diff(got.Clients, tt.want); diff != "" {
				t.Errorf("clients (-got +want):\n%s", diff)
			}
		})
	}
}

func TestLoadTrustMissingFile(t *testing.T) {
	if _, err := LoadTrust(filepath.Join(t.TempDir(), "absent.yaml")); err == nil {
		t.Fatal("LoadTrust of a missing file succeeded")
	}
}

func TestIsLoopback(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1":         true,
		"127.0.0.1:8080":    true,
		"127.1.2.3:80":      true,
		"::1":               true,
		"[::1]":             true,
		"[::1]:8080":        true,
		"localhost":         true,
		"localhost:8080":    true,
		"LOCALHOST:8080":    true,
		"":                  false,
		":8080":             false,
		"0.0.0.0:8080":      false,
		"[::]:8080":         false,
		"10.0.0.1:8080":     false,
		"192.168.1.10":      false,
		"example.org:443":   false,
		"localhost.evil.io": false,
		"128.0.0.1":         false,
	}
	got := map[string]bool{}
	for addr := range tests {
		got[addr] = IsLoopback(addr)
	}
	if diff := cmp.Diff(got, tests); diff != "" {
		t.Errorf("IsLoopback (-got +want):\n%s", diff)
	}
}
