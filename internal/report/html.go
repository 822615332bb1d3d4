package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

//go:embed templates/report.html
var templates embed.FS

// HTML writes r as a self-contained HTML page. Charts are inline SVG drawn on
// the server: the page loads no script, font or stylesheet from anywhere.
// Every bar is a <g class="bar"> carrying data-label and data-value (the
// number it shows as text), so tests and scrapers can read the figures.
func HTML(w io.Writer, r *Report) error {
	t, err := template.ParseFS(templates, "templates/report.html")
	if err != nil {
		return fmt.Errorf("report: template: %w", err)
	}
	if err := t.Execute(w, page(r)); err != nil {
		return fmt.Errorf("report: render: %w", err)
	}
	return nil
}

// Colours, each at least 4.5:1 against the white page and the value text
// (#1a1a1a) readable beside them.
const (
	colourCount    = "#1f5f99" // blue, 6.9:1
	colourAccepted = "#1b6e3a" // green, 6.6:1
	colourOverride = "#a3341a" // red-brown, 6.6:1
	colourLatency  = "#5b3f8c" // violet, 8.2:1
)

type view struct {
	Title    string
	From, To string
	// FromDay and ToDay are the period as the date picker shows it: YYYY-MM-DD,
	// both inclusive.
	FromDay, ToDay string
	// Ranges are quick links to common periods ending on ToDay.
	Ranges  []dateRange
	Report  *Report
	Summary []summaryRow
	Trends  []trend
	Charts  []chart
	Splits  []splitTable
}

type dateRange struct{ Label, From, To string }

// summaryRow is one figure with its denominator spelled out.
type summaryRow struct{ ID, Label, Value string }

// splitTable is one split of the calls (by policy, hook or client).
type splitTable struct {
	ID, Title string
	Rows      []splitRow
}

type splitRow struct {
	Key, Name                                     string
	Calls, Orders, Met, Issued, Accepted, Overrid string
	Feedback                                      string
}

// chart is a horizontal bar chart with its geometry computed here, because
// templates cannot do arithmetic.
type chart struct {
	ID, Title, Axis, Note  string
	Colour                 string
	Width, Height          int
	PlotX, PlotW, AxisY    int
	AxisLabelX, AxisLabelY int
	Bars                   []bar
	Ticks                  []tick
}

type bar struct {
	Label, FullLabel string
	Code             string // data-code: the code the label names
	Value            string // data-value: the number shown, unformatted
	Text             string // the visible text beside the bar
	Y, W, H          int
	LabelY, TextX    int
}

type tick struct {
	X     int
	Label string
}

// Layout in SVG user units (pixels at 100 %).
const (
	labelW  = 280 // label column
	plotW   = 420
	valueW  = 150 // room for the value text after the longest bar
	rowH    = 28
	barH    = 18
	topPad  = 6
	axisPad = 44 // axis line, tick labels and axis title
	maxRune = 40 // longer labels are cut, the full text is in <title>
)

