package cli

import _ "spread.dev/spread/internal/output/influxdb" // registers --out influxdb=URL
