package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/report"
)

// issue makes one call and returns its cards.
func issue(t *testing.T, s *testServer) []hooks.Card {
	t.Helper()
	rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign", minimal(t, nil), nil)
	var resp hooks.Response
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	return resp.Cards
}

// feedbackCards issues the test request's cards and returns the last with
// suggestions and the last with override reasons; the test fails when
// either is missing.
func feedbackCards(t *testing.T, s *testServer) (withSuggestion, warning *hooks.Card) {
	t.Helper()
	cs := issue(t, s)
	for i := range cs {
		if len(cs[i].Suggestions) > 0 {
			withSuggestion = &cs[i]
		}
		if len(cs[i].OverrideReasons) > 0 {
			warning = &cs[i]
		}
	}
	if withSuggestion == nil || warning == nil {
		t.Fatalf("the test request should produce a card with suggestions and one with override reasons: %+v", cs)
	}
	return withSuggestion, warning
}

func TestFeedback(t *testing.T) {
	s := newTestServer(t, nil)
	withSuggestion, warning := feedbackCards(t, s)
	ts := time.Now().UTC().Format(time.RFC3339)
	accepted := fmt.Sprintf(`{"feedback":[{"card":%q,"outcome":"accepted","acceptedSuggestions":[{"id":%q}],"outcomeTimestamp":%q}]}`, withSuggestion.UUID, withSuggestion.Suggestions[0].UUID, ts)
	r := warning.OverrideReasons[0]
	overridden := fmt.Sprintf(`{"feedback":[{"card":%q,"outcome":"overridden","overrideReason":{"reason":{"system":%q,"code":%q,"display":%q},"userComment":"patient in severe pain"},"outcomeTimestamp":%q}]}`, warning.UUID, r.System, r.Code, r.Display, ts)
	tests := []struct {
		name, body string
		want       int
		message    string
	}{
		{"accepted", accepted, 200, ""},
		{"same feedback again is idempotent", accepted, 200, ""},
		{"overridden with an offered reason", overridden, 200, ""},
		{"unknown card", `{"feedback":[{"card":"3f1a0c9e-0000-4000-8000-000000000000","outcome":"accepted","outcomeTimestamp":"` + ts + `"}]}`, 404, "3f1a0c9e"},
		{"bad outcome", fmt.Sprintf(`{"feedback":[{"card":%q,"outcome":"ignored","outcomeTimestamp":%q}]}`, warning.UUID, ts), 400, "outcome"},
		{"suggestion of another card", fmt.Sprintf(`{"feedback":[{"card":%q,"outcome":"accepted","acceptedSuggestions":[{"id":"nope"}],"outcomeTimestamp":%q}]}`, withSuggestion.UUID, ts), 400, "suggestion"},
		{"reason without a code", fmt.Sprintf(`{"feedback":[{"card":%q,"outcome":"overridden","overrideReason":{"reason":{"system":"x","display":"y"}},"outcomeTimestamp":%q}]}`, warning.UUID, ts), 400, "system and code"},
		{"offset beyond 14 hours", fmt.Sprintf(`{"feedback":[{"card":%q,"outcome":"overridden","outcomeTimestamp":"2026-01-01T00:00:00+24:00"}]}`, warning.UUID), 400, "offset"},
		{"missing timestamp", fmt.Sprintf(`{"feedback":[{"card":%q,"outcome":"overridden"}]}`, warning.UUID), 400, "outcomeTimestamp"},
		{"all or nothing", fmt.Sprintf(`{"feedback":[{"card":%q,"outcome":"overridden","outcomeTimestamp":%q},{"card":"unknown","outcome":"accepted","outcomeTimestamp":%q}]}`, warning.UUID, "2026-01-01T00:00:00Z", ts), 404, "unknown"},
		{"malformed", `{"feedback":`, 400, "malformed"},
		{"empty", `{"feedback":[]}`, 400, "feedback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign/feedback", []byte(tt.body), nil)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if tt.message != "" && !strings.Contains(strings.ToLower(rec.Body.String()), strings.ToLower(tt.message)) {
				t.Errorf("body %s does not mention %q", rec.Body, tt.message)
			}
		})
	}
	if rec := s.do(t, http.MethodPost, "/cds-services/other/feedback", []byte(accepted), nil); rec.Code != 404 {
		t.Errorf("feedback to an unknown service: %d", rec.Code)
	}
	rep, err := s.db.Report(t.Context(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Cards.Accepted != 1 || rep.Cards.Overridden != 1 {
		t.Errorf("report counts %d accepted, %d overridden; want 1 and 1 (duplicates stored once, failed posts not at all)", rep.Cards.Accepted, rep.Cards.Overridden)
	}
	if rep.Suggestions.Accepted != 1 {
		t.Errorf("suggestions accepted = %d, want 1", rep.Suggestions.Accepted)
	}
}

// TestFeedbackBounded: feedback items share the one audit writer with every
// client's calls, so one client cannot hold it for seconds: a request holds
// at most MaxFeedbackItems (413 above), and every
// feedbackItemsPerCall items spend one call of the client's rate. (Against
// the built binary, six concurrent 42,000-item feedback requests from one
// client made another client's calls answer 503, audit write failed.)
func TestFeedbackBounded(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.RatePerSecond = 0.001; c.RateBurst = 2 * MaxFeedbackItems / feedbackItemsPerCall })
	card := issue(t, s)[0].UUID // one call of the burst
	body := func(n int, day int) []byte {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(`{"card":%q,"outcome":"overridden","outcomeTimestamp":"2026-06-%02dT10:00:%02d.%03dZ"}`, card, day, i/1000, i%1000)
		}
		return []byte(`{"feedback":[` + strings.Join(items, ",") + `]}`)
	}
	post := func(b []byte) int {
		return s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign/feedback", b, nil).Code
	}
	if got := post(body(MaxFeedbackItems+1, 1)); got != http.StatusRequestEntityTooLarge {
		t.Errorf("%d items: status %d, want 413", MaxFeedbackItems+1, got)
	}
	// The burst held 20 calls; the first call spent one, the 413 another
	// (the rate is spent before the body is read). A full request costs 10.
	if got := post(body(MaxFeedbackItems, 2)); got != http.StatusOK {
		t.Fatalf("%d items: status %d, want 200", MaxFeedbackItems, got)
	}
	if got := post(body(MaxFeedbackItems, 3)); got != http.StatusTooManyRequests {
		t.Errorf("a second %d items with 8 calls of rate left: status %d, want 429", MaxFeedbackItems, got)
	}
	if got := post(body(1, 4)); got != http.StatusOK {
		t.Errorf("one item with 7 calls of rate left: status %d, want 200", got)
	}
}

