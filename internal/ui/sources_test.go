package ui

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// TestSourceStatusAndOrigin: the sync page has a row per source (kind,
// commit, pin, last ok, last error) and a definition's page and versions
// say which commit, file and author each version came from.
func TestSourceStatusAndOrigin(t *testing.T) {
	e := newEnv(t, adminToken, readToken, Config{})
	ctx := context.Background()
	ss := e.st.(store.SourceStore)
	good := strings.Repeat("a1b2c3d4", 5)
	pinned := strings.Repeat("e4f5a6b7", 5)
	ok := time.Date(2026, 3, 28, 11, 0, 0, 0, time.UTC)
	if err := ss.SaveSourceState(ctx, store.SourceState{Name: "ops", Kind: "git", URL: "git+https://git.example.test/ops.git", Ref: "main",
		PinnedRef: pinned, Commit: pinned, CommitAuthor: "Ann <ann@example.test>", OKAt: &ok, FetchedAt: &ok}); err != nil {
		t.Fatal(err)
	}
	if err := ss.SaveSourceState(ctx, store.SourceState{Name: "infra", Kind: "git", URL: "git+https://git.example.test/infra.git",
		Commit: good, OKAt: &ok, FetchedAt: &ok, LastError: "fetch failed: could not resolve host"}); err != nil {
		t.Fatal(err)
	}
	d, err := definition.Parse("x.yaml", []byte("id: t.x\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'true'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 3, 27, 9, 30, 0, 0, time.UTC)
	rec := storeDefinition(d, "git:ops", "x.yaml")
	rec.SourceFile = "ops:automations/x.yaml"
	rec.Origin = &store.Origin{Source: "ops", Commit: pinned, CommitTime: &when, Author: "Ann <ann@example.test>", Path: "automations/x.yaml"}
	if _, err := e.st.UpsertDefinitions(ctx, rec); err != nil {
		t.Fatal(err)
	}

	b := e.browser()
	b.login(adminToken)
	b.get("/ui/sync")
	b.expect(http.StatusOK, `id="sources"`,
		`<tr class="source-git"><td>ops</td><td>git</td><td><code title="`+pinned+`">e4f5a6b</code> <span class="meta">by Ann &lt;ann@example.test&gt;</span></td><td><code class="paused">e4f5a6b</code></td><td>2026-03-28 11:00:00Z</td><td>none</td></tr>`,
		`<tr class="source-git"><td>infra</td><td>git</td><td><code title="`+good+`">a1b2c3d</code></td><td>follows HEAD</td>`,
		`<span class="error">fetch failed: could not resolve host</span>`)
	b.get("/ui/definitions/t.x")
	b.expect(http.StatusOK, `<p class="meta" id="origin">v1 from e4f5a6b (ops:automations/x.yaml) by Ann &lt;ann@example.test&gt; at 2026-03-27T09:30:00Z</p>`,
		`<code title="`+pinned+`">e4f5a6b</code> by Ann &lt;ann@example.test&gt;</td>`)

	// A changed version's timeline item names its commit and author too.
	d2, err := definition.Parse("x.yaml", []byte("id: t.x\ntrigger: {trigger_type: cron, cron_expression: '5 3 * * *'}\ninstruction: {kind: shell, cmd: 'true'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	rec2 := storeDefinition(d2, "git:ops", "x.yaml")
	rec2.SourceFile = rec.SourceFile
	rec2.Origin = &store.Origin{Source: "ops", Commit: good, CommitTime: &when, Author: "Bob <bob@example.test>", Path: "automations/x.yaml"}
	if _, err := e.st.UpsertDefinitions(ctx, rec2); err != nil {
		t.Fatal(err)
	}
	b.get("/ui/definitions/t.x")
	b.expect(http.StatusOK, `v2 from a1b2c3d by Bob &lt;bob@example.test&gt; (was v1):`)
}
