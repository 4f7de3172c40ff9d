package frame

// Layout is a channel layout by FFmpeg's name for it ("mono", "stereo",
// "5.1", ...), which is also what PyTrickle reports as AudioFrame.layout. A
// name FFmpeg does not know is allowed; its channel count is then unknown.
type Layout string

// The layouts streams almost always carry.
const (
	LayoutMono   Layout = "mono"
	LayoutStereo Layout = "stereo"
)

// layoutChannels holds FFmpeg 5.1's standard layouts (ffmpeg -layouts) and
// their channel counts.
var layoutChannels = map[Layout]int{
	"mono": 1, "stereo": 2, "downmix": 2,
	"2.1": 3, "3.0": 3, "3.0(back)": 3,
	"4.0": 4, "quad": 4, "quad(side)": 4, "3.1": 4,
	"5.0": 5, "5.0(side)": 5, "4.1": 5,
	"5.1": 6, "5.1(side)": 6, "6.0": 6, "6.0(front)": 6, "hexagonal": 6,
	"6.1": 7, "6.1(back)": 7, "6.1(front)": 7, "7.0": 7, "7.0(front)": 7,
	"7.1": 8, "7.1(wide)": 8, "7.1(wide-side)": 8, "octagonal": 8,
	"hexadecagonal": 16, "22.2": 24,
}

// defaultLayouts[n] is FFmpeg's default layout for n channels
// (av_channel_layout_default: the first standard layout with n channels).
var defaultLayouts = [...]Layout{1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}

// Channels returns the number of channels of a standard FFmpeg layout, or 0
// for a name it does not know.
func (l Layout) Channels() int { return layoutChannels[l] }

// DefaultLayout returns the layout FFmpeg assumes for a stream with that
// many channels and no layout of its own, or "" when it has none.
func DefaultLayout(channels int) Layout {
	if channels < 0 || channels >= len(defaultLayouts) {
		return ""
	}
	return defaultLayouts[channels]
}
