package loadtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestInterleave: the two targets take turns, never run at once, and each
// gets its share of the duration.
func TestInterleave(t *testing.T) {
	var mu sync.Mutex
	var order []string
	target := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			if len(order) == 0 || order[len(order)-1] != name {
				order = append(order, name)
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}))
	}
	a, b := target("a"), target("b")
	defer a.Close()
	defer b.Close()
	body := [][]byte{[]byte(`{}`)}
	ra, rb, err := Interleave(context.Background(),
		Config{URL: a.URL, Bodies: body, Concurrency: 2, Duration: 600 * time.Millisecond},
		Config{URL: b.URL, Bodies: body, Concurrency: 2}, 3)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Three turns each: a, b, a, b, a, b. (A request the client gave up on
	// at the end of a turn may still reach its server a moment later, so
	// more switches can be seen, never fewer.)
	if len(order) < 6 || order[0] != "a" {
		t.Errorf("turns %v, want a, b, a, b, a, b", order)
	}
	for _, r := range []Result{ra, rb} {
		if r.Requests == 0 || r.Errors != 0 || r.Elapsed < 500*time.Millisecond || r.Elapsed > 5*time.Second {
			t.Errorf("implausible result: %s, elapsed %s", r, r.Elapsed)
		}
	}
}

// TestTinyResources: the observations prefetch becomes a searchset of n
// minimal entries; the rest of the request is kept.
func TestTinyResources(t *testing.T) {
	base := []byte(`{"hook":"order-sign","hookInstance":"x","context":{"patientId":"p1"},"prefetch":{"patient":{"resourceType":"Patient","id":"p1"},"observations":null}}`)
	got, err := TinyResources(base, 110_000)
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		Hook     string
		Prefetch map[string]struct {
			ResourceType string
			Entry        []struct {
				Resource struct{ ResourceType string }
			}
		}
	}
	if err := json.Unmarshal(got, &req); err != nil {
		t.Fatal(err)
	}
	obs := req.Prefetch["observations"]
	if req.Hook != "order-sign" || req.Prefetch["patient"].ResourceType != "Patient" || obs.ResourceType != "Bundle" || len(obs.Entry) != 110_000 {
		t.Fatalf("hook %q, patient %q, observations %q with %d entries", req.Hook, req.Prefetch["patient"].ResourceType, obs.ResourceType, len(obs.Entry))
	}
	if obs.Entry[0].Resource.ResourceType != "Observation" {
		t.Errorf("entry %+v", obs.Entry[0])
	}
	if len(got) < 4_800_000 || len(got) > 5<<20 {
		t.Errorf("body of %d bytes, want about 4.9 MB (under the 5 MiB limit)", len(got))
	}
}
