"""`tickwork demo`: the main job end to end on the embedded default (`main`), with a demo
invoice (`documents`) and a local webhook receiver (`receiver`)."""
