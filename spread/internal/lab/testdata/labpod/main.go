// labpod is a stand-in pod for the lab's tests: HTTP on --http (readyz,
// metrics, "/" answering with the pod and host names) and a UDP responder
// on --udp answering every datagram with "POD HOSTNAME".
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	name := flag.String("name", os.Getenv("POD_NAME"), "pod name")
	httpAddr := flag.String("http", "", "http listen address")
	udpAddr := flag.String("udp", "", "udp listen address")
	metricsAddr := flag.String("metrics", "", "metrics listen address")
	unreadyAfter := flag.Duration("unready-after", 0, "fail /readyz from this long after start (0 = never)")
	liveFor := flag.Duration("live-for", 0, "fail /livez from this long after start (0 = never)")
	drainReady := flag.Duration("drain-ready", 0, "on SIGTERM keep passing /readyz and serving this long, then exit")
	burn := flag.Bool("burn", false, "spin one CPU forever (for the HPA test)")
	flag.Parse()
	began := time.Now()
	if *burn {
		go func() {
			for x := 0; ; x++ {
				_ = x * x
			}
		}()
	}
	host, _ := os.Hostname()
	var reqs, draining atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() == 1 || (*unreadyAfter > 0 && time.Since(began) > *unreadyAfter) {
			w.WriteHeader(503)
		}
	})
	mux.HandleFunc("/livez", func(w http.ResponseWriter, r *http.Request) {
		if *liveFor > 0 && time.Since(began) > *liveFor {
			w.WriteHeader(500)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		w.Header().Set("X-Served-By", *name)
		fmt.Fprintf(w, "%s %s\n", *name, host)
	})
	metrics := func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# TYPE echo_requests_total counter\necho_requests_total{proto=\"h1\",code=\"200\"} %d\n", reqs.Load())
		fmt.Fprintf(w, "echo_connections_opened_total{proto=\"h1\"} 1\n")
	}
	l, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go http.Serve(l, mux)
	if *metricsAddr != "" {
		ml, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go http.Serve(ml, http.HandlerFunc(metrics))
	}
	if *udpAddr != "" {
		u, err := net.ListenPacket("udp", *udpAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go func() {
			buf := make([]byte, 1500)
			for {
				_, from, err := u.ReadFrom(buf)
				if err != nil {
					return
				}
				u.WriteTo([]byte(*name+" "+host), from)
			}
		}()
	}
	fmt.Printf("labpod %s listening on %s\n", *name, *httpAddr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	if *drainReady > 0 {
		// A pod that keeps serving while it terminates (a long preStop).
		time.Sleep(*drainReady)
		os.Exit(0)
	}
	// Like a real pod: fail readiness, keep serving while the Service
	// forgets us, then exit.
	draining.Store(1)
	time.Sleep(500 * time.Millisecond)
	os.Exit(0)
}
