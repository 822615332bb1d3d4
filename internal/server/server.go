package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/cards"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/report"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/store"
)

// DefaultMaxBodyBytes is the documented request body limit (README): 5 MiB
// holds a prefetch of several thousand resources.
const DefaultMaxBodyBytes = 5 << 20

// DefaultBodyTimeout is how long a client may take to send its body.
const DefaultBodyTimeout = 10 * time.Second

// Store is what the server needs from the audit and feedback database
// (internal/store satisfies it; a server database can replace it).
type Store interface {
	RecordCall(ctx context.Context, c store.Call) error
	RecordFeedback(ctx context.Context, serviceID string, items []hooks.FeedbackItem) error
	Report(ctx context.Context, from, to time.Time) (*report.Report, error)
	Writable(ctx context.Context) error
	// CountRefused adds n calls refused for reason (401, 429: decided before
	// the service ran) in the UTC minute containing minute; Refused sums
	// them per reason over [from, to).
	CountRefused(ctx context.Context, reason string, minute time.Time, n int) error
	Refused(ctx context.Context, from, to time.Time) ([]store.Refusal, error)
}

// MinAdminTokenLength is the shortest admin token accepted: 32 characters
// of a random token are beyond guessing even without the failure budget.
const MinAdminTokenLength = 32

// ReplayFill is how full one issuer's share of the token replay cache is.
type ReplayFill struct {
	Issuer            string
	Entries, Capacity int
}

// Config wires a Server.
type Config struct {
	Pipeline *Pipeline
	// BaseURL is the public URL of the service, without a trailing slash.
	BaseURL      string
	Logger       *slog.Logger
	MaxBodyBytes int64
	// TrustedProxies are the addresses or CIDR ranges of the reverse
	// proxies in front of the service (ParseTrustedProxies checks them).
	// A request from one of them is attributed to the client its
	// X-Forwarded-For header names, read from the right past the trusted
	// hops (X-Real-IP is not read: a proxy passes a client's own on); from any other peer those headers are
	// ignored, so a client cannot pick the address its failures are
	// counted against. Empty: the TCP peer is the client.
	TrustedProxies []string
	// DecodeBudget is the total size in bytes of the request bodies decoded
	// at once (each call is charged its Content-Length, or MaxBodyBytes when
	// it announces none); a call that does not fit is answered 503 with
	// Retry-After. Zero means DefaultDecodeBudget.
	DecodeBudget int64
	// Questionnaires maps an id to the Questionnaire JSON served at
	// GET /fhir/Questionnaire/{id}.
	Questionnaires map[string]json.RawMessage
	// Store keeps the audit trail and feedback; nil keeps nothing (evaluate, tests).
	Store Store
	// Authenticate is the CDS client verification middleware; nil is
	// development mode (the Authorization header is ignored).
	Authenticate func(http.Handler) http.Handler
	// CallerOf returns the verified issuer of an authenticated request.
	CallerOf func(*http.Request) string
	// ReleaseToken, when set, forgets the token id of an authenticated
	// request that was then refused before it was served (429 over the
	// rate limit, 503 over the decode budget): the client may retry with
	// the same token, as Retry-After invites, and is not told "replayed".
	ReleaseToken func(*http.Request)
	// OpenDiscovery serves discovery without authentication.
	OpenDiscovery bool
	// CORSOrigins are the allowed browser origins; "*" allows any.
	CORSOrigins []string
	// CORSLoopback also allows every loopback origin (http(s)://localhost,
	// 127.0.0.0/8, [::1], any port): the development default.
	CORSLoopback bool
	// LoopbackHostsOnly is the development guard (no trust file, so no
	// token is verified): a request is answered only when its Host is
	// localhost, a loopback address or the base URL's host, so that a web
	// page whose DNS name is rebound to 127.0.0.1 cannot call the service
	// as its own origin (CORS does not apply to a same-origin call); and a
	// request whose Origin CORS does not allow is refused, so that a page
	// cannot send a "simple" cross-origin POST (text/plain, no preflight),
	// which the service would run even though the browser hides its answer.
	LoopbackHostsOnly bool
	// AuthFailuresPerMinute is the failed-authentication budget of one
	// remote address (CDS client tokens and the admin token together): past
	// it, the address is answered 429 before any verification. 0: no budget.
	AuthFailuresPerMinute int
	// ReplayUsage, when set, reports the replay cache's fill per issuer, for
	// /readyz and the metrics.
	ReplayUsage func() []ReplayFill
	// RatePerSecond and RateBurst limit calls per client (0: no limit).
	RatePerSecond float64
	RateBurst     int
	// AdminToken protects /admin/report; empty turns the admin routes off.
	AdminToken string
	// Metrics, when set, is served at /metrics and fed by every call.
	Metrics *Metrics
	// BodyTimeout bounds reading a request body (default 10 s): a client that
	// stalls mid-body gets 408 then, rather than holding a worker until the
	// server's read timeout.
	BodyTimeout time.Duration
	// Ready lists the readiness checks (policy loaded, store writable, trust
	// keys loaded) by name.
	Ready map[string]func(context.Context) error
}

