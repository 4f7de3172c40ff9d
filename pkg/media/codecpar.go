package media

// Each output segment has a muxer of its own, and the mpegts muxer marks
// the first Opus packet it writes with a start trim of the stream's
// initial_padding (the encoder's priming, 312 samples). Only the first
// segment holds primed audio: in later ones that trim would make any reader
// that honours it drop 6.5 ms of real sound at every segment boundary. So
// later segments get initial_padding 0, which go-astiav v0.16.0 cannot set.

//#cgo pkg-config: libavcodec
//#include <libavcodec/codec_par.h>
//
//static void gt_set_initial_padding(AVCodecParameters *p, int n) { p->initial_padding = n; }
//static int gt_initial_padding(const AVCodecParameters *p) { return p->initial_padding; }
//static int gt_par_codec_id(const AVCodecParameters *p) { return p->codec_id; }
import "C"

import (
	"errors"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// cCodecPar is the AVCodecParameters behind cp. go-astiav v0.16.0 exports
// no accessor; its CodecParameters holds the pointer as its only field, and
// go.mod pins that version. The codec id is checked against go-astiav's
// own reading, so a changed layout is an error, not a stray write.
func cCodecPar(cp *astiav.CodecParameters) (*C.AVCodecParameters, error) {
	p := *(**C.AVCodecParameters)(unsafe.Pointer(cp))
	if p == nil || astiav.CodecID(C.gt_par_codec_id(p)) != cp.CodecID() {
		return nil, errors.New("media: cannot reach the stream's codec parameters")
	}
	return p, nil
}

// setInitialPadding sets the priming samples a muxer signals for a stream.
func setInitialPadding(cp *astiav.CodecParameters, n int) error {
	p, err := cCodecPar(cp)
	if err != nil {
		return err
	}
	C.gt_set_initial_padding(p, C.int(n))
	return nil
}

// initialPadding reads it back (for tests).
func initialPadding(cp *astiav.CodecParameters) (int, error) {
	p, err := cCodecPar(cp)
	if err != nil {
		return 0, err
	}
	return int(C.gt_initial_padding(p)), nil
}
