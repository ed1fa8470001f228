package integration

import (
	"go.temporal.io/api/temporalproto"
	"google.golang.org/protobuf/proto"
)

// protojsonMarshal writes a history event the way the SDK's replayer reads
// it (Temporal's own JSON, with enum names in its style).
func protojsonMarshal(m proto.Message) ([]byte, error) {
	return temporalproto.CustomJSONMarshalOptions{}.Marshal(m)
}