// Server holds the routes and what the handlers need.
type Server struct {
	cfg       Config
	log       *slog.Logger
	engine    *gin.Engine
	draining  atomic.Bool
	anyOrigin bool
	origins   map[string]struct{}
	// baseHost is the base URL's host (lower case, without port), also
	// allowed by LoopbackHostsOnly.
	baseHost string
	limiter  *limiter
	decoding admission
	failures *failureGate
	refused  *refusalCounter
	// discoveryBody is the discovery document, built once: it never changes.
	discoveryBody []byte
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.DecodeBudget <= 0 {
		cfg.DecodeBudget = DefaultDecodeBudget
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, log: cfg.Logger, engine: gin.New(), origins: map[string]struct{}{},
		refused: &refusalCounter{counts: map[refusalKey]int{}, every: refusalFlushEvery, store: cfg.Store, log: cfg.Logger}}
	if u, err := url.Parse(cfg.BaseURL); err == nil {
		s.baseHost = strings.ToLower(u.Hostname())
	}
	if cfg.AuthFailuresPerMinute > 0 {
		s.failures = newFailureGate(cfg.AuthFailuresPerMinute)
	}
	// gin trusts every proxy unless told otherwise; nil trusts none. The
	// list was checked by ParseTrustedProxies; an entry gin refuses leaves
	// no proxy trusted.
	s.engine.RemoteIPHeaders = []string{"X-Forwarded-For"}
	if err := s.engine.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		cfg.Logger.Error("trusted proxies refused; the TCP peer is the client", "error", err)
		_ = s.engine.SetTrustedProxies(nil)
	}
	if cfg.Metrics != nil && cfg.ReplayUsage != nil {
		cfg.Metrics.watchReplay(cfg.ReplayUsage)
	}
	for _, o := range cfg.CORSOrigins {
		if o == "*" {
			s.anyOrigin = true
		}
		s.origins[o] = struct{}{}
	}
	if cfg.RatePerSecond > 0 {
		burst := cfg.RateBurst
		if burst <= 0 {
			burst = int(cfg.RatePerSecond) + 1
		}
		s.limiter = newLimiter(cfg.RatePerSecond, burst)
	}
	s.decoding.limit = cfg.DecodeBudget
	s.discoveryBody, _ = json.Marshal(s.discovery())
	s.routes()
	return s
}

// Pipeline returns the pipeline the service calls run through.
func (s *Server) Pipeline() *Pipeline { return s.cfg.Pipeline }

// Handler returns the http.Handler serving every route. A trailing slash is
// trimmed before routing, so /cds-services/ and /cds-services answer alike
// (a redirect would make clients re-send a POST body, and gin's is empty).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = "/" + strings.Trim(p, "/")
			r.URL.RawPath = ""
		}
		s.engine.ServeHTTP(w, r)
	})
}

// Drain makes the server refuse new service calls (503) while calls in
// flight complete; used at graceful shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

