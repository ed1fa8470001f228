package notify

import "testing"

// forEachStore runs fn against every store the tests have.
func forEachStore(t *testing.T, fn func(t *testing.T, st outbox)) {
	t.Run("mem", func(t *testing.T) { fn(t, newMemStore()) })
}
