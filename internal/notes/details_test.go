package notes

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestCourse(t *testing.T) {
	f := finder(t)
	tests := []struct {
		text string
		want *Course
	}{
		{"PT twice weekly since April, no improvement.", &Course{Since: "April"}},
		{"Completed 6 weeks of physical therapy.", &Course{Duration: "6 weeks", Days: 42}},
		{"Chiropractic care for two months without relief.", &Course{Duration: "two months", Days: 60}},
		{"Naproxen 500 mg BID x 4 weeks, no relief.", &Course{Duration: "4 weeks", Days: 28}},
		{"Physical therapy started 2026-03-02, 10 days so far.", &Course{Since: "2026-03-02", Duration: "10 days", Days: 10}},
		{"Meloxicam since March 15, 2026.", &Course{Since: "March 15, 2026"}},
		{"Physical therapy for several weeks.", &Course{Duration: "several weeks"}},
		{"Physical therapy helped.", nil},
		// A past course, dated by its year; a start wins over it.
		{"Tried PT in 2019 with good relief.", &Course{At: "2019"}},
		{"Chiropractic care for 6 weeks in March 2024.", &Course{Duration: "6 weeks", Days: 42, At: "March 2024"}},
		{"PT since April after a course in 2019.", &Course{Since: "April"}},
		// A start verb a few words before a day.
		{"Started physical therapy on 4/30/2020, still attending twice weekly.", &Course{Since: "4/30/2020"}},
		{"Started physical therapy 4/30/2020.", &Course{Since: "4/30/2020"}},
		{"Started physical therapy on April 30, 2020.", &Course{Since: "April 30, 2020"}},
		{"Naproxen 500 mg prescribed 4/27 for back pain.", nil},
		// How long the pain lasted is no therapy's duration (clinical
		// review 7, CR16).
		{"Sciatica for 8 weeks, not relieved by ibuprofen.", nil},
		{"Pain for 2 months despite naproxen.", nil},
		{"3 months of radicular pain; meloxicam x 6 weeks without relief.", &Course{Duration: "6 weeks", Days: 42}},
		// The therapy's own duration stays its own; one in a plan is to
		// come (clinical review 8).
		{"Persistent pain despite naproxen x 7 weeks.", &Course{Duration: "7 weeks", Days: 49}},
		{"Ongoing symptoms despite PT for 8 weeks.", &Course{Duration: "8 weeks", Days: 56}},
		{"Plan: refill naproxen x 6 weeks.", nil},
		// New back pain is dated by its own words, not another date of
		// its clause.
		{"New low back pain x 2 weeks, on tamoxifen since 2019.", &Course{Duration: "2 weeks", Days: 14}},
		// A year alone after such a verb is a past course, not a start.
		{"Started PT in 2019, stopped after three visits.", &Course{At: "2019"}},
	}
	for _, tt := range tests {
		fs := f.Find(tt.text)
		if len(fs) != 1 {
			t.Fatalf("Find(%q) = %v, want one finding", tt.text, summary(fs))
		}
		if diff := cmp.Diff(fs[0].Course, tt.want); diff != "" {
			t.Errorf("Find(%q) course (-got +want):\n%s", tt.text, diff)
		}
	}
}

// TestWhen: the date a note writes beside a finding is reported as
// written, for the facts step to place; a start ("since") is not, nor a
// date set apart from the finding by a present word, and a date goes to
// the nearest finding.
func TestWhen(t *testing.T) {
	f := finder(t)
	tests := []struct {
		text string
		want []string // concept=when, in text order
	}{
		{"Pt was febrile to 39 C in 2019 with pyelonephritis.", []string{"temperature=2019"}},
		{"Fever of 38.5 C in March.", []string{"temperature=March"}},
		{"Febrile to 39 C during hospitalization in 2024.", []string{"temperature=2024"}},
		{"S/p L5-S1 microdiscectomy (2021).", []string{"lumbar-surgery=2021"}},
		{"Fever to 101 F 3 months ago.", []string{"temperature=3 months ago"}},
		{"Urinary retention last year, resolved with catheter.", []string{"urinary-retention=last year"}},
		{"In 2019, she had a fever of 39 C.", []string{"temperature=2019"}},
		{"Fever on 3/2/2026.", []string{"fever=3/2/2026"}},
		// Not dates of the finding.
		{"Urinary retention since June 1.", []string{"urinary-retention="}},
		{"Breast cancer in 2015, now with fever to 39 C.", []string{"cancer-history=2015", "temperature="}},
		{"Right EHL 3/5.", []string{"motor-grade="}},
		{"Dec 3/5 strength in EHL.", []string{"motor-grade="}},
		{"Unable to void, 2000 mL on bladder scan.", []string{"urinary-retention="}},
		{"Fever to 39 C. Urinary retention.", []string{"temperature=", "urinary-retention="}},
		// May is a month only where it is dated.
		{"She may have had a fever.", []string{"fever="}},
		{"Fever in May.", []string{"fever=May"}},
	}
	for _, tt := range tests {
		var got []string
		for _, fd := range f.Find(tt.text) {
			got = append(got, fd.Concept+"="+fd.When)
		}
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("Find(%q) when (-got +want):\n%s", tt.text, diff)
		}
	}
}

