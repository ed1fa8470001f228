// Package simulate is the offline simulator behind `activity-core test`: it
// loads a definitions repository with the loader sync uses, replays events
// from a JSON Lines file through the router's own matching and explain
// code, feeds context from fixtures instead of fetching it, evaluates rules
// and plans instructions with the engine's own code (engine.PreviewRun),
// lists cron and once fires with cronexpr (Temporal's reading of cron,
// DST included), and checks declared expectations. Nothing runs, nothing
// is fetched, and no server, store, Temporal or NATS is needed, so a
// definitions repository can test its own definitions in CI before merge.
//
// What it cannot see: the worker's base environment and the values of
// ${env:NAME} references (give them with Config.Env to see them redacted),
// real context responses (fixtures stand in for them), overlap and
// concurrency_key waits, retries and the instruction's own result.
package simulate

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/secret"
)

// Config is one simulation.
type Config struct {
	// Paths are definition files or folders, as validate and sync take
	// them.
	Paths []string
	// EventsFile is a JSON Lines file of events ("" for none).
	EventsFile string
	// ContextPath is a fixtures file or directory ("" for none).
	ContextPath string
	// At, when set, asks which cron and once definitions fire then.
	At *Window
	// ExpectFile declares expected outcomes ("" for none).
	ExpectFile string
	// Env holds ${env:NAME} values as a worker would see them; they are
	// resolved and then redacted (***) wherever they would show.
	Env map[string]string
	// Secrets, when set, is the worker's allow-list: references it refuses
	// are reported (DefinitionTrace.NotAllowedEnv), as the run would fail.
	Secrets *secret.AllowList
	// Now is the time of events whose line has none (default time.Now).
	Now time.Time
}

// Counts says what was loaded.
type Counts struct {
	Files      int `json:"files"`
	Event      int `json:"event_definitions"`
	Cron       int `json:"cron_definitions"`
	Once       int `json:"once_definitions"`
	EventTypes int `json:"event_types"`
	Events     int `json:"events"`
	Fixtures   int `json:"fixtures"`
}

// ExpectSummary is the outcome of an expect file.
type ExpectSummary struct {
	File    string        `json:"file"`
	Passed  int           `json:"passed"`
	Failed  int           `json:"failed"`
	Results []CheckResult `json:"results"`
}

// Report is everything a simulation found. OK is false when any file had a
// problem (an invalid definition, a bad event line, a missing fixture, an
// expectation naming something unknown) or an expectation failed.
type Report struct {
	OK     bool   `json:"ok"`
	Counts Counts `json:"counts"`
	// Problems are input errors, each as file:line: field: message.
	Problems []*definition.Error `json:"problems"`
	// Warnings are valid but probably not meant (a definition warning, an
	// event whose subject no event type names).
	Warnings     []*definition.Error `json:"warnings"`
	Events       []EventTrace        `json:"events"`
	At           *AtReport           `json:"at,omitempty"`
	Expectations *ExpectSummary      `json:"expectations,omitempty"`
}

// Run loads everything, simulates, and checks the expectations. Problems
// never stop it early: every one is reported, and what is valid is still
// simulated.
func Run(ctx context.Context, cfg Config) *Report {
	rep := &Report{Problems: []*definition.Error{}, Warnings: []*definition.Error{}, Events: []EventTrace{}}
	now := cfg.Now
	if now.IsZero() {
		now = time.Now().UTC().Truncate(time.Second)
	}

	defs, eventTypes := rep.load(cfg.Paths)
	var fixtures *Fixtures
	if cfg.ContextPath != "" {
		fx, errs := loadFixtures(cfg.ContextPath)
		rep.Problems = append(rep.Problems, errs...)
		fixtures = fx
		rep.Counts.Fixtures = fx.Len()
	}
	sim := newSimulator(defs, eventTypes, fixtures, cfg.Env)
	sim.secrets = cfg.Secrets

	if cfg.EventsFile != "" {
		rep.simulateEvents(ctx, sim, cfg.EventsFile, now, eventTypes)
	}
	if cfg.At != nil {
		rep.At = Fires(sim.Definitions(), *cfg.At)
	}
	if cfg.ExpectFile != "" {
		rep.check(sim, cfg.ExpectFile)
	}
	rep.sortProblems()
	rep.OK = len(rep.Problems) == 0 && (rep.Expectations == nil || rep.Expectations.Failed == 0)
	return rep
}

