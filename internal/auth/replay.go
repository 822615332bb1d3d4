package auth

import (
	"container/heap"
	"sync"
	"time"
)

// DefaultReplayCapacity bounds the replay cache. With tokens living at most
// an hour, it admits about 27 calls per second sustained before the cache is
// full of unexpired entries; a full cache refuses new tokens rather than
// forgetting one that could then be replayed.
const DefaultReplayCapacity = 100_000

// replayCache remembers (iss, jti) pairs until their token can no longer be
// accepted (exp + skew).
type replayCache struct {
	mu       sync.Mutex
	capacity int
	seen     map[replayKey]time.Time
	byExpiry expiryHeap
}

type replayKey struct{ iss, jti string }

type replayEntry struct {
	key     replayKey
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
	return &replayCache{capacity: capacity, seen: map[replayKey]time.Time{}}
}

// add records the pair and reports nil, or ErrReplayed when it was seen and
// has not expired, or ErrReplayCacheFull when there is no room.
func (c *replayCache) add(iss, jti string, expires, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.byExpiry.Len() > 0 && !c.byExpiry[0].expires.After(now) {
		e := heap.Pop(&c.byExpiry).(replayEntry)
		delete(c.seen, e.key)
	}
	k := replayKey{iss, jti}
	if exp, ok := c.seen[k]; ok && exp.After(now) {
		return ErrReplayed
	}
	if len(c.seen) >= c.capacity {
		return ErrReplayCacheFull
	}
	c.seen[k] = expires
	heap.Push(&c.byExpiry, replayEntry{k, expires})
	return nil
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
