package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/terminology"
)

func ptr[T any](v T) *T { return &v }

func TestDefault(t *testing.T) {
	s := Default()
	p := s.Default()
	type summary struct {
		ID, Name, PANeeded, Questionnaire string
		Links                             []Link
		MinDays, Lookback, Gap, Repeat    int
		XrayFirst                         bool
		Gabapentinoid, ActivityAlone      bool
	}
	got := summary{p.ID, p.Name, p.PANeeded, p.Questionnaire, p.Links,
		p.ConservativeTherapy.MinDays, p.ConservativeTherapy.LookbackDays, p.ConservativeTherapy.MaxGapDays, p.RepeatMRIWindowDays,
		p.XrayFirst, p.ConservativeTherapy.Classes.Gabapentinoid.Counts, p.ConservativeTherapy.Classes.ActivityModification.Alone}
	want := summary{
		ID: "default", Name: "Lumbar MRI prior-authorization criteria (default)", PANeeded: "auth-needed", Questionnaire: DefaultQuestionnaire,
		Links: []Link{
			{Label: "ACR Appropriateness Criteria: Low Back Pain", URL: "https://acsearch.acr.org/docs/69483/Narrative/"},
			{Label: "ACP/APS guideline: diagnosis and treatment of low back pain (Chou 2007)", URL: "https://doi.org/10.7326/0003-4819-147-7-200710020-00006"},
			{Label: "ACP high-value care: diagnostic imaging for low back pain (Chou 2011)", URL: "https://doi.org/10.7326/0003-4819-154-3-201102010-00008"},
		},
		MinDays: 42, Lookback: 180, Gap: 21, Repeat: 365,
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("default policy (-got +want):\n%s", diff)
	}
	if len(s.Policies()) != 1 || p.Label() != defaultPayer || p.PayerName() != defaultPayer {
		t.Errorf("Policies() = %d, Label() = %q", len(s.Policies()), p.Label())
	}
	// The embedded file parses on its own, not through the fallback.
	reg, err := terminology.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parse("default.yaml", nil, defaultYAML, reg); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultCodeSets(t *testing.T) {
	p := Default().Default()
	rf := &p.RedFlags
	tests := []struct {
		name   string
		set    *Codes
		system string
		code   string
		want   bool
	}{
		{"G83.4 dotted", &rf.CaudaEquina.Alone[0].Codes, SystemICD10, "G83.4", true},
		{"g834 no dot lower case", &rf.CaudaEquina.Alone[0].Codes, SystemICD10, "g834", true},
		{"G83.41 longer code", &rf.CaudaEquina.Alone[0].Codes, SystemICD10, "G83.41", true},
		{"G83 shorter code", &rf.CaudaEquina.Alone[0].Codes, SystemICD10, "G83", false},
		{"G83.4 wrong system", &rf.CaudaEquina.Alone[0].Codes, SystemSNOMED, "G83.4", false},
		{"SNOMED exact", &rf.CaudaEquina.Alone[0].Codes, SystemSNOMED, "192970008", true},
		{"SNOMED no prefix match", &rf.CaudaEquina.Alone[0].Codes, SystemSNOMED, "1929700", false},
		{"C00 range start", &rf.Malignancy.Alone[0].Codes, SystemICD10, "C00.0", true},
		{"C96 range end", &rf.Malignancy.Alone[0].Codes, SystemICD10, "C96.Z", true},
		{"C50.911 inside", &rf.Malignancy.Alone[0].Codes, SystemICD10, "C50.911", true},
		{"C44 excluded", &rf.Malignancy.Alone[0].Codes, SystemICD10, "C44.91", false},
		{"C97 outside", &rf.Malignancy.Alone[0].Codes, SystemICD10, "C97", false},
		{"D32.9 benign", &rf.Malignancy.Alone[0].Codes, SystemICD10, "D32.9", false},
		{"D84.821 in D80-D84", &rf.Immunosuppression.Combinations[0].All[0].Codes, SystemICD10, "D84.821", true},
		{"D85 outside D80-D84", &rf.Immunosuppression.Combinations[0].All[0].Codes, SystemICD10, "D86.0", false},
		{"Z94.81 marrow transplant", &rf.Immunosuppression.Combinations[0].All[0].Codes, SystemICD10, "Z94.81", true},
		{"Z94.5 skin transplant", &rf.Immunosuppression.Combinations[0].All[0].Codes, SystemICD10, "Z94.5", false},
		{"HIV SNOMED", &rf.Immunosuppression.Combinations[0].All[0].Codes, SystemSNOMED, "86406008", true},
		{"F11.20 opioid dependence", &rf.Infection.Combinations[0].All[0].Codes, SystemICD10, "F11.20", true},
		{"F11.21 in remission", &rf.Infection.Combinations[0].All[0].Codes, SystemICD10, "F11.21", false},
		{"F12.20 cannabis", &rf.Infection.Combinations[0].All[0].Codes, SystemICD10, "F12.20", false},
		{"G06.2 epidural abscess", &rf.Infection.Alone[0].Codes, SystemICD10, "G06.2", true},
		{"G95.29 cord compression", &rf.CaudaEquina.Alone[1].Codes, SystemICD10, "G95.29", true},
		{"M80.08XA vertebral", &rf.Fracture.Alone[0].Codes, SystemICD10, "M80.08XA", true},
		{"M80.051A femur", &rf.Fracture.Alone[0].Codes, SystemICD10, "M80.051A", false},
		{"M48.56XA lumbar collapse", &rf.Fracture.Alone[0].Codes, SystemICD10, "M48.56XA", true},
		{"M48.52XA cervical collapse", &rf.Fracture.Alone[0].Codes, SystemICD10, "M48.52XA", false},
		{"S32.001A", &rf.Fracture.Alone[0].Codes, SystemICD10, "S32.001A", true},
		{"lumbar post-laminectomy SNOMED", &rf.PriorSurgery.Alone[0].Codes, SystemSNOMED, "202725007", true},
		{"cervical post-laminectomy SNOMED", &rf.PriorSurgery.Alone[0].Codes, SystemSNOMED, "202723000", false},
		{"M96.1 not alone", &rf.PriorSurgery.Alone[0].Codes, SystemICD10, "M96.1", false},
		{"M96.1 needs a lumbar indication", &rf.PriorSurgery.Combinations[0].All[0].Codes, SystemICD10, "M96.1", true},
		{"M43.26 ankylosis is not surgery", &rf.PriorSurgery.Combinations[0].All[0].Codes, SystemICD10, "M43.26", false},
		{"M47.26 indication", &p.Indication, SystemICD10, "M47.26", true},
		{"lumbar stenosis SNOMED indication", &p.Indication, SystemSNOMED, "18347007", true},
		{"M54.9 indication, no level", &p.Indication, SystemICD10, "M54.9", true},
		{"M54.9 not lumbar", &p.LumbarIndication, SystemICD10, "M54.9", false},
		{"M54.16 lumbar", &p.LumbarIndication, SystemICD10, "M54.16", true},
		{"M54.12 cervical radiculopathy", &p.Indication, SystemICD10, "M54.12", false},
		{"M54.50 indication", &p.Indication, SystemICD10, "M54.50", true},
		{"M54.5 legacy indication", &p.Indication, SystemICD10, "M54.5", true},
		{"M51.370 expanded FY2025", &p.Indication, SystemICD10, "M51.370", true},
		{"M54.2 cervicalgia", &p.Indication, SystemICD10, "M54.2", false},
		{"LOINC exact", &p.Imaging.LumbarMRI, SystemLOINC, "30679-5", true},
		{"LOINC look-alike", &p.Imaging.LumbarMRI, SystemLOINC, "24531-6", false},
		{"whole spine SNOMED", &p.Imaging.LumbarMRI, SystemSNOMED, "411611000119102", true},
		{"x-ray 72100", &p.Imaging.LumbarXray, SystemCPT, "72100", true},
		{"x-ray 72020 not lumbar-specific", &p.Imaging.LumbarXray, SystemCPT, "72020", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.set.Match(tt.system, tt.code); got != tt.want {
				t.Errorf("Match(%s, %s) = %v, want %v", tt.system, tt.code, got, tt.want)
			}
		})
	}
}

