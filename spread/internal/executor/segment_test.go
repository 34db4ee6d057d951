package executor

import (
	"fmt"
	"strings"
	"testing"
)

// equalParts returns the segments "i/n:(i+1)/n" parsed without a sequence,
// as n separate processes would.
func equalParts(t *testing.T, n int) []Segment {
	t.Helper()
	segs := make([]Segment, n)
	for i := range segs {
		s, err := ParseSegment(fmt.Sprintf("%d/%d:%d/%d", i, n, i+1, n))
		if err != nil {
			t.Fatalf("segment %d/%d: %v", i, n, err)
		}
		segs[i] = s
	}
	return segs
}

// fromSequence returns every segment of a sequence, parsed with it.
func fromSequence(t *testing.T, seq string) []Segment {
	t.Helper()
	pts := strings.Split(seq, ",")
	var segs []Segment
	for i := 0; i+1 < len(pts); i++ {
		s, err := NewSegment(pts[i]+":"+pts[i+1], seq)
		if err != nil {
			t.Fatalf("segment %s:%s of %s: %v", pts[i], pts[i+1], seq, err)
		}
		segs = append(segs, s)
	}
	return segs
}

// checkPartition asserts that segs split the first `total` elements
// exactly: shares sum to total, every element has one owner, Global maps a
// segment's local elements onto the elements it owns, in order.
func checkPartition(t *testing.T, name string, segs []Segment, total int64) {
	t.Helper()
	var sum int64
	owner := make([]int, total)
	for i := range owner {
		owner[i] = -1
	}
	for si, s := range segs {
		n := s.Scale(total)
		sum += n
		prev := int64(-1)
		for j := int64(0); j < n; j++ {
			g := s.Global(j)
			if g <= prev || g >= total {
				t.Fatalf("%s: segment %s: local %d -> global %d (prev %d, total %d)", name, s, j, g, prev, total)
			}
			prev = g
			if owner[g] != -1 {
				t.Fatalf("%s: element %d owned by segments %d and %d", name, g, owner[g], si)
			}
			owner[g] = si
			if !s.Owns(g) {
				t.Fatalf("%s: segment %s: Global(%d)=%d but !Owns", name, s, j, g)
			}
		}
	}
	if sum != total {
		t.Fatalf("%s: shares sum to %d, want %d", name, sum, total)
	}
	for g, o := range owner {
		if o == -1 {
			t.Fatalf("%s: element %d has no owner", name, g)
		}
		for si, s := range segs {
			if (si == o) != s.Owns(int64(g)) {
				t.Fatalf("%s: Owns(%d) of segment %d disagrees with Global", name, g, si)
			}
		}
	}
}

func TestSegmentsPartitionExactly(t *testing.T) {
	totals := []int64{0, 1, 2, 3, 5, 7, 10, 11, 100, 997, 1000}
	for n := 1; n <= 5; n++ {
		segs := equalParts(t, n)
		for _, total := range totals {
			checkPartition(t, fmt.Sprintf("1/%d parts, total %d", n, total), segs, total)
		}
	}
	for _, seq := range []string{"0,0.3,0.4,1", "0,1/3,1/2,1", "0,1/10,3/10,1/2,9/10,1", "0,25%,1"} {
		segs := fromSequence(t, seq)
		for _, total := range totals {
			checkPartition(t, seq+fmt.Sprintf(", total %d", total), segs, total)
		}
	}
}

func TestSegmentScaleIsMonotonicAndFair(t *testing.T) {
	for _, seq := range []string{"0,1/3,2/3,1", "0,0.3,0.4,1", "0,1/7,1"} {
		for _, s := range fromSequence(t, seq) {
			f := s.Fraction()
			var prev int64
			for n := int64(0); n <= 500; n++ {
				got := s.Scale(n)
				if got < prev {
					t.Fatalf("%s in %s: Scale(%d)=%d < Scale(%d)=%d", s, seq, n, got, n-1, prev)
				}
				prev = got
				// Smooth round-robin keeps every prefix within 1 of the fair share.
				if exact := f * float64(n); float64(got) < exact-1.0001 || float64(got) > exact+1.0001 {
					t.Fatalf("%s in %s: Scale(%d)=%d, fair share %.2f", s, seq, n, got, exact)
				}
			}
		}
	}
}

func TestSegmentEqualPartsRoundRobin(t *testing.T) {
	// Four processes of 1/4: element k goes to process k mod 4, so 1 VU goes to
	// the first process, 2 VUs to the first two, and so on.
	segs := equalParts(t, 4)
	for k := int64(0); k < 20; k++ {
		for i, s := range segs {
			if s.Owns(k) != (int(k%4) == i) {
				t.Fatalf("element %d: segment %d owns=%v", k, i, s.Owns(k))
			}
		}
	}
	if got := segs[0].Scale(1); got != 1 {
		t.Fatalf("first segment's share of 1 = %d, want 1", got)
	}
}

