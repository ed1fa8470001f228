package adminapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/timeline"
)

// Health returns the health of the given definitions (of every one when
// none is given) by id, as the detector last wrote it; a definition it has
// not looked at yet has none. A page asks for its own ids.
func (s *Server) Health(ctx context.Context, ids ...string) (map[string]store.DefinitionHealth, error) {
	hs, err := s.cfg.Store.ListHealth(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.DefinitionHealth, len(hs))
	for _, h := range hs {
		out[h.DefinitionID] = h
	}
	return out, nil
}

// healthFilters are the values of ?health=: a state, or "problems" for
// every state but ok.
const healthProblems = "problems"

// ParseHealthFilter checks a ?health= value (empty: no filter).
func ParseHealthFilter(v string) (string, error) {
	if v == "" || v == healthProblems || store.HealthState(v).Valid() {
		return v, nil
	}
	return "", badRequest("health=%q is not one of ok, failing, stale, late, missed, problems", v[:min(len(v), maxEcho)])
}

// healthMatches reports whether a definition's health passes a ?health=
// filter: ok is the state ok; problems is any other state; a problem
// kind matches a definition with that problem, even behind a worse one.
func healthMatches(h *store.DefinitionHealth, filter string) bool {
	switch {
	case filter == "":
		return true
	case h == nil:
		return false
	case filter == string(store.HealthOK):
		return h.State == store.HealthOK
	case filter == healthProblems:
		return h.State != store.HealthOK || len(h.Problems) > 0
	}
	return string(h.State) == filter || slices.ContainsFunc(h.Problems, func(p store.Problem) bool { return string(p.Kind) == filter })
}

// healthCursorPrefix marks the cursors of a list filtered by health, which
// pages by id in memory over the detector's health rows.
const healthCursorPrefix = "h:"

// healthSkipMax bounds the definitions one health-filtered page reads and
// skips (gone, removed, or not passing the other filters): health rows
// outlive their definitions, and a reader's request must cost a bounded
// number of store reads. A page that reaches it is short, with a cursor
// to go on from.
const healthSkipMax = 200

