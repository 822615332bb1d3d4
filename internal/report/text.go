package report

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Text writes r as aligned plain text (the `lumbar-mri-cds report`
// subcommand): labels left-aligned, numbers right-aligned.
func Text(w io.Writer, r *Report) error {
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	// Scripts read the first line: it stays "Calls: N".
	line("Calls: %d", r.Calls)
	line("Lumbar MRI CDS report, %s to %s (UTC, end exclusive); %d lumbar MRI orders assessed",
		r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), r.Orders)

	line("\nCalls by outcome (share of %d calls)", r.Calls)
	table(&b, nil, countRows(r.Outcomes, r.Calls, OutcomeName), "calls")
	line("\nFindings (share of %d orders assessed; an order can have several)", r.Orders)
	table(&b, nil, countRows(r.Findings, r.Orders, FindingName), "orders")

	line("\nCards by type (%% of cards issued; a card's outcome is its latest feedback, and %d of %d cards got feedback)",
		r.Cards.WithFeedback, r.Cards.Issued)
	var rows [][]string
	for _, c := range r.CardTypes {
		rows = append(rows, cardRow(TopicName(c.Topic), c))
	}
	if len(rows) > 0 {
		rows = append(rows, cardRow("All cards", r.Cards))
	}
	table(&b, []string{"type", "issued", "feedback", "accepted", "%", "overridden", "%"}, rows, "cards")

	line("\nOverride reasons (share of %d overridden cards)", r.Cards.Overridden)
	table(&b, nil, countRows(r.OverrideReasons, r.Cards.Overridden, func(c string) string {
		if c == "(none given)" {
			return "No reason given"
		}
		return c
	}), "overrides")

	for _, sp := range []struct {
		title string
		rows  []Split
		name  func(string) string
	}{{"By payer policy", r.ByPolicy, func(id string) string {
		// The payer's name, with the policy id that logs and the API use.
		if n := r.policyName(id); n != PolicyName(id) {
			return n + " (" + id + ")"
		}
		return PolicyName(id)
	}}, {"By hook", r.ByHook, HookName}, {"By client", r.ByClient, ClientName}} {
		line("\n%s (met: %% of orders assessed; accepted and overridden: %% of cards issued)", sp.title)
		var rows [][]string
		for _, s := range sp.rows {
			rows = append(rows, []string{sp.name(s.Key), fmt.Sprint(s.Calls), fmt.Sprint(s.Orders),
				share(s.Met, s.Orders), fmt.Sprint(s.Cards.Issued),
				share(s.Cards.Accepted, s.Cards.Issued), share(s.Cards.Overridden, s.Cards.Issued)})
		}
		table(&b, []string{"", "calls", "orders", "met", "cards", "accepted", "overridden"}, rows, "calls")
	}

	line("\nPer day (UTC; met: %% of the day's orders assessed)")
	rows = nil
	for _, d := range r.Days {
		if d.Calls == 0 {
			continue
		}
		rows = append(rows, []string{d.Date.UTC().Format(time.DateOnly), fmt.Sprint(d.Calls), fmt.Sprint(d.Refused),
			fmt.Sprint(d.Orders), share(d.Met, d.Orders)})
	}
	table(&b, []string{"day", "calls", "not answered 200", "orders", "met"}, rows, "calls")

	if s := r.Suggestions; s.Offered == 0 {
		line("\nSuggestions: none offered")
	} else {
		line("\nSuggestions: %d offered, %d accepted (%s)", s.Offered, s.Accepted, share(s.Accepted, s.Offered))
	}
	if l := r.Latency; l.N == 0 {
		line("Latency: no calls")
	} else {
		line("Latency over %d calls (ms, service time before the audit commit): p50 %.1f  p90 %.1f  p99 %.1f  max %.1f", l.N, l.P50, l.P90, l.P99, l.Max)
	}
	if l := r.Answered; l.N > 0 {
		line("Latency the client saw over %d calls (ms, to the audit commit): p50 %.1f  p90 %.1f  p99 %.1f  max %.1f", l.N, l.P50, l.P90, l.P99, l.Max)
	}
	if len(r.Refused) > 0 {
		total := 0
		for _, c := range r.Refused {
			total += c.N
		}
		line("\nRefused before the service ran: %d (401, 429; not in the calls above)", total)
		table(&b, nil, countRows(r.Refused, total, RefusedName), "calls")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func countRows(cs []Count, total int, name func(string) string) [][]string {
	var rows [][]string
	for _, c := range cs {
		label := name(c.Label)
		if c.Detail != "" {
			label = c.Detail
		}
		var notes []string
		if label != c.Label && !strings.HasPrefix(c.Label, "(") {
			notes = append(notes, c.Label)
		}
		if c.ClientOwn {
			notes = append(notes, clientOwnReason)
		}
		if len(notes) > 0 {
			label += " (" + strings.Join(notes, ", ") + ")"
		}
		rows = append(rows, []string{label, fmt.Sprint(c.N), share(c.N, total)})
	}
	return rows
}

func cardRow(name string, c CardType) []string {
	return []string{name, fmt.Sprint(c.Issued), fmt.Sprint(c.WithFeedback), fmt.Sprint(c.Accepted), share(c.Accepted, c.Issued),
		fmt.Sprint(c.Overridden), share(c.Overridden, c.Issued)}
}

// table writes rows indented by two spaces, the first column left-aligned and
// the others right-aligned, with an optional header.
func table(b *strings.Builder, header []string, rows [][]string, unit string) {
	if len(rows) == 0 {
		fmt.Fprintf(b, "  (no %s)\n", unit)
		return
	}
	all := rows
	if header != nil {
		all = append([][]string{header}, rows...)
	}
	var width []int
	for _, r := range all {
		for i, cell := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(cell))
		}
	}
	for _, r := range all {
		b.WriteString(" ")
		for i, cell := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(cell))
			if i == 0 {
				b.WriteString(" " + cell + pad)
			} else {
				b.WriteString("  " + pad + cell)
			}
		}
		b.WriteString("\n")
	}
}
