package server

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/logctx"
)

const (
	ctxLogger = "lumbar-mri-cds.logger"
	ctxCaller = "lumbar-mri-cds.caller"
)

// requestID gives every request an id (X-Request-ID, taken from the client
// when it is a sane token) and a logger that carries it.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if len(id) == 0 || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Header("X-Request-ID", id)
	c.Request = c.Request.WithContext(logctx.With(c.Request.Context(), slog.String("request_id", id)))
	c.Set(ctxLogger, s.log.With(slog.String("request_id", id)))
	c.Next()
}

// logger returns the request's logger.
func logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(ctxLogger); ok {
		return l.(*slog.Logger)
	}
	return slog.Default()
}

// loopbackOnly is the development guard (Config.LoopbackHostsOnly): 403
// for a Host that is not loopback, and for an Origin CORS does not allow.
func (s *Server) loopbackOnly(c *gin.Context) {
	if !s.cfg.LoopbackHostsOnly {
		c.Next()
		return
	}
	host := c.Request.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	a, err := netip.ParseAddr(host)
	loopback := host == "localhost" || (err == nil && a.IsLoopback()) || (host != "" && host == s.baseHost)
	reason := ""
	if !loopback {
		reason = "host"
	} else if origin := c.GetHeader("Origin"); origin != "" && !s.allowedOrigin(origin) {
		reason = "origin"
	}
	if reason != "" {
		// The reason only: Host and Origin are the caller's text.
		logger(c).Warn("development guard refused a request", slog.String("reason", reason))
		s.counted(RefusedForeignHost)
		s.fail(c, ErrForeignHost)
		return
	}
	c.Next()
}

// cors answers preflights before authentication and rate limiting (204) and
// puts CORS headers on every response, errors included (DECISIONS.md,
// "CORS"). "*" allows any origin without credentials.
func (s *Server) cors(c *gin.Context) {
	origin := c.GetHeader("Origin")
	if origin != "" && s.allowedOrigin(origin) {
		if s.anyOrigin {
			c.Header("Access-Control-Allow-Origin", "*")
		} else {
			c.Header("Access-Control-Allow-Origin", origin)
			c.Header("Vary", "Origin")
		}
		c.Header("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, WWW-Authenticate")
	}
	if c.Request.Method == http.MethodOptions {
		if origin != "" && s.allowedOrigin(origin) {
			c.Header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			c.Header("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID")
			c.Header("Access-Control-Max-Age", "600")
		}
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}

func (s *Server) allowedOrigin(origin string) bool {
	if s.anyOrigin {
		return true
	}
	if _, ok := s.origins[origin]; ok {
		return true
	}
	return s.cfg.CORSLoopback && loopbackOrigin(origin)
}

// loopbackOrigin reports whether origin is http(s) on a loopback host.
func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || u.User != nil {
		return false
	}
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// authenticate wraps the net/http verifier middleware for gin. A nil
// Authenticate means development mode: the Authorization header is ignored.
func (s *Server) authenticate(c *gin.Context) {
	if s.cfg.Authenticate == nil {
		c.Next()
		return
	}
	passed := false
	s.cfg.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		passed = true
		c.Request = r
		if s.cfg.CallerOf != nil {
			c.Set(ctxCaller, s.cfg.CallerOf(r))
		}
	})).ServeHTTP(c.Writer, c.Request)
	if !passed {
		reason := RefusedUnauthenticated
		if c.Writer.Status() >= http.StatusInternalServerError {
			// Not the client's fault: the verifier could not check the
			// token (the gate spends no budget on it either).
			reason = RefusedAuthUnavailable
		}
		s.counted(reason)
		c.Abort()
		return
	}
	c.Next()
}

// caller returns the authenticated client's issuer, or "".
func caller(c *gin.Context) string {
	if v, ok := c.Get(ctxCaller); ok {
		return v.(string)
	}
	return ""
}

