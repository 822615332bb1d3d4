package fhirtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Validate checks FHIR R4 resources against the base R4 definitions with
// the node validator (node/validate.js, @medplum/core's validateResource:
// cardinalities, types, base-spec invariants). It returns the problems of
// each resource, in order; an empty list means valid. Like Start, it fails
// the test when node or its packages are missing, unless SkipEnv=1.
func Validate(t testing.TB, resources ...json.RawMessage) [][]string {
	t.Helper()
	dir, node := nodeTool(t, filepath.Join("@medplum", "core"))
	in, err := json.Marshal(resources)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "validate.js")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("validator: %v: %s", err, stderr.String())
	}
	var out [][]string
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out) != len(resources) {
		t.Fatalf("validator output %q: %v", stdout.String(), err)
	}
	return out
}
