package adminapi

import (
	"net/http"
	"strings"
	"testing"
)

// The explain body is one JSON object: anything after it is refused, not
// silently ignored.
func TestExplainRejectsDataAfterTheBody(t *testing.T) {
	e := newEnv(t, adminToken, readToken)
	for _, body := range []string{
		`{"subject":"org.x","payload":{}} garbage`,
		`{"subject":"org.x","payload":{}}{"subject":"org.y"}`,
		`{"subject":"org.x","payload":{}}]`,
	} {
		code, resp := e.do("POST", "/api/v1/events/explain", readToken, body)
		if code != http.StatusBadRequest || !strings.Contains(string(resp), "data after the JSON object") {
			t.Errorf("%s: got %d %s, want 400 naming the data after the object", body, code, resp)
		}
	}
	code, resp := e.do("POST", "/api/v1/events/explain", readToken, "{\"subject\":\"org.x\",\"payload\":{}}\n")
	if code != http.StatusOK {
		t.Errorf("trailing newline: got %d %s, want 200", code, resp)
	}
}
