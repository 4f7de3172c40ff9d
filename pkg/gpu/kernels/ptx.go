package kernels

import _ "embed"

// PTX is kernels.cu compiled for compute_70 (make-ptx.sh), which the CUDA
// driver JIT-compiles for the GPU at hand (sm_70 and newer). Its entries
// are Table's names.
//
//go:embed kernels.ptx
var PTX string
