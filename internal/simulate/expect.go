package simulate

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/coulomb/activity-core/internal/definition"
)

// Expectations are the outcomes an expect file declares.
type Expectations struct {
	File   string
	Events []EventExpectation
	At     []AtExpectation
}

// EventExpectation is what one event must do to one event definition.
// Unset fields are not checked.
type EventExpectation struct {
	Line         int
	EventID      string
	DefinitionID string
	Matched      *bool
	Rule         *bool
	Runs         *bool
}

// AtExpectation is which definitions must (and must not) fire at a time or
// in a window.
type AtExpectation struct {
	Line   int
	Window Window
	Fire   []NameAt
	NoFire []NameAt
	// Exact: no definition outside Fire may fire.
	Exact bool
}

// NameAt is a definition id with the line it is written on.
type NameAt struct {
	ID   string
	Line int
}

// loadExpectations reads an expect file. Every problem is reported with
// its line; what parsed is returned.
func loadExpectations(file string) (*Expectations, []*definition.Error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, []*definition.Error{{File: file, Message: "cannot read expect file: " + pathErr(err)}}
	}
	return parseExpectations(file, data)
}

// parseExpectations is loadExpectations on the file's contents.
func parseExpectations(file string, data []byte) (*Expectations, []*definition.Error) {
	x := &Expectations{File: file}
	p := &expParser{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return x, []*definition.Error{{File: file, Message: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if len(doc.Content) == 0 {
		return x, []*definition.Error{{File: file, Message: "the expect file is empty: declare events: and/or at: (see docs/simulate.md)"}}
	}
	root := doc.Content[0]
	top, ok := p.mapping(root, "")
	if !ok {
		return x, p.errs
	}
	for _, kv := range top {
		switch kv.key.Value {
		case "events":
			x.Events = p.events(kv.val)
		case "at":
			x.At = p.at(kv.val)
		default:
			p.errorf(kv.key, kv.key.Value, "unknown key: an expect file has events: and at:")
		}
	}
	return x, p.errs
}

type expParser struct {
	file string
	errs []*definition.Error
}

type keyVal struct{ key, val *yaml.Node }

func (p *expParser) errorf(n *yaml.Node, field, format string, args ...any) {
	e := &definition.Error{File: p.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

func (p *expParser) mapping(n *yaml.Node, field string) ([]keyVal, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, field, "must be a mapping")
		return nil, false
	}
	var out []keyVal
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		f := strings.TrimPrefix(field+"."+k.Value, ".")
		if prev, dup := seen[k.Value]; dup {
			p.errorf(k, f, "is also written on line %d", prev)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, keyVal{k, n.Content[i+1]})
	}
	return out, true
}

func (p *expParser) boolean(n *yaml.Node, field string) *bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.errorf(n, field, "must be true or false")
		return nil
	}
	b, _ = strconv.ParseBool(n.Value)
	return &b
}

func (p *expParser) events(n *yaml.Node) []EventExpectation {
	var out []EventExpectation
	evs, ok := p.mapping(n, "events")
	if !ok {
		return nil
	}
	for _, ev := range evs {
		defs, ok := p.mapping(ev.val, "events."+ev.key.Value)
		if !ok {
			continue
		}
		for _, d := range defs {
			field := "events." + ev.key.Value + "." + d.key.Value
			e := EventExpectation{Line: d.key.Line, EventID: ev.key.Value, DefinitionID: d.key.Value}
			checks, ok := p.mapping(d.val, field)
			if !ok {
				continue
			}
			nerrs := len(p.errs)
			for _, c := range checks {
				switch c.key.Value {
				case "matched":
					e.Matched = p.boolean(c.val, field+".matched")
				case "rule":
					e.Rule = p.boolean(c.val, field+".rule")
				case "runs":
					e.Runs = p.boolean(c.val, field+".runs")
				default:
					p.errorf(c.key, field+"."+c.key.Value, "unknown check: use matched, rule and runs (true or false)")
				}
			}
			if len(p.errs) > nerrs {
				continue
			}
			if e.Matched == nil && e.Rule == nil && e.Runs == nil {
				p.errorf(d.key, field, "checks nothing: give matched, rule and/or runs")
				continue
			}
			out = append(out, e)
		}
	}
	return out
}

