package userspace

import (
	"net"
	"testing"
)

// The proxy's cost per new TCP connection and per UDP round trip, against
// the same backend reached directly (the peer) in the same run:
//   go test -run '^$' -bench . ./spread/internal/lab/userspace/

func benchTCP(b *testing.B, addr string) {
	buf := make([]byte, 64)
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func benchUDP(b *testing.B, addr string) {
	ra, _ := net.ResolveUDPAddr("udp", addr)
	c, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1500)
	for b.Loop() {
		if _, err := c.Write([]byte("hi")); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSetup(b *testing.B) (tcpDirect, udpDirect, tcpProxy, udpProxy string) {
	tcpDirect, udpDirect = backend(b, "bench")
	l, u, err := ListenPair("127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	p, err := Start(Config{Ports: []Port{{Name: "http", Listener: l}, {Name: "quic", Packet: u}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	p.SetEndpoints([]Endpoint{{Pod: "bench", Addrs: map[string]string{"http": tcpDirect, "quic": udpDirect}}})
	return tcpDirect, udpDirect, l.Addr().String(), u.LocalAddr().String()
}

func BenchmarkTCPNewConnection(b *testing.B) {
	direct, _, proxy, _ := benchSetup(b)
	b.Run("direct", func(b *testing.B) { benchTCP(b, direct) })
	b.Run("proxy", func(b *testing.B) { benchTCP(b, proxy) })
}

func BenchmarkUDPRoundTrip(b *testing.B) {
	_, direct, _, proxy := benchSetup(b)
	b.Run("direct", func(b *testing.B) { benchUDP(b, direct) })
	b.Run("proxy", func(b *testing.B) { benchUDP(b, proxy) })
}
