package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestRecipeFoldersAreIgnored: the data folders the documented recipes
// create (audit databases, development signing keys) are git-ignored, so a
// `git add -A` after following the docs never commits a key.
func TestRecipeFoldersAreIgnored(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"data/audit.db", "benchdata/audit.db", "soakdata/dev-signing-key.pem", "soakdata/dev-trust.yaml",
		"somewhere/dev-signing-key.pem", "bin/lumbar-mri-cds", "lmc"} {
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