// load loads the definitions and event types, counting them and keeping
// their problems and warnings.
func (rep *Report) load(paths []string) ([]*definition.Definition, []*definition.EventType) {
	loaded := definition.Load(paths)
	rep.Problems = append(rep.Problems, loaded.SourceErrors...)
	for _, s := range loaded.Sources {
		rep.Counts.Files += len(s.Files)
	}
	rep.Problems = append(rep.Problems, loaded.Errors...)
	defs := loaded.Definitions()
	for _, d := range defs {
		rep.Warnings = append(rep.Warnings, d.Warnings...)
		switch d.Trigger.Type {
		case definition.TriggerEvent:
			rep.Counts.Event++
		case definition.TriggerCron:
			rep.Counts.Cron++
		case definition.TriggerOnce:
			rep.Counts.Once++
		}
	}
	eventTypes := loaded.EventTypes()
	rep.Counts.EventTypes = len(eventTypes)
	return defs, eventTypes
}

// simulateEvents runs every event of the events file through sim.
func (rep *Report) simulateEvents(ctx context.Context, sim *Simulator, file string, now time.Time, eventTypes []*definition.EventType) {
	events, errs := loadEvents(file, now)
	rep.Problems = append(rep.Problems, errs...)
	rep.Counts.Events = len(events)
	for _, ev := range events {
		if w := unknownEventType(ev, eventTypes); w != nil {
			rep.Warnings = append(rep.Warnings, w)
		}
		tr, errs := sim.Event(ctx, ev)
		rep.Problems = append(rep.Problems, errs...)
		rep.Events = append(rep.Events, tr)
	}
}

// check checks the expectations file against the report's traces.
func (rep *Report) check(sim *Simulator, file string) {
	x, errs := loadExpectations(file)
	rep.Problems = append(rep.Problems, errs...)
	sum := &ExpectSummary{File: file, Results: []CheckResult{}}
	if x != nil {
		results, errs := Check(x, sim, rep.Events)
		rep.Problems = append(rep.Problems, errs...)
		sum.Results = results
		for _, r := range results {
			if r.Pass {
				sum.Passed++
			} else {
				sum.Failed++
			}
		}
	}
	rep.Expectations = sum
}

// sortProblems orders the problems so that those of one file read top to
// bottom, whichever step found them.
func (rep *Report) sortProblems() {
	fileOrder := map[string]int{}
	for _, p := range rep.Problems {
		if _, ok := fileOrder[p.File]; !ok {
			fileOrder[p.File] = len(fileOrder)
		}
	}
	sort.SliceStable(rep.Problems, func(i, j int) bool {
		a, b := rep.Problems[i], rep.Problems[j]
		if fa, fb := fileOrder[a.File], fileOrder[b.File]; fa != fb {
			return fa < fb
		}
		return a.Line < b.Line
	})
}

// unknownEventType warns about an event whose subject no event type names,
// once event types are known (as sync warns about such definitions).
func unknownEventType(ev *Event, types []*definition.EventType) *definition.Error {
	if len(types) == 0 || strings.HasPrefix(ev.Subject, engine.LifecyclePrefixDefault+".run.") {
		return nil
	}
	for _, t := range types {
		if t.Name == ev.Subject {
			return nil
		}
	}
	return &definition.Error{File: ev.File, Line: ev.Line, Field: "subject",
		Message: "no event type names " + ev.Subject + ": is it spelled as the publisher spells it?"}
}
