package fhir

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/notes"
	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Bounds on reading notes: a chart may hold many long documents, and each
// is read within the call the clinician waits on (CRD: 5 s). The finder
// (internal/notes) costs about 1.2-3 ms of CPU per KB of text on the shared
// 2-core test machine, close to linear in the text's length: one call
// carrying 55 inline 64 KB notes took about 7 s of CPU, and 3 such calls at
// once 12 s each and 534 MB. The caps below keep the finder's share of a
// call under about 0.4 s whatever the caller sends.
const (
	// MaxAttachmentBytes caps one attachment (decoded inline data or a
	// fetched body); a larger one is listed as not read. HTML markup makes
	// an attachment larger than its text, hence the room over
	// MaxNoteTextBytes.
	MaxAttachmentBytes = 1 << 20
	// MaxNoteTextBytes caps the text of one note (after HTML is stripped):
	// about 0.1 s of finder time. A longer note is listed as not read
	// (never cut: a partly read note would read as fully checked).
	MaxNoteTextBytes = 32 << 10
	// MaxCallNoteTextBytes caps the note text of one call, all notes
	// together: about 0.4 s of finder time. Notes are read newest first;
	// one that does not fit in what is left is listed as not read.
	MaxCallNoteTextBytes = 128 << 10
	// MaxNotesPerCall caps the note attachments read per call, inline or
	// fetched: the newest are read, the others are listed as not read. It
	// also caps the attachment urls fetched.
	MaxNotesPerCall = 20
	// attachmentFetchParallel is how many attachment urls are fetched at once.
	attachmentFetchParallel = 4
)

// Note statuses (see chart.Note).
const (
	NoteCounts   = chart.NoteCounts
	NoteAdvisory = chart.NoteAdvisory
	NoteNotRead  = chart.NoteNotRead
)

// AttachmentFetcher fetches an attachment url and returns its body and
// media type. Client.Attachment is one; nil means urls are not fetched.
type AttachmentFetcher func(ctx context.Context, ref string) (body []byte, contentType string, err error)

