package cli

import "errors"

// CutoverCmd groups the cutover commands (docs/cutover.md).
type CutoverCmd struct {
	Report CutoverReportCmd `cmd:"" help:"Compare when the legacy job ran with when the definition fired; exit 1 when they disagree."`
}

// CutoverReportCmd compares a legacy job's runs with a definition's fires
// (docs/cutover.md#the-report).
type CutoverReportCmd struct {
	ID string `arg:"" help:"Definition ID." name:"id"`
}

// Run prints the report.
func (c *CutoverReportCmd) Run(env *Env) error {
	return errors.New("cutover report is not implemented yet")
}
