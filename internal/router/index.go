package router

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/limits"
	"github.com/coulomb/activity-core/internal/store"
)

// Defaults of IndexOptions and Config.
const (
	// chainDepthLimitDefault bounds how many lifecycle events may lead to
	// one run (see Index.Guard).
	chainDepthLimitDefault = 8

	// keyedMin is the number of definitions sharing one subject pattern
	// from which the index also keys them by a literal filter value.
	keyedMin = 8
)

// IndexOptions configures the loop guard an Index applies (and explains).
type IndexOptions struct {
	// LifecyclePrefix: run lifecycle events are <prefix>.run.<status>.
	// Default engine.LifecyclePrefixDefault ("activity").
	LifecyclePrefix string
	// ChainDepthLimit is the deepest chain a lifecycle event may start:
	// a run triggered by a lifecycle event whose chain_depth is d gets
	// depth d+1, and is not started when d+1 exceeds the limit. Default
	// chainDepthLimitDefault; negative means no depth limit.
	ChainDepthLimit int
	// EventTypes are the known event types: a payload whose subject names
	// one with a schema is validated against it (see CheckSchema).
	EventTypes []store.EventType
	// SchemaMode is schemaEnforce (the default: a non-conforming payload
	// is not routed) or schemaWarn (it is routed, counted and logged).
	SchemaMode string
}

func (o IndexOptions) withDefaults() IndexOptions {
	o.LifecyclePrefix = cmp.Or(o.LifecyclePrefix, engine.LifecyclePrefixDefault)
	if o.ChainDepthLimit == 0 {
		o.ChainDepthLimit = chainDepthLimitDefault
	}
	o.SchemaMode = cmp.Or(o.SchemaMode, schemaModeDefault)
	o.EventTypes = nil // compiled into Index.schemas
	return o
}

// Match is one definition an event matched.
type Match struct {
	DefinitionID string
	// Definition is the parsed spec, shared by the index: read only.
	Definition *definition.Definition
}

// Problem is a stored event definition the index could not use (its spec
// does not decode, or a filter does not compile). It is left out of
// matching and reported, never guessed at.
type Problem struct {
	DefinitionID string
	ContentHash  string
	Err          error
}

func (p Problem) Error() string {
	return fmt.Sprintf("definition %s: %v", p.DefinitionID, p.Err)
}

// Index matches events to event definitions. It is immutable once built,
// so one Index can be used by any number of goroutines and replaced
// atomically when definitions change.
//
// Subjects are matched through a trie over subject tokens: each
// definition's event_type is a path of tokens in which `*` is its own child
// and `>` marks the node whose definitions match any non-empty remainder.
// An event walks the trie once per matching branch, so the cost depends on
// the number of subject tokens and wildcard branches, not on the number of
// definitions. Where many definitions share one subject pattern (a team of
// hooks on org.repo.commit.pushed, each for one repository), the node also
// keys them by the value of their most common literal filter, so only the
// definitions whose literal equals the event's value are looked at.
//
// Filters (dotted payload paths -> globs, any of them) are checked on the
// candidates; see valueTexts for how paths, arrays and non-string values
// are read.
type Index struct {
	opts    IndexOptions
	entries []*entry // every live event definition, sorted by ID
	root    *node
	// enabled is the number of entries in the trie.
	enabled  int
	problems []Problem
	// schemas are the compiled payload schemas by event type name.
	schemas map[string]*eventSchema

	// syncID is the store's last sync when the definitions were listed;
	// the router reloads when it changes.
	syncID   string
	loadedAt time.Time
}

// entry is one event definition, compiled. Entries are immutable and
// reused across reloads while the definition's content hash is unchanged.
type entry struct {
	id      string
	hash    string
	enabled bool
	def     *definition.Definition
	pattern []string  // event_type tokens
	filters []filter  // sorted by path
	rules   ruleCache // compiled on the first Explain
}

type filter struct {
	path     string
	segs     []string
	patterns []valuePattern
	// anyValue: one of the patterns is "*", so presence is enough.
	anyValue bool
}

// valuePattern is one glob of a filter, with the common shapes (a literal,
// a lone star) recognised so they skip the glob matcher.
type valuePattern struct {
	raw     string
	literal bool
	text    string // the literal value when literal
	glob    definition.Glob
}

