package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.temporal.io/sdk/temporal"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// SpecRef names the exact definition version a run executes. Activity
// inputs carry it instead of the canonical spec, so the spec is written to
// a run's history once (in BeginRun's result), not once per activity; a
// worker finds it in its spec cache, or in the store.
type SpecRef struct {
	DefinitionID string `json:"definition_id"`
	Version      int    `json:"version"`
	ContentHash  string `json:"content_hash"`
}

// specCacheSize bounds the worker's spec cache: definitions, not runs, so
// a few hundred covers a busy worker.
const specCacheSize = 512

// specCache keeps canonical specs by definition id and content hash, least
// recently used out first.
type specCache = lru.Cache[string, json.RawMessage]

func newSpecCache(size int) *specCache {
	c, err := lru.New[string, json.RawMessage](size)
	if err != nil {
		panic(err) // only for a size below 1, a constant here
	}
	return c
}

func (r SpecRef) key() string { return r.DefinitionID + "\x00" + r.ContentHash }

// definition decodes the spec an activity was given, or, when it was given
// a reference, the cached or stored spec it names. Old-shape runs pass the
// spec itself.
func (a *Activities) definition(ctx context.Context, spec json.RawMessage, ref *SpecRef) (*definition.Definition, error) {
	if len(spec) > 0 || ref == nil {
		return loadSpec(spec)
	}
	if s, ok := a.specs.Get(ref.key()); ok {
		return loadSpec(s)
	}
	v, err := a.cfg.Store.GetDefinitionVersion(ctx, ref.DefinitionID, ref.Version)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("definition %s version %d is not in the store", ref.DefinitionID, ref.Version), errTypeStore, err)
		}
		return nil, storeErr(fmt.Sprintf("loading definition %s version %d", ref.DefinitionID, ref.Version), err)
	}
	if v.ContentHash != ref.ContentHash {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("definition %s version %d has content hash %s, the run expected %s", ref.DefinitionID, ref.Version, v.ContentHash, ref.ContentHash), errTypeStore, nil)
	}
	a.specs.Add(ref.key(), v.Spec)
	return loadSpec(v.Spec)
}
