package scaffold

import (
	"bytes"
	"errors"
	"go/build"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEveryTemplateHasItsFilesAndEveryDirectoryIsATemplate(t *testing.T) {
	ents, err := fs.ReadDir(files, "templates")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range ents {
		if e.Name() != "common" {
			dirs = append(dirs, e.Name())
		}
	}
	var names []string
	for _, tm := range Templates() {
		names = append(names, tm.Name)
		if tm.Description == "" || strings.Contains(tm.Description, "\n") {
			t.Errorf("%s: the description must be one line: %q", tm.Name, tm.Description)
		}
		for _, f := range []string{"handler.go.tmpl", "handler_test.go.tmpl"} {
			if _, err := fs.Stat(files, "templates/"+tm.Name+"/"+f); err != nil {
				t.Errorf("%s: %v", tm.Name, err)
			}
		}
	}
	slices.Sort(dirs)
	slices.Sort(names)
	if !slices.Equal(dirs, names) {
		t.Fatalf("template directories %v, templates %v", dirs, names)
	}
	if !slices.Contains(names, DefaultTemplate) {
		t.Fatalf("the default template %q is not a template", DefaultTemplate)
	}
}

func render(t *testing.T, opts Options) map[string]string {
	t.Helper()
	fs, err := Render(opts)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, f := range fs {
		m[f.Path] = string(f.Data)
	}
	return m
}

func TestRenderedGoFilesParseAndAreFormatted(t *testing.T) {
	for _, tm := range Templates() {
		t.Run(tm.Name, func(t *testing.T) {
			m := render(t, Options{Name: "example.com/me/" + tm.Name, Template: tm.Name, Port: 9001, Replace: "/src/gotrickle"})
			want := []string{".gitignore", "Makefile", "README.md", "go.mod", "handler.go", "handler_test.go", "main.go"}
			got := make([]string, 0, len(m))
			for p := range m {
				got = append(got, p)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("files %v, want %v", got, want)
			}
			for p, src := range m {
				if strings.Contains(src, "<no value>") {
					t.Errorf("%s renders a missing value", p)
				}
				if !strings.HasSuffix(p, ".go") {
					continue
				}
				f, err := parser.ParseFile(token.NewFileSet(), p, src, parser.ParseComments)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if f.Name.Name != "main" {
					t.Errorf("%s is package %s, want main", p, f.Name.Name)
				}
				if b, _ := format.Source([]byte(src)); !bytes.Equal(b, []byte(src)) {
					t.Errorf("%s is not gofmt-clean", p)
				}
			}
			if !strings.Contains(m["main.go"], `env("PORT", "9001")`) {
				t.Errorf("main.go does not default to port 9001")
			}
			if !strings.Contains(m["handler.go"], "func newHandler()") {
				t.Errorf("handler.go has no newHandler, which main.go calls")
			}
			if !strings.Contains(m["README.md"], "--template "+tm.Name) || !strings.Contains(m["Makefile"], "BIN := "+tm.Name) {
				t.Errorf("README.md or Makefile does not name the template and program")
			}
		})
	}
}

func TestGoModRequiresTheRightGotrickle(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     Options
		want     []string
		dontWant []string
	}{
		{"a release", Options{Version: "v1.4.2"},
			[]string{"module myproc\n", "go " + GoVersion + "\n", "require github.com/gotrickle/gotrickle v1.4.2\n"},
			[]string{"replace"}},
		{"a local checkout", Options{Replace: "/src/gotrickle", Version: "v1.4.2"},
			[]string{"require github.com/gotrickle/gotrickle v0.0.0\n", "replace github.com/gotrickle/gotrickle => /src/gotrickle\n"},
			[]string{"v1.4.2"}},
		{"a checkout with a space in its path", Options{Replace: "/my src/gotrickle"},
			[]string{`replace github.com/gotrickle/gotrickle => "/my src/gotrickle"` + "\n"}, nil},
		{"a development build", Options{},
			[]string{"module myproc\n"},
			[]string{"require", "replace"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Name = "myproc"
			gomod := render(t, opts)["go.mod"]
			for _, w := range tc.want {
				if !strings.Contains(gomod, w) {
					t.Errorf("go.mod lacks %q:\n%s", w, gomod)
				}
			}
			for _, w := range tc.dontWant {
				if strings.Contains(gomod, w) {
					t.Errorf("go.mod has %q:\n%s", w, gomod)
				}
			}
			if !strings.HasSuffix(gomod, "\n") || strings.HasSuffix(gomod, "\n\n") {
				t.Errorf("go.mod should end in one newline: %q", gomod)
			}
		})
	}
}

