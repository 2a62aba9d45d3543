"""Pipeline stages: each turns one kind of record into the next (poll: feeds -> articles)."""
