package importer

import (
	"bytes"
	"strings"

	"gopkg.in/yaml.v3"
)

func str(v string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	if strings.Contains(v, "\n") {
		n.Style = yaml.LiteralStyle
	}
	return n
}

func quoted(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Style: yaml.DoubleQuotedStyle}
}

type mapping struct{ n *yaml.Node }

func newMapping() mapping { return mapping{&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}} }

func (m mapping) set(key string, v *yaml.Node) {
	m.n.Content = append(m.n.Content, str(key), v)
}

// render writes the draft as a definition file: a comment saying where it
// came from and what to know, then the fields in the order docs/definitions.md uses.
// Defaults are left out so the file shows only what the import decided.
func render(d *draft) ([]byte, error) {
	root := newMapping()
	root.set("id", str(d.id))
	if d.description != "" {
		root.set("description", str(d.description))
	}
	tr := newMapping()
	tr.set("trigger_type", str("cron"))
	tr.set("cron_expression", quoted(d.cron))
	tr.set("timezone", str(d.timezone))
	if d.misfire != "" && d.misfire != "skip" {
		tr.set("misfire_policy", str(d.misfire))
	}
	if d.catchup > 0 {
		tr.set("catchup_window", str(fmtDuration(d.catchup)))
	}
	if d.jitter > 0 {
		tr.set("jitter", str(fmtDuration(d.jitter)))
	}
	root.set("trigger", tr.n)

	in := newMapping()
	in.set("kind", str("shell"))
	if d.args != nil {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, a := range d.args {
			seq.Content = append(seq.Content, str(a))
		}
		in.set("args", seq)
	} else {
		in.set("cmd", str(d.cmd))
	}
	if d.workdir != "" {
		in.set("workdir", str(d.workdir))
	}
	if d.timeout > 0 {
		in.set("timeout", str(fmtDuration(d.timeout)))
	}
	if len(d.env) > 0 {
		env := newMapping()
		for _, e := range d.env {
			env.set(e.name, str(e.value))
		}
		in.set("env", env.n)
	}
	root.set("instruction", in.n)
	if d.onFailure != "" {
		root.set("on_failure", str(d.onFailure))
	}

	var head []string
	head = append(head, d.origin...)
	if len(d.notes) > 0 {
		head = append(head, "Notes:")
		for _, n := range d.notes {
			head = append(head, "- "+n)
		}
	}
	for i, h := range head {
		head[i] = "# " + strings.ReplaceAll(h, "\n", " ")
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root.n}}
	var buf bytes.Buffer
	buf.WriteString(strings.Join(head, "\n"))
	if len(head) > 0 {
		buf.WriteString("\n")
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
