package importer

import (
	"fmt"
	"strconv"
	"strings"
)

// parseCrontabField reads one crontab time field with Vixie cron's meaning
// (cronie and Debian's cron read it the same way). It returns the set, and
// a note when the field uses a form crontab implementations disagree on.
func parseCrontabField(text string, f *cronField) (set, string, error) {
	hi := f.hi
	if f == fieldDow {
		hi = 7 // crontab accepts 7 for Sunday
	}
	var s set
	var note string
	for _, item := range strings.Split(text, ",") {
		if item == "" {
			return 0, "", fmt.Errorf("%s %q: empty list item", f.name, text)
		}
		base, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return 0, "", fmt.Errorf("%s %q: step %q must be a positive number", f.name, item, stepText)
			}
			step = n
		}
		var lo, top int
		switch {
		case base == "*":
			lo, top = f.lo, hi
		case strings.Contains(base, "-"):
			a, b, _ := strings.Cut(base, "-")
			var err error
			if lo, err = crontabValue(a, f, hi); err != nil {
				return 0, "", err
			}
			if top, err = crontabValue(b, f, hi); err != nil {
				return 0, "", err
			}
			if lo > top {
				return 0, "", fmt.Errorf("%s %q: range runs backwards; crontab ranges cannot wrap (write e.g. 22-23,0-2)", f.name, item)
			}
		default:
			v, err := crontabValue(base, f, hi)
			if err != nil {
				return 0, "", err
			}
			lo, top = v, v
			if hasStep {
				// Vixie cron rejects "v/n"; cronie and Temporal read it as v-max/n.
				top = hi
				note = fmt.Sprintf("%s %q: a step after a single value is read as %d-%d/%d (cronie's reading; Vixie cron rejects it)", f.name, item, v, hi, step)
			}
		}
		for v := lo; v <= top; v += step {
			if f == fieldDow && v == 7 {
				s.add(0)
				continue
			}
			s.add(v)
		}
	}
	return s, note, nil
}

// crontabValue reads a number or a three-letter name.
func crontabValue(tok string, f *cronField, hi int) (int, error) {
	if tok == "" {
		return 0, fmt.Errorf("%s: missing value in a range", f.name)
	}
	if n, err := strconv.Atoi(tok); err == nil {
		if n < f.lo || n > hi {
			return 0, fmt.Errorf("%s: %d is out of range %d-%d", f.name, n, f.lo, hi)
		}
		return n, nil
	}
	if f.names == nil {
		return 0, fmt.Errorf("%s: %q is not a number", f.name, tok)
	}
	low := strings.ToLower(tok)
	for i, name := range f.names {
		if low == name {
			if f == fieldMonth {
				return i + 1, nil
			}
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s: %q is not a number or a three-letter name (%s)", f.name, tok, strings.Join(f.names, ", "))
}
