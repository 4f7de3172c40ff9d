package trickleserver

import "maps"

// armedFault is a fault in service with its counters.
type armedFault struct {
	f       Fault
	matched int // requests matched so far
	fired   int // times applied so far
}

// fires reports whether the request just counted in matched is one the
// fault acts on.
func (a *armedFault) fires() bool {
	return (a.f.Nth == 0 || a.matched == a.f.Nth) && (a.f.Times == 0 || a.fired < a.f.Times)
}

// AddFault arms f for the requests that follow; it is safe while serving.
// Its counters start at zero. f is not validated (see Fault.Validate).
func (s *Server) AddFault(f Fault) {
	// Copy what the caller could change later under our feet.
	f.Header = maps.Clone(f.Header)
	if f.Seq != nil {
		f.Seq = new(*f.Seq)
	}
	if f.DropAfterBytes != nil {
		f.DropAfterBytes = new(*f.DropAfterBytes)
	}
	if f.StallAfterBytes != nil {
		f.StallAfterBytes = new(*f.StallAfterBytes)
	}
	s.faultsMu.Lock()
	s.faults = append(s.faults, &armedFault{f: f})
	s.faultsMu.Unlock()
}

// ClearFaults disarms every fault. Requests already running keep theirs.
func (s *Server) ClearFaults() {
	s.faultsMu.Lock()
	s.faults = nil
	s.faultsMu.Unlock()
}

// pickFault counts the request against every fault it matches and returns
// the one to apply, if any.
func (s *Server) pickFault(method string, t target) (Fault, bool) {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	var chosen *armedFault
	for _, a := range s.faults {
		if !a.f.matches(method, t) {
			continue
		}
		a.matched++
		if chosen == nil && a.fires() {
			chosen = a
		}
	}
	if chosen == nil {
		return Fault{}, false
	}
	chosen.fired++
	return chosen.f, true
}