func TestParseSegment(t *testing.T) {
	tests := []struct {
		seg, seq string
		want     string // String() of the segment, or the error substring
		ok       bool
	}{
		{"", "", "0:1", true},
		{"0:1", "", "0:1", true},
		{"0:1/2", "", "0:1/2", true},
		{"1/2:1", "", "1/2:1", true},
		{"0.2:2/3", "", "1/5:2/3", true},
		{"1/3", "", "0:1/3", true},
		{"25%:50%", "", "1/4:1/2", true},
		{"1/3:2/3", "0,1/3,2/3,1", "1/3:2/3", true},
		{"1/3:2/3", "1/3,2/3", "1/3:2/3", true},
		{"1/2:1/3", "", "start must be below end", false},
		{"0:1.5", "", "outside 0..1", false},
		{"-1:1", "", "invalid point", false},
		{"a:b", "", "invalid point", false},
		{"0:1/0", "", "invalid point", false},
		{"1/3:1/2", "0,1/3,2/3,1", "is not one of the segments", false},
		{"0:1/2", "0,1/2,1/4,1", "strictly increasing", false},
		{"0:1e3", "", "invalid point", false},
	}
	for _, tt := range tests {
		s, err := NewSegment(tt.seg, tt.seq)
		if tt.ok {
			if err != nil || s.String() != tt.want {
				t.Errorf("NewSegment(%q, %q) = %v, %v; want %s", tt.seg, tt.seq, s, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewSegment(%q, %q) error = %v; want one containing %q", tt.seg, tt.seq, err, tt.want)
		}
	}
}

func TestSegmentTooFineSequence(t *testing.T) {
	// Coprime denominators make the cycle huge; it must error, not hang.
	seq := "0,1/1000003,1/1000002,1/1000001,1"
	if _, err := NewSegment("1/1000003:1/1000002", seq); err == nil {
		t.Fatal("want an error for a sequence with a huge common denominator")
	}
}

func FuzzSegment(f *testing.F) {
	for _, s := range []string{"0:1/2", "1/3:2/3", "0.25:50%", "1", "0,1/3,1"} {
		f.Add(s, "", int64(10))
	}
	f.Add("1/3:2/3", "0,1/3,2/3,1", int64(100))
	f.Fuzz(func(t *testing.T, seg, seq string, total int64) {
		s, err := NewSegment(seg, seq)
		if err != nil {
			return
		}
		total = total % 10_000
		if total < 0 {
			total = -total
		}
		n := s.Scale(total)
		if n < 0 || n > total {
			t.Fatalf("Scale(%d) = %d", total, n)
		}
		for j := int64(0); j < min(n, 50); j++ {
			if g := s.Global(j); g >= total || !s.Owns(g) {
				t.Fatalf("Global(%d) = %d (total %d)", j, g, total)
			}
		}
	})
}

// TestRampingVUStepsSplitExactly checks that at every instant the segments'
// VU counts of a ramping-vus scenario sum to the whole test's count.
func TestRampingVUStepsSplitExactly(t *testing.T) {
	c := Config{Name: "r", Executor: RampingVUs, StartVUs: 3, Stages: []Stage{
		{Duration(10e9), 17}, {Duration(0), 5}, {Duration(7e9), 5}, {Duration(9e9), 0}, {Duration(3e9), 11},
	}}
	// count returns a segment's VU count at each instant of interest.
	countAt := func(seg Segment, at []int64) []int64 {
		var steps []vuStep
		rampingVUSteps(c, seg, func(s vuStep) bool { steps = append(steps, s); return true })
		out := make([]int64, len(at))
		for i, a := range at {
			n := seg.Scale(c.StartVUs)
			for _, s := range steps {
				if int64(s.at) <= a {
					n = s.target
				}
			}
			out[i] = n
		}
		return out
	}
	var at []int64
	for ms := int64(0); ms <= 29_000; ms += 250 {
		at = append(at, ms*1e6)
	}
	whole := countAt(Segment{}, at)
	// The whole test's count follows the stages: spot checks.
	spot := map[int64]int64{0: 3, 5_000: 10, 10_000: 5, 17_000: 5, 26_000: 0, 29_000: 11}
	for i, a := range at {
		if want, ok := spot[a/1e6]; ok && whole[i] != want {
			t.Errorf("whole test at %dms: %d VUs, want %d", a/1e6, whole[i], want)
		}
	}
	for n := 2; n <= 5; n++ {
		sum := make([]int64, len(at))
		for _, seg := range equalParts(t, n) {
			for i, v := range countAt(seg, at) {
				sum[i] += v
			}
		}
		if fmt.Sprint(sum) != fmt.Sprint(whole) {
			t.Errorf("%d segments: VU counts sum to\n%v\nwant\n%v", n, sum, whole)
		}
	}
}
