package schedule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/store"
)

// Defaults of Config.
const (
	// PrefixDefault marks the schedules activity-core manages
	// (ACTIVITY_SCHEDULE_PREFIX).
	PrefixDefault = "activity-core:"
	// ConcurrencyDefault is how many create, update, pause or delete calls
	// run at once. The embedded server creates about 85 schedules/s one at a
	// time and about 160/s with 8 callers.
	ConcurrencyDefault = 8
	// listPageSize is the largest page Temporal serves.
	listPageSize = 1000
	// stateBatch is how many ScheduleState rows are written per store
	// transaction while a sync applies changes.
	stateBatch = 256
	// stateWriteTimeout bounds one batch of ScheduleState writes, which run
	// even when the sync's context was canceled: the changes were made.
	stateWriteTimeout = 30 * time.Second
)

// Stage is the name of the sync stage this package implements, as it
// appears in Action.Stage.
const Stage = "schedules"

// Action values.
const (
	ActionCreate  = "create"
	ActionUpdate  = "update"
	ActionPause   = "pause"
	ActionUnpause = "unpause"
	ActionDelete  = "delete"
	ActionSkip    = "skip"
)

// Notes activity-core writes on schedules. Every pause note it writes starts
// with notePrefix; that is how sync tells its own pauses from pauses made
// by hand in the Temporal UI or CLI, which it never lifts.
const (
	notePrefix = "activity-core: "
	// NoteDisabled is the note of a schedule paused because its definition
	// is disabled.
	NoteDisabled       = notePrefix + "definition disabled by sync"
	noteOperator       = notePrefix + "paused by operator"
	noteEnabled        = notePrefix + "unpaused by sync: definition enabled"
	noteExpired        = notePrefix + "unpaused by sync: operator pause expired"
	noteLifted         = notePrefix + "unpaused by sync: pause no longer wanted"
	noteResumed        = notePrefix + "resumed by operator"
	reasonDisabled     = "definition disabled"
	reasonOperator     = "operator pause"
	reasonExpired      = "operator pause expired"
	reasonRunAtPassed  = "run_at passed before it was scheduled"
	reasonRemoved      = "definition removed"
	reasonNotScheduled = "definition is no longer cron or once"
)

// Config configures a Projector. Client and Store are required.
type Config struct {
	// Client talks to Temporal; only its ScheduleClient is used.
	Client client.Client
	// Store holds the definitions, what sync last applied to each schedule
	// (ScheduleState) and operator pauses.
	Store store.Store
	// Prefix starts the id of every managed schedule. Default PrefixDefault.
	Prefix string
	// TaskQueue is the deployment's base task queue: scheduled runs start
	// on their definition's pool's queue, engine.TaskQueueFor(TaskQueue,
	// pool) (docs/run-control.md#placement). Default
	// engine.TaskQueueDefault.
	TaskQueue string
	// Concurrency bounds the create, update, pause, unpause and delete
	// calls in flight. Default ConcurrencyDefault.
	Concurrency int
	// SpecHashAttribute, when set, names a Keyword search attribute that
	// every create and update also writes the desired hash to, and that a
	// sync compares when the store has no ScheduleState for a schedule (see
	// the package doc). It must be registered on the namespace. Default "":
	// off.
	SpecHashAttribute string
	// Logger receives one line per sync and one per change (at Debug).
	// Default slog.Default().
	Logger *slog.Logger
	// Now is the clock operator pause expiry and once run_at are judged by.
	// Default time.Now.
	Now func() time.Time
}

// Projector keeps Temporal schedules in line with the stored definitions.
// Keep one per process: it caches the desired form of each definition by
// content hash, so a sync with no change decodes nothing. It is safe for
// concurrent use, but syncs should be serialized (the syncer holds the
// store's sync lock); Pause and Resume take that lock themselves.
type Projector struct {
	cfg       Config
	schedules client.ScheduleClient
	log       *slog.Logger
	hashKey   *temporal.SearchAttributeKeyKeyword

	mu    sync.Mutex
	cache map[string]cachedDesired
}

type cachedDesired struct {
	contentHash string
	d           *desired
	err         error
}