func TestGoVersionIsGotrickles(t *testing.T) {
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\ngo "+GoVersion+"\n") {
		t.Fatalf("gotrickle's go.mod does not say go %s", GoVersion)
	}
}

func TestRenderRefusesBadOptions(t *testing.T) {
	for _, opts := range []Options{
		{Name: ""},
		{Name: "my proc"},
		{Name: "myproc", Template: "nosuch"},
		{Name: "myproc", Port: -1},
		{Name: "myproc", Port: 65536},
		{Name: "myproc", Version: "latest"},
		{Name: "myproc", Version: "v1.2.3+dirty"},
		{Name: "myproc", Replace: "relative/path"},
	} {
		if _, err := Render(opts); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", opts, err)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"myproc", "my-proc_2", "example.com/me/myproc", "github.com/Me/My.Proc~1", "a",
		"images", "example.com/image", "fmtx"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/abs", "trailing/", "a//b", ".", "..", "../up", "a/../b", ".hidden", "_under",
		"-flag", "dot.", "my proc", "tab\t", "ümlaut", "a:b", `back\slash`, strings.Repeat("a", 256),
		"image", "net/myproc", "fmt", "testing"} {
		if err := CheckName(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", bad, err)
		}
	}
	if Dir("example.com/me/myproc") != "myproc" || Dir("myproc") != "myproc" {
		t.Fatal("Dir is not the last element")
	}
}

func TestVersions(t *testing.T) {
	for v, ok := range map[string]bool{"v1.2.3": true, "v0.0.0-20260101120000-abcdef123456": true, "v2.0.0-rc.1": true,
		"(devel)": false, "v1.2.3+dirty": false, "1.2.3": false, "v1.2": false, "": false} {
		if semverRE.MatchString(v) != ok {
			t.Errorf("%q: usable %v, want %v", v, !ok, ok)
		}
	}
	// A test binary is a development build of gotrickle.
	if v := BuildVersion(); v != "" {
		t.Errorf("BuildVersion() = %q in a test binary, want \"\"", v)
	}
}

func TestCheckReplace(t *testing.T) {
	abs, err := CheckReplace("../..")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(abs) {
		t.Fatalf("%q is not absolute", abs)
	}
	other := t.TempDir()
	if _, err := CheckReplace(other); !errors.Is(err, ErrInvalid) {
		t.Errorf("a directory without go.mod: %v", err)
	}
	os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644)
	if _, err := CheckReplace(other); !errors.Is(err, ErrInvalid) {
		t.Errorf("another module: %v", err)
	}
}

func TestWrite(t *testing.T) {
	files := []File{{Path: "go.mod", Data: []byte("module x\n")}, {Path: "sub/a.go", Data: []byte("package a\n")}}
	t.Run("creates the directory and its parents", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "parent", "x")
		if err := Write(dir, files, false); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "sub", "a.go")); string(b) != "package a\n" {
			t.Fatalf("sub/a.go: %q", b)
		}
	})
	t.Run("an empty directory is fine", func(t *testing.T) {
		if err := Write(t.TempDir(), files, false); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a non-empty directory is refused and left alone", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("mine"), 0o644)
		if err := Write(dir, files, false); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("%v, want ErrNotEmpty", err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "go.mod")); string(b) != "mine" {
			t.Fatal("go.mod was overwritten")
		}
		if _, err := os.Stat(filepath.Join(dir, "sub")); err == nil {
			t.Fatal("sub/ was written")
		}
		if err := Write(dir, files, true); err != nil {
			t.Fatalf("with force: %v", err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "go.mod")); string(b) != "module x\n" {
			t.Fatal("force did not overwrite go.mod")
		}
	})
	t.Run("a file in the way is refused", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "x")
		os.WriteFile(p, nil, 0o644)
		if err := Write(p, files, true); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestOutputPath(t *testing.T) {
	for in, want := range map[string]string{"main.go.tmpl": "main.go", "dot-gitignore.tmpl": ".gitignore",
		"sub/dot-env.tmpl": "sub/.env", "dot-dir/x.tmpl": "dot-dir/x"} {
		if got := outputPath(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

func TestStdRootsCoverTheStandardLibrary(t *testing.T) {
	ents, err := os.ReadDir(filepath.Join(build.Default.GOROOT, "src"))
	if err != nil {
		t.Skip("no GOROOT source:", err)
	}
	for _, e := range ents {
		if e.IsDir() && !slices.Contains(stdRoots, e.Name()) {
			t.Errorf("GOROOT/src/%s is not in stdRoots", e.Name())
		}
	}
}
