// cuda_compat.h: what kernels.cu needs from CUDA's headers, so that it
// compiles with nvcc (which includes them itself) and with clang's CUDA
// front end under -nocudainc -nocudalib (no CUDA installation at all): the
// function qualifiers, the thread's output coordinates, and the
// individually rounded double/float operations that keep the compiler
// from fusing a multiply and an add (the Go references round every
// operation, so the GPU must too).
#ifndef GOTRICKLE_CUDA_COMPAT_H
#define GOTRICKLE_CUDA_COMPAT_H

#if defined(__NVCC__)

#define GT_TID_X (blockIdx.x * blockDim.x + threadIdx.x)
#define GT_TID_Y (blockIdx.y * blockDim.y + threadIdx.y)
#define GT_DMUL(a, b) __dmul_rn((a), (b))
#define GT_DADD(a, b) __dadd_rn((a), (b))
#define GT_DDIV(a, b) __ddiv_rn((a), (b))
#define GT_FDIV(a, b) __fdiv_rn((a), (b))

#elif defined(__clang__) && defined(__CUDA__)

#ifndef __global__
#define __global__ __attribute__((global))
#endif
#ifndef __device__
#define __device__ __attribute__((device))
#endif
#ifndef __forceinline__
#define __forceinline__ __inline__ __attribute__((always_inline))
#endif

// Clang folds the __nvvm_*_rn_* intrinsics into plain IR operations, which
// it would then contract into FMAs: forbid that (make-ptx.sh also passes
// -ffp-contract=off).
#pragma clang fp contract(off)

#define GT_TID_X (__nvvm_read_ptx_sreg_ctaid_x() * __nvvm_read_ptx_sreg_ntid_x() + __nvvm_read_ptx_sreg_tid_x())
#define GT_TID_Y (__nvvm_read_ptx_sreg_ctaid_y() * __nvvm_read_ptx_sreg_ntid_y() + __nvvm_read_ptx_sreg_tid_y())
#define GT_DMUL(a, b) __nvvm_mul_rn_d((a), (b))
#define GT_DADD(a, b) __nvvm_add_rn_d((a), (b))
#define GT_DDIV(a, b) __nvvm_div_rn_d((a), (b))
#define GT_FDIV(a, b) __nvvm_div_rn_f((a), (b))

#elif defined(GT_HOST)

// A host build for testing kernels.cu's arithmetic and indexing on the CPU
// (testdata/host.cpp): the driver sets gt_x, gt_y for each "thread".
#define __global__
#define __device__
#define __forceinline__ inline
static int gt_x, gt_y;
#define GT_TID_X gt_x
#define GT_TID_Y gt_y
#define GT_DMUL(a, b) ((double)(a) * (double)(b))
#define GT_DADD(a, b) ((double)(a) + (double)(b))
#define GT_DDIV(a, b) ((double)(a) / (double)(b))
#define GT_FDIV(a, b) ((float)(a) / (float)(b))

#else
#error "kernels.cu: compile with nvcc or clang -x cuda"
#endif

#endif