func page(r *Report) view {
	v := view{
		Title:  "Lumbar MRI CDS report",
		From:   r.From.UTC().Format(time.RFC3339),
		To:     r.To.UTC().Format(time.RFC3339),
		Report: r,
	}
	if !r.From.IsZero() && !r.To.IsZero() {
		last := r.To.UTC().Add(-time.Nanosecond)
		v.FromDay, v.ToDay = r.From.UTC().Format(time.DateOnly), last.Format(time.DateOnly)
		for _, n := range []int{7, 30, 90, 365} {
			v.Ranges = append(v.Ranges, dateRange{Label: fmt.Sprintf("Last %d days", n),
				From: last.AddDate(0, 0, 1-n).Format(time.DateOnly), To: v.ToDay})
		}
	}
	v.Summary = summary(r)
	countBars := func(cs []Count, name func(string) string) []bar {
		var bs []bar
		for _, c := range cs {
			label := name(c.Label)
			if c.Detail != "" {
				label = c.Detail
			}
			if c.ClientOwn {
				label += " (" + clientOwnReason + ")"
			}
			bs = append(bs, bar{FullLabel: label, Code: c.Label, Value: strconv.Itoa(c.N), Text: strconv.Itoa(c.N)})
		}
		return bs
	}
	rateBars := func(rate func(CardType) (float64, int)) []bar {
		var bs []bar
		for _, c := range r.CardTypes {
			p, n := rate(c)
			val := strconv.FormatFloat(p, 'f', 1, 64)
			text := fmt.Sprintf("%s%% (%d of %d)", val, n, c.Issued)
			if c.Issued == 0 {
				// A rate of nothing is not 0 %: no figure, no bar.
				val, text = "", rateCell(n, 0, "cards")
			}
			bs = append(bs, bar{FullLabel: TopicName(c.Topic), Code: c.Topic, Value: val, Text: text})
		}
		return bs
	}
	reasonName := func(code string) string {
		if code == "(none given)" {
			return "No reason given"
		}
		return code
	}
	ms := func(label string, x float64) bar {
		val := strconv.FormatFloat(x, 'f', 1, 64)
		return bar{FullLabel: label, Value: val, Text: val + " ms"}
	}
	percentiles := func(l Latency) []bar {
		if l.N == 0 {
			return nil
		}
		return []bar{ms("p50", l.P50), ms("p90", l.P90), ms("p99", l.P99), ms("max", l.Max)}
	}
	var suggestions []bar
	if r.Suggestions.Offered > 0 {
		suggestions = []bar{
			{FullLabel: "offered", Value: strconv.Itoa(r.Suggestions.Offered), Text: strconv.Itoa(r.Suggestions.Offered)},
			{FullLabel: "accepted", Value: strconv.Itoa(r.Suggestions.Accepted),
				Text: countShare(r.Suggestions.Accepted, r.Suggestions.Offered)},
		}
	}
	feedbackNote := fmt.Sprintf("Each rate divides by all cards issued of the type. A card's outcome is its latest feedback; "+
		"%d of the %d cards issued got feedback, the others count as neither accepted nor overridden (EHRs report only some outcomes).",
		r.Cards.WithFeedback, r.Cards.Issued)
	v.Charts = []chart{
		layout("outcomes", "Calls by outcome", "Number of calls", fmt.Sprintf("Each of the %d calls counted once.", r.Calls),
			colourCount, countBars(r.Outcomes, OutcomeName), false),
		layout("findings", "Findings", "Number of orders", fmt.Sprintf("Share of the %d orders assessed; an order can have several findings.", r.Orders),
			colourCount, countBars(r.Findings, FindingName), false),
		layout("acceptance", "Card acceptance rate by card type", "Accepted cards, % of cards issued", feedbackNote,
			colourAccepted, rateBars(func(c CardType) (float64, int) { return c.AcceptanceRate(), c.Accepted }), true),
		layout("override", "Card override rate by card type", "Overridden cards, % of cards issued", "Divides by all cards issued of the type, as above.",
			colourOverride, rateBars(func(c CardType) (float64, int) { return c.OverrideRate(), c.Overridden }), true),
		layout("reasons", "Override reasons", "Number of overridden cards", fmt.Sprintf("Of the %d overridden cards, by the reason chosen.", r.Cards.Overridden),
			colourOverride, countBars(r.OverrideReasons, reasonName), false),
		layout("suggestions", "Suggestion acceptance", "Number of suggestions", "Accepted: % of the suggestions offered.", colourAccepted, suggestions, false),
		layout("latency", "Latency percentiles", "Milliseconds", fmt.Sprintf("Over %d calls, nearest rank; service time, from the request to the answer, before the audit commit.", r.Latency.N),
			colourLatency, percentiles(r.Latency), false),
		layout("answered", "Latency the client saw", "Milliseconds", fmt.Sprintf("Over %d calls, nearest rank; from the request to the audit commit, after which the answer leaves.", r.Answered.N),
			colourLatency, percentiles(r.Answered), false),
	}
	v.Trends = trends(r.Days)
	v.Splits = []splitTable{
		splitOf("policy", "By payer policy", r.ByPolicy, r.policyName),
		splitOf("hook", "By hook", r.ByHook, HookName),
		splitOf("client", "By client", r.ByClient, ClientName),
	}
	if len(r.Refused) > 0 {
		v.Charts = append(v.Charts, layout("refused", "Calls refused before the service ran", "Number of calls",
			"401 and 429 answers, counted per reason; not in the calls above.", colourOverride, countBars(r.Refused, RefusedName), false))
	}
	return v
}