// ExtractNotes turns decoded DocumentReferences and DiagnosticReports into
// notes, one per attachment, in order: DocumentReferences first. Inline
// data is decoded; a url is fetched with fetch (nil: listed as not read).
// Only text/plain and text/html are read (HTML stripped by
// notes.StripHTML); other types are listed as not read. ctx bounds the
// fetches.
//
// The text read is bounded whatever the caller sends: at most
// MaxNotesPerCall attachments, MaxNoteTextBytes of text each and
// MaxCallNoteTextBytes in all, the newest notes first. A note over a cap
// is listed as not read with the cap as its reason; inline data is sized
// from its base64 length before it is decoded, and text over a cap is not
// kept.
func ExtractNotes(ctx context.Context, docs []chart.DocumentReference, reports []chart.DiagnosticReport, fetch AttachmentFetcher) []chart.Note {
	var out []chart.Note
	var atts []*r4.Attachment // atts[i] is out[i]'s attachment, nil when none
	add := func(n chart.Note, att *r4.Attachment) {
		out = append(out, n)
		atts = append(atts, att)
	}
	for i := range docs {
		d := &docs[i]
		// Entered in error: FHIR R4 says it was never valid; left out, as
		// every entered-in-error entry is (docs/clinical.md).
		if d.StatusPresent && d.Status == r4.DocumentReferenceStatusEnteredInError ||
			d.DocStatus != nil && *d.DocStatus == r4.CompositionStatusEnteredInError {
			continue
		}
		n := chart.Note{Source: refOf("DocumentReference", d.Id), Date: docDate(&d.DocumentReference)}
		n.Status, n.Reason = docStatus(d)
		n.Superseded = d.StatusPresent && d.Status == r4.DocumentReferenceStatusSuperseded
		if len(d.Content) == 0 {
			n.Status, n.Reason = NoteNotRead, "no content"
			add(n, nil)
			continue
		}
		for j := range d.Content {
			add(n, &d.Content[j].Attachment)
		}
	}
	for i := range reports {
		r := &reports[i]
		if len(r.PresentedForm) == 0 {
			continue // a coded report without a presented form is not a note
		}
		if r.StatusPresent && r.Status == r4.DiagnosticReportStatusEnteredInError {
			continue
		}
		n := chart.Note{Source: refOf("DiagnosticReport", r.Id), Date: reportDate(&r.DiagnosticReport)}
		n.Status, n.Reason = reportStatus(r)
		for j := range r.PresentedForm {
			add(n, &r.PresentedForm[j])
		}
	}
	// The attachments that can be read, newest first.
	var read []int
	for i := range out {
		n, att := &out[i], atts[i]
		if n.Status == NoteNotRead {
			continue
		}
		ct, ok := readableType(att.ContentType)
		n.ContentType = ct
		switch {
		case !ok:
			n.Status, n.Reason = NoteNotRead, "content type "+clipType(ct)+" not read"
		case att.Data != nil, att.Url != nil && fetch != nil:
			read = append(read, i)
		case att.Url != nil:
			n.Status, n.Reason = NoteNotRead, "attachment url and no fhirServer to fetch it from"
		default:
			n.Status, n.Reason = NoteNotRead, "attachment has neither data nor url"
		}
	}
	newestFirst(out, read)
	if len(read) > MaxNotesPerCall {
		for _, i := range read[MaxNotesPerCall:] {
			out[i].Status, out[i].Reason = NoteNotRead, fmt.Sprintf("over %d notes in one call (the newest are read)", MaxNotesPerCall)
		}
		read = read[:MaxNotesPerCall]
	}
	// Fetch the urls at once; each body is reduced to its text (within
	// MaxNoteTextBytes) as it arrives.
	var wg sync.WaitGroup
	sem := make(chan struct{}, attachmentFetchParallel)
	for _, i := range read {
		n, att := &out[i], atts[i]
		if att.Data != nil {
			continue
		}
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				n.Status, n.Reason = NoteNotRead, "deadline before the attachment was fetched"
				return
			}
			body, ct, err := fetch(ctx, *att.Url)
			if err != nil {
				n.Status, n.Reason = NoteNotRead, "attachment fetch failed: "+reasonOf(err)
				return
			}
			got, ok := readableType(&ct)
			n.ContentType = got
			if !ok {
				n.Status, n.Reason = NoteNotRead, "fetched content type "+clipType(got)+" not read"
				return
			}
			setText(n, body, ct)
		})
	}
	wg.Wait()
	// Share MaxCallNoteTextBytes, newest first.
	left := MaxCallNoteTextBytes
	overCall := fmt.Sprintf("over the per-call note text budget (%d KB)", MaxCallNoteTextBytes>>10)
	for _, i := range read {
		n, att := &out[i], atts[i]
		if att.Data != nil && n.Status != NoteNotRead {
			// Plain text is as long as its bytes (a BOM aside): size it
			// from the base64 length, and decode only what can be read.
			size := decodedLen(*att.Data)
			switch {
			case size > MaxAttachmentBytes:
				n.Status, n.Reason = NoteNotRead, fmt.Sprintf("attachment over %d bytes", MaxAttachmentBytes)
			case n.ContentType == "text/plain" && size > MaxNoteTextBytes+len(utf8BOM):
				n.Status, n.Reason = NoteNotRead, tooLong()
			case left == 0 || n.ContentType == "text/plain" && size > left+len(utf8BOM):
				n.Status, n.Reason = NoteNotRead, overCall
			default:
				raw, err := decodeData(*att.Data)
				if err != nil {
					n.Status, n.Reason = NoteNotRead, err.Error()
					break
				}
				setText(n, raw, ptrOr(att.ContentType))
			}
		}
		if n.Status == NoteNotRead {
			continue
		}
		if len(n.Text) > left {
			n.Status, n.Reason, n.Text = NoteNotRead, overCall, ""
			continue
		}
		left -= len(n.Text)
	}
	return otherFormatsRead(out)
}

// otherFormatsRead drops the attachments not read of a DocumentReference
// or DiagnosticReport one of whose attachments was read: they hold the same
// document in another format (FHIR R4 DocumentReference.content, "each with
// a different format"; DiagnosticReport.presentedForm, "semantically
// equivalent"), so nothing of it went unread, and listing the PDF copy of
// a note that was read would tell the clinician a note was missed.
func otherFormatsRead(notes []chart.Note) []chart.Note {
	read := map[string]bool{}
	for _, n := range notes {
		if n.Status != NoteNotRead && strings.Contains(n.Source, "/") {
			read[n.Source] = true
		}
	}
	if len(read) == 0 {
		return notes
	}
	out := notes[:0]
	for _, n := range notes {
		if n.Status == NoteNotRead && read[n.Source] {
			continue
		}
		out = append(out, n)
	}
	return out
}

// tooLong is the reason a note over MaxNoteTextBytes is not read.
func tooLong() string { return fmt.Sprintf("longer than %d KB of text", MaxNoteTextBytes>>10) }

const utf8BOM = "\xef\xbb\xbf"

