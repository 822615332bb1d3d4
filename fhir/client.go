package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxRedirects bounds same-origin redirects; FHIR servers rarely redirect at all.
const maxRedirects = 5

// Client is a FHIR R4 REST client bound to one server base URL and, optionally,
// one bearer token. It sends the token only to the base URL's origin (scheme,
// host and port): cross-origin redirects and `next` links are refused, because
// the token is the EHR user's and CDS Hooks scopes it to fhirServer alone.
//
// A Client is cheap; make one per CDS Hooks call with Loader.Client. It shares
// the Loader's connection pool and concurrency cap. Safe for concurrent use.
type Client struct {
	base   *url.URL
	token  string
	hc     http.Client
	lim    limits
	slots  *slots
	logger *slog.Logger
	// observe, when set, is told of every request: resource type, result, latency.
	observe func(resourceType, result string, d time.Duration)

	queries atomic.Int64
	// bytes, when set, is the call's budget of response bytes across all
	// searches and pages (LoaderConfig.MaxCallBytes).
	bytes *budget
}

// limits are the per-search caps a Client enforces.
type limits struct {
	maxPages     int
	maxResources int
	maxBodyBytes int64
}

// newClient checks base and wires the redirect policy. transport is shared.
func newClient(base, token string, proto *http.Client, lim limits, allowed []string, policy AddressPolicy, slots *slots, logger *slog.Logger) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil {
		return nil, fmt.Errorf("fhirServer is not a URL: %w", ErrNotAllowed)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("fhirServer scheme %q: %w", u.Scheme, ErrNotAllowed)
	}
	if u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("fhirServer without host or with userinfo: %w", ErrNotAllowed)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("fhirServer with query or fragment: %w", ErrNotAllowed)
	}
	if !hostAllowed(u, allowed) {
		return nil, fmt.Errorf("fhirServer host %q not in the allow-list: %w", u.Hostname(), ErrNotAllowed)
	}
	// Without an allow-list, a secured service speaks TLS only: the access
	// token must not cross the network in clear text to a host nobody listed.
	if len(allowed) == 0 && policy == PublicOnly && u.Scheme != "https" {
		return nil, fmt.Errorf("fhirServer over plain http to a host not in the allow-list: %w", ErrNotAllowed)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	c := &Client{base: u, token: token, lim: lim, slots: slots, logger: logger}
	if proto != nil {
		c.hc = *proto
	}
	c.hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("%d redirects: %w", len(via), ErrUnavailable)
		}
		// Go re-sends a hand-set Authorization header to another port of the
		// same host, so the origin check has to be ours.
		if !sameOrigin(req.URL, c.base) {
			return fmt.Errorf("redirect: %w", ErrForeignOrigin)
		}
		return nil
	}
	return c, nil
}

// hostAllowed reports whether u's host is in the allow-list (empty = any).
// An entry is a host, which allows every port, or host:port, which allows
// that port only (the scheme's default port when the URL names none).
func hostAllowed(u *url.URL, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, a := range allowed {
		host, port := splitAllowEntry(a)
		if strings.EqualFold(host, u.Hostname()) && (port == "" || port == effectivePort(u)) {
			return true
		}
	}
	return false
}

// sameOrigin compares scheme, host and effective port (RFC 6454).
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// Base returns the server base URL (no trailing slash).
func (c *Client) Base() string { return c.base.String() }

// Queries returns how many HTTP requests this Client has sent.
func (c *Client) Queries() int { return int(c.queries.Load()) }

// Fetch GETs rel, a read ("Patient/123") or a search ("Condition?patient=123"),
// relative to the base URL. It returns the resource read, or every entry
// resource of the searchset across its pages. A search that cannot be read to
// its end (limits, loops, foreign links, errors) fails as a whole.
//
// The query of rel is written as FHIR writes searches
// ("code=http://loinc.org|8310-5"); Fetch percent-encodes each name and
// value, so the server decodes the same parameters.
func (c *Client) Fetch(ctx context.Context, rel string) ([]json.RawMessage, error) {
	path, query, _ := strings.Cut(strings.TrimLeft(rel, "/"), "?")
	u, err := url.Parse(c.base.String() + "/" + path)
	if err != nil {
		return nil, fmt.Errorf("%s: bad query: %w", typeOf(rel), ErrMalformed)
	}
	if u.RawQuery, err = encodeQuery(query); err != nil {
		return nil, fmt.Errorf("%s: bad query: %w", typeOf(rel), ErrMalformed)
	}
	return c.collect(ctx, u, true)
}

