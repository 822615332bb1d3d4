package terminology

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the value set table in docs/clinical.md")

const (
	tableBegin = "<!-- value set table: written by `go test ./internal/terminology -run TestClinicalDocTable -update` -->"
	tableEnd   = "<!-- end of value set table -->"
)

// clinicalTable renders one row per shipped value set.
func clinicalTable(reg *Registry) string {
	var b strings.Builder
	b.WriteString("| value set | title | version | codes | where the codes come from |\n|---|---|---|---|---|\n")
	for _, s := range reg.Sets() {
		name := strings.TrimPrefix(s.URL(), CanonicalBase)
		srcs := s.Sources()
		for i, src := range srcs {
			srcs[i] = strings.ReplaceAll(src, "|", "\\|")
		}
		var imports []string
		if r := s.Resource(); r.Compose != nil {
			for _, in := range r.Compose.Include {
				for _, u := range in.ValueSet {
					imports = append(imports, "`"+strings.TrimPrefix(stripVersion(u), CanonicalBase)+"`")
				}
			}
		}
		if len(imports) > 0 {
			srcs = append(srcs, "imports "+strings.Join(imports, ", "))
		}
		fmt.Fprintf(&b, "| [`%s`](../internal/terminology/valuesets/%s.json) | %s | %s | %d | %s |\n",
			name, name, s.Title(), s.Version(), s.Size(), strings.Join(srcs, "; "))
	}
	return b.String()
}

// TestClinicalDocTable: docs/clinical.md lists every shipped value set with
// its URL, title, version, size and sources, as the files say.
func TestClinicalDocTable(t *testing.T) {
	reg, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "clinical.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(doc, []byte(tableBegin)), bytes.Index(doc, []byte(tableEnd))
	if i < 0 || j < i {
		t.Fatalf("%s has no value set table markers", path)
	}
	want := tableBegin + "\n\n" + clinicalTable(reg) + "\n"
	got := string(doc[i:j])
	if got == want {
		return
	}
	if *update {
		out := append([]byte{}, doc[:i]...)
		out = append(out, want...)
		out = append(out, doc[j:]...)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: the value set table is out of date; run go test ./internal/terminology -run TestClinicalDocTable -update", path)
}
