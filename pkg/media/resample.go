package media

// go-astiav v0.16.0 does not wrap libswresample; this is the small part of
// it the encoder needs: planar float32 from one rate and channel count to
// another.

//#cgo pkg-config: libswresample libavutil
//#include <stdint.h>
//#include <libavutil/channel_layout.h>
//#include <libavutil/samplefmt.h>
//#include <libswresample/swresample.h>
//
//static SwrContext *gt_swr_new(int in_channels, int in_rate, int out_channels, int out_rate) {
//	AVChannelLayout in, out;
//	av_channel_layout_default(&in, in_channels);
//	av_channel_layout_default(&out, out_channels);
//	SwrContext *s = NULL;
//	int ret = swr_alloc_set_opts2(&s, &out, AV_SAMPLE_FMT_FLTP, out_rate, &in, AV_SAMPLE_FMT_FLTP, in_rate, 0, NULL);
//	av_channel_layout_uninit(&in);
//	av_channel_layout_uninit(&out);
//	if (ret < 0) { swr_free(&s); return NULL; }
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

// resampler converts planar float32 audio between two rates and channel
// counts. Each count stands for FFmpeg's default layout for it (mono,
// stereo, 2.1, quad, 5.0, 5.1...); libswresample up- or downmixes between
// them with its default matrix.
type resampler struct {
	s           *C.SwrContext
	inCh, outCh int
	out         [][]float32
}

func newResampler(inChannels, inRate, outChannels, outRate int) (*resampler, error) {
	if inChannels < 1 || outChannels < 1 || inRate < 1 || outRate < 1 {
		return nil, fmt.Errorf("media: cannot resample %d channels at %d Hz to %d at %d Hz", inChannels, inRate, outChannels, outRate)
	}
	s := C.gt_swr_new(C.int(inChannels), C.int(inRate), C.int(outChannels), C.int(outRate))
	if s == nil {
		return nil, fmt.Errorf("media: cannot resample %d channels at %d Hz to %d at %d Hz", inChannels, inRate, outChannels, outRate)
	}
	return &resampler{s: s, inCh: inChannels, outCh: outChannels, out: make([][]float32, outChannels)}, nil
}

// convert resamples in (inCh channels of equal length; nil to drain) and
// returns outCh channels, valid until the next call.
func (r *resampler) convert(in [][]float32) ([][]float32, error) {
	n := 0
	if in != nil {
		if len(in) != r.inCh {
			return nil, fmt.Errorf("media: resampler set up for %d channels was given %d", r.inCh, len(in))
		}
		n = len(in[0])
		if n == 0 {
			// swr_convert reads no input as "drain": give nothing instead.
			for i := range r.out {
				r.out[i] = r.out[i][:0]
			}
			return r.out, nil
		}
		for _, c := range in {
			if len(c) != n {
				return nil, fmt.Errorf("media: resampler input channels of %d and %d samples", n, len(c))
			}
		}
	}
	room := int(C.gt_swr_out_samples(r.s, C.int(n)))
	if room < 0 {
		return nil, fmt.Errorf("media: resampler: %d", room)
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	outPtrs := make([]*C.float, r.outCh)
	for i := range r.outCh {
		if cap(r.out[i]) < room+1 {
			r.out[i] = make([]float32, room+1)
		}
		r.out[i] = r.out[i][:room+1]
		outPtrs[i] = (*C.float)(unsafe.Pointer(&r.out[i][0]))
		pin.Pin(outPtrs[i])
	}
	var inArg **C.float
	if n > 0 {
		inPtrs := make([]*C.float, r.inCh)
		for i := range r.inCh {
			inPtrs[i] = (*C.float)(unsafe.Pointer(&in[i][0]))
			pin.Pin(inPtrs[i])
		}
		inArg = &inPtrs[0]
	}
	got := C.gt_swr_convert(r.s, &outPtrs[0], C.int(room), inArg, C.int(n))
	if got < 0 {
		return nil, fmt.Errorf("media: resampling failed: %d", got)
	}
	for i := range r.outCh {
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
