package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
)

const (
	// fetchTimeout bounds each JWKS fetch.
	fetchTimeout = 5 * time.Second
	// maxJWKSBytes caps a fetched JWKS; real ones are a few kilobytes.
	maxJWKSBytes = 1 << 20
	// minRSABits refuses weak RSA keys.
	minRSABits = 2048
)

// verificationKey is one public key of a client.
type verificationKey struct {
	pub any    // *ecdsa.PublicKey or *rsa.PublicKey
	alg string // the JWK's alg, "" when the JWK does not pin one
}

// parseJWKS returns the usable signing keys of a JWK Set by kid. Keys without
// a kid, with a use other than sig, symmetric keys, and keys that do not parse
// are skipped: one odd key must not hide the others.
func parseJWKS(raw []byte) (map[string]verificationKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New(`not a JWK Set: no "keys" array`)
	}
	keys := map[string]verificationKey{}
	for _, k := range set.Keys {
		var m jwkset.JWKMarshal
		if err := json.Unmarshal(k, &m); err != nil {
			continue
		}
		if m.KID == "" || (m.USE != "" && m.USE != jwkset.UseSig) {
			continue
		}
		if m.KTY != jwkset.KtyEC && m.KTY != jwkset.KtyRSA {
			continue
		}
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: false}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue
		}
		switch pub := jwk.Key().(type) {
		case *ecdsa.PublicKey:
		case *rsa.PublicKey:
			if pub.N.BitLen() < minRSABits {
				continue
			}
		default:
			continue
		}
		if _, dup := keys[m.KID]; dup {
			continue
		}
		keys[m.KID] = verificationKey{pub: jwk.Key(), alg: string(m.ALG)}
	}
	return keys, nil
}

// keySet holds one client's keys: the local set (jwks_file or embedded), the
// set fetched from jwks_url, and sets fetched from allowed jku URLs.
type keySet struct {
	client Client
	algs   map[string]bool
	jkus   map[string]bool // allowed jku values: JKUAllowed plus JWKSURL

	local map[string]verificationKey

	mu      sync.RWMutex
	remote  map[string]map[string]verificationKey // by URL, then kid
	loadErr error                                 // last jwks_url failure before it first loaded

	fetchMu   sync.Mutex // one fetch at a time per issuer
	lastFetch time.Time  // guarded by fetchMu
}

func newKeySet(c Client) (*keySet, error) {
	ks := &keySet{
		client: c,
		algs:   map[string]bool{},
		jkus:   map[string]bool{},
		remote: map[string]map[string]verificationKey{},
	}
	for _, a := range c.algorithms() {
		ks.algs[a] = true
	}
	for _, j := range c.JKUAllowed {
		ks.jkus[j] = true
	}
	if c.JWKSURL != "" {
		ks.jkus[c.JWKSURL] = true
		ks.loadErr = errors.New("not fetched yet")
	}
	if len(c.JWKS) > 0 {
		keys, err := parseJWKS(c.JWKS)
		if err != nil {
			return nil, err
		}
		ks.local = keys
	}
	return ks, nil
}

// find looks a kid up among the keys already held, without fetching.
func (ks *keySet) find(kid string) (verificationKey, bool) {
	if k, ok := ks.local[kid]; ok {
		return k, true
	}
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	if ks.client.JWKSURL != "" {
		if k, ok := ks.remote[ks.client.JWKSURL][kid]; ok {
			return k, true
		}
	}
	for _, set := range ks.remote {
		if k, ok := set[kid]; ok {
			return k, true
		}
	}
	return verificationKey{}, false
}

// ready reports whether the jwks_url set (if any) has loaded.
func (ks *keySet) ready() error {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	if ks.loadErr != nil {
		return fmt.Errorf("jwks for issuer %s (%s) not loaded: %w", ks.client.Issuer, ks.client.JWKSURL, ks.loadErr)
	}
	return nil
}

// fetcher fetches JWK Sets; it is shared by all clients of a verifier.
type fetcher struct {
	http   *http.Client
	logger *slog.Logger
}

// fetch GETs a JWKS with a deadline and a size cap. Redirects are not
// followed: the URL was allow-listed, its redirect target was not.
func (f *fetcher) fetch(ctx context.Context, url string) (map[string]verificationKey, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxJWKSBytes)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable signing key")
	}
	return keys, nil
}

// refresh fetches url into the set; the caller holds fetchMu. A failure keeps
// the keys held before.
func (ks *keySet) refresh(ctx context.Context, f *fetcher, url string, now time.Time) error {
	ks.lastFetch = now
	keys, err := f.fetch(ctx, url)
	if err != nil {
		f.logger.Warn("jwks fetch failed", "issuer", ks.client.Issuer, "url", url, "err", err)
		if url == ks.client.JWKSURL {
			ks.mu.Lock()
			if ks.loadErr != nil {
				ks.loadErr = err
			}
			ks.mu.Unlock()
		}
		return err
	}
	ks.mu.Lock()
	ks.remote[url] = keys
	if url == ks.client.JWKSURL {
		ks.loadErr = nil
	}
	ks.mu.Unlock()
	f.logger.Info("jwks loaded", "issuer", ks.client.Issuer, "url", url, "keys", len(keys))
	return nil
}

// lookup returns the key for kid. An unknown kid triggers at most one fetch
// per refresh interval per issuer: of the token's jku when it is allowed, else
// of jwks_url. An unknown kid with a jku that is not allowed fails without any
// fetch.
func (ks *keySet) lookup(ctx context.Context, f *fetcher, kid, jku string, now time.Time, rate time.Duration) (verificationKey, error) {
	if k, ok := ks.find(kid); ok {
		return k, nil
	}
	url := ks.client.JWKSURL
	if jku != "" {
		if !ks.jkus[jku] {
			return verificationKey{}, ErrJKUNotAllowed
		}
		url = jku
	}
	if url == "" {
		return verificationKey{}, ErrUnknownKID
	}
	ks.fetchMu.Lock()
	defer ks.fetchMu.Unlock()
	// Another request may have fetched while this one waited.
	if k, ok := ks.find(kid); ok {
		return k, nil
	}
	if !ks.lastFetch.IsZero() && now.Sub(ks.lastFetch) < rate {
		return verificationKey{}, fmt.Errorf("%w: refresh rate-limited", ErrUnknownKID)
	}
	if err := ks.refresh(ctx, f, url, now); err != nil {
		return verificationKey{}, fmt.Errorf("%w: refresh failed", ErrUnknownKID)
	}
	if k, ok := ks.find(kid); ok {
		return k, nil
	}
	return verificationKey{}, ErrUnknownKID
}
