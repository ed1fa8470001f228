package definition

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// EventTypesDir is the folder name that marks event-type files inside a
// definitions directory.
const EventTypesDir = "event-types"

// ParseEventType reads one event-type file: name (a concrete NATS subject),
// description, and an optional JSON Schema of the payload, which must
// itself compile.
func ParseEventType(file string, data []byte) (*EventType, error) {
	d := &decoder{file: file}
	root := d.document(data)
	if root == nil {
		return nil, errOrNil(d.errs)
	}
	f, _ := d.mapping(root, "")
	d.allowOnly(f, "", []string{"name", "description", "schema"}, "")
	et := &EventType{}
	if n := f.get("name"); n != nil {
		if v, ok := d.str(n, "name"); ok {
			if err := ValidateSubject(v); err != nil {
				d.errorf(n, "name", "%v", err)
			}
			et.Name = v
			et.Source.Line, et.Source.Column = n.Line, n.Column
		}
	} else {
		d.errorf(root, "name", "is required: the event subject, e.g. org.repo.commit.pushed")
	}
	if n := f.get("description"); n != nil {
		et.Description, _ = d.str(n, "description")
	}
	if n := f.get("schema"); n != nil {
		if v, ok := d.value(n, "schema"); ok {
			b, err := json.Marshal(v)
			if err != nil {
				d.errorf(n, "schema", "cannot be written as JSON: %v", err)
			} else if err := compileSchema(b); err != nil {
				d.errorf(n, "schema", "is not a valid JSON Schema: %v", err)
			} else {
				et.Schema = b
			}
		}
	}
	if len(d.errs) > 0 {
		return nil, errOrNil(d.errs)
	}
	et.Source.File = file
	return et, nil
}

// compileSchema checks that b is a JSON Schema the validator accepts.
func compileSchema(b []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	// The router compiles stored schemas with no loader: a $ref that
	// leaves the schema (a file, a URL) is refused here, at sync.
	c.UseLoader(jsonschema.SchemeURLLoader{})
	if err := c.AddResource("event-type.json", doc); err != nil {
		return err
	}
	if _, err := c.Compile("event-type.json"); err != nil {
		// The validator's message is a tree over several lines, headed by
		// a line naming a synthetic URL; keep the leaves on one line.
		var leaves []string
		for _, line := range strings.Split(err.Error(), "\n")[1:] {
			if line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- ")); line != "" && !strings.HasSuffix(line, "failed") {
				leaves = append(leaves, line)
			}
		}
		if len(leaves) == 0 {
			return err
		}
		return errors.New(strings.Join(leaves, "; "))
	}
	return nil
}
