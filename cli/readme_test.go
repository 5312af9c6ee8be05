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

// The README's settings table is -h's: every variable, with its default.
func TestREADMESettings(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| (?:`([^`]*)`)? ?\\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = m[2]
	}
	ct := reflect.TypeOf(config.Config{})
	for i := range ct.NumField() {
		key, def := ct.Field(i).Tag.Get("envconfig"), ct.Field(i).Tag.Get("default")
		if key == "" {
			continue
		}
		got, ok := documented[key]
		switch {
		case !ok:
			t.Errorf("README's settings table lacks %s", key)
		case got != def:
			t.Errorf("README says %s defaults to %q; -h says %q", key, got, def)
		}
	}
	for key := range documented {
		if !slices.Contains(config.Keys(), key) {
			t.Errorf("README documents %s, which the function does not read", key)
		}
	}
}

// -h states the push rule, with the statuses README's list names: what
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
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, list, _ := strings.Cut(string(readme), "**Per push, the gateway's answer decides**")
	list, _, _ = strings.Cut(list, "\n\n**")
	status := regexp.MustCompile(`\b[1-5][0-9][0-9]\b`)
	codes := func(s string) []string {
		out := status.FindAllString(s, -1)
		slices.Sort(out)
		return slices.Compact(out)
	}
	if got, want := codes(help), codes(list); len(want) < 5 || !slices.Equal(got, want) {
		t.Errorf("-h's push rule names statuses %v; README's names %v", got, want)
	}
}
