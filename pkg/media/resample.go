package media

// go-astiav v0.16.0 does not wrap libswresample; this is the small part of
// it the encoder needs: planar float32 from one rate to another, same
// channels.

//#cgo pkg-config: libswresample libavutil
//#include <stdint.h>
//#include <libavutil/channel_layout.h>
//#include <libavutil/samplefmt.h>
//#include <libswresample/swresample.h>
//
//static SwrContext *gt_swr_new(int channels, int in_rate, int out_rate) {
//	AVChannelLayout layout;
//	av_channel_layout_default(&layout, channels);
//	SwrContext *s = NULL;
//	if (swr_alloc_set_opts2(&s, &layout, AV_SAMPLE_FMT_FLTP, out_rate, &layout, AV_SAMPLE_FMT_FLTP, in_rate, 0, NULL) < 0) return NULL;
//	if (swr_init(s) < 0) { swr_free(&s); return NULL; }
//	return s;
//}
//
//static void gt_swr_free(SwrContext *s) { swr_free(&s); }
//
//static int gt_swr_convert(SwrContext *s, float **out, int out_count, const float **in, int in_count) {
//	return swr_convert(s, (uint8_t **)out, out_count, (const uint8_t **)in, in_count);
//}
//
//static int gt_swr_out_samples(SwrContext *s, int in_count) { return swr_get_out_samples(s, in_count); }
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// resampler converts planar float32 audio between two rates.
type resampler struct {
	s        *C.SwrContext
	channels int
	out      [][]float32
}

func newResampler(channels, inRate, outRate int) (*resampler, error) {
	s := C.gt_swr_new(C.int(channels), C.int(inRate), C.int(outRate))
	if s == nil {
		return nil, fmt.Errorf("media: cannot resample %d channels from %d to %d Hz", channels, inRate, outRate)
	}
	return &resampler{s: s, channels: channels, out: make([][]float32, channels)}, nil
}

// convert resamples in (nil to drain) and returns the output, valid until
// the next call.
func (r *resampler) convert(in [][]float32) ([][]float32, error) {
	n := 0
	if in != nil {
		n = len(in[0])
	}
	room := int(C.gt_swr_out_samples(r.s, C.int(n)))
	if room < 0 {
		return nil, fmt.Errorf("media: resampler: %d", room)
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	outPtrs := make([]*C.float, r.channels)
	inPtrs := make([]*C.float, r.channels)
	for i := range r.channels {
		if cap(r.out[i]) < room+1 {
			r.out[i] = make([]float32, room+1)
		}
		r.out[i] = r.out[i][:room+1]
		outPtrs[i] = (*C.float)(unsafe.Pointer(&r.out[i][0]))
		pin.Pin(outPtrs[i])
		if n > 0 {
			inPtrs[i] = (*C.float)(unsafe.Pointer(&in[i][0]))
			pin.Pin(inPtrs[i])
		}
	}
	var inArg **C.float
	if n > 0 {
		inArg = &inPtrs[0]
	}
	got := C.gt_swr_convert(r.s, &outPtrs[0], C.int(room), inArg, C.int(n))
	if got < 0 {
		return nil, fmt.Errorf("media: resampling failed: %d", got)
	}
	for i := range r.channels {
		r.out[i] = r.out[i][:got]
	}
	return r.out, nil
}

func (r *resampler) free() {
	if r != nil && r.s != nil {
		C.gt_swr_free(r.s)
		r.s = nil
	}
}
