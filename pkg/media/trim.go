package media

// #include <malloc.h>
import "C"

// ReleaseMemory hands the C heap's free pages back to the operating system
// (glibc's malloc_trim). FFmpeg's decoders and x264 allocate and free
// tens of megabytes per stream across several malloc arenas, which glibc
// keeps mapped after they are freed; a processor calls this once a stream
// has ended so that it idles at its idle size. It implements the
// processor's optional memory-release hook on Codecs.
func (Codecs) ReleaseMemory() { C.malloc_trim(0) }

// Codecs releases its C memory when the processor says a stream has ended.
var _ interface{ ReleaseMemory() } = Codecs{}

// cHeapInUse is the number of bytes the C heap has handed out and not had
// back (glibc's mallinfo2: in-use chunks plus mmapped ones), summed over
// every arena. Tests use it to find C leaks exactly, where RSS also moves
// with the Go heap, thread stacks and the allocator's free lists.
func cHeapInUse() int64 {
	m := C.mallinfo2()
	return int64(m.uordblks + m.hblkhd)
}
