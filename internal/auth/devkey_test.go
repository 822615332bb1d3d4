package auth

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

// TestDevKeyRoundTrip: a minted token verifies with the trust file that
// DevTrustEntry writes, pointing at the key's JWKS file.
func TestDevKeyRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k, err := LoadOrCreateDevKey(dir)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(dir, DevKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(fi.Mode().Perm(), os.FileMode(0o600)); diff != "" {
			t.Errorf("key file mode (-got +want):\n%s", diff)
		}
	}
	again, err := LoadOrCreateDevKey(dir)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if diff := cmp.Diff(again.KID(), k.KID()); diff != "" {
		t.Errorf("kid after reload (-got +want):\n%s", diff)
	}

	if err := os.WriteFile(filepath.Join(dir, "dev-jwks.json"), k.JWKS(), 0o644); err != nil {
		t.Fatal(err)
	}
	trustPath := filepath.Join(dir, "trust.yaml")
	if err := os.WriteFile(trustPath, []byte(DevTrustEntry("dev-jwks.json")), 0o644); err != nil {
		t.Fatal(err)
	}
	trust, err := LoadTrust(trustPath)
	if err != nil {
		t.Fatalf("LoadTrust(DevTrustEntry): %v", err)
	}
	h := newHarness(t, VerifierConfig{Clients: trust.Clients, Now: time.Now})

	tok, err := k.Mint(testBase+servicePath, 0)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	var claims jwt.RegisteredClaims
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &claims)
	if err != nil {
		t.Fatal(err)
	}
	type shape struct {
		Alg, Typ, Kid, Iss string
		Lifetime           time.Duration
		HasJTI             bool
	}
	gotShape := shape{
		Alg: parsed.Header["alg"].(string), Typ: parsed.Header["typ"].(string), Kid: parsed.Header["kid"].(string),
		Iss: claims.Issuer, Lifetime: claims.ExpiresAt.Sub(claims.IssuedAt.Time), HasJTI: claims.ID != "",
	}
	wantShape := shape{Alg: "ES384", Typ: "JWT", Kid: k.KID(), Iss: DevIssuer, Lifetime: 5 * time.Minute, HasJTI: true}
	if diff := cmp.Diff(gotShape, wantShape); diff != "" {
		t.Errorf("token shape (-got +want):\n%s", diff)
	}

	got := []result{h.bearer(servicePath, tok), h.bearer(discovery, tok)}
	want := []result{ok(DevIssuer, claims.ID), unauthorized(ReasonBadAudience)}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}
}

func TestDevKeyErrors(t *testing.T) {
	k, err := LoadOrCreateDevKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Mint("", time.Minute); err == nil {
		t.Error("Mint without aud succeeded")
	}
	if _, err := k.Mint(testBase+servicePath, 2*time.Hour); err == nil {
		t.Error("Mint with a two-hour ttl succeeded")
	}

	if runtime.GOOS != "windows" {
		dir := t.TempDir()
		if _, err := LoadOrCreateDevKey(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, DevKeyFile), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateDevKey(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("world-readable key: err = %v, want a chmod hint", err)
		}
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DevKeyFile), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateDevKey(dir); err == nil {
		t.Error("garbage key file accepted")
	}
}

// sandboxKey reads the CDS Hooks sandbox's published development private key
// (committed in the sandbox's own repository, so anyone can mint sandbox
// tokens). It is test data only.
func sandboxKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "sandbox-ecprivkey.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatal("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*ecdsa.PrivateKey)
}

// TestSandboxToken: a token shaped like the sandbox's (ES384, typ JWT, its
// kid and jku, exp = iat + 300) verifies against the embedded key, without
// any fetch (the test has no network and no JWKS server).
func TestSandboxToken(t *testing.T) {
	priv := sandboxKey(t)
	embedded, err := parseJWKS(SandboxClient().JWKS)
	if err != nil {
		t.Fatal(err)
	}
	pub, found := embedded["44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"]
	if !found || !priv.PublicKey.Equal(pub.pub) {
		t.Fatal("the embedded sandbox JWKS does not hold the sandbox key's public half")
	}

	h := newHarness(t, VerifierConfig{Clients: []Client{SandboxClient()}})
	key := testKey{kid: "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f", alg: "ES384", priv: priv}
	now := h.clock.Now()
	claims := jwt.MapClaims{
		"iss": SandboxIssuer,
		"aud": testBase + servicePath,
		"iat": now.Unix(),
		"exp": now.Add(300 * time.Second).Unix(),
		"jti": "0b3c5b8e-6f5e-4f53-9d8e-2f4f0c8f9a11",
	}
	tok := sign(t, key, claims, map[string]any{"jku": SandboxJKU})
	if diff := cmp.Diff(h.bearer(servicePath, tok), ok(SandboxIssuer, "0b3c5b8e-6f5e-4f53-9d8e-2f4f0c8f9a11")); diff != "" {
		t.Errorf("sandbox token (-got +want):\n%s", diff)
	}
	if err := h.v.Ready(); err != nil {
		t.Errorf("Ready() = %v with only embedded keys", err)
	}
}
