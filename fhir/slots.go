package fhir

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Defaults of the outbound caps (LoaderConfig).
const (
	DefaultMaxPerHost   = 32
	DefaultMaxPerClient = 16
	DefaultSlotWait     = 250 * time.Millisecond
)

// slots caps outbound FHIR requests in flight: in all, per FHIR server host
// and per calling client, so that one client or one slow server cannot take
// the slots every other call needs. A request that cannot get a slot within
// the wait fails at once with ErrUnavailable; the search is then unavailable
// and the call answers as for any FHIR server that did not answer
// (indeterminate, or 412 when nothing was supplied).
type slots struct {
	mu        sync.Mutex
	free      *sync.Cond
	total     int
	perHost   int
	perClient int
	wait      time.Duration
	inFlight  int
	hosts     map[string]int
	clients   map[string]int
}

func newSlots(total, perHost, perClient int, wait time.Duration) *slots {
	s := &slots{total: total, perHost: perHost, perClient: perClient, wait: wait,
		hosts: map[string]int{}, clients: map[string]int{}}
	s.free = sync.NewCond(&s.mu)
	return s
}

// acquire takes a slot for a request to host on behalf of client, waiting at
// most the slot wait (or until ctx ends). The returned func gives it back.
func (s *slots) acquire(ctx context.Context, host, client string) (func(), error) {
	deadline := time.Now().Add(s.wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// Wake the waiters when the wait ends, so they can give up.
	stop := context.AfterFunc(ctx, s.broadcast)
	defer stop()
	t := time.AfterFunc(time.Until(deadline), s.broadcast)
	defer t.Stop()

	s.mu.Lock()
	defer s.mu.Unlock()
	for s.inFlight >= s.total || s.hosts[host] >= s.perHost || s.clients[client] >= s.perClient {
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return nil, fmt.Errorf("no outbound slot within %v (%s): %w", s.wait, s.full(host, client), ErrUnavailable)
		}
		s.free.Wait()
	}
	s.inFlight++
	s.hosts[host]++
	s.clients[client]++
	return func() { s.release(host, client) }, nil
}

// full names the cap that was reached, for the log.
func (s *slots) full(host, client string) string {
	switch {
	case s.clients[client] >= s.perClient:
		return "per-client cap"
	case s.hosts[host] >= s.perHost:
		return "per-host cap"
	default:
		return "total cap"
	}
}

func (s *slots) release(host, client string) {
	s.mu.Lock()
	s.inFlight--
	if s.hosts[host]--; s.hosts[host] <= 0 {
		delete(s.hosts, host)
	}
	if s.clients[client]--; s.clients[client] <= 0 {
		delete(s.clients, client)
	}
	s.mu.Unlock()
	s.free.Broadcast()
}

func (s *slots) broadcast() {
	// Taking the lock orders this wake-up after any waiter's check, so a
	// waiter between its check and Wait cannot miss it.
	s.mu.Lock()
	s.free.Broadcast()
	s.mu.Unlock()
}

type clientKey struct{}

// WithClient returns a context naming the CDS client a call is made for (its
// issuer, or its address in development); outbound FHIR requests are capped
// per client.
func WithClient(ctx context.Context, client string) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

// clientOf returns the client named by WithClient, or "".
func clientOf(ctx context.Context) string {
	c, _ := ctx.Value(clientKey{}).(string)
	return c
}
