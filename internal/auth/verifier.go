package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults for [VerifierConfig].
const (
	DefaultSkew            = 60 * time.Second
	DefaultMaxLifetime     = time.Hour
	DefaultRefreshRate     = time.Minute
	DefaultRefreshInterval = time.Hour
)

const (
	// maxTokenBytes bounds the Authorization header value that is parsed.
	maxTokenBytes = 16 << 10
	// maxJTIBytes bounds what one replay-cache entry can hold.
	maxJTIBytes = 256
)

// VerifierConfig configures a [Verifier]. Zero values take the defaults.
type VerifierConfig struct {
	// Clients are the trusted issuers (from [LoadTrust], plus [SandboxClient]
	// in development). At least one is required; issuers must be unique.
	Clients []Client
	// BaseURL is the service's externally visible base URL (scheme, host and
	// any path prefix, as the EHR calls it). The expected aud of a request is
	// BaseURL without a trailing slash followed by the request path. Required.
	BaseURL string
	// Skew is the allowed clock difference for exp, nbf and iat (default 60 s).
	Skew time.Duration
	// MaxLifetime is the longest exp - iat accepted (default one hour, the
	// CDS Hooks best-practice bound that also sizes the replay window).
	MaxLifetime time.Duration
	// RefreshRate is the shortest interval between fetches of one issuer's
	// keys caused by unknown kids (default one minute).
	RefreshRate time.Duration
	// RefreshInterval is how often jwks_url sets are re-fetched in the
	// background, so that removed keys stop verifying (default one hour).
	RefreshInterval time.Duration
	// ReplayCapacity bounds each issuer's share of the jti replay cache
	// (default [DefaultReplayCapacity]).
	ReplayCapacity int
	// SharedReplay, when set, records token ids in place of the in-memory
	// replay cache: a database that every replica of the service shares, so
	// that a token accepted by one replica is refused by every other.
	SharedReplay SharedReplay
	// HTTPClient fetches JWK Sets (default: a plain client). Redirects are
	// never followed and each fetch has a 5 s deadline and a 1 MiB cap.
	HTTPClient *http.Client
	// Logger receives failure reasons and JWKS events; never tokens.
	Logger *slog.Logger
	// OnFailure, when set, is called with the reason code of every failed
	// verification (for a metrics counter).
	OnFailure func(reason string)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Caller identifies an authenticated CDS client.
type Caller struct {
	// Issuer is the token's iss.
	Issuer string
	// JTI is the token's jti.
	JTI string
	// Tenant is the optional tenant claim (an opaque organisation id).
	Tenant string
}

// Verifier checks CDS client tokens against the trusted clients.
type Verifier struct {
	cfg     VerifierConfig
	baseURL string
	logger  *slog.Logger
	fetcher *fetcher
	clients map[string]*keySet
	replay  *replayCache

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewVerifier validates the configuration, fetches every jwks_url once (a
// failure is logged and reported by Ready, not returned) and starts one
// background refresh goroutine per jwks_url; Close stops them.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if len(cfg.Clients) == 0 {
		return nil, errors.New("auth: no trusted clients")
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("auth: base URL %q must be an absolute http(s) URL without query", cfg.BaseURL)
	}
	if err := checkDuplicates(cfg.Clients); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if cfg.Skew <= 0 {
		cfg.Skew = DefaultSkew
	}
	if cfg.MaxLifetime <= 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	if cfg.RefreshRate <= 0 {
		cfg.RefreshRate = DefaultRefreshRate
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.ReplayCapacity <= 0 {
		cfg.ReplayCapacity = DefaultReplayCapacity
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	v := &Verifier{
		cfg:     cfg,
		baseURL: strings.TrimRight(cfg.BaseURL, "/"),
		logger:  logger,
		fetcher: &fetcher{http: hc, logger: logger},
		clients: map[string]*keySet{},
		replay:  newReplayCache(cfg.ReplayCapacity),
	}
	for _, c := range cfg.Clients {
		if err := validateClient(c); err != nil {
			return nil, fmt.Errorf("auth: client %s: %w", c.Issuer, err)
		}
		ks, err := newKeySet(c)
		if err != nil {
			return nil, fmt.Errorf("auth: client %s: %w", c.Issuer, err)
		}
		v.clients[c.Issuer] = ks
	}

	ctx, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	var first sync.WaitGroup
	for _, ks := range v.clients {
		if ks.client.JWKSURL == "" {
			continue
		}
		first.Add(1)
		go func() {
			defer first.Done()
			ks.fetchMu.Lock()
			defer ks.fetchMu.Unlock()
			_ = ks.refresh(ctx, v.fetcher, ks.client.JWKSURL, cfg.Now())
		}()
		v.wg.Add(1)
		go v.refreshLoop(ctx, ks)
	}
	first.Wait()
	return v, nil
}

// refreshLoop re-fetches a client's jwks_url: every RefreshInterval once
// loaded, every RefreshRate while it has never loaded.
func (v *Verifier) refreshLoop(ctx context.Context, ks *keySet) {
	defer v.wg.Done()
	for {
		wait := v.cfg.RefreshInterval
		if ks.ready() != nil {
			wait = v.cfg.RefreshRate
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		ks.fetchMu.Lock()
		_ = ks.refresh(ctx, v.fetcher, ks.client.JWKSURL, v.cfg.Now())
		ks.fetchMu.Unlock()
	}
}

// Close stops the background refreshes. The verifier still verifies
// afterwards, with the keys it holds.
func (v *Verifier) Close() {
	v.cancel()
	v.wg.Wait()
}

// Ready reports an error while some client's jwks_url has never loaded.
func (v *Verifier) Ready() error {
	var errs []error
	for _, ks := range v.clients {
		if err := ks.ready(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ReplayShare is how full one issuer's share of the replay cache is.
type ReplayShare struct {
	// Issuer is the client's iss.
	Issuer string
	// Entries are the jti still remembered (their token has not expired).
	Entries int
	// Capacity is the size of the share; at Capacity the issuer's new
	// tokens are refused (replay-cache-full) until entries expire.
	Capacity int
}

// ReplayUsage returns the fill of every issuer's replay-cache share, one per
// configured client, in no particular order.
func (v *Verifier) ReplayUsage() []ReplayShare {
	used, capacity := v.replay.usage(v.cfg.Now())
	out := make([]ReplayShare, 0, len(v.clients))
	for iss := range v.clients {
		out = append(out, ReplayShare{Issuer: iss, Entries: used[iss], Capacity: capacity})
	}
	return out
}

// ExpectedAudience is the aud a token must carry to call path: the base URL
// plus the path without a trailing slash (the service routes both forms to
// one endpoint).
func (v *Verifier) ExpectedAudience(path string) string {
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	return v.baseURL + path
}

// audiences are the aud values that name path: ExpectedAudience and the
// same URL with a trailing slash, since an EHR may put in aud the URL
// exactly as it calls it, and both forms reach the same endpoint.
func (v *Verifier) audiences(path string) []string {
	aud := v.ExpectedAudience(path)
	if strings.HasSuffix(aud, "/") {
		return []string{aud}
	}
	return []string{aud, aud + "/"}
}

// tokenClaims are the claims the verifier reads.
type tokenClaims struct {
	jwt.RegisteredClaims
	Tenant string `json:"tenant,omitempty"`
}

// Verify authenticates the request's bearer token and returns its caller. A
// failure is an [*Error] (errors.Is(err, ErrUnauthenticated)); it has already
// been logged (reason, issuer, path; never the token) and reported to
// OnFailure. When the SharedReplay store cannot be asked, the error is
// ErrReplayUnavailable instead (no verdict on the token; the middleware
// answers 503). ctx bounds any JWKS fetch and the replay store's query.
func (v *Verifier) Verify(ctx context.Context, r *http.Request) (Caller, error) {
	c, iss, err := v.verify(ctx, r)
	if errors.Is(err, ErrReplayUnavailable) {
		v.logger.ErrorContext(ctx, "cds client token id could not be checked", "iss", truncate(iss, 200), "error", err.Error())
		return Caller{}, err
	}
	if err != nil {
		reason := ReasonOf(err)
		if reason == "" {
			reason = ReasonMalformed
			err = fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		attrs := []any{"reason", reason, "iss", truncate(iss, 200), "path", truncate(r.URL.Path, 200)}
		// The error's text repeats the message and the reason, sometimes
		// inside a library's wrapping ("token is unverifiable: ...: cds
		// client authentication failed: bad-alg: key is for ES384"): the
		// detail is what follows them, when anything does.
		detail := err.Error()
		if head := ErrUnauthenticated.Error() + ": " + reason; strings.Contains(detail, head) {
			detail = strings.TrimPrefix(detail[strings.LastIndex(detail, head)+len(head):], ": ")
		}
		if detail != "" {
			// Bounded: it may quote the unverified header (crit, typ), which
			// is the caller's text.
			attrs = append(attrs, "detail", truncate(detail, 200))
		}
		v.logger.WarnContext(ctx, "cds client authentication failed", attrs...)
		if v.cfg.OnFailure != nil {
			v.cfg.OnFailure(reason)
		}
		return Caller{}, err
	}
	return c, nil
}

func (v *Verifier) verify(ctx context.Context, r *http.Request) (Caller, string, error) {
	raw, err := bearerToken(r)
	if err != nil {
		return Caller{}, "", err
	}

	// Cheap checks on the unverified token first, so that nothing is fetched
	// for a token that would be refused anyway.
	var unverified tokenClaims
	tok, _, err := jwt.NewParser().ParseUnverified(raw, &unverified)
	if err != nil {
		return Caller{}, "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	iss := unverified.Issuer
	if err := numericDates(raw); err != nil {
		return Caller{}, iss, err
	}
	alg, _ := tok.Header["alg"].(string)
	if !slices.Contains(supportedAlgorithms, alg) {
		return Caller{}, iss, fmt.Errorf("%w: %q", ErrBadAlg, alg)
	}
	// RFC 7515 §4.1.11: a recipient that does not understand an extension
	// listed in crit must refuse the JWS. This verifier understands none.
	if crit, present := tok.Header["crit"]; present {
		return Caller{}, iss, fmt.Errorf("%w: %v", ErrBadCrit, crit)
	}
	if typ, present := tok.Header["typ"]; present {
		if s, ok := typ.(string); !ok || !strings.EqualFold(s, "JWT") {
			return Caller{}, iss, fmt.Errorf("%w: %v", ErrBadTyp, typ)
		}
	}
	ks, ok := v.clients[iss]
	if !ok {
		return Caller{}, iss, ErrUnknownIssuer
	}
	if !ks.algs[alg] {
		return Caller{}, iss, fmt.Errorf("%w: %s not allowed for this issuer", ErrBadAlg, alg)
	}
	kid, _ := tok.Header["kid"].(string)
	if kid == "" {
		return Caller{}, iss, ErrMissingKID
	}
	jku, _ := tok.Header["jku"].(string)

	aud := v.audiences(r.URL.Path)
	now := v.cfg.Now()
	if err := v.checkClaims(&unverified, aud, now); err != nil {
		return Caller{}, iss, err
	}

	var claims tokenClaims
	keyfunc := func(t *jwt.Token) (any, error) {
		k, err := ks.lookup(ctx, v.fetcher, kid, jku, now, v.cfg.RefreshRate)
		if err != nil {
			return nil, err
		}
		if err := keyMatchesAlg(k, alg); err != nil {
			return nil, err
		}
		return k.pub, nil
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{alg}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(v.cfg.Skew),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(iss),
		jwt.WithAudience(aud...),
	)
	if _, err := parser.ParseWithClaims(raw, &claims, keyfunc); err != nil {
		return Caller{}, iss, mapJWTError(err)
	}

	expires := claims.ExpiresAt.Add(v.cfg.Skew)
	if err := v.recordJTI(ctx, iss, claims.ID, expires, now); err != nil {
		return Caller{}, iss, err
	}
	return Caller{Issuer: iss, JTI: claims.ID, Tenant: claims.Tenant}, iss, nil
}

// checkClaims applies the claim rules: aud is the URL called, exp, iat and
// jti present, exp not past, nbf and iat not in the future, and a lifetime of
// at most MaxLifetime.
func (v *Verifier) checkClaims(c *tokenClaims, aud []string, now time.Time) error {
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(aud, a) }) {
		return fmt.Errorf("%w: want %s", ErrBadAudience, aud[0])
	}
	switch {
	case c.ExpiresAt == nil:
		return ErrMissingExp
	case c.IssuedAt == nil:
		return ErrMissingIat
	case c.ID == "":
		return ErrMissingJTI
	case len(c.ID) > maxJTIBytes:
		return fmt.Errorf("%w: jti longer than %d bytes", ErrMalformed, maxJTIBytes)
	}
	if !now.Before(c.ExpiresAt.Add(v.cfg.Skew)) {
		return ErrExpired
	}
	if c.IssuedAt.After(now.Add(v.cfg.Skew)) {
		return ErrIatFuture
	}
	if c.NotBefore != nil && c.NotBefore.After(now.Add(v.cfg.Skew)) {
		return ErrNotYetValid
	}
	if c.ExpiresAt.Sub(c.IssuedAt.Time) > v.cfg.MaxLifetime {
		return ErrLifetime
	}
	return nil
}

// keyMatchesAlg refuses a key whose JWK pins another alg, or whose type or
// curve does not fit alg, so that one key can never be used with an
// algorithm it was not published for.
func keyMatchesAlg(k verificationKey, alg string) error {
	if k.alg != "" && k.alg != alg {
		return fmt.Errorf("%w: key is for %s", ErrBadAlg, k.alg)
	}
	switch pub := k.pub.(type) {
	case *ecdsa.PublicKey:
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		if want == nil || pub.Curve != want {
			return fmt.Errorf("%w: EC key does not fit %s", ErrBadAlg, alg)
		}
	case *rsa.PublicKey:
		if !strings.HasPrefix(alg, "RS") && !strings.HasPrefix(alg, "PS") {
			return fmt.Errorf("%w: RSA key does not fit %s", ErrBadAlg, alg)
		}
	default:
		return fmt.Errorf("%w: unsupported key type", ErrBadAlg)
	}
	return nil
}

// mapJWTError turns a golang-jwt error into a reason. The claim checks run
// before, so claim errors here are unexpected but still mapped.
func mapJWTError(err error) error {
	if ReasonOf(err) != "" {
		return err
	}
	for _, m := range []struct {
		jwtErr error
		ours   *Error
	}{
		{jwt.ErrTokenSignatureInvalid, ErrBadSignature},
		{jwt.ErrTokenExpired, ErrExpired},
		{jwt.ErrTokenUsedBeforeIssued, ErrIatFuture},
		{jwt.ErrTokenNotValidYet, ErrNotYetValid},
		{jwt.ErrTokenInvalidAudience, ErrBadAudience},
		{jwt.ErrTokenInvalidIssuer, ErrUnknownIssuer},
	} {
		if errors.Is(err, m.jwtErr) {
			return fmt.Errorf("%w: %v", m.ours, err)
		}
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header.
func bearerToken(r *http.Request) (string, error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 || strings.TrimSpace(vals[0]) == "" {
		return "", ErrMissing
	}
	if len(vals) > 1 {
		return "", fmt.Errorf("%w: several Authorization headers", ErrMalformed)
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: not a Bearer token", ErrMissing)
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || len(tok) > maxTokenBytes {
		return "", fmt.Errorf("%w: empty or oversized token", ErrMalformed)
	}
	return tok, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

type callerKey struct{}

// WithCaller returns a context carrying c, for routers that call Verify
// themselves instead of using Middleware.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the authenticated caller put in ctx by Middleware (or
// WithCaller), and whether there is one.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// unavailableBody answers a call whose token could not be checked against
// the shared replay store (503).
const unavailableBody = `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient","diagnostics":"service unavailable, retry"}]}`

// unauthorizedBody is the generic answer to every authentication failure:
// clients learn nothing about why.
const unauthorizedBody = `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login","diagnostics":"authentication required"}]}`

// WriteUnauthorized answers 401 with "WWW-Authenticate: Bearer" and a generic
// OperationOutcome, the same for every failure reason.
func WriteUnauthorized(w http.ResponseWriter) {
	h := w.Header()
	h.Set("WWW-Authenticate", "Bearer")
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, unauthorizedBody)
}

// Middleware verifies every request; a failure is answered by
// WriteUnauthorized, a success reaches next with the [Caller] in its context
// (see CallerFrom).
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := v.Verify(r.Context(), r)
		if errors.Is(err, ErrReplayUnavailable) {
			// Neither the caller's fault nor a verdict on the token.
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			h.Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, unavailableBody)
			return
		}
		if err != nil {
			WriteUnauthorized(w)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
	})
}

// registeredClaims are the RFC 7519 claim names the verifier reads.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// clipClaim keeps a client's claim name short in an error.
func clipClaim(s string) string {
	if len(s) > 32 {
		return s[:32]
	}
	return s
}

// numericDates refuses a token whose exp, iat or nbf is not a JSON number:
// RFC 7519 section 2 defines NumericDate as a JSON numeric value, and the
// JWT library would also read a string holding digits.
func numericDates(raw string) error {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return ErrMalformed
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	// Claim names are case-sensitive (RFC 7519 section 4), but the JWT
	// library's JSON decoding matches them without regard to case: an
	// "Exp" beside "exp" could stand in for it. Refuse such a payload.
	for k := range claims {
		for _, name := range registeredClaims {
			if k != name && strings.EqualFold(k, name) {
				return fmt.Errorf("%w: claim %q is not the registered claim %q (names are case-sensitive)", ErrMalformed, clipClaim(k), name)
			}
		}
	}
	for _, name := range []string{"exp", "iat", "nbf"} {
		v, ok := claims[name]
		if !ok {
			continue
		}
		if v = bytes.TrimSpace(v); len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
			return fmt.Errorf("%w: %s is not a number (RFC 7519 NumericDate)", ErrMalformed, name)
		}
	}
	return nil
}
