// fakecuda: a stand-in libcuda.so.1 for checking pkg/gpu's cuda backend on a
// machine without a GPU (see run.sh). "Device" memory is host memory; copies
// happen at once; streams are always idle; kernels are not run: each launch
// is checked (block 16×16×1, every pointer argument inside a live device
// allocation, the context current) and logged with its arguments decoded by
// the entry's .param types in the PTX. Every entry point checks that the
// primary context is current on the calling thread, as the real driver
// needs. Functions pkg/gpu does not use are generated stubs returning
// CUDA_ERROR_NOT_SUPPORTED.
#include <cuda.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *logfile(void) {
  static FILE *f;
  if (!f) {
    const char *p = getenv("FAKECUDA_LOG");
    f = p ? fopen(p, "w") : stderr;
    if (!f) f = stderr;
    setvbuf(f, NULL, _IOLBF, 0);
  }
  return f;
}

static int ctxtoken, modtoken;
static int primaryRefs;
static char *ptx;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static __thread CUcontext stack[64];
static __thread int depth;

static int current(void) { return depth > 0 && stack[depth - 1] == (CUcontext)&ctxtoken; }
#define NEED_CTX() do { if (!current()) { fprintf(logfile(), "ERROR %s: no current context\n", __func__); return CUDA_ERROR_INVALID_CONTEXT; } } while (0)

enum { DEV = 1, HOST = 2 };
static struct { char *p; size_t n; int kind; } allocs[1 << 14];

static int track(void *p, size_t n, int kind) {
  pthread_mutex_lock(&mu);
  for (int i = 0; i < (int)(sizeof allocs / sizeof allocs[0]); i++)
    if (!allocs[i].p) { allocs[i].p = p; allocs[i].n = n; allocs[i].kind = kind; pthread_mutex_unlock(&mu); return 1; }
  pthread_mutex_unlock(&mu);
  return 0;
}
static int untrack(void *p, int kind) {
  pthread_mutex_lock(&mu);
  for (int i = 0; i < (int)(sizeof allocs / sizeof allocs[0]); i++)
    if (allocs[i].p == p && allocs[i].kind == kind) { allocs[i].p = NULL; pthread_mutex_unlock(&mu); return 1; }
  pthread_mutex_unlock(&mu);
  return 0;
}
// inside: index of the allocation of kind holding [p, p+n), or -1.
static int inside(const void *p, size_t n, int kind) {
  const char *c = p;
  pthread_mutex_lock(&mu);
  for (int i = 0; i < (int)(sizeof allocs / sizeof allocs[0]); i++)
    if (allocs[i].p && allocs[i].kind == kind && c >= allocs[i].p && c + n <= allocs[i].p + allocs[i].n) { pthread_mutex_unlock(&mu); return i; }
  pthread_mutex_unlock(&mu);
  return -1;
}

CUresult cuInit(unsigned int flags) { return flags ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS; }
CUresult cuDriverGetVersion(int *v) { *v = 11080; return CUDA_SUCCESS; }
CUresult cuDeviceGetCount(int *n) { *n = 1; return CUDA_SUCCESS; }
CUresult cuDeviceGet(CUdevice *d, int ord) { if (ord != 0) return CUDA_ERROR_INVALID_DEVICE; *d = 0; return CUDA_SUCCESS; }
CUresult cuDeviceGetName(char *name, int len, CUdevice d) { snprintf(name, len, "fakecuda"); return CUDA_SUCCESS; }
CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice d, unsigned int flags) {
  if (flags != CU_CTX_SCHED_BLOCKING_SYNC) fprintf(logfile(), "note: primary context flags %u\n", flags);
  return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) {
  pthread_mutex_lock(&mu); primaryRefs++; pthread_mutex_unlock(&mu);
  *c = (CUcontext)&ctxtoken; return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
  pthread_mutex_lock(&mu);
  int ok = primaryRefs > 0; if (ok) primaryRefs--;
  pthread_mutex_unlock(&mu);
  if (!ok) fprintf(logfile(), "ERROR cuDevicePrimaryCtxRelease: not retained\n");
  fprintf(logfile(), "primary context released, %d references left\n", primaryRefs);
  return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}
