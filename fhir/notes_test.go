package fhir

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// docRef is a DocumentReference JSON with the given status fields and one
// attachment.
func docRef(id, status, docStatus, attachment string) string {
	s := fmt.Sprintf(`{"resourceType":"DocumentReference","id":%q,"subject":{"reference":"Patient/%s"},"date":"2026-04-20T10:00:00Z"`, id, testPatient)
	if status != "" {
		s += fmt.Sprintf(`,"status":%q`, status)
	}
	if docStatus != "" {
		s += fmt.Sprintf(`,"docStatus":%q`, docStatus)
	}
	return s + `,"content":[{"attachment":` + attachment + `}]}`
}

func inline(contentType, text string) string {
	return fmt.Sprintf(`{"contentType":%q,"data":%q}`, contentType, b64(text))
}

func loadPrefetch(t *testing.T, docs, reports []string) *Record {
	t.Helper()
	pf := map[string]json.RawMessage{
		"patient": json.RawMessage(fmt.Sprintf(`{"resourceType":"Patient","id":%q}`, testPatient)),
	}
	if docs != nil {
		pf["documentReferences"] = json.RawMessage(searchset(docs...))
	}
	if reports != nil {
		pf["diagnosticReports"] = json.RawMessage(searchset(reports...))
	}
	l, logs := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf})
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, logs.String())
	return rec
}

func TestNotesFromPrefetch(t *testing.T) {
	long := strings.Repeat("word ", MaxNoteTextBytes/5+10)
	docs := []string{
		docRef("plain", "current", "final", inline("text/plain; charset=utf-8", "Reports saddle anesthesia.")),
		docRef("html", "current", "", inline("text/html", "<p>New <b>urinary retention</b> &amp; fever.</p>")),
		docRef("prelim", "current", "preliminary", inline("text/plain", "Foot drop.")),
		docRef("amended", "current", "amended", inline("text/plain", "Amended text.")),
		docRef("pdf", "current", "final", `{"contentType":"application/pdf","data":"JVBERi0="}`),
		docRef("eie", "entered-in-error", "", inline("text/plain", "Wrong patient.")),
		docRef("superseded", "superseded", "", inline("text/plain", "Old version.")),
		docRef("nostatus", "", "", inline("text/plain", "No status.")),
		docRef("docstatus-eie", "current", "entered-in-error", inline("text/plain", "x")),
		docRef("url", "current", "", `{"contentType":"text/plain","url":"Binary/b1"}`),
		docRef("empty", "current", "", `{"contentType":"text/plain"}`),
		docRef("badb64", "current", "", `{"contentType":"text/plain","data":"%%%"}`),
		docRef("latin1", "current", "", fmt.Sprintf(`{"contentType":"text/plain; charset=iso-8859-1","data":%q}`, base64.StdEncoding.EncodeToString([]byte("fi\xe8vre")))),
		docRef("shiftjis", "current", "", fmt.Sprintf(`{"contentType":"text/plain; charset=shift_jis","data":%q}`, b64("x"))),
		docRef("long", "current", "", inline("text/plain", long)),
		docRef("notype", "current", "", fmt.Sprintf(`{"data":%q}`, b64("x"))),
	}
	reports := []string{
		fmt.Sprintf(`{"resourceType":"DiagnosticReport","id":"r1","status":"final","code":{"text":"MRI"},"effectiveDateTime":"2026-03","presentedForm":[%s]}`, inline("text/plain", "Impression: no stenosis.")),
		fmt.Sprintf(`{"resourceType":"DiagnosticReport","id":"r2","status":"preliminary","code":{"text":"ED note"},"issued":"2026-04-01T08:00:00Z","presentedForm":[%s]}`, inline("text/plain", "Prelim.")),
		`{"resourceType":"DiagnosticReport","id":"r3","status":"final","code":{"text":"CBC"}}`,
		fmt.Sprintf(`{"resourceType":"DiagnosticReport","id":"r4","status":"cancelled","code":{"text":"x"},"presentedForm":[%s]}`, inline("text/plain", "Cancelled.")),
	}
	rec := loadPrefetch(t, docs, reports)
	if !rec.Notes.Checked {
		t.Error("Notes.Checked = false with a documentReferences prefetch")
	}
	type row struct{ Source, Date, Status, Reason, ContentType, Text string }
	var got []row
	for _, n := range rec.Notes.List {
		text := n.Text
		if n.Truncated {
			text = fmt.Sprintf("(truncated at %d)", len(n.Text))
		}
		got = append(got, row{n.Source, n.Date, string(n.Status), n.Reason, n.ContentType, text})
	}
	d := "2026-04-20T10:00:00Z"
	want := []row{
		{"DocumentReference/plain", d, "counts", "", "text/plain", "Reports saddle anesthesia."},
		{"DocumentReference/html", d, "counts", "", "text/html", "\nNew urinary retention & fever.\n"},
		{"DocumentReference/prelim", d, "advisory", "docStatus preliminary", "text/plain", "Foot drop."},
		{"DocumentReference/amended", d, "counts", "", "text/plain", "Amended text."},
		{"DocumentReference/pdf", d, "not-read", "content type application/pdf not read", "application/pdf", ""},
		{"DocumentReference/eie", d, "not-read", "status entered-in-error", "", ""},
		{"DocumentReference/superseded", d, "not-read", "status superseded", "", ""},
		{"DocumentReference/nostatus", d, "not-read", "status missing", "", ""},
		{"DocumentReference/docstatus-eie", d, "not-read", "docStatus entered-in-error", "", ""},
		{"DocumentReference/url", d, "not-read", "attachment url and no fhirServer to fetch it from", "text/plain", ""},
		{"DocumentReference/empty", d, "not-read", "attachment has neither data nor url", "text/plain", ""},
		{"DocumentReference/badb64", d, "not-read", "attachment data is not base64", "text/plain", ""},
		{"DocumentReference/latin1", d, "counts", "", "text/plain", "fièvre"},
		{"DocumentReference/shiftjis", d, "not-read", "charset shift_jis not read", "text/plain", ""},
		{"DocumentReference/long", d, "counts", "", "text/plain", fmt.Sprintf("(truncated at %d)", MaxNoteTextBytes)},
		{"DocumentReference/notype", d, "not-read", "content type (none) not read", "(none)", ""},
		{"DiagnosticReport/r1", "2026-03", "counts", "", "text/plain", "Impression: no stenosis."},
		{"DiagnosticReport/r2", "2026-04-01T08:00:00Z", "advisory", "status preliminary", "text/plain", "Prelim."},
		{"DiagnosticReport/r4", "", "not-read", "status cancelled", "", ""},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("notes (-got +want):\n%s", diff)
	}
}

