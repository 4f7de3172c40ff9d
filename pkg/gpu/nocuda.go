//go:build !cuda

package gpu

// cudaBuilt reports whether this binary has the cuda backend.
const cudaBuilt = false

func openCUDA(int) (backend, error) { return nil, ErrNotBuilt }

// devAddr is a cuda buffer's device address; there are none in this build.
func devAddr(any) uintptr { return 0 }