func TestSpanAndQuote(t *testing.T) {
	f := finder(t)
	long := "Patient is a 58 year old man who was lifting boxes at work three weeks ago and felt a pop in his low back, " +
		"and since then he has had numbness in the saddle region along with pain radiating down the right leg to the " +
		"lateral foot, worse with sitting and coughing, and he has tried rest and heat."
	fs := f.Find(long)
	if len(fs) != 1 {
		t.Fatalf("got %v", summary(fs))
	}
	fd := fs[0]
	if long[fd.Start:fd.End] != fd.Text || fd.Text != "numbness in the saddle region" {
		t.Errorf("span %d:%d = %q, text %q", fd.Start, fd.End, long[fd.Start:fd.End], fd.Text)
	}
	if n := utf8.RuneCountInString(fd.Quote); n > MaxQuote {
		t.Errorf("quote has %d characters: %q", n, fd.Quote)
	}
	if !strings.Contains(fd.Quote, fd.Text) || !strings.HasPrefix(fd.Quote, "… ") || !strings.HasSuffix(fd.Quote, " …") {
		t.Errorf("quote %q does not hold the finding with both ends cut", fd.Quote)
	}
	// Whole words only: every word of the quote is a word of the text.
	words := map[string]bool{}
	for _, w := range strings.Fields(long) {
		words[w] = true
	}
	for _, w := range strings.Fields(strings.Trim(fd.Quote, "… ")) {
		if !words[w] {
			t.Errorf("quote %q cuts a word: %q", fd.Quote, w)
		}
	}
	// A short sentence is quoted whole, whitespace collapsed.
	fs = f.Find("Intro.  Reports   urinary\n retention today. Next sentence.")
	if len(fs) != 1 || fs[0].Quote != "Reports urinary retention today." {
		t.Errorf("short quote: %+v", fs)
	}
}

