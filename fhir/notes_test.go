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
	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/notes"
	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
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
		docRef("longhtml", "current", "", inline("text/html", "<p>"+long+"</p>")),
		// Markup over MaxNoteTextBytes around short text: the text is what counts.
		docRef("markup", "current", "", inline("text/html", strings.Repeat("<span></span>", MaxNoteTextBytes/13+10)+"Saddle anesthesia.")),
		docRef("notype", "current", "", fmt.Sprintf(`{"data":%q}`, b64("x"))),
		// One note in two formats: the text is read, so its PDF copy is
		// not listed as a note not read.
		strings.Replace(docRef("twoformats", "current", "final", inline("text/plain", "Two formats.")),
			`}]}`, `},{"attachment":{"contentType":"application/pdf","data":"JVBERi0="}}]}`, 1),
	}
	reports := []string{
		fmt.Sprintf(`{"resourceType":"DiagnosticReport","id":"r1","status":"final","code":{"text":"MRI"},"effectiveDateTime":"2026-03","presentedForm":[%s]}`, inline("text/plain", "Impression: no stenosis.")),
		fmt.Sprintf(`{"resourceType":"DiagnosticReport","id":"r2","status":"preliminary","code":{"text":"ED note"},"issued":"2026-04-01T08:00:00Z","presentedForm":[%s]}`, inline("text/plain", "Prelim.")),
		`{"resourceType":"DiagnosticReport","id":"r3","status":"final","code":{"text":"CBC"}}`,
		fmt.Sprintf(`{"resourceType":"DiagnosticReport","id":"r4","status":"cancelled","code":{"text":"x"},"presentedForm":[%s]}`, inline("text/plain", "Cancelled.")),
		fmt.Sprintf(`{"resourceType":"DiagnosticReport","id":"r5","status":"entered-in-error","code":{"text":"x"},"presentedForm":[%s]}`, inline("text/plain", "Wrong patient.")),
	}
	rec := loadPrefetch(t, docs, reports)
	if !rec.Notes.Checked {
		t.Error("Notes.Checked = false with a documentReferences prefetch")
	}
	type row struct{ Source, Date, Status, Reason, ContentType, Text string }
	var got []row
	for _, n := range rec.Notes.List {
		got = append(got, row{n.Source, n.Date, string(n.Status), n.Reason, n.ContentType, n.Text})
	}
	d := "2026-04-20T10:00:00Z"
	// Entered in error (status or docStatus of a DocumentReference, status
	// of a DiagnosticReport): never valid in FHIR R4, so left out, not
	// listed as a note not read.
	want := []row{
		{"DocumentReference/plain", d, "counts", "", "text/plain", "Reports saddle anesthesia."},
		{"DocumentReference/html", d, "counts", "", "text/html", "\nNew urinary retention & fever.\n"},
		{"DocumentReference/prelim", d, "advisory", "docStatus preliminary", "text/plain", "Foot drop."},
		{"DocumentReference/amended", d, "counts", "", "text/plain", "Amended text."},
		{"DocumentReference/pdf", d, "not-read", "content type application/pdf not read", "application/pdf", ""},
		{"DocumentReference/superseded", d, "not-read", "status superseded", "", ""},
		{"DocumentReference/nostatus", d, "not-read", "status missing", "", ""},
		{"DocumentReference/url", d, "not-read", "attachment url and no fhirServer to fetch it from", "text/plain", ""},
		{"DocumentReference/empty", d, "not-read", "attachment has neither data nor url", "text/plain", ""},
		{"DocumentReference/badb64", d, "not-read", "attachment data is not base64", "text/plain", ""},
		{"DocumentReference/latin1", d, "counts", "", "text/plain", "fièvre"},
		{"DocumentReference/shiftjis", d, "not-read", "charset shift_jis not read", "text/plain", ""},
		{"DocumentReference/long", d, "not-read", "longer than 32 KB of text", "text/plain", ""},
		{"DocumentReference/longhtml", d, "not-read", "longer than 32 KB of text", "text/html", ""},
		{"DocumentReference/markup", d, "counts", "", "text/html", "Saddle anesthesia."},
		{"DocumentReference/notype", d, "not-read", "content type (none) not read", "(none)", ""},
		{"DocumentReference/twoformats", d, "counts", "", "text/plain", "Two formats."},
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
		"DocumentReference/big":     "not-read | attachment fetch failed: the attachment is larger than this service reads | ",
		"DocumentReference/pdf":     "not-read | fetched content type application/pdf not read | ",
		"DocumentReference/foreign": "not-read | attachment fetch failed: the attachment is on another server than fhirServer, which is not given the access token | ",
		"DocumentReference/missing": "not-read | attachment fetch failed: the server has no such attachment | ",
		"DocumentReference/slow":    "not-read | attachment fetch failed: the server did not answer in time or answered with an error | ",
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

// At most MaxNotesPerCall urls are fetched per call.
func TestNotesFetchCap(t *testing.T) {
	var docs []string
	for i := range MaxNotesPerCall + 3 {
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
	if read != MaxNotesPerCall || capped != 3 {
		t.Errorf("read %d, capped %d; want %d and 3", read, capped, MaxNotesPerCall)
	}
}

// datedDoc is a current DocumentReference written on the given date with
// one attachment.
func datedDoc(id, date, attachment string) string {
	return fmt.Sprintf(`{"resourceType":"DocumentReference","id":%q,"subject":{"reference":"Patient/%s"},"status":"current","date":%q,"content":[{"attachment":%s}]}`,
		id, testPatient, date, attachment)
}

// textOf is n bytes of plain note text.
func textOf(n int) string {
	return strings.Repeat("Low back pain, no saddle anesthesia. ", n/37+1)[:n]
}

// Many large inline notes: the newest are read within the caps, every other
// one is named as not read with the cap it is over, and none is kept in part.
func TestNotesCaps(t *testing.T) {
	const kb = 1 << 10
	var (
		longer  = "longer than 32 KB of text"
		overAll = "over the per-call note text budget (128 KB)"
		over20  = "over 20 notes in one call (the newest are read)"
	)
	type note struct {
		id, date, att  string
		status, reason string
	}
	day := func(d int) string {
		return time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC).AddDate(0, 0, d).Format(time.RFC3339)
	}
	plain := func(n int) string { return inline("text/plain", textOf(n)) }
	spec := []note{
		// Not readable: not counted among the 20.
		{"pdf", day(99), `{"contentType":"application/pdf","data":"JVBERi0="}`, "not-read", "content type application/pdf not read"},
		// Over the per-note cap, sized before decoding (plain) or after
		// stripping (HTML): they take nothing from the call's budget.
		{"new64a", day(60), plain(64 * kb), "not-read", longer},
		{"new64b", day(59), plain(64 * kb), "not-read", longer},
		{"html40", day(58), inline("text/html", "<div>"+textOf(40*kb)+"</div>"), "not-read", longer},
		// The four newest that fit: 120 KB of the 128 KB.
		{"r1", day(57), plain(30 * kb), "counts", ""},
		{"r2", day(56) /* a date without a time sorts by its day */, plain(30 * kb), "counts", ""},
		{"r3", day(55), plain(30 * kb), "counts", ""},
		{"r4", day(54), plain(30 * kb), "counts", ""},
		{"b1", day(53), plain(30 * kb), "not-read", overAll},
		// An older note that still fits in what is left is read.
		{"small", day(52), plain(1 * kb), "counts", ""},
	}
	spec[5].date = day(56)[:10]
	for d := 51; d > 40; d-- { // up to the 20th readable note
		spec = append(spec, note{fmt.Sprintf("b%d", d), day(d), plain(30 * kb), "not-read", overAll})
	}
	for d := 40; d > 10; d-- {
		spec = append(spec, note{fmt.Sprintf("old%d", d), day(d), plain(kb / 2), "not-read", over20})
	}
	spec = append(spec, note{"undated", "", plain(10), "not-read", over20})

	// The bundle holds them oldest first (the undated one first, the pdf
	// last): the order received must not decide which are read.
	var docs []string
	var want []string
	for i := len(spec) - 1; i >= 0; i-- {
		n := spec[i]
		if n.date == "" {
			docs = append(docs, fmt.Sprintf(`{"resourceType":"DocumentReference","id":%q,"subject":{"reference":"Patient/%s"},"status":"current","content":[{"attachment":%s}]}`, n.id, testPatient, n.att))
		} else {
			docs = append(docs, datedDoc(n.id, n.date, n.att))
		}
		want = append(want, fmt.Sprintf("%s %s %s", n.id, n.status, n.reason))
	}
	rec := loadPrefetch(t, docs, nil)
	var got []string
	total := 0
	for _, n := range rec.Notes.List {
		got = append(got, fmt.Sprintf("%s %s %s", strings.TrimPrefix(n.Source, "DocumentReference/"), n.Status, n.Reason))
		if n.Status == NoteNotRead && n.Text != "" {
			t.Errorf("%s: not read but %d bytes of text kept", n.Source, len(n.Text))
		}
		total += len(n.Text)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("notes (-got +want):\n%s", diff)
	}
	if want := 4*30*kb + kb; total != want {
		t.Errorf("text read = %d bytes, want %d", total, want)
	}
}

// The text given to the finder (the text of every note not listed as not
// read) stays within the caps whatever the attachments: a call of 55
// inline notes of 64 KB (4.7 MB) and mixes of sizes, HTML and Latin-1
// (whose text is longer than its bytes).
func TestNotesTextBounded(t *testing.T) {
	const kb = 1 << 10
	latin1 := func(n int) string {
		return fmt.Sprintf(`{"contentType":"text/plain; charset=iso-8859-1","data":%q}`,
			base64.StdEncoding.EncodeToString([]byte(strings.Repeat("fi\xe8vre ", n/7+1)[:n])))
	}
	shapes := map[string]func(i int) string{
		"55 inline notes of 64 KB": func(int) string { return inline("text/plain", textOf(64*kb)) },
		"55 inline notes of 32 KB": func(int) string { return inline("text/plain", textOf(32*kb)) },
		"mixed": func(i int) string {
			switch i % 5 {
			case 0:
				return inline("text/plain", textOf(31*kb+i))
			case 1:
				return inline("text/html", "<p>"+strings.Repeat("<b>x</b> ", 3*kb)+"</p>")
			case 2:
				return latin1(20 * kb) // 20 KB of bytes, about 23 KB of text
			case 3:
				return latin1(30 * kb) // over 32 KB of text once in UTF-8
			default:
				return inline("text/plain", textOf(kb))
			}
		},
	}
	for name, att := range shapes {
		t.Run(name, func(t *testing.T) {
			var docs []string
			for i := range 55 {
				docs = append(docs, datedDoc(fmt.Sprintf("d%d", i), fmt.Sprintf("2026-04-%02dT10:00:00Z", i%28+1), att(i)))
			}
			rec := loadPrefetch(t, docs, nil)
			if len(rec.Notes.List) != len(docs) {
				t.Fatalf("%d notes listed, want %d (none dropped in silence)", len(rec.Notes.List), len(docs))
			}
			finderBytes, read := 0, 0
			for _, n := range rec.Notes.List {
				switch {
				case n.Status == NoteNotRead:
					if n.Reason == "" || n.Text != "" {
						t.Errorf("%s: not read with reason %q and %d bytes of text", n.Source, n.Reason, len(n.Text))
					}
				default:
					read++
					finderBytes += len(n.Text)
					if len(n.Text) > MaxNoteTextBytes {
						t.Errorf("%s: %d bytes of text, over MaxNoteTextBytes", n.Source, len(n.Text))
					}
				}
			}
			if finderBytes > MaxCallNoteTextBytes || read > MaxNotesPerCall {
				t.Errorf("finder would read %d notes, %d bytes; caps %d notes, %d bytes", read, finderBytes, MaxNotesPerCall, MaxCallNoteTextBytes)
			}
			if read == 0 && name != "55 inline notes of 64 KB" {
				t.Error("no note read")
			}
		})
	}
}

func TestDecodedLen(t *testing.T) {
	for _, s := range []string{"", "a", "ab", "abc", "abcd", "abcde", strings.Repeat("x", 3001)} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			data := enc.EncodeToString([]byte(s))
			if got := decodedLen(data); got != len(s) {
				t.Errorf("decodedLen(%q) = %d, want %d", data, got, len(s))
			}
			if len(data) > 4 {
				wrapped := data[:4] + "\r\n " + data[4:] + "\n"
				if got := decodedLen(wrapped); got != len(s) {
					t.Errorf("decodedLen(%q) = %d, want %d", wrapped, got, len(s))
				}
			}
		}
	}
}

