//go:build !unix

package client

import (
	"os"
	"os/exec"
)

// Without process groups, signals reach the shell only.

func ownProcessGroup(*exec.Cmd) {}

func signalGroup(c *exec.Cmd, kill bool) {
	if c.Process == nil {
		return
	}
	if kill {
		c.Process.Kill()
		return
	}
	c.Process.Signal(os.Interrupt)
}

func exitSignal(*os.ProcessState) string { return "" }
