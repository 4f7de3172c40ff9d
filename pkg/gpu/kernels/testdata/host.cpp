// host.cpp runs kernels.cu's kernels on the CPU, one "thread" at a time
// over a grid rounded up to 16×16 blocks (so the bounds checks matter),
// for host_test.go, which compares them with the Go references. Usage:
//   host KERNEL INT... < buffers > outputs
// where the buffers are the kernel's planes, inputs and (poisoned) outputs
// alike, in parameter order, and the outputs are written back in order.
#define GT_HOST 1
#include "../kernels.cu"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static std::vector<unsigned char> in;
static size_t off;

static unsigned char *take(size_t n) {
	if (off + n > in.size()) {
		fprintf(stderr, "host: stdin too short\n");
		exit(2);
	}
	unsigned char *p = in.data() + off;
	off += n;
	return p;
}

static void put(const void *p, size_t n) { fwrite(p, 1, n, stdout); }

template <typename F> static void grid(int w, int h, F f) {
	int gw = (w + 15) / 16 * 16, gh = (h + 15) / 16 * 16;
	for (gt_y = 0; gt_y < gh; gt_y++)
		for (gt_x = 0; gt_x < gw; gt_x++) f();
}

int main(int argc, char **argv) {
	if (argc < 2) return 2;
	std::string k = argv[1];
	std::vector<int> a;
	for (int i = 2; i < argc; i++) a.push_back(atoi(argv[i]));
	char c;
	while (fread(&c, 1, 1, stdin) == 1) in.push_back((unsigned char)c);
	if (k == "yuv420p_to_rgb24") { // w h ys us vs ds
		int w = a[0], h = a[1], ch = (h + 1) / 2;
		unsigned char *y = take((size_t)h * a[2]), *u = take((size_t)ch * a[3]), *v = take((size_t)ch * a[4]),
			*d = take((size_t)h * a[5]);
		grid(w, h, [&] { yuv420p_to_rgb24(d, a[5], y, a[2], u, a[3], v, a[4], w, h); });
		put(d, (size_t)h * a[5]);
	} else if (k == "nv12_to_rgb24") { // w h ys uvs ds
		int w = a[0], h = a[1], ch = (h + 1) / 2;
		unsigned char *y = take((size_t)h * a[2]), *uv = take((size_t)ch * a[3]), *d = take((size_t)h * a[4]);
		grid(w, h, [&] { nv12_to_rgb24(d, a[4], y, a[2], uv, a[3], w, h); });
		put(d, (size_t)h * a[4]);
	} else if (k == "rgb24_to_yuv420p") { // w h ss ys us vs
		int w = a[0], h = a[1], ch = (h + 1) / 2;
		unsigned char *s = take((size_t)h * a[2]), *y = take((size_t)h * a[3]), *u = take((size_t)ch * a[4]),
			*v = take((size_t)ch * a[5]);
		grid((w + 1) / 2, ch, [&] { rgb24_to_yuv420p(y, a[3], u, a[4], v, a[5], s, a[2], w, h); });
		put(y, (size_t)h * a[3]);
		put(u, (size_t)ch * a[4]);
		put(v, (size_t)ch * a[5]);
	} else if (k == "resize_rgb24") { // dw dh ds sh ss cx cy cw ch
		unsigned char *s = take((size_t)a[3] * a[4]), *d = take((size_t)a[1] * a[2]);
		grid(a[0], a[1], [&] { resize_rgb24(d, a[2], a[0], a[1], s, a[4], a[5], a[6], a[7], a[8]); });
		put(d, (size_t)a[1] * a[2]);
	} else if (k == "rgb24_to_f32") { // w h ss planar
		int w = a[0], h = a[1];
		unsigned char *s = take((size_t)h * a[2]);
		float *d = (float *)take((size_t)3 * w * h * sizeof(float));
		grid(w, h, [&] { rgb24_to_f32(d, s, a[2], w, h, a[3]); });
		put(d, (size_t)3 * w * h * sizeof(float));
	} else if (k == "colorgrade_rgb24") { // w h stride intensity-bits
		int w = a[0], h = a[1];
		unsigned bits = (unsigned)strtoul(argv[5], 0, 10);
		float intensity;
		memcpy(&intensity, &bits, sizeof intensity);
		unsigned char *p = take((size_t)h * a[2]);
		grid(w, h, [&] { colorgrade_rgb24(p, a[2], w, h, intensity); });
		put(p, (size_t)h * a[2]);
	} else {
		fprintf(stderr, "host: no kernel %s\n", k.c_str());
		return 2;
	}
	return 0;
}