func (p *expParser) at(n *yaml.Node) []AtExpectation {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "at", "must be a list of {time: TIME or START/END, fire: [ids], no_fire: [ids]}")
		return nil
	}
	var out []AtExpectation
	for i, item := range n.Content {
		field := fmt.Sprintf("at[%d]", i)
		kvs, ok := p.mapping(item, field)
		if !ok {
			continue
		}
		a := AtExpectation{Line: item.Line}
		var haveTime, bad bool
		for _, kv := range kvs {
			switch kv.key.Value {
			case "time":
				w, err := ParseWindow(kv.val.Value)
				if kv.val.Kind != yaml.ScalarNode || err != nil {
					msg := "must be a time or a window"
					if err != nil {
						msg = err.Error()
					}
					p.errorf(kv.val, field+".time", "%s", msg)
					bad = true
					continue
				}
				a.Window, haveTime = w, true
			case "fire":
				a.Fire = p.names(kv.val, field+".fire")
			case "no_fire":
				a.NoFire = p.names(kv.val, field+".no_fire")
			case "exact":
				if b := p.boolean(kv.val, field+".exact"); b != nil {
					a.Exact = *b
				}
			default:
				p.errorf(kv.key, field+"."+kv.key.Value, "unknown key: use time, fire, no_fire and exact")
				bad = true
			}
		}
		if !haveTime {
			if !bad {
				p.errorf(item, field+".time", "is required: a time (2026-03-29T03:00:00Z) or a window (START/END or START/36h)")
			}
			continue
		}
		if len(a.Fire) == 0 && len(a.NoFire) == 0 && !a.Exact {
			p.errorf(item, field, "checks nothing: give fire and/or no_fire")
			continue
		}
		out = append(out, a)
	}
	return out
}

func (p *expParser) names(n *yaml.Node, field string) []NameAt {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, field, "must be a list of definition ids")
		return nil
	}
	var out []NameAt
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode || c.Value == "" {
			p.errorf(c, field, "must be a definition id")
			continue
		}
		out = append(out, NameAt{ID: c.Value, Line: c.Line})
	}
	return out
}

// CheckResult is one expectation compared with the trace.
type CheckResult struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Pass bool   `json:"pass"`
	// Subject names what was checked: "event e1 / def.id" or
	// "at 2026-03-29T03:00:00Z / def.id".
	Subject  string `json:"subject"`
	Check    string `json:"check"` // matched, rule, runs, fire, no_fire, exact
	Expected string `json:"expected"`
	Got      string `json:"got"`
	// Why is the trace's reason when it helps to read a failure.
	Why string `json:"why,omitempty"`
}

// String formats the result as a pass/fail line.
func (c CheckResult) String() string {
	verdict := "PASS"
	if !c.Pass {
		verdict = "FAIL"
	}
	s := fmt.Sprintf("%s:%d: %s %s: %s", c.File, c.Line, verdict, c.Subject, c.Check)
	if c.Pass {
		return s + " " + c.Got
	}
	s += fmt.Sprintf(": expected %s, got %s", c.Expected, c.Got)
	if c.Why != "" {
		s += " (" + c.Why + ")"
	}
	return s
}

// Check compares the expectations with the traces and the clock
// definitions. Expectations that name an unknown event or definition, or a
// definition of the wrong kind, are problems (not results).
func Check(x *Expectations, sim *Simulator, traces []EventTrace) ([]CheckResult, []*definition.Error) {
	c := &checker{x: x, sim: sim, byEvent: map[string]*EventTrace{}}
	for i := range traces {
		c.byEvent[traces[i].Event.ID] = &traces[i]
		c.ids = append(c.ids, traces[i].Event.ID)
	}
	for _, e := range x.Events {
		c.event(e)
	}
	for ai, a := range x.At {
		c.at(ai, a)
	}
	return c.res, c.errs
}

// checker holds what Check found so far: the results, and the problems
// of the expectations file itself.
type checker struct {
	x       *Expectations
	sim     *Simulator
	byEvent map[string]*EventTrace
	ids     []string // the events' ids, in the events file's order
	res     []CheckResult
	errs    []*definition.Error
}

