package report

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/netdoctor/netdoctor/internal/diag"
)

// JSON writes r as indented JSON in the diag.Report schema, followed by a newline. Findings, probes
// and path are always arrays (never null), every finding's evidence too, and schemaVersion is set
// (diag.SchemaVersion when r leaves it zero). r is not modified.
func JSON(w io.Writer, r *diag.Report) error {
	if r == nil {
		return errNil
	}
	c := normalised(r)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&c); err != nil {
		return fmt.Errorf("report: json: %w", err)
	}
	return nil
}
