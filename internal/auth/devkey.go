package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"gopkg.in/yaml.v3"
)

// DevIssuer is the iss of tokens minted by [DevKey.Mint].
const DevIssuer = "urn:lumbar-mri-cds:dev"

// DevKeyFile is the name of the development signing key in the data folder.
const DevKeyFile = "dev-signing-key.pem"

// maxDevTTL matches the verifier's default maximum lifetime.
const maxDevTTL = time.Hour

// DevKey is a local ES384 signing key for development tokens
// ("lumbar-mri-cds token"), so that curl and compose setups can call a
// service that requires authentication.
type DevKey struct {
	key *ecdsa.PrivateKey
	kid string
	now func() time.Time
}

// LoadOrCreateDevKey reads dataDir/dev-signing-key.pem, or creates it (an
// ES384 key in PKCS #8 PEM, mode 0600, the folder 0700) when it does not
// exist. A key file readable by group or others is refused.
func LoadOrCreateDevKey(dataDir string) (*DevKey, error) {
	path := filepath.Join(dataDir, DevKeyFile)
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if runtime.GOOS != "windows" {
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
				return nil, fmt.Errorf("dev key %s: mode %v is open to others; chmod 600 it", path, fi.Mode().Perm())
			}
		}
		return parseDevKey(raw, path)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("dev key: %w", err)
	}

	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dev key: generate: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("dev key: encode: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("dev key: %w", err)
	}
	// O_EXCL: if another process created the key meanwhile, use that one.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateDevKey(dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("dev key: %w", err)
	}
	werr := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("dev key: write %s: %w", path, werr)
	}
	return newDevKey(priv), nil
}

// ErrNoDevKey means the data folder holds no development key yet.
var ErrNoDevKey = errors.New("no development key")

// LoadDevKey reads the development key of dataDir without creating one: a
// token signed by a key the server was never told about would only be
// refused (401).
func LoadDevKey(dataDir string) (*DevKey, error) {
	path := filepath.Join(dataDir, DevKeyFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoDevKey, dataDir)
	}
	return LoadOrCreateDevKey(dataDir)
}

func parseDevKey(raw []byte, path string) (*DevKey, error) {
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("dev key %s: not a PKCS #8 PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("dev key %s: %w", path, err)
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P384() {
		return nil, fmt.Errorf("dev key %s: not an EC P-384 key", path)
	}
	return newDevKey(priv), nil
}

func newDevKey(priv *ecdsa.PrivateKey) *DevKey {
	return &DevKey{key: priv, kid: thumbprint(&priv.PublicKey), now: time.Now}
}

// thumbprint is the RFC 7638 JWK thumbprint of an EC P-384 public key: a kid
// that is stable for the key and needs no storage.
func thumbprint(pub *ecdsa.PublicKey) string {
	b, err := pub.Bytes() // uncompressed point: 0x04 || X || Y
	if err != nil {
		return ""
	}
	n := (len(b) - 1) / 2
	enc := base64.RawURLEncoding.EncodeToString
	// Members in lexicographic order, no whitespace (RFC 7638 section 3).
	canon := fmt.Sprintf(`{"crv":"P-384","kty":"EC","x":"%s","y":"%s"}`, enc(b[1:1+n]), enc(b[1+n:]))
	sum := sha256.Sum256([]byte(canon))
	return enc(sum[:])
}

// KID is the key id put in minted tokens and in the JWKS.
func (k *DevKey) KID() string { return k.kid }

// JWKS returns the public JWK Set (one ES384 signing key with its kid) as
// indented JSON, to be written where a trust file's jwks_file points.
func (k *DevKey) JWKS() []byte {
	jwk, err := jwkset.NewJWKFromKey(&k.key.PublicKey, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgES384, KID: k.kid, USE: jwkset.UseSig},
	})
	if err != nil {
		// A valid P-384 public key always marshals; an empty set verifies nothing.
		return []byte(`{"keys":[]}`)
	}
	out, err := json.MarshalIndent(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}}, "", "  ")
	if err != nil {
		return []byte(`{"keys":[]}`)
	}
	return append(out, '\n')
}

// Mint signs a token for aud (the exact URL to be called) that lives ttl
// (default five minutes; at most one hour), with iss [DevIssuer], typ JWT,
// kid, iat, exp and a random jti.
func (k *DevKey) Mint(aud string, ttl time.Duration) (string, error) {
	if aud == "" {
		return "", errors.New("dev token: aud is required (the URL to be called)")
	}
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	if ttl > maxDevTTL {
		return "", fmt.Errorf("dev token: ttl %v exceeds %v", ttl, maxDevTTL)
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", fmt.Errorf("dev token: %w", err)
	}
	now := k.now().Truncate(time.Second)
	t := jwt.NewWithClaims(jwt.SigningMethodES384, jwt.RegisteredClaims{
		Issuer:    DevIssuer,
		Audience:  jwt.ClaimStrings{aud},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		ID:        hex.EncodeToString(nonce[:]),
	})
	t.Header["kid"] = k.kid
	s, err := t.SignedString(k.key)
	if err != nil {
		return "", fmt.Errorf("dev token: %w", err)
	}
	return s, nil
}

// DevTrustEntry returns a complete trust file (YAML) trusting [DevIssuer]
// with the JWK Set at jwksPath (relative paths are read relative to the trust
// file's folder), for the README and compose setups.
func DevTrustEntry(jwksPath string) string {
	var b strings.Builder
	b.WriteString("# Development only: trusts tokens from \"lumbar-mri-cds token\".\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	err := enc.Encode(trustFile{Clients: []trustEntry{{
		Issuer:     DevIssuer,
		JWKSFile:   jwksPath,
		Algorithms: []string{"ES384"},
	}}})
	if err != nil || enc.Close() != nil {
		return ""
	}
	return b.String()
}
