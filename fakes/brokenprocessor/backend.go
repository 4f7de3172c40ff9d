package brokenprocessor

import (
	"context"
	"maps"
	"sync"

	"github.com/gotrickle/gotrickle/pkg/api"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// realBackend is what pkg/api drives: gotrickle's processor.
type realBackend interface {
	api.Backend
	api.ReadyWaiter
}

// backend stands between pkg/api and the processor: after the API has
// validated a request, it plants the mutations that change what the
// processor is handed (start params, parameter updates, channel URLs) or
// what it reports (/health). Without them it only passes calls on.
type backend struct {
	realBackend
	mut   Mutation
	relay *relay // set for MutationNoHeartbeat

	mu      sync.Mutex
	started bool // a start succeeded and no stop has come since
}

var _ realBackend = (*backend)(nil)

func (b *backend) Start(ctx context.Context, req processor.StartRequest) error {
	switch b.mut {
	case MutationIgnoreMaxFramerate:
		req.Params = withoutMaxFramerate(req.Params)
	case MutationNoHeartbeat:
		if req.EventsURL != "" {
			req.EventsURL = b.relay.route(req.EventsURL, isHeartbeat)
		}
	}
	err := b.realBackend.Start(ctx, req)
	if err == nil {
		b.mu.Lock()
		b.started = true
		b.mu.Unlock()
	}
	return err
}

func (b *backend) Stop(ctx context.Context) error {
	b.mu.Lock()
	b.started = false
	b.mu.Unlock()
	return b.realBackend.Stop(ctx)
}

func (b *backend) UpdateParams(ctx context.Context, p processor.Params) error {
	if b.mut == MutationIgnoreMaxFramerate {
		p = withoutMaxFramerate(p)
	}
	return b.realBackend.UpdateParams(ctx, p)
}

// Health is what /health reports. MutationHealthOKAfterEnd says OK for a
// stream that has ended on its own, until the next stop.
func (b *backend) Health() processor.State {
	h := b.realBackend.Health()
	if b.mut == MutationHealthOKAfterEnd && h == processor.StateIdle {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.started {
			return processor.StateOK
		}
	}
	return h
}

// withoutMaxFramerate returns p without the max_framerate key (p itself
// when it has none).
func withoutMaxFramerate(p processor.Params) processor.Params {
	if _, ok := p["max_framerate"]; !ok {
		return p
	}
	p = maps.Clone(p)
	delete(p, "max_framerate")
	return p
}
