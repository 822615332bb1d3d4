package store

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/report"
)

func TestReport(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.openNew(t)
		ctx := t.Context()
		day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		call := func(n int, status int, latencyMS int, orders ...Order) Call {
			c := sampleCall(day.Add(time.Duration(n)*time.Minute), "pat", n)
			c.Status, c.Latency, c.Orders = status, time.Duration(latencyMS)*time.Millisecond, orders
			if status != 200 || len(orders) == 0 {
				c.Cards = nil
			}
			return c
		}
		met := Order{ID: "a", Assessment: "criteria-met", Findings: []string{"red-flag-cauda-equina", "conservative-therapy-missing"}}
		notMet := Order{ID: "b", Assessment: "criteria-not-met", Findings: []string{"conservative-therapy-missing"}}
		calls := []Call{
			call(1, 200, 10, met),
			call(2, 200, 20, notMet),
			call(3, 200, 30, notMet),
			call(4, 200, 40, met, notMet),
			call(5, 200, 50),
			call(6, 412, 60),
			call(7, 400, 70),
			call(8, 200, 80, notMet),
			call(9, 200, 90, notMet),
			call(10, 200, 100, notMet),
		}
		// The last three calls: another hook, payer policy and client, for the
		// splits.
		for i := 7; i < 10; i++ {
			calls[i].Hook, calls[i].PolicyID, calls[i].ClientISS = "order-select", "acme", ""
		}
		for _, c := range calls {
			if err := db.RecordCall(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		// Outside the period: not counted.
		if err := db.RecordCall(ctx, call(-5, 500, 1, met)); err != nil {
			t.Fatal(err)
		}
		cov := func(i int) string { return calls[i].Cards[0].UUID }
		pt := func(i int) string { return calls[i].Cards[1].UUID }
		sug := func(i int) string { return calls[i].Cards[1].SuggestionUUIDs[0] }
		override := func(card string, ts string, reason *hooks.Coding) hooks.FeedbackItem {
			return hooks.FeedbackItem{Card: card, Outcome: "overridden", OutcomeTimestamp: ts, OverrideReason: &hooks.OverrideReason{Reason: reason}}
		}
		accept := func(i int, ts string) hooks.FeedbackItem {
			return hooks.FeedbackItem{Card: pt(i), Outcome: "accepted", OutcomeTimestamp: ts, AcceptedSuggestions: []hooks.AcceptedSuggestion{{ID: sug(i)}}}
		}
		items := []hooks.FeedbackItem{
			override(cov(0), "2026-03-01T01:00:00Z", &reasonNotApplicable),
			override(cov(1), "2026-03-01T01:00:00Z", &reasonNotApplicable),
			override(cov(2), "2026-03-01T01:00:00Z", &reasonDocumented),
			override(cov(3), "2026-03-01T01:00:00Z", nil),
			{Card: cov(7), Outcome: "accepted", OutcomeTimestamp: "2026-03-01T01:00:00Z"},
			accept(0, "2026-03-01T01:00:00Z"),
			accept(1, "2026-03-01T01:00:00Z"),
			// Card 2's latest feedback is the override, but its suggestion was accepted once.
			accept(2, "2026-03-01T01:00:00Z"),
			override(pt(2), "2026-03-01T02:00:00Z", &reasonNotApplicable),
		}
		if err := db.RecordFeedback(ctx, service, items); err != nil {
			t.Fatal(err)
		}
		got, err := db.Report(ctx, day, day.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := &report.Report{
			From: day, To: day.Add(24 * time.Hour),
			Calls: 10, Orders: 8,
			Outcomes: []report.Count{
				{Label: "criteria-not-met", N: 5},
				{Label: "HTTP 400", N: 1}, {Label: "HTTP 412", N: 1},
				{Label: "criteria-met", N: 1}, {Label: "mixed", N: 1}, {Label: "no-lumbar-mri", N: 1},
			},
			Findings: []report.Count{{Label: "conservative-therapy-missing", N: 8}, {Label: "red-flag-cauda-equina", N: 2}},
			CardTypes: []report.CardType{
				{Topic: "coverage-info", Issued: 7, Accepted: 1, Overridden: 4, WithFeedback: 5},
				{Topic: "therapy-alternatives-opt", Issued: 7, Accepted: 2, Overridden: 1, WithFeedback: 3},
			},
			Cards: report.CardType{Issued: 14, Accepted: 3, Overridden: 5, WithFeedback: 8},
			OverrideReasons: []report.Count{
				{Label: "not-applicable", Detail: reasonNotApplicable.Display, N: 3},
				{Label: "(none given)", N: 1},
				{Label: "documented-elsewhere", Detail: reasonDocumented.Display, N: 1},
			},
			Suggestions: report.Suggestions{Offered: 7, Accepted: 3},
			Latency:     report.Latency{N: 10, P50: 50, P90: 90, P99: 100, Max: 100},
			Days:        []report.Day{{Date: day, Calls: 10, Refused: 2, Orders: 8, Met: 2}},
			ByPolicy: []report.Split{
				{Key: "default", Calls: 7, Orders: 5, Met: 2, Cards: report.CardType{Issued: 8, Accepted: 2, Overridden: 5, WithFeedback: 7}},
				{Key: "acme", Calls: 3, Orders: 3, Cards: report.CardType{Issued: 6, Accepted: 1, WithFeedback: 1}},
			},
			ByHook: []report.Split{
				{Key: "order-sign", Calls: 7, Orders: 5, Met: 2, Cards: report.CardType{Issued: 8, Accepted: 2, Overridden: 5, WithFeedback: 7}},
				{Key: "order-select", Calls: 3, Orders: 3, Cards: report.CardType{Issued: 6, Accepted: 1, WithFeedback: 1}},
			},
			ByClient: []report.Split{
				{Key: "https://ehr.example", Calls: 7, Orders: 5, Met: 2, Cards: report.CardType{Issued: 8, Accepted: 2, Overridden: 5, WithFeedback: 7}},
				{Key: "", Calls: 3, Orders: 3, Cards: report.CardType{Issued: 6, Accepted: 1, WithFeedback: 1}},
			},
		}
		// The latency the client saw runs from each call's time to its
		// audit commit; these calls are dated in the past, so only its
		// count is known (TestAnsweredLatency checks the figures).
		if got.Answered.N != 9 && got.Answered.N != 10 {
			t.Errorf("answered latency over %d calls, want the 9 or 10 committed before the next", got.Answered.N)
		}
		got.Answered = report.Latency{}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("Report (-got +want):\n%s", diff)
		}
		if got.Cards.AcceptanceRate() != 100*3.0/14 {
			t.Errorf("AcceptanceRate = %v", got.Cards.AcceptanceRate())
		}
	})
}