// encodeQuery percent-encodes each name and value of a search query, keeping
// the parameters in their order. RFC 3986 section 3.4: a query holds only
// pchar, "/" and "?", so "|" (FHIR's system|code separator) must be sent as
// %7C; servers on Tomcat 8.5+ answer 400 to a raw "|". A value that is
// already percent-encoded is decoded first, so encoding never doubles.
func encodeQuery(raw string) (string, error) {
	var b strings.Builder
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, hasValue := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return "", err
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return "", err
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(name))
		if hasValue {
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(value))
		}
	}
	return b.String(), nil
}

// FetchURL continues a search from an absolute `next` link, for example one
// found in a prefetch searchset, and returns the entry resources of that page
// and the pages after it. The link must be on the base URL's origin.
func (c *Client) FetchURL(ctx context.Context, next string) ([]json.RawMessage, error) {
	u, err := c.base.Parse(next)
	if err != nil {
		return nil, fmt.Errorf("next link: %w", ErrMalformed)
	}
	return c.collect(ctx, u, false)
}

// collect fetches u and follows `next` links. readOK allows the first answer to
// be a single resource (a read) instead of a Bundle.
func (c *Client) collect(ctx context.Context, u *url.URL, readOK bool) ([]json.RawMessage, error) {
	what := c.typeOfURL(u)
	seen := map[string]bool{}
	var out []json.RawMessage
	for page := 1; ; page++ {
		if page > c.lim.maxPages {
			return nil, fmt.Errorf("%s: more than %d pages: %w", what, c.lim.maxPages, ErrTooLarge)
		}
		if !sameOrigin(u, c.base) {
			return nil, fmt.Errorf("%s: page %d: %w", what, page, ErrForeignOrigin)
		}
		key := u.String()
		if seen[key] {
			return nil, fmt.Errorf("%s: page %d repeats an earlier page: %w", what, page, ErrPagingLoop)
		}
		seen[key] = true
		body, env, err := c.get(ctx, u, what)
		if err != nil {
			return nil, err
		}
		if env.ResourceType != "Bundle" {
			if page == 1 && readOK {
				return []json.RawMessage{body}, nil
			}
			return nil, fmt.Errorf("%s: page %d is a %s, not a Bundle: %w", what, page, clipType(env.ResourceType), ErrBadResponse)
		}
		if env.Type != "searchset" && env.Type != "collection" {
			return nil, fmt.Errorf("%s: Bundle of type %s: %w", what, clipType(env.Type), ErrBadResponse)
		}
		for _, e := range env.Entry {
			if len(e.Resource) > 0 {
				out = append(out, e.Resource)
			}
		}
		if len(out) > c.lim.maxResources {
			return nil, fmt.Errorf("%s: more than %d resources: %w", what, c.lim.maxResources, ErrTooLarge)
		}
		next := env.next()
		if next == "" {
			return out, nil
		}
		nu, err := u.Parse(next)
		if err != nil {
			return nil, fmt.Errorf("%s: unparsable next link: %w", what, ErrBadResponse)
		}
		u = nu
	}
}

// get sends one GET and returns the body and its Bundle envelope. Every
// failure mode of a FHIR server maps to one of this package's sentinels, and
// no message carries the URL (its query names the patient) or the token.
func (c *Client) get(ctx context.Context, u *url.URL, what string) (body []byte, env *envelope, err error) {
	if c.observe != nil {
		start := time.Now()
		defer func() { c.observe(c.resourceOf(u), resultOf(err), time.Since(start)) }()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, ErrMalformed)
	}
	req.Header.Set("Accept", "application/fhir+json")
	body, status, err := c.do(req, what)
	if err != nil {
		return nil, nil, err
	}
	env, err = parseEnvelope(body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: status %d: %v: %w", what, status, err, ErrBadResponse)
	}
	if env.ResourceType == "OperationOutcome" {
		return nil, nil, fmt.Errorf("%s: status %d: OperationOutcome: %w", what, status, ErrBadResponse)
	}
	return body, env, nil
}

// send sends req under the outbound slots with the token and returns the
// response once its status is a success; the caller closes its body. A
// failed status's body is drained a little and closed here.
func (c *Client) send(req *http.Request, what string) (*http.Response, error) {
	return c.sendKeeping(req, what, false)
}

// sendKeeping is send; with outcome set, a failed status's OperationOutcome
// text is kept on the error for OutcomeText. Only Transaction (the seed
// command's call) sets it: on service calls the server's text may carry
// patient data into logs, so it is never read there.
func (c *Client) sendKeeping(req *http.Request, what string, outcome bool) (*http.Response, error) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	c.queries.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error repeats the full URL, patient id included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, ErrForeignOrigin) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotAllowed) {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return nil, fmt.Errorf("%s: %v: %w", what, err, ErrUnavailable)
	}
	if err := statusError(resp.StatusCode, what); err != nil {
		if ct := resp.Header.Get("Content-Type"); outcome && (ct == "" || isJSONType(ct)) {
			err = withOutcome(err, resp.Body)
		}
		// Drain a little so a short error body does not cost the connection.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
		return resp, err
	}
	return resp, nil
}

