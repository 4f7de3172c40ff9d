package processor

import (
	"context"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// The driver is the handler of the in-process processor: a spec about
// handler behaviour (the spec's "Driver" specs) installs the functions it
// needs with useHandler and they are removed when it ends. Such specs are
// skipped for a processor known only by URL, whose handler the suite does
// not control. With nothing installed the driver passes frames through.
type driverHandler struct {
	cur atomic.Pointer[processor.Funcs]
}

var driver = &driverHandler{}

// needDriver skips the spec unless the suite runs gotrickle's processor.
func needDriver() {
	GinkgoHelper()
	if !cfg.inProcess {
		Skip("drives the handler: runs only against gotrickle's processor in-process")
	}
}

// useHandler installs f for the rest of the spec.
func useHandler(f processor.Funcs) {
	GinkgoHelper()
	needDriver()
	driver.cur.Store(&f)
	DeferCleanup(func() { driver.cur.Store(nil) })
}

func (d *driverHandler) funcs() processor.Funcs {
	if f := d.cur.Load(); f != nil {
		return *f
	}
	return processor.Funcs{}
}

func (d *driverHandler) HandleVideo(ctx context.Context, v *frame.Video) (*frame.Video, error) {
	if f := d.funcs().Video; f != nil {
		return f(ctx, v)
	}
	return nil, nil
}

func (d *driverHandler) HandleAudio(ctx context.Context, a *frame.Audio) ([]*frame.Audio, error) {
	if f := d.funcs().Audio; f != nil {
		return f(ctx, a)
	}
	return nil, nil
}

func (d *driverHandler) UpdateParams(ctx context.Context, p processor.Params) error {
	if f := d.funcs().Params; f != nil {
		return f(ctx, p)
	}
	return nil
}

func (d *driverHandler) OnStreamStart(ctx context.Context, p processor.Params) error {
	if f := d.funcs().StreamStart; f != nil {
		return f(ctx, p)
	}
	return nil
}

func (d *driverHandler) OnStreamStop(ctx context.Context) error {
	if f := d.funcs().StreamStop; f != nil {
		return f(ctx)
	}
	return nil
}
