package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/cronexpr"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/timeline"
)

// pageError is bad input to a page (a filter value, a form field): the
// page answers its status with msg.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

func badInput(format string, args ...any) error {
	return &pageError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// templates: layout.html holds the frame; each other file is a page.
var pageNames = []string{"login", "error", "definitions", "definition", "problems", "runs", "run", "sync", "events", "workers", "audit"}

func parseTemplates() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("ui: parsing the layout: %w", err)
	}
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parsing %s.html: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// frame is what the layout needs besides the page's own data.
type frame struct {
	Title  string
	Nav    string
	Signed bool
	// Name and Role are who signed in; Operate and Admin say which
	// buttons to show (the pages refuse them again to other roles).
	Name    string
	Role    adminapi.Role
	Operate bool
	Admin   bool
	CSRF    string
	Flash   string
	Refresh int
	// Live loads live.js, which streams a run's output.
	Live bool
	Data any
}

func (u *ui) render(w http.ResponseWriter, r *http.Request, s *session, status int, page, title string, data any) {
	f := frame{Title: title, Nav: page, Data: data}
	if s != nil {
		f.Signed, f.Name, f.Role, f.CSRF, f.Flash = true, s.row.Actor, adminapi.Role(s.row.Role), s.row.CSRF, s.flash
		f.Operate, f.Admin = s.allows(operate), s.allows(admin)
	}
	if rf, ok := data.(interface{ refresh() int }); ok {
		f.Refresh = rf.refresh()
	}
	if l, ok := data.(interface{ live() bool }); ok {
		f.Live = l.live()
	}
	var buf bytes.Buffer
	if err := u.pages[page].ExecuteTemplate(&buf, "layout.html", f); err != nil {
		u.log.Error("ui: rendering failed", "page", page, "error", err)
		http.Error(w, "rendering the page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

var funcs = template.FuncMap{
	"utc":     fmtUTC,
	"utcp":    func(t *time.Time) string { return fmtUTC(deref(t)) },
	"dur":     duration,
	"pathesc": url.PathEscape,
	"text":    printable,
	"stored":  storedJSON,
	"status":  func(s store.RunStatus) string { return "st-" + string(s) },
	"health":  func(s store.HealthState) string { return "h-" + string(s) },
	"problem": timeline.ProblemLine,
	"origin":  timeline.OriginLine,
	"from":    timeline.OriginFrom,
	"shadow":  store.ShadowWhy,
	"sha":     timeline.ShortSHA,
	"derefi": func(p *int) string {
		if p == nil {
			return "–"
		}
		return strconv.Itoa(*p)
	},
	"boolp": func(p *bool) string {
		if p == nil {
			return "not evaluated"
		}
		return strconv.FormatBool(*p)
	},
	"short": func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		return s[:n] + "…"
	},
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func fmtUTC(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func duration(start, end *time.Time) string {
	if start == nil || end == nil {
		return "–"
	}
	return end.Sub(*start).Round(time.Millisecond).String()
}

// printable makes stored text safe to show: run output may hold NULs or
// a UTF-8 sequence cut by the 64 KiB tail. (Escaping is html/template's.)
func printable(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// storedJSON shows a stored JSON document as stored, for a <pre> that
// wraps it (white-space: pre-wrap). It never re-indents: indenting a deeply
// nested payload multiplies its size by its depth, so a page's size would
// follow the payload's shape instead of what was stored.
func storedJSON(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	return printable(string(raw))
}

// yamlDepthMax is the deepest spec shown as YAML; a deeper one is shown as
// stored, since each level adds indentation to every line below it.
const yamlDepthMax = 16

// jsonDepth is the nesting depth of a JSON document (0 for a scalar),
// scanned without decoding.
func jsonDepth(raw []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range raw {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// specYAML shows a definition's canonical JSON as YAML, in the order the
// canonical form keeps (id, description, enabled, trigger, …). JSON is YAML,
// so the node tree is read as is and only its styles are changed to block.
// A spec nested deeper than yamlDepthMax is shown as stored.
func specYAML(raw json.RawMessage) string {
	if jsonDepth(raw) > yamlDepthMax {
		return storedJSON(raw)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(raw, &n); err != nil {
		return storedJSON(raw)
	}
	var unflow func(*yaml.Node)
	unflow = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			unflow(c)
		}
	}
	unflow(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return storedJSON(raw)
	}
	return buf.String()
}

// fire is one predicted fire time, in the definition's zone and in UTC.
type fire struct {
	Zone string
	UTC  string
}

// nextFires predicts a definition's next n fires the way Temporal will
// (cronexpr follows Temporal's reading, DST included); nil for an event
// definition or a once in the past.
func nextFires(spec *definition.Definition, now time.Time, n int) ([]fire, error) {
	if spec == nil {
		return nil, nil
	}
	loc := spec.Trigger.Location()
	var ts []time.Time
	switch spec.Trigger.Type {
	case string(store.TriggerCron):
		sched, err := cronexpr.Parse(spec.Trigger.CronExpression)
		if err != nil {
			return nil, fmt.Errorf("cron_expression %q: %w", spec.Trigger.CronExpression, err)
		}
		ts = sched.NextN(now, loc, n)
	case string(store.TriggerOnce):
		if at := spec.Trigger.RunAt; at != nil && at.After(now) {
			ts = []time.Time{*at}
		}
	}
	out := make([]fire, len(ts))
	for i, t := range ts {
		out[i] = fire{Zone: t.In(loc).Format("Mon 2006-01-02 15:04 MST"), UTC: fmtUTC(t)}
	}
	return out, nil
}

// scheduleState is a definition's schedule state as the store knows it
// (an operator pause, or sync's pause of a disabled definition), so a list
// page needs no Temporal call per row. The definition page asks Temporal.
type scheduleState struct {
	Label string
	Note  string
	Until string
	// Paused: the schedule does not fire.
	Paused bool
}

func stateOf(def store.Definition, op *store.OperatorPause, now time.Time) scheduleState {
	switch {
	case def.Removed():
		return scheduleState{Label: "removed", Note: "file gone since " + fmtUTC(*def.RemovedAt), Paused: true}
	case def.TriggerType == store.TriggerEvent && !def.Enabled:
		return scheduleState{Label: "disabled", Paused: true}
	case def.TriggerType == store.TriggerEvent:
		return scheduleState{Label: "listening"}
	case op != nil && op.ActiveAt(now):
		st := scheduleState{Label: "paused by operator", Note: op.Note, Paused: true}
		if op.Until != nil {
			st.Until = fmtUTC(*op.Until)
		}
		return st
	case !def.Enabled:
		return scheduleState{Label: "paused by sync", Note: "disabled in its file", Paused: true}
	}
	return scheduleState{Label: "active"}
}

// parseUntil reads the pause form's until: empty, an RFC 3339 time, a
// UTC date-time (2026-12-01T06:00 or 2026-12-01 06:00, as a
// datetime-local input sends it), or a duration from now (90m, 2h).
func parseUntil(s string, now time.Time) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return nil, badInput("until %q: a duration must be positive", s)
		}
		t := now.Add(d).UTC().Truncate(time.Second)
		return &t, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return &t, nil
		}
	}
	return nil, badInput("until %q is not a time: use 2026-12-01T06:00 (UTC), an RFC 3339 time such as 2026-12-01T06:00:00+01:00, or a duration such as 2h", s)
}

// pager is the navigation of a list paged by cursor.
type pager struct {
	// Shown is how many rows the page holds.
	Shown int
	// Links to the neighbouring pages and to the first, empty when there
	// is none.
	Prev, Next, First string
}

// flashTo leaves msg for the session's next page and redirects there.
func (u *ui) flashTo(w http.ResponseWriter, r *http.Request, s *session, msg, to string) error {
	if err := u.sessions.setFlash(r.Context(), s, msg); err != nil {
		return err
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}
