//go:build !cuda

package gpu

// cudaBuilt reports whether this binary has the cuda backend.
const cudaBuilt = false

func openCUDA(int) (backend, error) { return nil, ErrNotBuilt }
