// Package cronexpr parses cron expressions exactly the way Temporal's schedule
// server reads them, and predicts exactly when Temporal will fire them.
//
// activity-core turns definitions with a cron_expression and a timezone into
// Temporal Schedules. The definition validator and the `activity-core next`
// command must accept only what Temporal accepts and must predict what Temporal
// will actually fire, including its behaviour on daylight-saving-time change
// days. This package is a dependency-free port of the code in
// temporalio/temporal, service/worker/scheduler (checked against server
// v1.32.1):
//
//   - calendar.go: parseCronString, parseCronStringInterval,
//     handlePredefinedCronStrings, parseCalendarToStructured, makeRange,
//     parseValue, daysInMonth, and the matcher (*compiledCalendar).next;
//   - spec.go: canonicalizeSpec, validateStructuredCalendar (comment length),
//     validateInterval, GetNextTime (the search starts no earlier than the Unix
//     epoch and nothing after the year 2100 is returned), rawNextTime and
//     nextIntervalTime;
//   - common/primitives/timestamp/parse_duration.go: ParseDuration (the "d"
//     unit used by @every).
//
// Comments in the code name the Temporal function each piece mirrors.
//
// # Two parsers
//
// [Parse] reads the activity-core dialect: exactly 5 fields (minute hour
// day-of-month month day-of-week) or one of the macros @yearly, @annually,
// @monthly, @weekly, @daily, @midnight and @hourly, optionally followed by a
// "# comment". It rejects 6- and 7-field forms, @every and TZ=/CRON_TZ=
// prefixes, each with a message saying what to use instead. It also rejects
// three things that Temporal accepts but that would not do what the author
// meant:
//
//   - a day-of-month/month pair that never occurs, such as "0 0 30 2 *":
//     Temporal accepts it and never fires;
//   - a day-of-week range 1-7 ("mon-7", "1/1"): Temporal's 7-is-Sunday
//     handling turns it into 1-6, so Sunday is dropped;
//   - a '#' attached to a field, such as "0 0 * * 5#3": Temporal starts a
//     comment at the first '#', so this would run every Friday, not on the
//     third Friday.
//
// Everything Parse accepts, Temporal accepts with the same meaning.
//
// [ParseTemporal] reads the whole Temporal CronString dialect: 5 fields; 6
// fields (the 6th is the year); 7 fields (second minute hour day-of-month
// month day-of-week year); @every D[/phase]; the macros; a "TZ=zone " or
// "CRON_TZ=zone " prefix; and a comment that starts at the first '#'. Use it
// for importers and diagnostics. It accepts exactly what Temporal v1.32.1
// accepts.
//
// # The Temporal dialect
//
// A field is a comma-separated list of items. Each item is *, a value v, a
// range a-b, or any of these followed by /step. A single value with a step,
// v/n, means v-max/n. Ranges cannot wrap around (22-2 and sat-sun are errors).
// Month names are accepted as any case-insensitive prefix of at least 3 letters
// of the English name (jan, sept, January). Day names are accepted as any
// prefix of at least 2 letters (mo, thurs, Sunday). Day-of-week is 0-7, and
// both 0 and 7 mean Sunday, except that a range 1-7 loses its Sunday (see
// above). There is no L, W, ? or nth-weekday (#) syntax. Macros must be
// lowercase and stand alone. Temporal reads @daily and @midnight as
// "0 0 * * *", @hourly as "0 * * * *", @weekly as "0 0 * * 0", @monthly as
// "0 0 1 * *", and @yearly and @annually as "0 0 1 1 *". There is no @reboot.
// Years range from 2000 to 2100. A comment may be at most 200 bytes long.
//
// Day-of-month and day-of-week are always ANDed. A time matches only when
// every field matches. The Vixie-cron rule (OR when both fields are
// restricted) does not exist in Temporal.
//
// # Daylight saving time
//
// [Schedule.Next] is a statement-by-statement transcription of Temporal's
// (*compiledCalendar).next, so it fires exactly when Temporal fires on DST
// change days, quirks included. That function builds each candidate wall time
// with time.Date in the schedule's zone and applies three rules:
//
//  1. Nonexistent wall time: if the candidate's hour differs from the wanted
//     hour, Go has normalized a time inside a DST gap, and Temporal moves on
//     to the next hour (`if nextTs.Hour() != h { h, m, s = h+1, 0, 0;
//     continue Outer }`).
//  2. Repeated hour: when the minute search carries from hour h into h+1 and
//     time.Date(h+1:00) is more than one real hour after time.Date(h:00),
//     Temporal searches hour h again with +1h added to every candidate (`if
//     dstoffset == 0 && next.Sub(prev) > time.Hour { h = h - 1; dstoffset =
//     1 * time.Hour }`).
//  3. If the search starts at an instant whose hour equals the hour of the
//     instant one hour earlier, the +1h offset applies to the rest of that
//     hour (`if ts.Add(-time.Hour).Hour() == h { dstoffset = 1 * time.Hour }`).
//
// For a wall time that occurs twice, time.Date returns the first (daylight)
// copy in zones with a negative UTC offset (the Americas) and the second
// (standard) copy in zones with a positive offset (Europe, for example). So
// the results depend on the sign of the zone's offset.
//
// Spring forward: a wall time that does not exist is skipped. It is not moved
// to a later time, and nothing runs "right after the jump". On
// Europe/Berlin 2026-03-29 (02:00 CET -> 03:00 CEST), "30 2 * * *" does not
// fire; its next fire is 2026-03-30 02:30 CEST (00:30Z). "0 * * * *" fires at
// 01:00 CET (00:00Z) and then at 03:00 CEST (01:00Z). America/New_York on
// 2026-03-08 behaves the same way: "30 2 * * *" skips the day, and hourly
// fires at 01:00 EST (06:00Z) and then at 03:00 EDT (07:00Z).
//
// Fall back, America/New_York 2026-11-01 (01:00-01:59 occurs twice): a wall
// time in the repeated hour fires TWICE, once in each copy. "30 1 * * *" fires
// at 01:30 EDT (05:30Z) and at 01:30 EST (06:30Z). "0 * * * *" fires in every
// real hour, 25 times that day. "30 2 * * *" fires once, at 02:30 EST.
//
// Fall back, Europe/Berlin 2026-10-25 (02:00-02:59 occurs twice): "30 2 * * *"
// fires ONCE, at 02:30 CET (01:30Z), the later copy. Rule 2 mistakes the first
// copy of hour 2 for a repeat of hour 1, so "30 1 * * *" fires at 01:30 CEST
// (23:30Z on the 24th) AND again at 02:30 CEST (00:30Z). "0 * * * *" fires at
// 02:00 CEST (00:00Z) but not at 02:00 CET (01:00Z), 24 times on a 25-hour
// day. "30 1,2 * * *" fires at 01:30 CEST and 02:30 CEST but not at 02:30 CET.
// "*/20 1-3 * * *" fires at 02:00 CEST, then (rule 3) at 02:20 CET and 03:40
// CET, skipping the slots in between.
//
// These outcomes are what Temporal server v1.32.1 computes. The test golden
// file testdata/temporal_golden.tsv was generated by Temporal's own code
// (testdata/temporal-oracle), and the tests compare Next against it.
//
// # Differences from Vixie cron
//
// [VixieDifference] explains, for a given expression, where Temporal will
// behave differently from a crontab line with the same text:
// day-of-month/day-of-week AND versus OR; a day-of-week range 1-7 losing
// Sunday; v/n steps without a range; long or short month and day names; the
// 6-field form meaning a year (not seconds, as in Quartz or robfig/cron); the
// 7-field form; the TZ= prefix; @every; trailing and attached '#' comments; and
// fixed 01:00-03:59 times on DST change days. Other differences do not depend
// on the expression, so they are documented here instead: Temporal evaluates
// the schedule in the Schedule's time zone (UTC if none) rather than the
// system zone, never fires after the year 2100, and has no @reboot.
package cronexpr
