package notes

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestChecklists: templated answers ("label: no", "(-) item") and a
// finding's resolution said in the clause after it. Each of these counted
// as a present cauda equina sign before the cues below were added.
func TestChecklists(t *testing.T) {
	f := finder(t)
	tests := []struct {
		text string
		want []string
	}{
		{"Saddle anesthesia: absent. Urinary retention: no.", []string{
			"cauda-equina/saddle-anesthesia -neg", "cauda-equina/urinary-retention -neg"}},
		{"Urinary retention: No", []string{"cauda-equina/urinary-retention -neg"}},
		{"Saddle anesthesia : no", []string{"cauda-equina/saddle-anesthesia -neg"}},
		{"Foot drop: none", []string{"motor-deficit/foot-drop -neg"}},
		{fromHTML("<ul><li>Saddle anesthesia: <i>denies</i></li><li>Bowel incontinence: <i>denies</i></li></ul>"), []string{
			"cauda-equina/saddle-anesthesia -neg", "cauda-equina/bowel-incontinence -neg"}},
		// An item answered yes still counts, and one item's "no" is not
		// the next item's.
		{"Urinary retention: yes", []string{"cauda-equina/urinary-retention +"}},
		{"Fever: no, saddle anesthesia: yes", []string{"infection/fever -neg", "cauda-equina/saddle-anesthesia +"}},
		{"Bowel incontinence: denies. Urinary retention: present, new since Monday.", []string{
			"cauda-equina/bowel-incontinence -neg", "cauda-equina/urinary-retention +"}},
		// A (+)/(-) review of systems: each mark governs its own item.
		{"ROS: (+) low back pain (-) fever (-) urinary incontinence (-) saddle numbness", []string{
			"infection/fever -neg", "cauda-equina/urinary-incontinence -neg", "cauda-equina/saddle-anesthesia -neg"}},
		{"(-) fever (+) saddle numbness (+) urinary retention", []string{
			"infection/fever -neg", "cauda-equina/saddle-anesthesia +", "cauda-equina/urinary-retention +"}},
		// Resolved, said in a relative clause after the finding.
		{"(Copied from 09/14/2025 ED note) Pt reported urinary retention at that visit, which resolved after catheterization.",
			[]string{"cauda-equina/urinary-retention -hist"}},
		{"Had saddle numbness after a fall in 2019 but it resolved within a week.",
			[]string{"cauda-equina/saddle-anesthesia -hist"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(summary(f.Find(tt.text)), tt.want); diff != "" {
			t.Errorf("Find(%q) (-got +want):\n%s", tt.text, diff)
		}
	}
}
