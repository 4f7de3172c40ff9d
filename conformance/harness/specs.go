package harness

import (
	"sync"

	"github.com/onsi/ginkgo/v2"
)

// Specs holds a suite's top-level ginkgo nodes until the suite is chosen to
// run. Ginkgo keeps one global tree per process and allows one BeforeSuite
// in it, so the suites cannot register at package init when one binary
// (gotrickle conformance) links all of them: each suite declares its nodes
// through its Specs and Register adds them to ginkgo's tree, once.
type Specs struct {
	mu    sync.Mutex
	nodes []func()
	done  bool
}

func (s *Specs) add(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes = append(s.nodes, f)
	return true
}

// Describe declares a top-level container (ginkgo.Describe).
func (s *Specs) Describe(text string, args ...any) bool {
	return s.add(func() { ginkgo.Describe(text, args...) })
}

// BeforeSuite declares the suite's set-up (ginkgo.BeforeSuite).
func (s *Specs) BeforeSuite(body any, args ...any) bool {
	return s.add(func() { ginkgo.BeforeSuite(body, args...) })
}

// AfterSuite declares the suite's tear-down (ginkgo.AfterSuite).
func (s *Specs) AfterSuite(body any, args ...any) bool {
	return s.add(func() { ginkgo.AfterSuite(body, args...) })
}

// BeforeEach declares a set-up that runs before every spec of the suite.
func (s *Specs) BeforeEach(args ...any) bool {
	return s.add(func() { ginkgo.BeforeEach(args...) })
}

// Register adds the declared nodes to ginkgo's tree. Later calls do nothing.
func (s *Specs) Register() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.done = true
	for _, f := range s.nodes {
		f()
	}
}
