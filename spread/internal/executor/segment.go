package executor

import (
	"fmt"
	"math/big"
	"sort"
	"strings"
)

// Segment is this process's share of the test (k6's --execution-segment),
// seen inside the sequence of all processes' segments
// (--execution-segment-sequence). The zero value is the whole test.
//
// Every count the executors split (VUs, iterations, arrival-rate iteration
// starts) is an ordered list of elements 0, 1, 2, ...; the sequence deals
// those elements out to its segments in a fixed cycle of L elements (L = the
// least common denominator of the segment widths), each segment getting
// width*L elements per cycle, spread evenly by smooth weighted round-robin.
// So, for any total n, the segments' shares of the first n elements are
// disjoint, sum to exactly n, and grow monotonically with n; every process
// computes the same cycle from the same sequence.
type Segment struct {
	st *striping // nil: the whole test
}

type striping struct {
	from, to *big.Rat
	seq      []*big.Rat // boundaries of the sequence, 0 first, 1 last
	cycle    int64      // L
	offsets  []int64    // positions in the cycle that belong to this segment, ascending
}

// maxCycleWork bounds the cycle computation (cycle length x segments), so a
// pathological sequence of coprime denominators errors out instead of hanging.
const maxCycleWork = 50_000_000

// NewSegment parses --execution-segment and --execution-segment-sequence
// ("" for either: whole test / default sequence). Without a sequence, a
// segment of width 1/n starting at a multiple of 1/n (such as "2/4:3/4") is
// taken as one of n equal parts, so "i/n:(i+1)/n" processes agree without
// being told the sequence; any other segment gets the sequence
// 0, from, to, 1, as in k6.
func NewSegment(segment, sequence string) (Segment, error) {
	var from, to *big.Rat
	if strings.TrimSpace(segment) == "" {
		from, to = big.NewRat(0, 1), big.NewRat(1, 1)
	} else {
		var err error
		from, to, err = parseSegmentBounds(segment)
		if err != nil {
			return Segment{}, err
		}
	}
	var seq []*big.Rat
	if strings.TrimSpace(sequence) != "" {
		var err error
		seq, err = ParseSequence(sequence)
		if err != nil {
			return Segment{}, err
		}
		found := false
		for i := 0; i+1 < len(seq); i++ {
			if seq[i].Cmp(from) == 0 && seq[i+1].Cmp(to) == 0 {
				found = true
			}
		}
		if !found {
			return Segment{}, fmt.Errorf("execution segment %s is not one of the segments of the sequence %s", fmtSeg(from, to), fmtSeq(seq))
		}
	} else {
		seq = defaultSequence(from, to)
	}
	if len(seq) == 2 { // the whole test
		return Segment{}, nil
	}
	st, err := newStriping(from, to, seq)
	if err != nil {
		return Segment{}, err
	}
	return Segment{st: st}, nil
}

// ParseSegment parses one segment ("0:1/2", "1/2:1", "0.2:2/3", "1/3" =
// "0:1/3", "25%:50%") with the default sequence; see NewSegment.
func ParseSegment(s string) (Segment, error) { return NewSegment(s, "") }

// ParseSequence parses an execution segment sequence: comma-separated,
// strictly increasing points such as "0,1/3,2/3,1" (0 and 1 are added when
// missing).
func ParseSequence(s string) ([]*big.Rat, error) {
	parts := strings.Split(s, ",")
	var seq []*big.Rat
	for _, p := range parts {
		r, err := parsePoint(p)
		if err != nil {
			return nil, fmt.Errorf("execution segment sequence %q: %w", s, err)
		}
		if len(seq) > 0 && r.Cmp(seq[len(seq)-1]) <= 0 {
			return nil, fmt.Errorf("execution segment sequence %q: points must be strictly increasing", s)
		}
		seq = append(seq, r)
	}
	if seq[0].Sign() != 0 {
		seq = append([]*big.Rat{new(big.Rat)}, seq...)
	}
	if seq[len(seq)-1].Cmp(big.NewRat(1, 1)) != 0 {
		seq = append(seq, big.NewRat(1, 1))
	}
	return seq, nil
}

func parseSegmentBounds(s string) (from, to *big.Rat, err error) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		a, b = "0", s
	}
	if from, err = parsePoint(a); err != nil {
		return nil, nil, fmt.Errorf("execution segment %q: %w", s, err)
	}
	if to, err = parsePoint(b); err != nil {
		return nil, nil, fmt.Errorf("execution segment %q: %w", s, err)
	}
	if from.Cmp(to) >= 0 {
		return nil, nil, fmt.Errorf("execution segment %q: start must be below end", s)
	}
	return from, to, nil
}

// parsePoint reads "1/3", "0.25", "25%" into a rational in [0, 1].
func parsePoint(s string) (*big.Rat, error) {
	str := strings.TrimSpace(s)
	pct := strings.HasSuffix(str, "%")
	str = strings.TrimSuffix(str, "%")
	// big.Rat.SetString accepts exponents like "1e999999999" that are slow
	// to expand; k6 points are plain fractions or decimals.
	if str == "" || len(str) > 40 || strings.ContainsAny(str, "eEpPxX_+-") {
		return nil, fmt.Errorf("invalid point %q (want e.g. 1/3, 0.5 or 50%%)", s)
	}
	r, ok := new(big.Rat).SetString(str)
	if !ok {
		return nil, fmt.Errorf("invalid point %q (want e.g. 1/3, 0.5 or 50%%)", s)
	}
	if pct {
		r.Quo(r, big.NewRat(100, 1))
	}
	if r.Sign() < 0 || r.Cmp(big.NewRat(1, 1)) > 0 {
		return nil, fmt.Errorf("point %q is outside 0..1", s)
	}
	return r, nil
}