func (p *valuePattern) match(s string) bool {
	if p.literal {
		return s == p.text
	}
	return p.glob.Match(s)
}

// NewIndex builds an index from stored definitions. Only live (not removed)
// event definitions are kept; disabled ones are kept for Explain but never
// match. Definitions that cannot be compiled are reported by Problems.
func NewIndex(defs []store.Definition, opts IndexOptions) *Index {
	return newIndex(defs, opts, nil)
}

func newIndex(defs []store.Definition, opts IndexOptions, prev *Index) *Index {
	ix := &Index{opts: opts.withDefaults(), root: &node{}}
	var prevSchemas map[string]*eventSchema
	if prev != nil {
		prevSchemas = prev.schemas
	}
	ix.schemas, ix.problems = compileEventSchemas(opts.EventTypes, prevSchemas)
	var reuse map[string]*entry
	if prev != nil {
		reuse = make(map[string]*entry, len(prev.entries))
		for _, e := range prev.entries {
			reuse[e.id] = e
		}
	}
	for _, d := range defs {
		if d.TriggerType != store.TriggerEvent || d.Removed() {
			continue
		}
		if e, ok := reuse[d.ID]; ok && e.hash == d.ContentHash && e.enabled == d.Enabled {
			ix.entries = append(ix.entries, e)
			continue
		}
		e, err := compileEntry(d)
		if err != nil {
			ix.problems = append(ix.problems, Problem{DefinitionID: d.ID, ContentHash: d.ContentHash, Err: err})
			continue
		}
		ix.entries = append(ix.entries, e)
	}
	slices.SortFunc(ix.entries, func(a, b *entry) int { return strings.Compare(a.id, b.id) })
	ix.entries = slices.CompactFunc(ix.entries, func(a, b *entry) bool { return a.id == b.id })

	// Insert in ID order, so each bucket lists its definitions in ID order
	// and matches come out sorted after a sort of entry positions.
	var buckets []*bucket
	for i, e := range ix.entries {
		if !e.enabled {
			continue
		}
		ix.enabled++
		b := ix.root.insert(e.pattern)
		if len(b.all) == 0 {
			buckets = append(buckets, b)
		}
		b.all = append(b.all, int32(i))
	}
	for _, b := range buckets {
		b.build(ix.entries)
	}
	return ix
}

