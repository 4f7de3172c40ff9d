package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/gotrickle/gotrickle/pkg/gpu"
)

// openDevice opens the device --device names; "none" is no device (the
// host frame path). A cuda request that cannot be met is an error, not a
// silent fall back to the host.
func openDevice(kind string, log *slog.Logger) (*gpu.Device, error) {
	switch kind {
	case "none", "":
		return nil, nil
	case "auto", "cpu", "cuda":
	default:
		return nil, fmt.Errorf("%w: --device %q: want none, auto, cpu or cuda", errUsage, kind)
	}
	dev, err := gpu.Open(gpu.Config{Kind: gpu.Kind(kind)})
	if errors.Is(err, gpu.ErrNotBuilt) {
		return nil, fmt.Errorf("%w: --device cuda: %w (build with -tags cuda)", errUsage, err)
	}
	if err != nil {
		return nil, fmt.Errorf("--device %s: %w", kind, err)
	}
	log.Info("video frame path on a device", "device", dev.Name(), "kind", string(dev.Kind()))
	return dev, nil
}

// checkHWDecode refuses a --hwdecode that --device cannot serve, before
// anything is opened.
func checkHWDecode(hw, device string) error {
	switch {
	case hw == "":
		return nil
	case hw != "cuda":
		return fmt.Errorf("%w: --hwdecode %q: want cuda or nothing", errUsage, hw)
	case device != "cuda":
		return fmt.Errorf("%w: --hwdecode cuda needs --device cuda (NVDEC's pictures stay in device memory)", errUsage)
	}
	return nil
}
