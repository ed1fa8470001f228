package definition

import _ "embed"

//go:embed schema.json
var jsonSchema []byte

// JSONSchema returns the JSON Schema (2020-12) of the definition format, as
// `activity-core schema` prints it for editors.
func JSONSchema() []byte { return jsonSchema }
