package simulate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/coulomb/activity-core/internal/definition"
)

// Fixture is the value one context source returns in a simulation.
type Fixture struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	// From is where the value was written: file:line.
	From string `json:"from"`
}

// Fixtures are context values keyed by bind name, by URL (http_get, as
// written in the definition) or by kind (state_hub.health,
// state_hub.repos). A bind name is shared by every definition that uses
// it; a URL or kind key is more specific and wins.
type Fixtures struct {
	// Path is what --context named ("" when none).
	Path  string
	IsDir bool
	byKey map[string]Fixture
}

// Len is the number of fixtures.
func (f *Fixtures) Len() int {
	if f == nil {
		return 0
	}
	return len(f.byKey)
}

// Get returns the fixture with this key.
func (f *Fixtures) Get(key string) (Fixture, bool) {
	if f == nil {
		return Fixture{}, false
	}
	x, ok := f.byKey[key]
	return x, ok
}

// loadFixtures reads a fixtures file (YAML or JSON: a mapping of key to
// value) or every *.yaml, *.yml and *.json file of a directory (not
// recursive, hidden files skipped), merged; a key defined twice is an
// error naming both places.
func loadFixtures(path string) (*Fixtures, []*definition.Error) {
	fx := &Fixtures{Path: path, byKey: map[string]Fixture{}}
	info, err := os.Stat(path)
	if err != nil {
		return fx, []*definition.Error{{File: path, Message: "cannot read fixtures: " + pathErr(err)}}
	}
	files := []string{path}
	if info.IsDir() {
		fx.IsDir = true
		entries, err := os.ReadDir(path)
		if err != nil {
			return fx, []*definition.Error{{File: path, Message: "cannot read fixtures directory: " + pathErr(err)}}
		}
		files = files[:0]
		for _, e := range entries {
			name := e.Name()
			ext := strings.ToLower(filepath.Ext(name))
			if strings.HasPrefix(name, ".") || e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
				continue
			}
			files = append(files, filepath.Join(path, name))
		}
		sort.Strings(files)
	}
	var errs []*definition.Error
	for _, file := range files {
		errs = append(errs, fx.loadFile(file)...)
	}
	return fx, errs
}

func (fx *Fixtures) loadFile(file string) []*definition.Error {
	data, err := os.ReadFile(file)
	if err != nil {
		return []*definition.Error{{File: file, Message: "cannot read fixtures: " + pathErr(err)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []*definition.Error{{File: file, Message: "not valid YAML or JSON: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if len(doc.Content) == 0 {
		return nil // an empty file holds no fixtures
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return []*definition.Error{{File: file, Line: root.Line, Column: root.Column,
			Message: "a fixtures file is a mapping: bind name, URL or kind -> the value that context source returns, e.g. hub_health: {status: ok}"}}
	}
	var errs []*definition.Error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		fail := func(format string, args ...any) {
			errs = append(errs, &definition.Error{File: file, Line: k.Line, Column: k.Column, Field: k.Value, Message: fmt.Sprintf(format, args...)})
		}
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			fail("a fixture key must be a bind name, a URL or a context kind")
			continue
		}
		from := fmt.Sprintf("%s:%d", file, k.Line)
		if prev, dup := fx.byKey[k.Value]; dup {
			fail("fixture %q is also defined at %s: keep one", k.Value, prev.From)
			continue
		}
		raw, err := nodeJSON(v)
		if err != nil {
			fail("%v", err)
			continue
		}
		fx.byKey[k.Value] = Fixture{Key: k.Value, Value: raw, From: from}
	}
	return errs
}

// nodeJSON converts a YAML value to the JSON a context source would have
// returned.
func nodeJSON(n *yaml.Node) (json.RawMessage, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("cannot read the value: %v", err)
	}
	v, err := jsonable(v)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("the value cannot be written as JSON: %v", err)
	}
	return b, nil
}

// jsonable turns YAML's map[any]any (non-string keys) into an error and
// leaves everything else as is.
func jsonable(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			x, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			t[k] = x
		}
	case map[any]any:
		return nil, fmt.Errorf("a mapping inside the value has a key that is not a string: JSON objects only have string keys (quote it)")
	case []any:
		for i, e := range t {
			x, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			t[i] = x
		}
	}
	return v, nil
}
