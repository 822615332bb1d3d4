package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// Reasons of calls refused before the service runs; they label the refused
// counts in the audit store and the metrics (a bounded set).
const (
	RefusedUnauthenticated = "unauthenticated"       // 401: CDS client token missing or invalid
	RefusedAuthThrottled   = "auth-throttled"        // 429: the address spent its failed-authentication budget
	RefusedRateLimited     = "rate-limited"          // 429: the client is over --rate-limit
	RefusedAdminToken      = "admin-unauthenticated" // 401: wrong or missing admin token
	RefusedAuthUnavailable = "auth-unavailable"      // 503: the token could not be checked (the shared replay store is down)
	RefusedForeignHost     = "foreign-host"          // 403: development guard (a Host that is not loopback, or a foreign Origin)
)

// DefaultAuthFailures is the default failed-authentication budget of one
// remote address per minute (--auth-failure-limit).
const DefaultAuthFailures = 30

// maxGateEntries bounds the addresses the failure gate remembers; addresses
// whose budget is whole again are forgotten first.
const maxGateEntries = 100_000

// failureGate limits failed authentications per remote address, before any
// token is verified: each failure spends one unit of a budget of perMinute,
// which refills continuously; an address with nothing left is answered 429
// without verification. Successful calls spend nothing, so an EHR behind
// NAT that authenticates is not slowed by it.
type failureGate struct {
	mu        sync.Mutex
	perMinute float64
	buckets   map[netip.Prefix]*bucket
}

func newFailureGate(perMinute int) *failureGate {
	return &failureGate{perMinute: float64(perMinute), buckets: map[netip.Prefix]*bucket{}}
}

// ParseTrustedProxies checks a list of proxy addresses and CIDR ranges
// ("10.0.0.5", "10.0.0.0/8", "fd00::/8") for Config.TrustedProxies. A
// range wider than /8 (IPv4, IPv4-mapped IPv6 included) or /8 (IPv6) is
// refused: it holds clients, which could then choose the address they are
// counted as.
func ParseTrustedProxies(list []string) error {
	for _, p := range list {
		if pre, err := netip.ParsePrefix(p); err == nil {
			bits := pre.Bits()
			if pre.Addr().Is4In6() {
				bits -= 96 // ::ffff:a.b.c.d/n covers IPv4 peers as a.b.c.d/(n-96)
			}
			if bits < 8 {
				return fmt.Errorf("trusted proxy %q trusts a range wider than /8: a client in it could choose the address it is counted as", p)
			}
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			return fmt.Errorf("trusted proxy %q is neither an IP address nor a CIDR range", p)
		}
	}
	return nil
}

// gateKey is the address a budget belongs to ("host:port" or "host"): the
// IPv4 address, or the /64 of an IPv6 one (one host usually holds a whole
// /64).
func gateKey(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// refill brings b up to now.
func (g *failureGate) refill(b *bucket, now time.Time) {
	b.tokens = math.Min(g.perMinute, b.tokens+now.Sub(b.at).Minutes()*g.perMinute)
	b.at = now
}

// blocked reports whether key has no budget left, and for how long.
func (g *failureGate) blocked(key netip.Prefix, now time.Time) (bool, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.buckets[key]
	if !ok {
		return false, 0
	}
	g.refill(b, now)
	if b.tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - b.tokens) / g.perMinute * float64(time.Minute))
}

// fail spends one unit of key's budget.
func (g *failureGate) fail(key netip.Prefix, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.buckets[key]
	if !ok {
		if len(g.buckets) >= maxGateEntries {
			g.sweep(now)
		}
		b = &bucket{tokens: g.perMinute, at: now}
		g.buckets[key] = b
	}
	g.refill(b, now)
	b.tokens = math.Max(0, b.tokens-1)
}

