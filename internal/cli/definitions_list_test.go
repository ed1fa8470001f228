package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlite"
)

// apiWithDefinitions serves the real API over a SQLite store holding n
// definitions, and returns its URL and read token.
func apiWithDefinitions(t *testing.T, n int) (string, string) {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "cli.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	defs := make([]store.Definition, n)
	for i := range defs {
		id := fmt.Sprintf("cli.def-%04d", i)
		defs[i] = store.Definition{ID: id, ContentHash: "h", Spec: json.RawMessage(`{"id":"` + id + `"}`),
			SourceFile: "/defs/" + id + ".yaml", SourceDir: "/defs", Enabled: true, TriggerType: store.TriggerEvent}
	}
	if _, err := st.UpsertDefinitions(ctx, defs...); err != nil {
		t.Fatal(err)
	}
	if err := st.PutHealth(ctx, store.DefinitionHealth{DefinitionID: "cli.def-0001", State: store.HealthFailing, ConsecutiveFailures: 2,
		Problems: []store.Problem{{Kind: store.HealthFailing, Reason: "exit 3"}}}); err != nil {
		t.Fatal(err)
	}
	const token = "read-token-0123456789"
	api, err := adminapi.New(adminapi.Config{Store: st, ReadToken: token, AdminToken: "admin-token-0123456789", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv.URL, token
}

// TestDefinitionsListPages: without --limit the CLI pages through the API
// and lists every definition; with --limit it lists one page and says how
// to get the next.
func TestDefinitionsListPages(t *testing.T) {
	const n = 2*definitionsAllPage + 7
	url, token := apiWithDefinitions(t, n)
	flags := []string{"--server", url, "--token", token}

	code, out, errOut := run(t, append([]string{"definitions", "list"}, flags...)...)
	if code != ExitOK || !strings.Contains(out, fmt.Sprintf("\n%d definitions\n", n)) || strings.Contains(out, "more:") {
		t.Fatalf("whole list: exit %d\n%.500s…%s", code, out, errOut)
	}
	if got := strings.Count(out, "\ncli.def-"); got != n {
		t.Errorf("whole list shows %d definitions, want %d", got, n)
	}
	code, out, errOut = run(t, append([]string{"definitions", "list", "--format", "json"}, flags...)...)
	var doc struct {
		Definitions []struct{ ID string } `json:"definitions"`
	}
	if code != ExitOK || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Definitions) != n || doc.Definitions[n-1].ID != fmt.Sprintf("cli.def-%04d", n-1) {
		t.Fatalf("whole list as JSON: exit %d, %d definitions %s", code, len(doc.Definitions), errOut)
	}

	code, out, errOut = run(t, append([]string{"definitions", "list", "--limit", "5"}, flags...)...)
	if !regexp.MustCompile(`(?m)^cli\.def-0001 .* failing$`).MatchString(out) || !regexp.MustCompile(`(?m)^cli\.def-0002 .* -$`).MatchString(out) {
		t.Errorf("HEALTH column: want failing for cli.def-0001 and - for one the detector has not seen:\n%s", out)
	}
	m := regexp.MustCompile(`more: --after (\S+)`).FindStringSubmatch(out)
	if code != ExitOK || m == nil || !strings.Contains(out, "cli.def-0004") || strings.Contains(out, "cli.def-0005") {
		t.Fatalf("--limit 5: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, append([]string{"definitions", "list", "--limit", "5", "--after", m[1]}, flags...)...)
	if code != ExitOK || !strings.Contains(out, "cli.def-0005") || !strings.Contains(out, "cli.def-0009") || strings.Contains(out, "cli.def-0004") {
		t.Fatalf("--after: exit %d\n%s%s", code, out, errOut)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--after", m[1]}, "--after needs --limit"},
		{[]string{"--limit", "1001"}, "--limit 1001: use 1 to 1000"},
		{[]string{"--limit", "5", "--after", "garbage"}, `after="garbage" is not a cursor`},
	} {
		code, out, errOut := run(t, append(append([]string{"definitions", "list"}, tc.args...), flags...)...)
		if code == ExitOK || !strings.Contains(errOut, tc.want) {
			t.Errorf("definitions list %v: exit %d, %s%s; want it to say %s", tc.args, code, out, errOut, tc.want)
		}
	}
}