// newestFirst orders the indices of notes by the notes' dates, newest
// first; undated notes come last, and ties keep their order.
func newestFirst(notes []chart.Note, idx []int) {
	type key struct {
		t     time.Time
		dated bool
	}
	keys := make(map[int]key, len(idx))
	for _, i := range idx {
		t, ok := noteTime(notes[i].Date)
		keys[i] = key{t, ok}
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ka, kb := keys[a], keys[b]
		switch {
		case ka.dated != kb.dated:
			if ka.dated {
				return -1
			}
			return 1
		default:
			return kb.t.Compare(ka.t)
		}
	})
}

// noteTime is when a note was written, to read the newest first: the
// instant of a dateTime, else the last day its date allows. ok is false
// when it is undated or the date cannot be read.
func noteTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if d, ok := chart.ParseDate(s); ok {
		return d.Latest, true
	}
	return time.Time{}, false
}

// setText stores the attachment's text (charset handled, HTML stripped),
// or lists the note as not read when it is over MaxNoteTextBytes.
func setText(n *chart.Note, raw []byte, contentType string) {
	text, err := decodeCharset(raw, contentType)
	if err != nil {
		n.Status, n.Reason, n.Text = NoteNotRead, err.Error(), ""
		return
	}
	if n.ContentType == "text/html" {
		text = notes.StripHTML(text)
	}
	if len(text) > MaxNoteTextBytes {
		n.Status, n.Reason, n.Text = NoteNotRead, tooLong(), ""
		return
	}
	n.Text = text
}

// readableType returns the media type and whether it is read.
func readableType(ct *string) (string, bool) {
	if ct == nil || strings.TrimSpace(*ct) == "" {
		return "(none)", false
	}
	mt, _, err := mime.ParseMediaType(*ct)
	if err != nil {
		return "invalid", false
	}
	return mt, mt == "text/plain" || mt == "text/html"
}

// decodeCharset returns the text as UTF-8: UTF-8 and US-ASCII as they are
// (invalid bytes replaced), ISO-8859-1 mapped byte by byte; other charsets
// are not read.
func decodeCharset(raw []byte, contentType string) (string, error) {
	cs := ""
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		cs = strings.ToLower(params["charset"])
	}
	raw = bytes.TrimPrefix(raw, []byte(utf8BOM))
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return strings.ToValidUTF8(string(raw), "\uFFFD"), nil
	case "iso-8859-1", "latin1", "latin-1":
		r := make([]rune, len(raw))
		for i, b := range raw {
			r[i] = rune(b)
		}
		return string(r), nil
	default:
		return "", fmt.Errorf("charset %s not read", clipType(cs))
	}
}

// decodedLen is the length of base64 data once decoded, without decoding
// it: whitespace is skipped, as decodeData does (an upper bound for data
// that is not valid base64, which decodeData then refuses).
func decodedLen(data string) int {
	n, pad := 0, 0
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case ' ', '\t', '\n', '\r', '\v', '\f':
		case '=':
			n++
			pad++
		default:
			n++
		}
	}
	return n/4*3 + max(n%4-1, 0) - min(pad, 2)
}