// limiter is a token bucket per client: the verified issuer, else the
// remote address. Idle buckets are swept so memory stays bounded.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[string]*bucket
	last    time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: perSecond, burst: float64(burst), buckets: map[string]*bucket{}}
}

// allow takes a token for key; when none is left it says how long to wait.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	return l.take(key, 1, now)
}

// take takes n tokens for key, all or none; when they are not there it says
// how long to wait for them (n above the burst takes what the burst holds:
// a request is never refused forever).
func (l *limiter) take(key string, n float64, now time.Time) (bool, time.Duration) {
	n = min(n, l.burst)
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.at) > time.Minute {
				delete(l.buckets, k)
			}
		}
		l.last = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= n {
		b.tokens -= n
		return true, 0
	}
	return false, time.Duration((n - b.tokens) / l.rate * float64(time.Second))
}

// spend takes n more calls from the client's rate (a request that costs
// more than one call); when they are not there it answers 429 and reports
// false.
func (s *Server) spend(c *gin.Context, n int) bool {
	if s.limiter == nil {
		return true
	}
	ok, wait := s.limiter.take(s.rateKey(c), float64(n), time.Now())
	if !ok {
		s.refuse(c, RefusedRateLimited, wait)
	}
	return ok
}

// rateKey is the client a rate is kept for: the verified issuer, else the
// remote address.
func (s *Server) rateKey(c *gin.Context) string {
	if key := caller(c); key != "" {
		return key
	}
	return c.ClientIP()
}

func (s *Server) rateLimit(c *gin.Context) {
	if s.limiter == nil {
		c.Next()
		return
	}
	ok, wait := s.limiter.allow(s.rateKey(c), time.Now())
	if !ok {
		s.releaseToken(c)
		s.refuse(c, RefusedRateLimited, wait)
		return
	}
	c.Next()
}

// releaseToken gives back the token id of a verified request refused before
// it was served (Config.ReleaseToken).
func (s *Server) releaseToken(c *gin.Context) {
	if s.cfg.ReleaseToken != nil && caller(c) != "" {
		s.cfg.ReleaseToken(c.Request)
	}
}

// adminOnly checks the admin bearer token in constant time; without a
// configured token the admin routes are off. The token is read from the
// Authorization header only: a token in the URL would end up in browser
// history and proxy logs. Failures spend the address's budget (gate).
func (s *Server) adminOnly(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	want := s.cfg.AdminToken
	if want == "" {
		s.fail(c, ErrReportOff)
		return
	}
	scheme, got, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) != 1 {
		s.counted(RefusedAdminToken)
		c.Header("WWW-Authenticate", "Bearer")
		c.Header("Content-Type", "application/json")
		c.AbortWithStatusJSON(http.StatusUnauthorized, outcome("login", "admin token required"))
		return
	}
	c.Next()
}

// bufferedWriter holds the response until the audit row is committed, so a
// call that was answered is never missing from the audit trail.
type bufferedWriter struct {
	gin.ResponseWriter
	buf    bytes.Buffer
	status int
}

// Write keeps b; the first write sizes the buffer to it (an answer is
// usually written at once), instead of growing it step by step.
func (w *bufferedWriter) Write(b []byte) (int, error) {
	if w.buf.Cap() == 0 {
		w.buf.Grow(len(b))
	}
	return w.buf.Write(b)
}

func (w *bufferedWriter) WriteString(s string) (int, error) { return w.buf.WriteString(s) }
func (w *bufferedWriter) WriteHeader(code int)              { w.status = code }
func (w *bufferedWriter) WriteHeaderNow()                   {}
func (w *bufferedWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
func (w *bufferedWriter) Size() int     { return w.buf.Len() }
func (w *bufferedWriter) Written() bool { return w.status != 0 || w.buf.Len() > 0 }

// Unwrap gives http.ResponseController the connection (read deadlines).
func (w *bufferedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
