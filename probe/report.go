package probe

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Table writes the report for people: per scenario what was measured, what
// scfws assumes, whether they agree, and what to do when they do not.
func (r *Report) Table(w io.Writer) error {
	fmt.Fprintf(w, "scfws probe %s (%.0fs; function instance %s, IDLE_TIMEOUT %dms, MAX_MESSAGE_BYTES %d, PUSH_RATE %d)\n\n",
		r.URL, r.Seconds, r.Function.Instance, r.Function.IdleTimeoutMs, r.Function.MaxMessageBytes, r.Function.PushRate)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tOUTCOME\tMEASURED")
	for _, s := range r.Scenarios {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Outcome, s.Measured)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nWhat scfws assumes, and what to do:")
	for _, s := range r.Scenarios {
		line := fmt.Sprintf("  %s: assumes %s", s.Name, s.Assumes)
		if s.Fix != "" {
			line += ".\n    -> " + s.Fix
		}
		fmt.Fprintln(w, line)
	}
	verdict := "every measurement agrees with scfws or has a setting above"
	if r.Contradicted() {
		verdict = "a measurement contradicts what scfws relies on: please report it, with this output (-json)"
	}
	_, err := fmt.Fprintf(w, "\n%s. Remove PROBE_SECRET from the function when done.\n", strings.ToUpper(verdict[:1])+verdict[1:])
	return err
}
