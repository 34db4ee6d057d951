package summary

import "testing"

// TestSections: k6's summary groups; WebSocket metrics get their own
// section between the HTTP ones and EXECUTION.
func TestSections(t *testing.T) {
	order := []string{"checks", "http_reqs", "http3_connections_opened", "ws_sessions", "iterations", "data_sent", "my_counter"}
	titles := []string{"", "HTTP", "HTTP/3", "WEBSOCKET", "EXECUTION", "NETWORK", "CUSTOM"}
	prev := -1
	for i, name := range order {
		n, title := section(name)
		if n <= prev || title != titles[i] {
			t.Errorf("section(%s) = %d %q, want after %d and titled %q", name, n, title, prev, titles[i])
		}
		prev = n
	}
	for _, name := range []string{"ws_connecting", "ws_msgs_sent", "ws_msgs_received", "ws_ping", "ws_session_duration"} {
		if _, title := section(name); title != "WEBSOCKET" {
			t.Errorf("section(%s) = %q, want WEBSOCKET", name, title)
		}
	}
}
