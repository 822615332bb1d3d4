package auth

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// defaultAlgorithms are the algorithms a client may use when its trust entry
// lists none: the two CDS Hooks recommends.
var defaultAlgorithms = []string{"ES384", "RS384"}

// supportedAlgorithms are the asymmetric JWS algorithms the verifier can
// check. none and the HMAC family are never accepted (CDS Hooks 2.0 forbids
// them), whatever a trust file says.
var supportedAlgorithms = []string{
	"ES256", "ES384", "ES512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
}

// SandboxIssuer is the iss of tokens minted by the public CDS Hooks sandbox.
const SandboxIssuer = "https://sandbox.cds-hooks.org"

// SandboxJKU is the jku the public CDS Hooks sandbox puts in its tokens.
const SandboxJKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"

// sandboxJWKS is the sandbox's published public key (ES384, kid
// 44823f3d-0b01-4a6c-a80e-b9d3e8a7226f). Its private key is published too, so
// anyone can mint sandbox tokens: trust it in development only.
//
//go:embed sandbox-jwks.json
var sandboxJWKS []byte

var (
	errNotAbsolute = errors.New("must be an absolute https URL")
	errPlainHTTP   = errors.New("must use https (plain http only on loopback)")
)

// Client is one trusted CDS client (an EHR or other issuer of tokens).
type Client struct {
	// Issuer is the exact iss claim of the client's tokens.
	Issuer string
	// JWKSURL is where the client's JWK Set is fetched (https, or http on
	// loopback). Exactly one of JWKSURL and JWKS is set.
	JWKSURL string
	// JWKS is the client's JWK Set as JSON, held locally (from a jwks_file or
	// embedded).
	JWKS []byte
	// JWKSSource names where JWKS came from, for messages (a file path).
	JWKSSource string
	// JKUAllowed lists jku header values that may be fetched when a token's
	// kid is unknown. JWKSURL is always allowed.
	JKUAllowed []string
	// Algorithms the client may sign with; empty means ES384 and RS384.
	Algorithms []string
}

// Trust is a parsed trust file.
type Trust struct {
	// Clients are the trusted CDS clients, in file order.
	Clients []Client
}

// SandboxClient returns the trust entry of the public CDS Hooks sandbox, with
// its published public key embedded. Development only: the sandbox's private
// key is public.
func SandboxClient() Client {
	return Client{
		Issuer:     SandboxIssuer,
		JWKS:       bytes.Clone(sandboxJWKS),
		JWKSSource: "embedded CDS Hooks sandbox key",
		JKUAllowed: []string{SandboxJKU},
		Algorithms: []string{"ES384"},
	}
}

type trustFile struct {
	Clients []trustEntry `yaml:"clients"`
}

type trustEntry struct {
	Issuer     string   `yaml:"issuer,omitempty"`
	JWKSURL    string   `yaml:"jwks_url,omitempty"`
	JWKSFile   string   `yaml:"jwks_file,omitempty"`
	JKUAllowed []string `yaml:"jku_allowed,omitempty"`
	Algorithms []string `yaml:"algorithms,omitempty"`
}

// LoadTrust reads and validates a trust file (YAML, or JSON). A jwks_file is
// read relative to the trust file's folder and must hold at least one usable
// key. Any problem is an error naming the file, the client and the field:
// unknown keys, a missing issuer, both or neither of jwks_url and jwks_file, an
// http jwks_url or jku_allowed entry that is not loopback, an unsupported, HMAC
// or none algorithm, duplicate issuers, no clients.
func LoadTrust(path string) (*Trust, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trust file: %w", err)
	}
	t, err := parseTrust(raw, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("trust file %s: %w", path, err)
	}
	return t, nil
}

func parseTrust(raw []byte, dir string) (*Trust, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var f trustFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty file")
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	if len(f.Clients) == 0 {
		return nil, errors.New("no clients")
	}
	t := &Trust{}
	for i, e := range f.Clients {
		c := Client{
			Issuer:     e.Issuer,
			JWKSURL:    e.JWKSURL,
			JKUAllowed: e.JKUAllowed,
			Algorithms: e.Algorithms,
		}
		where := fmt.Sprintf("clients[%d]", i)
		if e.Issuer != "" {
			where = fmt.Sprintf("clients[%d] (%s)", i, e.Issuer)
		}
		if e.JWKSFile != "" {
			if e.JWKSURL != "" {
				return nil, fmt.Errorf("%s: set jwks_url or jwks_file, not both", where)
			}
			p := e.JWKSFile
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("%s: jwks_file: %w", where, err)
			}
			c.JWKS = b
			c.JWKSSource = p
		}
		if err := validateClient(c); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		t.Clients = append(t.Clients, c)
	}
	if err := checkDuplicates(t.Clients); err != nil {
		return nil, err
	}
	return t, nil
}

// validateClient applies the trust-file rules to one client; NewVerifier
// applies them too, for clients built in code.
func validateClient(c Client) error {
	if strings.TrimSpace(c.Issuer) == "" {
		return errors.New("issuer is missing")
	}
	if u, err := url.Parse(c.Issuer); err != nil || u.Scheme == "" || strings.ContainsAny(c.Issuer, " \t\r\n") {
		return fmt.Errorf("issuer %q is not an absolute URI", c.Issuer)
	}
	switch {
	case c.JWKSURL != "" && len(c.JWKS) > 0:
		return errors.New("set jwks_url or jwks_file, not both")
	case c.JWKSURL == "" && len(c.JWKS) == 0:
		return errors.New("set one of jwks_url and jwks_file")
	case c.JWKSURL != "":
		if err := checkFetchURL(c.JWKSURL); err != nil {
			return fmt.Errorf("jwks_url %q: %w", c.JWKSURL, err)
		}
	default:
		keys, err := parseJWKS(c.JWKS)
		if err != nil {
			return fmt.Errorf("jwks_file %s: %w", c.JWKSSource, err)
		}
		if len(keys) == 0 {
			return fmt.Errorf("jwks_file %s: no usable signing key (EC or RSA, with a kid)", c.JWKSSource)
		}
	}
	for _, j := range c.JKUAllowed {
		if err := checkFetchURL(j); err != nil {
			return fmt.Errorf("jku_allowed %q: %w", j, err)
		}
	}
	for _, a := range c.Algorithms {
		if !slices.Contains(supportedAlgorithms, a) {
			return fmt.Errorf("algorithm %q is not allowed (none and HMAC never are; supported: %s)", a, strings.Join(supportedAlgorithms, ", "))
		}
	}
	return nil
}

func checkDuplicates(clients []Client) error {
	seen := map[string]bool{}
	for _, c := range clients {
		if seen[c.Issuer] {
			return fmt.Errorf("issuer %q is listed twice", c.Issuer)
		}
		seen[c.Issuer] = true
	}
	return nil
}

func (c Client) algorithms() []string {
	if len(c.Algorithms) == 0 {
		return defaultAlgorithms
	}
	return c.Algorithms
}
