package server

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestListen(t *testing.T) {
	l, err := Listen(Binds{Insecure: "127.0.0.1:0", QUIC: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.TLS != nil || l.Metrics != nil {
		t.Error("empty binds opened listeners")
	}
	port := l.QUIC.LocalAddr().(*net.UDPAddr).Port
	if want := `h3=":` + strconv.Itoa(port) + `"; ma=86400`; l.AltSvc() != want {
		t.Errorf("AltSvc = %q, want %q", l.AltSvc(), want)
	}
	if (&Listeners{}).AltSvc() != "" {
		t.Error("Alt-Svc without a QUIC listener")
	}

	// A taken port fails with the flag's name, and nothing stays bound.
	_, err = Listen(Binds{Insecure: "127.0.0.1:0", TLS: l.Insecure.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "--bind") {
		t.Fatalf("Listen on a taken port: %v", err)
	}
	for _, bad := range []Binds{{QUIC: "nonsense"}, {Metrics: "256.0.0.1:1"}} {
		if _, err := Listen(bad); err == nil {
			t.Errorf("Listen(%+v) succeeded", bad)
		}
	}
}

func TestServeNeedsTLS(t *testing.T) {
	l, err := Listen(Binds{TLS: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Serve(l, Config{}); err == nil {
		t.Fatal("TLS listener served without a certificate")
	}
}
