// Package client is the conformance suite for trickle clients: it
// checks the TRK-CLI requirements of docs/spec/trickle.md (§15 publisher,
// §16 subscriber) by running a client against gotrickle's fake server
// (fakes/trickleserver), which injects faults and records every request.
//
// The suite drives the client through the small driver interface of
// driver_test.go; driver_gotrickle_test.go implements it for gotrickle's
// Go API (pkg/trickle), and another implementation can be plugged in the
// same way. What the client reports is observed through the driver; what it
// does on the wire is observed through the fake's recording.
//
// Settings (environment):
//
//	TRICKLE_REACTION  the "promptly" budget (default 2s)
//	TRICKLE_LONG      1: also run the full-length waits the requirements
//	                  name (a 60 s idle preconnect, a 25 s and a 180 s quiet
//	                  channel); otherwise those specs are skipped and a
//	                  short form of each runs instead
//	TRICKLE_STRICT    1: SHOULD failures fail the run
//	TRICKLE_DISABLE   categories to switch off (comma-separated)
//	TRICKLE_PUBLISHER_CMD, TRICKLE_SUBSCRIBER_CMD
//	                  command templates of a third party's publisher and
//	                  subscriber to check instead of gotrickle's (command
//	                  mode: driver_cmd.go, conformance/CLIENT-COMMANDS.md)
package client

import (
	"fmt"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/docs/spec"
)

// Suite is the client suite, for harness.Main (gotrickle conformance client) and
// harness.Run (go test).
var Suite = harness.Suite{Name: "client", Title: "Trickle client conformance",
	Catalog: harness.RequirementsWithPrefix(spec.Trickle, "TRK-CLI-"), Specs: &specs}

// specs holds the suite's top-level nodes until it runs.
var specs harness.Specs

// settings are the suite's knobs (see the package comment).
type settings struct {
	reaction time.Duration // the "promptly" budget
	long     bool          // run the full-length waits
}

var cfg settings

var _ = specs.BeforeEach(harness.CategoryGate)

// In command mode, specs of a role without a command are skipped and the
// call specs report unsupported (driver_cmd.go).
var _ = specs.BeforeEach(roleGate)

var _ = specs.BeforeSuite(func() {
	cfg = settings{reaction: 2 * time.Second}
	if v := os.Getenv("TRICKLE_REACTION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			harness.HarnessError(fmt.Errorf("TRICKLE_REACTION=%q is not a positive duration", v))
		}
		cfg.reaction = d
	}
	switch strings.ToLower(os.Getenv("TRICKLE_LONG")) {
	case "1", "true", "yes":
		cfg.long = true
	}
	harness.SetTarget(chooseClients())
})

// needLong skips a full-length spec unless TRICKLE_LONG is set.
func needLong(d time.Duration) {
	if !cfg.long {
		Skip(fmt.Sprintf("takes %v; set TRICKLE_LONG=1 to run it (a short form of this check ran)", d))
	}
}
