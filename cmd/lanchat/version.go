package main

// version is the release version, set by .ci/build from `git describe`
// (-ldflags "-X main.version=v2.1.0"); empty in a `go build`, `go install`
// or `go run`, where versionString reads the build info instead.
var version string
