package main

import (
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestReadmeFlags checks that the README's flag table, the --help text and
// the flags the program accepts name the same flags.
func TestReadmeFlags(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	flagRE := regexp.MustCompile("`(--?[a-z][a-z0-9-]*)")
	var inTable []string
	for _, line := range strings.Split(string(readme), "\n") {
		if !strings.HasPrefix(line, "| `-") {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		for _, m := range flagRE.FindAllStringSubmatch(first, -1) {
			inTable = append(inTable, strings.TrimLeft(m[1], "-"))
		}
	}
	var inHelp []string
	helpRE := regexp.MustCompile(`^  (-[a-z], )?(--?[a-z][a-z0-9-]*)`)
	for _, line := range strings.Split(usageText, "\n") {
		if m := helpRE.FindStringSubmatch(line); m != nil {
			if m[1] != "" {
				inHelp = append(inHelp, strings.Trim(m[1], "-, "))
			}
			inHelp = append(inHelp, strings.TrimLeft(m[2], "-"))
		}
	}
	var defined []string
	newFlagSet(&options{}).VisitAll(func(f *flag.Flag) { defined = append(defined, f.Name) })
	defined = append(defined, "h", "help") // the flag package's own

	slices.Sort(inTable)
	slices.Sort(inHelp)
	slices.Sort(defined)
	if !slices.Equal(inTable, defined) {
		t.Errorf("README flag table names %q,\nthe program defines %q", inTable, defined)
	}
	if !slices.Equal(inHelp, defined) {
		t.Errorf("--help names %q,\nthe program defines %q", inHelp, defined)
	}
}
