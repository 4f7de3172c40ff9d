package client

import (
	"testing"

	"github.com/gotrickle/gotrickle/conformance/harness"
)

func TestClientConformance(t *testing.T) {
	harness.Run(t, Suite)
}
