package policy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/terminology"
)

// TestDefaultNamesShippedValueSets: every value set URL the default policy
// names is shipped and holds codes.
func TestDefaultNamesShippedValueSets(t *testing.T) {
	reg, err := terminology.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	p := Default().Default()
	urls := p.ValueSets()
	if len(urls) < 25 {
		t.Errorf("the default policy names %d value sets", len(urls))
	}
	for _, u := range urls {
		s := reg.Get(u)
		if s == nil {
			t.Errorf("%s is not shipped", u)
			continue
		}
		if s.Empty() {
			t.Errorf("%s is empty", u)
		}
	}
	// Every code list of the default is resolved, not just named.
	for _, c := range p.allCodes() {
		if !c.codes.Empty() && c.codes.Set() == nil {
			t.Errorf("%s: %s not resolved", c.path, c.codes.ValueSet)
		}
	}
}

// vsFile is a ValueSet with one SNOMED CT code, or none.
func vsFile(url string, codes ...string) string {
	var cs []string
	for _, c := range codes {
		cs = append(cs, fmt.Sprintf(`{"system":%q,"code":%q}`, SystemSNOMED, c))
	}
	return fmt.Sprintf(`{"resourceType":"ValueSet","url":%q,"version":"1","title":"T","publisher":"Payer","expansion":{"contains":[%s]}}`,
		url, strings.Join(cs, ","))
}

func TestLoadValueSetErrors(t *testing.T) {
	const empty = "https://payer.example/ValueSet/empty"
	const full = "https://payer.example/ValueSet/sciatica"
	vs := writeFiles(t, map[string]string{"empty.json": vsFile(empty), "full.json": vsFile(full, "23056005")})
	reg, err := terminology.Load(vs)
	if err != nil {
		t.Fatal(err)
	}
	head := "id: p\nname: P\nmatch: {payor_identifiers: [P]}\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"missing", head + "indication: {valueset: 'https://payer.example/ValueSet/nope'}\n",
			"p.yaml:4: indication.valueset: value set https://payer.example/ValueSet/nope is not loaded"},
		{"empty", head + "red_flags:\n  fracture:\n    alone:\n      - valueset: " + empty + "\n        source: x\n",
			"p.yaml:7: red_flags.fracture.alone.0.valueset: value set " + empty + " is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"p.yaml": tt.yaml})
			_, err := LoadWith(dir, reg)
			want := filepath.Join(dir, "p.yaml") + strings.TrimPrefix(tt.want, "p.yaml")
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v\nwant it to contain %q", err, want)
			}
		})
	}
	// A payer's own value set from the folder.
	p, err := ParseWith("p.yaml", []byte(head+"indication: {valueset: '"+full+"'}\n"), reg)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Indication.Match(SystemSNOMED, "23056005") || p.Indication.Match(SystemICD10, "M54.50") {
		t.Error("the payer's indication set is not in force")
	}
	// The shipped registry does not know the payer's set.
	if _, err := Parse("p.yaml", []byte(head+"indication: {valueset: '"+full+"'}\n")); err == nil {
		t.Error("a set from no folder was accepted")
	}
}

// TestHolderReloadsValueSets: a change in the value set folder is picked up;
// a bad value set file, or one that empties a set the policy names, is
// rejected and the running set kept.
func TestHolderReloadsValueSets(t *testing.T) {
	vsDir := t.TempDir()
	url := terminology.CanonicalBase + "cauda-equina"
	file := filepath.Join(vsDir, "cauda.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(vsFile(url, "192970008"))
	results := make(chan string, 16)
	h, err := NewHolderWithValueSets("", vsDir, slog.New(slog.NewTextHandler(io.Discard, nil)), func(r string) { results <- r })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	ces := func() *Codes { return &h.Current().Default().RedFlags.CaudaEquina.Alone[0].Codes }
	if !ces().Match(SystemSNOMED, "192970008") || ces().Match(SystemICD10, "G83.4") {
		t.Fatal("the folder's set does not replace the shipped one")
	}
	write(vsFile(url, "192970008", "1234567"))
	waitReload(t, results, "ok")
	if !ces().Match(SystemSNOMED, "1234567") {
		t.Error("changed set not in force")
	}
	write(`{"resourceType":"ValueSet"`)
	waitReload(t, results, "rejected")
	write(vsFile(url))
	waitReload(t, results, "rejected")
	if !ces().Match(SystemSNOMED, "1234567") {
		t.Error("a rejected change replaced the running set")
	}
	if err := h.Reload(); err == nil || !strings.Contains(err.Error(), url+" is empty") {
		t.Errorf("Reload error %v, want the empty set named", err)
	}
	<-results
}