func TestStripHTML(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<p>Denies saddle anesthesia.</p><p>Reports urinary retention.</p>", "\nDenies saddle anesthesia.\n\nReports urinary retention.\n"},
		{"a<br>b<br/>c", "a\nb\nc"},
		{"<div>T &gt; 38&nbsp;C &amp; chills</div>", "\nT > 38\u00a0C & chills\n"},
		{"<script>var x = '<p>urinary retention</p>';</script>text", "text"},
		{"<style>p{}</style><!-- urinary retention -->ok", "ok"},
		{"pain < 3 weeks", "pain < 3 weeks"},
		{"<table><tr><td>EHL</td><td>3/5</td></tr></table>", "\n\n EHL: 3/5\n\n"},
		{"<table><tr><th>Muscle</th><th>R</th><th>L</th></tr><tr><td>EHL</td><td>5/5</td><td>3/5</td></tr></table>",
			"\n\n Muscle: R L\n\n EHL: 5/5 3/5\n\n"},
		{"<b>bold</b> and <i>it</i>", "bold and it"},
		{"unclosed <p", "unclosed <p"},
		{"<ul><li>foot drop</li><li>fever</li></ul>", "\n\nfoot drop\n\nfever\n\n"},
		{"<h3>Assessment</h3><p>foot drop</p>", "\nAssessment:\n\nfoot drop\n"},
		{"<H2>Plan:</H2>x<h4> </h4>", "\nPlan:\nx\n \n"}, // no second colon, none after an empty heading
	}
	for _, tt := range tests {
		if got := StripHTML(tt.in); got != tt.want {
			t.Errorf("StripHTML(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFindHTML(t *testing.T) {
	f := finder(t)
	html := `<div><h3>HPI</h3><p>Low back pain x 3 weeks. Denies fever.</p><p>New <b>urinary retention</b> since yesterday.</p>` +
		`<h3>Family History</h3><p>Mother: colon cancer</p><h3>Plan</h3><ul><li>MRI today</li><li>If worse, physical therapy</li></ul></div>`
	got := summary(f.Find(StripHTML(html)))
	want := []string{"back-pain/new-back-pain +", "infection/fever -neg", "cauda-equina/urinary-retention +", "cancer/cancer-history -other", "conservative-therapy/physical-therapy -hyp"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

// TestNoFalseRedFlags is the false-positive guard: none of these may yield
// a counting red flag (any category but conservative therapy).
func TestNoFalseRedFlags(t *testing.T) {
	f := finder(t)
	guard := []string{
		"Denies saddle anesthesia, bowel or bladder incontinence.",
		"No urinary retention. No fecal incontinence. No foot drop.",
		"Negative for fever, chills, night sweats, unexplained weight loss.",
		"Cauda equina syndrome was ruled out.",
		"Ruled out: cauda equina syndrome, epidural abscess.",
		"Without saddle numbness or perineal numbness.",
		"Mother had breast cancer; father had a lumbar fusion.",
		"Family history: sister with lymphoma.",
		"FHx: colon cancer in his father.",
		"If you develop numbness in the saddle region or loss of bladder control, return to the ED.",
		"Return precautions: fever, foot drop, urinary retention, bowel incontinence.",
		"Go to the emergency department for any new weakness or fever.",
		"Should urinary retention occur, seek care immediately.",
		"MRI to rule out cauda equina syndrome versus disc herniation.",
		"Strength 5/5 and symmetric in the lower extremities.",
		"Afebrile, vitals stable.",
		"Temp 37.2 C.",
		"History of foot drop in 2012, resolved.",
		"Former IV drug user, remote history, quit 15 years ago.",
		"Past Medical History:\nUrinary retention after surgery 2018.",
		"Has never had spine surgery.",
		"No personal history of cancer.",
		"Cancer screening discussed.",
		"Follow up on 3/5/2026.",
		"Neck: s/p ACDF C5-C6.",
		"Screening for cancer recommended.",
		"Patient is afraid she has cancer.",
		"Worried about cancer.",
		"Family History:\nCancer: mother (breast)\nDiabetes: father\nColon cancer: uncle",
		"FAMILY HISTORY:\nCANCER: MOTHER\nDIABETES: FATHER\nCOLON CANCER: UNCLE",
		"<p><b>Family History:</b> mother with breast cancer.</p>",
	}
	for _, text := range guard {
		for _, fd := range f.Find(text) {
			if fd.Counts && fd.Category != ConservativeTherapy {
				t.Errorf("%q: counting red flag %s/%s (%q)", text, fd.Category, fd.Concept, fd.Text)
			}
		}
	}
}

func TestNewRejects(t *testing.T) {
	base := string(defaultPhrases)
	tests := map[string]string{
		"not yaml":         "findings: [",
		"unknown key":      base + "\nextra: 1\n",
		"uncited source":   strings.Replace(base, "source: ahcpr1994\n    patterns:\n      - 'saddle", "source: nowhere\n    patterns:\n      - 'saddle", 1),
		"bad regexp":       strings.Replace(base, "'foot ?drop'", "'foot (drop'", 1),
		"unknown category": strings.Replace(base, "category: prior-surgery", "category: osteoporosis", 1),
		"grade group":      strings.Replace(base, "'(?P<grade>[0-5])(?P<mod>[+-])? out of 5'", "'[0-5] out of 5'", 1),
		"mod group":        strings.Replace(base, "'(?P<grade>[0-5])(?P<mod>[+-])? out of 5'", "'(?P<grade>[0-5])[+-]? out of 5'", 1),
		"near, no words":   strings.Replace(base, "near: &motor-near\n      words: 4", "near: &motor-near\n      words: 0", 1),
		"unknown cue kind": strings.Replace(base, "  historical:\n    source: harkema2009", "  past:\n    source: harkema2009", 1),
		"unknown section":  strings.Replace(base, "context: other-person\n", "context: someone\n", 1),
		"uncited also":     strings.Replace(base, "also: [medspacy-context,", "also: [nowhere,", 1),
	}
	for name, data := range tests {
		if data == base {
			t.Fatalf("%s: replacement did not apply", name)
		}
		if _, err := New([]byte(data)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func BenchmarkFindTenNotes(b *testing.B) {
	f := finder(b)
	// A realistic 2 KB note: sections, negations, a therapy course.
	para := "HPI: 52 year old with low back pain for 8 weeks radiating to the right leg. Denies fever, chills, " +
		"saddle anesthesia, bowel or bladder incontinence. PT twice weekly since April with no improvement; " +
		"naproxen 500 mg BID for 6 weeks. Exam: right EHL 4/5, ankle dorsiflexion 4/5, reflexes 2+ and symmetric. " +
		"Straight leg raise positive on the right at 40 degrees.\n"
	var note strings.Builder
	for note.Len() < 2048 {
		note.WriteString(para)
	}
	notes := make([]string, 10)
	for i := range notes {
		notes[i] = note.String()[:2048]
	}
	b.SetBytes(int64(10 * 2048))
	// The machines this runs on are shared: report the process's CPU time
	// per call beside the wall time, which includes waiting for a core.
	cpu0 := cpuTime(b)
	for b.Loop() {
		for _, n := range notes {
			f.Find(n)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