func TestMatchTherapyMedication(t *testing.T) {
	p := Default().Default()
	rx := func(code, display string) []Coding {
		return []Coding{{System: SystemRxNorm, Code: code, Display: display}}
	}
	type result struct {
		OK     bool
		Kind   TherapyKind
		RxNorm string // the ingredient named
		Code   string // the coding matched
		ByName bool
	}
	tests := []struct {
		name    string
		codings []Coding
		text    string
		want    result
	}{
		{"ingredient code", rx("7258", ""), "", result{true, NSAID, "7258", "7258", false}},
		{"opioid ingredient", rx("787390", ""), "", result{true, Opioid, "787390", "787390", false}},
		{"gabapentin off by default", rx("25480", ""), "", result{}},
		{"clinical drug by code", rx("198013", "Naproxen 250 MG Oral Tablet"), "", result{true, NSAID, "7258", "198013", false}},
		{"clinical drug without display", rx("197806", ""), "", result{true, NSAID, "5640", "197806", false}},
		{"branded opioid product", rx("1049611", ""), "", result{true, Opioid, "7804", "1049611", false}},
		{"muscle relaxant product", rx("828348", ""), "", result{true, MuscleRelaxant, "21949", "828348", false}},
		{"branded muscle relaxant without display", rx("828359", ""), "", result{true, MuscleRelaxant, "21949", "828359", false}},
		{"branded muscle relaxant, other brand", rx("828301", ""), "", result{true, MuscleRelaxant, "21949", "828301", false}},
		{"metaxalone clinical drug without display", rx("351254", ""), "", result{true, MuscleRelaxant, "", "351254", false}},
		{"metaxalone other strength without display", rx("197935", ""), "", result{true, MuscleRelaxant, "", "197935", false}},
		{"branded gabapentinoid off by default", rx("607038", ""), "", result{}},
		{"oral steroid product", rx("312615", ""), "", result{true, OralSteroid, "", "312615", false}},
		{"code unknown, name in display", rx("849727", "naproxen 500 MG Oral Tablet"), "", result{true, NSAID, "7258", "", true}},
		{"by text", rx("999", ""), "IBUPROFEN 800mg", result{true, NSAID, "5640", "", true}},
		{"word boundary", rx("999", ""), "codeineish", result{}},
		{"gabapentin by name off", rx("999", ""), "gabapentin 300 mg", result{}},
		{"unrelated", rx("6809", "metformin"), "", result{}},
		{"acetaminophen is not a class", rx("198440", "Acetaminophen 500 MG Oral Tablet"), "", result{}},
		{"not RxNorm", []Coding{{System: "http://example.org/local", Code: "5640"}}, "", result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := p.MatchTherapyMedication(tt.codings, tt.text)
			got := result{ok, m.Kind, m.Ingredient.RxNorm, m.Coding.Code, m.ByName}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
	m, _ := p.MatchTherapyMedication(rx("197806", ""))
	if m.Coding.Display != "ibuprofen 600 MG Oral Tablet" {
		t.Errorf("display from the value set = %q", m.Coding.Display)
	}
	pm, ok := p.MatchTherapyProcedure([]Coding{{System: SystemSNOMED, Code: "1"}, {System: SystemCPT, Code: "97110"}})
	if !ok || pm.Kind != PhysicalTherapy || pm.Coding.Code != "97110" {
		t.Errorf("procedure = %+v, %v", pm, ok)
	}
	if _, ok := p.MatchTherapyProcedure([]Coding{{System: SystemSNOMED, Code: "444831000124102"}}); ok {
		t.Error("a physical therapy referral counted as therapy")
	}
}

const payerOK = `id: acme
name: Acme Health
match:
  payor_identifiers: [ACME01]
  payor_displays: ["Acme  Health Plan"]
  organization_ids: [org-acme]
conservative_therapy:
  min_days: 28
`

func TestParseOverlay(t *testing.T) {
	p, err := Parse("acme.yaml", []byte(payerOK))
	if err != nil {
		t.Fatal(err)
	}
	def := Default().Default()
	type view struct {
		ID, Name, PANeeded, Questionnaire string
		MinDays, Lookback, Gap            int
		Links                             int
		Indication                        bool
	}
	got := view{p.ID, p.Name, p.PANeeded, p.Questionnaire, p.ConservativeTherapy.MinDays, p.ConservativeTherapy.LookbackDays,
		p.ConservativeTherapy.MaxGapDays, len(p.Links), p.Indication.Match(SystemICD10, "M54.16")}
	want := view{"acme", "Acme Health", "auth-needed", DefaultQuestionnaire, 28, 180, 21, len(def.Links), true}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("overlay (-got +want):\n%s", diff)
	}
	// The payer's name is its own: the default's payer label is not inherited.
	if p.Payer != "" || p.PayerName() != "Acme Health" || p.Label() != "Acme Health" {
		t.Errorf("payer %q, PayerName %q, Label %q; want the payer file's name", p.Payer, p.PayerName(), p.Label())
	}
	q, err := Parse("c.yaml", []byte("id: c\nname: C plan 2026\npayer: C Health\nmatch: {payor_identifiers: [C]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if q.PayerName() != "C Health" {
		t.Errorf("PayerName %q, want the payer key", q.PayerName())
	}
	// A list the payer sets replaces the default's.
	p, err = Parse("b.yaml", []byte("id: b\nname: B\nmatch: {payor_identifiers: [B]}\nlinks: [{label: B policy, url: 'https://b.example/policy'}]\npa_needed: no-auth\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p.Links, []Link{{Label: "B policy", URL: "https://b.example/policy"}}); diff != "" || p.PANeeded != "no-auth" {
		t.Errorf("links (-got +want):\n%s pa_needed %s", diff, p.PANeeded)
	}
	// The default is unchanged by overlays.
	if Default().Default().ConservativeTherapy.MinDays != 42 {
		t.Error("default changed")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error, each naming file and line
	}{
		{"unknown key", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nconservative_therapy:\n  min_dayz: 28\n",
			[]string{"bad.yaml:5: unknown key min_dayz"}},
		{"inline code list (value sets only)", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nindication:\n  icd10: [M54.5]\n",
			[]string{"bad.yaml:5: unknown key icd10"}},
		{"missing name", "id: a\nmatch: {payor_identifiers: [A]}\n", []string{"bad.yaml:1: missing required key name"}},
		{"missing id", "name: A\nmatch: {payor_identifiers: [A]}\n", []string{"bad.yaml:1: missing required key id"}},
		{"bad id", "id: Acme Health\nname: A\nmatch: {payor_identifiers: [A]}\n", []string{"bad.yaml:1: id: \"Acme Health\" must be lower-case"}},
		{"missing match", "id: a\nname: A\n", []string{"bad.yaml:1: match: a payer policy needs at least one"}},
		{"bad threshold", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nconservative_therapy:\n  min_days: 0\n",
			[]string{"bad.yaml:5: conservative_therapy.min_days: 0 is out of range"}},
		{"lookback shorter than minimum", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nconservative_therapy:\n  lookback_days: 30\n",
			[]string{"bad.yaml:5: conservative_therapy.lookback_days: 30 is shorter than min_days 42"}},
		{"bad fever unit", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nfever:\n  thresholds:\n    - {value: 38, unit: C}\n",
			[]string{"bad.yaml:6: fever.thresholds.0.unit: \"C\" must be the UCUM code"}},
		{"implausible fever", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nfever:\n  thresholds:\n    - {value: 3.8, unit: Cel}\n",
			[]string{"bad.yaml:6: fever.thresholds.0.value: 3.8 Cel is not a plausible"}},
		{"bad URL", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nlinks:\n  - label: Policy\n    url: /relative/policy\n",
			[]string{"bad.yaml:6: links.0.url: \"/relative/policy\" is not an absolute"}},
		{"bad questionnaire", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nquestionnaire: lumbar-mri-pa\n",
			[]string{"bad.yaml:4: questionnaire:"}},
		{"bad pa_needed", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\npa_needed: yes-please\n",
			[]string{"bad.yaml:4: pa_needed: \"yes-please\" is not a pa-needed code"}},
		{"missing value set", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nindication:\n  valueset: https://lumbar-mri-cds.github.io/fhir/ValueSet/no-such-set\n",
			[]string{"bad.yaml:5: indication.valueset: value set https://lumbar-mri-cds.github.io/fhir/ValueSet/no-such-set is not loaded"}},
		{"missing value set in a red flag", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nred_flags:\n  fracture:\n    alone:\n      - valueset: https://example.org/ValueSet/x\n        source: x\n",
			[]string{"bad.yaml:7: red_flags.fracture.alone.0.valueset: value set https://example.org/ValueSet/x is not loaded"}},
		{"indication without a value set", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nindication:\n  valueset: ''\n",
			[]string{"bad.yaml:4: indication: needs a valueset"}},
		{"ingredient outside the class's value set", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nconservative_therapy:\n  classes:\n    nsaid:\n      ingredients: [{rxnorm: '6809', name: metformin}]\n",
			[]string{"conservative_therapy.classes.nsaid.ingredients.0.rxnorm: RxNorm 6809 is not in the class's value set"}},
		{"red flag without source", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nred_flags:\n  fracture:\n    alone:\n      - valueset: https://lumbar-mri-cds.github.io/fhir/ValueSet/vertebral-fracture\n",
			[]string{"bad.yaml:7: red_flags.fracture.alone.0: needs a source citation"}},
		{"criterion with two kinds", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nred_flags:\n  fracture:\n    alone:\n      - {valueset: https://lumbar-mri-cds.github.io/fhir/ValueSet/vertebral-fracture, fever: true, source: x}\n",
			[]string{"bad.yaml:7: red_flags.fracture.alone.0: needs exactly one of"}},
		{"lumbar indication alone", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nred_flags:\n  fracture:\n    alone:\n      - {lumbar_indication: true, source: x}\n",
			[]string{"bad.yaml:7: red_flags.fracture.alone.0: an indication alone is not a red flag"}},
		{"one-part combination", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nred_flags:\n  malignancy:\n    combinations:\n      - source: x\n        all:\n          - valueset: https://lumbar-mri-cds.github.io/fhir/ValueSet/cancer-history\n",
			[]string{"bad.yaml:8: red_flags.malignancy.combinations.0.all: a combination needs at least two parts"}},
		{"ended with history", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nred_flags:\n  malignancy:\n    alone:\n      - {valueset: https://lumbar-mri-cds.github.io/fhir/ValueSet/malignancy, ended: true, history: true, source: x}\n",
			[]string{"red_flags.malignancy.alone.0.ended: needs a valueset or cancer_stage: true and excludes history: true"}},
		{"cancer stage with a window", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nred_flags:\n  malignancy:\n    alone:\n      - {cancer_stage: true, within_days: 30, source: x}\n",
			[]string{"red_flags.malignancy.alone.0.cancer_stage: takes only ended: true"}},
		{"ongoing without a window", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nred_flags:\n  fracture:\n    alone:\n      - {valueset: https://lumbar-mri-cds.github.io/fhir/ValueSet/vertebral-fracture, ongoing: true, source: x}\n",
			[]string{"red_flags.fracture.alone.0.ongoing: needs a valueset and within_days"}},
		{"bad contrast", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nred_flags:\n  infection:\n    contrast: with\n",
			[]string{"bad.yaml:6: red_flags.infection.contrast: \"with\" must be one of"}},
		{"no class counts alone", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nconservative_therapy:\n  classes:\n    physical_therapy: {alone: false}\n    chiropractic: {alone: false}\n    nsaid: {counts: false}\n    oral_steroid: {counts: false}\n    opioid: {counts: false}\n    muscle_relaxant: {counts: false}\n",
			[]string{"bad.yaml:5: conservative_therapy.classes: no class both counts and counts alone"}},
		{"yaml syntax", "id: a\nname: [A\n", []string{"bad.yaml:"}},
		{"several problems at once", "id: a\nname: A\nmatch: {payor_identifiers: [A]}\npa_needed: maybe\nxray_lookback_days: 0\n",
			[]string{"bad.yaml:4: pa_needed", "bad.yaml:5: xray_lookback_days: 0 is out of range"}},
		{"empty file", "", []string{"bad.yaml:1: empty policy file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
			var pe *Error
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) {
				t.Errorf("error %T is not a *policy.Error wrapping ErrInvalid", err)
			}
		})
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoad(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"acme.yaml":   payerOK,
		"beta.yml":    "id: beta\nname: Beta Insurance\nmatch: {payor_identifiers: [BETA]}\nxray_first: true\n",
		"notes.txt":   "not a policy",
		"default.yml": "id: default\nname: Our default\nconservative_therapy: {min_days: 35}\n",
	})
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range s.Policies() {
		ids = append(ids, p.ID)
	}
	if diff := cmp.Diff(ids, []string{"default", "acme", "beta"}); diff != "" {
		t.Errorf("ids (-got +want):\n%s", diff)
	}
	// The folder's default replaces the embedded one and is the payers' base.
	if got := []int{s.Default().ConservativeTherapy.MinDays, s.Get("acme").ConservativeTherapy.MinDays, s.Get("beta").ConservativeTherapy.MinDays}; !cmp.Equal(got, []int{35, 28, 35}) {
		t.Errorf("min_days default/acme/beta = %v, want [35 28 35]", got)
	}
	if s.Default().Name != "Our default" || s.Get("nope") != nil {
		t.Errorf("default name %q", s.Default().Name)
	}

	one, err := Load(filepath.Join(dir, "acme.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Policies()) != 2 || one.Default().ConservativeTherapy.MinDays != 42 {
		t.Errorf("single file: %d policies, default min_days %d", len(one.Policies()), one.Default().ConservativeTherapy.MinDays)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"duplicate ids", map[string]string{"a.yaml": payerOK, "b.yaml": strings.Replace(payerOK, "ACME01", "OTHER", 1)},
			[]string{"b.yaml:1: duplicate id \"acme\" (also in", "a.yaml"}},
		{"two files match the same payer", map[string]string{"a.yaml": payerOK, "b.yaml": "id: b\nname: B\nmatch: {payor_identifiers: [ACME01]}\n"},
			[]string{"policies acme and b both match payor identifier \"ACME01\""}},
		{"errors in several files", map[string]string{"a.yaml": "id: a\nname: A\nmatch: {payor_identifiers: [A]}\nrepeat_mri_window_days: -1\n", "b.yaml": "id: b\nname: B\nmatch: {payor_identifiers: [B]}\nbogus: 1\n"},
			[]string{"a.yaml:4: repeat_mri_window_days: -1 is out of range", "b.yaml:4: unknown key bogus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFiles(t, tt.files))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("Load of a missing path succeeded")
	}
}

func TestForCoverage(t *testing.T) {
	acme, err := Parse("acme.yaml", []byte(payerOK))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSet(Default().Default(), []*Policy{acme}, nil)
	if err != nil {
		t.Fatal(err)
	}
	payor := func(r r4.Reference) *r4.Coverage { return &r4.Coverage{Payor: []r4.Reference{r}} }
	tests := []struct {
		name string
		cov  *r4.Coverage
		want string
	}{
		{"nil coverage", nil, "default"},
		{"no payor", &r4.Coverage{}, "default"},
		{"identifier", payor(r4.Reference{Identifier: &r4.Identifier{Value: ptr(" ACME01 ")}}), "acme"},
		{"identifier is case-sensitive", payor(r4.Reference{Identifier: &r4.Identifier{Value: ptr("acme01")}}), "default"},
		{"display, case and spaces ignored", payor(r4.Reference{Display: ptr("  acme health   PLAN ")}), "acme"},
		{"organization reference", payor(r4.Reference{Reference: ptr("Organization/org-acme")}), "acme"},
		{"absolute organization reference", payor(r4.Reference{Reference: ptr("https://fhir.example/r4/Organization/org-acme")}), "acme"},
		{"versioned organization reference", payor(r4.Reference{Reference: ptr("Organization/org-acme/_history/2")}), "acme"},
		{"other organization", payor(r4.Reference{Reference: ptr("Organization/org-other")}), "default"},
		{"unknown payer", payor(r4.Reference{Display: ptr("Unknown Mutual")}), "default"},
		{"second payor matches", &r4.Coverage{Payor: []r4.Reference{{Display: ptr("Unknown")}, {Reference: ptr("Organization/org-acme")}}}, "acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.ForCoverage(tt.cov).ID; got != tt.want {
				t.Errorf("ForCoverage() = %s, want %s", got, tt.want)
			}
		})
	}
}
