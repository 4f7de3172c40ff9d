package frame

import (
	"maps"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Buffer pools, one sync.Pool per buffer length. A stream keeps one frame
// size for its whole life, so exact-size pools reuse every buffer and never
// hand out one bigger than asked for.
var (
	pixPool   sizedPool[byte]    // Video.Pix
	floatPool sizedPool[float32] // tensors and audio samples
)

// maxPoolSizes bounds how many distinct sizes are pooled, so a stream that
// changes size on every frame cannot grow the table without limit; buffers
// of further sizes are simply left to the garbage collector.
const maxPoolSizes = 64

// sizedPool pools slices of E by their capacity.
//
// sync.Pool holds interface values, and putting a slice into one allocates a
// box for its header on every Put (staticcheck's SA6002). Storing a pointer
// to the first element instead costs nothing, and the length is known from
// the pool's size, so get rebuilds the slice with unsafe.Slice. A pointer to
// the first element keeps the whole array alive, exactly as the slice did.
type sizedPool[E any] struct {
	mu    sync.Mutex                         // serialises writers of pools
	pools atomic.Pointer[map[int]*sync.Pool] // copy-on-write: readers take no lock
}

// get returns a slice of length and capacity n whose contents are whatever
// its last user left there; it allocates (zeroed) when none is pooled.
func (p *sizedPool[E]) get(n int) []E {
	if n <= 0 {
		return nil
	}
	if m := p.pools.Load(); m != nil {
		if sp := (*m)[n]; sp != nil {
			if e, ok := sp.Get().(*E); ok {
				return unsafe.Slice(e, n)
			}
		}
	}
	return make([]E, n)
}

// put gives s (all of its capacity) back for reuse. Nothing may use s, or
// any slice sharing its array, afterwards.
func (p *sizedPool[E]) put(s []E) {
	n := cap(s)
	if n == 0 {
		return
	}
	sp := p.pool(n)
	if sp == nil {
		return
	}
	sp.Put(unsafe.SliceData(s[:n]))
}

// pool returns the sync.Pool for size n, creating it if fewer than
// maxPoolSizes exist, or nil.
func (p *sizedPool[E]) pool(n int) *sync.Pool {
	if m := p.pools.Load(); m != nil {
		if sp := (*m)[n]; sp != nil {
			return sp
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.pools.Load()
	if old != nil {
		if sp := (*old)[n]; sp != nil {
			return sp
		}
		if len(*old) >= maxPoolSizes {
			return nil
		}
	}
	m := map[int]*sync.Pool{}
	if old != nil {
		m = maps.Clone(*old)
	}
	sp := new(sync.Pool)
	m[n] = sp
	p.pools.Store(&m)
	return sp
}

// noCopy makes `go vet` (copylocks) flag copies of the struct holding it.
// A copied frame would own the same pooled buffer twice, and releasing both
// copies would hand one buffer to two later frames.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
