package userspace

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// backend serves its name over TCP (one line per connection) and UDP (one
// datagram per datagram).
func backend(t testing.TB, name string) (tcpAddr, udpAddr string) {
	t.Helper()
	l, u, err := ListenPair("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); u.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(name + "\n"))
			c.Close()
		}
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := u.ReadFromUDP(buf)
			if err != nil {
				return
			}
			u.WriteToUDP([]byte(name), from)
		}
	}()
	return l.Addr().String(), u.LocalAddr().String()
}

func startProxy(t *testing.T, udpTimeout time.Duration) (*Proxy, string, string) {
	t.Helper()
	l, u, err := ListenPair("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(Config{Ports: []Port{{Name: "http", Listener: l}, {Name: "quic", Packet: u}}, UDPTimeout: udpTimeout, UDPStreamTimeout: udpTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, l.Addr().String(), u.LocalAddr().String()
}

func tcpAsk(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

func udpAsk(t *testing.T, c *net.UDPConn) string {
	t.Helper()
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func dialUDP(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	ra, _ := net.ResolveUDPAddr("udp", addr)
	c, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSpreadsNewFlowsAndPinsUDP(t *testing.T) {
	p, tcpFront, udpFront := startProxy(t, 0)
	var eps []Endpoint
	for _, name := range []string{"pod-a", "pod-b", "pod-c"} {
		ta, ua := backend(t, name)
		eps = append(eps, Endpoint{Pod: name, Addrs: map[string]string{"http": ta, "quic": ua}})
	}
	p.SetEndpoints(eps)

	tcpSeen := map[string]int{}
	udpSeen := map[string]int{}
	for i := 0; i < 90; i++ {
		tcpSeen[tcpAsk(t, tcpFront)]++
		udpSeen[udpAsk(t, dialUDP(t, udpFront))]++ // new socket = new 5-tuple
	}
	for _, seen := range []map[string]int{tcpSeen, udpSeen} {
		for _, e := range eps {
			if seen[e.Pod] < 10 { // expected 30 each; binomial tail below 10 is ~1e-6
				t.Errorf("new flows not spread: %v", seen)
			}
		}
	}
	// One socket reused: every datagram stays on one pod.
	c := dialUDP(t, udpFront)
	first := udpAsk(t, c)
	for i := 0; i < 30; i++ {
		if got := udpAsk(t, c); got != first {
			t.Fatalf("reused 5-tuple moved from %s to %s", first, got)
		}
	}
}

func TestRemovedEndpointForgetsUDPFlows(t *testing.T) {
	p, _, udpFront := startProxy(t, 0)
	ta, ua := backend(t, "old")
	p.SetEndpoints([]Endpoint{{Pod: "old", Addrs: map[string]string{"http": ta, "quic": ua}}})
	c := dialUDP(t, udpFront)
	if got := udpAsk(t, c); got != "old" {
		t.Fatalf("got %q", got)
	}
	tb, ub := backend(t, "new")
	// Adding an endpoint keeps the existing flow (conntrack does not move it).
	p.SetEndpoints([]Endpoint{{Pod: "old", Addrs: map[string]string{"http": ta, "quic": ua}}, {Pod: "new", Addrs: map[string]string{"http": tb, "quic": ub}}})
	for i := 0; i < 20; i++ {
		if got := udpAsk(t, c); got != "old" {
			t.Fatalf("flow moved on scale-up: %q", got)
		}
	}
	p.SetEndpoints([]Endpoint{{Pod: "new", Addrs: map[string]string{"http": tb, "quic": ub}}})
	if n := p.UDPFlows()["old"]; n != 0 {
		t.Fatalf("%d flows of the removed endpoint left", n)
	}
	if got := udpAsk(t, c); got != "new" {
		t.Fatalf("same 5-tuple after removal went to %q, want new", got)
	}
}

func TestUDPFlowIdlesOut(t *testing.T) {
	p, _, udpFront := startProxy(t, 500*time.Millisecond)
	ta, ua := backend(t, "a")
	p.SetEndpoints([]Endpoint{{Pod: "a", Addrs: map[string]string{"http": ta, "quic": ua}}})
	c := dialUDP(t, udpFront)
	udpAsk(t, c)
	if p.UDPFlows()["a"] != 1 {
		t.Fatal("flow not tracked")
	}
	deadline := time.Now().Add(3 * time.Second)
	for p.UDPFlows()["a"] != 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle flow never forgotten")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNoEndpointsRefuses(t *testing.T) {
	_, tcpFront, _ := startProxy(t, 0)
	if got := tcpAsk(t, tcpFront); got != "" {
		t.Fatalf("answer %q without endpoints", got)
	}
}

// FreePort stays out of the ephemeral range (which `:0` binds of other
// processes race for) and hands out ports free for TCP and UDP.
func TestFreePortBelowEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for i := 0; i < 20; i++ {
		port, err := FreePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if low-10000 >= 1000 && (port < 10000 || port >= low) {
			t.Fatalf("port %d outside [10000, %d)", port, low)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("port %d not free for tcp: %v", port, err)
		}
		l.Close()
	}
}

func startSched(t *testing.T, sched string) (*Proxy, string, string) {
	t.Helper()
	l, u, err := ListenPair("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(Config{Ports: []Port{{Name: "http", Listener: l}, {Name: "quic", Packet: u}}, Scheduler: sched})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, l.Addr().String(), u.LocalAddr().String()
}

func endpoints(t *testing.T, names ...string) []Endpoint {
	var eps []Endpoint
	for _, name := range names {
		ta, ua := backend(t, name)
		eps = append(eps, Endpoint{Pod: name, Addrs: map[string]string{"http": ta, "quic": ua}})
	}
	return eps
}

// IPVS rr: new flows go to the endpoints in turn.
func TestRoundRobinScheduler(t *testing.T) {
	p, tcpFront, _ := startSched(t, SchedRoundRobin)
	p.SetEndpoints(endpoints(t, "pod-a", "pod-b", "pod-c"))
	var got []string
	for i := 0; i < 6; i++ {
		got = append(got, tcpAsk(t, tcpFront))
	}
	if want := "pod-a pod-b pod-c pod-a pod-b pod-c"; strings.Join(got, " ") != want {
		t.Errorf("rr order %v, want %s", got, want)
	}
	if n := p.NewFlows(); n["pod-a"] != 2 || n["pod-b"] != 2 || n["pod-c"] != 2 {
		t.Errorf("new flows %v", n)
	}
}

// IPVS lc: a pod added next to one holding two live flows gets the next
// two new flows (random would split them), then ties go to the first.
func TestLeastConnectionScheduler(t *testing.T) {
	p, _, udpFront := startSched(t, SchedLeastConn)
	eps := endpoints(t, "pod-a", "pod-b")
	p.SetEndpoints(eps[:1])
	for i := 0; i < 2; i++ {
		if got := udpAsk(t, dialUDP(t, udpFront)); got != "pod-a" {
			t.Fatalf("flow %d on %q", i, got)
		}
	}
	p.SetEndpoints(eps)
	var got []string
	for i := 0; i < 3; i++ {
		got = append(got, udpAsk(t, dialUDP(t, udpFront)))
	}
	if want := "pod-b pod-b pod-a"; strings.Join(got, " ") != want {
		t.Errorf("lc picks %v, want %s", got, want)
	}
	if _, err := Start(Config{Scheduler: "wrr"}); err == nil {
		t.Error("unknown scheduler accepted")
	}
}
