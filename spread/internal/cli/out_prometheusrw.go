package cli

import _ "spread.dev/spread/internal/output/prometheusrw"
