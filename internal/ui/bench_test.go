package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// BenchmarkDefinitionsPage10000 is the dashboard's budget: the definitions page
// over 10,000 stored definitions renders server-side (paged in the store,
// 50 a page) in under 300 ms. Sub-benchmarks, on the same store:
//
//   - list-page: the store's ListDefinitionsPage of 50 alone (what every
//     page pays for its rows); list-all: ListDefinitions of all 10,000,
//     what every page paid before it paged in the store;
//   - page-1 and page-100: the whole page (list, sources, operator
//     pauses, the health of every definition, next five fires and the
//     last runs of each of the 50 rows, rendering) through the handler with a signed-in session; page-100
//     starts from a cursor 4,950 definitions deep.
//
// Each reports the median of its iterations as median-ms.
func BenchmarkDefinitionsPage10000(b *testing.B) {
	const n = 10000
	ctx := context.Background()
	st := openStore(b)
	defs := make([]store.Definition, 0, n)
	zones := []string{"UTC", "Europe/Berlin", "America/New_York"}
	for i := range n {
		var doc string
		switch i % 10 {
		case 9:
			doc = fmt.Sprintf("id: bench.ev-%05d\ntrigger: {trigger_type: event, event_type: org.repo.%d.pushed, filters: {repo_slug: 'coulomb/*'}}\ninstruction: {kind: shell, cmd: 'echo %d'}\n", i, i, i)
		default:
			doc = fmt.Sprintf("id: bench.cron-%05d\nenabled: %v\ntrigger: {trigger_type: cron, cron_expression: '%d %d * * 1-5', timezone: %s}\ninstruction: {kind: shell, cmd: 'echo %d'}\n",
				i, i%7 != 0, i%60, i%24, zones[i%3], i)
		}
		d, err := definition.Parse(fmt.Sprintf("bench-%05d.yaml", i), []byte(doc))
		if err != nil {
			b.Fatal(err)
		}
		defs = append(defs, storeDefinition(d, fmt.Sprintf("/defs/%d", i%3), fmt.Sprintf("bench-%05d.yaml", i)))
	}
	if _, err := st.UpsertDefinitions(ctx, defs...); err != nil {
		b.Fatal(err)
	}
	// Runs: three for every 5th definition, so most rows of a page show
	// some; a few operator pauses.
	code := 0
	for i := 0; i < n; i += 5 {
		for k := range 3 {
			if _, err := st.CreateRun(ctx, store.Run{ID: fmt.Sprintf("r-%05d-%d", i, k), DefinitionID: defs[i].ID, Trigger: store.RunTriggerCron, Status: store.RunSucceeded, ExitCode: &code}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := 0; i < n; i += 97 {
		if _, err := st.SetOperatorPause(ctx, store.OperatorPause{DefinitionID: defs[i].ID, Note: "maintenance"}); err != nil {
			b.Fatal(err)
		}
	}
	// Health, as the detector keeps it for every definition: every 20th
	// failing, the rest ok (the page reads it all in one query).
	hs := make([]store.DefinitionHealth, n)
	for i := range hs {
		hs[i] = store.DefinitionHealth{DefinitionID: defs[i].ID, State: store.HealthOK}
		if i%20 == 0 {
			hs[i].State, hs[i].ConsecutiveFailures = store.HealthFailing, 2
			hs[i].Problems = []store.Problem{{Kind: store.HealthFailing, Since: time.Now(), Reason: "2 consecutive failures: run r-1 failed, exit 1", RunID: "r-1"}}
		}
	}
	if err := st.PutHealth(ctx, hs...); err != nil {
		b.Fatal(err)
	}
	api, err := adminapi.New(adminapi.Config{Store: st, AdminToken: adminToken, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	u, err := newUI(Config{API: api, Store: st, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	s, err := u.sessions.create(ctx, adminapi.Principal{Name: "admin", Role: adminapi.RoleAdmin})
	if err != nil {
		b.Fatal(err)
	}
	page := func(b *testing.B, query string) {
		req := httptest.NewRequest(http.MethodGet, "/ui/definitions"+query, nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: s.id})
		rec := httptest.NewRecorder()
		u.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), `<tr id="def-`) != definitionsPageSizeDefault {
			b.Fatalf("page %s: %d\n%.2000s", query, rec.Code, rec.Body.String())
		}
	}
	medianOf := func(b *testing.B, f func()) {
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			f()
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "median-ms")
	}
	b.Run("list-page", func(b *testing.B) {
		medianOf(b, func() {
			got, err := st.ListDefinitionsPage(ctx, store.DefinitionPageFilter{})
			if err != nil || len(got.Definitions) != definitionsPageSizeDefault {
				b.Fatalf("list: %d %v", len(got.Definitions), err)
			}
		})
	})
	b.Run("list-all", func(b *testing.B) {
		medianOf(b, func() {
			got, err := st.ListDefinitions(ctx, store.DefinitionFilter{})
			if err != nil || len(got) != n {
				b.Fatalf("list: %d %v", len(got), err)
			}
		})
	})
	deep, err := st.ListDefinitionsPage(ctx, store.DefinitionPageFilter{Limit: 99 * definitionsPageSizeDefault})
	if err != nil || deep.Next == "" {
		b.Fatal(deep.Next, err)
	}
	b.Run("page-1", func(b *testing.B) { medianOf(b, func() { page(b, "") }) })
	b.Run("page-100", func(b *testing.B) { medianOf(b, func() { page(b, "?after="+url.QueryEscape(deep.Next)) }) })
	b.Run("page-1-cron-enabled", func(b *testing.B) { medianOf(b, func() { page(b, "?trigger_type=cron&enabled=true") }) })
}
