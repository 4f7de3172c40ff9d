package server

import (
	"testing"

	"github.com/gotrickle/gotrickle/conformance/harness"
)

func TestServerConformance(t *testing.T) {
	harness.Run(t, Suite)
}
