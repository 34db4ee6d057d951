package link

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Spec
	}{
		{"delay=2ms,jitter=0.2ms,loss=0.1%", Spec{Delay: 2 * time.Millisecond, Jitter: 200 * time.Microsecond, Loss: 0.001}},
		{"rtt=20ms", Spec{Delay: 10 * time.Millisecond}},
		{"loss=0.05", Spec{Loss: 0.05}},
		{"", Spec{}},
	} {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v", tt.in, got, err)
		}
	}
	for _, bad := range []string{"delay=fast", "loss=100%", "loss=-1", "jitter=3ms,delay=1ms", "colour=red", "delay"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if got := (Spec{Delay: time.Millisecond, Jitter: 100 * time.Microsecond, Loss: 0.001}).NetemArgs(); len(got) != 6 || got[2] != "1000us" || got[5] != "0.1%" {
		t.Errorf("netem args %v", got)
	}
}
