package plugin

// Version is the release this module was built from, logged in the "started" line so an operator can tell
// which build a proxy runs. `make build` sets it with -ldflags "-X ...plugin.Version=v0.1.0" from the
// VERSION file and git (see the Makefile's VERSION_STAMP); a plain `go build` leaves "devel". A string
// variable set by the linker costs a few bytes and links nothing (no fmt, no runtime/debug).
var Version = "devel"
