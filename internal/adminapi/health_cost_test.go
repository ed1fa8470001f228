package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport/teststore"
)

// countingDefs counts the definition reads of a request.
type countingDefs struct {
	store.Store
	gets atomic.Int64
}

func (c *countingDefs) GetDefinition(ctx context.Context, id string) (store.Definition, error) {
	c.gets.Add(1)
	return c.Store.GetDefinition(ctx, id)
}

// Health rows outlive their definitions (nothing deletes them), and a
// health-filtered list reads one definition per matching health row until
// its page is full. A reader asking for a page nothing fills (limit=1 and
// another filter no row passes) must not cost one store query per
// definition the deployment ever had.
func TestHealthFilteredPageReadsABoundedNumberOfDefinitions(t *testing.T) {
	ctx := context.Background()
	st := teststore.SQLite(t)
	const rows = 2000
	for i := range rows {
		if err := st.PutHealth(ctx, store.DefinitionHealth{DefinitionID: fmt.Sprintf("gone.%04d", i), State: store.HealthOK}); err != nil {
			t.Fatal(err)
		}
	}
	counted := &countingDefs{Store: st}
	api, err := New(Config{Store: counted, ReadToken: readToken, AdminToken: adminToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/definitions?health=ok&limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if n := counted.gets.Load(); n > 500 {
		t.Errorf("one read-token request for a page of 1 made %d definition reads (%d health rows): the cost follows every health row ever written", n, rows)
	}
	// A short page's cursor goes on, and the pages end.
	var page struct {
		Definitions []json.RawMessage `json:"definitions"`
		Next        string            `json:"next"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	for pages := 1; page.Next != ""; pages++ {
		if pages > rows/100 {
			t.Fatalf("still a next page after %d pages", pages)
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/definitions?health=ok&limit=1&after="+url.QueryEscape(page.Next), nil)
		req.Header.Set("Authorization", "Bearer "+readToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page.Next = ""
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &page) != nil || len(page.Definitions) != 0 {
			t.Fatalf("page after a short one: %d %s", resp.StatusCode, body)
		}
	}
}

// GET /api/v1/problems (and the dashboard's Problems page, the one people
// reload during a storm) reads the definition of every health row with
// problems, and nothing deletes the rows of definitions that are gone:
// its cost must not be one store query per such row.
func TestProblemsReadsDefinitionsInBoundedQueries(t *testing.T) {
	ctx := context.Background()
	st := teststore.SQLite(t)
	const rows = 2000
	since := time.Now().Add(-time.Hour).UTC()
	for i := range rows {
		p := store.Problem{Kind: store.HealthFailing, Since: since, Reason: "failed: exit status 1"}
		if err := st.PutHealth(ctx, store.DefinitionHealth{DefinitionID: fmt.Sprintf("gone.%04d", i), State: store.HealthFailing, Problems: []store.Problem{p}}); err != nil {
			t.Fatal(err)
		}
	}
	// Two live definitions among them: one with a problem, one removed.
	for _, id := range []string{"gone.0007", "gone.0008"} {
		if _, err := st.UpsertDefinitions(ctx, store.Definition{ID: id, ContentHash: "h", Spec: json.RawMessage(`{"id":"` + id + `"}`),
			SourceDir: "/d", SourceFile: "/d/" + id, Enabled: true, TriggerType: store.TriggerCron}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.MarkDefinitionsRemoved(ctx, "/d", []string{"gone.0007"}); err != nil {
		t.Fatal(err)
	}
	counted := &countingDefs{Store: st}
	api, err := New(Config{Store: counted, ReadToken: readToken, AdminToken: adminToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rowsOut, err := api.Problems(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rowsOut) != 1 || rowsOut[0].DefinitionID != "gone.0007" {
		t.Errorf("problems: %+v, want only gone.0007's (the others are gone or removed)", rowsOut)
	}
	if n := counted.gets.Load(); n > 100 {
		t.Errorf("one problems request made %d definition reads (%d health rows of gone definitions)", n, rows)
	}
}
