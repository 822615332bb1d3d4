package terminology

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// vsJSON builds a ValueSet resource with the required elements around a
// compose or expansion fragment.
func vsJSON(url, body string) string {
	return fmt.Sprintf(`{"resourceType":"ValueSet","url":%q,"version":"1","title":"T","status":"active",
"extension":[{"url":%q,"valueString":"test source"}],%s}`, url, SourceExtension, body)
}

func mustParse(t *testing.T, name, data string) *ValueSet {
	t.Helper()
	v, err := Parse(name, []byte(data))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return v
}

func TestMembership(t *testing.T) {
	const base = "https://example.org/ValueSet/"
	sets := []*ValueSet{
		mustParse(t, "radic.json", vsJSON(base+"radic", `"compose":{"include":[
			{"system":"`+SystemICD10CM+`","filter":[{"property":"concept","op":"is-a","value":"M54.1"}]},
			{"system":"`+SystemICD10CM+`","filter":[{"property":"concept","op":"descendent-of","value":"M51.3"}]},
			{"system":"`+SystemSNOMED+`","concept":[{"code":"128196005","display":"Lumbar radiculopathy"}]}],
			"exclude":[{"system":"`+SystemICD10CM+`","concept":[{"code":"M54.12"}]},
			           {"system":"`+SystemICD10CM+`","filter":[{"property":"concept","op":"is-a","value":"M54.13"}]}]}`)),
		mustParse(t, "lbp.json", vsJSON(base+"lbp", `"expansion":{"total":2,"contains":[
			{"system":"`+SystemICD10CM+`","code":"M54.50","display":"Low back pain, unspecified"},
			{"abstract":true,"display":"Low back pain concepts","contains":[{"system":"`+SystemSNOMED+`","code":"279039007","display":"Low back pain"}]}]}`)),
		mustParse(t, "all.json", vsJSON(base+"all", `"compose":{"include":[{"valueSet":["`+base+`radic|1"]},{"valueSet":["`+base+`lbp"]},
			{"system":"`+SystemCPT+`","concept":[{"code":"72148"}]}],"exclude":[{"system":"`+SystemSNOMED+`","concept":[{"code":"279039007"}]}]}`)),
		mustParse(t, "both.json", vsJSON(base+"both", `"compose":{"include":[{"system":"`+SystemICD10CM+`","valueSet":["`+base+`radic","`+base+`all"]}]}`)),
	}
	reg, err := New(sets...)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		set, system, code string
		want              bool
	}{
		{"radic", SystemICD10CM, "M54.1", true},     // is-a includes the code itself
		{"radic", SystemICD10CM, "M54.16", true},    // a descendant extends the code
		{"radic", SystemICD10CM, "m5417", true},     // dots and case ignored
		{"radic", SystemICD10CM, "M54.10", true},    //
		{"radic", SystemICD10CM, "M54.12", false},   // excluded concept
		{"radic", SystemICD10CM, "M54.13", false},   // excluded by an is-a filter
		{"radic", SystemICD10CM, "M54.2", false},    // a sibling
		{"radic", SystemICD10CM, "M54", false},      // an ancestor
		{"radic", SystemICD10CM, "M51.3", false},    // descendent-of leaves out the code
		{"radic", SystemICD10CM, "M51.369", true},   // FY2025 child
		{"radic", SystemSNOMED, "M54.16", false},    // is-a is ICD-10-CM only
		{"radic", SystemSNOMED, "128196005", true},  // listed concept
		{"radic", SystemSNOMED, "1281960", false},   // SNOMED exact, no prefix
		{"radic", SystemICD10CM, "M5", false},       // too short to be a code
		{"lbp", SystemICD10CM, "M54.50", true},      // expansion
		{"lbp", SystemSNOMED, "279039007", true},    // nested contains
		{"lbp", SystemICD10CM, "M54.51", false},     // expansions list codes, no hierarchy
		{"all", SystemICD10CM, "M54.16", true},      // imported (a |version tail is ignored)
		{"all", SystemICD10CM, "M54.12", false},     // the import's own exclusion holds
		{"all", SystemICD10CM, "M54.50", true},      // second import
		{"all", SystemSNOMED, "279039007", false},   // excluded by the importing set
		{"all", SystemCPT, "72148", true},           // own concepts
		{"both", SystemICD10CM, "M54.16", true},     // in both imports, right system
		{"both", SystemSNOMED, "128196005", false},  // in both imports, other system
		{"both", SystemICD10CM, "M54.50", false},    // only in one import
		{"missing", SystemICD10CM, "M54.16", false}, // nil set
	}
	for _, tt := range tests {
		t.Run(tt.set+" "+tt.code, func(t *testing.T) {
			if got := reg.Get(base+tt.set).Contains(tt.system, tt.code); got != tt.want {
				t.Errorf("%s contains %s|%s = %v, want %v", tt.set, tt.system, tt.code, got, tt.want)
			}
		})
	}
	if got := reg.Get(base+"radic").Display(SystemSNOMED, "128196005"); got != "Lumbar radiculopathy" {
		t.Errorf("display %q", got)
	}
	if got := reg.Get(base+"all").Display(SystemICD10CM, "M54.50"); got != "Low back pain, unspecified" {
		t.Errorf("display through an import %q", got)
	}
	if got, want := reg.Get(base+"all").Size(), 3+2+1; got != want {
		t.Errorf("size %d, want %d", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	const u = "https://example.org/ValueSet/x"
	inc := func(s string) string { return `"compose":{"include":[` + s + `]}` }
	tests := []struct {
		name, data, want string
	}{
		{"not JSON", `{`, "not a JSON ValueSet"},
		{"other resource", `{"resourceType":"CodeSystem","url":"` + u + `","version":"1","title":"T","publisher":"P","compose":{"include":[{"system":"a","concept":[{"code":"b"}]}]}}`, "resourceType is \"CodeSystem\""},
		{"no url", `{"resourceType":"ValueSet","version":"1","title":"T","publisher":"P","expansion":{}}`, "url \"\" is not an absolute"},
		{"versioned url", vsJSON(u+"|2", `"expansion":{}`), "without a version"},
		{"no version", `{"resourceType":"ValueSet","url":"` + u + `","title":"T","publisher":"P","expansion":{}}`, "version is required"},
		{"no title", `{"resourceType":"ValueSet","url":"` + u + `","version":"1","publisher":"P","expansion":{}}`, "title is required"},
		{"no source", `{"resourceType":"ValueSet","url":"` + u + `","version":"1","title":"T","expansion":{}}`, "no source"},
		{"no content", vsJSON(u, `"name":"x"`), "needs a compose or an expansion"},
		{"include without system", vsJSON(u, inc(`{"concept":[{"code":"M54.5"}]}`)), "needs a system or a valueSet"},
		{"concept and filter", vsJSON(u, inc(`{"system":"`+SystemICD10CM+`","concept":[{"code":"M54.5"}],"filter":[{"property":"concept","op":"is-a","value":"M54"}]}`)), "vsd-3"},
		{"bad ICD-10-CM code", vsJSON(u, inc(`{"system":"`+SystemICD10CM+`","concept":[{"code":"54.5"}]}`)), `"54.5" is not a valid`},
		{"bad SNOMED code", vsJSON(u, inc(`{"system":"`+SystemSNOMED+`","concept":[{"code":"12a"}]}`)), `"12a" is not a valid`},
		{"bad LOINC code", vsJSON(u, inc(`{"system":"`+SystemLOINC+`","concept":[{"code":"306795"}]}`)), `"306795" is not a valid`},
		{"regex filter", vsJSON(u, inc(`{"system":"`+SystemICD10CM+`","filter":[{"property":"code","op":"regex","value":"M54.*"}]}`)), "is not supported"},
		{"SNOMED is-a without expansion", vsJSON(u, inc(`{"system":"`+SystemSNOMED+`","filter":[{"property":"concept","op":"is-a","value":"72274001"}]}`)), "needs a terminology server"},
		{"two filters", vsJSON(u, inc(`{"system":"`+SystemICD10CM+`","filter":[{"property":"concept","op":"is-a","value":"M54"},{"property":"concept","op":"is-a","value":"M51"}]}`)), "one include per filter"},
		{"relative import", vsJSON(u, inc(`{"valueSet":["ValueSet/y"]}`)), "not an absolute canonical"},
		{"partial expansion", vsJSON(u, `"expansion":{"total":3,"contains":[{"system":"`+SystemSNOMED+`","code":"192970008"}]}`), "partial: total 3, 1 codes"},
		{"expansion page", vsJSON(u, `"expansion":{"offset":100,"contains":[{"system":"`+SystemSNOMED+`","code":"192970008"}]}`), "one page (offset 100)"},
		{"expansion code without system", vsJSON(u, `"expansion":{"contains":[{"code":"192970008"}]}`), "has no system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("bad.json", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "bad.json") {
				t.Fatalf("error %v, want it to name bad.json and contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid")
			}
		})
	}
}

