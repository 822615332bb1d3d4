package chart

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSinceDate(t *testing.T) {
	noted, _ := ParseDate("2026-06-20T10:00:00Z")
	tests := map[string]string{
		"April":          "2026-04",
		"early April":    "2026-04",
		"July":           "2025-07", // after the note's month: last year
		"June":           "2026-06",
		"March 15, 2026": "2026-03-15",
		"March 15":       "2026-03-15",
		"Dec 2025":       "2025-12",
		"2026-03":        "2026-03",
		"2026-03-02":     "2026-03-02",
		"3/2/2026":       "2026-03-02",
		"3/2":            "2026-03-02",
		"2025":           "2025",
		"2027":           "", // after the note
		"13/2":           "",
		"someday":        "",
	}
	for in, want := range tests {
		if got := SinceDate(in, noted).Text; got != want {
			t.Errorf("SinceDate(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWhenDate(t *testing.T) {
	noted, _ := ParseDate("2026-06-14T10:00:00Z")
	tests := []struct{ in, want string }{
		{"2019", "2019"},
		{"early 2019", "2019"},
		{"March", "2026-03"},
		{"July", "2025-07"}, // after the note's month: last year
		{"March 15", "2026-03-15"},
		{"3/2/2026", "2026-03-02"},
		{"last year", "2025"},
		{"last month", "2026-05"},
		{"3 months ago", "2026-03"},
		{"six months ago", "2025-12"},
		{"2 years ago", "2024"},
		{"a year ago", "2025"},
		{"10 days ago", "2026-06-04"},
		{"3 weeks ago", "2026-05-24"},
		{"several weeks ago", "2026-05-31"}, // read as 2, the most recent
		{"2027", ""},                        // after the note
		{"someday", ""},
	}
	for _, tt := range tests {
		if got := WhenDate(tt.in, noted).Text; got != tt.want {
			t.Errorf("WhenDate(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDeriveNotesWhen: a finding's written date is placed by its note's
// date; none is left zero.
func TestDeriveNotesWhen(t *testing.T) {
	rec := &Record{Notes: Notes{Checked: true, List: []Note{
		{Source: "DocumentReference/a", Date: "2026-06-14", Status: NoteCounts,
			Text: "Fever of 38.5 C in March. S/p L5-S1 microdiscectomy (2021). New urinary retention. L1 compression fracture in 2019."},
	}}}
	f := Derive(rec)
	type row struct {
		Concept, When, WhenText string
		NeedsCurrent            bool
	}
	var got []row
	for _, n := range f.Notes {
		got = append(got, row{n.Concept, n.When.Text, n.WhenText, n.NeedsCurrent})
	}
	want := []row{
		{"temperature", "2026-03", "March", true},
		{"lumbar-surgery", "2021", "2021", false},
		{"urinary-retention", "", "", true},
		{"vertebral-fracture", "2019", "2019", true},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

func TestDeriveNotes(t *testing.T) {
	rec := &Record{Notes: Notes{Checked: true, List: []Note{
		{Source: "DocumentReference/a", Date: "2026-06-20", Status: NoteCounts, Text: "PT twice weekly since April. Denies fever."},
		{Source: "DocumentReference/b", Date: "2026-06-21", Status: NoteAdvisory, Text: "New urinary retention."},
		{Source: "DocumentReference/d", Date: "2026-06-21", Status: NoteCounts, Text: "Had chiropractic care in March 2024."},
		{Source: "DocumentReference/c", Date: "2026-06-22", Status: NoteNotRead, Reason: "content type application/pdf not read"},
	}}}
	f := Derive(rec)
	type row struct {
		Source, Concept, Start, At string
		Counts, Advisory           bool
	}
	var got []row
	for _, n := range f.Notes {
		got = append(got, row{n.Source, n.Concept, n.CourseStart.Text, n.CourseAt.Text, n.Counts, n.Advisory})
	}
	want := []row{
		{"DocumentReference/a", "physical-therapy", "2026-04", "", true, false},
		{"DocumentReference/a", "fever", "", "", false, false},
		{"DocumentReference/b", "urinary-retention", "", "", true, true},
		{"DocumentReference/d", "chiropractic", "", "2024-03", true, false},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
	if !f.NotesChecked || len(f.NotesNotRead) != 1 || f.NotesNotRead[0].Source != "DocumentReference/c" {
		t.Errorf("checked %v, not read %+v", f.NotesChecked, f.NotesNotRead)
	}
}

// BenchmarkDeriveNotes is the cost notes add to a call: Derive of a chart
// with ten 2 KB notes, less Derive of the same chart without them (see
// BenchmarkDeriveNoNotes).
func BenchmarkDeriveNotes(b *testing.B) {
	para := "HPI: 52 year old with low back pain for 8 weeks radiating to the right leg. Denies fever, chills, " +
		"saddle anesthesia, bowel or bladder incontinence. PT twice weekly since April with no improvement; " +
		"naproxen 500 mg BID for 6 weeks. Exam: right EHL 4/5, ankle dorsiflexion 4/5, reflexes 2+ and symmetric. " +
		"Straight leg raise positive on the right at 40 degrees.\n"
	text := strings.Repeat(para, 2048/len(para)+1)[:2048]
	rec := &Record{Notes: Notes{Checked: true}}
	for range 10 {
		rec.Notes.List = append(rec.Notes.List, Note{Source: "DocumentReference/n", Date: "2026-06-20", Status: NoteCounts, Text: text})
	}
	Derive(rec) // compile the phrases once, as the first call of a process does
	b.ResetTimer()
	for b.Loop() {
		Derive(rec)
	}
}

func BenchmarkDeriveNoNotes(b *testing.B) {
	rec := &Record{Notes: Notes{Checked: true}}
	for b.Loop() {
		Derive(rec)
	}
}
