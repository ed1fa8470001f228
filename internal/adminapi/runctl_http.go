package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/coulomb/activity-core/internal/store"
)

// decodeBody reads an optional JSON object body into dst; unknown fields
// and data after the object are refused, with example in the message.
func decodeBody(r *http.Request, dst any, example string) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	dec.UseNumber() // an int input keeps all 64 bits
	err := dec.Decode(dst)
	if errors.Is(err, io.EOF) {
		return nil // no body: every field is optional
	}
	if _, tokErr := dec.Token(); err == nil && tokErr != io.EOF {
		err = errors.New("data after the JSON object")
	}
	if err != nil {
		return badRequest("body must be JSON like %s: %v", example, err)
	}
	return nil
}

type runBody struct {
	Inputs map[string]any `json:"inputs"`
	Note   string         `json:"note"`
}

func (s *Server) runDefinition(w http.ResponseWriter, r *http.Request) error {
	var body runBody
	if err := decodeBody(r, &body, `{"inputs": {"repo": "org/name"}, "note": "why"}`); err != nil {
		return err
	}
	started, err := s.RunDefinition(r.Context(), r.PathValue("id"), body.Inputs, body.Note)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, started)
	return nil
}

type noteBody struct {
	Note string `json:"note"`
}

func (s *Server) rerunRun(w http.ResponseWriter, r *http.Request) error {
	var body noteBody
	if err := decodeBody(r, &body, `{"note": "why"}`); err != nil {
		return err
	}
	started, err := s.RerunRun(r.Context(), r.PathValue("id"), body.Note)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, started)
	return nil
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	var body noteBody
	if err := decodeBody(r, &body, `{"note": "why"}`); err != nil {
		return err
	}
	run, err := s.CancelRun(r.Context(), r.PathValue("id"), body.Note)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, s.runViews(r.Context(), []store.Run{run})[0])
	return nil
}

func (s *Server) backfillDefinition(w http.ResponseWriter, r *http.Request) error {
	var req BackfillRequest
	if err := decodeBody(r, &req, `{"from": "2026-12-01T00:00:00Z", "to": "2026-12-01T02:00:00Z", "overlap": "skip", "dry_run": true, "note": "outage"}`); err != nil {
		return err
	}
	plan, err := s.BackfillDefinition(r.Context(), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if plan.Started {
		status = http.StatusAccepted
	}
	writeJSON(w, status, plan)
	return nil
}

// runView is a run as the API shows it: with waiting, when it is pending
// on a pool no worker polls.
type runView struct {
	store.Run
	Waiting string `json:"waiting,omitempty"`
}

func (s *Server) runViews(ctx context.Context, runs []store.Run) []runView {
	waiting := s.RunsWaiting(ctx, runs)
	out := make([]runView, len(runs))
	for i, r := range runs {
		out[i] = runView{Run: r, Waiting: waiting[r.ID]}
	}
	return out
}