// TestReportDays: the daily trend has every day of the period, days
// without calls as zeros, each call on its UTC day.
func TestReportDays(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.openNew(t)
		ctx := t.Context()
		day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		for _, at := range []time.Time{day.Add(time.Hour), day.Add(23*time.Hour + 59*time.Minute), day.AddDate(0, 0, 2).Add(time.Minute)} {
			if err := db.RecordCall(ctx, sampleCall(at, "pat", 1)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.Report(ctx, day, day.AddDate(0, 0, 3))
		if err != nil {
			t.Fatal(err)
		}
		want := []report.Day{
			{Date: day, Calls: 2, Orders: 2},
			{Date: day.AddDate(0, 0, 1)},
			{Date: day.AddDate(0, 0, 2), Calls: 1, Orders: 1},
		}
		if diff := cmp.Diff(got.Days, want); diff != "" {
			t.Errorf("Days (-got +want):\n%s", diff)
		}
	})
}

// TestReportClientOwnReason: an override reason the card did not offer (the
// CDS client's own, CDS Hooks 2.0.1 Card overrideReasons) is counted by its
// system and code, named by the display the client gave, and marked as the
// client's; an offered reason keeps the card's display.
func TestReportClientOwnReason(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := b.openNew(t)
		ctx := t.Context()
		day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		first, second := sampleCall(day.Add(time.Minute), "pat", 1), sampleCall(day.Add(2*time.Minute), "pat", 2)
		for _, c := range []Call{first, second} {
			if err := db.RecordCall(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		override := func(card string, reason hooks.Coding) hooks.FeedbackItem {
			return hooks.FeedbackItem{Card: card, Outcome: "overridden", OutcomeTimestamp: "2026-03-01T01:00:00Z", OverrideReason: &hooks.OverrideReason{Reason: &reason}}
		}
		// Its control characters never reach the report (clinical review 8).
		own := hooks.Coding{System: "https://ehr.example.org/fhir/CodeSystem/cds-override-reason", Code: "patient-declined", Display: "Patient\x1b[2J declined\u202e"}
		if err := db.RecordFeedback(ctx, service, []hooks.FeedbackItem{
			override(first.Cards[0].UUID, own),
			// The service's code in another system, without a display: still the client's own.
			override(first.Cards[1].UUID, hooks.Coding{System: "urn:other", Code: reasonNotApplicable.Code}),
			override(second.Cards[0].UUID, hooks.Coding{System: reasonDocumented.System, Code: reasonDocumented.Code}),
		}); err != nil {
			t.Fatalf("RecordFeedback: %v", err)
		}
		got, err := db.Report(ctx, day, day.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := []report.Count{
			{Label: reasonDocumented.Code, Detail: reasonDocumented.Display, N: 1},
			{Label: reasonNotApplicable.Code, N: 1, ClientOwn: true},
			{Label: "patient-declined", Detail: "Patient [2J declined", N: 1, ClientOwn: true},
		}
		if diff := cmp.Diff(got.OverrideReasons, want); diff != "" {
			t.Errorf("override reasons (-got +want):\n%s", diff)
		}
	})
}