// New checks cfg, fills in its defaults and returns a Projector.
func New(cfg Config) (*Projector, error) {
	if cfg.Client == nil {
		return nil, errors.New("schedule: Config.Client is required")
	}
	if cfg.Store == nil {
		return nil, errors.New("schedule: Config.Store is required")
	}
	cfg.Prefix = cmp.Or(cfg.Prefix, PrefixDefault)
	cfg.TaskQueue = cmp.Or(cfg.TaskQueue, engine.TaskQueueDefault)
	cfg.Concurrency = cmp.Or(max(cfg.Concurrency, 0), ConcurrencyDefault)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Projector{
		cfg:       cfg,
		schedules: cfg.Client.ScheduleClient(),
		log:       cfg.Logger,
		cache:     map[string]cachedDesired{},
	}
	if cfg.SpecHashAttribute != "" {
		k := temporal.NewSearchAttributeKeyKeyword(cfg.SpecHashAttribute)
		p.hashKey = &k
	}
	return p, nil
}

// ScheduleID is the id of the schedule a definition projects to.
func (p *Projector) ScheduleID(definitionID string) string { return p.cfg.Prefix + definitionID }

// Action is one change a sync made (or, in a dry run, would make) to one
// schedule. ID is the definition id.
type Action struct {
	Stage  string `json:"stage"`
	ID     string `json:"id"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// Counts are the schedule counts of a sync result. A create, update or
// unpause is upserted; a pause (alone or with an update) is paused; a
// schedule that needed no call is unchanged (so is a disabled definition
// that has no schedule: none is made). Skipped once definitions are in no
// count, only in the actions.
type Counts struct {
	Upserted  int `json:"upserted"`
	Unchanged int `json:"unchanged"`
	Paused    int `json:"paused"`
	Deleted   int `json:"deleted"`
}

// ItemError is a change that failed; the other changes of the sync went on.
// ID is the definition id.
type ItemError struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

func (e ItemError) Error() string { return e.ID + ": " + e.Message }

// Result is what a sync did (or would do).
type Result struct {
	Counts  Counts      `json:"counts"`
	Actions []Action    `json:"actions"`
	Errors  []ItemError `json:"errors"`
}

// Sync projects the stored definitions onto Temporal schedules (docs/architecture.md#syncer-internalsyncer,
// "schedules"). It lists the managed schedules once and reads the store;
// a schedule is only called when something changed. It returns an error
// only when the stage cannot run at all (the list or a store read failed);
// a change that fails is reported in Result.Errors and the others go on.
// With dryRun it makes no call but the list and writes nothing, and
// returns the counts and actions a real sync would.
func (p *Projector) Sync(ctx context.Context, dryRun bool) (*Result, error) {
	start := time.Now()
	now := p.cfg.Now().UTC()

	var (
		entries map[string]*client.ScheduleListEntry
		listErr error
		wg      sync.WaitGroup
	)
	wg.Go(func() { entries, listErr = p.list(ctx) })
	in, err := p.load(ctx)
	wg.Wait()
	if listErr != nil {
		return nil, fmt.Errorf("listing schedules: %w", listErr)
	}
	if err != nil {
		return nil, err
	}
	in.now = now
	in.entries = entries
	steps := p.plan(in)

	var errs []ItemError
	for _, id := range sortedKeys(in.broken) {
		errs = append(errs, ItemError{ID: id, Message: in.broken[id].Error() + " (its schedule is left as it is)"})
	}
	if !dryRun {
		errs = append(errs, p.apply(ctx, steps, in)...)
	}
	res := &Result{Actions: []Action{}, Errors: errs}
	for _, s := range steps {
		if s.err != nil {
			res.Errors = append(res.Errors, ItemError{ID: s.defID, Message: s.err.Error()})
			continue
		}
		if s.action != "" {
			res.Actions = append(res.Actions, Action{Stage: Stage, ID: s.defID, Action: s.action, Reason: s.reason})
		}
		switch s.bucket {
		case bucketUpserted:
			res.Counts.Upserted++
		case bucketUnchanged:
			res.Counts.Unchanged++
		case bucketPaused:
			res.Counts.Paused++
		case bucketDeleted:
			res.Counts.Deleted++
		}
	}
	if res.Errors == nil {
		res.Errors = []ItemError{}
	}
	p.log.Info("schedule: sync done", "dry_run", dryRun, "listed", len(entries),
		"upserted", res.Counts.Upserted, "unchanged", res.Counts.Unchanged, "paused", res.Counts.Paused,
		"deleted", res.Counts.Deleted, "errors", len(res.Errors), "took", time.Since(start).Round(time.Millisecond))
	return res, nil
}

// list returns the managed schedules by id, in one pass.
func (p *Projector) list(ctx context.Context) (map[string]*client.ScheduleListEntry, error) {
	query := ""
	if !strings.ContainsAny(p.cfg.Prefix, `'"\`) {
		query = "ScheduleId STARTS_WITH '" + p.cfg.Prefix + "'"
	}
	entries, err := p.listQuery(ctx, query)
	var invalid *serviceerror.InvalidArgument
	if err != nil && query != "" && errors.As(err, &invalid) {
		// A visibility store without STARTS_WITH on ScheduleId: list all,
		// filter here.
		p.log.Warn("schedule: listing by prefix is not supported, listing all schedules", "error", err)
		entries, err = p.listQuery(ctx, "")
	}
	return entries, err
}