// discovery builds the discovery document (CDS Hooks 2.0 §Discovery).
func (s *Server) discovery() hooks.Discovery {
	prefetch := map[string]string{}
	for _, q := range fhir.Searches {
		prefetch[string(q.Key)] = q.Template
	}
	opts := configurationOptions()
	return hooks.Discovery{Services: []hooks.Service{
		{
			Hook:        hooks.HookOrderSign,
			ID:          ServiceOrderSign,
			Title:       "Lumbar spine MRI prior-authorization documentation check",
			Description: "When a lumbar spine MRI is signed, checks whether the chart documents what the payer requires for prior authorization (a red flag, or at least 6 weeks of conservative therapy, no recent repeat MRI), says what is missing and what to do, and adds Da Vinci CRD coverage information to the order.",
			Prefetch:    prefetch,
			Extension:   map[string]json.RawMessage{"davinci-crd.configuration-options": opts},
		},
		{
			Hook:        hooks.HookOrderSelect,
			ID:          ServiceOrderSelect,
			Title:       "Lumbar spine MRI prior-authorization preview",
			Description: "When a lumbar spine MRI is selected, previews whether the chart supports prior authorization, with the same advice as at signing, as cards only.",
			Prefetch:    prefetch,
			Extension:   map[string]json.RawMessage{"davinci-crd.configuration-options": opts},
		},
	}}
}

// configurationOptions advertises a boolean per card type and max-cards
// (CRD deviations.md, "Configuration options").
func configurationOptions() json.RawMessage {
	type option struct {
		Code        string `json:"code"`
		Type        string `json:"type"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Default     any    `json:"default"`
	}
	var opts []option
	for _, t := range cards.Topics {
		opts = append(opts, option{Code: t.Code, Type: "boolean", Name: t.Name, Description: t.Description, Default: true})
	}
	opts = append(opts, option{Code: "max-cards", Type: "integer", Name: "Maximum cards", Description: "The most cards returned in one response; a critical card (an emergent red flag) is always returned. When the option is not sent, the default also never cuts an order's coverage-information card.", Default: cards.MaxCardsDefault})
	b, _ := json.Marshal(opts)
	return b
}

// readBody reads the request body within the limit and the body deadline.
func (s *Server) readBody(c *gin.Context) ([]byte, error) {
	// A compressed body would read as malformed JSON: say what is wrong.
	if ce := c.Request.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, ErrContentEncoding
	}
	// The connection's read deadline, when the writer reaches the
	// connection (always under net/http; not under httptest.ResponseRecorder).
	rc := http.NewResponseController(c.Writer)
	deadline := rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)) == nil
	r := http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	var b []byte
	var err error
	if n := c.Request.ContentLength; n > 0 && n <= s.cfg.MaxBodyBytes {
		// One allocation of the announced size (bodies are large: a
		// prefetch of hundreds of resources) instead of ReadAll's doublings.
		buf := bytes.NewBuffer(make([]byte, 0, n+bytes.MinRead))
		_, err = buf.ReadFrom(r)
		b = buf.Bytes()
	} else {
		b, err = io.ReadAll(r)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, ErrTooLarge
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		// Close after the answer: net/http would otherwise try to read the
		// rest of the stalled body before writing it.
		c.Header("Connection", "close")
		return nil, ErrBodyTimeout
	}
	if deadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		return nil, hooks.ErrMalformed
	}
	return b, nil
}

// fail writes err as an OperationOutcome with the status from the table.
func (s *Server) fail(c *gin.Context, err error) {
	status, code, msg := statusOf(err)
	if status >= 500 {
		// A full decode budget is the service shedding load as designed:
		// a warning, so a burst of large calls cannot flood the error log.
		level := slog.LevelError
		if errors.Is(err, ErrBusy) {
			level = slog.LevelWarn
		}
		s.log.LogAttrs(c.Request.Context(), level, "request failed", slog.String("error", err.Error()))
	}
	c.Header("Content-Type", "application/json")
	c.AbortWithStatusJSON(status, outcome(code, msg))
}

func (s *Server) handleQuestionnaire(c *gin.Context) {
	q, ok := s.cfg.Questionnaires[c.Param("id")]
	if !ok {
		s.fail(c, ErrNotFound)
		return
	}
	c.Data(http.StatusOK, "application/fhir+json", q)
}
