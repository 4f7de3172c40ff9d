package effect

import (
	"fmt"
	"slices"
	"strings"
)

// builtins makes a fresh handler for each name Lookup knows.
var builtins = map[string]func() any{
	"passthrough": func() any { return &Passthrough{} },
	"colorgrade":  func() any { return &ColorGrade{} },
	"boxes":       func() any { return &BoxDrawer{} },
	"noisegate":   func() any { return &NoiseGate{} },
}

// aliases are older or alternative names Lookup also accepts; Names does
// not list them.
var aliases = map[string]string{"boxdraw": "boxes", "colourgrade": "colorgrade"}

// Lookup returns a new handler of the built-in kind called name (see
// Names), with its default settings: a *Passthrough, *ColorGrade,
// *BoxDrawer or *NoiseGate. Case and surrounding spaces are ignored.
// An unknown name is an error that lists the known ones.
func Lookup(name string) (any, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if a, ok := aliases[key]; ok {
		key = a
	}
	mk, ok := builtins[key]
	if !ok {
		return nil, fmt.Errorf("effect: unknown handler %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return mk(), nil
}

// Names returns the names Lookup knows, sorted.
func Names() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