// slot takes an outbound slot for the client's host and the calling
// client; release gives it back.
func (c *Client) slot(ctx context.Context, what string) (release func(), err error) {
	if c.slots == nil {
		return func() {}, nil
	}
	release, err = c.slots.acquire(ctx, strings.ToLower(c.base.Host), clientOf(ctx))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return release, nil
}

// do sends req under the concurrency cap, checks status and content type and
// reads at most maxBodyBytes of the body.
func (c *Client) do(req *http.Request, what string) ([]byte, int, error) {
	return c.doKeeping(req, what, false)
}

// doKeeping is do; outcome is as for sendKeeping.
func (c *Client) doKeeping(req *http.Request, what string, outcome bool) ([]byte, int, error) {
	release, err := c.slot(req.Context(), what)
	if err != nil {
		return nil, 0, err
	}
	defer release()
	resp, err := c.sendKeeping(req, what, outcome)
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode, err
		}
		return nil, 0, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" && !isJSONType(ct) {
		return nil, resp.StatusCode, fmt.Errorf("%s: status %d: content type %s: %w", what, resp.StatusCode, clipType(mediaType(ct)), ErrBadResponse)
	}
	limit := c.lim.maxBodyBytes
	if c.bytes != nil {
		limit = min(limit, c.bytes.remaining())
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("%s: reading body: %v: %w", what, err, ErrUnavailable)
	}
	if int64(len(body)) > c.lim.maxBodyBytes {
		return nil, resp.StatusCode, fmt.Errorf("%s: body over %d bytes: %w", what, c.lim.maxBodyBytes, ErrTooLarge)
	}
	if c.bytes != nil && !c.bytes.take(int64(len(body))) {
		return nil, resp.StatusCode, fmt.Errorf("%s: the call's FHIR responses over %d bytes: %w", what, c.bytes.limit, ErrTooLarge)
	}
	return body, resp.StatusCode, nil
}

// resourceOf names the resource type a request is about (a metrics label:
// never the id or the query).
func (c *Client) resourceOf(u *url.URL) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(u.Path, strings.TrimRight(c.base.Path, "/")), "/")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	for _, q := range Searches {
		if q.ResourceType == rest {
			return rest
		}
	}
	return "other"
}

// resultOf classifies a request's outcome for metrics.
func resultOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, ErrNotFound):
		return "not-found"
	case errors.Is(err, ErrTooLarge):
		return "too-large"
	case errors.Is(err, ErrForeignOrigin):
		return "foreign-origin"
	case errors.Is(err, ErrNotAllowed):
		return "not-allowed"
	case errors.Is(err, ErrBadResponse):
		return "bad-response"
	default:
		return "unavailable"
	}
}

// statusError maps a non-2xx status to a sentinel.
func statusError(code int, what string) error {
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%s: status %d: %w", what, code, ErrUnauthorized)
	case code == http.StatusNotFound || code == http.StatusGone:
		return fmt.Errorf("%s: status %d: %w", what, code, ErrNotFound)
	case code == http.StatusTooManyRequests || code >= 500:
		return fmt.Errorf("%s: status %d: %w", what, code, ErrUnavailable)
	default:
		return fmt.Errorf("%s: status %d: %w", what, code, ErrBadResponse)
	}
}

// isJSONType accepts application/fhir+json, application/json and the DSTU2
// era application/json+fhir that some servers still send.
func isJSONType(ct string) bool {
	mt := mediaType(ct)
	return mt == "application/fhir+json" || mt == "application/json" || mt == "application/json+fhir"
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "invalid"
	}
	return mt
}

