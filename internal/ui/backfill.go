package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/definition"
)

// backfillOverlaps are the overlap policies a backfill may ask for
// (docs/run-control.md#backfill).
var backfillOverlaps = []string{"skip", "buffer_all", "allow_all"}

// backfillForm is a cron definition's backfill form: first a dry run
// lists the fires, then the operator confirms the same window.
type backfillForm struct {
	From, To, Overlap, Note string
	Overlaps                []string
	Err                     string
	// Plan is the dry run's answer, with a confirm button.
	Plan *adminapi.BackfillPlan
}

// backfill answers the backfill form: mode=preview asks the API for a
// dry run and shows its fires; mode=start starts the backfill.
func (u *ui) backfill(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := u.definitionData(r)
	if err != nil {
		return err
	}
	if d.Backfill == nil || d.Spec == nil {
		return badInput("only cron definitions can be backfilled: %s is %s", d.Def.ID, d.Def.TriggerType)
	}
	f := d.Backfill
	f.From, f.To = strings.TrimSpace(r.PostFormValue("from")), strings.TrimSpace(r.PostFormValue("to"))
	f.Overlap, f.Note = r.PostFormValue("overlap"), strings.TrimSpace(r.PostFormValue("note"))
	mode := r.PostFormValue("mode")
	req, err := backfillRequest(f, d.Spec, mode)
	if err == nil {
		var plan *adminapi.BackfillPlan
		if plan, err = u.cfg.API.BackfillDefinition(r.Context(), d.Def.ID, req); err == nil {
			if !req.DryRun {
				msg := fmt.Sprintf("Backfill of %s started: %d fire(s) from %s to %s.", d.Def.ID, len(plan.Fires), fmtUTC(req.From), fmtUTC(req.To))
				return u.flashTo(w, r, s, msg, "/ui/definitions/"+url.PathEscape(d.Def.ID)+"#backfill")
			}
			f.Plan = plan
			u.render(w, r, s, http.StatusOK, "definition", d.Def.ID, d)
			return nil
		}
	}
	status, _, msg := adminapi.ErrorStatus(err)
	if pe, ok := err.(*pageError); ok {
		status, msg = pe.status, pe.msg
	}
	if status >= 500 || status == http.StatusForbidden || status == http.StatusNotFound {
		return err
	}
	f.Err = msg
	u.render(w, r, s, status, "definition", d.Def.ID, d)
	return nil
}

// backfillRequest reads the form: times in the definition's zone (or
// with their own offset), an overlap policy, and the mode.
func backfillRequest(f *backfillForm, spec *definition.Definition, mode string) (adminapi.BackfillRequest, error) {
	req := adminapi.BackfillRequest{Overlap: f.Overlap, Note: f.Note}
	switch mode {
	case "preview":
		req.DryRun = true
	case "start":
	default:
		return req, badInput("mode=%q: use the Preview or Start backfill button", mode)
	}
	loc := spec.Trigger.Location()
	var err error
	if req.From, err = parseZoned("from", f.From, loc); err != nil {
		return req, err
	}
	if req.To, err = parseZoned("to", f.To, loc); err != nil {
		return req, err
	}
	return req, nil
}

// parseZoned reads a backfill bound: an RFC 3339 time, or a date and time
// (2026-12-01 06:00, as a datetime-local box sends it: 2026-12-01T06:00)
// read in the definition's zone.
func parseZoned(field, s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, badInput("%s is required: a time such as 2026-12-01 06:00 (%s) or 2026-12-01T06:00:00Z", field, loc)
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badInput("%s %q is not a time: use 2026-12-01 06:00 (read in %s) or an RFC 3339 time such as 2026-12-01T06:00:00Z", field, s, loc)
}
