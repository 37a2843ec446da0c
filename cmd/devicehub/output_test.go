package main

import (
	"bytes"
	"strings"
	"testing"
)

// testRow is a row with free cells.
type testRow struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func (testRow) header() []string  { return []string{"NAME", "VALUE"} }
func (r testRow) cells() []string { return []string{r.Name, r.Value} }

func TestPrinter(t *testing.T) {
	rows := []testRow{{"a", "x"}, {"longer name", "tab\there\nand a new line"}, {"b", "<&>"}}
	cases := []struct {
		name      string
		format    outputFormat
		streaming bool
		want      string
	}{
		{"json", outputJSON, false,
			`{"name":"a","value":"x"}` + "\n" +
				`{"name":"longer name","value":"tab\there\nand a new line"}` + "\n" +
				`{"name":"b","value":"<&>"}` + "\n"},
		{"table", outputTable, false,
			"NAME         VALUE\n" +
				"a            x\n" +
				`longer name  tab\there\nand a new line` + "\n" +
				"b            <&>\n"},
		// A stream cannot wait for the widest cell: columns widen as they come.
		{"streamed table", outputTable, true,
			"NAME  VALUE\n" +
				"a     x\n" +
				`longer name  tab\there\nand a new line` + "\n" +
				"b            <&>\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			p := newPrinter(&b, tc.format, tc.streaming)
			for _, r := range rows {
				if err := p.print(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.flush(); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}

func TestMessageBody(t *testing.T) {
	long := strings.Repeat("x", 100)
	cases := []struct {
		name, body string
		json, cell string
	}{
		{"JSON, byte for byte", `{"t": 1,  "u":[ ]}`, `{"id":"m","body":{"t": 1,  "u":[ ]}}`, `{"t": 1,  "u":[ ]}`},
		{"text", "héllo\n", `{"id":"m","bodyText":"héllo\n"}`, "héllo\n"},
		{"JSON with space around is text", " [1] ", `{"id":"m","bodyText":" [1] "}`, " [1] "},
		{"binary", "\x00\xff", `{"id":"m","bodyBase64":"AP8="}`, "base64:AP8="},
		{"empty", "", `{"id":"m"}`, ""},
		{"long", long, `{"id":"m","bodyText":"` + long + `"}`, long[:59] + "…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mb := newMessageBody([]byte(tc.body))
			v := struct {
				ID string `json:"id"`
				messageBody
			}{"m", mb}
			got, err := withBody(v, mb)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.json {
				t.Errorf("JSON %s, want %s", got, tc.json)
			}
			if c := mb.cell(); c != tc.cell {
				t.Errorf("cell %q, want %q", c, tc.cell)
			}
		})
	}
	mb := newMessageBody([]byte("[1]"))
	if got, err := withBody(struct{ messageBody }{mb}, mb); err != nil || string(got) != `{"body":[1]}` {
		t.Errorf("JSON body alone: %s %v", got, err)
	}
}
