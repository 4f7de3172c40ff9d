package processor

import (
	"testing"

	"github.com/gotrickle/gotrickle/conformance/harness"
)

func TestProcessorConformance(t *testing.T) {
	harness.Run(t, Suite)
}
