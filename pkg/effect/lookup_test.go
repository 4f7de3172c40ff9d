package effect

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name                        string
		video, audio, params, start bool
	}{
		{"passthrough", true, true, false, false},
		{"colorgrade", true, false, true, true},
		{"boxes", true, false, true, true},
		{"noisegate", false, true, true, true},
	}
	var names []string
	for _, tt := range tests {
		names = append(names, tt.name)
		t.Run(tt.name+" resolves to a fresh handler with the right interfaces", func(t *testing.T) {
			h, err := Lookup(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			h2, err := Lookup(" " + strings.ToUpper(tt.name) + " ")
			if err != nil {
				t.Fatalf("upper case with spaces: %v", err)
			}
			// Passthrough has no state (and a pointer to a zero-size value
			// may equal another); every other handler must be its own.
			if tt.name != "passthrough" && h == h2 {
				t.Error("two lookups returned the same handler value, want fresh ones")
			}
			_, video := h.(processor.VideoHandler)
			_, audio := h.(processor.AudioHandler)
			_, params := h.(processor.ParamUpdater)
			_, start := h.(processor.StreamStarter)
			if video != tt.video || audio != tt.audio || params != tt.params || start != tt.start {
				t.Errorf("%T: video %v audio %v params %v start %v; want %v %v %v %v",
					h, video, audio, params, start, tt.video, tt.audio, tt.params, tt.start)
			}
		})
	}
	t.Run("Names lists exactly those names, sorted", func(t *testing.T) {
		slices.Sort(names)
		if got := Names(); !slices.Equal(got, names) {
			t.Errorf("Names() = %v, want %v", got, names)
		}
	})
	t.Run("the old names boxdraw and colourgrade still resolve", func(t *testing.T) {
		for alias, want := range map[string]string{"boxdraw": "*effect.BoxDrawer", "colourgrade": "*effect.ColorGrade"} {
			h, err := Lookup(alias)
			if err != nil || fmt.Sprintf("%T", h) != want {
				t.Errorf("Lookup(%s) = %T, %v; want %s", alias, h, err, want)
			}
		}
	})
	t.Run("an unknown name is an error listing the known ones", func(t *testing.T) {
		h, err := Lookup("sepia")
		if err == nil || h != nil {
			t.Fatalf("Lookup(sepia) = %v, %v; want an error", h, err)
		}
		for _, n := range names {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("error %q does not list %s", err, n)
			}
		}
		if !strings.Contains(err.Error(), `"sepia"`) {
			t.Errorf("error %q does not name what was asked for", err)
		}
	})
}
