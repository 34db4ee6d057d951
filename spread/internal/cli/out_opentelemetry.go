package cli

import _ "spread.dev/spread/internal/output/opentelemetry" // registers --out opentelemetry
