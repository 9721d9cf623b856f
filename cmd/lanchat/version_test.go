package main

import (
	"strings"
	"testing"
)

// TestVersionString: a release build says the version .ci/build gave it;
// any other build says what its build info knows.
func TestVersionString(t *testing.T) {
	if got := versionString(); !strings.HasPrefix(got, "lanchat ") || !strings.Contains(got, "go1.") {
		t.Errorf("versionString() = %q, want lanchat … go1.…", got)
	}
	defer func(v string) { version = v }(version)
	version = "v2.3.4"
	if got := versionString(); !strings.HasPrefix(got, "lanchat v2.3.4 go1.") {
		t.Errorf("release versionString() = %q, want lanchat v2.3.4 go1.…", got)
	}
}
