package report

import (
	"fmt"
	"strconv"
	"time"
)

// Report summarises the audit trail for the calls made in [From, To).
// Feedback is attributed to the period of the call that issued the card,
// whenever it arrived.
type Report struct {
	// From and To bound the period (From inclusive, To exclusive), UTC.
	From, To time.Time
	// Calls is the number of service calls in the period, every status.
	Calls int
	// Orders is the number of lumbar MRI orders assessed in those calls.
	Orders int
	// Outcomes counts calls by outcome, most frequent first. A call answered
	// 200 is counted under its orders' assessment code (criteria-met,
	// criteria-not-met, criteria-indeterminate), under "mixed" when its orders
	// were assessed differently, or under "no-lumbar-mri" when it had none to
	// assess; any other status is counted as "HTTP nnn".
	Outcomes []Count
	// Findings counts assessed orders by finding code, most frequent first.
	Findings []Count
	// CardTypes gives, per card topic code, how cards fared. A card's outcome
	// is its latest feedback (by outcomeTimestamp); cards without feedback
	// were ignored, which CDS Hooks clients do not report.
	CardTypes []CardType
	// Cards is the total over CardTypes.
	Cards CardType
	// OverrideReasons counts overridden cards by the reason chosen (the
	// latest override of each card), most frequent first; Label is
	// "(none given)" for overrides without a coded reason. A reason the card
	// did not offer is the CDS client's own (ClientOwn), with the display the
	// client gave as its Detail.
	OverrideReasons []Count
	// Suggestions counts suggestions offered and accepted.
	Suggestions Suggestions
	// Latency is the distribution of the service time over all calls: from
	// the request to the answer, before the audit commit.
	Latency Latency
	// Answered is the distribution of the latency the client saw: to the
	// audit commit, after which the answer leaves (the calls whose figure
	// is recorded: a row gets it with the next commit).
	Answered Latency
	// Days has one entry per UTC day of the period, oldest first, days
	// without calls included (the daily trend).
	Days []Day
	// ByPolicy, ByHook and ByClient split the calls by the payer policy
	// applied, the hook, and the calling client (its verified iss; "" in
	// development mode), most calls first.
	ByPolicy, ByHook, ByClient []Split
	// PolicyNames maps a policy id to its payer's name as clinicians read it
	// (the policy's payer: field), from the policies in force when the report
	// is made. Not from the audit trail: a policy id missing here is shown as
	// the id.
	PolicyNames map[string]string
	// Refused counts calls refused before the service ran (401, 429), which
	// are counted per reason rather than audited one by one; most frequent
	// first. They are not in Calls.
	Refused []Count
}

// Day is the activity of one UTC day.
type Day struct {
	Date time.Time
	// Calls counts every call of the day; Refused those answered with a
	// status other than 200.
	Calls, Refused int
	// Orders counts lumbar MRI orders assessed; Met those of them whose
	// documentation met the criteria.
	Orders, Met int
}

// MetRate is Met/Orders in percent; 0 when no order was assessed.
func (d Day) MetRate() float64 { return percent(d.Met, d.Orders) }

// Split is what happened to the calls that share one Key.
type Split struct {
	// Key is a policy id, a hook or a client issuer ("" when none).
	Key string
	// Calls counts calls, every status; Orders the orders assessed in them
	// and Met those whose documentation met the criteria.
	Calls, Orders, Met int
	// Cards is what became of the cards these calls issued.
	Cards CardType
}

// MetRate is Met/Orders in percent; 0 when no order was assessed.
func (s Split) MetRate() float64 { return percent(s.Met, s.Orders) }

// Count is one labelled number.
type Count struct {
	// Label is a code (an outcome, finding or reason code) or a short text.
	Label string
	// Detail is a human-readable name for Label, when one is known.
	Detail string
	N      int
	// ClientOwn marks an override reason the CDS client added to the ones
	// the card offered (CDS Hooks 2.0.1, Card Attributes, overrideReasons:
	// "A CDS Client MAY augment the override reasons ... with its own").
	ClientOwn bool
}

// CardType is what became of the cards of one topic.
type CardType struct {
	// Topic is the CRD card type code (for example coverage-info).
	Topic      string
	Issued     int
	Accepted   int
	Overridden int
	// WithFeedback counts the cards that received any feedback; the others
	// count as neither accepted nor overridden.
	WithFeedback int
}

// AcceptanceRate is Accepted/Issued in percent; 0 when nothing was issued.
func (c CardType) AcceptanceRate() float64 { return percent(c.Accepted, c.Issued) }

// OverrideRate is Overridden/Issued in percent; 0 when nothing was issued.
func (c CardType) OverrideRate() float64 { return percent(c.Overridden, c.Issued) }

// Suggestions counts suggestions offered on cards and accepted in feedback.
type Suggestions struct {
	Offered  int
	Accepted int
}

// Rate is Accepted/Offered in percent; 0 when nothing was offered.
func (s Suggestions) Rate() float64 { return percent(s.Accepted, s.Offered) }

// Latency holds nearest-rank percentiles of call latency in milliseconds.
type Latency struct {
	N             int
	P50, P90, P99 float64
	Max           float64
}

// share is n/of as a percentage with one decimal, or "-" when of is 0
// (a rate of nothing is not 0 %).
func share(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", percent(n, of))
}

// countShare is n with its share of of in parentheses, or n alone when of
// is 0.
func countShare(n, of int) string {
	if of == 0 {
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("%d (%.1f%%)", n, percent(n, of))
}

func percent(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// Percentiles computes nearest-rank p50, p90, p99 and the maximum of
// sorted, which must be in ascending order.
func Percentiles(sorted []float64) Latency {
	l := Latency{N: len(sorted)}
	if len(sorted) == 0 {
		return l
	}
	rank := func(p int) float64 {
		// Nearest rank, in integers to avoid 0.9*10 = 9.000000000000002:
		// the smallest value with at least p% of the values at or below it.
		i := (p*len(sorted)+99)/100 - 1
		return sorted[min(max(i, 0), len(sorted)-1)]
	}
	l.P50, l.P90, l.P99 = rank(50), rank(90), rank(99)
	l.Max = sorted[len(sorted)-1]
	return l
}
