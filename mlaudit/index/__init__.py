"""The index: facts extracted once per file, as plain data that checks can read and the
cache can store. Parsing lives here and nowhere else."""
