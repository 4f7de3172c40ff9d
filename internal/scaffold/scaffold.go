// Package scaffold writes a new Go module that serves a gotrickle handler:
// the files behind `gotrickle init NAME --template T`, PyTrickle's
// `pytrickle init` for Go.
//
// The templates are text/template files embedded from templates/: those in
// templates/common go into every module (go.mod, main.go, README.md,
// Makefile, .gitignore), those in templates/<name> make the template
// (handler.go and handler_test.go). A file name drops its ".tmpl" suffix
// and a leading "dot-" becomes "." (so embed keeps it). Rendered Go files
// go through go/format, so the module is gofmt-clean whatever the
// template's spacing. As "{{" opens a template action, Go code in a
// template must not open a composite literal with it: write "{ {" (gofmt
// closes it up) or name the element type.
//
// # The gotrickle requirement
//
// The module requires github.com/gotrickle/gotrickle at Options.Version,
// normally the version the running gotrickle binary was built from
// (BuildVersion). With Options.Replace (the CLI's --gotrickle-replace or
// $GOTRICKLE_REPLACE) it requires v0.0.0 and replaces the module with that
// local checkout instead, for developing gotrickle and the module together
// and for testing the templates against the working tree. With neither (a
// development build of gotrickle) go.mod has no require line: `go mod
// tidy` then adds the latest published version.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

// ModulePath is gotrickle's module path, the one generated modules require.
const ModulePath = "github.com/gotrickle/gotrickle"

// GoVersion is the go directive of generated modules: gotrickle's own.
const GoVersion = "1.26.0"

// DefaultTemplate and DefaultPort are what Options gets when those are
// unset, as in PyTrickle's CLI.
const (
	DefaultTemplate = "passthrough"
	DefaultPort     = 8000
)

// Errors. ErrInvalid marks a bad option (a usage error: the CLI exits 2);
// ErrNotEmpty a target directory that already has files in it.
var (
	ErrInvalid  = errors.New("invalid option")
	ErrNotEmpty = errors.New("directory is not empty")
)

// Template is one starting point for a new module.
type Template struct {
	// Name is what --template takes.
	Name string
	// Description is one line for `gotrickle list`.
	Description string
}

// templates in the order `gotrickle list` prints them. Each has a
// directory under templates/ (a test checks both ways).
var templates = []Template{
	{"passthrough", "sends every frame on unchanged: the smallest handler, a place to start"},
	{"colorgrade", "warm colour grade whose \"intensity\" parameter changes live (UpdateParams)"},
	{"audiofilter", "audio handler: \"gain\" and \"mute\" parameters change the samples; video passes through"},
	{"boxes", "draws detector-style boxes on every frame with image/draw (\"boxes\", \"color\" parameters)"},
}

//go:embed templates
var files embed.FS

// Templates returns the templates, in the order to list them.
func Templates() []Template { return slices.Clone(templates) }

// Lookup returns the template called name.
func Lookup(name string) (Template, error) {
	for _, t := range templates {
		if t.Name == name {
			return t, nil
		}
	}
	names := make([]string, len(templates))
	for i, t := range templates {
		names[i] = t.Name
	}
	return Template{}, fmt.Errorf("%w: unknown template %q (templates: %s; see gotrickle list)", ErrInvalid, name,
		strings.Join(names, ", "))
}

// Options says what to generate.
type Options struct {
	// Name is the module path ("myproc", "github.com/me/myproc"); its
	// last element names the directory and the program. See CheckName.
	Name string
	// Template is the template's name (default DefaultTemplate).
	Template string
	// Port is the generated server's default port (default DefaultPort).
	Port int
	// Version is the gotrickle version to require (a semantic version,
	// "v1.2.3"). Empty: no require line, unless Replace is set.
	Version string
	// Replace is the absolute path of a local gotrickle checkout: the
	// module requires v0.0.0 and replaces it with this directory.
	Replace string
}

// File is one generated file.
type File struct {
	// Path is slash-separated, relative to the module's directory.
	Path string
	Data []byte
}

