package cli

import _ "spread.dev/spread/output/json" // registers --out json=FILE
