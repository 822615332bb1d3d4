package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEIsTrue checks what the README and docs/ state that a test can
// check: relative links lead to files, every `lumbar-mri-cds <command>`
// they show is a command, and the discovery output shown is the service's.
func TestREADMEIsTrue(t *testing.T) {
	root := filepath.Join("..", "..")
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, filepath.Join(root, "README.md"))
	link := regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`)
	command := regexp.MustCompile("(?:lumbar-mri-cds|\\./lmc|go run \\./cmd/lumbar-mri-cds) ([a-z][a-z-]*)")
	known := map[string]bool{"serve": true, "evaluate": true, "seed": true, "token": true, "report": true, "bench": true, "version": true, "help": true, "valueset": true}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), m[1])); err != nil {
				t.Errorf("%s links to %s, which does not exist", filepath.Base(f), m[1])
			}
		}
		for _, m := range command.FindAllStringSubmatch(string(b), -1) {
			if !known[m[1]] {
				t.Errorf("%s shows %q, not a command", filepath.Base(f), m[0])
			}
		}
	}

	readme, _ := os.ReadFile(filepath.Join(root, "README.md"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done, _ := startServe(t, ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, nil)
	defer func() { cancel(); <-done }()
	ids := discoveryIDs(t, base)
	shown := "# " + strings.Join(ids, "\n# ")
	if !strings.Contains(string(readme), "jq -r '.services[].id'\n"+shown+"\n") {
		t.Errorf("the README's discovery output differs from the service's:\n%s", shown)
	}
}

// discoveryIDs returns the service ids of the discovery document at base.
func discoveryIDs(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/cds-services")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Services []struct {
			ID string `json:"id"`
		} `json:"services"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range d.Services {
		ids = append(ids, s.ID)
	}
	return ids
}
