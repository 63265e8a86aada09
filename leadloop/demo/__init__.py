"""Demo data: a seeded, reproducible synthetic lead-generation history (see synthetic.py)."""
