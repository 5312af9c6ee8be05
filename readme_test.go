package main

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/scfws/scfws/config"
)

// The README's settings table is -h's: every variable, with its default.
func TestREADMESettings(t *testing.T) {
	readme, err := os.ReadFile("README.md")
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
