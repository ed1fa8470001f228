package definition

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// CanonicalJSON is the definition's canonical form: every default filled
// in, maps with sorted keys, durations and times in one spelling. Two files
// that mean the same thing have the same canonical JSON, whatever their
// formatting, comments, key order or spelled-out defaults.
func (d *Definition) CanonicalJSON() []byte {
	b, err := json.Marshal(d)
	if err != nil {
		// Every field is a plain JSON value built by Parse; failing here
		// would be a programming error, not bad input.
		panic("definition: canonical JSON: " + err.Error())
	}
	return b
}

// ContentHash is the hex SHA-256 of the canonical JSON. Sync compares it to
// the stored hash to tell "unchanged" without comparing specs field by field.
func (d *Definition) ContentHash() string {
	sum := sha256.Sum256(d.CanonicalJSON())
	return hex.EncodeToString(sum[:])
}

// FromCanonicalJSON decodes a definition stored in canonical form.
func FromCanonicalJSON(b []byte) (*Definition, error) {
	var d Definition
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// ContentHash is the hex SHA-256 of the event type's canonical JSON.
func (e *EventType) ContentHash() string {
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
