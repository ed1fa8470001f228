package cli

import (
	"strings"
	"testing"
)

// TestRunControlUsageErrors: every bad command line of the run-control
// commands is refused before a request is made (the server here does not
// exist: reaching for it would say "cannot reach" and exit 1), with one
// message naming the flag.
func TestRunControlUsageErrors(t *testing.T) {
	nowhere := []string{"--server", "http://127.0.0.1:1", "--token", "x"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"backfill", "team.a", "--from", "yesterday", "--to", "2026-12-01T06:00:00Z"}, `--from "yesterday" is not a time: use RFC 3339`},
		{[]string{"backfill", "team.a", "--from", "2026-12-01T00:00:00Z", "--to", "2026-13-01T06:00:00Z"}, `--to "2026-13-01T06:00:00Z" is not a time`},
		{[]string{"backfill", "team.a", "--from", "2026-12-01T06:00:00Z", "--to", "2026-12-01T06:00:00Z"}, "--from 2026-12-01T06:00:00Z is not before --to 2026-12-01T06:00:00Z"},
		{[]string{"backfill", "team.a", "--from", "2026-12-02T00:00:00+01:00", "--to", "2026-12-01T06:00:00Z"}, "is not before --to"},
		{[]string{"backfill", "team.a", "--from", "2026-12-01T00:00:00Z", "--to", "2026-12-01T06:00:00Z", "--overlap", "queue"}, `--overlap must be one of "skip","buffer_all","allow_all" but got "queue"`},
		{[]string{"backfill", "team.a", "--to", "2026-12-01T06:00:00Z"}, "missing flags: --from"},
		{[]string{"backfill", "--from", "2026-12-01T00:00:00Z", "--to", "2026-12-01T06:00:00Z"}, `expected "<id>"`},
		{[]string{"audit", "--limit", "0"}, "--limit 0: use 1 to 1000"},
		{[]string{"audit", "--limit", "1001"}, "--limit 1001: use 1 to 1000"},
		{[]string{"audit", "--action", "delete"}, `--action must be one of`},
		{[]string{"runs", "cancel"}, `expected "<id>"`},
		{[]string{"runs", "rerun"}, `expected "<id>"`},
		{[]string{"run", "team.a", "--input"}, "--input: expected string value"},
		{[]string{"run", "team.a", "--input", "no-equals-sign"}, "--input: "},
		{[]string{"workers", "--format", "yaml"}, `--format must be one of "text","json"`},
	} {
		code, out, errOut := run(t, append(tc.args, nowhere...)...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "cannot reach") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 saying %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestRunControlHelpTeaches: each new command's help has examples of
// itself.
func TestRunControlHelpTeaches(t *testing.T) {
	for _, cmd := range [][]string{
		{"run"}, {"runs", "list"}, {"runs", "show"}, {"runs", "cancel"}, {"runs", "rerun"},
		{"backfill"}, {"audit"}, {"workers"}, {"tokens", "new"}, {"tokens", "hash"}, {"definitions", "show"},
	} {
		code, out, _ := run(t, append(cmd, "--help")...)
		name := "activity-core " + strings.Join(cmd, " ")
		if code != ExitOK || !strings.Contains(out, "Examples:") || !strings.Contains(out[strings.Index(out, "Examples:")+1:], name) {
			t.Errorf("%s --help: exit %d, no examples of itself:\n%s", name, code, out)
		}
	}
}