func compileEntry(d store.Definition) (*entry, error) {
	def, err := definition.FromCanonicalJSON(d.Spec)
	if err != nil {
		return nil, fmt.Errorf("stored spec does not decode: %w", err)
	}
	if def.Trigger.Type != definition.TriggerEvent {
		return nil, fmt.Errorf("stored as an event definition but its trigger is %q", def.Trigger.Type)
	}
	if err := definition.ValidateSubjectPattern(def.Trigger.EventType); err != nil {
		return nil, fmt.Errorf("trigger.event_type: %w", err)
	}
	e := &entry{
		id:      d.ID,
		hash:    d.ContentHash,
		enabled: d.Enabled, // the store's column is what sync decided
		def:     def,
		pattern: strings.Split(def.Trigger.EventType, "."),
	}
	for _, path := range slices.Sorted(mapKeys(def.Trigger.Filters)) {
		globs := def.Trigger.Filters[path]
		if path == "" || len(globs) == 0 {
			return nil, fmt.Errorf("trigger.filters.%s: empty path or no globs", path)
		}
		f := filter{path: path, segs: strings.Split(path, ".")}
		for _, g := range globs {
			p, err := compilePattern(g)
			if err != nil {
				return nil, fmt.Errorf("trigger.filters.%s: %w", path, err)
			}
			if g == "*" {
				f.anyValue = true
			}
			f.patterns = append(f.patterns, p)
		}
		e.filters = append(e.filters, f)
	}
	return e, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func compilePattern(raw string) (valuePattern, error) {
	g, err := definition.CompileGlob(raw)
	if err != nil {
		return valuePattern{}, err
	}
	p := valuePattern{raw: raw, glob: g}
	if text, ok := literalGlob(raw); ok {
		p.literal, p.text = true, text
	}
	return p, nil
}

// literalGlob returns the value a glob without wildcards matches, with its
// escapes removed.
func literalGlob(raw string) (string, bool) {
	if !strings.ContainsAny(raw, `*?\`) {
		return raw, true
	}
	var sb strings.Builder
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '*', '?':
			return "", false
		case '\\':
			if i+1 >= len(raw) {
				return "", false
			}
			i++
			sb.WriteByte(raw[i])
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String(), true
}

// matchFilters reports whether every filter accepts the payload, and if
// not, the index of the first that does not.
func (e *entry) matchFilters(payload map[string]any) (bool, int) {
	for i := range e.filters {
		if !e.filters[i].match(payload) {
			return false, i
		}
	}
	return true, -1
}

func (f *filter) match(payload map[string]any) bool {
	if v, ok := lookupSimple(payload, f.segs); ok {
		if f.anyValue {
			return true
		}
		if text, ok := scalarText(v); ok {
			return f.matchText(text)
		}
	}
	// Arrays on the way, an array or object at the end: the general walk.
	found := false
	eachValueText(payload, f.segs, func(text string) bool {
		if f.anyValue || f.matchText(text) {
			found = true
			return false
		}
		return true
	})
	return found
}

func (f *filter) matchText(s string) bool {
	for i := range f.patterns {
		if f.patterns[i].match(s) {
			return true
		}
	}
	return false
}

// node is a trie node over subject tokens.
type node struct {
	children map[string]*node
	star     *node
	// here holds the definitions whose pattern ends at this node; rest
	// those whose pattern continues with `>` from this node (they need at
	// least one more token).
	here, rest *bucket
}

func (n *node) insert(pattern []string) *bucket {
	for i, tok := range pattern {
		if tok == ">" && i == len(pattern)-1 {
			if n.rest == nil {
				n.rest = &bucket{}
			}
			return n.rest
		}
		var next *node
		if tok == "*" {
			if n.star == nil {
				n.star = &node{}
			}
			next = n.star
		} else {
			if n.children == nil {
				n.children = map[string]*node{}
			}
			next = n.children[tok]
			if next == nil {
				next = &node{}
				n.children[tok] = next
			}
		}
		n = next
	}
	if n.here == nil {
		n.here = &bucket{}
	}
	return n.here
}

// collect appends the positions of the candidate entries for a subject.
func (n *node) collect(toks []string, payload map[string]any, out []int32) []int32 {
	if n.rest != nil && len(toks) > 0 {
		out = n.rest.collect(payload, out)
	}
	if len(toks) == 0 {
		if n.here != nil {
			out = n.here.collect(payload, out)
		}
		return out
	}
	if c := n.children[toks[0]]; c != nil {
		out = c.collect(toks[1:], payload, out)
	}
	if n.star != nil {
		out = n.star.collect(toks[1:], payload, out)
	}
	return out
}

// bucket holds the definitions that share one subject pattern. When there
// are many, the path most of them filter on with keyable globs (literals,
// globs with a literal prefix such as "team-*" or a literal suffix such as
// "*-api") keys them: exact maps a literal to the definitions accepting
// it, prefix and suffix map a glob's literal prefix or suffix to its
// definitions, and unkeyed holds the rest. An event then looks up its
// value, and the value's prefixes and suffixes of the lengths present,
// instead of checking every definition.
type bucket struct {
	all        []int32
	keySegs    []string
	exact      map[string][]int32
	prefix     map[string][]int32
	prefixLens []int // distinct lengths of the keys of prefix, ascending
	suffix     map[string][]int32
	suffixLens []int
	unkeyed    []int32
}

func (b *bucket) build(entries []*entry) {
	if len(b.all) < keyedMin {
		return
	}
	counts := map[string]int{}
	for _, i := range b.all {
		for fi := range entries[i].filters {
			if f := &entries[i].filters[fi]; keyable(f) {
				counts[f.path]++
			}
		}
	}
	best, bestN := "", 0
	for path, n := range counts {
		if n > bestN || (n == bestN && path < best) {
			best, bestN = path, n
		}
	}
	if bestN < keyedMin/2 {
		return
	}
	b.keySegs = strings.Split(best, ".")
	b.exact = map[string][]int32{}
	b.prefix = map[string][]int32{}
	b.suffix = map[string][]int32{}
	add := func(m map[string][]int32, key string, i int32) {
		if l := m[key]; len(l) == 0 || l[len(l)-1] != i {
			m[key] = append(l, i)
		}
	}
	for _, i := range b.all {
		var key *filter
		for fi := range entries[i].filters {
			if f := &entries[i].filters[fi]; f.path == best && keyable(f) {
				key = f
			}
		}
		if key == nil {
			b.unkeyed = append(b.unkeyed, i)
			continue
		}
		for _, p := range key.patterns {
			if p.literal {
				add(b.exact, p.text, i)
				continue
			}
			if pre := globPrefix(p.raw); pre != "" {
				add(b.prefix, pre, i)
				if !slices.Contains(b.prefixLens, len(pre)) {
					b.prefixLens = append(b.prefixLens, len(pre))
				}
				continue
			}
			suf := globSuffix(p.raw)
			add(b.suffix, suf, i)
			if !slices.Contains(b.suffixLens, len(suf)) {
				b.suffixLens = append(b.suffixLens, len(suf))
			}
		}
	}
	slices.Sort(b.prefixLens)
	slices.Sort(b.suffixLens)
}

// keyable: every glob of the filter is a literal, or starts or ends with
// one.
func keyable(f *filter) bool {
	for _, p := range f.patterns {
		if !p.literal && globPrefix(p.raw) == "" && globSuffix(p.raw) == "" {
			return false
		}
	}
	return true
}

// globSuffix is the literal text a glob ends with (after its last
// wildcard), escapes removed.
func globSuffix(raw string) string {
	var sb strings.Builder
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '*', '?':
			sb.Reset()
		case '\\':
			if i+1 < len(raw) {
				i++
				sb.WriteByte(raw[i])
			}
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// globPrefix is the literal text a glob starts with, escapes removed.
func globPrefix(raw string) string {
	var sb strings.Builder
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '*', '?':
			return sb.String()
		case '\\':
			if i+1 < len(raw) {
				i++
				sb.WriteByte(raw[i])
			}
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

func (b *bucket) collect(payload map[string]any, out []int32) []int32 {
	if b.exact == nil {
		return append(out, b.all...)
	}
	out = append(out, b.unkeyed...)
	if v, ok := lookupSimple(payload, b.keySegs); ok {
		if text, ok := scalarText(v); ok {
			return b.lookup(text, out)
		}
	}
	eachValueText(payload, b.keySegs, func(text string) bool {
		out = b.lookup(text, out)
		return true
	})
	return out
}

func (b *bucket) lookup(text string, out []int32) []int32 {
	out = append(out, b.exact[text]...)
	for _, l := range b.prefixLens {
		if l > len(text) {
			break
		}
		out = append(out, b.prefix[text[:l]]...)
	}
	for _, l := range b.suffixLens {
		if l > len(text) {
			break
		}
		out = append(out, b.suffix[text[len(text)-l:]]...)
	}
	return out
}

// Match returns the enabled definitions whose subject pattern and filters
// all accept the event, sorted by definition ID. payload is the decoded
// JSON object (DecodePayload keeps numbers exact). The loop guard is not
// applied here: see Guard.
func (ix *Index) Match(subject string, payload map[string]any) []Match {
	if ix == nil || ix.enabled == 0 {
		return nil
	}
	var tokBuf [16]string
	toks, ok := splitSubject(subject, tokBuf[:0])
	if !ok {
		return nil
	}
	var candBuf [16]int32
	cands := ix.root.collect(toks, payload, candBuf[:0])
	if len(cands) == 0 {
		return nil
	}
	if len(cands) > 1 {
		slices.Sort(cands)
		cands = slices.Compact(cands)
	}
	var out []Match
	for _, i := range cands {
		e := ix.entries[i]
		if ok, _ := e.matchFilters(payload); ok {
			out = append(out, Match{DefinitionID: e.id, Definition: e.def})
		}
	}
	return out
}

// splitSubject splits a concrete subject into tokens without allocating
// for subjects of up to 16 tokens. Empty tokens make it invalid.
func splitSubject(s string, buf []string) ([]string, bool) {
	if s == "" {
		return nil, false
	}
	for {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return append(buf, s), true
		}
		if i == 0 {
			return nil, false
		}
		buf = append(buf, s[:i])
		s = s[i+1:]
		if s == "" {
			return nil, false
		}
	}
}

// Len is the number of live event definitions in the index, enabled or
// not.
func (ix *Index) Len() int { return len(ix.entries) }

// Enabled is the number of definitions that can match.
func (ix *Index) Enabled() int { return ix.enabled }

// Problems lists the event definitions left out because they could not be
// compiled.
func (ix *Index) Problems() []Problem { return slices.Clone(ix.problems) }

// SyncID is the store's last sync when the index was loaded by a Router
// (empty for an index built by NewIndex).
func (ix *Index) SyncID() string { return ix.syncID }

// LoadedAt is when a Router loaded the index.
func (ix *Index) LoadedAt() time.Time { return ix.loadedAt }

// DecodePayload decodes an event payload that must be a JSON object, with
// numbers kept as json.Number so filters see their exact text. Anything
// else (not JSON, an array, a string, null, trailing data), a payload over
// limits.MaxEventPayload bytes or nested deeper than limits.MaxPayloadDepth
// is an error (errPayloadTooLarge, errPayloadTooDeep).
func DecodePayload(data []byte) (map[string]any, error) {
	return decodePayload(data, limits.MaxEventPayload)
}

func decodePayload(data []byte, maxBytes int) (map[string]any, error) {
	if len(data) > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, over the %d-byte limit", errPayloadTooLarge, len(data), maxBytes)
	}
	i := 0
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	if i == len(data) {
		return nil, errEmptyPayload
	}
	if data[i] != '{' {
		if !json.Valid(data) {
			return nil, errNotJSON
		}
		return nil, errNotObject
	}
	if err := checkDepth(data[i:], limits.MaxPayloadDepth); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data[i:]))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", errNotJSON, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the object", errNotJSON)
	}
	return m, nil
}

// checkDepth walks the JSON tokens (nothing but the keys of the open
// objects is kept) and fails as soon as objects and arrays nest deeper than
// maxDepth, or an object gives a key twice. Syntax errors are left to the
// decoder that follows.
func checkDepth(data []byte, maxDepth int) error {
	type frame struct {
		object, wantKey bool
		keys            map[string]bool
	}
	var open []frame
	valueDone := func() {
		if n := len(open); n > 0 && open[n-1].object {
			open[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil //nolint:nilerr // syntax errors are left to the decoder that follows
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(open)+1 > maxDepth {
				return fmt.Errorf("%w: nested deeper than %d levels", errPayloadTooDeep, maxDepth)
			}
			obj := tok == json.Delim('{')
			open = append(open, frame{object: obj, wantKey: obj, keys: map[string]bool{}})
		case json.Delim('}'), json.Delim(']'):
			open = open[:len(open)-1]
			if len(open) == 0 {
				return nil
			}
			valueDone()
		default:
			top := &open[len(open)-1]
			if key, ok := tok.(string); ok && top.object && top.wantKey {
				if top.keys[key] {
					return fmt.Errorf("%w: %q", errPayloadDuplicateKey, clip(key, 64))
				}
				top.keys[key], top.wantKey = true, false
				continue
			}
			valueDone()
		}
	}
}

// LoadIndex reads the live event definitions from the store and builds an
// index, for processes that explain events without running the router
// (the API role). It costs one list of the event definitions.
func LoadIndex(ctx context.Context, st DefinitionStore, opts IndexOptions) (*Index, error) {
	start := time.Now()
	res, err := st.LastSyncResult(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("router: reading the last sync: %w", err)
	}
	defs, err := st.ListDefinitions(ctx, store.DefinitionFilter{TriggerType: store.TriggerEvent})
	if err != nil {
		return nil, fmt.Errorf("router: listing event definitions: %w", err)
	}
	if opts.EventTypes, err = st.ListEventTypes(ctx, store.EventTypeFilter{}); err != nil {
		return nil, fmt.Errorf("router: listing event types: %w", err)
	}
	ix := NewIndex(defs, opts)
	ix.syncID, ix.loadedAt = res.SyncID, start
	return ix, nil
}
