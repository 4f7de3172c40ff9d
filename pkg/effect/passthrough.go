package effect

import (
	"context"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// Passthrough sends every video and audio frame on unchanged. It is the
// smallest possible handler and the baseline for measuring the processor
// itself.
type Passthrough struct{}

// DeviceFrames says that Passthrough takes device frames as they are
// (processor.DeviceVideoHandler): it never reads their pixels.
func (Passthrough) DeviceFrames() bool { return true }

// HandleVideo returns nil, nil: the processor sends the input frame.
func (Passthrough) HandleVideo(context.Context, *frame.Video) (*frame.Video, error) {
	return nil, nil
}

// HandleAudio returns nil, nil: the processor sends the input frame.
func (Passthrough) HandleAudio(context.Context, *frame.Audio) ([]*frame.Audio, error) {
	return nil, nil
}
