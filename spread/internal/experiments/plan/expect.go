package plan

import (
	"fmt"

	"spread.dev/spread/internal/report"
)

// Tolerances of the expectations, relative to the fair share where it
// applies. Wide on purpose: short runs on a busy 2-core machine are noisy,
// and the effects measured are large (0 vs 1/2, or 1 pod vs 2).
const (
	ZeroMax       = 0.2 // zero: new-pod share <= 0.2 x fair share
	FairTolerance = 0.3 // fair: |share - fair| <= 0.3 x fair share
	PinnedMin     = 0.95
	ConvergesMin  = 0.5 // converges: late share >= 0.5 x fair share
	BalancedMin   = 0.5 // balanced: every pod >= 0.5 / n
	StallMinS     = 5.0 // stall: the longest request after the scale-down
	// StalledMin / RecoveredMax: stalled requests per VU after a
	// scale-down. Without a shared reset key every client of the removed
	// pod (about half) stalls; with one, only those whose request was in
	// flight at the removal do (their small probe packets get no reset).
	StalledMin   = 0.2
	RecoveredMax = 0.15
)

// Verdicts are the values of Summary.Verdict.
const (
	VerdictOK       = "as-expected"
	VerdictMismatch = "unexpected"
	VerdictFailed   = "failed"
)

// Judge compares a run's summary with the expectation and says why.
func (e Expect) Judge(s report.Summary) (verdict, detail string) {
	if s.Error != "" {
		return VerdictFailed, s.Error
	}
	if s.Requests == 0 {
		return VerdictFailed, "no requests were made"
	}
	okIf := func(ok bool, format string, a ...any) (string, string) {
		d := fmt.Sprintf(format, a...)
		if ok {
			return VerdictOK, d
		}
		return VerdictMismatch, d
	}
	share := func(p *float64) float64 {
		if p == nil {
			return -1
		}
		return *p
	}
	switch e {
	case ExpectNone:
		return "", ""
	case ExpectZero, ExpectFair, ExpectConverges:
		if s.FairShare == nil || s.NewPodShare == nil {
			return VerdictFailed, "no new-pod share (did the added pod become ready?)"
		}
		fair, got := *s.FairShare, *s.NewPodShare
		switch e {
		case ExpectZero:
			return okIf(got <= ZeroMax*fair, "new-pod share %.3f, want <= %.3f", got, ZeroMax*fair)
		case ExpectFair:
			lo, hi := fair*(1-FairTolerance), fair*(1+FairTolerance)
			return okIf(got >= lo && got <= hi, "new-pod share %.3f, want %.3f..%.3f", got, lo, hi)
		default:
			late := share(s.LateNewPodShare)
			return okIf(late >= ConvergesMin*fair, "late new-pod share %.3f (whole %.3f), want >= %.3f", late, got, ConvergesMin*fair)
		}
	case ExpectPinned:
		return okIf(s.TopPodShare >= PinnedMin, "top pod share %.3f, want >= %.2f", s.TopPodShare, PinnedMin)
	case ExpectBalanced:
		n := s.ReplicasAfter
		if n < 1 {
			n = 1
		}
		minShare := 1.0
		if len(s.PerPod) < n {
			minShare = 0
		}
		for _, c := range s.PerPod {
			if v := float64(c) / float64(s.Requests); v < minShare {
				minShare = v
			}
		}
		return okIf(minShare >= BalancedMin/float64(n), "smallest pod share %.3f over %d pods, want >= %.3f", minShare, len(s.PerPod), BalancedMin/float64(n))
	case ExpectStall, ExpectRecovers:
		if s.StallS == nil || s.StalledRequests == nil {
			return VerdictFailed, "no request ended after the scale-down"
		}
		vus := max(1, s.VUs)
		per := float64(*s.StalledRequests) / float64(vus)
		if e == ExpectStall {
			return okIf(*s.StallS >= StallMinS && per >= StalledMin, "%d stalled requests for %d VUs (want >= %.2f per VU), longest %.2f s (want >= %.0f s)",
				*s.StalledRequests, vus, StalledMin, *s.StallS, StallMinS)
		}
		return okIf(per < RecoveredMax, "%d stalled requests for %d VUs (want < %.2f per VU), longest %.2f s", *s.StalledRequests, vus, RecoveredMax, *s.StallS)
	case ExpectNoErrors:
		return okIf(s.Failed == 0, "%d failed requests, want 0", s.Failed)
	}
	return VerdictFailed, fmt.Sprintf("unknown expectation %q", e)
}
