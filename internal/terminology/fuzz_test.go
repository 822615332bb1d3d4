package terminology

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: any bytes either fail to parse with an error, or give a value
// set that builds into a registry whose lookups answer without panicking.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("valuesets", "*.json"))
	for _, name := range files[:min(4, len(files))] {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(vsJSON("https://example.org/ValueSet/x", `"compose":{"include":[{"system":"`+SystemICD10CM+`","filter":[{"property":"concept","op":"is-a","value":"M54"}]}],"exclude":[{"valueSet":["https://example.org/ValueSet/x"]}]}`)))
	f.Add([]byte(`{"resourceType":"ValueSet","expansion":{"contains":[{"contains":[{"contains":[]}]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse("fuzz.json", data)
		if err != nil {
			return
		}
		reg, err := New(v)
		if err != nil {
			return
		}
		s := reg.Get(v.URL)
		for _, c := range []string{"M54.16", "m5416", "", "...............................", "C50.911"} {
			s.Contains(SystemICD10CM, c)
			s.Contains(SystemSNOMED, c)
		}
		_ = s.Display(SystemICD10CM, "M54.16")
		_ = s.Size()
	})
}