// sweep forgets addresses whose budget is whole again (the same as never
// seen); when every address is still spending (an attacker with that many
// addresses), it forgets those idle for 30 s, then others in map order until
// half the room is free: some of them get a fresh budget, no one is locked
// out, and memory stays bounded.
func (g *failureGate) sweep(now time.Time) {
	for k, b := range g.buckets {
		g.refill(b, now)
		if b.tokens >= g.perMinute {
			delete(g.buckets, k)
		}
	}
	if len(g.buckets) < maxGateEntries {
		return
	}
	cut := now.Add(-30 * time.Second)
	for k, b := range g.buckets {
		if b.at.Before(cut) || len(g.buckets) > maxGateEntries/2 {
			delete(g.buckets, k)
		}
	}
}

// gate answers 429 before authentication when the caller's address has
// spent its failed-authentication budget, and spends budget on every
// authentication the request then fails (401).
func (s *Server) gate(c *gin.Context) {
	if s.failures == nil {
		c.Next()
		return
	}
	key := gateKey(c.ClientIP())
	now := time.Now()
	if blocked, wait := s.failures.blocked(key, now); blocked {
		s.refuse(c, RefusedAuthThrottled, wait)
		return
	}
	c.Next()
	if c.Writer.Status() == http.StatusUnauthorized {
		s.failures.fail(key, now)
	}
}

// refuse answers 429 with Retry-After and counts the refusal.
func (s *Server) refuse(c *gin.Context, reason string, wait time.Duration) {
	s.counted(reason)
	c.Header("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	c.Header("Content-Type", "application/json")
	c.AbortWithStatusJSON(http.StatusTooManyRequests, outcome("throttled", "too many requests: retry later"))
}

// counted records a refusal: in the store's counts and the metrics.
func (s *Server) counted(reason string) {
	s.refused.add(reason, time.Now())
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.refused.WithLabelValues(reason).Inc()
	}
}

// refusalFlushEvery is how long a refusal count waits in memory before it
// is written: a flood of refused calls costs one write per reason and minute
// every few seconds.
const refusalFlushEvery = 5 * time.Second

// refusalCounter adds up refused calls per reason and minute in memory and
// writes the sums to the store within refusalFlushEvery of the first count
// not yet written (and at FlushRefused), so that refused calls never cost a
// durable write each.
type refusalCounter struct {
	// flushing serialises flushes, so that when FlushRefused returns every
	// count added before it is in the store (or kept after an error).
	flushing  sync.Mutex
	mu        sync.Mutex
	counts    map[refusalKey]int
	scheduled bool
	// every is refusalFlushEvery (shorter in tests).
	every time.Duration
	store Store
	log   *slog.Logger
}

type refusalKey struct {
	reason string
	minute time.Time
}

func (r *refusalCounter) add(reason string, now time.Time) {
	if r.store == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[refusalKey{reason, now.UTC().Truncate(time.Minute)}]++
	if r.scheduled {
		return
	}
	r.scheduled = true
	time.AfterFunc(r.every, func() {
		r.mu.Lock()
		r.scheduled = false
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.flush(ctx)
	})
}

// flush writes the counts gathered so far; counts that fail to write are
// kept for the next flush.
func (r *refusalCounter) flush(ctx context.Context) error {
	if r.store == nil {
		return nil
	}
	r.flushing.Lock()
	defer r.flushing.Unlock()
	r.mu.Lock()
	counts := r.counts
	r.counts = map[refusalKey]int{}
	r.mu.Unlock()
	var first error
	for k, n := range counts {
		if err := r.store.CountRefused(ctx, k.reason, k.minute, n); err != nil {
			if first == nil {
				first = err
				r.log.Warn("refused-call counts not written", slog.String("error", err.Error()))
			}
			r.mu.Lock()
			r.counts[k] += n
			r.mu.Unlock()
		}
	}
	return first
}

// FlushRefused writes the refused-call counts not yet in the store (at
// shutdown, and in tests).
func (s *Server) FlushRefused(ctx context.Context) error { return s.refused.flush(ctx) }
