package auth

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultReplayCapacity bounds each issuer's share of the replay cache. With
// tokens living at most an hour, one issuer can make about 27 calls per
// second sustained before its share is full of unexpired entries; a full
// share refuses that issuer's new tokens rather than forgetting one that
// could then be replayed. Shares are per issuer, so no client can make
// another client's fresh tokens fail.
const DefaultReplayCapacity = 100_000

// replayCache remembers (iss, jti) pairs until their token can no longer be
// accepted (exp + skew), in one bounded share per issuer. Issuers are the
// configured clients, so the number of shares is bounded by the trust file.
type replayCache struct {
	mu       sync.Mutex
	capacity int
	shares   map[string]*replayShare
}

// replayShare is one issuer's part of the cache.
type replayShare struct {
	seen     map[string]time.Time
	byExpiry expiryHeap
}

type replayEntry struct {
	jti     string
	expires time.Time
}

type expiryHeap []replayEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(replayEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func newReplayCache(capacity int) *replayCache {
	return &replayCache{capacity: capacity, shares: map[string]*replayShare{}}
}

// add records the pair and reports nil, or ErrReplayed when it was seen and
// has not expired, or ErrReplayCacheFull when the issuer's share has no room.
func (c *replayCache) add(iss, jti string, expires, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.shares[iss]
	if !ok {
		s = &replayShare{seen: map[string]time.Time{}}
		c.shares[iss] = s
	}
	s.expire(now)
	if exp, ok := s.seen[jti]; ok && exp.After(now) {
		return ErrReplayed
	}
	if len(s.seen) >= c.capacity {
		return ErrReplayCacheFull
	}
	s.seen[jti] = expires
	heap.Push(&s.byExpiry, replayEntry{jti, expires})
	return nil
}

// expire forgets the entries whose token can no longer be accepted. A heap
// entry whose id was removed (remove), or recorded again since with another
// expiry, leaves the current record alone.
func (s *replayShare) expire(now time.Time) {
	for s.byExpiry.Len() > 0 && !s.byExpiry[0].expires.After(now) {
		e := heap.Pop(&s.byExpiry).(replayEntry)
		if exp, ok := s.seen[e.jti]; ok && exp.Equal(e.expires) {
			delete(s.seen, e.jti)
		}
	}
}

// remove forgets the pair (its heap entry goes when it expires).
func (c *replayCache) remove(iss, jti string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.shares[iss]; ok {
		delete(s.seen, jti)
	}
}

// usage returns, per issuer that has a share, the entries still unexpired
// at now, and the capacity of a share.
func (c *replayCache) usage(now time.Time) (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.shares))
	for iss, s := range c.shares {
		s.expire(now)
		out[iss] = len(s.seen)
	}
	return out, c.capacity
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.shares {
		n += len(s.seen)
	}
	return n
}

// SharedReplay records token ids in a store shared by the replicas of the
// service (store.DB.RecordTokenID on PostgreSQL). RecordTokenID records
// (iss, jti) until expires and reports whether it is new at now; false
// means the token is a replay. Recording and checking are one atomic step.
type SharedReplay interface {
	RecordTokenID(ctx context.Context, iss, jti string, expires, now time.Time) (bool, error)
	// ForgetTokenID removes the record of (iss, jti) (Verifier.Release).
	ForgetTokenID(ctx context.Context, iss, jti string) error
}

// ErrReplayUnavailable is a shared replay store that could not be asked: the
// token is neither accepted nor refused as a replay, and the call is
// answered 503.
var ErrReplayUnavailable = errors.New("auth: replay store unavailable")

// recordJTI records the token id in the shared store when one is
// configured, else in the in-memory cache.
func (v *Verifier) recordJTI(ctx context.Context, iss, jti string, expires, now time.Time) error {
	if v.cfg.SharedReplay == nil {
		return v.replay.add(iss, jti, expires, now)
	}
	fresh, err := v.cfg.SharedReplay.RecordTokenID(ctx, iss, jti, expires, now)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReplayUnavailable, err)
	}
	if !fresh {
		return ErrReplayed
	}
	return nil
}

// Release forgets the token id of a verified call that was refused before
// it was served (429 over a rate limit, 503 over a load budget), so the
// client may send the same token again as Retry-After invites: a token is
// still accepted for at most one served call. Errors of a shared store are
// returned; the token then stays used (the client mints another).
func (v *Verifier) Release(ctx context.Context, c Caller) error {
	if c.Issuer == "" || c.JTI == "" {
		return nil
	}
	if v.cfg.SharedReplay == nil {
		v.replay.remove(c.Issuer, c.JTI)
		return nil
	}
	if err := v.cfg.SharedReplay.ForgetTokenID(ctx, c.Issuer, c.JTI); err != nil {
		return fmt.Errorf("%w: %w", ErrReplayUnavailable, err)
	}
	return nil
}
