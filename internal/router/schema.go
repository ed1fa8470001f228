package router

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/coulomb/activity-core/internal/store"
)

// Schema modes (ACTIVITY_EVENT_SCHEMA_MODE; docs/definitions.md#event-types).
const (
	// schemaEnforce: an event whose payload does not conform to its event
	// type's schema is acked, counted and not routed (the default).
	schemaEnforce = "enforce"
	// schemaWarn: such an event is routed, and counted and logged.
	schemaWarn = "warn"

	// schemaModeDefault is the mode when none is set.
	schemaModeDefault = schemaEnforce

	maxSchemaErrors    = 5
	maxSchemaErrorText = 200
)

// validSchemaMode reports whether m is a schema mode ("" is the default).
func validSchemaMode(m string) bool { return m == "" || m == schemaEnforce || m == schemaWarn }

// schemaError is a payload that does not conform to the JSON Schema of
// the event type named by its subject.
type schemaError struct {
	EventType string
	// Problems are "<JSON pointer>: <message>", at most maxSchemaErrors.
	Problems []string
}

func (e *schemaError) Error() string {
	return fmt.Sprintf("payload does not conform to the schema of event type %s: %s", e.EventType, strings.Join(e.Problems, "; "))
}

// eventSchema is an event type's schema compiled for validation; compiled
// once per content hash and reused across index reloads.
type eventSchema struct {
	hash   string
	schema *jsonschema.Schema
}

// compileEventSchemas compiles the schema of every live event type that has
// one. An event type whose stored schema does not compile (sync checks it,
// so this means a store written by something else) is a Problem and
// validates nothing.
func compileEventSchemas(types []store.EventType, prev map[string]*eventSchema) (map[string]*eventSchema, []Problem) {
	out := map[string]*eventSchema{}
	var problems []Problem
	for _, et := range types {
		if et.Removed() || len(et.Schema) == 0 {
			continue
		}
		if p, ok := prev[et.Name]; ok && p.hash == et.ContentHash {
			out[et.Name] = p
			continue
		}
		s, err := compileSchema(et.Schema)
		if err != nil {
			problems = append(problems, Problem{DefinitionID: "event type " + et.Name, ContentHash: et.ContentHash,
				Err: fmt.Errorf("schema does not compile: %w", err)})
			continue
		}
		out[et.Name] = &eventSchema{hash: et.ContentHash, schema: s}
	}
	return out, problems
}

func compileSchema(raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	// A stored schema is self-contained: no $ref leaves it (no files, no
	// network).
	c.UseLoader(jsonschema.SchemeURLLoader{})
	if err := c.AddResource("event-type.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("event-type.json")
}

// CheckSchema validates a decoded payload against the schema of the event
// type its subject names; nil when it conforms or the subject has no
// schema. The error is a *schemaError.
func (ix *Index) CheckSchema(subject string, payload map[string]any) error {
	if ix == nil {
		return nil
	}
	s := ix.schemas[subject]
	if s == nil {
		return nil
	}
	err := s.schema.Validate(jsonValue(payload))
	if err == nil {
		return nil
	}
	se := &schemaError{EventType: subject}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		se.Problems = []string{clip(err.Error(), maxSchemaErrorText)}
		return se
	}
	for _, u := range ve.BasicOutput().Errors {
		if u.Error == nil {
			continue
		}
		if len(se.Problems) == maxSchemaErrors {
			se.Problems = append(se.Problems, "…")
			break
		}
		loc := cmp.Or(u.InstanceLocation, "/")
		se.Problems = append(se.Problems, loc+": "+clip(u.Error.String(), maxSchemaErrorText))
	}
	return se
}

// jsonValue turns the payload into the types the validator reads (it
// takes map[string]any as is; a typed nil map would read as null).
func jsonValue(payload map[string]any) any {
	if payload == nil {
		return map[string]any{}
	}
	return payload
}

// clip cuts s to n bytes, marking the cut.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