CUresult cuCtxPushCurrent_v2(CUcontext c) { if (depth == 64) return CUDA_ERROR_INVALID_VALUE; stack[depth++] = c; return CUDA_SUCCESS; }
CUresult cuCtxPopCurrent_v2(CUcontext *c) {
  if (!depth) return CUDA_ERROR_INVALID_CONTEXT;
  depth--; if (c) *c = stack[depth]; return CUDA_SUCCESS;
}

CUresult cuModuleLoadDataEx(CUmodule *m, const void *image, unsigned int n, CUjit_option *opts, void **vals) {
  NEED_CTX();
  if (!strstr(image, ".entry")) return CUDA_ERROR_INVALID_PTX;
  pthread_mutex_lock(&mu); free(ptx); ptx = strdup(image); pthread_mutex_unlock(&mu);
  *m = (CUmodule)&modtoken; return CUDA_SUCCESS;
}
CUresult cuModuleUnload(CUmodule m) { NEED_CTX(); return m == (CUmodule)&modtoken ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }

// A function is the text of its entry's parameter list in the PTX.
CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
  NEED_CTX();
  char key[256];
  snprintf(key, sizeof key, ".entry %s(", name);
  char *e = ptx ? strstr(ptx, key) : NULL;
  if (!e) return CUDA_ERROR_NOT_FOUND;
  *f = (CUfunction)e; return CUDA_SUCCESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
  NEED_CTX();
  void *m = malloc(n);
  if (!m || !track(m, n, DEV)) return CUDA_ERROR_OUT_OF_MEMORY;
  memset(m, 0x5a, n);
  *p = (CUdeviceptr)m; return CUDA_SUCCESS;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
  NEED_CTX();
  if (!untrack((void *)p, DEV)) { fprintf(logfile(), "ERROR cuMemFree: %p not allocated\n", (void *)p); return CUDA_ERROR_INVALID_VALUE; }
  free((void *)p); return CUDA_SUCCESS;
}
CUresult cuMemAllocHost_v2(void **p, size_t n) {
  NEED_CTX();
  void *m = malloc(n);
  if (!m || !track(m, n, HOST)) return CUDA_ERROR_OUT_OF_MEMORY;
  *p = m; return CUDA_SUCCESS;
}
CUresult cuMemFreeHost(void *p) {
  NEED_CTX();
  if (!untrack(p, HOST)) { fprintf(logfile(), "ERROR cuMemFreeHost: %p not allocated\n", p); return CUDA_ERROR_INVALID_VALUE; }
  free(p); return CUDA_SUCCESS;
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s) {
  NEED_CTX();
  if (inside((void *)dst, n, DEV) < 0) { fprintf(logfile(), "ERROR HtoD: dst not device memory\n"); return CUDA_ERROR_INVALID_VALUE; }
  if (inside(src, n, HOST) < 0) { fprintf(logfile(), "ERROR HtoD: src not pinned\n"); return CUDA_ERROR_INVALID_VALUE; }
  memcpy((void *)dst, src, n); return CUDA_SUCCESS;
}
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s) {
  NEED_CTX();
  if (inside((void *)src, n, DEV) < 0) { fprintf(logfile(), "ERROR DtoH: src not device memory\n"); return CUDA_ERROR_INVALID_VALUE; }
  if (inside(dst, n, HOST) < 0) { fprintf(logfile(), "ERROR DtoH: dst not pinned\n"); return CUDA_ERROR_INVALID_VALUE; }
  memcpy(dst, (void *)src, n); return CUDA_SUCCESS;
}
CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *c, CUstream s) {
  NEED_CTX();
  if (c->srcMemoryType != CU_MEMORYTYPE_DEVICE || c->dstMemoryType != CU_MEMORYTYPE_DEVICE || c->srcXInBytes || c->dstXInBytes || c->srcY || c->dstY) {
    fprintf(logfile(), "ERROR 2D copy: only device to device from (0,0)\n"); return CUDA_ERROR_INVALID_VALUE;
  }
  if (c->Height == 0 || c->srcPitch < c->WidthInBytes || c->dstPitch < c->WidthInBytes) { fprintf(logfile(), "ERROR 2D copy: bad pitch\n"); return CUDA_ERROR_INVALID_VALUE; }
  size_t sn = c->srcPitch * (c->Height - 1) + c->WidthInBytes, dn = c->dstPitch * (c->Height - 1) + c->WidthInBytes;
  if (inside((void *)c->srcDevice, sn, DEV) < 0) { fprintf(logfile(), "ERROR 2D copy: src not device memory\n"); return CUDA_ERROR_INVALID_VALUE; }
  if (inside((void *)c->dstDevice, dn, DEV) < 0) { fprintf(logfile(), "ERROR 2D copy: dst not device memory\n"); return CUDA_ERROR_INVALID_VALUE; }
  for (size_t y = 0; y < c->Height; y++) memmove((char *)c->dstDevice + y * c->dstPitch, (const char *)c->srcDevice + y * c->srcPitch, c->WidthInBytes);
  fprintf(logfile(), "copy2d %zux%zu\n", c->WidthInBytes, c->Height);
  return CUDA_SUCCESS;
}