func TestRegistryErrors(t *testing.T) {
	const base = "https://example.org/ValueSet/"
	imp := func(name, target string) *ValueSet {
		return mustParse(t, name+".json", vsJSON(base+name, `"compose":{"include":[{"valueSet":["`+base+target+`"]}]}`))
	}
	if _, err := New(imp("a", "nowhere")); err == nil || !strings.Contains(err.Error(), "imports value set "+base+"nowhere, which is not loaded") {
		t.Errorf("missing import: %v", err)
	}
	if _, err := New(imp("a", "b"), imp("b", "a")); err == nil || !strings.Contains(err.Error(), "imports itself") {
		t.Errorf("cycle: %v", err)
	}
	all := mustParse(t, "c.json", vsJSON(base+"c", `"compose":{"include":[{"system":"`+SystemSNOMED+`"}]}`))
	if _, err := New(all); err == nil || !strings.Contains(err.Error(), "include of all of") {
		t.Errorf("whole code system: %v", err)
	}
	if _, err := New(imp("a", "a")); err == nil {
		t.Error("self import accepted")
	}
}

func TestShipped(t *testing.T) {
	reg, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.Sets()) < 30 {
		t.Errorf("%d shipped sets", len(reg.Sets()))
	}
	for _, s := range reg.Sets() {
		if !strings.HasPrefix(s.URL(), CanonicalBase) || !s.Shipped() {
			t.Errorf("%s: not a project canonical URL", s.URL())
		}
		if s.Empty() {
			t.Errorf("%s is empty", s.URL())
		}
		if want := "valuesets/" + strings.TrimPrefix(s.URL(), CanonicalBase) + ".json"; s.File() != want {
			t.Errorf("%s is in %s, want %s", s.URL(), s.File(), want)
		}
		// Every shipped set says where its codes come from, for every
		// include.
		if r := s.Resource(); r.Compose != nil {
			for i, in := range r.Compose.Include {
				if len(in.ValueSet) == 0 && len(in.Extension) == 0 {
					t.Errorf("%s include %d has no source", s.URL(), i)
				}
			}
		}
	}
}

