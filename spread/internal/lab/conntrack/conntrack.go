// Package conntrack deletes stale UDP conntrack entries and sets UDP
// timeouts inside a lab namespace, as kube-proxy does on a node.
package conntrack

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Runner runs argv inside the namespace and returns stdout, or an error
// carrying stderr (netns.NS.Output fits).
type Runner func(ctx context.Context, argv ...string) ([]byte, error)

var deletedRe = regexp.MustCompile(`(\d+) flow entries have been deleted`)

// DeleteUDP deletes UDP flows whose original destination is dst:port and
// whose reply source is endpointIP: what kube-proxy's cleanup does when an
// endpoint stops serving. It returns how many entries went away.
func DeleteUDP(ctx context.Context, run Runner, dst string, port int, endpointIP string) (int, error) {
	out, err := run(ctx, "conntrack", "-D", "-p", "udp", "--orig-dst", dst, "--orig-port-dst", strconv.Itoa(port), "--reply-src", endpointIP)
	// conntrack prints the count on stderr and exits 1 when it deleted
	// nothing; both are success for us.
	msg := string(out)
	if err != nil {
		msg += err.Error()
	}
	if m := deletedRe.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, nil
	}
	if err != nil {
		return 0, fmt.Errorf("conntrack: delete udp %s:%d reply-src %s: %w", dst, port, endpointIP, err)
	}
	return 0, nil
}

// Count returns how many UDP flows have original destination dst:port.
func Count(ctx context.Context, run Runner, dst string, port int) (int, error) {
	out, err := run(ctx, "conntrack", "-L", "-p", "udp", "--orig-dst", dst, "--orig-port-dst", strconv.Itoa(port))
	if err != nil && !strings.Contains(err.Error(), "flow entries have been shown") {
		return 0, fmt.Errorf("conntrack: list: %w", err)
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "udp") {
			n++
		}
	}
	return n, nil
}

// SetUDPTimeouts writes nf_conntrack_udp_timeout and _stream in the
// namespace (zero leaves a value at the kernel default). Conntrack must be
// active there already (the lab's nat rules switch it on).
func SetUDPTimeouts(ctx context.Context, run Runner, udp, stream time.Duration) error {
	set := func(key string, d time.Duration) error {
		if d <= 0 {
			return nil
		}
		secs := int((d + time.Second - 1) / time.Second)
		if _, err := run(ctx, "sysctl", "-q", "-w", fmt.Sprintf("net.netfilter.%s=%d", key, secs)); err != nil {
			return fmt.Errorf("conntrack: set %s: %w", key, err)
		}
		return nil
	}
	if err := set("nf_conntrack_udp_timeout", udp); err != nil {
		return err
	}
	return set("nf_conntrack_udp_timeout_stream", stream)
}
