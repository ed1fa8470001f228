package contract

import (
	"errors"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

func TestAlertLimits(t *testing.T) {
	for in, want := range map[int]int{-1: store.RunListLimitMax, 0: store.RunListLimitMax, 7: 7,
		store.RunListLimitMax + 1: store.RunListLimitMax} {
		if got := FeedLimit(in); got != want {
			t.Errorf("FeedLimit(%d) = %d, want %d", in, got, want)
		}
	}
	for in, want := range map[int]int{0: store.NotificationLimitDefault, 3: 3,
		store.NotificationLimitMax + 1: store.NotificationLimitMax} {
		if got := NotificationLimit(in); got != want {
			t.Errorf("NotificationLimit(%d) = %d, want %d", in, got, want)
		}
	}
	for in, want := range map[int]int{0: store.TimelineLimitDefault, 3: 3,
		store.TimelineLimitMax + 1: store.TimelineLimitMax} {
		if got, err := TimelineQuery(store.TimelineFilter{DefinitionID: "a", Limit: in}); err != nil || got != want {
			t.Errorf("TimelineQuery(limit %d) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestLeaseArgs(t *testing.T) {
	if err := CheckLease("detector", "host-1", time.Millisecond); err != nil {
		t.Errorf("a valid lease: %v", err)
	}
	for _, ttl := range []time.Duration{0, time.Microsecond, -time.Second} {
		if err := CheckLease("detector", "host-1", ttl); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ttl %s: %v, want ErrInvalid", ttl, err)
		}
	}
}

func TestStoreEntries(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	until := at.Add(2 * time.Hour)
	for _, tc := range []struct {
		e    store.TimelineEntry
		want string
	}{
		{VersionEntry("a", 1, 0, at), "v1 stored: new definition"},
		{VersionEntry("a", 7, 6, at), "v7 stored (was v6)"},
		{PausedEntry(store.OperatorPause{DefinitionID: "a", By: "operator", PausedAt: at}), "paused by operator (until resumed)"},
		{PausedEntry(store.OperatorPause{DefinitionID: "a", By: "operator", Note: "db move", Until: &until, PausedAt: at}),
			"paused by operator: db move (until 2026-12-01T12:00:00Z)"},
		{ResumedEntry(store.OperatorPause{DefinitionID: "a", By: "auto-pause", Note: "3 failures"}, at),
			"resumed (was paused by auto-pause: 3 failures)"},
	} {
		if tc.e.Summary != tc.want {
			t.Errorf("summary %q, want %q", tc.e.Summary, tc.want)
		}
		if _, err := PrepareTimelineEntry(tc.e, at); err != nil {
			t.Errorf("store-made entry %+v is not valid: %v", tc.e, err)
		}
	}
}
