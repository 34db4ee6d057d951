package main

// k6's standard modules beyond k6/http (issue 11's module half).
import (
	_ "spread.dev/spread/internal/modules/crypto"
	_ "spread.dev/spread/internal/modules/csv"
	_ "spread.dev/spread/internal/modules/data"
	_ "spread.dev/spread/internal/modules/encoding"
	_ "spread.dev/spread/internal/modules/fs"
	_ "spread.dev/spread/internal/modules/html"
	_ "spread.dev/spread/internal/modules/secrets"
)
