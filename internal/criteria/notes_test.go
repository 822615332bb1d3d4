package criteria

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// note is a read, counting note dated n days before D.
func note(id string, daysAgo int, text string) chart.Note {
	return chart.Note{Source: "DocumentReference/" + id, Date: *ago(daysAgo), Status: chart.NoteCounts, ContentType: "text/plain", Text: text}
}

func withNotes(conds []chart.Condition, ns ...chart.Note) *chart.Record {
	return &chart.Record{PatientID: "p1", Conditions: conds, Notes: chart.Notes{Checked: true, List: ns}}
}

// noteSummary is the finding codes with, for each, how many pieces of
// evidence came from notes.
func noteSummary(a Assessment) []string {
	var out []string
	for _, f := range a.Findings {
		n := 0
		for _, e := range f.Evidence {
			if e.FromNote {
				n++
			}
		}
		s := f.Code
		if n > 0 {
			s += " (note)"
		}
		out = append(out, s)
	}
	return append(out, a.Outcome)
}

// Scenario variants with notes: each red flag and a therapy course read
// from a note, and the guards (negated, family, hypothetical, historical,
// ruled out) that must give no red flag.
func TestAssessNotes(t *testing.T) {
	back := []chart.Condition{lbp(20)}
	tests := []struct {
		name string
		rec  *chart.Record
		want []string
	}{
		{"cauda equina in an ED note", withNotes(back, note("ed", 1, "Pt reports saddle anesthesia since yesterday.")),
			[]string{RedFlagCaudaEquina + " (note)", ConservativeTherapyMissing, CriteriaMet}},
		{"urinary retention alone in a note", withNotes(nil, note("ed", 2, "Bladder scan 700 mL: new urinary retention.")),
			[]string{RedFlagCaudaEquina + " (note)", ConservativeTherapyMissing, CriteriaMet}},
		{"progressive deficit", withNotes(back, note("clinic", 3, "Right ankle dorsiflexion 3/5, was 4/5 two weeks ago.")),
			[]string{RedFlagNeurologicDeficit + " (note)", ConservativeTherapyMissing, CriteriaMet}},
		{"foot drop", withNotes(back, note("clinic", 3, "Exam: new left foot drop.")),
			[]string{RedFlagNeurologicDeficit + " (note)", ConservativeTherapyMissing, CriteriaMet}},
		{"fever", withNotes(back, note("ed", 1, "Temp 38.9 C with severe back pain.")),
			[]string{RedFlagInfection + " (note)", ConservativeTherapyMissing, CriteriaMet}},
		{"IV drug use with back pain", withNotes(back, note("ed", 30, "Social History: active IV drug use.")),
			[]string{RedFlagInfection + " (note)", ConservativeTherapyMissing, CriteriaMet}},
		{"cancer history with back pain", withNotes(back, note("pcp", 400, "History of breast cancer, s/p lumpectomy 2018.")),
			[]string{RedFlagMalignancy + " (note)", ConservativeTherapyMissing, CriteriaMet}},
		{"prior surgery", withNotes(back, note("pcp", 60, "Status post L4-L5 laminectomy in 2019.")),
			[]string{RedFlagPriorSurgery + " (note)", ConservativeTherapyMissing, CriteriaMet}},
		{"therapy course since a month", withNotes(back, note("pt", 2, "PT twice weekly since March with no improvement.")),
			[]string{ConservativeTherapyMet + " (note)", CriteriaMet}},
		{"therapy course by duration", withNotes(back, note("pt", 2, "Completed 6 weeks of physical therapy without relief.")),
			[]string{ConservativeTherapyMet + " (note)", CriteriaMet}},
		// Recalled old therapy is dated where it was, outside the window,
		// not at the note that recalls it.
		{"therapy course in a past year", withNotes(back, note("pcp", 2, "Had physical therapy for 6 weeks in 2019 with good relief.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"short therapy course", withNotes(back, note("pt", 2, "Physical therapy for 2 weeks so far.")),
			[]string{ConservativeTherapyInsufficient + " (note)", CriteriaNotMet}},
		// A vertebral fracture written in a current note (the clinical
		// reviewer's case); a suspected one counts too.
		{"lumbar compression fracture on radiographs", withNotes(nil, note("clinic", 1, "95 yo. Radiographs today: compression fracture of L1 with 30% height loss.")),
			[]string{RedFlagFracture + " (note)", ConservativeTherapyMissing, CriteriaMet}},
		{"suspected lumbar fracture", withNotes(back, note("ed", 2, "Fall yesterday; concern for L2 compression fracture.")),
			[]string{RedFlagFracture + " (note)", ConservativeTherapyMissing, CriteriaMet}},
		{"fracture guards", withNotes(back, note("ed", 1, "No acute fracture of the lumbar spine. Rule out compression fracture of L3. "+
			"History of L2 fracture in 2010. Old healed L4 compression fracture. Hip fracture last week. T6 compression fracture. "+
			"Fracture of the L1 transverse process.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"fracture dated years before the note", withNotes(back, note("pcp", 1, "L1 compression fracture in 2019.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"fracture in an old note", withNotes(back, note("pcp", 200, "New L1 compression fracture.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		// Guards.
		{"negated", withNotes(back, note("ed", 1, "Denies saddle anesthesia, bowel or bladder incontinence. No fever.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"family history", withNotes(back, note("pcp", 1, "Family History:\nMother with breast cancer. Father had a lumbar fusion.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"hypothetical", withNotes(back, note("ed", 1, "Return precautions: saddle numbness, urinary retention, fever, foot drop.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"historical current-state sign", withNotes(back, note("pcp", 1, "History of urinary retention after surgery in 2015, resolved.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"ruled out", withNotes(back, note("ed", 1, "Cauda equina syndrome was ruled out by MRI.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"checklist answered no", withNotes(back, note("ed", 1, "Saddle anesthesia: no\nUrinary retention: no\nROS: (-) fever (-) bowel incontinence, - foot drop")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"a fraction that is no motor grade", withNotes(back, note("pt", 1, "Attended 3/5 scheduled sessions; last visit 2/5.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"surgery still to come", withNotes(back, note("ns", 1, "L4-5 laminectomy scheduled for next month.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"chronic incontinence and foot drop", withNotes(back, note("pcp", 1, "Chronic urinary retention due to BPH, self-caths. Chronic left foot drop after polio.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"low suspicion", withNotes(back, note("ed", 1, "Low suspicion for cauda equina syndrome; CES unlikely given normal rectal tone.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"sign in an old note", withNotes(back, note("ed", 40, "New urinary retention.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		// A current-state finding that the note dates earlier is read at
		// that date: outside the window it does not count (rev2 review).
		{"fever in a past year", withNotes(back, note("ed", 1, "Pt was febrile to 39 C in 2019 with pyelonephritis.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"fever months before the note", withNotes(back, note("ed", 1, "Fever of 38.5 C 3 months ago.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"fever during a past stay", withNotes(back, note("ed", 1, "Febrile to 39 C during hospitalization in 2024.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"retention last year", withNotes(back, note("ed", 1, "Urinary retention last year after a fall.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"fever dated within the window", withNotes(back, note("ed", 1, "Fever to 39 C 3 days ago.")),
			[]string{RedFlagInfection + " (note)", ConservativeTherapyMissing, CriteriaMet}},
		// History concepts count at the date written.
		{"prior surgery with its year", withNotes(back, note("pcp", 1, "S/p L5-S1 microdiscectomy (2021).")),
			[]string{RedFlagPriorSurgery + " (note)", ConservativeTherapyMissing, CriteriaMet}},
		{"cancer history with its year", withNotes(back, note("pcp", 1, "Breast cancer in 2015, treated.")),
			[]string{RedFlagMalignancy + " (note)", ConservativeTherapyMissing, CriteriaMet}},
		// Counselling and other people (rev2 review).
		{"counselling", withNotes(back, note("ed", 1, "Explained that loss of bladder control would require emergent evaluation. Risk of cauda equina syndrome discussed.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"occupation", withNotes(back, note("ed", 1, "Patient is a nurse who cares for patients with cauda equina syndrome.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"future surgery", withNotes(back, note("ns", 1, "Patient was told she may need surgery on her lumbar spine in the future.")),
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"suspected by the clinician", withNotes(back, note("ed", 1, "Cannot rule out CES.")),
			[]string{RedFlagCaudaEquina + " (note)", ConservativeTherapyMissing, CriteriaMet}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Assess(cpt72148(), chart.Derive(tt.rec), defaultPolicy(), laterNow)
			if diff := cmp.Diff(noteSummary(a), tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
			for _, f := range a.Findings {
				for _, e := range f.Evidence {
					if e.FromNote && (e.Quote == "" || e.DateText == "" || !strings.HasPrefix(e.Source, "DocumentReference/")) {
						t.Errorf("note evidence without quote, date or source: %+v", e)
					}
				}
			}
		})
	}
}

// TestAssessNoteDatedOutsideWindow: a fever the note dates in 2019 is
// named as outside the red flag's window, with the date the note gives.
func TestAssessNoteDatedOutsideWindow(t *testing.T) {
	a := Assess(cpt72148(), chart.Derive(withNotes([]chart.Condition{lbp(20)}, note("ed", 1, "Pt was febrile to 39 C in 2019 with pyelonephritis."))), defaultPolicy(), laterNow)
	var got []string
	for _, nc := range a.NotCounted {
		if nc.Reason == ReasonOutsideRedFlagWindow {
			got = append(got, nc.Source+": "+nc.Why)
		}
	}
	want := []string{"DocumentReference/ed: the note dates it 2019; counts only when dated within 14 days of the order"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

func TestAssessNoteEvidenceAdvisory(t *testing.T) {
	rec := withNotes([]chart.Condition{lbp(20)}, note("ed", 1, "New urinary retention."))
	// A payer whose policy makes note evidence advisory.
	pol, err := policy.Parse("payer.yaml", []byte("id: payer-a\nname: Payer A\nmatch: {payor_identifiers: [PA1]}\nnote_evidence: {advisory: true, source: \"coded documentation only\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := Assess(cpt72148(), chart.Derive(rec), pol, laterNow)
	if a.Has(RedFlagCaudaEquina) || a.Outcome != CriteriaNotMet {
		t.Errorf("advisory note counted: %v", noteSummary(a))
	}
	if len(a.NotCounted) != 1 || a.NotCounted[0].Reason != ReasonAdvisoryNote || a.NotCounted[0].Source != "DocumentReference/ed" ||
		!strings.Contains(a.NotCounted[0].Display, "New urinary retention.") {
		t.Errorf("NotCounted = %+v, want the advisory note finding", a.NotCounted)
	}
	// A preliminary note is advisory whatever the policy.
	pre := note("ed", 1, "New urinary retention.")
	pre.Status = chart.NoteAdvisory
	a = Assess(cpt72148(), chart.Derive(withNotes([]chart.Condition{lbp(20)}, pre)), defaultPolicy(), laterNow)
	// Its reason is the note's status, not the policy: the card must not
	// tell the coordinator that the payer's policy kept it out.
	if a.Has(RedFlagCaudaEquina) || len(a.NotCounted) != 1 || a.NotCounted[0].Reason != ReasonPreliminaryNote {
		t.Errorf("preliminary note: %v %+v", noteSummary(a), a.NotCounted)
	}
	// The same under a policy that makes notes advisory: still preliminary.
	a = Assess(cpt72148(), chart.Derive(withNotes([]chart.Condition{lbp(20)}, pre)), pol, laterNow)
	if len(a.NotCounted) != 1 || a.NotCounted[0].Reason != ReasonPreliminaryNote {
		t.Errorf("preliminary note under an advisory policy: %+v", a.NotCounted)
	}
}

func TestAssessNotesChecked(t *testing.T) {
	rec := &chart.Record{PatientID: "p1", Conditions: []chart.Condition{lbp(20)}}
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if a.NotesChecked || a.Outcome == CriteriaIndeterminate {
		t.Errorf("no notes: NotesChecked %v, outcome %s; want false and not indeterminate", a.NotesChecked, a.Outcome)
	}
	rec.Notes = chart.Notes{Checked: true, List: []chart.Note{{Source: "DocumentReference/pdf", Date: *ago(3), Status: chart.NoteNotRead, Reason: "content type application/pdf not read"}}}
	a = Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if !a.NotesChecked || len(a.NotCounted) != 1 || a.NotCounted[0].Reason != ReasonNoteNotRead || a.NotCounted[0].Why != "content type application/pdf not read" {
		t.Errorf("not-read note: checked %v, NotCounted %+v", a.NotesChecked, a.NotCounted)
	}
}

// Note evidence carries the code proposed to record the finding, where a
// verified code names it.
func TestNoteEvidenceCode(t *testing.T) {
	rec := withNotes([]chart.Condition{lbp(20)}, note("ed", 1, "Reports saddle anesthesia. EHL 2/5."))
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	got := map[string]string{}
	for _, f := range a.Findings {
		for _, e := range f.Evidence {
			got[f.Code+" "+e.Display] = e.Code.System + "|" + e.Code.Code
		}
	}
	want := map[string]string{
		RedFlagCaudaEquina + " saddle anaesthesia":                      policy.SystemICD10 + "|R20.0",
		RedFlagNeurologicDeficit + " motor weakness, grade 3/5 or less": "|",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

// A medication list carried forward from visit to visit names what the
// patient was on, not a trial: the same list in three notes three weeks
// apart made a 42-day NSAID course (clinical review 6, probe of finding 04).
// Each list entry within the look-back is named, once per note.
func TestAssessNoteMedicationList(t *testing.T) {
	list := "# Medications\nibuprofen 400 mg oral tablet; lisinopril 10 mg oral tablet\n\n# Assessment and Plan\nLow back pain."
	rec := withNotes([]chart.Condition{lbp(60)}, note("v1", 43, list), note("v2", 22, list), note("v3", 1, list))
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if !a.Has(ConservativeTherapyMissing) || a.Outcome != CriteriaNotMet {
		t.Errorf("medication list counted as a trial: %v", noteSummary(a))
	}
	var got []string
	for _, nc := range a.NotCounted {
		if nc.Reason == ReasonNoteMedicationList {
			got = append(got, nc.Source)
		}
	}
	want := []string{"DocumentReference/v1", "DocumentReference/v2", "DocumentReference/v3"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("listed entries named (-got +want):\n%s", diff)
	}
	// The same words as a course outside a list count.
	rec = withNotes([]chart.Condition{lbp(60)}, note("v1", 1, "HPI: ibuprofen 400 mg TID for 7 weeks without relief."))
	if a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow); a.Outcome != CriteriaMet {
		t.Errorf("a written course: %v", noteSummary(a))
	}
}

// Superseded notes (FHIR R4: a newer version replaces each) are one
// not-counted entry with their count and dates, not one line each, and are
// not among the unread notes the card warns about.
func TestAssessSupersededNotes(t *testing.T) {
	var ns []chart.Note
	for i, days := range []int{400, 30, 9} {
		ns = append(ns, chart.Note{Source: "DocumentReference/old" + string(rune('a'+i)), Date: *ago(days), Status: chart.NoteNotRead,
			Reason: "status superseded", Superseded: true})
	}
	ns = append(ns, chart.Note{Source: "DocumentReference/pdf", Date: *ago(3), Status: chart.NoteNotRead, Reason: "content type application/pdf not read"})
	a := Assess(cpt72148(), chart.Derive(withNotes([]chart.Condition{lbp(20)}, ns...)), defaultPolicy(), laterNow)
	var got []string
	for _, nc := range a.NotCounted {
		got = append(got, nc.Reason+": "+nc.Display+" "+nc.DateText)
	}
	want := []string{
		ReasonNoteNotRead + ": Clinical note " + *ago(3),
		ReasonNoteSuperseded + ": 3 superseded notes " + *ago(400) + " to " + *ago(9),
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

// A history of cancer pairs with new back pain that a note dates by its
// onset: the order's reason names the back pain but carries no date
// (clinical reviews 5 and 6, finding 01). The onset, not the note's date,
// must fall within the 90 days.
func TestAssessNewBackPainFromNote(t *testing.T) {
	z85 := icd("z", "Z85.3", "Personal history of malignant neoplasm of breast", 2000)
	reason := cpt72148()
	reason.ReasonCodes = []Code{{System: "http://hl7.org/fhir/sid/icd-10-cm", Code: "M54.50", Display: "Low back pain, unspecified"}}
	tests := []struct {
		name string
		text string
		ago  int
		want []string
	}{
		{"new back pain for 3 weeks", "HPI: new low back pain for 3 weeks, no trauma.", 5,
			[]string{RedFlagMalignancy, ConservativeTherapyMissing, CriteriaMet}},
		{"onset beyond 90 days", "HPI: low back pain for 3 weeks.", 80,
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"chronic back pain", "HPI: chronic low back pain for years.", 5,
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
		{"negated", "Denies new back pain; here for follow-up.", 5,
			[]string{ConservativeTherapyMissing, CriteriaNotMet}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Assess(reason, chart.Derive(withNotes([]chart.Condition{z85}, note("hpi", tt.ago, tt.text))), defaultPolicy(), laterNow)
			var got []string
			for _, f := range a.Findings {
				got = append(got, f.Code)
			}
			got = append(got, a.Outcome)
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s\nnot counted: %+v", diff, a.NotCounted)
			}
			// The pairing says where it is written, dated by its onset.
			if f := a.Finding(RedFlagMalignancy); f != nil {
				want := ", with new back pain since " + *ago(tt.ago + 21) + " (note of " + *ago(tt.ago) + ": \u201c" + tt.text + "\u201d)"
				if _, clause := SplitPairing(f.Evidence); clause != want {
					t.Errorf("clause %q, want %q", clause, want)
				}
			}
		})
	}
}

// A brand name in a note is the ingredient's therapy (clinical review 7).
func TestAssessNoteBrandName(t *testing.T) {
	rec := withNotes([]chart.Condition{lbp(90)}, note("v1", 1, "HPI: has taken Mobic 15 mg daily for 8 weeks without relief."))
	if a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow); a.Outcome != CriteriaMet {
		t.Errorf("Mobic for 8 weeks: %v %+v", noteSummary(a), a.NotCounted)
	}
}

// A treatment the note names that no counted class lists is named, not
// dropped in silence.
func TestAssessNoteTherapyUnknown(t *testing.T) {
	rec := withNotes([]chart.Condition{lbp(90)}, note("v1", 1, "HPI: Tylenol 1 g TID for 8 weeks without relief."))
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if a.Outcome == CriteriaMet {
		t.Errorf("acetaminophen counted: %v", noteSummary(a))
	}
	var got []string
	for _, nc := range a.NotCounted {
		got = append(got, nc.Reason+" "+nc.Source)
	}
	if diff := cmp.Diff(got, []string{ReasonNoteTherapyUnknown + " DocumentReference/v1"}); diff != "" {
		t.Errorf("not counted (-got +want):\n%s", diff)
	}
}

// A counting note finding outside its rule's window, or in a note dated
// after the order, is named (clinical review 7).
func TestAssessNoteOutsideWindowNamed(t *testing.T) {
	rec := withNotes([]chart.Condition{lbp(20)},
		note("old", 120, "X-ray today: acute L2 compression fracture."),
		note("later", -3, "CT: L3 burst fracture."))
	a := Assess(cpt72148(), chart.Derive(rec), defaultPolicy(), laterNow)
	if a.Has(RedFlagFracture) {
		t.Fatalf("fracture counted: %v", noteSummary(a))
	}
	got := map[string]string{}
	for _, nc := range a.NotCounted {
		got[nc.Source] = nc.Reason
	}
	want := map[string]string{"DocumentReference/old": ReasonOutsideRedFlagWindow, "DocumentReference/later": ReasonAfterOrder}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s\n%+v", diff, a.NotCounted)
	}
}
