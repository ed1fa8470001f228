// Package syncer implements sync (docs/sync.md): read the definition
// sources, store what changed, and project cron and once definitions onto
// Temporal schedules, in stages that fail independently, serialized across
// every replica through the store's sync lock.
package syncer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/gitsource"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
)

// Stage names, as they appear in results.
const (
	StageDefinitions = "definitions"
	StageEventTypes  = "event_types"
	StageSchedules   = "schedules"
)

// maxErrorsDefault bounds errors[] (ACTIVITY_SYNC_MAX_ERRORS).
const maxErrorsDefault = 50

// Options choose the stages of one sync.
type Options struct {
	Definitions bool `json:"definitions"`
	EventTypes  bool `json:"event_types"`
	Schedules   bool `json:"schedules"`
	DryRun      bool `json:"dry_run"`
	// Source, when set, syncs only that source (by name): only it is
	// fetched, and only its definitions and their schedules change
	// (docs/git-sources.md#syncing-one-source). Webhooks and polling use
	// it.
	Source string `json:"source,omitempty"`
	// Ref, with Source, pins a git source to a commit (a SHA, or a ref
	// resolved to one) that later syncs keep; "follow" (or the source's
	// configured ref) unpins it (docs/git-sources.md#pinning-and-rollback).
	Ref string `json:"ref,omitempty"`
}

// DefaultOptions are the API's defaults: definitions and schedules.
func DefaultOptions() Options { return Options{Definitions: true, Schedules: true} }

// DefinitionCounts are the definitions stage's counts.
type DefinitionCounts struct {
	Scanned   int `json:"scanned"`
	Upserted  int `json:"upserted"`
	Unchanged int `json:"unchanged"`
	Removed   int `json:"removed"`
	Invalid   int `json:"invalid"`
}

// EventTypeCounts are the event_types stage's counts.
type EventTypeCounts struct {
	Upserted  int `json:"upserted"`
	Unchanged int `json:"unchanged"`
	Removed   int `json:"removed"`
}

// ScheduleCounts are the schedules stage's counts.
type ScheduleCounts struct {
	Upserted  int `json:"upserted"`
	Unchanged int `json:"unchanged"`
	Paused    int `json:"paused"`
	Deleted   int `json:"deleted"`
}