func TestLoadFolder(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Replace a shipped set by URL and add one.
	write("cauda.json", vsJSON(CanonicalBase+"cauda-equina", `"compose":{"include":[{"system":"`+SystemICD10CM+`","concept":[{"code":"G83.4"}]}]}`))
	write("extra.json", vsJSON("https://payer.example/ValueSet/extra", `"expansion":{"contains":[{"system":"`+SystemCPT+`","code":"72148"}]}`))
	write("notes.txt", "not a value set")
	reg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := reg.Get(CanonicalBase + "cauda-equina")
	if c.Shipped() || c.Contains(SystemSNOMED, "192970008") || !c.Contains(SystemICD10CM, "G83.4") {
		t.Errorf("replacement not in force: shipped %v", c.Shipped())
	}
	if !reg.Get("https://payer.example/ValueSet/extra").Contains(SystemCPT, "72148") {
		t.Error("added set missing")
	}
	if reg.Get(CanonicalBase+"malignancy") == nil {
		t.Error("other shipped sets lost")
	}
	write("dup.json", vsJSON("https://payer.example/ValueSet/extra", `"expansion":{"contains":[]}`))
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "url also used by") {
		t.Errorf("duplicate url: %v", err)
	}
	os.Remove(filepath.Join(dir, "dup.json"))
	write("bad.json", `{"resourceType":"ValueSet"}`)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "bad.json")) {
		t.Errorf("bad file: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing folder accepted")
	}
}

