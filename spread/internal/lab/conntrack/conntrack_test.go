package conntrack

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fake records argv and answers like the conntrack tool does.
type fake struct {
	calls [][]string
	out   string
	err   error
}

func (f *fake) run(_ context.Context, argv ...string) ([]byte, error) {
	f.calls = append(f.calls, argv)
	return []byte(f.out), f.err
}

func TestDeleteUDP(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		want    int
		wantErr bool
	}{
		{"deleted", errors.New("exit status 0: conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted."), 3, false},
		{"none", errors.New("exit status 1: conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted."), 0, false},
		{"tool broken", errors.New("exec: conntrack: not found"), 0, true},
	}
	for _, tt := range tests {
		f := &fake{err: tt.err}
		n, err := DeleteUDP(context.Background(), f.run, "10.96.0.10", 443, "10.244.0.2")
		if n != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: got %d, %v", tt.name, n, err)
		}
		want := []string{"conntrack", "-D", "-p", "udp", "--orig-dst", "10.96.0.10", "--orig-port-dst", "443", "--reply-src", "10.244.0.2"}
		if !reflect.DeepEqual(f.calls[0], want) {
			t.Errorf("argv %q", f.calls[0])
		}
	}
}

func TestSetUDPTimeouts(t *testing.T) {
	f := &fake{}
	if err := SetUDPTimeouts(context.Background(), f.run, 5*time.Second, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(f.calls))
	for i, c := range f.calls {
		got[i] = strings.Join(c, " ")
	}
	want := []string{"sysctl -q -w net.netfilter.nf_conntrack_udp_timeout=5", "sysctl -q -w net.netfilter.nf_conntrack_udp_timeout_stream=2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
	f = &fake{}
	SetUDPTimeouts(context.Background(), f.run, 0, 0)
	if len(f.calls) != 0 {
		t.Errorf("zero timeouts still wrote %q", f.calls)
	}
}