func (c *checker) problem(line int, field, format string, args ...any) {
	c.errs = append(c.errs, &definition.Error{File: c.x.File, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// event checks one event expectation against the event's trace.
func (c *checker) event(e EventExpectation) {
	field := "events." + e.EventID + "." + e.DefinitionID
	tr, ok := c.byEvent[e.EventID]
	if !ok {
		c.problem(e.Line, "events."+e.EventID, "no event with id %q in the events file (ids: %s)", e.EventID, clipList(c.ids))
		return
	}
	def, ok := c.sim.Definition(e.DefinitionID)
	if !ok {
		c.problem(e.Line, field, "no valid definition with id %q was loaded", e.DefinitionID)
		return
	}
	if def.Trigger.Type != definition.TriggerEvent {
		c.problem(e.Line, field, "%s is a %s definition: event expectations name event definitions", def.ID, def.Trigger.Type)
		return
	}
	var dt *DefinitionTrace
	for i := range tr.Definitions {
		if tr.Definitions[i].DefinitionID == e.DefinitionID {
			dt = &tr.Definitions[i]
		}
	}
	if dt == nil {
		c.problem(e.Line, field, "definition %s has no trace for event %q", e.DefinitionID, e.EventID)
		return
	}
	subject := fmt.Sprintf("event %s / %s", e.EventID, e.DefinitionID)
	add := func(check string, want *bool, got string, why string) {
		if want == nil {
			return
		}
		w := strconv.FormatBool(*want)
		c.res = append(c.res, CheckResult{File: c.x.File, Line: e.Line, Pass: w == got, Subject: subject, Check: check, Expected: w, Got: got, Why: why})
	}
	add("matched", e.Matched, strconv.FormatBool(dt.Match.Matched), dt.Match.Reason)
	ruleGot, ruleWhy := "not evaluated", dt.Reason
	if dt.RulePassed != nil {
		ruleGot = strconv.FormatBool(*dt.RulePassed)
	}
	add("rule", e.Rule, ruleGot, ruleWhy)
	add("runs", e.Runs, strconv.FormatBool(dt.Runs()), dt.Reason)
}

// at checks the ai-th at expectation against the fires in its window.
func (c *checker) at(ai int, a AtExpectation) {
	rep := Fires(c.sim.Definitions(), a.Window)
	counts := map[string]int{}
	for _, d := range rep.Definitions {
		counts[d.DefinitionID] = d.Count
	}
	subject := "at " + a.Window.Text
	for _, n := range a.Fire {
		if !c.clockDefinition(n, fmt.Sprintf("at[%d].fire", ai)) {
			continue
		}
		k := counts[n.ID]
		c.res = append(c.res, CheckResult{File: c.x.File, Line: n.Line, Pass: k > 0, Subject: subject + " / " + n.ID, Check: "fire",
			Expected: "at least one fire", Got: fireCount(k), Why: fireWhy(rep, n.ID)})
	}
	for _, n := range a.NoFire {
		if !c.clockDefinition(n, fmt.Sprintf("at[%d].no_fire", ai)) {
			continue
		}
		k := counts[n.ID]
		c.res = append(c.res, CheckResult{File: c.x.File, Line: n.Line, Pass: k == 0, Subject: subject + " / " + n.ID, Check: "no_fire",
			Expected: "no fire", Got: fireCount(k), Why: fireWhy(rep, n.ID)})
	}
	if a.Exact {
		var extra []string
		for _, id := range rep.Firing() {
			if !slices.ContainsFunc(a.Fire, func(n NameAt) bool { return n.ID == id }) {
				extra = append(extra, id)
			}
		}
		got := "no other definition fires"
		if len(extra) > 0 {
			got = "also firing: " + strings.Join(extra, ", ")
		}
		c.res = append(c.res, CheckResult{File: c.x.File, Line: a.Line, Pass: len(extra) == 0, Subject: subject, Check: "exact",
			Expected: "only the listed definitions fire", Got: got})
	}
}

// clockDefinition reports whether n names a loaded definition that fires
// on a clock, and records a problem when it does not.
func (c *checker) clockDefinition(n NameAt, field string) bool {
	def, ok := c.sim.Definition(n.ID)
	switch {
	case !ok:
		c.problem(n.Line, field, "no valid definition with id %q was loaded", n.ID)
		return false
	case def.Trigger.Type == definition.TriggerEvent:
		c.problem(n.Line, field, "%s is an event definition: it fires on events, not on a clock", n.ID)
		return false
	}
	return true
}

func fireCount(n int) string {
	switch n {
	case 0:
		return "no fire"
	case 1:
		return "1 fire"
	}
	return fmt.Sprintf("%d fires", n)
}

func fireWhy(rep *AtReport, id string) string {
	for _, d := range rep.Definitions {
		if d.DefinitionID != id {
			continue
		}
		why := fmt.Sprintf("%s in %s", d.Schedule, d.Timezone)
		if len(d.Fires) > 0 {
			why += ", first " + d.Fires[0].Local
		}
		if d.Note != "" {
			why += "; " + d.Note
		}
		return why
	}
	return ""
}

func clipList(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	if len(ids) > 10 {
		return strings.Join(ids[:10], ", ") + fmt.Sprintf(", … %d more", len(ids)-10)
	}
	return strings.Join(ids, ", ")
}