// BenchmarkContains measures one membership test of an ICD-10-CM code
// against the shipped malignancy set (89 is-a filters).
func BenchmarkContains(b *testing.B) {
	reg, err := Shipped()
	if err != nil {
		b.Fatal(err)
	}
	s := reg.Get(CanonicalBase + "malignancy")
	for b.Loop() {
		if !s.Contains(SystemICD10CM, "C50.911") || s.Contains(SystemICD10CM, "M54.50") {
			b.Fatal("wrong answer")
		}
	}
}

// TestSetDisplays: the displays of the codes a set lists, sorted, without
// repeats, its imports' included.
func TestSetDisplays(t *testing.T) {
	reg, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	got := reg.Get("https://lumbar-mri-cds.github.io/fhir/ValueSet/lumbar-body-site").Displays()
	if want := []string{"Lumbar spine", "Lumbosacral spine"}; !slices.Equal(got, want) {
		t.Errorf("displays %q, want %q", got, want)
	}
	var none *Set
	if none.Displays() != nil {
		t.Error("a nil set has displays")
	}
}

// The cancer concepts EHR problem lists use (mCODE examples, the VSAC
// "Cancer" set) are in the shipped malignancy and cancer-history sets;
// neighbours that are not a malignancy or not a history stay out.
func TestShippedCancerConcepts(t *testing.T) {
	reg, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		set, code string
		want      bool
	}{
		{"malignancy", "353431000119107", true}, // Primary malignant neoplasm of female left breast
		{"malignancy", "93880001", true},        // Primary malignant neoplasm of lung
		{"malignancy", "94389000", true},        // Secondary malignant neoplasm of lumbar vertebral column
		{"malignancy", "93878007", true},        // Primary malignant neoplasm of lumbar vertebral column
		{"malignancy", "118601006", true},       // Non-Hodgkin's lymphoma
		{"malignancy", "1287652008", false},     // a history, not an active malignancy
		// From the rest of VSAC Cancer, selected by meaning:
		{"malignancy", "94260004", true},       // Secondary malignant neoplasm of colon
		{"malignancy", "109838007", true},      // Overlapping malignant neoplasm of colon
		{"malignancy", "94704006", false},      // Multiple myeloma in remission: an ended malignancy
		{"malignancy", "94730005", false},      // Neoplasm of uncertain behavior of adrenal gland
		{"malignancy", "231832009", false},     // Basal cell carcinoma of eyelid: a non-melanoma skin cancer
		{"malignancy", "94011000", false},      // Primary malignant neoplasm of skin of back: likewise
		{"cancer-history", "1287652008", true}, // History of metastatic malignant neoplasm
		{"cancer-history", "353431000119107", false},
	}
	for _, tt := range tests {
		s := reg.Get(CanonicalBase + tt.set)
		if s == nil {
			t.Fatalf("%s not shipped", tt.set)
		}
		if got := s.Contains(SystemSNOMED, tt.code); got != tt.want {
			t.Errorf("%s contains %s = %v, want %v", tt.set, tt.code, got, tt.want)
		}
	}
}

// ShippedSet compiles one embedded set by its id, alone.
func TestShippedSet(t *testing.T) {
	set, err := ShippedSet("tnm-stage-grouping-type")
	if err != nil || set == nil {
		t.Fatalf("ShippedSet = %v, %v", set, err)
	}
	if !set.Contains(SystemSNOMED, "399537006") || !set.Contains(SystemLOINC, "21908-9") || set.Contains(SystemSNOMED, "279039007") {
		t.Errorf("tnm-stage-grouping-type membership wrong")
	}
	if _, err := ShippedSet("no-such-set"); err == nil {
		t.Errorf("an unknown id gave no error")
	}
}
