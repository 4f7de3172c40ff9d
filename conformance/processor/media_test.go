package processor_test

import (
	"context"
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

var _ = Describe("Media in and out", func() {
	It("keeps every frame's timestamp and ends the output when the input ends", harness.Req("PROC-077", harness.Must, harness.Media), func(ctx SpecContext) {
		needFeature("passthrough")
		fx, segs := fixture("h264-aac-320x240")
		vs, _ := fx.Video()
		r := newRun()
		r.start(map[string]any{"width": vs.Width, "height": vs.Height, "max_framerate": 30})
		octx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		out := r.readOutput(octx)
		Expect(<-r.publish(octx, segs, 300*time.Millisecond, true)).To(Succeed())
		o := <-out
		Expect(errors.Is(o.ended, trickle.ErrStreamClosed)).To(BeTrue(), "the output ended with %v, not the end of the stream", o.ended)
		pts := make([]int64, len(o.frames))
		for i, f := range o.frames {
			pts[i] = f.pts
		}
		Expect(pts).To(Equal(vs.PTS), "output PTS must be the input's")
		Expect(o.audio).To(BeNumerically(">", 0), "the input has audio; the output has none")
		waitHealth("IDLE", 10*time.Second)
	})
})
