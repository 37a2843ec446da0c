package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/devicehub/devicehub/shared/telemetry"
)

// outputFormat is the value of --output.
type outputFormat string

const (
	outputJSON  outputFormat = "json"  // one JSON value per line, camelCase keys: for scripts
	outputTable outputFormat = "table" // aligned columns under a header: for people
)

var outputFormats = []string{string(outputJSON), string(outputTable)}

func (f *outputFormat) String() string { return string(*f) }
func (f *outputFormat) Type() string   { return "json|table" }
func (f *outputFormat) Set(s string) error {
	if !slices.Contains(outputFormats, s) {
		return errors.New("want json or table")
	}
	*f = outputFormat(s)
	return nil
}

// row is one value a command prints: as its JSON for --output json, or as
// one line of a table under header() for --output table.
type row interface {
	header() []string
	cells() []string
}

// rawJSONRow is a row that writes its own JSON, so that a message body that
// is JSON appears byte for byte (an encoder would re-format it).
type rawJSONRow interface {
	row
	jsonLine() ([]byte, error)
}

// printer prints a command's rows in the chosen format. A table is aligned
// with text/tabwriter when flushed; a streaming printer (tail, feedback
// --follow) writes each row at once, padded to the widest cell so far.
type printer struct {
	format outputFormat
	w      io.Writer
	headed bool
	tw     *tabwriter.Writer // a table that is not streamed
	widths []int             // a streamed table's columns so far
}

func newPrinter(w io.Writer, format outputFormat, streaming bool) *printer {
	p := &printer{format: format, w: w}
	if format == outputTable && !streaming {
		p.tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	}
	return p
}

func (p *printer) print(r row) error {
	if p.format == outputJSON {
		return p.printJSON(r)
	}
	cells := r.cells()
	for i, c := range cells {
		cells[i] = tableCell(c)
	}
	var header []string
	if !p.headed {
		header, p.headed = r.header(), true
	}
	if p.tw != nil {
		if header != nil {
			fmt.Fprintln(p.tw, strings.Join(header, "\t"))
		}
		_, err := fmt.Fprintln(p.tw, strings.Join(cells, "\t"))
		return err
	}
	// Streaming: the header goes out with the first row, both padded to
	// the widest cell so far; later rows can only widen a column.
	var out []byte
	if header != nil {
		p.widths = make([]int, len(header))
		p.grow(header)
	}
	p.grow(cells)
	if header != nil {
		out = p.pad(out, header)
	}
	_, err := p.w.Write(p.pad(out, cells))
	return err
}

func (p *printer) printJSON(r row) error {
	var line []byte
	var err error
	if raw, ok := r.(rawJSONRow); ok {
		line, err = raw.jsonLine()
	} else {
		line, err = marshal(r)
	}
	if err != nil {
		return fmt.Errorf("print: %w", err)
	}
	_, err = p.w.Write(append(line, '\n'))
	return err
}

// marshal is json.Marshal without HTML escaping: bodies, ids and connection
// strings print as they are.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func (p *printer) grow(cells []string) {
	for i, c := range cells {
		if n := utf8.RuneCountInString(c); i < len(p.widths) && n > p.widths[i] {
			p.widths[i] = n
		}
	}
}

func (p *printer) pad(dst []byte, cells []string) []byte {
	for i, c := range cells {
		dst = append(dst, c...)
		if i < len(cells)-1 {
			dst = append(dst, strings.Repeat(" ", p.widths[i]-utf8.RuneCountInString(c)+2)...)
		}
	}
	return append(dst, '\n')
}

// flush writes out a table; call it when the command is done.
func (p *printer) flush() error {
	if p.tw == nil {
		return nil
	}
	return p.tw.Flush()
}

var cellEscaper = strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`)

// tableCell keeps a value on one line.
func tableCell(s string) string { return cellEscaper.Replace(s) }

// maxBody bounds a message body in a table, so that one long body does not
// unroll the table; --output json has it whole.
const maxBody = 60

func shorten(s string) string {
	if utf8.RuneCountInString(s) <= maxBody {
		return s
	}
	return string([]rune(s)[:maxBody-1]) + "…"
}

// timeCell shows a time in UTC to the second, or nothing for the zero time.
func timeCell(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// propsCell shows application properties as name=value pairs, by name.
func propsCell(p map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(p)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + p[k])
	}
	return b.String()
}

// messageBody is how the CLI prints a message body. In JSON a body that is
// itself JSON goes inline as "body", byte for byte; text goes as "bodyText";
// anything else as "bodyBase64". In a table it is the text, the JSON, or
// "base64:" and the encoding.
type messageBody struct {
	Text   string `json:"bodyText,omitempty"`
	Base64 []byte `json:"bodyBase64,omitempty"`
	json   []byte
}

func newMessageBody(b []byte) messageBody {
	switch {
	case telemetry.BodyIsJSON(b):
		return messageBody{json: b}
	case isText(b):
		return messageBody{Text: string(b)}
	default:
		return messageBody{Base64: b}
	}
}

func (m messageBody) cell() string {
	switch {
	case m.json != nil:
		return shorten(string(m.json))
	case m.Base64 != nil:
		return shorten("base64:" + base64.StdEncoding.EncodeToString(m.Base64))
	}
	return shorten(m.Text)
}

// withBody marshals v, an object embedding body, with a JSON body spliced
// in as its last member.
func withBody(v any, body messageBody) ([]byte, error) {
	obj, err := marshal(v)
	if err != nil || body.json == nil {
		return obj, err
	}
	out := append(obj[:len(obj)-1:len(obj)-1], `,"body":`...)
	if len(obj) == 2 { // {}
		out = append(obj[:1:1], `"body":`...)
	}
	out = append(out, body.json...)
	return append(out, '}'), nil
}

// isText reports whether b reads as text: valid UTF-8 without control
// characters other than white space.
func isText(b []byte) bool {
	for _, r := range string(b) {
		if r == utf8.RuneError || (r < 0x20 && r != '\n' && r != '\r' && r != '\t') {
			return false
		}
	}
	return true
}