CUresult cuStreamCreate(CUstream *s, unsigned int flags) {
  NEED_CTX();
  if (flags != CU_STREAM_NON_BLOCKING) fprintf(logfile(), "note: stream flags %u\n", flags);
  *s = (CUstream)malloc(1); return CUDA_SUCCESS;
}
CUresult cuStreamDestroy_v2(CUstream s) { NEED_CTX(); free(s); return CUDA_SUCCESS; }
CUresult cuStreamSynchronize(CUstream s) { NEED_CTX(); return CUDA_SUCCESS; }
CUresult cuStreamQuery(CUstream s) { NEED_CTX(); return CUDA_SUCCESS; }

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shm, CUstream s, void **params, void **extra) {
  NEED_CTX();
  const char *e = (const char *)f + strlen(".entry ");
  const char *end = strchr(e, ')');
  char line[2048];
  int o = snprintf(line, sizeof line, "launch %.*s grid %ux%ux%u block %ux%ux%u:", (int)(strchr(e, '(') - e), e, gx, gy, gz, bx, by, bz);
  CUresult r = CUDA_SUCCESS;
  if (bx != 16 || by != 16 || bz != 1 || gz != 1 || gx == 0 || gy == 0 || shm != 0 || extra) r = CUDA_ERROR_INVALID_VALUE;
  int i = 0;
  for (const char *p = strstr(e, ".param "); p && p < end; p = strstr(p + 1, ".param "), i++) {
    if (!strncmp(p, ".param .u64", 11)) {
      uint64_t v = *(uint64_t *)params[i];
      int a = inside((void *)v, 1, DEV);
      if (a < 0) r = CUDA_ERROR_ILLEGAL_ADDRESS;
      o += snprintf(line + o, sizeof line - o, " ptr(%s+%ld)", a < 0 ? "BAD" : "alloc", a < 0 ? 0L : (long)((char *)v - allocs[a].p));
    } else if (!strncmp(p, ".param .u32", 11)) {
      o += snprintf(line + o, sizeof line - o, " %d", *(int32_t *)params[i]);
    } else if (!strncmp(p, ".param .f32", 11)) {
      o += snprintf(line + o, sizeof line - o, " %g", *(float *)params[i]);
    } else {
      r = CUDA_ERROR_INVALID_VALUE;
    }
  }
  fprintf(logfile(), "%s%s\n", line, r ? " ERROR" : "");
  return r;
}
