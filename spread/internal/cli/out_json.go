package cli

import _ "spread.dev/spread/internal/output/json" // registers --out json=FILE