// HealthPage is ListDefinitionsPage for a list filtered by health: the
// definitions whose health matches, by id, paged by id. Its cost follows
// the number of health rows and the page size, not every definition.
func (s *Server) HealthPage(ctx context.Context, pf store.DefinitionPageFilter, filter string, health map[string]store.DefinitionHealth) (store.DefinitionPage, error) {
	var ids []string
	for id := range health {
		if h := health[id]; healthMatches(&h, filter) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	limit := cmp.Or(max(pf.Limit, 0), store.DefinitionListLimitDefault)
	after, before, err := healthCursors(pf)
	if err != nil {
		return store.DefinitionPage{}, err
	}
	var page store.DefinitionPage
	if before != "" {
		return s.healthPageBefore(ctx, pf.DefinitionFilter, ids, before, limit)
	}
	i, _ := slices.BinarySearch(ids, after)
	if after != "" && i < len(ids) && ids[i] == after {
		i++
	}
	skipped := 0
	for ; i < len(ids); i++ {
		def, ok, err := s.healthCandidate(ctx, pf.DefinitionFilter, ids[i])
		if err != nil {
			return page, err
		}
		if !ok {
			if skipped++; skipped == healthSkipMax {
				page.Next = healthCursorPrefix + ids[i] // a short page: go on from here
				break
			}
			continue
		}
		if len(page.Definitions) == limit {
			page.Next = healthCursorPrefix + page.Definitions[limit-1].ID
			break
		}
		page.Definitions = append(page.Definitions, def)
	}
	if after != "" && len(page.Definitions) > 0 {
		page.Prev = healthCursorPrefix + "<" + page.Definitions[0].ID
	}
	return page, nil
}

func (s *Server) healthPageBefore(ctx context.Context, f store.DefinitionFilter, ids []string, before string, limit int) (store.DefinitionPage, error) {
	var page store.DefinitionPage
	i, _ := slices.BinarySearch(ids, before)
	skipped := 0
	for i--; i >= 0; i-- {
		def, ok, err := s.healthCandidate(ctx, f, ids[i])
		if err != nil {
			return page, err
		}
		if !ok {
			if skipped++; skipped == healthSkipMax {
				page.Prev = healthCursorPrefix + "<" + ids[i] // a short page: go on from here
				break
			}
			continue
		}
		if len(page.Definitions) == limit {
			page.Prev = healthCursorPrefix + "<" + page.Definitions[len(page.Definitions)-1].ID
			break
		}
		page.Definitions = append(page.Definitions, def)
	}
	slices.Reverse(page.Definitions)
	if len(page.Definitions) > 0 {
		page.Next = healthCursorPrefix + page.Definitions[len(page.Definitions)-1].ID
	}
	return page, nil
}

// healthCursors reads the cursors of a health-filtered list: "h:<id>"
// after, "h:<<id>" before.
func healthCursors(pf store.DefinitionPageFilter) (after, before string, err error) {
	if pf.After != "" {
		id, ok := strings.CutPrefix(pf.After, healthCursorPrefix)
		if !ok || strings.HasPrefix(id, "<") {
			return "", "", fmt.Errorf("%w: cursor %q is not one of a list filtered by health", store.ErrInvalid, pf.After)
		}
		after = id
	}
	if pf.Before != "" {
		id, ok := strings.CutPrefix(pf.Before, healthCursorPrefix+"<")
		if !ok {
			return "", "", fmt.Errorf("%w: cursor %q is not one of a list filtered by health", store.ErrInvalid, pf.Before)
		}
		before = id
	}
	return after, before, nil
}

// healthCandidate reads one definition of a health-filtered list and
// applies the list's other filters.
func (s *Server) healthCandidate(ctx context.Context, f store.DefinitionFilter, id string) (store.Definition, bool, error) {
	def, err := s.cfg.Store.GetDefinition(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return def, false, nil // health of a definition that is gone
	}
	if err != nil {
		return def, false, err
	}
	ok := (f.IncludeRemoved || !def.Removed()) &&
		(f.TriggerType == "" || def.TriggerType == f.TriggerType) &&
		(f.Enabled == nil || def.Enabled == *f.Enabled) &&
		(f.SourceDir == "" || def.SourceDir == f.SourceDir)
	return def, ok, nil
}

// ProblemRow is one definition with problems, as GET /api/v1/problems
// and the dashboard's Problems page list it.
type ProblemRow struct {
	DefinitionID string            `json:"definition_id"`
	State        store.HealthState `json:"state"`
	// Since is when its oldest active problem began.
	Since               time.Time       `json:"since"`
	Problems            []store.Problem `json:"problems"`
	ConsecutiveFailures int             `json:"consecutive_failures"`
	LastSuccessAt       *time.Time      `json:"last_success_at,omitempty"`
	Links               problemLinks    `json:"links"`
}

// ProblemLinks are where to look next, relative to the server.
type problemLinks struct {
	Definition string `json:"definition"`
	Timeline   string `json:"timeline"`
	Dashboard  string `json:"dashboard"`
	// Run is the run that started the oldest problem, if any.
	Run          string `json:"run,omitempty"`
	RunDashboard string `json:"run_dashboard,omitempty"`
}

// Problems lists every live definition whose health has problems, oldest
// problem first (then by id). It reads each such definition: problems are
// few, and when they are many (a storm) this is one query each.
func (s *Server) Problems(ctx context.Context) ([]ProblemRow, error) {
	hs, err := s.cfg.Store.ListHealth(ctx)
	if err != nil {
		return nil, err
	}
	hs = slices.DeleteFunc(hs, func(h store.DefinitionHealth) bool { return !healthMatches(&h, healthProblems) })
	live, err := s.liveDefinitions(ctx, hs)
	if err != nil {
		return nil, err
	}
	out := []ProblemRow{}
	for _, h := range hs {
		// A removed definition is not expected to run: its last health
		// is history, not a problem now.
		if !live(h.DefinitionID) {
			continue
		}
		row := ProblemRow{DefinitionID: h.DefinitionID, State: h.State, Since: h.UpdatedAt, Problems: h.Problems,
			ConsecutiveFailures: h.ConsecutiveFailures, LastSuccessAt: h.LastSuccessAt}
		if row.Problems == nil {
			row.Problems = []store.Problem{}
		}
		runID := ""
		for i, p := range h.Problems {
			if i == 0 || p.Since.Before(row.Since) {
				row.Since, runID = p.Since, p.RunID
			}
		}
		id := url.PathEscape(h.DefinitionID)
		row.Links = problemLinks{Definition: "/api/v1/definitions/" + id, Timeline: "/api/v1/definitions/" + id + "/timeline", Dashboard: "/ui/definitions/" + id}
		if runID != "" {
			row.Links.Run, row.Links.RunDashboard = "/api/v1/runs/"+url.PathEscape(runID), "/ui/runs/"+url.PathEscape(runID)
		}
		out = append(out, row)
	}
	slices.SortStableFunc(out, func(a, b ProblemRow) int {
		return cmp.Or(a.Since.Compare(b.Since), strings.Compare(a.DefinitionID, b.DefinitionID))
	})
	return out, nil
}

// problemsGetMax is the most problem rows whose definitions are read one
// by one; above it, one read of every live definition is cheaper (the
// detector makes that read every pass).
const problemsGetMax = 50

// liveDefinitions says which of hs's definitions exist and are not
// removed, in a bounded number of store queries.
func (s *Server) liveDefinitions(ctx context.Context, hs []store.DefinitionHealth) (func(id string) bool, error) {
	live := make(map[string]bool, len(hs))
	if len(hs) > problemsGetMax {
		defs, err := s.cfg.Store.ListDefinitions(ctx, store.DefinitionFilter{})
		if err != nil {
			return nil, err
		}
		for _, d := range defs {
			live[d.ID] = !d.Removed()
		}
		return func(id string) bool { return live[id] }, nil
	}
	for _, h := range hs {
		def, err := s.cfg.Store.GetDefinition(ctx, h.DefinitionID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		live[h.DefinitionID] = err == nil && !def.Removed()
	}
	return func(id string) bool { return live[id] }, nil
}

func (s *Server) listProblems(w http.ResponseWriter, r *http.Request) error {
	rows, err := s.Problems(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"problems": rows, "count": len(rows)})
	return nil
}

// Timeline tells one definition's story as GET …/timeline does: since and
// until are what the query gives (a duration back from now, a time),
// since defaulting to timeline.SinceDefault ago.
func (s *Server) Timeline(ctx context.Context, id, since, until string, limit int) (*timeline.Story, error) {
	now := s.cfg.Now()
	var err error
	q := timeline.Query{DefinitionID: id, Since: now.Add(-timeline.SinceDefault), Limit: limit}
	if since != "" {
		if q.Since, err = timeline.ParseTime(since, now); err != nil {
			return nil, badRequest("since=%q is %v", since[:min(len(since), maxEcho)], err)
		}
	}
	if until != "" {
		if q.Until, err = timeline.ParseTime(until, now); err != nil {
			return nil, badRequest("until=%q is %v", until[:min(len(until), maxEcho)], err)
		}
		if !q.Until.After(q.Since) {
			return nil, badRequest("until=%q is not after since (%s): the window would be empty", until[:min(len(until), maxEcho)], q.Since.Format(time.RFC3339))
		}
	}
	def, err := s.cfg.Store.GetDefinition(ctx, id)
	if err != nil {
		return nil, err
	}
	story, err := timeline.Build(ctx, s.cfg.Store, q)
	if err != nil {
		return nil, err
	}
	story.Now, err = s.storyNow(ctx, def, now)
	return story, err
}

// storyNow is the definition's schedule state and health now.
func (s *Server) storyNow(ctx context.Context, def store.Definition, now time.Time) (*timeline.Now, error) {
	var op *store.OperatorPause
	if p, err := s.cfg.Store.GetOperatorPause(ctx, def.ID); err == nil {
		op = &p
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	out := &timeline.Now{Schedule: stateWords(def, stateOf(def, op, nil, now))}
	health, err := s.Health(ctx, def.ID)
	if err != nil {
		return nil, err
	}
	if h, ok := health[def.ID]; ok {
		out.Health = &h
	}
	return out, nil
}

// stateWords says a definition's schedule state in words, as the CLI's
// STATE column does: "paused by operator: disk full (until …)".
func stateWords(def store.Definition, st DefinitionState) string {
	if def.Removed() {
		return "removed " + def.RemovedAt.UTC().Format(time.RFC3339) + " (its file is gone)"
	}
	out := strings.ReplaceAll(st.State, "_", " ")
	if st.PausedBy != "" {
		out += " by " + st.PausedBy
	}
	if st.Note != "" {
		out += ": " + st.Note
	}
	if st.Until != nil {
		out += " (until " + st.Until.UTC().Format(time.RFC3339) + ")"
	}
	if st.Pending != "" {
		out += " [" + st.Pending + "]"
	}
	return out
}

func (s *Server) getTimeline(w http.ResponseWriter, r *http.Request) error {
	limit, err := parseLimit(r, timeline.LimitMax)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	story, err := s.Timeline(r.Context(), r.PathValue("id"), q.Get("since"), q.Get("until"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, story)
	return nil
}

// notificationView is a notification as the API shows it: the target's
// key, never its spec (which names secrets and may hold a literal URL).
type notificationView struct {
	store.Notification
	TargetSpec json.RawMessage `json:"target_spec,omitempty"`
}

// Notifications lists notifications newest first, as GET
// /api/v1/notifications does.
func (s *Server) Notifications(ctx context.Context, f store.NotificationFilter) ([]store.Notification, error) {
	ns, err := s.cfg.Store.ListNotifications(ctx, f)
	if err != nil {
		return nil, err
	}
	for i := range ns {
		ns[i].TargetSpec = nil
	}
	if ns == nil {
		ns = []store.Notification{}
	}
	return ns, nil
}

func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.NotificationFilter{DefinitionID: q.Get("definition_id"), RunID: q.Get("run_id"), Status: store.NotificationStatus(q.Get("status"))}
	if f.Status != "" && !f.Status.Valid() {
		return badRequest("status=%q is not one of pending, sent, failed", q.Get("status")[:min(len(q.Get("status")), maxEcho)])
	}
	var err error
	if f.Limit, err = parseLimit(r, store.NotificationLimitMax); err != nil {
		return err
	}
	ns, err := s.Notifications(r.Context(), f)
	if err != nil {
		return err
	}
	views := make([]notificationView, len(ns))
	for i, n := range ns {
		views[i] = notificationView{Notification: n}
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": views})
	return nil
}

// pageHealth is the health a page of definitions shows: the health read for
// a health filter, or else that of the page's own definitions.
func (s *Server) pageHealth(ctx context.Context, filtered map[string]store.DefinitionHealth, defs []store.Definition) (map[string]store.DefinitionHealth, error) {
	if filtered != nil {
		return filtered, nil
	}
	ids := make([]string, len(defs))
	for i, d := range defs {
		ids[i] = d.ID
	}
	if len(ids) == 0 {
		return map[string]store.DefinitionHealth{}, nil
	}
	return s.Health(ctx, ids...)
}

// DefinitionsPage is one page of definitions with their health: filtered
// by health (filter not empty) over the detector's rows, or else paged in
// the store with the health of that page only.
func (s *Server) DefinitionsPage(ctx context.Context, pf store.DefinitionPageFilter, filter string) (store.DefinitionPage, map[string]store.DefinitionHealth, error) {
	var (
		all  map[string]store.DefinitionHealth
		page store.DefinitionPage
		err  error
	)
	if filter != "" {
		if all, err = s.Health(ctx); err != nil {
			return page, nil, err
		}
		page, err = s.HealthPage(ctx, pf, filter, all)
	} else {
		page, err = s.cfg.Store.ListDefinitionsPage(ctx, pf)
	}
	if err != nil {
		return page, nil, err
	}
	health, err := s.pageHealth(ctx, all, page.Definitions)
	return page, health, err
}
