package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/hooks"
)

// Feedback outcomes (CDS Hooks 2.0 §Feedback).
const (
	OutcomeAccepted   = "accepted"
	OutcomeOverridden = "overridden"
)

// RecordFeedback validates and stores the items of one feedback POST to the
// service serviceID, all or nothing, in one transaction. Errors wrap
// ErrUnknownCard (404) or ErrInvalidFeedback (400), with a message that names
// the item and is safe to show the client; other errors are the store's.
//
// Each item must name a card this service issued; outcome is accepted or
// overridden; acceptedSuggestions must be suggestions of that card (and at
// least one when the card offered any and the outcome is accepted, none when
// overridden); an overrideReason.reason needs a system and a code, and may be
// one the card did not offer: CDS Hooks 2.0.1 (Card Attributes,
// overrideReasons): "A CDS Client MAY augment the override reasons presented
// to the user with its own reasons". It is stored as given (system, code,
// display), and the report tells the client's own reasons apart.
// outcomeTimestamp is required, RFC 3339, and at most an hour ahead of this
// server's clock.
//
// Items are idempotent: one that repeats an item already stored (same card,
// outcome, outcomeTimestamp instant, accepted suggestion ids and override
// reason) is stored once. A userComment is free text and possibly PHI: only
// whether one was given is stored.
func (db *DB) RecordFeedback(ctx context.Context, serviceID string, items []hooks.FeedbackItem) (err error) {
	if len(items) == 0 {
		return fmt.Errorf("%w: feedback is empty", ErrInvalidFeedback)
	}
	checked := make([]item, len(items))
	for i, it := range items {
		c, err := check(it)
		if err != nil {
			return fmt.Errorf("%w: feedback[%d]: %s", ErrInvalidFeedback, i, err)
		}
		checked[i] = c
	}
	if !storable(serviceID) {
		return fmt.Errorf("%w: feedback[0]: card %q was not issued by this service", ErrUnknownCard, shorten(checked[0].card))
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: record feedback: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	st := db.stmts.in(ctx, tx)
	now := time.Now().UnixMilli()
	for i, it := range checked {
		if err := db.recordItem(ctx, &st, serviceID, i, it, now); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: record feedback: commit: %w", err)
	}
	return nil
}

// feedbackClockSkew is how far ahead of this server's clock a client's
// outcomeTimestamp may be.
const feedbackClockSkew = time.Hour

// item is a feedback item whose form has been checked.
type item struct {
	card        string
	outcome     string
	at          time.Time
	suggestions []string // sorted, unique
	reason      *hooks.Coding
	comment     bool
}

// check validates what can be checked without the database.
func check(it hooks.FeedbackItem) (item, error) {
	out := item{card: uuidLower(it.Card), outcome: it.Outcome}
	if it.Card == "" {
		return out, errors.New("card is required")
	}
	// No issued id holds a NUL byte or invalid UTF-8, and PostgreSQL
	// cannot even compare such text: refuse it here.
	if !storable(it.Card) {
		return out, errors.New("card is not a valid id")
	}
	if it.Outcome != OutcomeAccepted && it.Outcome != OutcomeOverridden {
		return out, fmt.Errorf("outcome %q: want accepted or overridden", shorten(it.Outcome))
	}
	if it.OutcomeTimestamp == "" {
		return out, errors.New("outcomeTimestamp is required")
	}
	at, err := time.Parse(time.RFC3339Nano, it.OutcomeTimestamp)
	if err != nil {
		return out, fmt.Errorf("outcomeTimestamp %q is not an RFC 3339 date-time", shorten(it.OutcomeTimestamp))
	}
	// RFC 3339 gives an offset's hour as 00-23, which time.Parse stretches
	// to 24; no zone is further than 14 hours from UTC (the FHIR instant
	// pattern allows up to 14:00).
	if _, off := at.Zone(); off > 14*3600 || off < -14*3600 {
		return out, fmt.Errorf("outcomeTimestamp %q has a UTC offset beyond 14:00", shorten(it.OutcomeTimestamp))
	}
	// The report takes a card's latest feedback as its outcome: a time in
	// the future (a client clock error, 9999-12-31) would hide every real
	// outcome after it. A client clock ahead by up to feedbackClockSkew is
	// accepted.
	if at.After(time.Now().Add(feedbackClockSkew)) {
		return out, fmt.Errorf("outcomeTimestamp %q is in the future", shorten(it.OutcomeTimestamp))
	}
	out.at = at.UTC()
	for _, s := range it.AcceptedSuggestions {
		if s.ID == "" {
			return out, errors.New("acceptedSuggestions: id is required")
		}
		if !storable(s.ID) {
			return out, errors.New("acceptedSuggestions: id is not a valid id")
		}
		out.suggestions = append(out.suggestions, uuidLower(s.ID))
	}
	slices.Sort(out.suggestions)
	out.suggestions = slices.Compact(out.suggestions)
	if it.Outcome == OutcomeOverridden && len(out.suggestions) > 0 {
		return out, errors.New("acceptedSuggestions given with outcome overridden")
	}
	if r := it.OverrideReason; r != nil {
		if r.Reason != nil {
			if it.Outcome != OutcomeOverridden {
				return out, errors.New("overrideReason given with outcome accepted")
			}
			if r.Reason.System == "" || r.Reason.Code == "" {
				return out, errors.New("overrideReason.reason needs system and code")
			}
			if !storable(r.Reason.System) || !storable(r.Reason.Code) || !storable(r.Reason.Display) {
				return out, errors.New("overrideReason.reason holds a NUL byte or invalid UTF-8")
			}
			out.reason = r.Reason
		}
		out.comment = strings.TrimSpace(r.UserComment) != ""
	}
	return out, nil
}

// recordItem checks the item against the card it names and stores it.
func (db *DB) recordItem(ctx context.Context, st *statements, serviceID string, i int, it item, now int64) error {
	var cardID int64
	var suggestions, issuedTo string
	err := st.findCard.QueryRowContext(ctx, it.card, serviceID).Scan(&cardID, &suggestions, &issuedTo)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: feedback[%d]: card %q was not issued by this service", ErrUnknownCard, i, shorten(it.card))
	}
	if err != nil {
		return fmt.Errorf("store: record feedback: %w", err)
	}
	// A verified client gives feedback on the cards it was given only: the
	// report counts a card's feedback as its client's. Answered as an
	// unknown card, so a client learns nothing of another's cards.
	if client := FeedbackClient(ctx); client != "" && issuedTo != "" && clip(client) != issuedTo {
		return fmt.Errorf("%w: feedback[%d]: card %q was not issued by this service to this client", ErrUnknownCard, i, shorten(it.card))
	}
	var offered []string
	if err := json.Unmarshal([]byte(suggestions), &offered); err != nil {
		return fmt.Errorf("store: record feedback: card %d suggestions: %w", cardID, err)
	}
	for _, s := range it.suggestions {
		if !slices.Contains(offered, s) {
			return fmt.Errorf("%w: feedback[%d]: suggestion %q is not a suggestion of card %q", ErrInvalidFeedback, i, shorten(s), shorten(it.card))
		}
	}
	// CDS Hooks 2.0 makes acceptedSuggestions required for accepted outcomes;
	// a card without suggestions can still be accepted (read and followed).
	if it.outcome == OutcomeAccepted && len(offered) > 0 && len(it.suggestions) == 0 {
		return fmt.Errorf("%w: feedback[%d]: outcome accepted needs acceptedSuggestions for card %q", ErrInvalidFeedback, i, shorten(it.card))
	}
	// A reason the card did not offer is the client's own (CDS Hooks 2.0.1,
	// Card Attributes, overrideReasons): stored as given, not refused. The
	// clip matches how the offered reasons are stored (reasonsJSON), so the
	// report finds an offered reason by its system and code.
	var system, code, display string
	if it.reason != nil {
		system, code, display = clip(it.reason.System), clip(it.reason.Code), clip(strings.TrimSpace(printable(it.reason.Display)))
	}
	comment := 0
	if it.comment {
		comment = 1
	}
	var id int64
	err = st.insertFeedback.QueryRowContext(ctx, cardID, it.outcome, it.at.UnixMilli(), system, code, display, comment, now, dedupKey(it)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // a repeat of an item already stored
	}
	if err != nil {
		return fmt.Errorf("store: record feedback: %w", err)
	}
	for _, s := range it.suggestions {
		if _, err := st.insertFeedbackSuggestion.ExecContext(ctx, id, s); err != nil {
			return fmt.Errorf("store: record feedback: %w", err)
		}
	}
	return nil
}

