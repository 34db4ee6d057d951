package cli

import _ "spread.dev/spread/output/csv" // registers --out csv=FILE
