package processor

import (
	"maps"
	"sync"
)

// currentParams holds a stream's parameters as they stand: the start
// request's, with every successful update (from /stream/params or the
// control channel) merged in, key by key. load_model is never kept: it is
// an action, not a setting.
type currentParams struct {
	mu sync.Mutex
	p  Params // never modified once stored: updates store a new map
}

func (c *currentParams) set(p Params) {
	p, _ = stripLoadModel(p)
	c.mu.Lock()
	c.p = p
	c.mu.Unlock()
}

func (c *currentParams) merge(update Params) {
	update, _ = stripLoadModel(update)
	if len(update) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := maps.Clone(c.p)
	if next == nil {
		next = make(Params, len(update))
	}
	maps.Copy(next, update)
	c.p = next
}

func (c *currentParams) get() Params {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.p)
}

// Params returns the parameters of the running (or draining) stream: its
// start request's params with every successful update merged in, key by
// key (a failed update changes nothing; load_model is left out). Without a
// stream it returns nil. The map is a copy, but values nested in it are
// shared: do not modify them.
func (p *Processor) Params() Params {
	p.mu.Lock()
	s := p.current
	p.mu.Unlock()
	if s == nil {
		return nil
	}
	cp := s.params.get()
	if cp == nil {
		cp = Params{}
	}
	return cp
}