// dedupKey is the canonical form of an item for idempotency: the instant of
// outcomeTimestamp in UTC (so 10:05:31Z and 11:05:31+01:00 are one item),
// suggestion ids sorted and unique. Fields are separated by the control byte
// 0x1f, and every client-supplied value is quoted with %q, which escapes that
// byte, so two different items cannot give one key.
func dedupKey(it item) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q\x1f%s\x1f%s\x1f", it.card, it.outcome, it.at.Format(time.RFC3339Nano))
	for _, s := range it.suggestions {
		fmt.Fprintf(&b, "%q,", s)
	}
	b.WriteString("\x1f")
	if it.reason != nil {
		fmt.Fprintf(&b, "%q|%q", it.reason.System, it.reason.Code)
	}
	return b.String()
}

// shorten bounds a client-supplied value echoed in an error message.
func shorten(s string) string {
	if len(s) <= 80 {
		return s
	}
	r := []rune(s)
	if len(r) <= 80 {
		return s
	}
	return string(r[:80]) + "…"
}

// feedbackClientKey is the context key of WithFeedbackClient.
type feedbackClientKey struct{}

// WithFeedbackClient returns ctx carrying the verified issuer of the client
// posting feedback: RecordFeedback then accepts feedback only on the cards
// issued to that client (calls.client_iss). Without it, or with "" (a
// development instance, which verifies no token), any card of the service.
func WithFeedbackClient(ctx context.Context, iss string) context.Context {
	return context.WithValue(ctx, feedbackClientKey{}, iss)
}

// FeedbackClient returns the issuer WithFeedbackClient put in ctx, or "".
func FeedbackClient(ctx context.Context) string {
	iss, _ := ctx.Value(feedbackClientKey{}).(string)
	return iss
}

// uuidLower is a UUID in lower case, as this service issues them (RFC 9562
// section 4: UUIDs are compared without regard to case); other ids as sent.
func uuidLower(id string) string {
	if hooks.IsUUID(id) {
		return strings.ToLower(id)
	}
	return id
}

// printable is s with its control characters (newlines, escapes, the
// bidirectional controls) turned to spaces: a client's own reason text is
// shown in the report as one line, never able to rewrite a terminal or a
// page.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return ' '
		}
		return r
	}, s)
}
