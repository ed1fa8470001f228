package app

import (
	"log/slog"
	"strings"
	"testing"
)

func TestLiveOutputSettings(t *testing.T) {
	sink, viewer, err := liveOutput(nil, 0, slog.Default())
	if sink != nil || viewer != nil || err != nil {
		t.Fatalf("without NATS: %v %v %v, want nothing", sink, viewer, err)
	}
	_, _, err = liveOutput(nil, -1, slog.Default())
	if err == nil || !strings.HasPrefix(err.Error(), "ACTIVITY_OUTPUT_VIEWERS_MAX: -1 is negative") {
		t.Fatalf("a negative maximum: %v", err)
	}
}
