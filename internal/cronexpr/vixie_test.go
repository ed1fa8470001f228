package cronexpr

import "testing"

func TestVixieDifference(t *testing.T) {
	const (
		andOr = "day-of-month and day-of-week are both restricted: Temporal fires only when BOTH match (crontab fires when EITHER matches)"
		dst   = "fixed times between 01:00 and 03:59: on DST change days Temporal skips wall times that do not exist (crontab runs them right after the jump), and around the repeated hour it may fire twice or at shifted times (crontab runs each job once)"
	)
	tests := []struct{ expr, want string }{
		{"0 0 * * *", ""},
		{"@daily", ""},
		{"@weekly", ""},
		{"*/15 9-17 * * mon-fri", ""},
		{"0 0 1 * *", ""},
		{"0 0 */2 * mon", ""},  // crontab also ANDs when a day field starts with '*'
		{"0 0 1-31 * 0-7", ""}, // both restricted in text, but both complete: same result
		{"0 0 * * 7", ""},
		{"0 0 1 * mon", andOr},
		{"0 0 1-31 * mon", andOr}, // crontab: every day; Temporal: Mondays
		{"0 0 1,15 * 1-5", andOr},
		{"0 0 * * 1-7", `day-of-week "1-7": Temporal reads a range 1-7 as 1-6, so Sunday is dropped (crontab includes Sunday); write * or 0-6`},
		{"5/15 * * * *", `"5/15": Temporal reads v/n as v-max/n; crontab allows a step only after * or a range (write e.g. "5-59/15")`},
		{"0 0 * * 1/2", `"1/2": Temporal reads v/n as v-max/n; crontab allows a step only after * or a range (write e.g. "1-7/2")`},
		{"0 0 * sept thurs", `name "sept", "thurs": Temporal accepts any prefix of a month name (3+ letters) or day name (2+ letters); crontab accepts only the three-letter abbreviations (jan, mon)`},
		{"0 0 * jan mon", ""},
		{"0 0 * * * 2027", "6 fields: Temporal reads the 6th field as the year (crontab has 5 fields; Quartz and robfig/cron read 6 fields as seconds first)"},
		{"0 0 0 * * * *", "7 fields: Temporal reads them as second minute hour day-of-month month day-of-week year (crontab has neither seconds nor years)"},
		{"TZ=UTC 0 0 * * *", "the TZ=/CRON_TZ= prefix is a Temporal extension: crontab uses the system time zone (cronie sets CRON_TZ on a separate line)"},
		{"@every 15m", "@every is a Temporal interval (fixed durations counted from the Unix epoch, shifted by the optional /phase), not a crontab feature"},
		{"0 0 * * 5 # weekly report", "text after '#' is a comment in Temporal; crontab treats '#' as a comment only at the start of a line"},
		{"0 0 * * 5#3", `"5#3": Temporal starts a comment at the first '#', so this is read as "5" (there is no nth-weekday # syntax); crontab treats '#' as a comment only at the start of a line`},
		{"30 2 * * *", dst},
		{"0 1-3 * * *", dst},
		{"0 * * * *", ""},    // wildcard hour
		{"* 2 * * *", ""},    // wildcard minute: crontab also runs these by the new clock
		{"0 4,23 * * *", ""}, // outside 01:00-03:59
		{"0 2 1 * mon", andOr + "; " + dst},
		{"@reboot", "@reboot is a crontab-only macro: Temporal has no equivalent and rejects it"},
		{"0 24 * * *", ""}, // invalid: use Parse for the error
	}
	for _, tt := range tests {
		if got := VixieDifference(tt.expr); got != tt.want {
			t.Errorf("VixieDifference(%q)\n got: %q\nwant: %q", tt.expr, got, tt.want)
		}
	}
}
