package trickleserver

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadFaultsReadsEveryField(t *testing.T) {
	const in = `[
	  {"name": "flaky seg 1", "method": "GET", "channel": "s", "seq": -1, "nth": 2, "times": 3,
	   "latency": "250ms", "drop_after_bytes": 0, "header": {"X-A": "b"}},
	  {"status": 470},
	  {"method": "GET", "stall_after_bytes": 1024}
	]`
	got, err := LoadFaults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Fault{
		{Name: "flaky seg 1", Method: "GET", Channel: "s", Seq: new(int64(-1)), Nth: 2, Times: 3,
			Latency: 250 * time.Millisecond, DropAfterBytes: new(int64(0)), Header: map[string]string{"X-A": "b"}},
		{Status: 470},
		{Method: "GET", StallAfterBytes: new(int64(1024))},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	t.Run("faults written as JSON read back the same", func(t *testing.T) {
		b, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"latency":"250ms"`) {
			t.Fatalf("latency not written as a duration string: %s", b)
		}
		back, err := LoadFaults(strings.NewReader(string(b)))
		if err != nil || !reflect.DeepEqual(back, want) {
			t.Fatalf("%+v %v", back, err)
		}
	})
}

func TestLoadFaultsRefusesBadInput(t *testing.T) {
	cases := []struct {
		name, in, wantErr string
	}{
		{"an unknown field is refused", `[{"status": 500, "stat": 1}]`, `faults[0]: json: unknown field "stat"`},
		{"a duration that does not parse is refused", `[{"latency": "fast"}]`, `faults[0]: latency: time: invalid duration "fast"`},
		{"a duration given as a number is refused", `[{"latency": 250}]`, `faults[0]: json: cannot unmarshal number`},
		{"a negative duration is refused", `[{"latency": "-1s"}]`, "latency -1s is negative"},
		{"an object instead of an array is refused", `{"status": 500}`, "faults: json: cannot unmarshal object"},
		{"data after the array is refused", `[{"status": 500}] []`, "trailing data"},
		{"an empty document is refused", ``, "faults: EOF"},
		{"a fault with no action is refused", `[{"method": "GET"}]`, "fault has no action"},
		{"a negative nth is refused", `[{"status": 500, "nth": -1}]`, "nth -1 is negative"},
		{"an interim status is refused", `[{"status": 100}]`, "status 100 is not a final HTTP status"},
		{"a status with a drop is refused", `[{"status": 500, "drop_after_bytes": 1}]`, "cannot be combined"},
		{"a drop with a stall is refused", `[{"drop_after_bytes": 1, "stall_after_bytes": 1}]`, "exclude each other"},
		{"a negative byte count is refused", `[{"drop_after_bytes": -1}]`, "drop_after_bytes -1 is negative"},
		{"a bad header name is refused", `[{"header": {"a b": "c"}}]`, `header name "a b"`},
		{"the index of the bad fault is named", `[{"status": 500}, {"nth": 1}]`, "faults[1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadFaults(strings.NewReader(c.in))
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

func TestAFaultDescribesItself(t *testing.T) {
	cases := []struct {
		name string
		f    Fault
		want string
	}{
		{"a named fault is its name", Fault{Name: "n", Status: 500}, "n"},
		{"an unfiltered fault matches anything", Fault{Status: 503}, "* */*: status 503"},
		{"filters and counts come first", Fault{Method: "post", Channel: "c", Seq: new(int64(-1)), Nth: 2, Times: 1,
			Latency: time.Second, DropAfterBytes: new(int64(5))}, "POST c/-1 #2 x1: latency 1s, drop after 5 bytes"},
		{"header names are listed in order", Fault{Header: map[string]string{"x-b": "", "x-a": ""}}, "* */*: header X-A,X-B"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.f.String(); got != c.want {
				t.Fatalf("%q, want %q", got, c.want)
			}
		})
	}
}

func TestMutationNamesAreChecked(t *testing.T) {
	t.Run("a comma list with blanks parses", func(t *testing.T) {
		got, err := ParseMutations(" evicted-404, ,late-first-byte")
		if err != nil || !reflect.DeepEqual(got, []Mutation{MutationEvicted404, MutationLateFirstByte}) {
			t.Fatalf("%v %v", got, err)
		}
	})
	t.Run("an unknown name is refused with the known ones listed", func(t *testing.T) {
		_, err := ParseMutations("evicted-404,slow")
		if err == nil || !strings.Contains(err.Error(), `"slow"`) || !strings.Contains(err.Error(), "no-latest-header") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("every mutation has a description", func(t *testing.T) {
		for _, m := range AllMutations() {
			if m.Description() == "" {
				t.Errorf("%s has none", m)
			}
		}
	})
	t.Run("New refuses an unknown mutation", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		New(Config{Mutations: []Mutation{"nope"}})
	})
}
