package client

import (
	"os/exec"
	"strings"
	"testing"
)

func TestCommandTemplatesAreCheckedAndQuoted(t *testing.T) {
	for _, c := range []struct {
		role, tmpl, err string
	}{
		{"publisher", "pub {url} {seg_dir}", ""},
		{"publisher", "pub --base={base} --channel {channel} < {file}", ""},
		{"publisher", "ffmpeg -i {file} -f segment {url}/%d", ""},
		{"subscriber", "sub {url} {file} {start}", ""},
		{"subscriber", `sub "$HOME" {url} > {file}`, ""},
		{"publisher", "pub {url}", "names no input"},
		{"publisher", "pub {seg_dir}", "names no channel"},
		{"subscriber", "sub {url}", "names no output"},
		{"subscriber", "sub {url} {file} {seg_dir}", "unknown placeholder {seg_dir}"},
		{"publisher", "pub {url} {segdir}", "unknown placeholder {segdir}"},
		{"subscriber", `sub "{url}" {file}`, "{url} is inside quotes"},
		{"subscriber", `sub {url} '--out={file}'`, "{file} is inside quotes"},
		{"subscriber", `sub "x {url} y" {file}`, "{url} is inside quotes"},
		{"subscriber", `sub \{url} {url} {file}`, "{url} is inside quotes"},
	} {
		_, err := parseTemplate(c.role, c.tmpl)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s template %q: %v", c.role, c.tmpl, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s template %q: error %v, want one saying %q", c.role, c.tmpl, err, c.err)
		}
	}
}

func TestCommandTemplateValuesReachTheCommandIntact(t *testing.T) {
	if _, err := exec.LookPath("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	tmpl, err := parseTemplate("subscriber", `printf '%s|' {url}/x {file} {start}`)
	if err != nil {
		t.Fatal(err)
	}
	odd := `/tmp/a dir/it's "quoted" $HOME; rm -rf *`
	line := tmpl.expand(map[string]string{"url": "http://h:1/c", "file": odd, "start": "-2"})
	out, err := exec.Command("/bin/sh", "-c", line).Output()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	if want := "http://h:1/c/x|" + odd + "|-2|"; string(out) != want {
		t.Errorf("sh -c %s\nprinted %q\nwant    %q", line, out, want)
	}
}