// BenchmarkNotesManyInline reads a call with 55 inline
// notes of 31 KB (under the per-note cap, so the call's budget decides),
// and runs the finder over what was read: at most MaxCallNoteTextBytes of
// text per call, reported as finder-bytes/op.
func BenchmarkNotesManyInline(b *testing.B) {
	var docs []chart.DocumentReference
	for i := range 55 {
		data := b64(textOf(31 << 10))
		var d chart.DocumentReference
		d.StatusPresent = true
		d.Status = r4.DocumentReferenceStatusCurrent
		date := fmt.Sprintf("2026-04-%02d", i%28+1)
		d.Date = &date
		ct := "text/plain"
		d.Content = []r4.DocumentReferenceContent{{Attachment: r4.Attachment{ContentType: &ct, Data: &data}}}
		docs = append(docs, d)
	}
	f, err := notes.Default()
	if err != nil {
		b.Fatal(err)
	}
	seen := 0
	for b.Loop() {
		seen = 0
		for _, n := range ExtractNotes(context.Background(), docs, nil, nil) {
			if n.Status != NoteNotRead {
				seen += len(n.Text)
				f.Find(n.Text)
			}
		}
	}
	if seen > MaxCallNoteTextBytes {
		b.Fatalf("finder read %d bytes, over MaxCallNoteTextBytes", seen)
	}
	b.ReportMetric(float64(seen), "finder-bytes/op")
}
