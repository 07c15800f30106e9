"""Tables and their inputs: schemas (`tables`), PNG bytes (`images`), the SynthBench corpus (`corpus`), real corpora
(`ingest`) and DreamBench (`dreambench`)."""
