package notes

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func finder(t testing.TB) *Finder {
	t.Helper()
	f, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// summary renders findings compactly: "category/concept +" for a counting
// finding, "category/concept -neg" etc. for one that does not count.
func summary(fs []Finding) []string {
	var out []string
	for _, fd := range fs {
		s := string(fd.Category) + "/" + fd.Concept
		if fd.Counts {
			s += " +"
		} else {
			var why []string
			for _, c := range []struct {
				on   bool
				name string
			}{{fd.Negated, "neg"}, {fd.Hypothetical, "hyp"}, {fd.OtherPerson, "other"}, {fd.Historical, "hist"}} {
				if c.on {
					why = append(why, c.name)
				}
			}
			s += " -" + strings.Join(why, ",")
		}
		out = append(out, s)
	}
	return out
}

func TestFind(t *testing.T) {
	f := finder(t)
	tests := []struct {
		text string
		want []string
	}{
		// Cauda equina signs, present.
		{"Pt reports saddle anesthesia since this morning.", []string{"cauda-equina/saddle-anesthesia +"}},
		{"Exam: decreased perineal sensation bilaterally.", []string{"cauda-equina/saddle-anesthesia +"}},
		{"He has new urinary retention requiring straight cath.", []string{"cauda-equina/urinary-retention +"}},
		{"Unable to void for 12 hours.", []string{"cauda-equina/urinary-retention +"}},
		{"Episodes of bowel incontinence x2 today.", []string{"cauda-equina/bowel-incontinence +"}},
		{"Rectal exam: lax sphincter tone.", []string{"cauda-equina/sphincter-tone +"}},
		{"Concerning for cauda equina syndrome.", []string{"cauda-equina/cauda-equina-syndrome +"}},
		{"Loss of bladder control started two days ago.", []string{"cauda-equina/urinary-incontinence +"}},
		// Negated, cue before and after, with punctuation.
		{"Denies saddle anesthesia.", []string{"cauda-equina/saddle-anesthesia -neg"}},
		{"No bowel or bladder incontinence.", []string{"cauda-equina/bowel-incontinence -neg"}},
		{"Saddle anesthesia: denied.", []string{"cauda-equina/saddle-anesthesia -neg"}},
		{"Urinary retention - none.", []string{"cauda-equina/urinary-retention -neg"}},
		{"Cauda equina syndrome has been ruled out.", []string{"cauda-equina/cauda-equina-syndrome -neg"}},
		{"Negative for fever, chills, urinary retention.", []string{"infection/fever -neg", "cauda-equina/urinary-retention -neg"}},
		{"Without perineal numbness or urinary incontinence.", []string{"cauda-equina/saddle-anesthesia -neg", "cauda-equina/urinary-incontinence -neg"}},
		// Negation ends at "but".
		{"No saddle anesthesia but has urinary retention.", []string{"cauda-equina/saddle-anesthesia -neg", "cauda-equina/urinary-retention +"}},
		{"Denies fever, however reports bowel incontinence.", []string{"infection/fever -neg", "cauda-equina/bowel-incontinence +"}},
		// Hypothetical.
		{"If you develop saddle numbness, go to the ER.", []string{"cauda-equina/saddle-anesthesia -hyp"}},
		{"Return to ED for urinary retention or fever.", []string{"cauda-equina/urinary-retention -hyp", "infection/fever -hyp"}},
		{"Should bowel incontinence occur, call 911.", []string{"cauda-equina/bowel-incontinence -hyp"}},
		{"Watch for foot drop.", []string{"motor-deficit/foot-drop -hyp"}},
		{"MRI to rule out cauda equina syndrome.", []string{"cauda-equina/cauda-equina-syndrome -hyp"}},
		{"Will refer to physical therapy.", []string{"conservative-therapy/physical-therapy -hyp"}},
		{"Call if fevers develop.", []string{"infection/fever -hyp"}},
		// Other person.
		{"Mother had breast cancer.", []string{"cancer/cancer-history -other"}},
		{"His brother had a lumbar fusion last year.", []string{"prior-surgery/lumbar-surgery -other"}},
		{"Family history of colon cancer.", []string{"cancer/cancer-history -other,hist"}},
		{"Lymphoma in his father.", []string{"cancer/cancer-history -other"}},
		// Historical: excludes current-state concepts only.
		{"History of urinary retention after childbirth.", []string{"cauda-equina/urinary-retention -hist"}},
		{"Previous foot drop, years ago.", []string{"motor-deficit/foot-drop -hist"}},
		{"H/o IVDU, in remission.", []string{"infection/iv-drug-use -hist"}},
		{"History of prostate cancer treated with radiation.", []string{"cancer/cancer-history +"}},
		{"Status post L5-S1 microdiscectomy 2019.", []string{"prior-surgery/lumbar-surgery +"}},
		{"Previous PT for 8 weeks in 2025.", []string{"conservative-therapy/physical-therapy +"}},
		// Motor grades.
		{"Right ankle dorsiflexion 3/5, was 4/5 two weeks ago.", []string{"motor-deficit/motor-worsening +"}},
		{"L EHL 2/5.", []string{"motor-deficit/motor-grade +"}},
		{"Hip flexion 4+/5 bilaterally.", nil},
		{"Strength 5/5 in all extremities.", nil},
		{"Quadriceps 4/5 (previously 5/5).", []string{"motor-deficit/motor-worsening +"}},
		{"Strength went from 4/5 to 3/5 since last visit.", []string{"motor-deficit/motor-worsening +"}},
		{"Seen on 3/5/2026 for back pain.", nil},
		{"Progressive left leg weakness over 5 days.", []string{"motor-deficit/progressive-weakness +"}},
		{"Left foot drop noted on exam.", []string{"motor-deficit/foot-drop +"}},
		// Infection.
		{"Temp 38.6 C, back pain severe.", []string{"infection/temperature +"}},
		{"T 101.2 F at home.", []string{"infection/temperature +"}},
		{"Temp 37.1, HR 80.", nil},
		{"Afebrile.", nil},
		{"Active IV drug use, last use yesterday.", []string{"infection/iv-drug-use +"}},
		{"He injects heroin daily.", []string{"infection/iv-drug-use +"}},
		// Cancer.
		{"Unintentional weight loss of 10 kg.", []string{"cancer/weight-loss +"}},
		{"Metastatic disease to bone, known.", []string{"cancer/cancer-history +"}},
		{"Known multiple myeloma.", []string{"cancer/cancer-history +"}},
		{"Cancer screening up to date.", nil},
		// Surgery.
		{"Prior L4-5 laminectomy.", []string{"prior-surgery/lumbar-surgery +"}},
		{"Cervical fusion C5-C6 in 2010.", nil},
		{"ACDF C5-C6 in 2010.", nil},
		// Therapy, with courses.
		{"PT twice weekly since April, no improvement.", []string{"conservative-therapy/physical-therapy +"}},
		{"Completed 6 weeks of physical therapy.", []string{"conservative-therapy/physical-therapy +"}},
		{"Chiropractic care for two months without relief.", []string{"conservative-therapy/chiropractic +"}},
		{"Naproxen 500 mg BID x 4 weeks, no relief.", []string{"conservative-therapy/medication-trial +"}},
		{"No improvement with physical therapy.", []string{"conservative-therapy/physical-therapy +"}},
		{"Has not tried PT.", []string{"conservative-therapy/physical-therapy -neg"}},
		{"Allergic to ibuprofen.", nil},
		{"PT/INR within normal limits.", nil},
		{"pt is a 45 yo male.", nil},
		// Line breaks: a phrase wrapped across a line, and a list.
		{"Reports saddle\nanesthesia since yesterday.", []string{"cauda-equina/saddle-anesthesia +"}},
		{"Denies:\nfever\nurinary retention", []string{"infection/fever -neg", "cauda-equina/urinary-retention -neg"}},
		{"Denies fever and\nurinary retention.", []string{"infection/fever -neg", "cauda-equina/urinary-retention -neg"}},
		// Sections.
		{"Family History:\nMother - breast cancer.\nFather - lumbar fusion.", []string{"cancer/cancer-history -other", "prior-surgery/lumbar-surgery -other"}},
		{"Plan:\nPhysical therapy 2x/week for 6 weeks.\nNSAIDs as needed.", []string{"conservative-therapy/physical-therapy -hyp", "conservative-therapy/medication-trial -hyp"}},
		{"Return precautions: saddle numbness, urinary retention, foot drop.", []string{"cauda-equina/saddle-anesthesia -hyp", "cauda-equina/urinary-retention -hyp", "motor-deficit/foot-drop -hyp"}},
		{"Past Medical History:\nFoot drop 2015.\n\nHPI: new urinary retention.", []string{"motor-deficit/foot-drop -hist", "cauda-equina/urinary-retention +"}},
		{"Family History: father with prostate cancer\nSocial History: injects heroin", []string{"cancer/cancer-history -other", "infection/iv-drug-use +"}},
		// Abbreviations do not end a sentence early.
		{"Seen by Dr. Lee who noted no saddle anesthesia.", []string{"cauda-equina/saddle-anesthesia -neg"}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got := summary(f.Find(tt.text))
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Find(%q) (-got +want):\n%s", tt.text, diff)
			}
		})
	}
	if len(tests) < 60 {
		t.Fatalf("only %d sentences", len(tests))
	}
}
