package main

// WebSockets: k6/ws (blocking ws.connect) and k6/websockets (the browser
// WebSocket API on the VU's event loop).
import _ "spread.dev/spread/internal/modules/k6ws"

import _ "spread.dev/spread/internal/modules/k6websockets"
