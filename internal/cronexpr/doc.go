// Package cronexpr parses cron expressions exactly the way Temporal's
// schedule server reads them, and predicts exactly when Temporal will fire
// them, daylight-saving-time change days included. Definitions are fired by
// Temporal Schedules, so `validate` must accept only what Temporal accepts
// and `activity-core next` must predict what Temporal will do; a port of
// Temporal's own code (service/worker/scheduler, server v1.32.1) is the only
// way to be sure. Parse reads the five-field dialect definitions use,
// ParseTemporal all of Temporal's, and VixieDifference says where a crontab
// line with the same text would behave differently.
//
// The dialect, the DST rules with worked examples and the differences from
// crontab are in docs/cron.md.
package cronexpr
