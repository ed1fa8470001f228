package importer

import (
	"strconv"
	"strings"
)

// set is a set of small integers (0-63): the values one cron field matches.
type set uint64

func (s set) has(v int) bool { return v >= 0 && v < 64 && s&(1<<uint(v)) != 0 }
func (s *set) add(v int)     { *s |= 1 << uint(v) }

// span returns the set of lo..hi.
func span(lo, hi int) set {
	var s set
	for v := lo; v <= hi; v++ {
		s.add(v)
	}
	return s
}

// values lists the members in increasing order.
func (s set) values() []int {
	var out []int
	for v := 0; v < 64; v++ {
		if s.has(v) {
			out = append(out, v)
		}
	}
	return out
}

// cronField describes one of the five cron fields.
type cronField struct {
	name   string
	lo, hi int
	names  []string // names[i] is value lo+i (month) or i (day of week)
}

var (
	fieldMinute = &cronField{name: "minute", lo: 0, hi: 59}
	fieldHour   = &cronField{name: "hour", lo: 0, hi: 23}
	fieldDom    = &cronField{name: "day-of-month", lo: 1, hi: 31}
	fieldMonth  = &cronField{name: "month", lo: 1, hi: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}}
	// Day-of-week is 0-6 in the sets (Sunday = 0); crontab also accepts 7.
	fieldDow = &cronField{name: "day-of-week", lo: 0, hi: 6, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}}

	cronFields = [5]*cronField{fieldMinute, fieldHour, fieldDom, fieldMonth, fieldDow}
)

func (f *cronField) all() set { return span(f.lo, f.hi) }

// render writes a set the way a person would: "*", a */n or a-b/n step, or
// a list of values and ranges. Every form means the same in crontab and in
// Temporal.
func (f *cronField) render(s set) string {
	if s == f.all() {
		return "*"
	}
	vals := s.values()
	if len(vals) >= 3 {
		step := vals[1] - vals[0]
		progression := step > 1
		for i := 2; i < len(vals) && progression; i++ {
			progression = vals[i]-vals[i-1] == step
		}
		if progression {
			first, last := vals[0], vals[len(vals)-1]
			if first == f.lo && last+step > f.hi {
				return "*/" + strconv.Itoa(step)
			}
			return strconv.Itoa(first) + "-" + strconv.Itoa(last) + "/" + strconv.Itoa(step)
		}
	}
	var parts []string
	for i := 0; i < len(vals); {
		j := i
		for j+1 < len(vals) && vals[j+1] == vals[j]+1 {
			j++
		}
		switch {
		case j-i >= 2:
			parts = append(parts, strconv.Itoa(vals[i])+"-"+strconv.Itoa(vals[j]))
		case j-i == 1:
			parts = append(parts, strconv.Itoa(vals[i]), strconv.Itoa(vals[j]))
		default:
			parts = append(parts, strconv.Itoa(vals[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// schedule is a cron schedule as five sets, read with crontab's meaning.
type schedule struct {
	fields [5]set
	// text holds the fields as written, kept in the output when they mean
	// the same to Temporal (checked, see cronText).
	text [5]string
}
