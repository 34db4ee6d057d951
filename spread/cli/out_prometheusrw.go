package cli

import _ "spread.dev/spread/output/prometheusrw"