func (p *Projector) listQuery(ctx context.Context, query string) (map[string]*client.ScheduleListEntry, error) {
	it, err := p.schedules.List(ctx, client.ScheduleListOptions{PageSize: listPageSize, Query: query})
	if err != nil {
		return nil, err
	}
	entries := map[string]*client.ScheduleListEntry{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(e.ID, p.cfg.Prefix) {
			entries[e.ID] = e
		}
	}
	return entries, nil
}

// load reads what the plan needs from the store and turns the cron and once
// definitions into their desired schedules.
func (p *Projector) load(ctx context.Context) (*planInput, error) {
	// Three independent reads, side by side (the store reads in parallel;
	// SQLite in WAL mode has a pool of readers).
	var (
		defs                     []store.Definition
		states                   []store.ScheduleState
		pauses                   []store.OperatorPause
		defsErr, statesErr, pErr error
		wg                       sync.WaitGroup
	)
	wg.Go(func() { states, statesErr = p.cfg.Store.ListScheduleStates(ctx) })
	wg.Go(func() { pauses, pErr = p.cfg.Store.ListOperatorPauses(ctx) })
	defs, defsErr = p.cfg.Store.ListDefinitions(ctx, store.DefinitionFilter{})
	wg.Wait()
	switch {
	case defsErr != nil:
		return nil, fmt.Errorf("listing definitions: %w", defsErr)
	case statesErr != nil:
		return nil, fmt.Errorf("listing schedule states: %w", statesErr)
	case pErr != nil:
		return nil, fmt.Errorf("listing operator pauses: %w", pErr)
	}
	in := &planInput{
		prefix:  p.cfg.Prefix,
		states:  make(map[string]*store.ScheduleState, len(states)),
		pauses:  make(map[string]*store.OperatorPause, len(pauses)),
		desired: make(map[string]*desired, len(defs)),
		other:   map[string]bool{},
		broken:  map[string]error{},
	}
	for i := range states {
		in.states[states[i].ScheduleID] = &states[i]
	}
	for i := range pauses {
		in.pauses[pauses[i].DefinitionID] = &pauses[i]
	}
	if p.hashKey != nil {
		in.listedHash = p.listedHash
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	cache := make(map[string]cachedDesired, len(defs))
	for _, def := range defs {
		if def.TriggerType != store.TriggerCron && def.TriggerType != store.TriggerOnce {
			in.other[def.ID] = true
			continue
		}
		c, ok := p.cache[def.ID]
		if !ok || c.contentHash != def.ContentHash {
			c = cachedDesired{contentHash: def.ContentHash}
			var parsed *definition.Definition
			if parsed, c.err = definition.FromCanonicalJSON(def.Spec); c.err == nil {
				c.d, c.err = newDesired(parsed, p.cfg.TaskQueue)
			}
			if c.err != nil {
				c.err = fmt.Errorf("reading definition: %w", c.err)
			}
		}
		cache[def.ID] = c
		if c.err != nil {
			in.broken[def.ID] = c.err
			continue
		}
		in.desired[def.ID] = c.d
	}
	p.cache = cache
	return in, nil
}

var converterForAttributes = converter.GetDefaultDataConverter()

// listedHash reads the spec hash search attribute of a list entry.
func (p *Projector) listedHash(e *client.ScheduleListEntry) string {
	pl := e.SearchAttributes.GetIndexedFields()[p.cfg.SpecHashAttribute]
	if pl == nil {
		return ""
	}
	var s string
	if err := converterForAttributes.FromPayload(pl, &s); err != nil {
		return ""
	}
	return s
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