// TestFeedbackClientOwnReason: CDS Hooks 2.0.1 (Card Attributes,
// overrideReasons): "A CDS Client MAY augment the override reasons presented
// to the user with its own reasons". Such a reason is stored, with the valid
// items of the same POST (conf6 f06, f07), and the report names it as the
// client's own.
func TestFeedbackClientOwnReason(t *testing.T) {
	s := newTestServer(t, nil)
	withSuggestion, warning := feedbackCards(t, s)
	if withSuggestion == warning {
		t.Fatalf("the test request should produce a card with suggestions and another with override reasons: %+v", withSuggestion)
	}
	ts := time.Now().UTC().Format(time.RFC3339)
	body := fmt.Sprintf(`{"feedback":[{"card":%q,"outcome":"accepted","acceptedSuggestions":[{"id":%q}],"outcomeTimestamp":%q},`+
		`{"card":%q,"outcome":"overridden","overrideReason":{"reason":{"code":"patient-declined","system":"https://ehr.example.org/fhir/CodeSystem/cds-override-reason","display":"Patient declined"}},"outcomeTimestamp":%q}]}`,
		withSuggestion.UUID, withSuggestion.Suggestions[0].UUID, ts, warning.UUID, ts)
	if rec := s.do(t, http.MethodPost, "/cds-services/lumbar-mri-order-sign/feedback", []byte(body), nil); rec.Code != 200 {
		t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
	}
	rep, err := s.db.Report(t.Context(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Cards.Accepted != 1 || rep.Cards.Overridden != 1 {
		t.Errorf("report counts %d accepted, %d overridden; want 1 and 1", rep.Cards.Accepted, rep.Cards.Overridden)
	}
	want := []report.Count{{Label: "patient-declined", Detail: "Patient declined", N: 1, ClientOwn: true}}
	if diff := cmp.Diff(rep.OverrideReasons, want); diff != "" {
		t.Errorf("override reasons (-got +want):\n%s", diff)
	}
}