// Action is one thing a stage did (or, in a dry run, would do).
type Action struct {
	Stage  string `json:"stage"`
	ID     string `json:"id"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// Error is one problem a stage met; the stage went on with the rest.
type Error struct {
	Stage        string `json:"stage"`
	File         string `json:"file,omitempty"`
	Line         int    `json:"line,omitempty"`
	Column       int    `json:"column,omitempty"`
	Field        string `json:"field,omitempty"`
	DefinitionID string `json:"definition_id,omitempty"`
	Message      string `json:"message"`

	source bool
}

// Result is the document POST /admin/sync returns and `activity-core sync`
// prints (docs/architecture.md#syncer-internalsyncer).
type Result struct {
	SyncID        string           `json:"sync_id"`
	DryRun        bool             `json:"dry_run"`
	StartedAt     time.Time        `json:"started_at"`
	FinishedAt    time.Time        `json:"finished_at"`
	Stages        []string         `json:"stages"`
	Definitions   DefinitionCounts `json:"definitions"`
	EventTypes    EventTypeCounts  `json:"event_types"`
	Schedules     ScheduleCounts   `json:"schedules"`
	Actions       []Action         `json:"actions"`
	Errors        []Error          `json:"errors"`
	ErrorsDropped int              `json:"errors_dropped"`
	// Warnings are valid-but-suspicious findings (an event definition whose
	// type no event-type file declares; a cron expression crontab reads
	// differently). They never fail a sync.
	Warnings []Error `json:"warnings"`
	// Sources is each source this sync read: name, kind, the commit it
	// read (or kept, when the fetch failed) and the error.
	Sources []SourceResult `json:"sources"`

	// capped counts the errors subject to MaxErrors: source errors are not.
	capped int
}

// SourceResult is what one sync did with one source.
type SourceResult struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Commit is the commit read; when the fetch failed it is the last
	// good commit kept, and Kept is true.
	Commit string `json:"commit,omitempty"`
	// Previous is the commit read by the last good sync, when it differs.
	Previous string `json:"previous,omitempty"`
	Kept     bool   `json:"kept,omitempty"`
	// PinnedRef is set while the source is pinned.
	PinnedRef string `json:"pinned_ref,omitempty"`
	Error     string `json:"error,omitempty"`
}

// OK reports whether the sync met no error at all.
func (r *Result) OK() bool { return len(r.Errors) == 0 && r.ErrorsDropped == 0 }

// Summary is a one-line account for logs and /admin/sync/status.
func (r *Result) Summary() string {
	if r.OK() {
		return fmt.Sprintf("definitions %d upserted, %d removed; schedules %d upserted, %d paused, %d deleted",
			r.Definitions.Upserted, r.Definitions.Removed, r.Schedules.Upserted, r.Schedules.Paused, r.Schedules.Deleted)
	}
	n := len(r.Errors) + r.ErrorsDropped
	first := r.Errors[0]
	where := first.Stage
	if first.File != "" {
		where += " " + first.File
		if first.Line > 0 {
			where += fmt.Sprintf(":%d", first.Line)
		}
	}
	return fmt.Sprintf("%d error(s); first: %s: %s", n, where, first.Message)
}

// SchedulesFunc runs the schedules stage: it projects the stored
// definitions onto Temporal. In a dry run, planned holds the definitions as
// the definitions stage would have left them (nil when that stage did not
// run), so the plan shows what the real sync would do to schedules. It
// returns an error only when the whole stage could not run (Temporal
// unreachable); per-schedule problems are in errs.
type SchedulesFunc func(ctx context.Context, dryRun bool, planned []store.Definition) (counts ScheduleCounts, actions []Action, errs []Error, err error)

// PoolWorkers says whether a worker polls a worker pool
// (docs/run-control.md#placement), and names the pool's task queue for the
// warning. The app answers it with Temporal's DescribeTaskQueue.
type PoolWorkers func(ctx context.Context, pool string) (taskQueue string, polled bool, err error)

// poolCheckTimeout bounds one PoolWorkers question: a sync must not wait
// on Temporal for a warning.
const poolCheckTimeout = 5 * time.Second

// Config holds a Syncer's dependencies.
type Config struct {
	Store store.Store
	// Sources are the definition sources as configured (--definitions,
	// ACTIVITY_DEFINITIONS): folders and git remotes, parsed by
	// gitsource.ParseSpecs (docs/git-sources.md#sources).
	Sources []string
	// Fetcher fetches the git sources; required when one is configured.
	// Their state (last good commit, pin, last error) is kept in the
	// store, which must then be a store.SourceStore.
	Fetcher *gitsource.Fetcher
	// Schedules runs the schedules stage; nil makes that stage an error.
	Schedules SchedulesFunc
	// MaxErrors bounds the per-file and per-item errors of Result.Errors
	// (maxErrorsDefault when 0). Source errors (a source or a folder that
	// could not be read) come first and are never dropped.
	MaxErrors int
	// Secrets is the operator's allow-list: a definition that references
	// a secret outside it is invalid. Nil allows nothing
	// (docs/definitions.md#secrets).
	Secrets *secret.AllowList
	// AlertDefaults is the deployment's alerting defaults file
	// (ACTIVITY_ALERT_DEFAULTS); empty for none. It is read at every sync,
	// like the definitions, and merged under the folders' _defaults.yaml
	// (docs/definitions.md#alerting-defaults). When it is missing or
	// invalid, the sync applies no definition: each keeps its last good
	// version.
	AlertDefaults string
	// PoolWorkers, when set, makes a sync warn about each enabled
	// definition whose pool no worker polls: one question per pool.
	PoolWorkers PoolWorkers
	// OnDefinitionsChanged is called after a real sync changed definitions
	// or event types (the router refreshes its index).
	OnDefinitionsChanged func()
	Logger               *slog.Logger
	Now                  func() time.Time
}

// Syncer runs syncs.
type Syncer struct {
	cfg   Config
	log   *slog.Logger
	specs []gitsource.Spec
	// sources keeps per-source state; nil when the store keeps none (then
	// only folder sources are allowed).
	sources store.SourceStore
}

// New checks the configuration and parses the sources.
func New(cfg Config) (*Syncer, error) {
	if cfg.Store == nil {
		return nil, errors.New("syncer: Config.Store is required")
	}
	cfg.MaxErrors = cmp.Or(cfg.MaxErrors, maxErrorsDefault)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Syncer{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default())}
	s.sources, _ = cfg.Store.(store.SourceStore)
	if len(cfg.Sources) == 0 {
		return s, nil
	}
	specs, err := gitsource.ParseSpecs(cfg.Sources)
	if err != nil {
		return nil, fmt.Errorf("syncer: definition sources: %w", err)
	}
	for _, sp := range specs {
		if sp.Kind != gitsource.KindGit {
			continue
		}
		if cfg.Fetcher == nil {
			return nil, fmt.Errorf("syncer: source %s is a git source: Config.Fetcher is required", sp.Name)
		}
		if s.sources == nil {
			return nil, fmt.Errorf("syncer: source %s is a git source: the store must keep source states (store.SourceStore)", sp.Name)
		}
	}
	s.specs = specs
	return s, nil
}

// Sources returns the configured sources as given (folders and git specs).
func (s *Syncer) Sources() []string { return s.cfg.Sources }

// FolderSources returns the folders among the sources: what dev --watch
// polls (git sources change by fetching, not on disk).
func (s *Syncer) FolderSources() []string {
	var dirs []string
	for _, sp := range s.specs {
		if sp.Kind == gitsource.KindFolder {
			dirs = append(dirs, sp.Dir)
		}
	}
	return dirs
}

// Run performs one sync. It waits for the deployment-wide sync lock (a
// concurrent sync anywhere finishes first), runs the chosen stages, each
// independently, and stores the result. The returned error is set only when
// the sync could not run at all (the store is down, ctx ended while
// waiting); stage failures are in Result.Errors.
func (s *Syncer) Run(ctx context.Context, opts Options) (*Result, error) {
	if err := s.CheckOptions(opts); err != nil {
		return nil, err
	}
	var res *Result
	err := s.cfg.Store.WithSyncLock(ctx, func(ctx context.Context) error {
		res = s.run(ctx, opts)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	b, _ := json.Marshal(res)
	rec := store.SyncResult{SyncID: res.SyncID, DryRun: res.DryRun, StartedAt: res.StartedAt, FinishedAt: res.FinishedAt, OK: res.OK(), Result: b}
	if !res.OK() {
		rec.ErrorSummary = res.Summary()
	}
	if err := s.cfg.Store.SaveSyncResult(context.WithoutCancel(ctx), rec); err != nil {
		s.log.Warn("syncer: storing sync result failed", "sync_id", res.SyncID, "error", err)
	}
	level := slog.LevelInfo
	if !res.OK() {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "syncer: sync finished", "sync_id", res.SyncID, "dry_run", res.DryRun, "stages", strings.Join(res.Stages, ","),
		"duration", res.FinishedAt.Sub(res.StartedAt).Round(time.Millisecond), "summary", res.Summary())
	return res, nil
}

func (s *Syncer) run(ctx context.Context, opts Options) *Result {
	res := &Result{
		SyncID: uuid.Must(uuid.NewV7()).String(), DryRun: opts.DryRun, StartedAt: s.cfg.Now().UTC(),
		Stages: []string{}, Actions: []Action{}, Errors: []Error{}, Warnings: []Error{}, Sources: []SourceResult{},
	}
	var loaded *loadedSources
	if opts.Definitions || opts.EventTypes {
		loaded = s.readAndLoad(ctx, opts, res)
	}
	changed := false
	var planned []store.Definition
	if opts.Definitions {
		res.Stages = append(res.Stages, StageDefinitions)
		var ch bool
		ch, planned = s.syncDefinitions(ctx, loaded, opts, res)
		changed = ch || changed
	}
	if opts.EventTypes {
		res.Stages = append(res.Stages, StageEventTypes)
		changed = s.syncEventTypes(ctx, loaded.Result, opts.DryRun, res) || changed
	}
	if opts.Definitions || opts.EventTypes {
		s.warnUnknownEventTypes(ctx, loaded.Result, res)
	}
	if opts.Definitions {
		s.warnUnpolledPools(ctx, loaded.Result, res)
	}
	if opts.Schedules {
		res.Stages = append(res.Stages, StageSchedules)
		s.syncSchedules(ctx, opts.DryRun, planned, res)
	}
	if loaded != nil && !opts.DryRun {
		s.saveStates(ctx, loaded, res)
	}
	res.FinishedAt = s.cfg.Now().UTC()
	if changed && !opts.DryRun && s.cfg.OnDefinitionsChanged != nil {
		s.cfg.OnDefinitionsChanged()
	}
	return res
}

// readAndLoad fetches and loads the chosen sources and reports the
// sources' errors.
func (s *Syncer) readAndLoad(ctx context.Context, opts Options, res *Result) *loadedSources {
	read := s.readSources(ctx, opts)
	loaded := s.load(read)
	loaded.CheckSecrets(s.cfg.Secrets.Check)
	stage := StageDefinitions
	if !opts.Definitions {
		stage = StageEventTypes
	}
	if len(s.specs) == 0 {
		s.addSourceError(res, Error{Stage: stage, Message: "no definition sources configured: set ACTIVITY_DEFINITIONS or --definitions"})
	}
	for _, e := range loaded.SourceErrors {
		s.addSourceError(res, fromDefError(stage, e))
	}
	for _, rs := range read {
		if rs.fatal != nil {
			s.addSourceError(res, Error{Stage: stage, File: rs.spec.Name, Message: "source " + rs.spec.Name + ": " + rs.fatal.Error()})
		} else if rs.pinErr != nil {
			// Asked for and not done: an error, though the last good
			// commit stands in as for any failed fetch.
			s.addSourceError(res, Error{Stage: stage, File: rs.spec.Name,
				Message: fmt.Sprintf("source %s: %v; it stays at %s", rs.spec.Name, rs.pinErr, short(rs.prev.Commit))})
		} else if rs.fetchErr != nil {
			// The source fails alone: its last good commit stands in, so
			// this is a warning; the error is in Sources and its state.
			res.Warnings = append(res.Warnings, Error{Stage: stage, File: rs.spec.Name,
				Message: fmt.Sprintf("source %s: fetch failed, kept %s: %v", rs.spec.Name, short(rs.prev.Commit), rs.fetchErr)})
		}
		if rs.snap != nil && len(rs.snap.Skipped) > 0 {
			res.Warnings = append(res.Warnings, Error{Stage: stage, File: rs.spec.Name,
				Message: fmt.Sprintf("source %s: %d entries of commit %s were not read (only files and folders are; symbolic links and submodules are not): %s",
					rs.spec.Name, len(rs.snap.Skipped), short(rs.result.Commit), strings.Join(rs.snap.Skipped[:min(len(rs.snap.Skipped), 5)], ", "))})
		}
		res.Sources = append(res.Sources, rs.result)
	}
	return loaded
}

// addError adds a per-file or per-item error, up to MaxErrors.
func (s *Syncer) addError(res *Result, e Error) {
	if res.capped >= s.cfg.MaxErrors {
		res.ErrorsDropped++
		return
	}
	res.capped++
	res.Errors = append(res.Errors, e)
}

// addSourceError adds an error about a whole source or folder. These are
// few (one per configured source or unreadable folder), each hides many
// definitions, and they come before any other error, so the cap never
// drops them.
func (s *Syncer) addSourceError(res *Result, e Error) {
	i := 0
	for i < len(res.Errors) && res.Errors[i].source {
		i++
	}
	e.source = true
	res.Errors = slices.Insert(res.Errors, i, e)
}

func fromDefError(stage string, e *definition.Error) Error {
	return Error{Stage: stage, File: e.File, Line: e.Line, Column: e.Column, Field: e.Field, DefinitionID: e.DefinitionID, Message: e.Message}
}

// storeDefinition converts a parsed definition to the store's record.
func storeDefinition(d *definition.Definition, origin *store.Origin) store.Definition {
	return store.Definition{
		ID: d.ID, ContentHash: d.ContentHash(), Spec: d.CanonicalJSON(),
		SourceFile: d.Source.File, SourceDir: d.Source.Dir, Enabled: d.Enabled,
		TriggerType: store.TriggerType(d.Trigger.Type), EventType: d.Trigger.EventType,
		Origin: origin,
	}
}

// syncDefinitions upserts every valid definition and tombstones those whose
// file disappeared, source by source. A source that could not be read
// removes nothing; a file that failed keeps its last good version. A dry
// run plans instead (planDefinitions): planned is the live set as the
// real sync would leave it.
func (s *Syncer) syncDefinitions(ctx context.Context, loaded *loadedSources, opts Options, res *Result) (changed bool, planned []store.Definition) {
	s.countLoaded(loaded.Result, res)
	records := s.definitionRecords(ctx, loaded, opts, res)
	if opts.DryRun {
		return false, s.planDefinitions(ctx, loaded, records, res)
	}
	return s.applyDefinitions(ctx, loaded, records, res), nil
}

// planDefinitions is a dry run's syncDefinitions: it counts what the sync
// would change and returns the live set as it would leave it, by id.
func (s *Syncer) planDefinitions(ctx context.Context, loaded *loadedSources, records []store.Definition, res *Result) []store.Definition {
	plannedByID, ok := s.planUpserts(ctx, records, res)
	if !ok {
		return nil
	}
	for _, src := range loaded.Sources {
		gone, _ := s.goneDefinitions(ctx, src, res)
		for _, id := range gone {
			delete(plannedByID, id)
			countRemoved(res, id)
		}
	}
	planned := make([]store.Definition, 0, len(plannedByID))
	for _, d := range plannedByID {
		planned = append(planned, d)
	}
	sort.Slice(planned, func(i, j int) bool { return planned[i].ID < planned[j].ID })
	return planned
}

// applyDefinitions stores the records and tombstones what each readable
// source no longer holds; it reports whether anything changed.
func (s *Syncer) applyDefinitions(ctx context.Context, loaded *loadedSources, records []store.Definition, res *Result) (changed bool) {
	if len(records) > 0 {
		ch, ok := s.applyUpserts(ctx, records, res)
		if !ok {
			return false
		}
		changed = ch
	}
	for _, src := range loaded.Sources {
		removed := s.removeGone(ctx, src, res)
		changed = changed || len(removed) > 0
		for _, id := range removed {
			countRemoved(res, id)
		}
	}
	return changed
}

// countRemoved counts a definition whose file is gone.
func countRemoved(res *Result, id string) {
	res.Definitions.Removed++
	res.Actions = append(res.Actions, Action{Stage: StageDefinitions, ID: id, Action: "remove", Reason: "its file is gone"})
}

// countLoaded counts the files scanned and invalid and reports the
// definition files' errors and warnings.
func (s *Syncer) countLoaded(loaded *definition.Result, res *Result) {
	for _, src := range loaded.Sources {
		for _, f := range src.Files {
			if !isEventTypeFile(f) {
				res.Definitions.Scanned++
			}
		}
		for f := range src.FailedFiles {
			if !isEventTypeFile(f) {
				res.Definitions.Invalid++
			}
		}
	}
	for _, e := range loaded.Errors {
		if isEventTypeFile(e.File) {
			continue // reported by the event_types stage
		}
		s.addError(res, fromDefError(StageDefinitions, e))
	}
	for _, d := range loaded.Definitions() {
		for _, w := range d.Warnings {
			res.Warnings = append(res.Warnings, fromDefError(StageDefinitions, w))
		}
	}
}

// definitionRecords converts the valid definitions to store records with
// their origins. When one source is synced, a definition whose id another
// source holds is refused: the loader saw only this source, so only the
// store can tell (docs/git-sources.md#syncing-one-source).
func (s *Syncer) definitionRecords(ctx context.Context, loaded *loadedSources, opts Options, res *Result) []store.Definition {
	defs := loaded.Definitions()
	records := make([]store.Definition, 0, len(defs))
	owner := map[string]store.Definition{}
	if opts.Source != "" {
		live, err := s.cfg.Store.ListDefinitions(ctx, store.DefinitionFilter{})
		if err != nil {
			s.addError(res, Error{Stage: StageDefinitions, Message: "listing stored definitions: " + err.Error()})
			return nil
		}
		for _, d := range live {
			owner[d.ID] = d
		}
	}
	for _, d := range defs {
		if o, ok := owner[d.ID]; ok && o.SourceDir != d.Source.Dir {
			s.addError(res, Error{Stage: StageDefinitions, File: d.Source.File, Line: d.Source.Line, Field: "id", DefinitionID: d.ID,
				Message: fmt.Sprintf("id %s is already defined in %s (another source): rename one, or sync every source to move it", d.ID, o.SourceFile)})
			continue
		}
		records = append(records, storeDefinition(d, loaded.origins[d]))
	}
	return records
}

// planUpserts is a dry run's upsert: it counts what would change and
// returns the live set with the records applied.
func (s *Syncer) planUpserts(ctx context.Context, records []store.Definition, res *Result) (map[string]store.Definition, bool) {
	live, err := s.cfg.Store.ListDefinitions(ctx, store.DefinitionFilter{})
	if err != nil {
		s.addError(res, Error{Stage: StageDefinitions, Message: "listing stored definitions: " + err.Error()})
		return nil, false
	}
	plannedByID := make(map[string]store.Definition, len(live)+len(records))
	for _, d := range live {
		plannedByID[d.ID] = d
	}
	for _, r := range records {
		plannedByID[r.ID] = r
		var cur *store.Definition
		if c, err := s.cfg.Store.GetDefinition(ctx, r.ID); err == nil {
			cur = &c
		} else if !errors.Is(err, store.ErrNotFound) {
			s.addError(res, Error{Stage: StageDefinitions, DefinitionID: r.ID, Message: "reading stored definition: " + err.Error()})
			continue
		}
		version := 1
		if cur != nil {
			version = cur.Version + 1
		}
		s.countUpsert(res, r.ID, store.PlanDefinitionUpsert(cur, r), version, r.Origin)
	}
	return plannedByID, true
}

// applyUpserts stores the records and counts what changed.
func (s *Syncer) applyUpserts(ctx context.Context, records []store.Definition, res *Result) (changed, ok bool) {
	outcomes, err := s.cfg.Store.UpsertDefinitions(ctx, records...)
	if err != nil {
		s.addError(res, Error{Stage: StageDefinitions, Message: "storing definitions: " + err.Error()})
		return false, false
	}
	for i, o := range outcomes {
		changed = s.countUpsert(res, o.ID, o.Outcome, o.Version, records[i].Origin) || changed
	}
	return changed, true
}

// goneDefinitions lists, sorted, the stored definitions of one readable
// source that it no longer holds, and returns the ids it keeps.
func (s *Syncer) goneDefinitions(ctx context.Context, src *definition.SourceResult, res *Result) (gone []string, keep map[string]bool) {
	if src.Err != nil {
		return nil, nil
	}
	keep = map[string]bool{}
	for _, d := range src.Definitions {
		keep[d.ID] = true
	}
	for id := range src.HeldIDs {
		keep[id] = true
	}
	live, err := s.cfg.Store.ListDefinitions(ctx, store.DefinitionFilter{SourceDir: src.Dir})
	if err != nil {
		s.addError(res, Error{Stage: StageDefinitions, File: src.Dir, Message: "listing stored definitions: " + err.Error()})
		return nil, nil
	}
	for _, d := range live {
		if src.FailedFiles[d.SourceFile] || src.Unknown(d.SourceFile) {
			keep[d.ID] = true // broken or unreadable now: keep its last good version
		}
		if !keep[d.ID] {
			gone = append(gone, d.ID)
		}
	}
	sort.Strings(gone)
	return gone, keep
}

// removeGone tombstones the stored definitions of one readable source that
// it no longer holds, and returns their ids, sorted.
func (s *Syncer) removeGone(ctx context.Context, src *definition.SourceResult, res *Result) []string {
	gone, keep := s.goneDefinitions(ctx, src, res)
	if len(gone) == 0 {
		return nil
	}
	ids := make([]string, 0, len(keep))
	for id := range keep {
		ids = append(ids, id)
	}
	removed, err := s.cfg.Store.MarkDefinitionsRemoved(ctx, src.Dir, ids)
	if err != nil {
		s.addError(res, Error{Stage: StageDefinitions, File: src.Dir, Message: "marking removed definitions: " + err.Error()})
		return nil
	}
	sort.Strings(removed)
	return removed
}

// isEventTypeFile reports whether path (a file or "NAME:path/in/repo")
// lies in an event-types folder.
func isEventTypeFile(path string) bool {
	return strings.Contains(path, "/"+definition.EventTypesDir+"/") || strings.Contains(path, ":"+definition.EventTypesDir+"/")
}

// countUpsert adds one outcome to the counts and actions; it reports
// whether anything was written. version is the definition's version after
// the upsert; the reason names the commit it came from.
func (s *Syncer) countUpsert(res *Result, id string, o store.UpsertOutcome, version int, origin *store.Origin) bool {
	from := ""
	if origin != nil && origin.Commit != "" {
		from = " from " + short(origin.Commit)
	}
	switch o {
	case store.Unchanged:
		res.Definitions.Unchanged++
		return false
	case store.Created:
		res.Actions = append(res.Actions, Action{Stage: StageDefinitions, ID: id, Action: "create", Reason: strings.TrimSpace(fmt.Sprintf("v%d%s", version, from))})
	case store.Updated:
		res.Actions = append(res.Actions, Action{Stage: StageDefinitions, ID: id, Action: "update", Reason: fmt.Sprintf("content changed: v%d → v%d%s", version-1, version, from)})
	case store.Restored:
		res.Actions = append(res.Actions, Action{Stage: StageDefinitions, ID: id, Action: "restore", Reason: "its file is back" + from})
	}
	res.Definitions.Upserted++
	return true
}

func (s *Syncer) syncEventTypes(ctx context.Context, loaded *definition.Result, dryRun bool, res *Result) bool {
	for _, e := range loaded.Errors {
		if isEventTypeFile(e.File) {
			s.addError(res, fromDefError(StageEventTypes, e))
		}
	}
	changed := false
	for _, src := range loaded.Sources {
		if src.Err != nil {
			continue // reported with the source errors
		}
		records := make([]store.EventType, 0, len(src.EventTypes))
		keep := map[string]bool{}
		for _, et := range src.EventTypes {
			records = append(records, store.EventType{Name: et.Name, Description: et.Description, Schema: et.Schema, SourceFile: et.Source.File, SourceDir: src.Dir, ContentHash: et.ContentHash()})
			keep[et.Name] = true
		}
		current, err := s.cfg.Store.ListEventTypes(ctx, store.EventTypeFilter{SourceDir: src.Dir})
		if err != nil {
			s.addError(res, Error{Stage: StageEventTypes, File: src.Dir, Message: "listing stored event types: " + err.Error()})
			continue
		}
		byName := map[string]*store.EventType{}
		for i := range current {
			byName[current[i].Name] = &current[i]
			if src.FailedFiles[current[i].SourceFile] || src.Unknown(current[i].SourceFile) {
				keep[current[i].Name] = true
			}
		}
		if dryRun {
			for _, r := range records {
				changed = s.countEventType(res, r.Name, store.PlanEventTypeUpsert(byName[r.Name], r)) || changed
			}
		} else if len(records) > 0 {
			outcomes, err := s.cfg.Store.UpsertEventTypes(ctx, records...)
			if err != nil {
				s.addError(res, Error{Stage: StageEventTypes, File: src.Dir, Message: "storing event types: " + err.Error()})
				continue
			}
			for _, o := range outcomes {
				changed = s.countEventType(res, o.ID, o.Outcome) || changed
			}
		}
		var gone []string
		for _, c := range current {
			if !keep[c.Name] {
				gone = append(gone, c.Name)
			}
		}
		if len(gone) > 0 && !dryRun {
			names := make([]string, 0, len(keep))
			for n := range keep {
				names = append(names, n)
			}
			removed, err := s.cfg.Store.MarkEventTypesRemoved(ctx, src.Dir, names)
			if err != nil {
				s.addError(res, Error{Stage: StageEventTypes, File: src.Dir, Message: "marking removed event types: " + err.Error()})
				continue
			}
			gone = removed
			changed = changed || len(removed) > 0
		}
		for _, n := range gone {
			res.EventTypes.Removed++
			res.Actions = append(res.Actions, Action{Stage: StageEventTypes, ID: n, Action: "remove", Reason: "its file is gone"})
		}
	}
	return changed
}

func (s *Syncer) countEventType(res *Result, name string, o store.UpsertOutcome) bool {
	if o == store.Unchanged {
		res.EventTypes.Unchanged++
		return false
	}
	res.EventTypes.Upserted++
	res.Actions = append(res.Actions, Action{Stage: StageEventTypes, ID: name, Action: string(o)})
	return true
}

// warnUnknownEventTypes warns about event definitions whose event_type
// matches no known event type, once any event type is known (docs/definitions.md#event-types).
func (s *Syncer) warnUnknownEventTypes(ctx context.Context, loaded *definition.Result, res *Result) {
	types, err := s.cfg.Store.ListEventTypes(ctx, store.EventTypeFilter{})
	if err != nil || len(types) == 0 {
		return
	}
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = t.Name
	}
	for _, d := range loaded.Definitions() {
		if d.Trigger.Type != definition.TriggerEvent {
			continue
		}
		matched := false
		for _, n := range names {
			if definition.SubjectMatches(d.Trigger.EventType, n) {
				matched = true
				break
			}
		}
		if !matched {
			res.Warnings = append(res.Warnings, Error{
				Stage: StageDefinitions, File: d.Source.File, Line: d.Source.Line, Field: "trigger.event_type", DefinitionID: d.ID,
				Message: fmt.Sprintf("event_type %q matches no known event type (add a file under %s/ or fix the subject)", d.Trigger.EventType, definition.EventTypesDir),
			})
		}
	}
}

// warnUnpolledPools warns about each enabled definition whose pool no
// worker polls: its runs would wait (docs/run-control.md#placement). It
// asks once per distinct pool, and stops asking when Temporal does not
// answer (the schedules stage reports that).
func (s *Syncer) warnUnpolledPools(ctx context.Context, loaded *definition.Result, res *Result) {
	if s.cfg.PoolWorkers == nil {
		return
	}
	type answer struct {
		queue  string
		polled bool
	}
	answers := map[string]answer{}
	for _, d := range loaded.Definitions() {
		if !d.Enabled {
			continue
		}
		pool := d.Pool()
		a, ok := answers[pool]
		if !ok {
			qctx, cancel := context.WithTimeout(ctx, poolCheckTimeout)
			q, polled, err := s.cfg.PoolWorkers(qctx, pool)
			cancel()
			if err != nil {
				s.log.Warn("syncer: cannot tell which pools have workers; not checking", "pool", pool, "error", err)
				return
			}
			a = answer{q, polled}
			answers[pool] = a
		}
		if !a.polled {
			res.Warnings = append(res.Warnings, Error{
				Stage: StageDefinitions, File: d.Source.File, Line: d.Source.Line, Field: "run_on", DefinitionID: d.ID,
				Message: fmt.Sprintf("no worker polls pool %s (task queue %s): its runs wait until one starts with --pools %s (ACTIVITY_WORKER_POOLS)", pool, a.queue, pool),
			})
		}
	}
}

func (s *Syncer) syncSchedules(ctx context.Context, dryRun bool, planned []store.Definition, res *Result) {
	if s.cfg.Schedules == nil {
		s.addError(res, Error{Stage: StageSchedules, Message: "no Temporal connection: the schedules stage cannot run in this process"})
		return
	}
	counts, actions, errs, err := s.cfg.Schedules(ctx, dryRun, planned)
	if err != nil {
		s.addError(res, Error{Stage: StageSchedules, Message: err.Error()})
		return
	}
	res.Schedules = counts
	res.Actions = append(res.Actions, actions...)
	for _, e := range errs {
		e.Stage = StageSchedules
		s.addError(res, e)
	}
}
