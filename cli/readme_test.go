package cli

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/scfws/scfws/config"
)

// settingRows are a document's settings table rows: variable -> default.
func settingRows(t *testing.T, name string) map[string]string {
	t.Helper()
	text, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| (?:`([^`]*)`)? ?\\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(text), -1) {
		documented[m[1]] = m[2]
	}
	return documented
}

// docs/settings.md's table is -h's: every variable, with its default.
func TestDocsSettings(t *testing.T) {
	documented := settingRows(t, "../docs/settings.md")
	ct := reflect.TypeOf(config.Config{})
	for i := range ct.NumField() {
		key, def := ct.Field(i).Tag.Get("envconfig"), ct.Field(i).Tag.Get("default")
		if key == "" {
			continue
		}
		got, ok := documented[key]
		switch {
		case !ok:
			t.Errorf("docs/settings.md's table lacks %s", key)
		case got != def:
			t.Errorf("docs/settings.md says %s defaults to %q; -h says %q", key, got, def)
		}
	}
	for key := range documented {
		if !slices.Contains(config.Keys(), key) {
			t.Errorf("docs/settings.md documents %s, which the function does not read", key)
		}
	}
}

// The README's settings at a glance are a few rows of docs/settings.md's
// table, with the same defaults.
func TestREADMESettings(t *testing.T) {
	all := settingRows(t, "../docs/settings.md")
	glance := settingRows(t, "../README.md")
	if len(glance) < 5 || len(glance) > len(all)/2 {
		t.Errorf("README shows %d settings; want a few (5 to %d), the rest in docs/settings.md", len(glance), len(all)/2)
	}
	for key, got := range glance {
		if def, ok := all[key]; !ok || got != def {
			t.Errorf("README says %s defaults to %q; docs/settings.md says %q (documented: %v)", key, got, def, ok)
		}
	}
}

// -h states the push rule, with the statuses docs/function.md's list names: what
// each answer of the reverse-push address does to a push and its
// connection (gateway.attempt and settle).
func TestUsagePushRule(t *testing.T) {
	u := usage()
	i := strings.Index(u, "\nPush answers")
	if i < 0 {
		t.Fatalf("-h lacks the push rule (a \"Push answers\" paragraph):\n%s", u)
	}
	help, _, _ := strings.Cut(u[i+1:], "\n\n")
	for _, w := range []string{"errNo 0 or no JSON body", "delivered", "pruned, not retried", "429", "Retry-After",
		"the push address's fault", "nothing pruned", "fully written", "retried", "PUSH_TIMEOUT", "not retried"} {
		if !strings.Contains(help, w) {
			t.Errorf("-h's push rule lacks %q:\n%s", w, help)
		}
	}
	doc, err := os.ReadFile("../docs/function.md")
	if err != nil {
		t.Fatal(err)
	}
	_, list, _ := strings.Cut(string(doc), "**Per push, the gateway's answer decides**")
	list, _, _ = strings.Cut(list, "\n\n**")
	status := regexp.MustCompile(`\b[1-5][0-9][0-9]\b`)
	codes := func(s string) []string {
		out := status.FindAllString(s, -1)
		slices.Sort(out)
		return slices.Compact(out)
	}
	if got, want := codes(help), codes(list); len(want) < 5 || !slices.Equal(got, want) {
		t.Errorf("-h's push rule names statuses %v; docs/function.md's names %v", got, want)
	}
}
