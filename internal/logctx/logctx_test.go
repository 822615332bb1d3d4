package logctx

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestContextAttributesReachEveryLine(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewTextHandler(&buf, nil))).With("component", "fhir")
	ctx := With(context.Background(), slog.String("request_id", "r1"))
	ctx = With(ctx, slog.String("hook_instance", "h1"))
	log.WarnContext(ctx, "search failed")
	log.Warn("no context")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if !strings.Contains(lines[0], "request_id=r1") || !strings.Contains(lines[0], "hook_instance=h1") || !strings.Contains(lines[0], "component=fhir") {
		t.Errorf("line with context: %s", lines[0])
	}
	if strings.Contains(lines[1], "request_id") {
		t.Errorf("line without context: %s", lines[1])
	}
}