// Dir returns the directory (and program) name for the module path name:
// its last element.
func Dir(name string) string { return path.Base(name) }

// elemRE is what one element of a module path may be here: ASCII letters,
// digits and "-._~" (Go's module path characters), starting with a letter
// or digit (so no element is ".", "..", a hidden directory or a flag).
var elemRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]*$`)

// stdRoots are the top-level directories of Go's standard library (Go
// 1.26): a module path whose first element is one of them shadows the
// packages under it ("image" would hold image, image/color...) and the
// build fails with "ambiguous import".
var stdRoots = []string{"archive", "arena", "bufio", "builtin", "bytes", "cmd", "cmp", "compress", "container",
	"context", "crypto", "database", "debug", "embed", "encoding", "errors", "expvar", "flag", "fmt", "go", "hash",
	"html", "image", "index", "internal", "io", "iter", "log", "maps", "math", "mime", "net", "os", "path", "plugin",
	"reflect", "regexp", "runtime", "simd", "slices", "sort", "strconv", "strings", "structs", "sync", "syscall",
	"testdata", "testing", "text", "time", "unicode", "unique", "unsafe", "vendor", "weak"}

// CheckName reports whether name can be the module path of a new module
// and, by its last element, the name of its directory: slash-separated
// elements of ASCII letters, digits and "-._~", each starting with a
// letter or digit and not ending with a dot, and a first element that is
// not a top-level standard library directory.
func CheckName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: NAME %q is not a valid module name: %s", ErrInvalid, name, why)
	}
	switch {
	case name == "":
		return bad("it is empty")
	case len(name) > 255:
		return bad("it is longer than 255 bytes")
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return bad("it starts or ends with a slash")
	}
	for _, e := range strings.Split(name, "/") {
		switch {
		case e == "":
			return bad("it has an empty path element")
		case !elemRE.MatchString(e):
			return bad(fmt.Sprintf("element %q must be ASCII letters, digits and -._~, starting with a letter or digit", e))
		case strings.HasSuffix(e, "."):
			return bad(fmt.Sprintf("element %q ends with a dot", e))
		}
	}
	if first, _, _ := strings.Cut(name, "/"); slices.Contains(stdRoots, first) {
		return bad(fmt.Sprintf("%q is a standard library path; choose another name, or a path such as example.com/%s", first, name))
	}
	return nil
}

// semverRE is a semantic version a go.mod require line can name (no
// build metadata such as +dirty).
var semverRE = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

// BuildVersion returns the gotrickle version the running binary was built
// from, when it is one a go.mod can require: the main module's version for
// `go install github.com/gotrickle/gotrickle/cmd/gotrickle@v1.2.3`, or the
// dependency's for a program that imports gotrickle. A development build
// ("(devel)", or a VCS stamp with +dirty) gives "".
func BuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	v := ""
	if bi.Main.Path == ModulePath {
		v = bi.Main.Version
	} else {
		for _, d := range bi.Deps {
			if d.Path == ModulePath {
				v = d.Version
				if d.Replace != nil {
					v = ""
				}
			}
		}
	}
	if !semverRE.MatchString(v) {
		return ""
	}
	return v
}

// CheckReplace checks that dir is a gotrickle checkout (its go.mod declares
// ModulePath) and returns its absolute, cleaned path.
func CheckReplace(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("%w: --gotrickle-replace %q: %w", ErrInvalid, dir, err)
	}
	b, err := os.ReadFile(filepath.Join(abs, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("%w: --gotrickle-replace %q is not a gotrickle checkout: %w", ErrInvalid, dir, err)
	}
	if modulePath(b) != ModulePath {
		return "", fmt.Errorf("%w: --gotrickle-replace %q: its go.mod is module %q, not %s", ErrInvalid, dir,
			modulePath(b), ModulePath)
	}
	return abs, nil
}

// modulePath returns the path of go.mod's module directive.
func modulePath(gomod []byte) string {
	for line := range strings.Lines(string(gomod)) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" {
			if p, err := strconv.Unquote(f[1]); err == nil {
				return p
			}
			return f[1]
		}
	}
	return ""
}

// data is what the templates see.
type data struct {
	Module      string // module path
	Dir         string // directory and program name
	Template    string
	Description string
	Port        int
	GoVersion   string
	Gotrickle   string // ModulePath
	Version     string // required version; "" for none
	Replace     string // go.mod replace target, quoted when it must be; "" for none
}

// Render returns the files of the module opts describes, sorted by path.
// It checks every option (errors wrap ErrInvalid) and writes nothing.
func Render(opts Options) ([]File, error) {
	if opts.Template == "" {
		opts.Template = DefaultTemplate
	}
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if err := CheckName(opts.Name); err != nil {
		return nil, err
	}
	tmpl, err := Lookup(opts.Template)
	if err != nil {
		return nil, err
	}
	if opts.Port < 1 || opts.Port > 65535 {
		return nil, fmt.Errorf("%w: port %d: want 1..65535", ErrInvalid, opts.Port)
	}
	d := data{Module: opts.Name, Dir: Dir(opts.Name), Template: tmpl.Name, Description: tmpl.Description,
		Port: opts.Port, GoVersion: GoVersion, Gotrickle: ModulePath, Version: opts.Version}
	if opts.Replace != "" {
		if !filepath.IsAbs(opts.Replace) {
			return nil, fmt.Errorf("%w: replace %q is not an absolute path", ErrInvalid, opts.Replace)
		}
		d.Version = "v0.0.0"
		d.Replace = modQuote(filepath.ToSlash(opts.Replace))
	} else if d.Version != "" && !semverRE.MatchString(d.Version) {
		return nil, fmt.Errorf("%w: gotrickle version %q is not a semantic version", ErrInvalid, d.Version)
	}

	// Common files first, then the template's, which may override them.
	byPath := map[string][]byte{}
	for _, dir := range []string{"templates/common", "templates/" + tmpl.Name} {
		if err := renderDir(dir, d, byPath); err != nil {
			return nil, err
		}
	}
	out := make([]File, 0, len(byPath))
	for p, b := range byPath {
		out = append(out, File{Path: p, Data: b})
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// renderDir renders every template under dir into out, keyed by output
// path.
func renderDir(dir string, d data, out map[string][]byte) error {
	return fs.WalkDir(files, dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		src, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, dir+"/")
		if !strings.HasSuffix(rel, ".tmpl") {
			return fmt.Errorf("scaffold: %s: template files end in .tmpl", p)
		}
		name := outputPath(rel)
		t, err := template.New(rel).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return fmt.Errorf("scaffold: %w", err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, d); err != nil {
			return fmt.Errorf("scaffold: %w", err)
		}
		b := buf.Bytes()
		if strings.HasSuffix(name, ".go") {
			if b, err = format.Source(b); err != nil {
				return fmt.Errorf("scaffold: %s does not parse as Go: %w", p, err)
			}
		}
		out[name] = b
		return nil
	})
}

// outputPath is the path a template file renders to: ".tmpl" dropped, a
// leading "dot-" in the file name turned into ".".
func outputPath(rel string) string {
	rel = strings.TrimSuffix(rel, ".tmpl")
	dir, file := path.Split(rel)
	if rest, ok := strings.CutPrefix(file, "dot-"); ok {
		file = "." + rest
	}
	return dir + file
}

// modQuote quotes a go.mod path when go.mod's syntax needs it.
func modQuote(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\r\n\"'`\\()[]{},") || strings.Contains(s, "//") || strings.Contains(s, "/*") {
		return strconv.Quote(s)
	}
	return s
}

// Write writes files into dir, creating it (and its parents) if needed.
// A dir that exists and has anything in it is refused with ErrNotEmpty,
// and nothing is written, unless force is set: then the generated files
// replace any of the same name and other files are left alone.
func Write(dir string, files []File, force bool) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("%s exists and is not a directory", dir)
	case err == nil && !force:
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		if len(ents) > 0 {
			return fmt.Errorf("%w: %s has %d entries (use --force to write into it anyway)", ErrNotEmpty, dir, len(ents))
		}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
