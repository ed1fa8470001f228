package cronexpr

import (
	"fmt"
	"strings"
)

// VixieDifference returns a human-readable note on how Temporal will treat
// expr differently from a crontab (Vixie/ISC cron, cronie) line with the same
// text, or "" if there is no such difference. Several notes are joined with
// "; ". It exists so that validators and importers of existing crontabs can
// warn people whose intuition comes from crontab. The expression is read in
// the full Temporal dialect (as ParseTemporal reads it). An expression that
// Temporal rejects gets "", except for @reboot, which gets a note; use Parse or
// ParseTemporal to get the error.
func VixieDifference(expr string) string {
	p, err := parseTemporal(expr)
	if err != nil {
		if strings.TrimSpace(strings.SplitN(expr, "#", 2)[0]) == "@reboot" {
			return "@reboot is a crontab-only macro: Temporal has no equivalent and rejects it"
		}
		return ""
	}
	var notes []string
	if p.hadTZ {
		notes = append(notes, "the TZ=/CRON_TZ= prefix is a Temporal extension: crontab uses the system time zone (cronie sets CRON_TZ on a separate line)")
	}
	if p.hadEvery {
		notes = append(notes, "@every is a Temporal interval (fixed durations counted from the Unix epoch, shifted by the optional /phase), not a crontab feature")
		return strings.Join(notes, "; ")
	}
	s := p.sched
	switch len(p.fields) {
	case 6:
		notes = append(notes, "6 fields: Temporal reads the 6th field as the year (crontab has 5 fields; Quartz and robfig/cron read 6 fields as seconds first)")
	case 7:
		notes = append(notes, "7 fields: Temporal reads them as second minute hour day-of-month month day-of-week year (crontab has neither seconds nor years)")
	}
	f := p.fields
	if len(f) == 7 {
		f = f[1:] // drop seconds
	}
	minuteText, hourText, domText, dowText := f[0], f[1], f[2], f[4]
	// Vixie cron ORs the two day fields unless either one starts with '*'
	// (entry.c sets DOM_STAR/DOW_STAR; cron.c uses them). Temporal always ANDs.
	// The results differ unless both sets are complete.
	domAll := render(s.dom, fieldDom, false) == "*"
	dowAll := render(s.dow, fieldDow, false) == "*"
	if !strings.HasPrefix(domText, "*") && !strings.HasPrefix(dowText, "*") && !(domAll && dowAll) {
		notes = append(notes, "day-of-month and day-of-week are both restricted: Temporal fires only when BOTH match (crontab fires when EITHER matches)")
	}
	if p.sundayDropped != "" {
		notes = append(notes, fmt.Sprintf("day-of-week %q: Temporal reads a range 1-7 as 1-6, so Sunday is dropped (crontab includes Sunday); write * or 0-6", p.sundayDropped))
	}
	if len(p.stepNoRange) > 0 {
		notes = append(notes, fmt.Sprintf("%s: Temporal reads v/n as v-max/n; crontab allows a step only after * or a range (write e.g. %q)", quoteList(p.stepNoRange), stepNoRangeExample(p.stepNoRange[0], p)))
	}
	if len(p.longNames) > 0 {
		notes = append(notes, fmt.Sprintf("name %s: Temporal accepts any prefix of a month name (3+ letters) or day name (2+ letters); crontab accepts only the three-letter abbreviations (jan, mon)", quoteList(p.longNames)))
	}
	if p.gluedHash != "" {
		notes = append(notes, fmt.Sprintf("%q: Temporal starts a comment at the first '#', so this is read as %q (there is no nth-weekday # syntax); crontab treats '#' as a comment only at the start of a line", p.gluedHash, p.gluedBefore))
	} else if p.hadHash {
		notes = append(notes, "text after '#' is a comment in Temporal; crontab treats '#' as a comment only at the start of a line")
	}
	// Vixie cron runs fixed-time jobs (no '*' in minute or hour) that fall into
	// a skipped DST hour right after the jump, and runs them only once in a
	// repeated hour. Temporal skips nonexistent times and, around a repeated
	// hour, may fire twice or at shifted times (see the package documentation). DST changes happen between 01:00 and 04:00 local time in
	// almost every zone.
	if !strings.HasPrefix(minuteText, "*") && !strings.HasPrefix(hourText, "*") &&
		(s.hour.has(1) || s.hour.has(2) || s.hour.has(3)) {
		notes = append(notes, "fixed times between 01:00 and 03:59: on DST change days Temporal skips wall times that do not exist (crontab runs them right after the jump), and around the repeated hour it may fire twice or at shifted times (crontab runs each job once)")
	}
	return strings.Join(notes, "; ")
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, it := range items {
		q[i] = fmt.Sprintf("%q", it)
	}
	return strings.Join(q, ", ")
}

// stepNoRangeExample turns "5/15" into "5-59/15" for the field it came from.
func stepNoRangeExample(item string, p *parsed) string {
	v, step, _ := strings.Cut(item, "/")
	hiText := "max"
	fieldsInOrder := []*field{fieldMinute, fieldHour, fieldDom, fieldMonth, fieldDow, fieldYear}
	if len(p.fields) == 7 {
		fieldsInOrder = append([]*field{fieldSecond}, fieldsInOrder...)
	}
	for i, text := range p.fields {
		if i < len(fieldsInOrder) && containsItem(text, item) {
			hi := fieldsInOrder[i].max
			if fieldsInOrder[i].mode == modeDow {
				hi = 7
			}
			hiText = fmt.Sprint(hi)
			break
		}
	}
	return v + "-" + hiText + "/" + step
}

func containsItem(fieldText, item string) bool {
	for part := range strings.SplitSeq(fieldText, ",") {
		if part == item {
			return true
		}
	}
	return false
}
