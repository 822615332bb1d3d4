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
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/notes"
	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Bounds on reading notes: a chart may hold many long documents, and each
// is read within the call the clinician waits on.
const (
	// MaxAttachmentBytes caps one attachment (decoded inline data or a
	// fetched body); a larger one is listed as not read.
	MaxAttachmentBytes = 1 << 20
	// MaxNoteTextBytes caps the text kept of one note (after HTML is
	// stripped); the rest is cut and the note marked Truncated.
	MaxNoteTextBytes = 64 << 10
	// MaxAttachmentFetches caps the attachment urls fetched per call; the
	// others are listed as not read.
	MaxAttachmentFetches = 20
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
func ExtractNotes(ctx context.Context, docs []chart.DocumentReference, reports []chart.DiagnosticReport, fetch AttachmentFetcher) []chart.Note {
	type pending struct {
		note *chart.Note
		att  r4.Attachment
	}
	var out []chart.Note
	var todo []pending
	add := func(n chart.Note, att *r4.Attachment) {
		out = append(out, n)
		if att != nil {
			todo = append(todo, pending{att: *att})
		} else {
			todo = append(todo, pending{})
		}
	}
	for i := range docs {
		d := &docs[i]
		n := chart.Note{Source: refOf("DocumentReference", d.Id), Date: docDate(&d.DocumentReference)}
		n.Status, n.Reason = docStatus(d)
		if len(d.Content) == 0 {
			n.Status, n.Reason = NoteNotRead, "no content"
			add(n, nil)
			continue
		}
		for _, c := range d.Content {
			att := c.Attachment
			add(n, &att)
		}
	}
	for i := range reports {
		r := &reports[i]
		if len(r.PresentedForm) == 0 {
			continue // a coded report without a presented form is not a note
		}
		n := chart.Note{Source: refOf("DiagnosticReport", r.Id), Date: reportDate(&r.DiagnosticReport)}
		n.Status, n.Reason = reportStatus(r)
		for _, att := range r.PresentedForm {
			add(n, &att)
		}
	}
	var fetches []int
	for i := range out {
		todo[i].note = &out[i]
		n, att := &out[i], todo[i].att
		if n.Status == NoteNotRead {
			continue
		}
		ct, ok := readableType(att.ContentType)
		n.ContentType = ct
		if !ok {
			n.Status, n.Reason = NoteNotRead, "content type "+clipType(ct)+" not read"
			continue
		}
		switch {
		case att.Data != nil:
			raw, err := decodeData(*att.Data)
			if err != nil {
				n.Status, n.Reason = NoteNotRead, err.Error()
				continue
			}
			setText(n, raw, ptrOr(att.ContentType))
		case att.Url != nil && fetch != nil:
			if len(fetches) >= MaxAttachmentFetches {
				n.Status, n.Reason = NoteNotRead, fmt.Sprintf("over %d attachment urls in one call", MaxAttachmentFetches)
				continue
			}
			fetches = append(fetches, i)
		case att.Url != nil:
			n.Status, n.Reason = NoteNotRead, "attachment url and no fhirServer to fetch it from"
		default:
			n.Status, n.Reason = NoteNotRead, "attachment has neither data nor url"
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, attachmentFetchParallel)
	for _, i := range fetches {
		n, att := todo[i].note, todo[i].att
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
	return out
}

// setText stores the attachment's text: charset handled, HTML stripped,
// cut at MaxNoteTextBytes on a character boundary.
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
		cut := MaxNoteTextBytes
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text, n.Truncated = text[:cut], true
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
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
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

// reasonOf names a fetch error by its sentinel, never its URL.
func reasonOf(err error) string {
	switch r := resultOf(err); r {
	case "unavailable", "not-found", "unauthorized", "too-large", "foreign-origin", "bad-response":
		return r
	default:
		return "error"
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
