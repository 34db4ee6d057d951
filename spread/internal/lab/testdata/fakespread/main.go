// fakespread stands in for `spread run` in the lab's tests: it reads a JSON
// plan instead of a JS script, sends TCP/UDP traffic to the lab's Service
// (TARGET_HTTP, TARGET_H3 from env) and writes, to the --summary-export
// file, which pod answered each request and when.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

type step struct {
	Do    string `json:"do"` // tcp-new, tcp-keepalive, udp-new, udp-same, sleep
	N     int    `json:"n"`
	Every string `json:"every"`
}

type hit struct {
	T    float64 `json:"t"` // seconds since start
	Pod  string  `json:"pod"`
	Host string  `json:"host"`
}

func main() {
	args := os.Args[1:]
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprintln(os.Stderr, "usage: fakespread run [flags] PLAN")
		os.Exit(2)
	}
	var summary, out string
	var rest []string
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "--summary-export":
			i++
			summary = args[i]
		case "--out":
			i++
			out = strings.TrimPrefix(args[i], "json=")
		case "-e":
			i++
		default:
			rest = append(rest, args[i])
		}
	}
	if out != "" {
		os.WriteFile(out, nil, 0o644)
	}
	raw, err := os.ReadFile(rest[len(rest)-1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(107)
	}
	var lanes map[string][]step
	if err := json.Unmarshal(raw, &lanes); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(107)
	}
	start := time.Now()
	var mu sync.Mutex
	results := map[string][]hit{}
	var wg sync.WaitGroup
	for name, steps := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var hits []hit
			for _, s := range steps {
				hits = append(hits, runStep(s, start)...)
			}
			mu.Lock()
			results[name] = hits
			mu.Unlock()
		}()
	}
	wg.Wait()
	b, _ := json.Marshal(results)
	if err := os.WriteFile(summary, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if os.Getenv("FAKESPREAD_EXIT") == "3" {
		os.Exit(3)
	}
}

func runStep(s step, start time.Time) []hit {
	every, _ := time.ParseDuration(s.Every)
	if s.Do == "read-file" { // e.g. a conntrack sysctl, as seen by the script
		b, _ := os.ReadFile(s.Every)
		return []hit{{Pod: strings.TrimSpace(string(b))}}
	}
	if s.Do == "sleep" {
		time.Sleep(every)
		return nil
	}
	var hits []hit
	keep := &http.Client{Timeout: 2 * time.Second}
	fresh := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	h3, _ := url.Parse(os.Getenv("TARGET_H3"))
	var same *net.UDPConn
	for i := 0; i < s.N; i++ {
		began := time.Since(start).Seconds()
		var pod, host string
		switch s.Do {
		case "tcp-new":
			pod, host = get(fresh)
		case "tcp-keepalive":
			pod, host = get(keep)
		case "udp-new":
			c, err := net.Dial("udp", h3.Host)
			if err == nil {
				pod, host = ask(c.(*net.UDPConn))
				c.Close()
			}
		case "udp-same":
			if same == nil {
				c, err := net.Dial("udp", h3.Host)
				if err != nil {
					break
				}
				same = c.(*net.UDPConn)
				defer same.Close()
			}
			pod, host = ask(same)
		}
		hits = append(hits, hit{T: began, Pod: pod, Host: host})
		time.Sleep(every)
	}
	return hits
}

func get(c *http.Client) (string, string) {
	resp, err := c.Get(os.Getenv("TARGET_HTTP") + "/")
	if err != nil {
		return "", ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return resp.Header.Get("X-Served-By"), ""
	}
	return f[0], f[1]
}

func ask(c *net.UDPConn) (string, string) {
	c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Write([]byte("who")); err != nil {
		return "", ""
	}
	buf := make([]byte, 200)
	n, err := c.Read(buf)
	if err != nil {
		return "", ""
	}
	f := strings.Fields(string(buf[:n]))
	if len(f) < 2 {
		return "", ""
	}
	return f[0], f[1]
}