func defaultSequence(from, to *big.Rat) []*big.Rat {
	w := new(big.Rat).Sub(to, from)
	if w.Num().IsInt64() && w.Num().Int64() == 1 && w.Denom().IsInt64() {
		n := w.Denom().Int64()
		k := new(big.Rat).Quo(from, w)
		if k.IsInt() && n <= 10_000 {
			seq := make([]*big.Rat, 0, n+1)
			for i := int64(0); i <= n; i++ {
				seq = append(seq, big.NewRat(i, n))
			}
			return seq
		}
	}
	seq := []*big.Rat{new(big.Rat)}
	if from.Sign() > 0 {
		seq = append(seq, from)
	}
	seq = append(seq, to)
	if to.Cmp(big.NewRat(1, 1)) < 0 {
		seq = append(seq, big.NewRat(1, 1))
	}
	return seq
}

func newStriping(from, to *big.Rat, seq []*big.Rat) (*striping, error) {
	n := len(seq) - 1
	// L = lcm of the widths' denominators.
	cycle := big.NewInt(1)
	widths := make([]*big.Rat, n)
	mine := -1
	for i := 0; i < n; i++ {
		widths[i] = new(big.Rat).Sub(seq[i+1], seq[i])
		d := widths[i].Denom()
		g := new(big.Int).GCD(nil, nil, cycle, d)
		cycle.Mul(cycle, new(big.Int).Quo(d, g))
		if !cycle.IsInt64() || cycle.Int64()*int64(n) > maxCycleWork {
			return nil, fmt.Errorf("execution segment sequence %s is too fine-grained (least common denominator too large)", fmtSeq(seq))
		}
		if seq[i].Cmp(from) == 0 && seq[i+1].Cmp(to) == 0 {
			mine = i
		}
	}
	if mine < 0 {
		return nil, fmt.Errorf("execution segment %s is not in sequence %s", fmtSeg(from, to), fmtSeq(seq))
	}
	L := cycle.Int64()
	weights := make([]int64, n)
	for i, w := range widths {
		weights[i] = new(big.Int).Quo(new(big.Int).Mul(w.Num(), cycle), w.Denom()).Int64()
	}
	// Smooth weighted round-robin: each step every segment gains its
	// weight, the richest (lowest index on ties) takes the element and pays
	// L. Over L steps each segment takes exactly its weight.
	cur := make([]int64, n)
	offsets := make([]int64, 0, weights[mine])
	for pos := int64(0); pos < L; pos++ {
		best := 0
		for i := range cur {
			cur[i] += weights[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= L
		if best == mine {
			offsets = append(offsets, pos)
		}
	}
	return &striping{from: from, to: to, seq: seq, cycle: L, offsets: offsets}, nil
}

// Scale returns this segment's share of a total of n elements (n < 0 gives 0).
func (s Segment) Scale(n int64) int64 {
	if s.st == nil {
		return n
	}
	if n <= 0 {
		return 0
	}
	st := s.st
	full, rem := n/st.cycle, n%st.cycle
	return full*int64(len(st.offsets)) + int64(sort.Search(len(st.offsets), func(i int) bool { return st.offsets[i] >= rem }))
}

// Global returns the test-wide index of this segment's local-th element
// (both from 0): unique across the segments of a sequence.
func (s Segment) Global(local int64) int64 {
	if s.st == nil || local < 0 {
		return local
	}
	p := int64(len(s.st.offsets))
	return (local/p)*s.st.cycle + s.st.offsets[local%p]
}

// Owns reports whether the test-wide element global belongs to this segment.
func (s Segment) Owns(global int64) bool {
	if s.st == nil {
		return true
	}
	if global < 0 {
		return false
	}
	rem := global % s.st.cycle
	i := sort.Search(len(s.st.offsets), func(i int) bool { return s.st.offsets[i] >= rem })
	return i < len(s.st.offsets) && s.st.offsets[i] == rem
}

// IsFull reports whether the segment is the whole test.
func (s Segment) IsFull() bool { return s.st == nil }

// Fraction returns the segment's width as a float (1 for the whole test).
func (s Segment) Fraction() float64 {
	if s.st == nil {
		return 1
	}
	f, _ := new(big.Rat).Sub(s.st.to, s.st.from).Float64()
	return f
}

// String formats the segment as "from:to" ("0:1" for the whole test).
func (s Segment) String() string {
	if s.st == nil {
		return "0:1"
	}
	return fmtSeg(s.st.from, s.st.to)
}

// Sequence formats the sequence the segment was striped in ("0,1" for the whole test).
func (s Segment) Sequence() string {
	if s.st == nil {
		return "0,1"
	}
	return fmtSeq(s.st.seq)
}

func fmtSeg(from, to *big.Rat) string { return from.RatString() + ":" + to.RatString() }

func fmtSeq(seq []*big.Rat) string {
	parts := make([]string, len(seq))
	for i, r := range seq {
		parts[i] = r.RatString()
	}
	return strings.Join(parts, ",")
}
