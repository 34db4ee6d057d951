package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/internal/js"
	"spread.dev/spread/internal/summary"
	"spread.dev/spread/internal/vu"
)

// handleSummaryTimeout bounds the script's handleSummary, as k6 does.
const handleSummaryTimeout = 2 * time.Minute

// endOfTest renders the summary: the script's handleSummary(data) when it
// exports one (its result replaces the default text), else the default
// text on stdout; plus --summary-export.
func (r *run) endOfTest(special *vu.VU, start time.Time, testDuration time.Duration) error {
	data := r.metrics.Summary(summary.RunInfo{
		Start: start, Duration: testDuration, Options: r.sh.OptionsJS, NoColor: r.cfg.NoColor,
		IsStdOutTTY: r.cfg.StdoutTTY, IsStdErrTTY: r.cfg.StderrTTY,
	})
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if r.cfg.SummaryExport != "" {
		b, err := summary.Export(data)
		if err == nil {
			err = os.WriteFile(r.cfg.SummaryExport, b, 0o644)
		}
		if err != nil {
			r.log.Log("error", fmt.Sprintf("summary export: %v", err))
			keep(exitErr(ExitGenericEngineErr, fmt.Errorf("summary export: %w", err)))
		}
	}
	if r.cfg.NoSummary {
		// As k6: --no-summary skips handleSummary too; an explicit
		// --summary-export is still written.
		return firstErr
	}
	if special.HasFunction("handleSummary") {
		keep(r.handleSummary(special, data))
		return firstErr
	}
	_, _ = io.WriteString(r.cfg.Stdout, summary.Text(data, summary.TextOptions{NoColor: r.cfg.NoColor || !r.cfg.StdoutTTY, Indent: " "}))
	return firstErr
}

// handleSummary calls the script's handleSummary(data) and writes what it
// returns: "stdout" and "stderr" to those streams, any other key to the
// file of that name.
func (r *run) handleSummary(special *vu.VU, data *summary.Data) error {
	b, err := data.JSON()
	if err != nil {
		return exitErr(ExitGenericEngineErr, fmt.Errorf("summary data: %w", err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), handleSummaryTimeout)
	defer cancel()
	res, err := special.Call(ctx, "handleSummary", "", json.RawMessage(b))
	if err != nil {
		r.log.Log("error", js.ErrorText(err), js.Field{Key: "source", Value: "handleSummary"})
		// k6 falls back to the default summary when handleSummary throws.
		_, _ = io.WriteString(r.cfg.Stdout, summary.Text(data, summary.TextOptions{NoColor: r.cfg.NoColor || !r.cfg.StdoutTTY, Indent: " "}))
		return exitErr(ExitScriptException, err)
	}
	if res == nil || goja.IsUndefined(res) || goja.IsNull(res) {
		return nil
	}
	rt := special.Runtime()
	obj := res.ToObject(rt)
	var firstErr error
	for _, key := range obj.Keys() {
		val := obj.Get(key)
		var content []byte
		if ab, ok := val.Export().(goja.ArrayBuffer); ok {
			content = ab.Bytes()
		} else {
			content = []byte(val.String())
		}
		switch key {
		case "stdout":
			_, _ = r.cfg.Stdout.Write(content)
		case "stderr":
			_, _ = r.cfg.Stderr.Write(content)
		default:
			path := key
			if dir := filepath.Dir(path); dir != "." {
				_ = os.MkdirAll(dir, 0o755)
			}
			if err := os.WriteFile(path, content, 0o644); err != nil {
				r.log.Log("error", fmt.Sprintf("handleSummary: write %s: %v", path, err))
				if firstErr == nil {
					firstErr = exitErr(ExitGenericEngineErr, fmt.Errorf("handleSummary: %w", err))
				}
			}
		}
	}
	return firstErr
}
