package auth

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// memoryShared is a SharedReplay held in memory, shared by the verifiers of
// a test as a database is shared by replicas; fail makes it unreachable.
type memoryShared struct {
	mu   sync.Mutex
	seen map[[2]string]time.Time
	fail bool
}

func (m *memoryShared) RecordTokenID(_ context.Context, iss, jti string, expires, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return false, errors.New("connection refused")
	}
	k := [2]string{iss, jti}
	if exp, ok := m.seen[k]; ok && exp.After(now) {
		return false, nil
	}
	m.seen[k] = expires
	return true, nil
}

func (m *memoryShared) ForgetTokenID(_ context.Context, iss, jti string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("connection refused")
	}
	delete(m.seen, [2]string{iss, jti})
	return nil
}

// A released token (its call refused before it was served) is accepted
// again, once: in memory and in a shared store alike.
func TestReleaseLetsTheSameTokenRetry(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, false, jwksOf(t, ecKey))
	for name, shared := range map[string]SharedReplay{"memory": nil, "shared": &memoryShared{seen: map[[2]string]time.Time{}}} {
		t.Run(name, func(t *testing.T) {
			cfg := VerifierConfig{Clients: []Client{{Issuer: ehrIssuer, JWKSURL: s.URL}}, SharedReplay: shared}
			h := newHarness(t, cfg)
			c := h.claims(ehrIssuer, servicePath)
			c["jti"] = "retry-" + name
			tok := sign(t, ecKey, c, nil)
			first := h.bearer(servicePath, tok)
			if err := h.v.Release(context.Background(), Caller{Issuer: ehrIssuer, JTI: "retry-" + name}); err != nil {
				t.Fatal(err)
			}
			got := []result{first, h.bearer(servicePath, tok), h.bearer(servicePath, tok)}
			want := []result{ok(ehrIssuer, "retry-"+name), ok(ehrIssuer, "retry-"+name), unauthorized(ReasonReplayed)}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("calls (-got +want):\n%s", diff)
			}
		})
	}
}

func TestSharedReplay(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, false, jwksOf(t, ecKey))
	shared := &memoryShared{seen: map[[2]string]time.Time{}}
	cfg := VerifierConfig{Clients: []Client{{Issuer: ehrIssuer, JWKSURL: s.URL}}, SharedReplay: shared}
	replica1, replica2 := newHarness(t, cfg), newHarness(t, cfg)
	c := replica1.claims(ehrIssuer, servicePath)
	c["jti"] = "once"
	tok := sign(t, ecKey, c, nil)
	got := []result{replica1.bearer(servicePath, tok), replica2.bearer(servicePath, tok), replica1.bearer(servicePath, tok)}
	want := []result{ok(ehrIssuer, "once"), unauthorized(ReasonReplayed), unauthorized(ReasonReplayed)}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}

	// An unreachable store is no verdict on the token: 503, not 401.
	shared.fail = true
	res := replica2.bearer(servicePath, sign(t, ecKey, replica2.claims(ehrIssuer, servicePath), nil))
	if res.Status != http.StatusServiceUnavailable || len(res.Reasons) != 0 || res.WWWAuthenticate != "" || res.Body != unavailableBody {
		t.Errorf("store down: status %d, reasons %v, body %s; want 503, no authentication failure, the unavailable body", res.Status, res.Reasons, res.Body)
	}
	if replica1.v.replay.len() != 0 || replica2.v.replay.len() != 0 {
		t.Error("the in-memory cache was used beside the shared store")
	}
}
