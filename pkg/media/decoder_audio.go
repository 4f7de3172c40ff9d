package media

import (
	"time"

	"github.com/asticode/go-astiav"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// Audio decoders carry state from one packet to the next: Opus predicts
// each band's energy from the frame before (a decoder that starts cold
// mid-stream is several dB off for its first 100 ms or so, worst on quiet
// audio), and Opus and AAC overlap-add each frame with the previous one's
// tail. Trickle cuts one stream into segments, so a Decoder keeps its audio
// decoder from one segment to the next, without draining or flushing it
// (either would reset that state), as long as the audio carries on: the
// same codec parameters and no jump in the timestamps. Video is left alone:
// every segment starts at an IDR, which resets an H.264 decoder anyway, and
// keeping it undrained would hold pictures until the next segment arrives.

// audioParams are what a kept audio decoder was opened with; a segment
// whose audio stream differs in any of them gets a new decoder.
type audioParams struct {
	codec     astiav.CodecID
	rate      int
	layout    string
	extradata string
}

// audioParamsOf reads s's parameters as the MPEG-TS demuxer set them from
// the PMT (no probing: AAC shows no rate or layout there, and its decoder
// follows the ADTS headers; Opus gets its channels in the extradata).
func audioParamsOf(cp *astiav.CodecParameters) audioParams {
	return audioParams{codec: cp.CodecID(), rate: cp.SampleRate(), layout: cp.ChannelLayout().String(), extradata: string(cp.ExtraData())}
}

// maxAudioJump is how far a segment's first audio timestamp may be from
// where the kept decoder's last frame ended before the audio counts as a
// new stream (a lost segment, a restarted publisher): it is decoded from
// a fresh decoder, as the encoder that made it started fresh too.
const maxAudioJump = 200 * time.Millisecond

// keptAudio is the audio decoder a Decoder carries across segments.
type keptAudio struct {
	sd     *streamDecoder
	params audioParams
	// next is where the audio after the last frame decoded starts (in the
	// stream's time base), noPTS when unknown; checkJump says the current
	// segment has sent no packet yet.
	next      int64
	checkJump bool
	// failed: the decoder rejected a packet or a frame in this segment; it
	// is drained and dropped at the segment's end instead of kept.
	failed bool
}

// audioFor returns the audio decoder for stream s of a new segment: the
// kept one when s continues its stream, a new one (now kept) otherwise.
func (d *Decoder) audioFor(s *astiav.Stream) (*streamDecoder, error) {
	params := audioParamsOf(s.CodecParameters())
	tb := s.TimeBase()
	if k := d.kept; k != nil && k.params == params {
		k.sd.index, k.sd.tb = s.Index(), frame.Rational{Num: tb.Num(), Den: tb.Den()}
		k.checkJump, k.failed = true, false
		return k.sd, nil
	}
	d.dropAudio()
	sd, err := openStream(s, 1, false)
	if err != nil {
		return nil, err
	}
	d.kept = &keptAudio{sd: sd, params: params, next: noPTS}
	return sd, nil
}

// beforeAudioPacket is called with each audio packet before it is sent,
// and returns the decoder to send it to. On a segment's first packet, a
// timestamp jump from where the kept decoder left off replaces the decoder
// with a fresh one for stream s.
func (d *Decoder) beforeAudioPacket(pkt *astiav.Packet, s *astiav.Stream) (*streamDecoder, error) {
	k := d.kept
	if !k.checkJump {
		return k.sd, nil
	}
	k.checkJump = false
	if pts := pkt.Pts(); k.next != noPTS && pts != noPTS {
		jump := pts - k.next
		limit := frame.Rescale(int64(maxAudioJump/time.Microsecond), frame.Rational{Num: 1, Den: 1e6}, k.sd.tb)
		if jump > limit || jump < -limit {
			d.dropAudio()
			if _, err := d.audioFor(s); err != nil {
				return nil, err
			}
		}
	}
	return d.kept.sd, nil
}

// audioDecoded notes where a frame the kept decoder gave ends. (Packets
// from MPEG-TS read without probing carry no duration; frames do.)
func (d *Decoder) audioDecoded(sd *streamDecoder, a *frame.Audio) {
	if k := d.kept; k != nil && k.sd == sd {
		k.next = noPTS
		if a.PTS != noPTS && a.SampleRate > 0 {
			k.next = a.PTS + frame.Rescale(int64(a.NumSamples()), frame.Rational{Num: 1, Den: a.SampleRate}, a.TimeBase)
		}
	}
}

// dropAudio frees the kept audio decoder, if any.
func (d *Decoder) dropAudio() {
	if d.kept != nil {
		d.kept.sd.free()
		d.kept = nil
	}
}

// audioFailed marks the kept audio decoder failed if sd is it.
func (d *Decoder) audioFailed(sd *streamDecoder) {
	if d.kept != nil && d.kept.sd == sd {
		d.kept.failed = true
	}
}