// A missing documentReferences key with no fhirServer: notes not checked,
// and the record is still complete (notes are optional data).
func TestNotesNotChecked(t *testing.T) {
	pf := map[string]json.RawMessage{}
	for _, s := range Searches {
		if !s.Optional {
			pf[string(s.Key)] = json.RawMessage(`null`)
		}
	}
	l, _ := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Notes.Checked || len(rec.Notes.List) != 0 {
		t.Errorf("Notes = %+v, want not checked", rec.Notes)
	}
	if !rec.Complete() {
		t.Errorf("record incomplete without notes: %v", rec.Unavailable)
	}
	// A null documentReferences prefetch is "none": checked, no notes.
	pf["documentReferences"] = json.RawMessage(`null`)
	rec, err = l.Load(context.Background(), LoadInput{PatientID: testPatient, Prefetch: pf})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Notes.Checked {
		t.Error("null documentReferences prefetch: Notes.Checked = false")
	}
}

// Attachment urls are fetched from fhirServer with the token; another
// origin is refused without a request, bodies are capped, and a slow
// attachment ends at the Load deadline.
func TestNotesFromServer(t *testing.T) {
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request to another origin: %s (Authorization %q)", r.URL.Path, r.Header.Get("Authorization"))
	}))
	defer foreign.Close()
	release := make(chan struct{})
	defer close(release)
	var srv *recorder
	srv = newRecorder(t, func(typ string) http.HandlerFunc {
		switch typ {
		case "DocumentReference":
			return bundleHandler(typ,
				docRef("rel", "current", "", `{"contentType":"text/plain","url":"Binary/text"}`),
				docRef("abs", "current", "", fmt.Sprintf(`{"contentType":"text/html","url":%q}`, srv.base()+"/Binary/html")),
				docRef("json", "current", "", `{"contentType":"text/plain","url":"Binary/json"}`),
				docRef("big", "current", "", `{"contentType":"text/plain","url":"Binary/big"}`),
				docRef("pdf", "current", "", `{"contentType":"text/plain","url":"Binary/pdf"}`),
				docRef("foreign", "current", "", fmt.Sprintf(`{"contentType":"text/plain","url":%q}`, foreign.URL+"/Binary/x")),
				docRef("missing", "current", "", `{"contentType":"text/plain","url":"Binary/missing"}`),
				docRef("slow", "current", "", `{"contentType":"text/plain","url":"Binary/slow"}`),
			)
		case "Binary":
			return func(w http.ResponseWriter, r *http.Request) {
				switch strings.TrimPrefix(r.URL.Path, "/fhir/Binary/") {
				case "text":
					w.Header().Set("Content-Type", "text/plain; charset=utf-8")
					fmt.Fprint(w, "PT twice weekly since April.")
				case "html":
					w.Header().Set("Content-Type", "text/html")
					fmt.Fprint(w, "<div>Denies fever.</div>")
				case "json":
					w.Header().Set("Content-Type", "application/fhir+json")
					fmt.Fprintf(w, `{"resourceType":"Binary","contentType":"text/plain","data":%q}`, b64("From a Binary."))
				case "big":
					w.Header().Set("Content-Type", "text/plain")
					_, _ = w.Write([]byte(strings.Repeat("x", MaxAttachmentBytes+1)))
				case "pdf":
					w.Header().Set("Content-Type", "application/pdf")
					_, _ = w.Write([]byte("%PDF-1.4"))
				case "slow":
					select {
					case <-release:
					case <-r.Context().Done():
					}
				default:
					http.NotFound(w, r)
				}
			}
		}
		return nil
	})
	l, logs := newTestLoader(LoaderConfig{Timeout: 2 * time.Second})
	start := time.Now()
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, FHIRServer: srv.base(), AccessToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Load took %v with a 2 s timeout", d)
	}
	if !rec.Notes.Checked {
		t.Error("Notes.Checked = false after the server search")
	}
	got := map[string]string{}
	for _, n := range rec.Notes.List {
		got[n.Source] = string(n.Status) + " | " + n.Reason + " | " + n.Text
	}
	want := map[string]string{
		"DocumentReference/rel":     "counts |  | PT twice weekly since April.",
		"DocumentReference/abs":     "counts |  | \nDenies fever.\n",
		"DocumentReference/json":    "counts |  | From a Binary.",
		"DocumentReference/big":     "not-read | attachment fetch failed: too-large | ",
		"DocumentReference/pdf":     "not-read | fetched content type application/pdf not read | ",
		"DocumentReference/foreign": "not-read | attachment fetch failed: foreign-origin | ",
		"DocumentReference/missing": "not-read | attachment fetch failed: not-found | ",
		"DocumentReference/slow":    "not-read | attachment fetch failed: unavailable | ",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("notes (-got +want):\n%s", diff)
	}
	for _, s := range srv.seen() {
		if s.Auth != "Bearer "+testToken {
			t.Errorf("%s without the token", s.Path)
		}
	}
	assertNoSecrets(t, logs.String())
}

// At most MaxAttachmentFetches urls are fetched per call.
func TestNotesFetchCap(t *testing.T) {
	var docs []string
	for i := range MaxAttachmentFetches + 3 {
		docs = append(docs, docRef(fmt.Sprintf("d%d", i), "current", "", `{"contentType":"text/plain","url":"Binary/t"}`))
	}
	srv := newRecorder(t, func(typ string) http.HandlerFunc {
		switch typ {
		case "DocumentReference":
			return bundleHandler(typ, docs...)
		case "Binary":
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				fmt.Fprint(w, "text")
			}
		}
		return nil
	})
	l, _ := newTestLoader(LoaderConfig{})
	rec, err := l.Load(context.Background(), LoadInput{PatientID: testPatient, FHIRServer: srv.base()})
	if err != nil {
		t.Fatal(err)
	}
	read, capped := 0, 0
	for _, n := range rec.Notes.List {
		switch {
		case n.Status == NoteCounts && n.Text == "text":
			read++
		case n.Status == NoteNotRead && strings.HasPrefix(n.Reason, "over "):
			capped++
		}
	}
	if read != MaxAttachmentFetches || capped != 3 {
		t.Errorf("read %d, capped %d; want %d and 3", read, capped, MaxAttachmentFetches)
	}
}