// decodeData decodes an attachment's base64 data, within MaxAttachmentBytes.
func decodeData(data string) ([]byte, error) {
	if base64.StdEncoding.DecodedLen(len(data)) > MaxAttachmentBytes+3 {
		return nil, fmt.Errorf("attachment over %d bytes", MaxAttachmentBytes)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
	if err != nil {
		return nil, errors.New("attachment data is not base64")
	}
	if len(raw) > MaxAttachmentBytes {
		return nil, fmt.Errorf("attachment over %d bytes", MaxAttachmentBytes)
	}
	return raw, nil
}

// docStatus applies DECISIONS.md "Notes" to a DocumentReference.
func docStatus(d *chart.DocumentReference) (chart.NoteStatus, string) {
	if !d.StatusPresent {
		return NoteNotRead, "status missing"
	}
	if d.Status != r4.DocumentReferenceStatusCurrent {
		return NoteNotRead, "status " + d.Status.Code()
	}
	if d.DocStatus == nil {
		return NoteCounts, ""
	}
	switch *d.DocStatus {
	case r4.CompositionStatusFinal, r4.CompositionStatusAmended:
		return NoteCounts, ""
	case r4.CompositionStatusPreliminary:
		return NoteAdvisory, "docStatus preliminary"
	default:
		return NoteNotRead, "docStatus " + d.DocStatus.Code()
	}
}

// reportStatus applies the same rule to a DiagnosticReport's status.
func reportStatus(r *chart.DiagnosticReport) (chart.NoteStatus, string) {
	if !r.StatusPresent {
		return NoteNotRead, "status missing"
	}
	switch r.Status {
	case r4.DiagnosticReportStatusFinal, r4.DiagnosticReportStatusAmended,
		r4.DiagnosticReportStatusCorrected, r4.DiagnosticReportStatusAppended:
		return NoteCounts, ""
	case r4.DiagnosticReportStatusPreliminary, r4.DiagnosticReportStatusPartial:
		return NoteAdvisory, "status " + r.Status.Code()
	default:
		return NoteNotRead, "status " + r.Status.Code()
	}
}

func docDate(d *r4.DocumentReference) string {
	switch {
	case d.Date != nil:
		return *d.Date
	case d.Context != nil && d.Context.Period != nil && d.Context.Period.Start != nil:
		return *d.Context.Period.Start
	}
	return ""
}

func reportDate(r *r4.DiagnosticReport) string {
	switch {
	case r.EffectiveDateTime != nil:
		return *r.EffectiveDateTime
	case r.EffectivePeriod != nil && r.EffectivePeriod.Start != nil:
		return *r.EffectivePeriod.Start
	case r.Issued != nil:
		return *r.Issued
	}
	return ""
}

func refOf(typ string, id *string) string {
	if id == nil || *id == "" {
		return typ
	}
	return typ + "/" + *id
}

func ptrOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// reasonOf says in plain words why an attachment fetch failed, by the
// error's sentinel, never its URL: the words reach the clinician's card.
func reasonOf(err error) string {
	switch resultOf(err) {
	case "unavailable":
		return "the server did not answer in time or answered with an error"
	case "not-found":
		return "the server has no such attachment"
	case "unauthorized":
		return "the server refused the access token"
	case "too-large":
		return "the attachment is larger than this service reads"
	case "foreign-origin":
		return "the attachment is on another server than fhirServer, which is not given the access token"
	case "bad-response":
		return "the server's answer was not a readable attachment"
	default:
		return "an error"
	}
}

// Attachment fetches an attachment url: absolute on the base URL's origin,
// or relative to the base URL ("Binary/123"). The token goes with it, so
// any other origin is refused (ErrForeignOrigin) before a request is made.
// A FHIR Binary answer (application/fhir+json) is unwrapped to its data
// and contentType. Bodies over MaxAttachmentBytes fail with ErrTooLarge.
func (c *Client) Attachment(ctx context.Context, ref string) ([]byte, string, error) {
	const what = "attachment"
	u, err := url.Parse(strings.TrimSpace(ref))
	if err != nil {
		return nil, "", fmt.Errorf("%s: bad url: %w", what, ErrMalformed)
	}
	if !u.IsAbs() {
		u, err = url.Parse(c.base.String() + "/" + strings.TrimLeft(u.String(), "/"))
		if err != nil {
			return nil, "", fmt.Errorf("%s: bad url: %w", what, ErrMalformed)
		}
	}
	if !sameOrigin(u, c.base) {
		return nil, "", fmt.Errorf("%s: %w", what, ErrForeignOrigin)
	}
	if c.observe != nil {
		start := time.Now()
		defer func() { c.observe("Binary", resultOf(err), time.Since(start)) }()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", what, ErrMalformed)
	}
	req.Header.Set("Accept", "text/plain, text/html;q=0.9, application/fhir+json;q=0.5")
	body, ct, err := c.doRaw(req, what, MaxAttachmentBytes)
	if err != nil {
		return nil, "", err
	}
	if mt := mediaType(ct); isJSONType(mt) {
		var bin struct {
			ResourceType string `json:"resourceType"`
			ContentType  string `json:"contentType"`
			Data         string `json:"data"`
		}
		if json.Unmarshal(body, &bin) != nil || bin.ResourceType != "Binary" {
			return nil, "", fmt.Errorf("%s: JSON that is not a Binary: %w", what, ErrBadResponse)
		}
		raw, err := decodeData(bin.Data)
		if err != nil {
			return nil, "", fmt.Errorf("%s: Binary %v: %w", what, err, ErrBadResponse)
		}
		return raw, bin.ContentType, nil
	}
	return body, ct, nil
}

// doRaw sends req under the concurrency cap with the token and returns the
// body (at most max bytes) and its Content-Type, whatever it is.
func (c *Client) doRaw(req *http.Request, what string, max int64) (body []byte, contentType string, err error) {
	release, err := c.slot(req.Context(), what)
	if err != nil {
		return nil, "", err
	}
	defer release()
	resp, err := c.send(req, what)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, "", fmt.Errorf("%s: reading body: %v: %w", what, err, ErrUnavailable)
	}
	if int64(len(body)) > max {
		return nil, "", fmt.Errorf("%s: body over %d bytes: %w", what, max, ErrTooLarge)
	}
	return body, resp.Header.Get("Content-Type"), nil
}
