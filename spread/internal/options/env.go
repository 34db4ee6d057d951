package options

import (
	"fmt"
	"strconv"
	"strings"

	"spread.dev/spread/internal/executor"
)

// envKind says how an env variable's text becomes an option value.
type envKind int

const (
	envString envKind = iota
	envInt
	envBool
	envDuration
	envStages
	envList
	envTags
)

// envOptions maps K6_* variables to option names, for the options where
// k6 reads the environment.
var envOptions = []struct {
	env, key string
	kind     envKind
}{
	{"K6_VUS", "vus", envInt},
	{"K6_DURATION", "duration", envDuration},
	{"K6_ITERATIONS", "iterations", envInt},
	{"K6_STAGES", "stages", envStages},
	{"K6_TAGS", "tags", envTags},
	{"K6_SETUP_TIMEOUT", "setupTimeout", envDuration},
	{"K6_TEARDOWN_TIMEOUT", "teardownTimeout", envDuration},
	{"K6_SUMMARY_TREND_STATS", "summaryTrendStats", envList},
	{"K6_SUMMARY_TIME_UNIT", "summaryTimeUnit", envString},
	{"K6_EXECUTION_SEGMENT", "executionSegment", envString},
	{"K6_EXECUTION_SEGMENT_SEQUENCE", "executionSegmentSequence", envString},
	{"K6_NO_CONNECTION_REUSE", "noConnectionReuse", envBool},
	{"K6_NO_VU_CONNECTION_REUSE", "noVUConnectionReuse", envBool},
	{"K6_INSECURE_SKIP_TLS_VERIFY", "insecureSkipTLSVerify", envBool},
	{"K6_USER_AGENT", "userAgent", envString},
	{"K6_BATCH", "batch", envInt},
	{"K6_BATCH_PER_HOST", "batchPerHost", envInt},
	{"K6_HTTP_DEBUG", "httpDebug", envString},
	{"K6_DISCARD_RESPONSE_BODIES", "discardResponseBodies", envBool},
	{"K6_MAX_REDIRECTS", "maxRedirects", envInt},
	{"K6_THROW", "throw", envBool},
	{"K6_DNS", "dns", envString},
	{"K6_LOCAL_IPS", "localIPs", envString},
}

// FromEnv builds the environment tier from K6_* variables.
func FromEnv(env map[string]string) (Layer, error) {
	l := Layer{}
	for _, e := range envOptions {
		s, ok := env[e.env]
		if !ok || s == "" {
			continue
		}
		var v any
		var err error
		switch e.kind {
		case envString:
			v = s
		case envInt:
			v, err = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		case envBool:
			v, err = strconv.ParseBool(strings.TrimSpace(s))
		case envDuration:
			var d executor.Duration
			d, err = executor.ParseDuration(s)
			v = d
		case envStages:
			var st []executor.Stage
			for _, part := range strings.Split(s, ",") {
				var one executor.Stage
				if one, err = ParseStage(part); err != nil {
					break
				}
				st = append(st, one)
			}
			v = st
		case envList:
			var list []string
			for _, part := range strings.Split(s, ",") {
				list = append(list, strings.TrimSpace(part))
			}
			v = list
		case envTags:
			tags := map[string]string{}
			for _, part := range strings.Split(s, ",") {
				k, val, perr := ParseTag(part)
				if perr != nil {
					err = perr
					break
				}
				tags[k] = val
			}
			v = tags
		}
		if err != nil {
			return nil, &Error{Problems: []string{fmt.Sprintf("%s=%q: %v", e.env, s, err)}}
		}
		if err := l.Set(e.key, v); err != nil {
			return nil, err
		}
	}
	return l, nil
}