// summary states each figure with what it is a share of.
func summary(r *Report) []summaryRow {
	c := r.Cards
	var met int
	for _, s := range r.ByHook { // every call is in one hook group
		met += s.Met
	}
	// "n of m what (p%)", the percentage only when m is not 0.
	of := func(n, m int, what string) string {
		s := fmt.Sprintf("%d of %d %s", n, m, what)
		if m > 0 {
			s += fmt.Sprintf(" (%.1f%%)", percent(n, m))
		}
		return s
	}
	return []summaryRow{
		{"calls", "Calls", strconv.Itoa(r.Calls)},
		{"orders", "Lumbar MRI orders assessed", strconv.Itoa(r.Orders)},
		{"met", "Orders meeting the criteria", of(met, r.Orders, "orders assessed")},
		{"cards", "Cards issued", strconv.Itoa(c.Issued)},
		{"feedback", "Cards with feedback", of(c.WithFeedback, c.Issued, "cards issued")},
		{"accepted", "Cards accepted", of(c.Accepted, c.Issued, "cards issued")},
		{"overridden", "Cards overridden", of(c.Overridden, c.Issued, "cards issued")},
	}
}

func splitOf(id, title string, ss []Split, name func(string) string) splitTable {
	t := splitTable{ID: id, Title: title}
	for _, s := range ss {
		t.Rows = append(t.Rows, splitRow{
			Key: s.Key, Name: name(s.Key), Calls: strconv.Itoa(s.Calls), Orders: strconv.Itoa(s.Orders),
			Met: rateCell(s.Met, s.Orders, "orders"), Issued: strconv.Itoa(s.Cards.Issued),
			Accepted: rateCell(s.Cards.Accepted, s.Cards.Issued, "cards"), Overrid: rateCell(s.Cards.Overridden, s.Cards.Issued, "cards"),
			Feedback: rateCell(s.Cards.WithFeedback, s.Cards.Issued, "cards"),
		})
	}
	return t
}

// rateCell is n with its share of of, or, when of is 0, "-" with the
// denominator ("- (0 orders)"), as the text report shows "-": a rate of
// nothing is not 0 %.
func rateCell(n, of int, unit string) string {
	if of == 0 {
		return fmt.Sprintf("- (0 %s)", unit)
	}
	return countShare(n, of)
}

// layout places the bars of one chart. Percentages use a fixed 0-100 scale
// so that rates compare across charts; counts a rounded-up maximum.
func layout(id, title, axis, note, colour string, bars []bar, percentScale bool) chart {
	c := chart{ID: id, Title: title, Axis: axis, Note: note, Colour: colour, Bars: bars,
		PlotX: labelW, PlotW: plotW, Width: labelW + plotW + valueW}
	top := 100.0
	if !percentScale {
		m := 0.0
		for _, b := range bars {
			v, _ := strconv.ParseFloat(b.Value, 64)
			m = math.Max(m, v)
		}
		top = niceMax(m)
	}
	for i := range c.Bars {
		b := &c.Bars[i]
		if b.Code == "" {
			b.Code = b.FullLabel
		}
		v, _ := strconv.ParseFloat(b.Value, 64)
		b.Label = cut(b.FullLabel)
		b.Y = topPad + i*rowH
		b.H = barH
		b.W = int(math.Round(v / top * plotW))
		if v > 0 && b.W < 1 {
			b.W = 1 // a non-zero value stays visible
		}
		b.LabelY = b.Y + barH/2
		b.TextX = labelW + b.W + 6
	}
	c.AxisY = topPad + len(bars)*rowH
	c.Height = c.AxisY + axisPad
	c.AxisLabelX = labelW + plotW/2
	c.AxisLabelY = c.AxisY + 38
	for i := 0; i <= 4; i++ {
		x := top * float64(i) / 4
		c.Ticks = append(c.Ticks, tick{X: labelW + int(math.Round(float64(plotW)*float64(i)/4)), Label: strconv.FormatFloat(x, 'f', -1, 64)})
	}
	return c
}

// niceMax is the top of a count or millisecond scale: four times the
// smallest whole tick step from 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power
// of ten that reaches m, so that the tick labels are whole numbers.
func niceMax(m float64) float64 {
	for p := 1.0; ; p *= 10 {
		for _, f := range []float64{1, 1.5, 2, 2.5, 3, 4, 5, 6, 8} {
			step := f * p
			if step == math.Trunc(step) && 4*step >= m {
				return 4 * step
			}
		}
	}
}

func cut(s string) string {
	if utf8.RuneCountInString(s) <= maxRune {
		return s
	}
	return string([]rune(s)[:maxRune-1]) + "…"
}
