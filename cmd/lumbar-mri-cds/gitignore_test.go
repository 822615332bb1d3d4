package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestRecipeFoldersAreIgnored: the data folders the documented recipes
// create (audit databases, their HMAC keys, development signing keys) are
// git-ignored, so a `git add -A` after following the docs never commits a
// key. The folders are read from the README and docs/ themselves, so a new
// recipe with a new folder fails here until the folder is ignored.
func TestRecipeFoldersAreIgnored(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"data/audit.db", "benchdata/audit.db", "soakdata/dev-signing-key.pem", "soakdata/dev-trust.yaml",
		"somewhere/dev-signing-key.pem", "bin/lumbar-mri-cds", "lmc"}
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, filepath.Join(root, "README.md"))
	dataDir := regexp.MustCompile("--(?:data-dir|token-dev-key) ([a-z][a-z0-9_-]*)")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range dataDir.FindAllStringSubmatch(string(b), -1) {
			paths = append(paths, m[1]+"/audit-hmac.key")
		}
	}
	for _, p := range paths {
		cmd := exec.Command("git", "check-ignore", "-q", "--no-index", p)
		cmd.Dir = root
		if err := cmd.Run(); err != nil {
			t.Errorf("%s is not git-ignored (git check-ignore: %v)", p, err)
		}
	}
	// The check can fail: a source file is not ignored.
	cmd := exec.Command("git", "check-ignore", "-q", "--no-index", "cmd/lumbar-mri-cds/main.go")
	cmd.Dir = root
	if cmd.Run() == nil {
		t.Error("main.go is git-ignored")
	}
}
