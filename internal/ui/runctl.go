package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/store"
)

// cancel asks the API to cancel a pending or running run; the run page
// shows it canceled, by whom, once its workflow ends.
func (u *ui) cancel(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	note := strings.TrimSpace(r.PostFormValue("note"))
	if _, err := u.cfg.API.CancelRun(r.Context(), id, note); err != nil {
		return err
	}
	return u.flashTo(w, r, s, "Cancel of run "+id+" requested.", "/ui/runs/"+url.PathEscape(id))
}

// rerun starts a new manual run with the inputs the run recorded.
func (u *ui) rerun(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	started, err := u.cfg.API.RerunRun(r.Context(), id, strings.TrimSpace(r.PostFormValue("note")))
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Run %s started with the inputs of run %s (workflow %s).", started.RunID, id, started.WorkflowID)
	return u.flashTo(w, r, s, msg, "/ui/runs/"+url.PathEscape(started.RunID)+"?started="+strconv.FormatInt(u.cfg.Now().Unix(), 10))
}

// runOutput streams a run's output as server-sent events for live.js,
// after the session check, through the API's own stream
// (docs/run-control.md#live-output).
func (u *ui) runOutput(w http.ResponseWriter, r *http.Request, _ *session) error {
	tw := &trackedWriter{ResponseWriter: w}
	err := u.cfg.API.ServeRunOutput(tw, r, r.PathValue("id"))
	if err == nil || tw.wrote || errors.Is(err, context.Canceled) {
		return nil // a stream that began ends as the API ended it
	}
	status, _, msg := adminapi.ErrorStatus(err)
	if status >= 500 {
		u.log.Warn("ui: live output refused", "run", r.PathValue("id"), "status", status, "error", err)
	}
	// EventSource reads only the status; the text is for a person who
	// opens the address.
	http.Error(w, msg, status)
	return nil
}

// trackedWriter notes whether a response has begun, so an error after
// the first byte is not written into the stream.
type trackedWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackedWriter) WriteHeader(code int) { t.wrote = true; t.ResponseWriter.WriteHeader(code) }

func (t *trackedWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// Flush keeps the writer an http.Flusher for a stream that asserts it.
func (t *trackedWriter) Flush() {
	t.wrote = true
	_ = http.NewResponseController(t.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (t *trackedWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

type workersData struct {
	Pools []adminapi.PoolStatus
	Now   string
}

func (u *ui) workers(w http.ResponseWriter, r *http.Request, s *session) error {
	pools, err := u.cfg.API.Workers(r.Context())
	if err != nil {
		return err
	}
	u.render(w, r, s, http.StatusOK, "workers", "Workers", workersData{Pools: pools, Now: fmtUTC(u.cfg.Now())})
	return nil
}

// auditActions are the audit page's action filter choices.
var auditActions = []string{store.AuditSync, store.AuditRun, store.AuditCancel, store.AuditPause, store.AuditResume, store.AuditBackfill, store.AuditSignIn, store.AuditSignOut}

type auditData struct {
	Records []store.AuditRecord
	// The filters as given.
	Actor, Action, Definition, Run string
	Actions                        []string
	Next, First                    string
}

// auditPageSize is how many audit records a page lists.
const auditPageSize = 100

func (u *ui) audit(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	d := auditData{Actor: strings.TrimSpace(q.Get("actor")), Action: q.Get("action"), Definition: strings.TrimSpace(q.Get("definition_id")),
		Run: strings.TrimSpace(q.Get("run_id")), Actions: auditActions}
	f := store.AuditFilter{Actor: d.Actor, Action: d.Action, DefinitionID: d.Definition, RunID: d.Run, Limit: auditPageSize}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			return badInput("before=%q is not a record id: follow the page's links", b)
		}
		f.BeforeID = n
	}
	recs, err := u.cfg.API.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	d.Records = recs
	link := func(before int64) string {
		v := url.Values{}
		for k, x := range map[string]string{"actor": d.Actor, "action": d.Action, "definition_id": d.Definition, "run_id": d.Run} {
			if x != "" {
				v.Set(k, x)
			}
		}
		if before > 0 {
			v.Set("before", strconv.FormatInt(before, 10))
		}
		return "/ui/audit?" + v.Encode()
	}
	if len(recs) == auditPageSize {
		d.Next = link(recs[len(recs)-1].ID)
	}
	if f.BeforeID > 0 {
		d.First = link(0)
	}
	u.render(w, r, s, http.StatusOK, "audit", "Audit", d)
	return nil
}
