"""One module per tower kind, each with `build`, `prepare` and `blank`; `simsearch.tower_kinds`
names them and imports one on first use."""
