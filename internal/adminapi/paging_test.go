package adminapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// definitionsPage is the part of GET /api/v1/definitions paging uses.
type definitionsPage struct {
	Definitions []struct {
		ID string `json:"id"`
	} `json:"definitions"`
	Next string `json:"next"`
	Prev string `json:"prev"`
}

func (e *env) definitionsPage(query string) definitionsPage {
	e.t.Helper()
	code, body := e.do("GET", "/api/v1/definitions?"+query, readToken, "")
	var page definitionsPage
	if code != 200 || json.Unmarshal(body, &page) != nil {
		e.t.Fatalf("GET /api/v1/definitions?%s: %d %s", query, code, body)
	}
	return page
}

func (p definitionsPage) ids() []string {
	var out []string
	for _, d := range p.Definitions {
		out = append(out, d.ID)
	}
	return out
}

func TestDefinitionsPaging(t *testing.T) {
	e := newEnv(t, adminToken, readToken)
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("t.p%d", i)
		e.write(id+".yaml", "id: "+id+"\nenabled: "+fmt.Sprint(i%2 == 0)+"\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n")
		want = append(want, id)
	}
	if code, body := e.do("POST", "/admin/sync", adminToken, ""); code != 200 {
		t.Fatalf("sync: %d %s", code, body)
	}

	// Forward with next, then back with prev.
	var got []string
	var pages []definitionsPage
	query := "limit=3"
	for range 10 {
		page := e.definitionsPage(query)
		pages = append(pages, page)
		got = append(got, page.ids()...)
		if page.Next == "" {
			break
		}
		query = "limit=3&after=" + url.QueryEscape(page.Next)
	}
	if !slices.Equal(got, want) || len(pages) != 3 || pages[0].Prev != "" {
		t.Fatalf("pages of 3: %v in %d pages (first prev %q), want %v", got, len(pages), pages[0].Prev, want)
	}
	back := e.definitionsPage("limit=3&before=" + url.QueryEscape(pages[2].Prev))
	if !slices.Equal(back.ids(), pages[1].ids()) || back.Next == "" || back.Prev == "" {
		t.Errorf("back from the last page: %+v, want %v with next and prev", back, pages[1].ids())
	}

	// Filters page too; the default page holds everything here.
	if page := e.definitionsPage("enabled=true&limit=2&after=" + url.QueryEscape(pages[0].Next)); !slices.Equal(page.ids(), []string{"t.p4", "t.p6"}) {
		t.Errorf("enabled, after the first page: %v, want [t.p4 t.p6]", page.ids())
	}
	if page := e.definitionsPage(""); len(page.ids()) != 7 || page.Next != "" {
		t.Errorf("default page: %v next %q", page.ids(), page.Next)
	}

	// Bad paging input: 400, naming the parameter.
	for _, tc := range []struct{ query, want string }{
		{"/api/v1/definitions?after=garbage", `after="garbage" is not a cursor`},
		{"/api/v1/definitions?before=garbage", `before="garbage" is not a cursor`},
		{"/api/v1/definitions?after=" + url.QueryEscape(pages[0].Next) + "&before=" + url.QueryEscape(pages[0].Next), "after and before are both set"},
		{"/api/v1/definitions?limit=0", `limit="0" must be a number from 1 to 1000`},
		{"/api/v1/definitions?limit=1001", `limit="1001"`},
		{"/api/v1/runs?before=garbage", `before="garbage" is not a cursor`},
		// A definition cursor is not a run cursor.
		{"/api/v1/runs?before=" + url.QueryEscape(pages[0].Next), "before="},
	} {
		code, body := e.do("GET", tc.query, readToken, "")
		var doc struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if code != 400 || json.Unmarshal(body, &doc) != nil || doc.Error.Code != "bad_request" || !strings.Contains(doc.Error.Message, tc.want) {
			t.Errorf("GET %s: %d %s, want 400 saying %s", tc.query, code, body, tc.want)
		}
	}
}
