package js

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/dop251/goja"

	"spread.dev/spread/internal/eventloop"
)

// ErrorText renders a script error for the user: the message and the JS
// stack with positions in the user's files (mapped by the source map),
// without goja's or Go's internals.
func ErrorText(err error) string {
	var un *eventloop.Uncaught
	if errors.As(err, &un) {
		return "Uncaught (in promise) " + CleanStack(eventloop.Describe(un.Value))
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return CleanStack(ex.String())
	}
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		if v, ok := ie.Value().(error); ok {
			return v.Error()
		}
		return ie.String()
	}
	return err.Error()
}

// CleanStack tidies a goja stack text ("Error: msg\n\tat f (file:1:2(3))...")
// for users.
func CleanStack(s string) string {
	// goja appends the bytecode offset "(123)" to each position; k6
	// users see it too, but it only adds noise.
	// Frames of Go functions ("(native)") name spread's internals, not
	// the user's code; GoError is goja's name for an error from Go.
	var lines []string
	for i, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if i == 0 {
			// the message itself: a wrapped goja error's text ends with
			// its frame ("... at open (native)"); keep the message.
			line = nativeFrame.ReplaceAllString(line, "")
		} else if strings.HasSuffix(line, "(native)") {
			continue
		}
		lines = append(lines, defaultName(trimPC(line)))
	}
	if len(lines) > 0 {
		lines[0] = strings.ReplaceAll(lines[0], "GoError: ", "")
	}
	return strings.Join(lines, "\n")
}

// nativeFrame is the " at NAME (native)" goja appends to an error's text.
var nativeFrame = regexp.MustCompile(` at [^ ]+ \(native\)`)

// trimPC drops goja's trailing "(N)" program counter from a stack line.
func trimPC(line string) string {
	if !strings.HasSuffix(line, ")") {
		return line
	}
	end := len(line) - 1
	if strings.HasSuffix(line, "))") {
		end = len(line) - 2
	}
	i := strings.LastIndexByte(line[:end], '(')
	if i < 0 || i >= end {
		return line
	}
	for _, c := range line[i+1 : end] {
		if c < '0' || c > '9' {
			return line
		}
	}
	return line[:i] + line[end+1:]
}

// Position returns the "file:line:col" of the frame where err was
// thrown, or "" when unknown.
func Position(err error) string {
	var ex *goja.Exception
	if !errors.As(err, &ex) {
		return ""
	}
	for _, f := range ex.Stack() {
		p := f.Position()
		if p.Filename != "" && p.Line > 0 {
			return p.String()
		}
	}
	return ""
}

// frameRe matches a stack line "at NAME (FILE:LINE:COL)".
var frameRe = regexp.MustCompile(`^(\s*at )([A-Za-z0-9_$]+) \((.+):\d+:\d+\)$`)

// defaultName shows esbuild's name for an anonymous default export
// ("<file>_default") as "default", the name users know from k6.
func defaultName(line string) string {
	m := frameRe.FindStringSubmatch(line)
	if m == nil {
		return line
	}
	base := filepath.Base(m[3])
	base = strings.TrimSuffix(base, filepath.Ext(base))
	ident := []byte(base)
	for i, c := range ident {
		if !(c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			ident[i] = '_'
		}
	}
	// esbuild drops leading characters that cannot start a name (".a.js").
	if strings.TrimLeft(m[2], "_") != strings.TrimLeft(string(ident), "_")+"_default" {
		return line
	}
	return m[1] + "default" + line[len(m[1])+len(m[2]):]
}
