package server

import (
	"errors"
	"sync"

	"github.com/gin-gonic/gin"
)

// DefaultDecodeBudget is the total size of the request bodies the service
// decodes at once when Config.DecodeBudget is zero: six full-size (5 MiB)
// bodies, or thousands of ordinary ones. A call holds about 3-4 times its
// body in memory while it is decoded (the body, the prefetch values the
// decoder keeps, the decoded resources), so the budget bounds that part of
// the heap to about 100 MiB however many large bodies arrive together.
const DefaultDecodeBudget = 32 << 20

// ErrBusy means the decode budget is spent by calls in progress (503 with
// Retry-After): the caller should retry in a moment.
var ErrBusy = errors.New("busy: too many large requests in progress, retry shortly")

// admission is the decode budget: a weighted semaphore in bytes of request
// body that never waits (a call that does not fit is refused at once, so a
// burst of large bodies cannot pile up waiting goroutines and their memory).
type admission struct {
	mu    sync.Mutex
	limit int64
	used  int64
}

// tryAcquire takes n bytes of budget; false when they do not fit. A call
// larger than the whole budget is admitted alone when nothing else runs.
func (a *admission) tryAcquire(n int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.used > 0 && a.used+n > a.limit {
		return false
	}
	a.used += n
	return true
}

func (a *admission) release(n int64) {
	a.mu.Lock()
	a.used -= n
	a.mu.Unlock()
}

// weight is what a call is charged: its announced body size, or the body
// limit when the size is not announced (chunked) or over the limit (it will
// be refused with 413 while it reads).
func (s *Server) weight(c *gin.Context) int64 {
	n := c.Request.ContentLength
	if n < 0 || n > s.cfg.MaxBodyBytes {
		return s.cfg.MaxBodyBytes
	}
	return max(n, 1)
}

// admit runs a service call within the decode budget, held until the answer
// is built. A call that does not fit gets 503 with Retry-After before its
// body is read, and Connection: close, so the client reads the status
// instead of the server draining megabytes it will not use.
func (s *Server) admit(c *gin.Context) {
	n := s.weight(c)
	if !s.decoding.tryAcquire(n) {
		s.releaseToken(c)
		c.Header("Retry-After", "1")
		c.Header("Connection", "close")
		s.fail(c, ErrBusy)
		return
	}
	defer s.decoding.release(n)
	c.Next()
}