// envelope is the part of a FHIR response the client needs. It is decoded
// with encoding/json, not samply, so that an unknown code in one entry cannot
// fail the page; entries are decoded one by one later.
type envelope struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Type         string `json:"type"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
	// over marks a walk stopped at its entry cap (walkEnvelope); nothing
	// else is set then.
	over bool
}

// next returns the `next` link, or "".
func (e *envelope) next() string {
	for _, l := range e.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

// parseEnvelope decodes a FHIR JSON object. It fails on anything that is not
// one object with a resourceType (arrays, null, HTML, truncated JSON).
func parseEnvelope(body []byte) (*envelope, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var env envelope
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return nil, errors.New("invalid JSON")
	}
	if env.ResourceType == "" {
		return nil, errors.New("no resourceType")
	}
	return &env, nil
}

// typeOfURL names the resource type a URL is about, for logs and errors.
func (c *Client) typeOfURL(u *url.URL) string {
	p := strings.TrimPrefix(u.Path, c.base.Path)
	return typeOf(p)
}

// typeOf returns the first path segment of rel ("Condition?patient=1" ->
// "Condition"): the only part of a query that is safe to log.
func typeOf(rel string) string {
	rel = strings.TrimLeft(rel, "/")
	if i := strings.IndexAny(rel, "/?"); i >= 0 {
		rel = rel[:i]
	}
	return clipType(rel)
}

// clipType keeps a server-chosen string short and printable before it goes
// into an error or a log line.
func clipType(s string) string {
	const max = 40
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			break
		}
		if r < 0x20 || r == 0x7f {
			r = '?'
		}
		b.WriteRune(r)
	}
	if b.Len() == 0 {
		return "(none)"
	}
	return b.String()
}

// Transaction POSTs a transaction Bundle to the base URL and fails unless the
// server answers with a transaction-response whose entries all succeeded.
// The error of a refusal keeps the server's OperationOutcome text, out of
// its message, for OutcomeText.
func (c *Client) Transaction(ctx context.Context, bundle []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String(), bytes.NewReader(bundle))
	if err != nil {
		return fmt.Errorf("transaction: %w", ErrMalformed)
	}
	req.Header.Set("Accept", "application/fhir+json")
	req.Header.Set("Content-Type", "application/fhir+json")
	// Transaction serves the seed command, run by an operator on test
	// data: a refusal keeps the server's OperationOutcome text (OutcomeText).
	body, status, err := c.doKeeping(req, "transaction", true)
	if err != nil {
		return err
	}
	var resp struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			Response struct {
				Status  string          `json:"status"`
				Outcome json.RawMessage `json:"outcome"`
			} `json:"response"`
		} `json:"entry"`
	}
	if json.Unmarshal(body, &resp) != nil || resp.ResourceType != "Bundle" || resp.Type != "transaction-response" {
		err := fmt.Errorf("transaction: status %d: not a transaction-response: %w", status, ErrBadResponse)
		return keepOutcome(err, body)
	}
	for i, e := range resp.Entry {
		if !strings.HasPrefix(strings.TrimSpace(e.Response.Status), "2") {
			err := fmt.Errorf("transaction: entry %d: status %s: %w", i, clipType(e.Response.Status), ErrBadResponse)
			return keepOutcome(err, e.Response.Outcome)
		}
	}
	return nil
}

// maxOutcomeBytes bounds the error body read for its OperationOutcome, and
// maxOutcomeRunes the text kept from it.
const (
	maxOutcomeBytes = 64 << 10
	maxOutcomeRunes = 500
)

// outcomeError is an error with the text of the OperationOutcome the server
// answered. Error() leaves the text out: only a caller that asks for it
// with OutcomeText shows it.
type outcomeError struct {
	err  error
	text string
}

func (e *outcomeError) Error() string { return e.err.Error() }
func (e *outcomeError) Unwrap() error { return e.err }

// OutcomeText returns the issue diagnostics (or details text) of the
// OperationOutcome a FHIR server answered when it refused a Transaction,
// joined, with control characters removed and at most a few hundred
// characters; "" when there is none. Service calls never keep this text:
// it may carry patient data, so it is only for operator commands.
func OutcomeText(err error) string {
	var oe *outcomeError
	if errors.As(err, &oe) {
		return oe.text
	}
	return ""
}

// withOutcome reads a bounded error body and keeps its OperationOutcome text.
func withOutcome(err error, body io.Reader) error {
	b, _ := io.ReadAll(io.LimitReader(body, maxOutcomeBytes))
	return keepOutcome(err, b)
}

// keepOutcome wraps err with the text of the OperationOutcome in raw, when
// raw is one with any text.
func keepOutcome(err error, raw []byte) error {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Diagnostics string `json:"diagnostics"`
			Details     struct {
				Text string `json:"text"`
			} `json:"details"`
		} `json:"issue"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &oo) != nil || oo.ResourceType != "OperationOutcome" {
		return err
	}
	var parts []string
	for _, is := range oo.Issue {
		for _, t := range []string{is.Diagnostics, is.Details.Text} {
			if t = Printable(t); t != "" && !slices.Contains(parts, t) {
				parts = append(parts, t)
			}
		}
	}
	if len(parts) == 0 {
		return err
	}
	text := strings.Join(parts, "; ")
	if r := []rune(text); len(r) > maxOutcomeRunes {
		text = string(r[:maxOutcomeRunes-1]) + "…"
	}
	return &outcomeError{err: err, text: text}
}

// Printable is a server's text on one line: control characters (line
// breaks, tabs, escape sequences), bidirectional overrides and invalid
// UTF-8 become spaces, and runs of spaces one, so that the text cannot
// rewrite the operator's terminal.
func Printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsControl(r), r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == utf8.RuneError:
			b.WriteRune(' ')
		default:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
