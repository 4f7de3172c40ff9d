package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gotrickle/gotrickle/internal/scaffold"
)

// replaceEnv sets --gotrickle-replace's default.
const replaceEnv = "GOTRICKLE_REPLACE"

type initFlags struct {
	template, out, replace string
	port                   int
	force                  bool
}

func newInitCmd() *cobra.Command {
	var f initFlags
	c := &cobra.Command{
		Use:   "init NAME",
		Short: "Create a new processor module from a template",
		Long: `Create a Go module that serves a handler with PyTrickle's HTTP API, like
PyTrickle's "pytrickle init": NAME is its module path ("myproc" or
"github.com/me/myproc"), and its last element the directory made under --out
(and the program's name). The module holds go.mod, main.go (the server, with
-port, -host, -route-prefix and -log-level flags), handler.go (the template's
handler), handler_test.go, README.md, a Makefile and .gitignore. See
"gotrickle list" for the templates.

go.mod requires github.com/gotrickle/gotrickle at the version this gotrickle was
built from; a development build writes no version, and "go mod tidy" adds the
latest release. --gotrickle-replace DIR (default $` + replaceEnv + `) points the
module at a local gotrickle checkout instead: it requires v0.0.0 and adds a
replace line for DIR, for developing gotrickle and the module together.

A directory that exists and is not empty is refused unless --force is given;
then the generated files replace those of the same name and nothing else is
touched.`,
		Example: `  gotrickle init myproc --template colorgrade
  gotrickle init github.com/me/detector --template boxes --port 9000 --out ~/src
  cd myproc && go mod tidy && go run .`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%w: init takes one NAME, got %d arguments (see %s --help)", errUsage, len(args),
					c.CommandPath())
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return runInit(c, args[0], f)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&f.template, "template", "t", scaffold.DefaultTemplate, "the template (see gotrickle list)")
	fl.IntVar(&f.port, "port", scaffold.DefaultPort, "the generated server's default port")
	fl.StringVar(&f.out, "out", ".", "the directory to create the module's directory in")
	fl.BoolVar(&f.force, "force", false, "write into a directory that is not empty")
	fl.StringVar(&f.replace, "gotrickle-replace", os.Getenv(replaceEnv),
		"a local gotrickle checkout for go.mod's replace line (default $"+replaceEnv+")")
	return c
}

func runInit(c *cobra.Command, name string, f initFlags) error {
	opts := scaffold.Options{Name: name, Template: f.template, Port: f.port, Version: scaffold.BuildVersion()}
	if f.port == 0 {
		return fmt.Errorf("%w: --port 0: want 1..65535", errUsage)
	}
	if f.replace != "" {
		dir, err := scaffold.CheckReplace(f.replace)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		opts.Replace = dir
	}
	files, err := scaffold.Render(opts)
	if errors.Is(err, scaffold.ErrInvalid) {
		return fmt.Errorf("%w: %w", errUsage, err)
	} else if err != nil {
		return err
	}
	dir := filepath.Join(f.out, scaffold.Dir(name))
	if err := scaffold.Write(dir, files, f.force); err != nil {
		return err
	}

	w := c.OutOrStdout()
	fmt.Fprintf(w, "created %s (module %s, template %s)\n", dir, name, opts.Template)
	for _, file := range files {
		fmt.Fprintf(w, "  %s\n", file.Path)
	}
	switch {
	case opts.Replace != "":
		fmt.Fprintf(w, "gotrickle is replaced by %s\n", opts.Replace)
	case opts.Version == "":
		fmt.Fprintln(w, "this gotrickle is a development build: go mod tidy will require the latest release")
	default:
		fmt.Fprintf(w, "requires gotrickle %s\n", opts.Version)
	}
	fmt.Fprintf(w, "next: cd %s && go mod tidy && go run . (it listens on port %d)\n", dir, f.port)
	return nil
}
