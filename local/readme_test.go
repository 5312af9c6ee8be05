package local

import (
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// docs/local.md's table of scfws local's flags is -h's: every flag, no other,
// with the default -h gives where the table gives one in backquotes ("off"
// for a boolean).
func TestDocsLocalFlags(t *testing.T) {
	doc, err := os.ReadFile("../docs/local.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(-[a-z-]+)` \\|([^|]*)\\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = strings.TrimSpace(m[2])
	}
	var f localFlags
	fs := f.flagSet()
	var flags []string
	fs.VisitAll(func(fl *flag.Flag) {
		flags = append(flags, "-"+fl.Name)
		def, ok := documented["-"+fl.Name]
		switch {
		case !ok:
			t.Errorf("docs/local.md's table of local's flags lacks -%s", fl.Name)
		case !sameDefault(fl, def):
			t.Errorf("docs/local.md says -%s defaults to %s; -h says %q", fl.Name, def, fl.DefValue)
		}
	})
	for name := range documented {
		if !slices.Contains(flags, name) {
			t.Errorf("docs/local.md's table documents %s, which scfws local does not have", name)
		}
	}
}

// sameDefault says whether the table's cell agrees with the flag's
// default: "off" for false, "on" for true, a value in backquotes (a duration may be
// written otherwise: 600s is 10m0s); anything else is prose, not checked.
func sameDefault(fl *flag.Flag, cell string) bool {
	switch cell {
	case "off":
		return fl.DefValue == "false"
	case "on":
		return fl.DefValue == "true"
	}
	m := regexp.MustCompile("^`([^`]*)`").FindStringSubmatch(cell)
	if m == nil {
		return true
	}
	if want, err := time.ParseDuration(m[1]); err == nil {
		got, err := time.ParseDuration(fl.DefValue)
		return err == nil && got == want
	}
	return m[1] == fl.DefValue
}
