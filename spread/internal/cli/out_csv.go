package cli

import _ "spread.dev/spread/internal/output/csv" // registers --out csv=FILE
