package contract

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

func TestCursor(t *testing.T) {
	at := time.Date(2026, 11, 23, 18, 30, 15, 123456000, time.UTC)
	for _, id := range []string{"run-1", "with:colons:inside", "ünï 🎉"} {
		gotAt, gotID, err := DecodeCursor(EncodeCursor(at, id))
		if err != nil || !gotAt.Equal(at) || gotID != id {
			t.Errorf("round trip of %q: %v %q %v", id, gotAt, gotID, err)
		}
	}
	for _, bad := range []string{"", "%%%", "bm8tY29sb24", "eDpydW4"} {
		if _, _, err := DecodeCursor(bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("DecodeCursor(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

func TestDefinitionCursor(t *testing.T) {
	for _, id := range []string{"a", "with:colons:inside", "ünï 🎉"} {
		if got, err := DecodeDefinitionCursor(EncodeDefinitionCursor(id)); err != nil || got != id {
			t.Errorf("round trip of %q: %q %v", id, got, err)
		}
	}
	for _, bad := range []string{"", "%%%", EncodeCursor(time.Now(), "run-1"), "ZDo"} {
		if _, err := DecodeDefinitionCursor(bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("DecodeDefinitionCursor(%q): %v, want ErrInvalid", bad, err)
		}
	}
	if _, _, err := DecodeCursor(EncodeDefinitionCursor("d.a")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a definition cursor read as a run cursor: %v, want ErrInvalid", err)
	}
}

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":          "plain",
		"漢字 🎉":           "漢字 🎉",
		"nul\x00inside":  "nul\uFFFDinside",
		"bad \xff\xfe!":  "bad \uFFFD!",
		"cut \xe4\xb8":   "cut \uFFFD",
		"\x00\xff\x00ok": "\uFFFD\uFFFD\uFFFDok",
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTailAndLimit(t *testing.T) {
	long := strings.Repeat("a", 10) + strings.Repeat("b", store.OutputTailMax)
	if got := Tail(long); got != strings.Repeat("b", store.OutputTailMax) {
		t.Errorf("Tail kept %d bytes starting %q", len(got), got[:3])
	}
	if got := Tail("short"); got != "short" {
		t.Errorf("Tail(short) = %q", got)
	}
	for in, want := range map[int]int{-1: store.RunListLimitDefault, 0: store.RunListLimitDefault, 1: 1,
		store.RunListLimitMax: store.RunListLimitMax, store.RunListLimitMax + 1: store.RunListLimitMax} {
		if got := Limit(in); got != want {
			t.Errorf("Limit(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestMigrations(t *testing.T) {
	ok := fstest.MapFS{
		"m/0002_more.sql": {Data: []byte("B")},
		"m/0001_init.sql": {Data: []byte("A")},
	}
	ms, err := Migrations(ok, "m")
	if err != nil || len(ms) != 2 || ms[0].Version != 1 || ms[1].SQL != "B" {
		t.Errorf("Migrations = %+v, %v", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"duplicate": {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"bad name":  {"m/0001_a.sql": {}, "m/2_b.sql": {}},
	} {
		if _, err := Migrations(fsys, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
